"""Each thing that must hold at fire time, made false on a live simulated drone, skips its
occurrence with that reason and a run_skipped alert, and nothing is launched: quiet hours for a
broadcast, a blackout date, an open critical alert, a plan the fences no longer allow, a failing
pre-arm check, a battery too low for the sortie and its reserve, and a drone gone offline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from fastapi import FastAPI

from app.db.repos.alerts import NewAlert
from app.scheduling.clock import SimClock
from app.scheduling.driver import RunDriver
from app.scheduling.scheduler import Scheduler, SchedulerSettings
from simulator.vehicle import SimVehicle
from tests.conftest import auth
from tests.scheduling.kit import load_district, plan_mission, register, sim_vehicles

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2031, 7, 1, 9, 0, tzinfo=SHANGHAI)


async def until(check: Callable[[], bool], what: str, within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def test_each_failed_precondition_skips_with_its_reason_and_an_alert_and_never_launches(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> None:
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    driver: RunDriver = app.state.runs
    await load_district(client, pool, admin)
    clock = SimClock(DAY)
    sched = Scheduler(pool, driver, clock, instance_id="skip-test", settings=SchedulerSettings(misfire_s=600))
    async with sim_vehicles(1, first_sysid=61) as (vehicle,):
        drone_id = await register(client, operator, vehicle, payload="speaker", also=("camera",))
        coverage = await plan_mission(client, operator, drone_id)
        broadcast = await plan_mission(client, operator, drone_id, kind="broadcast")
        slot = 0

        async def skipped(mission: dict[str, Any], **extra: Any) -> str:
            """A one-off schedule due at the next hour: its only occurrence is skipped; the reason."""
            nonlocal slot
            slot += 1
            due = DAY + timedelta(hours=slot)
            body = {
                "name": f"skip {slot}",
                "mission_id": mission["id"],
                "drone_id": drone_id,
                "start_at": due.isoformat(),
                **extra,
            }
            r = await client.post("/schedules", json=body, headers=operator)
            assert r.status_code == 201, r.text
            clock.set(due + timedelta(seconds=5))
            report = await sched.tick()
            assert report.runs == [] and len(report.skipped) == 1, report
            async with pool.acquire() as conn:
                occ = await conn.fetchrow(
                    "SELECT state, run_id, reason FROM schedule_occurrences WHERE schedule_id = $1",
                    r.json()["id"],
                )
                alert = await conn.fetchrow(
                    """SELECT message, evidence FROM alerts
                       WHERE drone_id = $1 AND type = 'run_skipped' AND condition_key = $2 AND state = 'open'""",
                    drone_id,
                    f"schedule:{r.json()['id']}",
                )
            assert occ["state"] == "skipped" and occ["run_id"] is None
            assert alert is not None and alert["evidence"]["reason"] == occ["reason"]
            assert not vehicle.armed
            reason: str = occ["reason"]
            return reason

        quiet = {"start": "09:30", "end": "11:00"}
        assert "quiet hours 09:30-11:00" in await skipped(broadcast, quiet_hours=quiet)
        assert "blackout date 2031-07-01" in await skipped(coverage, blackout_dates=["2031-07-01"])
        assert "outside the flight window" in await skipped(
            coverage, window={"start": "13:00", "end": "18:00"}
        )

        event = await app.state.alerts.open(
            NewAlert(
                drone_id=drone_id,
                type="run_failed",
                condition_key="test-critical",
                severity="critical",
                message="a critical condition",
                evidence={},
                at=clock.now(),
            )
        )
        assert "open critical alert" in await skipped(coverage)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE alerts SET state = 'cleared', cleared_at = opened_at WHERE id = $1", event.alert["id"]
            )

        r = await client.put("/geofences/ceiling", json={"ceiling_m": 30}, headers=admin)
        assert r.status_code == 200, r.text
        assert "no longer passes today's fences" in await skipped(coverage)
        assert (
            await client.put("/geofences/ceiling", json={"ceiling_m": 120}, headers=admin)
        ).status_code == 200

        await assert_ready(vehicle, driver, drone_id)
        # A pre-arm failure that raises no alert: a motor failure also sends an EMERGENCY STATUSTEXT,
        # whose critical alert (checked before pre-arm) would race this skip's reason.
        vehicle.set_param("BATT_ARM_VOLT", 60.0)
        await until(lambda: driver.flights.vehicle(drone_id).tracker.prearm_ok is False, "pre-arm failing")
        assert "not armable" in await skipped(coverage)

        vehicle.faults.battery_sag(85)
        await until(
            lambda: (driver.flights.manager.state(str(drone_id)).battery_pct or 100) < 20, "battery sag"
        )
        assert "battery" in await skipped(coverage)

        await vehicle.stop()
        await until(lambda: not driver.flights.manager.state(str(drone_id)).online, "offline", within_s=10)
        assert "offline" in await skipped(coverage)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM mission_runs") == 0


async def assert_ready(vehicle: SimVehicle, driver: RunDriver, drone_id: int) -> None:
    """Before the faults the drone passes every check: the skips below are the faults' doing."""
    tracker = driver.flights.vehicle(drone_id).tracker
    assert tracker.online and tracker.prearm_ok is True and not vehicle.armed
