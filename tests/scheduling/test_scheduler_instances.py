"""Two schedulers, each with its own connection pool (two instances), on one database: 20 due
occurrences of a schedule are each decided exactly once, whichever instance claims them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from app.db.pool import create_pool
from app.scheduling.clock import SimClock
from app.scheduling.scheduler import Scheduler, SchedulerSettings, TickReport
from tests.conftest import auth
from tests.scheduling.kit import grid_point, load_district, smallest_clear_grid

START = datetime(2031, 5, 1, 0, 0, tzinfo=UTC)
OCCURRENCES = 20


async def test_two_instances_decide_each_of_20_occurrences_exactly_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    database_dsn: str,
    role_tokens: dict[str, str],
) -> None:
    operator = auth(role_tokens["operator"])
    await load_district(client, pool, auth(role_tokens["admin"]))
    lon, lat = grid_point()
    r = await client.post(
        "/missions",
        json={
            "name": "hourly",
            "kind": "coverage",
            "grid_codes": [smallest_clear_grid()["properties"]["code"]],
            "swath_m": 60,
            "alt_m": 40,
            "home": {"lon_deg": lon, "lat_deg": lat},
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/schedules",
        json={
            "name": "hourly",
            "mission_id": r.json()["id"],
            "start_at": START.isoformat(),
            "rrule": "FREQ=HOURLY",
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    schedule_id = r.json()["id"]

    # All 20 fall due at once: the instances contend for them three at a time.
    clock = SimClock(START + timedelta(hours=OCCURRENCES - 1, minutes=1))
    settings = SchedulerSettings(misfire_s=2 * 86_400, claim_batch=3)
    pools = [await create_pool(database_dsn, min_size=1, max_size=3) for _ in range(2)]
    try:
        schedulers = [
            Scheduler(p, app.state.runs, clock, instance_id=f"instance-{i}", settings=settings)
            for i, p in enumerate(pools)
        ]
        reports: list[list[TickReport]] = [[], []]

        async def ticks(i: int) -> None:
            for _ in range(4):
                reports[i].append(await schedulers[i].tick())

        await asyncio.gather(ticks(0), ticks(1))
    finally:
        for p in pools:
            await p.close()

    decided = [[o for rep in per for o in rep.fired + rep.skipped] for per in reports]
    assert len(decided[0]) + len(decided[1]) == OCCURRENCES
    assert not set(decided[0]) & set(decided[1])
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT due_at, state, handled_by, reason FROM schedule_occurrences WHERE schedule_id = $1 ORDER BY due_at",
            schedule_id,
        )
    assert [r["due_at"] for r in rows] == [START + timedelta(hours=h) for h in range(OCCURRENCES)]
    assert {r["state"] for r in rows} == {"skipped"}  # no drone is registered: never launched
    assert all(r["reason"].startswith("no drone can take it") for r in rows)
    by = {r["handled_by"] for r in rows}
    assert by <= {"instance-0", "instance-1"}
    assert sorted(len(d) for d in decided) == sorted(
        sum(1 for r in rows if r["handled_by"] == f"instance-{i}") for i in range(2)
    )
