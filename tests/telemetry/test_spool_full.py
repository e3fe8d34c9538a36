"""A full spool drops telemetry during an outage, and once PostgreSQL is back each drone that lost
some gets one ``telemetry_dropped`` alert whose counts, with the stored rows, add up to what it sent.

Its own PostgreSQL server (stopped and started here) and the simulator fleet over UDP, as in
test_outage.py. The spool limit is set on the running spool to a few kilobytes: the setting's floor
(1 MB) would take minutes of a small fleet to fill.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI

from app.auth import Role
from app.config import Settings
from app.link.codec import MavMessage
from app.main import create_app
from app.services import tokens
from app.services.alerts import AlertEvent
from app.telemetry.pipeline import TelemetryIngest
from app.telemetry.spool import Spool
from simulator.fleet import SimFleet
from tests.conftest import auth
from tests.telemetry.pgcontrol import OwnPostgres
from tests.telemetry.rows import BASE, event, sample
from tests.telemetry.test_outage import HOME_LAT, HOME_LON, own_pg, register_fleet, wait_for

__all__ = ["own_pg"]  # the fixture, shared with test_outage.py

DRONES = 3
TINY_SPOOL_BYTES = 20_000


def test_a_full_spool_tallies_what_it_drops_per_drone_with_its_time_span(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=300)  # one single-sample record fits
    assert spool.append([sample(1, 0)], [])
    assert not spool.append([sample(1, 100 + i) for i in range(20)] + [sample(2, 50)], [event(2, 1)])
    assert not spool.append([sample(1, 90, grid_code="G1")], [])
    one, two = spool.dropped[1], spool.dropped[2]
    assert (one.samples, one.events, two.samples, two.events) == (21, 0, 1, 1)
    assert one.first_time == sample(1, 90).time and one.last_time == sample(1, 119).time
    assert one.last_sample == sample(1, 119), "the latest dropped position, not the last appended"
    assert two.first_time is not None and two.first_time >= BASE
    assert spool.stats.samples_dropped == 22 and 0 not in spool.dropped


async def test_samples_a_full_spool_dropped_are_alerted_per_drone_once_the_database_is_back(
    own_pg: OwnPostgres, tmp_path: Path
) -> None:
    app: FastAPI = create_app(Settings(database_url=own_pg.dsn, data_dir=tmp_path, telemetry_batch_ms=100))
    sent: Counter[int] = Counter()
    heard: list[AlertEvent] = []

    def record(drone_id: str, msg: MavMessage) -> None:
        if msg.name == "GLOBAL_POSITION_INT":
            sent[int(drone_id)] += 1

    async with (
        SimFleet(DRONES, 0, HOME_LON, HOME_LAT, speedup=5.0) as fleet,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ingest: TelemetryIngest = app.state.telemetry
        ingest.spool.max_bytes = TINY_SPOOL_BYTES
        app.state.alerts.sink.subscribe(heard.append)
        async with app.state.db.pool.acquire() as conn:
            token, _ = await tokens.create(conn, name="t", role=Role.ADMIN, communities=None, created_by=None)
        remove = app.state.flights.manager.add_listener(record)
        ids = await register_fleet(client, auth(token), fleet, "outage")
        await wait_for(lambda: set(sent) == set(ids), 20, "positions from every drone")

        await own_pg.stop()
        await wait_for(lambda: set(ingest.spool.dropped) == set(ids), 30, "drops from every drone")
        await asyncio.sleep(0.5)  # more drops on top of the first
        assert not [e for e in heard if e.alert["type"] == "telemetry_dropped"], "no alert while it is down"
        await own_pg.start()
        await wait_for(lambda: ingest.db_up and ingest.stats.drops_reported == len(ids), 30, "drops reported")
        for drone_id in ids:  # nothing more reaches ingest or the recorder; the drones (and alerts) stay
            await app.state.flights.unlink(drone_id)
        remove()
        await ingest.flushed()
        assert ingest.spool.empty and not ingest.spool.dropped

        r = await client.get("/alerts", params={"type": "telemetry_dropped"}, headers=auth(token))
        assert r.status_code == 200, r.text
        alerts = {a["drone_id"]: a for a in r.json()}

    assert set(alerts) == set(ids), "one alert per drone that lost telemetry"
    conn = await asyncpg.connect(own_pg.dsn)
    try:
        rows = await conn.fetch(
            """SELECT drone_id, count(*) AS n, count(DISTINCT (boot_id, time_boot_ms)) AS keys
               FROM telemetry_samples WHERE drone_id = ANY($1::bigint[]) GROUP BY drone_id""",
            ids,
        )
    finally:
        await conn.close()
    stored = {r["drone_id"]: r["n"] for r in rows}
    assert all(r["n"] == r["keys"] for r in rows), "no sample stored twice"
    for drone_id in ids:
        alert = alerts[drone_id]
        evidence = alert["evidence"]
        assert alert["severity"] == "critical" and alert["state"] == "cleared"
        assert evidence["samples_dropped"] > 0 and evidence["spool_max_bytes"] == TINY_SPOOL_BYTES
        assert evidence["first_time"] <= evidence["last_time"]
        assert stored.get(drone_id, 0) + evidence["samples_dropped"] == sent[drone_id], (
            f"drone {drone_id}: stored {stored.get(drone_id, 0)} + dropped {evidence['samples_dropped']}"
            f" != sent {sent[drone_id]}"
        )
    kinds = [(e.kind, e.alert["drone_id"]) for e in heard if e.alert["type"] == "telemetry_dropped"]
    assert sorted(kinds) == sorted([("opened", d) for d in ids] + [("cleared", d) for d in ids]), (
        "each announced once opened (the live stream's and work-order rules' input) and once cleared"
    )
