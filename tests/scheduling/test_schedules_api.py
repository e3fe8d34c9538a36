"""POST /schedules checks every field before storing anything: each bad one is a 422 naming it."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth
from tests.scheduling.kit import grid_point, load_district, smallest_clear_grid

FUTURE = "2031-03-02T08:00:00"


@pytest.fixture
async def mission_id(client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]) -> int:
    await load_district(client, pool, auth(role_tokens["admin"]))
    r = await client.post(
        "/missions",
        json={
            "name": "schedule input",
            "kind": "coverage",
            "grid_codes": [smallest_clear_grid()["properties"]["code"]],
            "swath_m": 60,
            "alt_m": 40,
            "home": {"lon_deg": grid_point()[0], "lat_deg": grid_point()[1]},
        },
        headers=auth(role_tokens["operator"]),
    )
    assert r.status_code == 201, r.text
    mid: int = r.json()["id"]
    return mid


async def _count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval("SELECT count(*) FROM schedules")
    return n


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "not a rule at all"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule"),
        ({"rrule": "FREQ=HOURLY;BYMINUTE=0,5,10"}, "rrule"),
        ({"rrule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
        ({"rrule": "DTSTART:20310101T000000\nRRULE:FREQ=DAILY"}, "rrule"),
        ({"rrule": "FREQ=DAILY;UNTIL=20200101T000000Z"}, "rrule"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"window": {"start": "18:00", "end": "08:00"}}, "window.end"),
        ({"window": {"start": "08:00", "end": "08:00"}}, "window.end"),
        ({"rrule": None, "start_at": "2020-01-01T08:00:00"}, "start_at"),
        ({"start_at": "9999-12-31T23:59:00-14:00"}, "start_at"),
        ({"window": {"start": "25:00", "end": "26:00"}}, "window.start"),
    ],
)
async def test_bad_schedule_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    role_tokens: dict[str, str],
    mission_id: int,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {
        "name": "bad",
        "mission_id": mission_id,
        "start_at": FUTURE,
        "rrule": "FREQ=DAILY;BYHOUR=8",
        **change,
    }
    before = await _count(pool)
    r = await client.post("/schedules", json=body, headers=auth(role_tokens["operator"]))
    assert r.status_code == 422, r.text
    err = r.json()
    assert set(err) == {"code", "message", "details"}
    # Body fields that fail their type come back as FastAPI names them (body.start_at).
    assert err["details"][0]["field"].removeprefix("body.") == field, err
    assert await _count(pool) == before


async def test_schedule_for_a_mission_with_violations_is_422_naming_mission_id(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], mission_id: int
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE missions SET plan = jsonb_set(plan, '{violations}',
                 '[{"sortie": 0, "leg": 0, "zone_id": "", "kind": "above_ceiling", "distance_m": 5, "message": "too high"}]')
               WHERE id = $1""",
            mission_id,
        )
    body = {"name": "bad", "mission_id": mission_id, "start_at": FUTURE, "rrule": "FREQ=DAILY;BYHOUR=8"}
    r = await client.post("/schedules", json=body, headers=auth(role_tokens["operator"]))
    assert r.status_code == 422, r.text
    assert r.json()["details"] == [
        {"field": "mission_id", "problem": "the mission has violations: re-plan it before scheduling"}
    ]


async def test_good_schedule_is_stored_with_its_next_occurrences_in_its_time_zone(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], mission_id: int
) -> None:
    operator = auth(role_tokens["operator"])
    body = {
        "name": "morning patrol",
        "mission_id": mission_id,
        "start_at": FUTURE,
        "rrule": "FREQ=DAILY;BYHOUR=8,16;BYMINUTE=0",
        "window": {"start": "07:30", "end": "18:00"},
        "blackout_dates": ["2031-03-03"],
        "quiet_hours": {"start": "12:00", "end": "14:00"},
    }
    r = await client.post("/schedules", json=body, headers=operator)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["timezone"] == "Asia/Shanghai"
    assert created["upcoming"][:3] == [
        "2031-03-02T08:00:00+08:00",
        "2031-03-02T16:00:00+08:00",
        "2031-03-03T08:00:00+08:00",
    ]
    r = await client.get(f"/schedules/{created['id']}", headers=auth(role_tokens["viewer"]))
    assert r.status_code == 200 and r.json()["occurrences"] == []
    assert (await client.delete(f"/schedules/{created['id']}", headers=operator)).status_code == 204
    assert (await client.get(f"/schedules/{created['id']}", headers=operator)).status_code == 404
