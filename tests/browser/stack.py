"""The real service a browser test drives: PostgreSQL, two instances, simulated drones flying runs.

Selenium blocks the thread that calls it, so nothing the page needs may run on that thread: the
service (instance A: its own app, lifespan and uvicorn on a free 127.0.0.1 port) and the simulated
vehicles live on an event loop in a background thread (:class:`LoopThread`), and instance B is a real
``aerogrid serve`` process. Both share one database of their own with link leases on, as a
deployment of two instances must.

The district is the sample one. Two camera drones fly coverage runs over two grids (their markers
move), two wait on their pads for faults to be injected, and a fifth is linked by instance B only,
so the page on A can only know it through B's notifications. Two work orders exist: one assigned to
its grid's worker, one resolved with feedback.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from fastapi import FastAPI
from shapely.geometry import shape

from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens
from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import _with_database
from tests.live.wsclient import Server
from tests.procs import ServeProcess
from tests.scheduling.kit import plan_mission, register

T = TypeVar("T")

SPEEDUP = 4.0
"""Fast enough that a marker moves between two live states, slow enough that a coverage run is
still in the air when the last test of the module looks at it."""
BATTERY_WH = 400.0
FLYING_GRIDS = ("HB-05-01", "HB-04-04")
"""Two grids about 1.6 km apart: their runs never conflict, both drones show on one screen."""
PAD_GRIDS = ("HB-02-03", "HB-03-04")
REMOTE_GRID = "HB-01-06"
WORKORDER_GRID = "HB-05-05"
"""No drone flies over it, so a click on it lands on the grid."""
FIRST_SYSID = 61


class LoopThread:
    """An asyncio event loop running in a daemon thread; the test thread submits coroutines to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="browser-stack", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run ``coro`` on the loop and wait for its result in the calling thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` on the loop's thread (the simulator is not thread-safe) and return its value."""

        async def once() -> T:
            return fn()

        return self.run(once(), 10.0)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


def grid_feature(code: str) -> dict[str, Any]:
    features: list[dict[str, Any]] = sample_document("grids")["features"]
    (feature,) = [g for g in features if g["properties"]["code"] == code]
    return feature


def grid_point(code: str) -> tuple[float, float]:
    """A point inside the grid (lon, lat): the drone's pad there."""
    p = shape(grid_feature(code)["geometry"]).representative_point()
    return p.x, p.y


@dataclass
class Drone:
    name: str
    drone_id: int
    vehicle: SimVehicle
    run_id: int | None = None


@dataclass
class District:
    """What the tests see of the running stack (read-only after setup)."""

    url_a: str
    url_b: str
    dsn: str
    tokens: dict[str, str]
    flying: list[Drone]
    pads: list[Drone]
    remote: Drone
    grid_codes: list[str]
    workorder_assigned: int
    workorder_resolved: int
    app_a: FastAPI = field(repr=False)
    loop: LoopThread = field(repr=False)


def _vehicle(sysid: int, grid_code: str) -> SimVehicle:
    lon, lat = grid_point(grid_code)
    return SimVehicle(
        VehicleConfig(
            sysid=sysid,
            port=0,
            home_lon_deg=lon,
            home_lat_deg=lat,
            speedup=SPEEDUP,
            battery_capacity_wh=BATTERY_WH,
            seed=sysid,
        )
    )


class ServiceStack:
    """Owns everything above; ``start()`` returns once drones are in the air and B links its drone."""

    def __init__(self, server_dsn: str, work_dir: Path) -> None:
        self.server_dsn = server_dsn
        self.work_dir = work_dir
        self.loop = LoopThread()
        self._ready: Future[District] = Future()
        self._stop: asyncio.Event | None = None
        self._main: Future[None] | None = None
        self.dbname = f"aerogrid_browser_{secrets.token_hex(4)}"

    def start(self, timeout_s: float = 120.0) -> District:
        self._main = self.loop.submit(self._hold())
        try:
            return self._ready.result(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._main is not None and self._stop is not None:
            self.loop.loop.call_soon_threadsafe(self._stop.set)
        if self._main is not None:
            self._main.result(60)
        self.loop.close()

    async def _hold(self) -> None:
        """Set up, hand the district over, and keep it all running until ``stop()``."""
        self._stop = asyncio.Event()
        admin = await asyncpg.connect(self.server_dsn)
        await admin.execute(f'CREATE DATABASE "{self.dbname}"')
        await admin.close()
        dsn = _with_database(self.server_dsn, self.dbname)
        b: ServeProcess | None = None
        try:
            async with AsyncExitStack() as stack:
                try:
                    district, b = await self._setup(stack, dsn)
                except BaseException as exc:
                    self._ready.set_exception(exc)
                    raise
                self._ready.set_result(district)
                await self._stop.wait()
        finally:
            if b is not None:
                await asyncio.to_thread(b.stop)
            admin = await asyncpg.connect(self.server_dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            await admin.close()

    async def _setup(self, stack: AsyncExitStack, dsn: str) -> tuple[District, ServeProcess]:
        settings = Settings(
            database_url=dsn,
            data_dir=self.work_dir / "a",
            instance_id="A",
            link_leases=True,
            plan_workers=1,
            auth_fail_burst=10_000,
            alert_refresh_s=0.5,
            alert_tick_s=0.2,
            run_progress_s=0.5,
        )
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        server = await stack.enter_async_context(Server(app))
        url_a = f"http://127.0.0.1:{server.port}"
        pool: asyncpg.Pool = app.state.db.pool
        role_tokens: dict[str, str] = {}
        async with pool.acquire() as conn:
            for role in Role:
                token, _ = await tokens.create(
                    conn, name=f"browser {role}", role=role, communities=None, created_by=None
                )
                role_tokens[role.value] = token

        vehicles = [_vehicle(FIRST_SYSID + i, code) for i, code in enumerate((*FLYING_GRIDS, *PAD_GRIDS))]
        remote_vehicle = _vehicle(FIRST_SYSID + 4, REMOTE_GRID)
        for v in (*vehicles, remote_vehicle):
            await v.start()
            stack.push_async_callback(v.stop)

        admin_h = {"Authorization": f"Bearer {role_tokens['admin']}"}
        operator_h = {"Authorization": f"Bearer {role_tokens['operator']}"}
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url_a, timeout=30.0))
        for kind, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
            r = await client.post(path, json=sample_document(kind), headers=admin_h)
            assert r.status_code == 200, r.text
        ids = await asyncio.gather(
            *(register(client, operator_h, v, battery_wh=BATTERY_WH) for v in vehicles)
        )
        drones = [Drone(f"sim-{v.config.sysid}", i, v) for v, i in zip(vehicles, ids, strict=True)]
        await leases_held_by(dsn, "A", len(drones), timeout_s=15.0)
        # Only now B: started earlier, its first round could claim the drones A just registered.
        b = ServeProcess(
            dsn,
            self.work_dir / "b",
            self.work_dir / "b.log",
            {"AEROGRID_INSTANCE_ID": "B", "AEROGRID_LINK_LEASES": "true", "AEROGRID_PLAN_WORKERS": "1"},
        )
        b_ready = asyncio.create_task(b.ready())
        try:
            await asyncio.gather(
                *(_fly(client, operator_h, d, code) for d, code in zip(drones, FLYING_GRIDS, strict=False))
            )
            assigned, resolved = await _work_orders(client, operator_h)
            await b_ready
        except BaseException:
            b_ready.cancel()
            b.stop()
            raise
        remote = await _linked_by_b(dsn, b, remote_vehicle, role_tokens["admin"])
        await asyncio.gather(*(_until_in_the_air(client, operator_h, d) for d in drones[: len(FLYING_GRIDS)]))
        district = District(
            url_a=url_a,
            url_b=b.url,
            dsn=dsn,
            tokens=role_tokens,
            flying=drones[: len(FLYING_GRIDS)],
            pads=drones[len(FLYING_GRIDS) :],
            remote=remote,
            grid_codes=[g["properties"]["code"] for g in sample_document("grids")["features"]],
            workorder_assigned=assigned,
            workorder_resolved=resolved,
            app_a=app,
            loop=self.loop,
        )
        return district, b


async def leases_held_by(dsn: str, instance_id: str, count: int, timeout_s: float) -> None:
    """Wait until ``instance_id`` holds ``count`` live link leases."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        query = "SELECT count(*) FROM link_leases WHERE instance_id = $1 AND expires_at > now()"
        while await conn.fetchval(query, instance_id) < count:
            assert time.monotonic() < deadline, f"{instance_id} did not claim its drones"
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _fly(client: httpx.AsyncClient, headers: dict[str, str], drone: Drone, grid_code: str) -> None:
    """Plan a coverage of ``grid_code`` for the drone and start a run of it."""
    mission = await plan_mission(
        client, headers, drone.drone_id, grid_codes=[grid_code], swath_m=40, alt_m=40, speed_mps=10
    )
    r = await client.post(
        "/runs", json={"mission_id": mission["id"], "drone_id": drone.drone_id}, headers=headers
    )
    assert r.status_code == 201, r.text
    drone.run_id = int(r.json()["id"])


async def _work_orders(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, int]:
    """One order assigned to its grid's worker (at open), one resolved with feedback."""
    ids = []
    for ref, title in (("browser-1", "Dumped construction waste"), ("browser-2", "Fallen tree on path")):
        r = await client.post(
            "/work-orders",
            json={
                "channel": "hotline_12345",
                "external_ref": ref,
                "type": "illegal_dumping" if ref == "browser-1" else "fallen_tree",
                "severity": "warning",
                "title": title,
                "description": "Reported by a resident through the 12345 hotline.",
                "grid_code": WORKORDER_GRID,
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        ids.append(int(r.json()["id"]))
    for action, body in (("start", {}), ("resolve", {"feedback": "Cleared by the grid worker."})):
        r = await client.post(f"/work-orders/{ids[1]}/{action}", json=body, headers=headers)
        assert r.status_code == 200, r.text
    return ids[0], ids[1]


async def _linked_by_b(dsn: str, b: ServeProcess, vehicle: SimVehicle, admin_token: str) -> Drone:
    """A drone whose lease B holds from the moment it exists, so A never links it.

    Registered through SQL with its lease in one statement: registered through B's API, A's next
    lease round could claim it before B's does (docs/live.md, "Limits").
    """
    cfg = vehicle.config
    conn = await asyncpg.connect(dsn)
    try:
        drone_id: int = await conn.fetchval(
            """WITH d AS (
                   INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg, capabilities)
                   VALUES ($1, 'sim', $2, $3, $4, $5, '{"battery_wh": 400}') RETURNING id)
               INSERT INTO link_leases (drone_id, instance_id, expires_at)
               SELECT id, 'B', now() + interval '30 seconds' FROM d RETURNING drone_id""",
            f"sim-{cfg.sysid}",
            f"udpout:127.0.0.1:{vehicle.port}",
            cfg.sysid,
            cfg.home_lon_deg,
            cfg.home_lat_deg,
        )
    finally:
        await conn.close()
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=b.url, headers=headers) as c:
        deadline = time.monotonic() + 20
        while not (await c.get(f"/drones/{drone_id}/state")).json().get("online"):
            assert time.monotonic() < deadline, "B did not link its drone"
            await asyncio.sleep(0.2)
    return Drone(f"sim-{cfg.sysid}", drone_id, vehicle)


async def _until_in_the_air(client: httpx.AsyncClient, headers: dict[str, str], drone: Drone) -> None:
    deadline = time.monotonic() + 60
    while True:
        run = (await client.get(f"/runs/{drone.run_id}", headers=headers)).json()
        if run["state"] == "running":
            return
        assert run["state"] not in ("failed", "aborted", "skipped", "completed"), run
        assert time.monotonic() < deadline, f"run {drone.run_id} stuck in {run['state']}"
        await asyncio.sleep(0.2)
