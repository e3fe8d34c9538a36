"""A whole small flight through the ArduCopter recipe, at simulator speed-up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from app.link.autopilots.ardupilot import ArduCopterFlight, FlightTimeouts
from app.link.constants import MissionState
from app.link.manager import LinkManager
from missions.items import MavCmd, MissionItem
from simulator.fleet import SimFleet
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG, e7, link_vehicle

FLIGHT_SPEEDUP = 20.0
ALT_M = 20.0


@pytest_asyncio.fixture
async def flight_fleet() -> AsyncIterator[SimFleet]:
    async with SimFleet(1, 0, HOME_LON_DEG, HOME_LAT_DEG, speedup=FLIGHT_SPEEDUP) as sim:
        yield sim


def small_mission() -> list[MissionItem]:
    """Home, takeoff, three waypoints about 50 m apart; no RTL item, so the recipe brings it home."""
    home = (e7(HOME_LAT_DEG), e7(HOME_LON_DEG))
    offsets_deg = [(0.0004, 0.0), (0.0004, 0.0005), (0.0, 0.0005)]
    return [
        MissionItem(command=MavCmd.NAV_WAYPOINT, x=home[0], y=home[1]),
        MissionItem(command=MavCmd.NAV_TAKEOFF, x=home[0], y=home[1], z=ALT_M),
        *(
            MissionItem(
                command=MavCmd.NAV_WAYPOINT, x=e7(HOME_LAT_DEG + north), y=e7(HOME_LON_DEG + east), z=ALT_M
            )
            for north, east in offsets_deg
        ),
    ]


async def test_full_flight_guided_arm_takeoff_auto_complete_rtl_landed_disarmed(
    flight_fleet: SimFleet, manager: LinkManager
) -> None:
    sim = flight_fleet.vehicles[0]
    vehicle = await link_vehicle(manager, sim)
    await vehicle.upload_mission(small_mission())
    phases: list[str] = []
    flight = ArduCopterFlight(
        vehicle,
        timeouts=FlightTimeouts(ready_s=30, takeoff_s=30, mission_s=120, landing_s=120),
        on_phase=phases.append,
    )
    report = await flight.fly(ALT_M)
    assert report.completed
    assert [p for p in phases if p != "mission_start"] == [
        "streams",
        "wait_ready",
        "guided",
        "arm",
        "takeoff",
        "auto",
        "mission_complete",
        "rtl",
        "landing",
        "landed",
    ]
    assert any("FS_GCS_ENABLE is 0" in w for w in report.warnings)
    state = vehicle.state()
    assert not state.armed and state.landed_state == "ON_GROUND" and state.mode in ("RTL", "LAND")
    assert sim.landed and not sim.armed
    assert state.mission_state == MissionState.COMPLETE.name
    assert state.home_lat_deg is not None and state.lat_deg is not None
    assert abs(state.lat_deg - state.home_lat_deg) < 0.00005  # landed back home (about 5 m)
