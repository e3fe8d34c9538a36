"""Detectors end to end: the simulator as a real MAVLink peer over UDP, the service's own links,
detector runner and alert store on a real PostgreSQL. Each injected fault must open its alert
within 3 s of simulated time of the condition starting, exactly once, and clear when it ends.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI
from shapely.geometry import Point, shape

from app.auth import Role
from app.config import Settings
from app.db.repos.alerts import NewAlert
from app.link.manager import VehicleLink
from app.main import create_app
from app.services import tokens
from app.services.alert_detection import DetectorRunner
from app.services.alerts import AlertEvent
from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district

SPEEDUP = 5.0
WITHIN_SIM_S = 3.0
LINK_LOST_S = 1.5
DEVIATION_S = 3.0
HOME_LAT_DEG, HOME_LON_DEG = 30.2590, 120.1690
FAST_STREAMS_HZ = {
    "HEARTBEAT": 5.0,
    "GLOBAL_POSITION_INT": 10.0,
    "SYS_STATUS": 10.0,
    "GPS_RAW_INT": 10.0,
    "EKF_STATUS_REPORT": 10.0,
    "MISSION_CURRENT": 5.0,
    "EXTENDED_SYS_STATE": 5.0,
    "HOME_POSITION": 1.0,
}
"""At 5x speed-up, 10 Hz on the wall clock is a sample every 0.5 s of simulated time; the mode is only
in HEARTBEAT, whose default 1 Hz would be 5 simulated seconds."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def alert_app(database_dsn: str) -> AsyncIterator[FastAPI]:
    """The service with fast detector settings (its own instance: the thresholds differ)."""
    application = create_app(
        Settings(
            database_url=database_dsn,
            telemetry_enabled=False,
            alert_tick_s=0.1,
            alert_refresh_s=0.5,
            alert_clear_hold_s=0.2,
            alert_link_lost_s=LINK_LOST_S,
            alert_deviation_m=20.0,
            alert_deviation_s=DEVIATION_S,
        )
    )
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class Recorder:
    """Alert events as they are published, each with the simulator's clock when it arrived."""

    vehicle: SimVehicle
    events: list[tuple[AlertEvent, float]] = field(default_factory=list)

    def __call__(self, event: AlertEvent) -> None:
        self.events.append((event, self.vehicle.sim_time_s))

    def of(self, kind: str, alert_type: str, key: str | None = None) -> list[tuple[AlertEvent, float]]:
        return [
            (e, t)
            for e, t in self.events
            if e.kind == kind
            and e.alert["type"] == alert_type
            and (key is None or e.alert["condition_key"] == key)
        ]

    async def wait(
        self, kind: str, alert_type: str, timeout_s: float, key: str | None = None
    ) -> tuple[AlertEvent, float]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.of(kind, alert_type, key)
            if found:
                return found[0]
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"no {kind} {alert_type} within {timeout_s} s; saw {[(e.kind, e.alert['type']) for e, _ in self.events]}"
        )


