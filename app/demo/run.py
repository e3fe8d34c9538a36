"""The demo's life: start every part in order with one progress line each, run, stop them in reverse.

Order: the database (the embedded PostgreSQL when DATABASE_URL is unset, owned here so that it is the
last thing stopped), migrations, the sample district, the fleet (registered before the service starts,
so it links the drones at once), the service instance(s) with the page, then the patrol schedules
through the API. SIGINT and SIGTERM only set an event: a step under way finishes (so nothing is half
started, the embedded server above all), the steps after it are skipped, and everything started is
stopped by the exit stack, in reverse. Uvicorn's own signal capture is switched off: it would re-raise
the signal after its shutdown and end the process before the fleet and the database are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from app.auth import Role
from app.config import Settings
from app.db.migrate import migrate
from app.db.pool import create_pool
from app.demo import events, fleet, patrols
from app.demo.console import Console, Endpoint
from app.demo.database import DemoDatabase
from app.main import create_app
from app.services import tokens
from app.services.sample import load_sample_district
from simulator.sitl import find_sitl_binary

log = logging.getLogger(__name__)

STEPS = 5
ONLINE_TIMEOUT_S = 60.0
FIRST_PATROL_IN_S = 0.5
DEMO_SCHEDULE_TICK_S = 1.0
"""The scheduler looks for due occurrences every second in the demo (5 s by default)."""
CONTINUE_CHECK_S = 10.0
LEASE_HOLD_S = 60.0
"""With several instances, how long a drone's lease waits for the instance it was handed to."""


class Stopped(Exception):
    """SIGINT/SIGTERM arrived during start-up: skip the remaining steps."""


