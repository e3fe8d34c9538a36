"""The whole service under load: 1,000 drones' telemetry, 50 live clients and API traffic for minutes.

Usage: ``.venv/bin/python bench/load.py [--drones 1000] [--ws-clients 50] [--seconds 300] [--api-rps 20]``
(PostgreSQL from ``DATABASE_URL``, else an embedded server in a temporary directory).

Unlike bench/ingest.py, which measures the ingest code in its own process, this drives a real
``aerogrid serve`` process, the one an operator runs, from outside and over loopback only:

* telemetry: bench/ingest.py's generator (its own process, every datagram encoded before the clock
  starts) sends each drone's MAVLink 2 stream (position and attitude 10 Hz, five status messages 2 Hz,
  heartbeat 1 Hz: 31 messages/s per drone) to the service's ``udpin`` links, 250 system ids a link;
* live: ``--ws-clients`` WebSocket clients in two processes of their own; the first
  ``--ws-all-clients`` (5) watch the whole community as a command-center wall does, the others 20
  drones each as a grid worker's screen does; each records the datagram -> client latency of every
  state (the client's clock less the state's ``received_unix_ms``);
* API: one process sends ``--api-rps`` requests a second over a mix of reads (drone list and state,
  alerts, alert counts, telemetry samples, a flown track, grids) with one operator token, recording
  each latency and status.

Before the load starts the same API mix runs alone for ``--baseline-seconds`` (the baseline of the
ratio). The service's RSS is sampled from ``/proc`` every 5 s: growth is end less the sample taken
``--warmup-seconds`` into the load (caches and pools filled). Lost: positions sent that are not stored
(a datagram the kernel dropped for a full receive buffer counts, and is shown apart), plus live
clients the service disconnected, plus subscribed drones a client never heard of.

Ends with one ``RESULT`` line (DESIGN.md convention 10).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import math
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from ingest import SYSIDS_PER_LINK, free_udp_ports, generate, seed_grids, udp_receive_drops

from app.auth import Role
from app.db.embedded import EmbeddedPostgres
from app.db.migrate import migrate
from app.db.pool import create_pool
from app.services import tokens

log = logging.getLogger("bench.load")

COMMUNITY = "BC"
DRONES_PER_SCREEN = 20
RSS_EVERY_S = 5.0
AEROGRID = str(Path(sys.executable).with_name("aerogrid"))


# --- live clients (two processes of their own) ------------------------------------------------


@dataclass
class ClientTally:
    latencies_ms: list[float] = field(default_factory=list)
    subscribed: int = 0
    heard: int = 0
    closed_by_service: int = 0
    errors: int = 0


def live_clients_main(url: str, token: str, plans: list[list[int] | None], stop: Any, out: Any) -> None:
    """Run one WebSocket client per plan (None: the whole community) until ``stop``; report tallies."""

    async def one(plan: list[int] | None, tally: ClientTally) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        heard: set[int] = set()
        try:
            async with connect(url, max_size=2**26) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                subscribe: dict[str, Any] = {"type": "subscribe"}
                subscribe |= {"communities": [COMMUNITY]} if plan is None else {"drones": plan}
                await ws.send(json.dumps(subscribe))
                while not stop.is_set():
                    try:
                        text = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    now_ms = time.time() * 1000
                    msg = json.loads(text)
                    if msg["type"] == "state":
                        for s in msg["states"]:
                            tally.latencies_ms.append(now_ms - s["received_unix_ms"])
                            heard.add(s["drone_id"])
                    elif msg["type"] == "error":
                        tally.errors += 1
        except ConnectionClosed:
            tally.closed_by_service += 1
        tally.heard = len(heard)

    async def run() -> list[ClientTally]:
        tallies = [ClientTally(subscribed=-1 if plan is None else len(plan)) for plan in plans]
        await asyncio.gather(*(one(plan, tally) for plan, tally in zip(plans, tallies, strict=True)))
        return tallies

    out.put(asyncio.run(run()))


# --- API traffic (its own process) ------------------------------------------------------------


def api_paths(drones: int, grid_codes: list[str]) -> list[tuple[str, str]]:
    """The read mix as (route, path), one per request in turn (ids spread over the fleet)."""
    paths: list[tuple[str, str]] = []
    for i in range(40):
        drone = 1 + (i * 97) % drones
        paths += [
            ("/drones/{id}/state", f"/drones/{drone}/state"),
            ("/drones", "/drones?limit=100"),
            ("/alerts", "/alerts?limit=50"),
            ("/alerts/counts", f"/alerts/counts?by=grid&community={COMMUNITY}"),
            ("/telemetry/samples", f"/telemetry/samples?drone_id={drone}&limit=100"),
            ("/drones/{id}/track", f"/drones/{drone}/track?max_points=200"),
            ("/grids/{code}", f"/grids/{grid_codes[i % len(grid_codes)]}"),
        ]
    return paths


def api_main(
    base_url: str, token: str, paths: list[tuple[str, str]], rps: float, seconds: float, out: Any
) -> None:
    """Start ``rps`` requests a second for ``seconds`` on schedule, whether or not the earlier ones
    have answered (an open loop: a slow answer cannot hold back the load and hide its own latency);
    report [(route, latency ms, status)]."""

    async def one(
        client: httpx.AsyncClient, route: str, path: str, results: list[tuple[str, float, int]]
    ) -> None:
        t0 = time.perf_counter()
        try:
            status = (await client.get(path)).status_code
        except httpx.HTTPError:
            status = 0
        results.append((route, (time.perf_counter() - t0) * 1000, status))

    async def run() -> list[tuple[str, float, int]]:
        results: list[tuple[str, float, int]] = []
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:
            start = time.perf_counter()
            tasks = []
            for n in range(int(rps * seconds)):
                delay = start + n / rps - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(client, *paths[n % len(paths)], results)))
            await asyncio.gather(*tasks)
        return results

    out.put(asyncio.run(run()))


# --- the service process ----------------------------------------------------------------------


class Service:
    """``aerogrid serve`` on the bench database (leases off: it links every registered drone)."""

    def __init__(self, dsn: str, data_dir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = data_dir / "serve.log"
        env = {**os.environ, "DATABASE_URL": dsn, "AEROGRID_DATA_DIR": str(data_dir)}
        env["AEROGRID_PLAN_WORKERS"] = "1"
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [AEROGRID, "serve", "--port", str(self.port)], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.url) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"aerogrid serve exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if (await c.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError("aerogrid serve did not start")

    def rss_mb(self) -> float:
        """Resident memory of the service and its children (planning workers), in MiB."""
        total_kb = 0
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total_kb += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
        return total_kb / 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the run ----------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99); NaN for no values."""
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def prepare(pool: asyncpg.Pool, args: argparse.Namespace) -> tuple[list[int], str, list[str]]:
    """Grids, the fleet's drone rows and an operator token; returns (ports, token, grid codes)."""
    links = math.ceil(args.drones / SYSIDS_PER_LINK)
    ports = free_udp_ports(links)
    async with pool.acquire() as conn:
        await migrate(conn)
        await seed_grids(conn)
        await conn.executemany(
            """INSERT INTO drones (id, name, kind, endpoint, sysid, community_code, home_lon_deg,
                   home_lat_deg) OVERRIDING SYSTEM VALUE VALUES ($1, $2, 'sim', $3, $4, $5, 120.3, 30.2)""",
            [
                (
                    i + 1,
                    f"load-{i + 1}",
                    f"udpin:127.0.0.1:{ports[i // SYSIDS_PER_LINK]}",
                    i % SYSIDS_PER_LINK + 1,
                    COMMUNITY,
                )
                for i in range(args.drones)
            ],
        )
        token, _ = await tokens.create(
            conn, name="load", role=Role.OPERATOR, communities=None, created_by=None
        )
        grid_codes = [r["code"] for r in await conn.fetch("SELECT code FROM grids ORDER BY code")]
    return ports, token, grid_codes


