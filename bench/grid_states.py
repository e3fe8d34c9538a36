"""The command-center page's read of every grid's state: one bulk request against one request per grid.

Usage: ``.venv/bin/python bench/grid_states.py [--grids 2000] [--repeats 5]``

A real ``aerogrid serve`` (uvicorn, one process, links off) runs on 127.0.0.1 against PostgreSQL
(``DATABASE_URL`` when set, else an embedded server in a temporary directory). The district: ``--grids``
square grids in ten communities, imported through the API; half of them patrolled (a verified upload of
a mission naming them, a few stored samples over each, a final ``grid_patrols`` row), an open alert and
an open work order on every tenth. Both ways the page can read it, over one keep-alive client:

* ``per grid`` (the baseline, what the page did): ``GET /grids/{code}/coverage`` for every grid, two in
  flight at a time;
* ``bulk``: ``GET /patrols/grid-states``, one request (median of ``--repeats``).

Both read stored patrols (all final), so neither computes geometry: the figures are the read cost.
The table gives the wall time, requests and the ratio of the per-grid wall time to each row's. Ends with one ``RESULT`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from auth_flood import free_tcp_port, postgres, prepare_database

from app.auth import Role
from app.db.repos.telemetry import ensure_partition, partition_start

log = logging.getLogger("bench.grid_states")

LON0, LAT0 = 120.54, 31.49
SIZE_DEG = 0.001
COLUMNS = 50
COMMUNITIES = 10
PER_MISSION = 50
IMPORT_BATCH = 500
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PARTITION_H = 24
"""The server's default AEROGRID_TELEMETRY_PARTITION_HOURS: the seeded samples' partitions."""


def grid_feature(n: int) -> dict[str, object]:
    lon = LON0 + (n % COLUMNS) * SIZE_DEG
    lat = LAT0 + (n // COLUMNS) * SIZE_DEG
    ring = [
        [lon, lat],
        [lon + SIZE_DEG, lat],
        [lon + SIZE_DEG, lat + SIZE_DEG],
        [lon, lat + SIZE_DEG],
        [lon, lat],
    ]
    community = n % COMMUNITIES
    return {
        "type": "Feature",
        "properties": {
            "code": f"B{n:05d}",
            "name": f"网格 {n}",
            "community_code": f"C{community}",
            "community_name": f"社区 {community}",
            "street_code": "ST",
            "street_name": "湖滨街道",
        },
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


async def seed_patrols(dsn: str, codes: list[str]) -> None:
    """Half the grids patrolled (stored, final), an open alert and work order on every tenth."""
    conn = await asyncpg.connect(dsn)
    try:
        drone = await conn.fetchval(
            """INSERT INTO drones (name, endpoint, sysid, home_lon_deg, home_lat_deg, kind)
               VALUES ('bench', 'udpin:127.0.0.1:0', 1, $1, $2, 'sim') RETURNING id""",
            LON0,
            LAT0,
        )
        patrolled = codes[::2]
        samples, patrols = [], []
        for k in range(0, len(patrolled), PER_MISSION):
            chunk = patrolled[k : k + PER_MISSION]
            started = T0 + timedelta(minutes=k)
            mission = await conn.fetchval(
                """INSERT INTO missions (name, kind, grid_codes, communities, request, plan, sortie_count)
                   VALUES ('bench', 'coverage', $1, $2, '{}', '{}', 1) RETURNING id""",
                chunk,
                [f"C{c}" for c in range(COMMUNITIES)],
            )
            upload = await conn.fetchval(
                """INSERT INTO drone_uploads (drone_id, mission_id, item_count, status, started_at)
                   VALUES ($1, $2, 10, 'verified', $3) RETURNING id""",
                drone,
                mission,
                started,
            )
            for i, code in enumerate(chunk):
                at = started + timedelta(seconds=10 * i)
                samples.append((at, drone, int((at - T0).total_seconds() * 1000), code, upload, mission))
                patrols.append((code, upload, drone, mission, at, at + timedelta(seconds=5), 0.5 + i / 200))
        for start in {partition_start(row[0], PARTITION_H) for row in samples}:
            await ensure_partition(conn, start, PARTITION_H)
        await conn.executemany(
            """INSERT INTO telemetry_samples (time, drone_id, boot_id, time_boot_ms, grid_code, upload_id,
                   mission_id, sortie, lat_deg, lon_deg, alt_amsl_m, alt_rel_m, mode, armed, received_at)
               VALUES ($1, $2, 1, $3, $4, $5, $6, 0, 31.49, 120.54, 40, 40, 'AUTO', true, $1)""",
            samples,
        )
        await conn.executemany(
            """INSERT INTO grid_patrols (grid_code, upload_id, drone_id, mission_id, sortie, started_at,
                   ended_at, samples, camera_samples, grid_m2, seen_m2, seen_share, unseen, alt_band_m, final)
               VALUES ($1, $2, $3, $4, 0, $5, $6, 1, 1, 10000, 10000 * $7, $7,
                       '{"type": "MultiPolygon", "coordinates": []}', 5, true)""",
            patrols,
        )
        for i, code in enumerate(codes[::10]):
            await conn.execute(
                """INSERT INTO alerts (drone_id, type, condition_key, severity, message, grid_code)
                   VALUES ($1, 'battery_low', $2, 'warning', 'bench', $3)""",
                drone,
                f"bench{i}",
                code,
            )
            await conn.execute(
                """INSERT INTO work_orders (channel, type, severity, title, state, grid_code, opened_at, due_at,
                       updated_at, created_by)
                   VALUES ('manual', 'litter', 'info', 'bench', 'open', $1, $2, $3, $2, 'bench')""",
                code,
                T0,
                T0 + timedelta(days=1),
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def start_server(dsn: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": dsn, "AEROGRID_LINKS_ENABLED": "false", "AEROGRID_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("server did not become ready")


async def per_grid_s(client: httpx.AsyncClient, codes: list[str]) -> tuple[float, int]:
    """Every grid's coverage, two requests in flight (the page's former way); (seconds, patrolled)."""
    queue = list(reversed(codes))
    patrolled = 0

    async def worker() -> None:
        nonlocal patrolled
        while queue:
            r = await client.get(f"/grids/{queue.pop()}/coverage")
            r.raise_for_status()
            patrolled += r.json()["last_patrolled_at"] is not None

    start = time.perf_counter()
    await asyncio.gather(worker(), worker())
    return time.perf_counter() - start, patrolled


async def bulk_s(client: httpx.AsyncClient, repeats: int) -> tuple[float, int]:
    """Median seconds of one bulk read; (seconds, patrolled grids in its answer)."""
    times, patrolled = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        r = await client.get("/patrols/grid-states")
        times.append(time.perf_counter() - start)
        r.raise_for_status()
        patrolled = sum(g["last_patrolled_at"] is not None for g in r.json()["grids"])
    return statistics.median(times), patrolled


async def run(args: argparse.Namespace, server_dsn: str) -> int:
    dsn, token = await prepare_database(server_dsn, Role.ADMIN)
    port = free_tcp_port()
    server = start_server(dsn, port)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
        ) as client:
            await wait_ready(client)
            features = [grid_feature(n) for n in range(args.grids)]
            for k in range(0, len(features), IMPORT_BATCH):
                doc = {"type": "FeatureCollection", "features": features[k : k + IMPORT_BATCH]}
                (await client.post("/grids/import", json=doc)).raise_for_status()
            codes = [str(f["properties"]["code"]) for f in features]  # type: ignore[index]
            await seed_patrols(dsn, codes)
            await bulk_s(client, 1)  # warm-up: connections, plans
            bulk, bulk_patrolled = await bulk_s(client, args.repeats)
            each, each_patrolled = await per_grid_s(client, codes)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if bulk_patrolled != each_patrolled:
        raise RuntimeError(
            f"the reads disagree: bulk {bulk_patrolled} patrolled grids, per grid {each_patrolled}"
        )
    log.info("%-22s %8s %10s %12s %14s", "read", "grids", "requests", "wall_ms", "per_grid/this")
    log.info(
        "%-22s %8d %10d %12.1f %14.1f", "per grid (2 in flight)", args.grids, args.grids, each * 1e3, 1.0
    )
    log.info("%-22s %8d %10d %12.1f %14.1f", "bulk", args.grids, 1, bulk * 1e3, each / bulk)
    log.info(
        "RESULT grids=%d patrolled=%d bulk_ms=%.1f per_grid_ms=%.1f per_grid_request_ms=%.2f speedup=%.1f",
        args.grids,
        bulk_patrolled,
        bulk * 1e3,
        each * 1e3,
        each * 1e3 / args.grids,
        each / bulk,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    log.info(
        "command: .venv/bin/python bench/grid_states.py --grids %d --repeats %d", args.grids, args.repeats
    )
    with postgres() as server_dsn:
        return asyncio.run(run(args, server_dsn))


if __name__ == "__main__":
    sys.exit(main())