class QuietServer(uvicorn.Server):
    """Uvicorn without its signal handlers: the demo owns SIGINT/SIGTERM and stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(slots=True)
class Instance:
    settings: Settings
    app: FastAPI
    server: QuietServer
    task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::") else self.settings.host
        return f"http://{host}:{self.settings.port}"


def instance_id(index: int) -> str:
    return f"demo-{index + 1}"


def instance_settings(settings: Settings, dsn: str, index: int, count: int, host: str, port: int) -> Settings:
    """Instance ``index`` of ``count``: the shared database, its own port; with two or more, link leases
    on (each drone linked by one instance) and its own data directory (telemetry spool) and id."""
    update: dict[str, Any] = {
        "database_url": dsn,
        "host": host,
        "port": port + index,
        "schedule_tick_s": DEMO_SCHEDULE_TICK_S,
        "plan_worker_nice": 0,  # the patrols' plans are on the way to take-off: full priority
        "shutdown_grace_s": 3.0,
    }
    if count > 1:
        update |= {
            "link_leases": True,
            "instance_id": instance_id(index),
            "data_dir": settings.data_dir / f"instance-{index + 1}",
        }
    return settings.model_copy(update=update)


class Demo:
    """One demo session: its console, its stop event (set by SIGINT/SIGTERM) and its instances."""

    def __init__(self, args: argparse.Namespace, settings: Settings, database: DemoDatabase) -> None:
        self.args = args
        self.settings = settings
        self.database = database
        self.log_path = settings.data_dir / "demo.log"
        self.console = Console(STEPS)
        self.stop = asyncio.Event()
        self.instances: list[Instance] = []

    def checkpoint(self) -> None:
        if self.stop.is_set():
            raise Stopped

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            async with contextlib.AsyncExitStack() as stack:
                await self._start(stack)
                await self._wait_for_stop()
                self.console.stopping()
        except Stopped:
            self.console.stopping()
        except patrols.DemoError as exc:
            log.error("demo failed: %s", exc)
            self.console.failed(f"{exc} (log: {self.log_path})")
            return 1
        except Exception as exc:
            log.exception("demo failed")
            self.console.failed(f"{type(exc).__name__}: {exc} (details in {self.log_path})")
            return 1
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        self.console.stopped()
        return 0

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        sitl_binary = find_sitl_binary() if self.args.sitl else None  # cli_demo refused --sitl without one
        dsn = await self._database(stack)
        self.checkpoint()
        self.console.begin("migrations")
        pool = await create_pool(dsn, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate(conn)
        self.console.done("applied")
        self.checkpoint()
        self.console.begin("sample district 湖滨街道")
        await load_sample_district(pool)
        self.console.done("46 grids, 7 zones")
        self.checkpoint()
        kind = "SITL" if sitl_binary else "simulated"
        self.console.begin(f"fleet: {self.args.drones} {kind} drones")
        drones = await self._fleet(stack, sitl_binary)
        await fleet.register(pool, drones)
        if self.args.instances > 1:
            ids = [instance_id(i) for i in range(self.args.instances)]
            await fleet.spread_leases(pool, drones, ids, hold_s=LEASE_HOLD_S)
        admin_token, operator_token = await self._tokens(pool)
        self.console.done("docked at " + ", ".join(d.dock.grid_code for d in drones.drones))
        self.checkpoint()
        self.console.begin("service and page, patrols")
        await self._serve(stack, dsn)
        client = httpx.AsyncClient(
            base_url=self.instances[0].base_url,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=60.0,
        )
        stack.push_async_callback(client.aclose)
        log.info("demo: service instance(s) started")
        planning = asyncio.create_task(patrols.plan_patrols(client, drones.drones))
        try:
            await self._wait_online(drones, admin_token)
            log.info("demo: every drone online")
            await patrols.delete_previous(client)
            planned = await planning
        finally:
            planning.cancel()  # stopped or failed meanwhile: no plans waited for
        scheduled = await patrols.schedule_patrols(client, planned, first_in_s=FIRST_PATROL_IN_S)
        kinds = [p.kind for p in scheduled]
        self.console.done(
            f"{kinds.count('coverage')} coverage and {kinds.count('broadcast')} broadcast patrols scheduled, "
            "taking off now"
        )
        self._background(stack, drones, client)
        self.console.ready(
            [Endpoint(f"{i.base_url}/", i.settings.instance_id or "demo") for i in self.instances],
            operator_token=operator_token,
            admin_token=admin_token,
            log_path=self.log_path,
        )

    async def _database(self, stack: contextlib.AsyncExitStack) -> str:
        """The database cli_demo started before the imports; stopped last (registered first)."""
        stack.push_async_callback(asyncio.to_thread, self.database.stop)
        where = (
            "DATABASE_URL"
            if self.database.embedded is None
            else f"embedded PostgreSQL in {self.database.pgdata}"
        )
        self.console.begin(f"database: {where}")
        dsn = await asyncio.to_thread(self.database.wait)
        self.console.done()
        return dsn

    async def _fleet(self, stack: contextlib.AsyncExitStack, sitl_binary: Path | None) -> fleet.Fleet:
        if sitl_binary is not None:
            drones = await fleet.start_sitl(sitl_binary, self.args.drones, speedup=self.args.speedup)
        else:
            drones = await fleet.start_simulated(
                self.args.drones, base_port=self.args.sim_base_port, speedup=self.args.speedup
            )
        stack.push_async_callback(drones.stop)
        return drones

    async def _tokens(self, pool: Any) -> tuple[str, str]:
        session = secrets.token_hex(3)
        async with pool.acquire() as conn:
            admin, _ = await tokens.create(
                conn, name=f"demo admin {session}", role=Role.ADMIN, communities=None, created_by=None
            )
            operator, _ = await tokens.create(
                conn, name=f"demo operator {session}", role=Role.OPERATOR, communities=None, created_by=None
            )
        return admin, operator

    async def _serve(self, stack: contextlib.AsyncExitStack, dsn: str) -> None:
        host = self.args.host or self.settings.host
        port = self.args.port or self.settings.port
        for index in range(self.args.instances):
            settings = instance_settings(self.settings, dsn, index, self.args.instances, host, port)
            app = create_app(settings)
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_s),
            )
            instance = Instance(settings, app, QuietServer(config))
            instance.task = asyncio.create_task(_serve(instance.server), name=f"demo-server-{index + 1}")
            stack.push_async_callback(self._stop_server, instance)
            self.instances.append(instance)
            # One after the other: two lifespans creating the same telemetry partition at the same
            # moment on a fresh database collide (CREATE TABLE IF NOT EXISTS is not race-free).
            await self._wait_started(instance)

    async def _wait_started(self, instance: Instance) -> None:
        assert instance.task is not None
        while not instance.server.started:
            if instance.task.done():
                raise patrols.DemoError(f"the service did not start on {instance.base_url}: port in use?")
            self.checkpoint()
            await asyncio.sleep(0.05)

    async def _stop_server(self, instance: Instance) -> None:
        plan_pool = getattr(instance.app.state, "plan_pool", None)
        if plan_pool is not None:
            plan_pool.stop_soon()
        instance.server.should_exit = True
        if instance.task is not None:
            await instance.task

    async def _wait_online(self, drones: fleet.Fleet, admin_token: str) -> None:
        """Until every drone is linked and reporting a position on some instance (the scheduler's
        precondition: a patrol due while its drone is still unheard of would be skipped)."""
        headers = {"Authorization": f"Bearer {admin_token}"}
        async with httpx.AsyncClient(headers=headers, timeout=10.0) as client:
            deadline = time.monotonic() + ONLINE_TIMEOUT_S
            waiting = {d.drone_id for d in drones.drones}
            while waiting:
                self.checkpoint()
                if time.monotonic() > deadline:
                    raise patrols.DemoError(f"drones {sorted(i for i in waiting if i)} never came online")
                for drone_id in list(waiting):
                    for instance in self.instances:
                        r = await client.get(f"{instance.base_url}/drones/{drone_id}/state")
                        state = r.json() if r.status_code == 200 else {}
                        if state.get("online") and state.get("lat_deg") is not None:
                            waiting.discard(drone_id)
                            break
                await asyncio.sleep(0.2)

    def _background(
        self, stack: contextlib.AsyncExitStack, drones: fleet.Fleet, client: httpx.AsyncClient
    ) -> None:
        faults = events.FaultInjector(drones.drones)
        detections = events.DetectionInjector(drones.drones)
        tasks = [
            asyncio.create_task(fleet.dock_charging(drones), name="demo-dock"),
            asyncio.create_task(
                events.inject_every(self.args.fault_every_s, faults.inject), name="demo-faults"
            ),
            asyncio.create_task(
                events.inject_every(
                    self.args.detection_every_s,
                    lambda: detections.inject(client),
                    first_after_s=self.args.detection_every_s / 2,
                ),
                name="demo-detections",
            ),
            asyncio.create_task(
                events.inject_every(CONTINUE_CHECK_S, lambda: patrols.continue_waiting_runs(client)),
                name="demo-continue",
            ),
        ]

        async def cancel() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(cancel)

    async def _wait_for_stop(self) -> None:
        """Until a signal, or until a server ends by itself (then the rest stops too)."""
        stop_wait = asyncio.create_task(self.stop.wait())
        servers = [i.task for i in self.instances if i.task is not None]
        await asyncio.wait([stop_wait, *servers], return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        if not self.stop.is_set():
            log.error("a service instance ended by itself; stopping the demo")


async def _serve(server: QuietServer) -> None:
    """Serve until told to stop. Uvicorn ends a failed start with ``sys.exit``: caught here, since a
    SystemExit escaping a task would stop the event loop under the demo's orderly shutdown."""
    try:
        await server.serve()
    except SystemExit as exc:
        log.error("service instance on port %s did not start (exit code %s)", server.config.port, exc.code)


def run(args: argparse.Namespace, settings: Settings, database: DemoDatabase) -> int:
    """The demo on its event loop (logging already goes to the data directory's demo.log). A Ctrl-C
    before the loop has installed the demo's handlers stops the database the demo would have stopped."""
    try:
        return asyncio.run(Demo(args, settings, database).run())
    except KeyboardInterrupt:
        database.stop()
        return 130
