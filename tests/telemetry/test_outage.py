"""PostgreSQL goes away while simulated drones stream: every sample arrives once when it is back.

Each test runs its own PostgreSQL server (stopped and started here; the shared session server is
never touched) and the simulator fleet over UDP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.auth import Role
from app.config import Settings
from app.link.codec import MavMessage
from app.main import create_app
from app.services import tokens
from app.telemetry.pipeline import TelemetryIngest
from simulator.fleet import SimFleet
from tests.conftest import auth
from tests.drones import register_fleet
from tests.telemetry.pgcontrol import OwnPostgres

HOME_LON, HOME_LAT = 120.1000, 30.2000
DRONES = 10


@pytest.fixture
async def own_pg() -> AsyncIterator[OwnPostgres]:
    async with OwnPostgres() as pg:
        yield pg


async def wait_for(condition: object, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached in {timeout_s} s")
        await asyncio.sleep(0.1)


async def test_samples_streamed_during_a_database_outage_are_all_stored_once(
    own_pg: OwnPostgres, tmp_path: object
) -> None:
    app: FastAPI = create_app(
        Settings(database_url=own_pg.dsn, data_dir=tmp_path, telemetry_batch_ms=100)  # type: ignore[arg-type]
    )
    received: list[tuple[str, int]] = []

    def record(drone_id: str, msg: MavMessage) -> None:
        if msg.name == "GLOBAL_POSITION_INT":
            received.append((drone_id, msg.get_int("time_boot_ms")))

    async with (
        SimFleet(DRONES, 0, HOME_LON, HOME_LAT, speedup=5.0) as fleet,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ingest: TelemetryIngest = app.state.telemetry
        async with app.state.db.pool.acquire() as conn:
            token, _ = await tokens.create(conn, name="t", role=Role.ADMIN, communities=None, created_by=None)
        remove = app.state.flights.manager.add_listener(record)
        ids = await register_fleet(client, auth(token), fleet, "outage")
        await wait_for(lambda: len({d for d, _ in received}) == DRONES, 20, "positions from every drone")
        await asyncio.sleep(1.0)

        await own_pg.stop()
        await wait_for(lambda: not ingest.db_up and ingest.stats.batches_spooled >= 5, 20, "spooling")
        in_outage = len(received)
        await asyncio.sleep(2.0)
        assert len(received) > in_outage + DRONES * 5, "the drones kept streaming during the outage"
        await own_pg.start()
        await wait_for(lambda: ingest.db_up and ingest.spool.empty, 30, "replay after the outage")
        await asyncio.sleep(0.5)
        for drone_id in ids:  # unlinked: nothing more reaches ingest or the recorder
            assert (await client.delete(f"/drones/{drone_id}", headers=auth(token))).status_code == 204
        remove()
        await ingest.flushed()
        assert ingest.stats.batches_replayed >= ingest.stats.batches_spooled >= 5
        assert ingest.spool.stats.samples_dropped == 0

    conn = await asyncpg.connect(own_pg.dsn)
    try:
        rows = await conn.fetch(
            "SELECT drone_id, time_boot_ms FROM telemetry_samples WHERE drone_id = ANY($1::bigint[])", ids
        )
    finally:
        await conn.close()
    stored = sorted((str(r["drone_id"]), r["time_boot_ms"]) for r in rows)
    assert len(received) > DRONES * 20
    assert len(stored) == len(set(stored)), "no sample stored twice"
    missing, extra = set(received) - set(stored), set(stored) - set(received)
    assert not missing and not extra, f"{len(missing)} received not stored, {len(extra)} stored not received"
