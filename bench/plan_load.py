"""Drone state latency alone and while planning is saturated, on a real `aerogrid serve`.

Usage: ``.venv/bin/python bench/plan_load.py [--state-clients 10] [--state-interval-ms 100]
[--planners 40] [--duration-s 10]``

Everything is real and on 127.0.0.1: an embedded PostgreSQL (pgserver, in a temporary
directory), `aerogrid serve` as its own process with its default planning pool, one simulated
ArduCopter (``simulator.fleet.run_fleet``, its own process) registered and linked through the API.
Two phases of ``--duration-s`` each:

* ``alone``: ``--state-clients`` clients poll ``GET /drones/{id}/state`` every
  ``--state-interval-ms`` (a command-center page each); this is the baseline.
* ``saturated``: the same polling while ``--planners`` clients, in a separate process so their
  work does not slow the measuring client, post heavy plans back to back (broadcasts with a 20 m
  audible radius: about 120 hover points and a second or more of planning each). A 503
  ``planning_busy`` is retried after its Retry-After; with many more planners than places the
  pool's queue stays full the whole phase.

The table gives state p50/p99/max per phase, the ratio of the saturated p99 to the alone p99,
and the planners' outcomes. Ends with one ``RESULT`` line (DESIGN.md convention 10).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from shapely.geometry import shape

from app.db.embedded import EmbeddedPostgres
from app.services.sample import sample_document

SYSID = 1
HEAVY_RADIUS_M = 20.0
SERVER_START_S = 90.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(dsn: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": dsn, "AEROGRID_DATA_DIR": str(data_dir)}


def start_vehicle(port: int, lon: float, lat: float) -> subprocess.Popen[bytes]:
    code = f"import asyncio; from simulator.fleet import run_fleet; asyncio.run(run_fleet(1, {port}, {lon}, {lat}))"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("aerogrid serve exited during start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("aerogrid serve did not become healthy")


def admin_token(env: dict[str, str]) -> str:
    cmd = [sys.executable, "-m", "app.cli", "token", "create", "--role", "admin", "--name", "bench"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def heavy_plans() -> list[dict[str, Any]]:
    out = []
    for grid in sample_document("grids")["features"][:8]:
        c = shape(grid["geometry"]).representative_point()
        out.append(
            {
                "kind": "broadcast",
                "grid_codes": [grid["properties"]["code"]],
                "home": {"lon_deg": c.x, "lat_deg": c.y},
                "battery": {"capacity_wh": 500},
                "broadcast": {"audible_radius_m": HEAVY_RADIUS_M},
            }
        )
    return out


async def _planner(http: httpx.AsyncClient, plan: dict[str, Any], until: float, seen: Counter[str]) -> None:
    while time.monotonic() < until:
        try:
            r = await http.post("/missions/plan", json=plan)
        except httpx.HTTPError:
            seen["error"] += 1
            continue
        seen[str(r.status_code)] += 1
        if r.status_code == 503:  # as a well-behaved client does
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


async def _plan_load(base: str, token: str, planners: int, duration_s: float) -> dict[str, int]:
    plans = heavy_plans()
    seen: Counter[str] = Counter()
    until = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=planners + 4)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120.0, limits=limits) as http:
        await asyncio.gather(*(_planner(http, plans[k % len(plans)], until, seen) for k in range(planners)))
    return dict(seen)


def plan_load_process(base: str, token: str, planners: int, duration_s: float, out: Any) -> None:
    """The planners' process: its own event loop, so parsing plan responses costs the measuring
    client nothing."""
    out.put(asyncio.run(_plan_load(base, token, planners, duration_s)))


async def poll_state(http: httpx.AsyncClient, path: str, interval_s: float, until: float) -> list[float]:
    latencies_ms: list[float] = []
    while time.monotonic() < until:
        start = time.perf_counter()
        r = await http.get(path)
        latencies_ms.append((time.perf_counter() - start) * 1000.0)
        r.raise_for_status()
        await asyncio.sleep(interval_s)
    return latencies_ms


async def state_phase(http: httpx.AsyncClient, path: str, clients: int, interval_s: float, duration_s: float) -> list[float]:
    until = time.monotonic() + duration_s
    runs = await asyncio.gather(*(poll_state(http, path, interval_s, until) for _ in range(clients)))
    return [ms for run in runs for ms in run]


async def register_drone(http: httpx.AsyncClient, sim_port: int, lon: float, lat: float) -> str:
    r = await http.post("/grids/import", json=sample_document("grids"))
    r.raise_for_status()
    drone = {
        "name": "bench-sim",
        "kind": "sim",
        "endpoint": f"udpout:127.0.0.1:{sim_port}",
        "sysid": SYSID,
        "home": {"lon_deg": lon, "lat_deg": lat},
        "capabilities": {"battery_wh": 500, "max_speed_mps": 15},
    }
    r = await http.post("/drones", json=drone)
    r.raise_for_status()
    path = f"/drones/{r.json()['id']}/state"
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if (await http.get(path)).json().get("online"):
            return path
        await asyncio.sleep(0.2)
    raise SystemExit("the simulated drone never came online")


def quantiles(ms: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ms, n=100)
    return q[49], q[98], max(ms)


async def run(args: argparse.Namespace, base: str, token: str, sim_port: int, lon: float, lat: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.state_clients + 4)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120.0, limits=limits) as http:
        path = await register_drone(http, sim_port, lon, lat)
        interval_s = args.state_interval_ms / 1000.0
        alone = await state_phase(http, path, args.state_clients, interval_s, args.duration_s)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        load = ctx.Process(target=plan_load_process, args=(base, token, args.planners, args.duration_s + 2.0, out))
        load.start()
        await asyncio.sleep(2.0)  # let the planners fill the pool and its queue first
        saturated = await state_phase(http, path, args.state_clients, interval_s, args.duration_s)
        outcomes: dict[str, int] = await asyncio.to_thread(out.get, True, 180.0)
        await asyncio.to_thread(load.join, 30.0)
    a50, a99, amax = quantiles(alone)
    s50, s99, smax = quantiles(saturated)
    ok, busy = outcomes.get("200", 0), outcomes.get("503", 0)
    ratio = s99 / a99
    rows = [("alone", len(alone), a50, a99, amax), ("saturated", len(saturated), s50, s99, smax)]
    w = sys.stdout.write
    w(f"command: {' '.join(sys.argv)}\n")
    w(f"{'phase':<10} {'requests':>9} {'p50_ms':>8} {'p99_ms':>8} {'max_ms':>8}\n")
    for name, n, p50, p99, mx in rows:
        w(f"{name:<10} {n:>9} {p50:>8.1f} {p99:>8.1f} {mx:>8.1f}\n")
    w(f"state p99 saturated / alone: {ratio:.2f}\n")
    w(f"planners: {args.planners} clients, outcomes {dict(sorted(outcomes.items()))}\n")
    w(
        f"RESULT state_p50_alone_ms={a50:.1f} state_p99_alone_ms={a99:.1f} "
        f"state_p50_saturated_ms={s50:.1f} state_p99_saturated_ms={s99:.1f} p99_ratio={ratio:.2f} "
        f"plans_ok={ok} plans_busy={busy} plans_other={sum(outcomes.values()) - ok - busy}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-clients", type=int, default=10)
    parser.add_argument("--state-interval-ms", type=float, default=100.0)
    parser.add_argument("--planners", type=int, default=40)
    parser.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args()
    grid = sample_document("grids")["features"][0]
    c = shape(grid["geometry"]).representative_point()
    with tempfile.TemporaryDirectory(prefix="aerogrid-bench-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver runs the server as its own user when we are root
        pg = EmbeddedPostgres(Path(tmp) / "pgdata")
        dsn = pg.start()
        sim_port = free_port(socket.SOCK_DGRAM)
        sim = start_vehicle(sim_port, c.x, c.y)
        server: subprocess.Popen[bytes] | None = None
        try:
            env = env_for(dsn, Path(tmp))
            server, base = start_server(env)
            token = admin_token(env)
            asyncio.run(run(args, base, token, sim_port, c.x, c.y))
        finally:
            for proc in (server, sim):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)
            pg.stop()


if __name__ == "__main__":
    main()