def client_plans(args: argparse.Namespace) -> list[list[int] | None]:
    plans: list[list[int] | None] = []
    for c in range(args.ws_clients):
        if c < args.ws_all_clients:
            plans.append(None)
        else:
            first = (c * DRONES_PER_SCREEN) % args.drones
            plans.append([1 + (first + k) % args.drones for k in range(DRONES_PER_SCREEN)])
    return plans


async def run(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="aerogrid-load-"))
    os.chmod(tmp, 0o755)
    embedded = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "pgdata")
        dsn = embedded.start()
    dbname = f"aerogrid_load_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    bench_dsn = urlunsplit(urlsplit(dsn)._replace(path=f"/{dbname}"))
    pool = await create_pool(bench_dsn, min_size=1, max_size=2)
    service: Service | None = None
    try:
        ports, token, grid_codes = await prepare(pool, args)
        service = Service(bench_dsn, tmp)
        await service.ready()
        await asyncio.sleep(2.0)  # the links open after start-up
        paths = api_paths(args.drones, grid_codes)

        api_out = ctx.Queue()
        baseline = ctx.Process(
            target=api_main, args=(service.url, token, paths, args.api_rps, args.baseline_seconds, api_out)
        )
        baseline.start()
        base_results = api_out.get()
        baseline.join()

        stop = ctx.Event()
        live_out = ctx.Queue()
        plans = client_plans(args)
        ws_url = f"ws://127.0.0.1:{service.port}/ws/live"
        halves = [plans[0::2], plans[1::2]]
        live_procs = [
            ctx.Process(target=live_clients_main, args=(ws_url, token, half, stop, live_out))
            for half in halves
        ]
        for p in live_procs:
            p.start()
        await asyncio.sleep(2.0)

        gen_out = ctx.Queue()
        first_tick = 10
        gen_args = {
            "drones": args.drones,
            "ports": ports,
            "seconds": args.seconds,
            "first_tick": first_tick,
            "rate": None,  # real time: one tick per 100 ms
            "status_hz": 2.0,
            "position_hz": 10.0,
            "attitude_hz": 10.0,
        }
        generator = ctx.Process(target=generate, args=(gen_args, gen_out))
        drops_before = udp_receive_drops()
        rss_before_mb = service.rss_mb()
        generator.start()
        # The generator encodes the whole run before it sends: wait for the first rows.
        async with pool.acquire() as conn:
            while True:
                if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM telemetry_samples)"):
                    break
                await asyncio.sleep(0.2)
        load_start = time.monotonic()
        cpu_start = service.cpu_s()
        api = ctx.Process(
            target=api_main, args=(service.url, token, paths, args.api_rps, args.seconds - 5, api_out)
        )
        api.start()
        rss_samples: list[tuple[float, float]] = []
        while generator.is_alive():
            rss_samples.append((time.monotonic() - load_start, service.rss_mb()))
            await asyncio.sleep(RSS_EVERY_S)
        cpu_s = service.cpu_s() - cpu_start
        sent = gen_out.get()
        load_s = sent["send_s"]
        api_results = api_out.get()
        api.join()
        await asyncio.sleep(3.0)  # the last batches commit, the last states go out
        stop.set()
        tallies: list[ClientTally] = []
        for _ in live_procs:
            tallies.extend(live_out.get())
        for p in live_procs:
            p.join()
        rss_end_mb = service.rss_mb()
        kernel_drops = udp_receive_drops() - drops_before
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM telemetry_samples")
            duplicates = await conn.fetchval(
                "SELECT count(*) - count(DISTINCT (drone_id, time_boot_ms)) FROM telemetry_samples"
            )
    finally:
        if service is not None:
            service.stop()
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    warm = [rss for t, rss in rss_samples if t >= args.warmup_seconds] or [rss_before_mb]
    rss_growth_mb = rss_end_mb - warm[0]
    live_latencies = [v for t in tallies for v in t.latencies_ms]
    unheard = sum((args.drones if t.subscribed < 0 else t.subscribed) - t.heard for t in tallies)
    closed = sum(t.closed_by_service for t in tallies)
    lost_positions = sent["positions"] - stored
    lost = lost_positions + closed + unheard
    api_latencies = [ms for _, ms, _ in api_results]
    base_latencies = [ms for _, ms, _ in base_results]
    api_statuses = collections.Counter(status for _, _, status in api_results)
    base_statuses = collections.Counter(status for _, _, status in base_results)
    api_errors = sum(n for status, n in api_statuses.items() if status == 0 or status >= 500)
    by_route: dict[str, list[float]] = collections.defaultdict(list)
    for route, ms, _ in api_results:
        by_route[route].append(ms)
    api_p99 = percentile(api_latencies, 99)
    base_p99 = percentile(base_latencies, 99)
    lines = [
        f"command: {' '.join(sys.argv)}",
        f"{'part':<10} {'figure':<46} {'value':>12}",
        f"{'telemetry':<10} {'drones':<46} {args.drones:>12}",
        f"{'telemetry':<10} {'messages sent / s':<46} {sent['messages'] / load_s:>12.0f}",
        f"{'telemetry':<10} {'positions sent':<46} {sent['positions']:>12}",
        f"{'telemetry':<10} {'positions stored':<46} {stored:>12}",
        f"{'telemetry':<10} {'duplicates stored':<46} {duplicates:>12}",
        f"{'telemetry':<10} {'kernel receive-buffer drops':<46} {kernel_drops:>12}",
        f"{'service':<10} {'CPU cores used':<46} {cpu_s / load_s:>12.2f}",
        f"{'service':<10} {'RSS MiB: before load / warm / end':<46} "
        f"{f'{rss_before_mb:.0f}/{warm[0]:.0f}/{rss_end_mb:.0f}':>12}",
        f"{'live':<10} {'clients (whole community + 20-drone screens)':<46} "
        f"{f'{args.ws_all_clients}+{args.ws_clients - args.ws_all_clients}':>12}",
        f"{'live':<10} {'states received':<46} {len(live_latencies):>12}",
        f"{'live':<10} {'datagram -> client p50 / p99 ms':<46} "
        f"{f'{percentile(live_latencies, 50):.0f}/{percentile(live_latencies, 99):.0f}':>12}",
        f"{'live':<10} {'clients closed by the service':<46} {closed:>12}",
        f"{'live':<10} {'subscribed drones never heard':<46} {unheard:>12}",
        f"{'api':<10} {'requests under load (errors)':<46} {f'{len(api_latencies)} ({api_errors})':>12}",
        f"{'api':<10} {'p50 / p99 ms under load':<46} "
        f"{f'{percentile(api_latencies, 50):.0f}/{api_p99:.0f}':>12}",
        f"{'api':<10} {'p50 / p99 ms alone (baseline)':<46} "
        f"{f'{percentile(base_latencies, 50):.0f}/{base_p99:.0f}':>12}",
        *(
            f"{'api':<10} {f'  {route} p50 / p99 ms':<46} "
            f"{f'{percentile(ms, 50):.0f}/{percentile(ms, 99):.0f}':>12}"
            for route, ms in sorted(by_route.items())
        ),
        f"api p99 under load / alone = {api_p99 / base_p99:.2f}; statuses {dict(sorted(api_statuses.items()))}, "
        f"alone {dict(sorted(base_statuses.items()))}",
        f"RESULT drones={args.drones} ws_clients={args.ws_clients} seconds={load_s:.0f} "
        f"msgs_per_s={sent['messages'] / load_s:.0f} api_p99_ms={api_p99:.0f} api_baseline_p99_ms={base_p99:.0f} "
        f"live_p99_ms={percentile(live_latencies, 99):.0f} rss_growth_mb={rss_growth_mb:.1f} "
        f"lost={lost} lost_positions={lost_positions} kernel_drops={kernel_drops} api_errors={api_errors}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if lost == 0 and api_errors == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drones", type=int, default=1000)
    p.add_argument("--ws-clients", type=int, default=50)
    p.add_argument("--ws-all-clients", type=int, default=5, help="clients watching the whole community")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--api-rps", type=float, default=20.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--warmup-seconds", type=float, default=30.0)
    args = p.parse_args()
    if args.seconds < 10 or args.drones < 1 or args.ws_clients < args.ws_all_clients:
        p.error("--seconds >= 10, --drones >= 1, --ws-clients >= --ws-all-clients")
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