async def sim_time_when(
    vehicle: SimVehicle, condition: Callable[[SimVehicle], bool], timeout_s: float
) -> float:
    """The simulated time at which ``condition`` first holds (polled every few ms of wall time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition(vehicle):
            return vehicle.sim_time_s
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


@dataclass
class Flight:
    vehicle: SimVehicle
    drone_id: int
    link: VehicleLink
    alerts: Recorder


@pytest_asyncio.fixture(loop_scope="session")
async def linked(alert_app: FastAPI) -> AsyncIterator[Flight]:
    """A simulated drone registered, linked and streaming fast, detectors watching; on the ground."""
    pool: asyncpg.Pool = alert_app.state.db.pool
    await wipe_district(pool)
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=21,
            port=0,
            home_lon_deg=HOME_LON_DEG,
            home_lat_deg=HOME_LAT_DEG,
            speedup=SPEEDUP,
            battery_capacity_wh=400.0,
        )
    )
    await vehicle.start()
    recorder = Recorder(vehicle)
    unsubscribe = alert_app.state.alerts.sink.subscribe(recorder)
    endpoint = f"udpout:127.0.0.1:{vehicle.port}"
    async with pool.acquire() as conn:
        drone_id: int = await conn.fetchval(
            """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg, capabilities)
                   VALUES ('alert-sim', 'sim', $1, 21, $2, $3, '{"battery_wh": 400}') RETURNING id""",
            endpoint,
            HOME_LON_DEG,
            HOME_LAT_DEG,
        )
    try:
        flights = alert_app.state.flights
        await flights.link(drone_id, endpoint, 21, None)
        await alert_app.state.alert_detection.refresh()
        link = flights.vehicle(drone_id)
        await link.wait_online(10.0)
        # The service asks for its own stream rates on first contact, then reads FS_GCS_ENABLE:
        # once that parameter is in, ask for faster streams without being overridden.
        await link.tracker.wait_until(
            lambda t: "FS_GCS_ENABLE" in t.params, timeout_s=10.0, what="param read"
        )
        await link.request_streams(FAST_STREAMS_HZ)
        await link.tracker.wait_until(lambda t: bool(t.ready_to_arm), timeout_s=10.0, what="ready to arm")
        yield Flight(vehicle, drone_id, link, recorder)
    finally:
        unsubscribe()
        await alert_app.state.flights.unlink(drone_id)
        await vehicle.stop()


async def take_off(flight: Flight, alt_m: float) -> None:
    await flight.link.set_mode("GUIDED")
    await flight.link.arm()
    await flight.link.takeoff(alt_m)
    await flight.link.tracker.wait_until(
        lambda t: (t.alt_rel_m or 0.0) >= alt_m - 1.0, timeout_s=30.0, what="takeoff altitude"
    )


async def open_alerts(pool: asyncpg.Pool, drone_id: int) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT type, condition_key FROM alerts WHERE drone_id = $1 AND state = 'open' ORDER BY 1, 2",
            drone_id,
        )
    return [(r["type"], r["condition_key"]) for r in rows]


async def test_ceiling_breach_opens_once_within_3_sim_s_and_clears_below_it(
    alert_app: FastAPI, linked: Flight
) -> None:
    pool = alert_app.state.db.pool
    async with pool.acquire() as conn:
        await conn.execute("UPDATE district_settings SET ceiling_m = 25, updated_at = now()")
    try:
        await alert_app.state.alert_detection.refresh()
        crossing = asyncio.create_task(
            sim_time_when(linked.vehicle, lambda v: v.position.alt_rel_m > 25.0, timeout_s=30.0)
        )
        await take_off(linked, 35.0)
        crossed_s = await crossing
        event, at_s = await linked.alerts.wait("opened", "geofence_breach", 10.0, key="above_ceiling")
        assert at_s - crossed_s <= WITHIN_SIM_S
        assert event.alert["severity"] == "critical"
        assert event.alert["evidence"]["ceiling_m"] == 25.0
        assert event.alert["drone_id"] == linked.drone_id
        assert event.alert["position"]["alt_rel_m"] > 25.0
        await asyncio.sleep(1.0)  # five simulated seconds above the ceiling: still one alert
        assert await open_alerts(pool, linked.drone_id) == [("geofence_breach", "above_ceiling")]
        await linked.link.land()
        cleared, _ = await linked.alerts.wait("cleared", "geofence_breach", 20.0, key="above_ceiling")
        assert cleared.alert["id"] == event.alert["id"]
        assert cleared.alert["cleared_at"] > cleared.alert["opened_at"]
        assert cleared.alert["clear_evidence"]["alt_rel_m"] <= 25.0
        assert len(linked.alerts.of("opened", "geofence_breach")) == 1
        assert linked.alerts.of("opened", "unexpected_mode") == []  # LAND was commanded
    finally:
        async with pool.acquire() as conn:
            await conn.execute("UPDATE district_settings SET ceiling_m = 120, updated_at = now()")


async def test_battery_sag_raises_low_battery_then_the_failsafe_rtl_as_unexpected(
    alert_app: FastAPI, linked: Flight
) -> None:
    await take_off(linked, 20.0)
    sag_s = linked.vehicle.sim_time_s
    rtl = asyncio.create_task(sim_time_when(linked.vehicle, lambda v: v.mode == "RTL", timeout_s=30.0))
    linked.vehicle.faults.battery_sag(93.0)
    low, low_at_s = await linked.alerts.wait("opened", "battery_low", 10.0)
    assert low_at_s - sag_s <= WITHIN_SIM_S
    assert low.alert["severity"] == "critical" and low.alert["evidence"]["battery_pct"] < 15
    rtl_s = await rtl  # the vehicle's own battery failsafe, BATT_LOW_TIMER later
    mode, mode_at_s = await linked.alerts.wait("opened", "unexpected_mode", 10.0)
    assert mode_at_s - rtl_s <= WITHIN_SIM_S
    assert mode.alert["evidence"]["to_mode"] == "RTL"
    assert any("Battery" in text for text in mode.alert["evidence"]["autopilot_said"])
    said, _ = await linked.alerts.wait("opened", "autopilot_message", 5.0)
    assert said.alert["evidence"]["text"].startswith("Battery 1 is low")
    assert said.alert["severity"] == "critical"
    cleared_mode, _ = await linked.alerts.wait("cleared", "unexpected_mode", 40.0)  # landed and disarmed
    assert cleared_mode.alert["id"] == mode.alert["id"]
    battery = linked.vehicle.autopilot.battery
    battery.remaining_wh = battery.capacity_wh  # a fresh pack
    cleared_low, _ = await linked.alerts.wait("cleared", "battery_low", 10.0)
    assert cleared_low.alert["clear_evidence"]["battery_pct"] >= 30
    assert len(linked.alerts.of("opened", "battery_low")) == 1
    assert len(linked.alerts.of("opened", "unexpected_mode")) == 1


async def test_link_cut_opens_link_lost_and_the_first_message_after_clears_it(
    alert_app: FastAPI, linked: Flight
) -> None:
    await take_off(linked, 15.0)
    cut_wall_s = time.monotonic()
    linked.vehicle.faults.link_loss(duration_s=3.0)
    lost, _ = await linked.alerts.wait("opened", "link_lost", 10.0)
    late_wall_s = time.monotonic() - (cut_wall_s + LINK_LOST_S)
    assert late_wall_s * SPEEDUP <= WITHIN_SIM_S
    assert lost.alert["severity"] == "critical"  # armed and flying
    assert lost.alert["evidence"]["gap_s"] >= LINK_LOST_S
    cleared, _ = await linked.alerts.wait("cleared", "link_lost", 10.0)
    assert cleared.alert["clear_evidence"]["outage_s"] >= 2.5
    assert len(linked.alerts.of("opened", "link_lost")) == 1


async def test_gps_loss_raises_gps_ekf_and_the_ekf_failsafe_land(alert_app: FastAPI, linked: Flight) -> None:
    await take_off(linked, 25.0)
    lost_s = linked.vehicle.sim_time_s
    linked.vehicle.faults.gps_loss(duration_s=8.0)
    gps, gps_at_s = await linked.alerts.wait("opened", "gps_degraded", 10.0)
    assert gps_at_s - lost_s <= WITHIN_SIM_S
    assert gps.alert["evidence"]["fix_type"] == 0
    _, ekf_at_s = await linked.alerts.wait("opened", "ekf_unhealthy", 10.0)
    assert ekf_at_s - lost_s <= WITHIN_SIM_S
    mode, _ = await linked.alerts.wait("opened", "unexpected_mode", 10.0)
    assert mode.alert["evidence"]["to_mode"] == "LAND"
    _, back_at_s = await linked.alerts.wait("cleared", "gps_degraded", 10.0)
    assert back_at_s >= lost_s + 8.0  # cleared only once the fix is back
    await linked.alerts.wait("cleared", "ekf_unhealthy", 10.0)
    assert len(linked.alerts.of("opened", "gps_degraded")) == 1


async def test_a_restarted_runner_keeps_open_alerts_and_clears_those_no_longer_true(
    alert_app: FastAPI, linked: Flight
) -> None:
    pool: asyncpg.Pool = alert_app.state.db.pool
    service = alert_app.state.alerts
    stale = NewAlert(
        drone_id=linked.drone_id,
        type="battery_low",
        condition_key="",
        severity="warning",
        message="battery at 20% (before the restart)",
        evidence={"battery_pct": 20},
        at=datetime.now(UTC),
    )
    seeded = (await service.open(stale)).alert
    runner = DetectorRunner(alert_app.state.flights.manager, service, pool, tick_s=0.1, clear_hold_s=0.2)
    await runner.start()  # as after a restart: the open alert is loaded, the pack is full
    try:
        cleared, _ = await linked.alerts.wait("cleared", "battery_low", 10.0)
        assert cleared.alert["id"] == seeded["id"]
        assert cleared.alert["clear_evidence"]["battery_pct"] >= 90
    finally:
        await runner.close()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT state FROM alerts WHERE drone_id = $1 AND type = 'battery_low'", linked.drone_id
        )
    assert [r["state"] for r in rows] == ["cleared"]


def smallest_grid() -> dict[str, Any]:
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    return min(grids, key=lambda g: shape(g["geometry"]).area)


async def test_drift_off_the_uploaded_route_raises_route_deviation_and_clears_back_on_it(
    alert_app: FastAPI, database_dsn: str
) -> None:
    pool: asyncpg.Pool = alert_app.state.db.pool
    await wipe_district(pool)
    async with pool.acquire() as conn:
        token, _ = await tokens.create(
            conn, name="drift operator", role=Role.ADMIN, communities=None, created_by=None
        )
    headers = auth(token)
    grid = smallest_grid()
    home = shape(grid["geometry"]).representative_point()
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=22,
            port=0,
            home_lon_deg=home.x,
            home_lat_deg=home.y,
            speedup=SPEEDUP,
            battery_capacity_wh=400.0,
        )
    )
    await vehicle.start()
    recorder = Recorder(vehicle)
    unsubscribe = alert_app.state.alerts.sink.subscribe(recorder)
    transport = httpx.ASGITransport(app=alert_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test") as client:
            assert (
                await client.post("/grids/import", json=sample_document("grids"), headers=headers)
            ).status_code == 200
            r = await client.post(
                "/drones",
                json={
                    "name": "drift-sim",
                    "kind": "sim",
                    "endpoint": f"udpout:127.0.0.1:{vehicle.port}",
                    "sysid": 22,
                    "home": {"lon_deg": home.x, "lat_deg": home.y},
                    "capabilities": {"battery_wh": 400.0, "max_speed_mps": 15},
                },
                headers=headers,
            )
            assert r.status_code == 201, r.text
            drone_id = r.json()["id"]
            link = alert_app.state.flights.vehicle(drone_id)
            await link.wait_online(10.0)
            await link.tracker.wait_until(
                lambda t: "FS_GCS_ENABLE" in t.params, timeout_s=10.0, what="param read"
            )
            await link.request_streams(FAST_STREAMS_HZ)
            await link.tracker.wait_until(lambda t: bool(t.ready_to_arm), timeout_s=10.0, what="ready to arm")
            r = await client.post(
                "/missions",
                json={
                    "name": "drift",
                    "kind": "coverage",
                    "grid_codes": [grid["properties"]["code"]],
                    "drone_id": drone_id,
                    "swath_m": 60,
                    "alt_m": 30,
                    "speed_mps": 8,
                },
                headers=headers,
            )
            assert r.status_code == 201, r.text
            r = await client.post(
                f"/drones/{drone_id}/upload", json={"mission_id": r.json()["id"]}, headers=headers
            )
            assert r.status_code == 200, r.text
            await alert_app.state.alert_detection.refresh()  # the new upload's route
            assert (await client.post(f"/drones/{drone_id}/flight", headers=headers)).status_code == 202
            await link.tracker.wait_until(
                lambda t: t.mode == "AUTO" and (t.mission_seq or 0) >= 3 and (t.groundspeed_mps or 0) > 5,
                timeout_s=60.0,
                what="AUTO on a sweep",
            )
            frame = vehicle.autopilot.airframe
            heading_deg = (math.degrees(math.atan2(frame.vel_e_mps, frame.vel_n_mps)) + 90.0) % 360.0
            vehicle.faults.drift(6.0, heading_deg, duration_s=20.0)  # across the track
            event, at_s = await recorder.wait("opened", "route_deviation", 30.0)
            evidence = event.alert["evidence"]
            assert evidence["cross_track_m"] > 20.0
            held_s = evidence["off_route_s"] - DEVIATION_S + (at_s - evidence["vehicle_time_s"])
            assert held_s <= WITHIN_SIM_S
            assert event.alert["flight"]["mission_id"] is not None
            where = event.alert["position"]
            inside = shape(grid["geometry"]).covers(Point(where["lon_deg"], where["lat_deg"]))
            assert event.alert["grid_code"] == (grid["properties"]["code"] if inside else None)
            cleared, _ = await recorder.wait("cleared", "route_deviation", 60.0)
            assert cleared.alert["clear_evidence"]["cross_track_m"] <= 20.0
            assert len(recorder.of("opened", "route_deviation")) == 1
            listed = (
                await client.get(
                    "/alerts", params={"drone_id": drone_id, "type": "route_deviation"}, headers=headers
                )
            ).json()
            assert [a["state"] for a in listed] == ["cleared"]
    finally:
        unsubscribe()
        await vehicle.stop()
