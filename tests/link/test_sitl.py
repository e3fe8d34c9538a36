"""The link layer against real ArduPilot SITL (opt-in: `-m sitl` with AEROGRID_SITL_BINARY set).

The same code paths that fly the simulator fly ArduCopter SITL here: a mission and a fence round trip,
and the full flight (GUIDED, arm, take off, AUTO, complete, RTL, landed). Without an arducopter binary
every test skips with the reason.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from app.link.autopilots.ardupilot import ArduCopterFlight, FlightTimeouts
from app.link.manager import LinkManager, VehicleLink
from app.link.mission_protocol import item_differences
from missions.items import MavCmd, MavFrame, MissionItem, MissionType
from simulator.sitl import SITL_BINARY_ENV, SitlInstance, find_sitl_binary
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG, fence_polygon

pytestmark = pytest.mark.sitl


def e7(deg: float) -> int:
    return round(deg * 1e7)


def small_mission(alt_m: float = 20.0) -> list[MissionItem]:
    """Home, takeoff, a 60 m square, RTL."""
    square = [(0.0, 0.0003), (0.0005, 0.0003), (0.0005, 0.0), (0.0, 0.0)]
    items = [
        MissionItem(
            command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL, x=e7(HOME_LAT_DEG), y=e7(HOME_LON_DEG)
        ),
        MissionItem(command=MavCmd.NAV_TAKEOFF, x=e7(HOME_LAT_DEG), y=e7(HOME_LON_DEG), z=alt_m),
    ]
    items += [
        MissionItem(
            command=MavCmd.NAV_WAYPOINT, x=e7(HOME_LAT_DEG + dlat), y=e7(HOME_LON_DEG + dlon), z=alt_m
        )
        for dlat, dlon in square
    ]
    items.append(MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH, frame=MavFrame.MISSION))
    return items


@pytest.fixture
async def sitl_vehicle() -> AsyncIterator[VehicleLink]:
    binary = find_sitl_binary()
    if binary is None:
        pytest.skip(f"no ArduPilot SITL: set {SITL_BINARY_ENV} or put arducopter on PATH")
    speedup = float(os.environ.get("AEROGRID_SITL_SPEEDUP", "5"))
    async with SitlInstance(
        binary, instance=0, home=(HOME_LAT_DEG, HOME_LON_DEG, 5.0, 0.0), speedup=speedup
    ) as sitl:
        await sitl.wait_ready(timeout_s=180.0)
        async with LinkManager() as manager:
            vehicle = await manager.add_drone("sitl-0", sitl.connection_url, 1)
            await vehicle.wait_online(30.0)
            await vehicle.request_streams()
            yield vehicle


async def test_mission_round_trip_on_sitl(sitl_vehicle: VehicleLink) -> None:
    items = small_mission()
    report = await sitl_vehicle.upload_mission(items, MissionType.MISSION)
    assert report.verified
    back = await sitl_vehicle.download_mission(MissionType.MISSION)
    assert item_differences(items, back, MissionType.MISSION) == []


async def test_fence_upload_on_sitl(sitl_vehicle: VehicleLink) -> None:
    fence = fence_polygon(8)
    assert (await sitl_vehicle.upload_mission(fence, MissionType.FENCE)).verified
    back = await sitl_vehicle.download_mission(MissionType.FENCE)
    assert item_differences(fence, back, MissionType.FENCE) == []


async def test_full_flight_on_sitl(sitl_vehicle: VehicleLink) -> None:
    items = small_mission()
    assert (await sitl_vehicle.upload_mission(items, MissionType.MISSION)).verified
    flight = ArduCopterFlight(
        sitl_vehicle, timeouts=FlightTimeouts(ready_s=180, mission_s=600, landing_s=300)
    )
    report = await flight.fly(20.0)
    assert report.completed
    phases = [name for name, _ in report.phases]
    assert phases[-1] == "landed" and "mission_complete" in phases
    assert not sitl_vehicle.state().armed
