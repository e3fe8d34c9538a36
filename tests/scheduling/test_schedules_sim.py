"""Schedules in simulated time against simulated ArduCopters and the real PostgreSQL.

The scheduler under test reads a SimClock set to each occurrence in turn (2031, far beyond the
service's own scheduler on the system clock); the runs it creates are flown by the service's driver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from app.scheduling.clock import SimClock
from app.scheduling.driver import RunDriver
from app.scheduling.scheduler import Scheduler, SchedulerSettings
from tests.conftest import auth
from tests.scheduling.kit import load_district, plan_mission, register, sim_vehicles, states_of, wait_run

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = datetime(2031, 6, 2, 8, 0, tzinfo=SHANGHAI)


def scheduler(pool: asyncpg.Pool, driver: RunDriver, clock: SimClock) -> Scheduler:
    return Scheduler(pool, driver, clock, instance_id="sim-test", settings=SchedulerSettings(misfire_s=600))


async def test_recurring_two_sortie_coverage_fires_three_mornings_each_flown_to_landing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], driver: RunDriver
) -> None:
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    await load_district(client, pool, admin)
    async with sim_vehicles(1, first_sysid=51) as (vehicle,):
        drone_id = await register(client, operator, vehicle)
        # Planned for a small battery: two sorties, each well within the drone's own.
        mission = await plan_mission(client, operator, drone_id, swath_m=40, battery={"capacity_wh": 40})
        assert len(mission["sorties"]) == 2
        r = await client.post(
            "/schedules",
            json={
                "name": "morning coverage",
                "mission_id": mission["id"],
                "start_at": FIRST_DAY.replace(tzinfo=None).isoformat(),
                "rrule": "FREQ=DAILY;BYHOUR=8;BYMINUTE=0",
                "window": {"start": "07:00", "end": "18:00"},
            },
            headers=operator,
        )
        assert r.status_code == 201, r.text
        schedule_id = r.json()["id"]
        clock = SimClock(FIRST_DAY - timedelta(hours=1))
        sched = scheduler(pool, driver, clock)
        assert (await sched.tick()).runs == []  # not due yet
        run_ids = []
        for day in range(3):
            clock.set(FIRST_DAY + timedelta(days=day, seconds=30))
            report = await sched.tick()
            assert len(report.runs) == 1, report
            assert (await sched.tick()).runs == []  # the same occurrence never fires twice
            run_id = report.runs[0]
            run_ids.append(run_id)
            await wait_run(
                client, operator, run_id, lambda r: r["state"] in ("waiting", "failed"), within_s=20
            )
            r = await client.post(f"/runs/{run_id}/actions/continue", headers=operator)
            assert r.status_code == 202, r.text
            run = await wait_run(
                client, operator, run_id, lambda r: r["state"] in ("completed", "failed"), within_s=20
            )
            assert run["state"] == "completed", run
            assert run["drone_id"] == drone_id and run["schedule_id"] == schedule_id
            assert states_of(run)[:3] == ["scheduled", "dispatching", "uploading"]
            assert states_of(run).count("landed") == 2
    async with pool.acquire() as conn:
        occurrences = await conn.fetch(
            "SELECT due_at, state, run_id FROM schedule_occurrences WHERE schedule_id = $1 ORDER BY due_at",
            schedule_id,
        )
        uploads = await conn.fetchval(
            "SELECT count(*) FROM drone_uploads WHERE mission_id = $1", mission["id"]
        )
        samples = await conn.fetchval(
            "SELECT count(*) FROM telemetry_samples WHERE drone_id = $1 AND mission_id = $2",
            drone_id,
            mission["id"],
        )
    assert [(o["due_at"], o["state"], o["run_id"]) for o in occurrences] == [
        (FIRST_DAY.astimezone(UTC) + timedelta(days=d), "fired", run_ids[d]) for d in range(3)
    ]
    assert uploads == 6  # two sorties on each of three mornings
    assert samples > 0  # the flights' telemetry is stored with their mission
