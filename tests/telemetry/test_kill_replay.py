"""SIGKILL in the middle of a database outage: the restarted service replays its spool.

The service runs as a real process (`aerogrid serve`), the fleet as another (`aerogrid sim`), on a
PostgreSQL server of this test's own. What the kill may lose is measured: the gap between the
kill and the last stored sample received before it, which must stay within one batch period plus
the fsync interval; before that gap, no sample of the outage may be missing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.auth import Role
from app.db.pool import create_pool
from app.services import tokens
from tests.drones import register_sim_drone
from tests.procs import ServeProcess, SimFleetProcess, free_udp_run
from tests.telemetry.pgcontrol import OwnPostgres

log = logging.getLogger(__name__)

DRONES = 3
BATCH_MS = 100
FSYNC_MS = 1000


@pytest.fixture
async def own_pg() -> AsyncIterator[OwnPostgres]:
    async with OwnPostgres() as pg:
        yield pg


@pytest.fixture
def sim_fleet(tmp_path: Path) -> Iterator[int]:
    fleet = SimFleetProcess(free_udp_run(DRONES), DRONES, "--speedup=5", log_path=tmp_path / "sim.log")
    fleet.start()
    try:
        yield fleet.base_port
    finally:
        fleet.stop()


def service(dsn: str, data_dir: Path, log_path: Path) -> ServeProcess:
    env = {"AEROGRID_TELEMETRY_BATCH_MS": str(BATCH_MS), "AEROGRID_TELEMETRY_SPOOL_FSYNC_MS": str(FSYNC_MS)}
    return ServeProcess(dsn, data_dir, log_path, env)


async def stored_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval("SELECT count(DISTINCT drone_id) FROM telemetry_samples")
        return n
    finally:
        await conn.close()


async def test_a_service_killed_during_an_outage_replays_its_spool_when_restarted(
    own_pg: OwnPostgres, sim_fleet: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    spool_dir = data_dir / "spool"
    first = service(own_pg.dsn, data_dir, tmp_path / "serve.log")
    second: ServeProcess | None = None
    try:
        await first.ready()
        pool = await create_pool(own_pg.dsn, min_size=1, max_size=1)
        async with pool.acquire() as conn:
            token, _ = await tokens.create(conn, name="t", role=Role.ADMIN, communities=None, created_by=None)
        await pool.close()
        async with httpx.AsyncClient(base_url=first.url) as c:
            for i in range(DRONES):
                await register_sim_drone(
                    c,
                    {"Authorization": f"Bearer {token}"},
                    name=f"kill-{i + 1}",
                    port=sim_fleet + i,
                    sysid=i + 1,
                    lon_deg=121.4737,
                    lat_deg=31.2304,
                )
        deadline = time.monotonic() + 30
        while await stored_count(own_pg.dsn) < DRONES:
            assert time.monotonic() < deadline, "no samples from every drone"
            await asyncio.sleep(0.3)
        outage_started = time.time()
        await own_pg.stop()
        await asyncio.sleep(3.0)
        kill_unix_s = time.time()
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        assert list(spool_dir.glob("*.seg")), "the outage was spooled"

        await own_pg.start()
        second = service(own_pg.dsn, data_dir, tmp_path / "serve.log")
        await second.ready()
        deadline = time.monotonic() + 30
        while list(spool_dir.glob("*.seg")):
            assert time.monotonic() < deadline, "spool not replayed"
            await asyncio.sleep(0.2)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    conn = await asyncpg.connect(own_pg.dsn)
    try:
        rows = await conn.fetch(
            "SELECT drone_id, boot_id, time_boot_ms, extract(epoch FROM received_at)::float8 AS received_s "
            "FROM telemetry_samples WHERE received_at < to_timestamp($1) ORDER BY drone_id, time_boot_ms",
            kill_unix_s,
        )
        duplicates = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT (drone_id, boot_id, time_boot_ms)) FROM telemetry_samples"
        )
    finally:
        await conn.close()
    assert duplicates == 0
    for drone_id in {r["drone_id"] for r in rows}:
        mine = [r for r in rows if r["drone_id"] == drone_id]
        during = [r for r in mine if r["received_s"] >= outage_started]
        assert len(during) >= 10, "samples of the outage were replayed"
        steps = sorted(b["time_boot_ms"] - a["time_boot_ms"] for a, b in itertools.pairwise(mine))
        typical = steps[len(steps) // 2]
        assert steps[-1] <= 2.5 * typical, f"drone {drone_id}: a hole of {steps[-1]} ms in its samples"
        lost_ms = (kill_unix_s - max(r["received_s"] for r in mine)) * 1000
        log.warning(
            "drone %s: last sample stored before the kill was received %.0f ms before it", drone_id, lost_ms
        )
        assert lost_ms <= BATCH_MS + FSYNC_MS, f"drone {drone_id}: {lost_ms:.0f} ms lost at the kill"
