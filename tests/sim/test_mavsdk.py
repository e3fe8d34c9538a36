"""MAVSDK (the native ``mavsdk`` 4.x package, bundled C library, no server) flies the simulator.

MAVSDK treats the vehicle as ArduPilot: it uses MISSION_ITEM_INT uploads, GUIDED + NAV_TAKEOFF
for ``action.takeoff`` and AUTO + MAV_CMD_MISSION_START for ``start_mission``. Its high-level
Mission plugin is not ArduPilot-compatible (it puts the first waypoint at seq 0, which ArduPilot
treats as home, and adds DO_GIMBAL_MANAGER_CONFIGURE, which ArduPilot rejects), so ArduPilot
users fly with ``mission_raw``; both facts are checked here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from tests.sim.gcs import HOME_LAT_DEG, HOME_LON_DEG, VehicleThread, config, home_placeholder, waypoint

mavsdk = pytest.importorskip("mavsdk.asyncio")
from mavsdk import ComponentType  # noqa: E402
from mavsdk.asyncio.plugins.action import ActionAsync  # noqa: E402
from mavsdk.asyncio.plugins.mission import MissionAsync, MissionError, MissionPlan  # noqa: E402
from mavsdk.asyncio.plugins.mission import MissionItem as PlanItem  # noqa: E402
from mavsdk.asyncio.plugins.mission_raw import MissionItem as RawItem  # noqa: E402
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync  # noqa: E402
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync  # noqa: E402


@pytest.fixture
async def connected() -> AsyncIterator[tuple[VehicleThread, object]]:
    with VehicleThread(config(speedup=10.0)) as handle:
        configuration = mavsdk.Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with mavsdk.Mavsdk(configuration) as drone:
            await drone.add_any_connection(f"udpout://127.0.0.1:{handle.port}")
            system = await drone.first_autopilot(timeout_s=10.0)
            assert system is not None, "MAVSDK did not discover the simulated autopilot"
            yield handle, system


async def _wait_armable(telemetry: TelemetryAsync) -> None:
    await telemetry.set_rate_position(5)
    await telemetry.set_rate_health(5)
    async for health in telemetry.subscribe_health():
        if health.is_global_position_ok and health.is_home_position_ok and health.is_armable:
            return


async def test_mavsdk_uploads_a_raw_mission_arms_takes_off_and_flies_it_to_the_end(
    connected: tuple[VehicleThread, object],
) -> None:
    handle, system = connected
    telemetry, action, mission = TelemetryAsync(system), ActionAsync(system), MissionRawAsync(system)
    await asyncio.wait_for(_wait_armable(telemetry), 10.0)
    wire = [
        home_placeholder(),
        waypoint(1, 0, 0, 15, command=mavlink.MAV_CMD_NAV_TAKEOFF),
        waypoint(2, 40, 0, 15),
        waypoint(3, 40, 40, 15),
        waypoint(4, 0, 0, 0, command=mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    items = [
        RawItem(
            w.seq,
            w.frame,
            w.command,
            int(w.seq == 0),
            1,
            w.param1,
            w.param2,
            w.param3,
            w.param4,
            w.x,
            w.y,
            w.z,
            0,
        )
        for w in wire
    ]
    await asyncio.wait_for(mission.upload_mission(items), 10.0)
    assert len(handle.vehicle.mission_items) == 5
    await action.set_takeoff_altitude(15.0)
    await action.arm()
    await action.takeoff()
    await mission.start_mission()

    async def until_finished() -> None:
        async for progress in mission.subscribe_mission_progress():
            if progress.current == progress.total and not handle.vehicle.armed:
                return

    await asyncio.wait_for(until_finished(), 20.0)
    assert await mission.is_mission_finished()
    vehicle = handle.vehicle
    assert vehicle.landed and not vehicle.armed
    assert "Reached command #3" in vehicle.statustexts


async def test_mavsdk_mission_plugin_with_gimbal_items_is_refused_as_arducopter_refuses_it(
    connected: tuple[VehicleThread, object],
) -> None:
    _, system = connected
    lat = HOME_LAT_DEG + 40 / 111_319.49
    item = PlanItem(
        latitude_deg=lat,
        longitude_deg=HOME_LON_DEG,
        relative_altitude_m=15,
        speed_m_s=8,
        is_fly_through=True,
        gimbal_pitch_deg=0,
        gimbal_yaw_deg=0,
        camera_action=PlanItem.CameraAction.NONE,
        loiter_time_s=0,
        camera_photo_interval_s=1,
        acceptance_radius_m=2,
        yaw_deg=math.nan,
        camera_photo_distance_m=0,
        vehicle_action=PlanItem.VehicleAction.NONE,
    )
    with pytest.raises(MissionError, match="UNSUPPORTED"):
        await asyncio.wait_for(MissionAsync(system).upload_mission(MissionPlan([item])), 10.0)
