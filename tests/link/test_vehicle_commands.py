"""Commands, parameters, telemetry state and the GCS failsafe against the simulator."""

from __future__ import annotations

import time

import pytest

from app.link.constants import MavCommand, MavResult
from app.link.errors import CommandRejected, UnknownDrone
from app.link.manager import LinkManager
from simulator.fleet import SimFleet
from tests.link.simkit import link_vehicle, survey_mission


async def test_streams_fill_the_vehicle_state(fleet: SimFleet, manager: LinkManager) -> None:
    sim = fleet.vehicles[0]
    vehicle = await link_vehicle(manager, sim)
    results = await vehicle.request_streams()
    assert set(results.values()) == {MavResult.ACCEPTED}
    await vehicle.tracker.wait_until(
        lambda t: t.lat_deg is not None and t.ekf_flags is not None and t.home_lat_deg is not None,
        timeout_s=5,
        what="telemetry",
    )
    await vehicle.tracker.wait_until(lambda t: t.ready_to_arm, timeout_s=10, what="ready")
    state = manager.state(vehicle.drone_id)
    assert state.online and state.mode == sim.mode and not state.armed
    assert state.lat_deg == pytest.approx(sim.position.lat_deg, abs=1e-4)
    assert state.lon_deg == pytest.approx(sim.position.lon_deg, abs=1e-4)
    assert state.battery_voltage_v is not None and state.battery_pct is not None
    assert state.gps_fix_type is not None and state.gps_fix_type >= 3 and state.gps_satellites
    assert state.prearm_ok and state.ekf_ok
    assert state.system_status == "STANDBY" and state.landed_state == "ON_GROUND"
    assert sim.home is not None and state.home_lat_deg == pytest.approx(sim.home.lat_deg, abs=1e-6)


async def test_modes_arming_and_rejections(fleet: SimFleet, manager: LinkManager) -> None:
    sim = fleet.vehicles[0]
    vehicle = await link_vehicle(manager, sim)
    await vehicle.request_streams()
    await vehicle.tracker.wait_until(lambda t: t.ready_to_arm, timeout_s=10, what="ready")
    await vehicle.upload_mission(survey_mission(5))
    await vehicle.set_mode("AUTO")
    with pytest.raises(CommandRejected) as caught:
        await vehicle.arm()
    assert caught.value.result == MavResult.FAILED and caught.value.http_status == 409
    assert "not armable" in caught.value.message  # the vehicle's STATUSTEXT is carried along
    await vehicle.set_mode("GUIDED")
    await vehicle.arm()
    assert vehicle.state().armed and sim.armed
    await vehicle.disarm()
    assert not vehicle.state().armed
    with pytest.raises(ValueError, match="unknown flight mode"):
        await vehicle.set_mode("WARP")
    with pytest.raises(CommandRejected):
        await vehicle.command_long(MavCommand.MISSION_START, param1=3.0, param2=1.0)


async def test_params_get_and_set_with_confirmation(fleet: SimFleet, manager: LinkManager) -> None:
    sim = fleet.vehicles[0]
    vehicle = await link_vehicle(manager, sim)
    assert await vehicle.get_param("FS_GCS_TIMEOUT") == 5.0
    assert await vehicle.set_param("FS_GCS_TIMEOUT", 3.5) == 3.5
    assert sim.param("FS_GCS_TIMEOUT") == 3.5
    assert await vehicle.set_param("FS_GCS_ENABLE", 1) == 1.0
    assert vehicle.state().params["FS_GCS_ENABLE"] == 1.0


async def test_unknown_drone_is_a_404(manager: LinkManager) -> None:
    with pytest.raises(UnknownDrone) as caught:
        manager.vehicle("nope")
    assert caught.value.http_status == 404


async def test_gcs_failsafe_returns_the_copter_when_the_heartbeat_stops(
    fleet: SimFleet, manager: LinkManager
) -> None:
    sim = fleet.vehicles[0]
    vehicle = await link_vehicle(manager, sim)
    await vehicle.request_streams()
    timeout_s = 3.0
    await vehicle.set_param("FS_GCS_ENABLE", 1)
    await vehicle.set_param("FS_GCS_TIMEOUT", timeout_s)
    await vehicle.tracker.wait_until(lambda t: t.ready_to_arm, timeout_s=10, what="ready")
    await vehicle.set_mode("GUIDED")
    await vehicle.arm()
    await vehicle.takeoff(10.0)
    await vehicle.tracker.wait_until(lambda t: (t.alt_rel_m or 0) > 5.0, timeout_s=20, what="climb")
    manager.set_heartbeat(vehicle.drone_id, enabled=False)
    stopped_s = time.monotonic()
    await vehicle.tracker.wait_until(lambda t: t.mode == "RTL", timeout_s=timeout_s + 2.0, what="RTL")
    elapsed_s = time.monotonic() - stopped_s
    assert elapsed_s <= timeout_s + 2.0
    assert any("GCS Failsafe" in e.text for e in vehicle.state().events if e.kind == "statustext")
    manager.set_heartbeat(vehicle.drone_id, enabled=True)
    await vehicle.tracker.wait_until(lambda t: not t.armed, timeout_s=60, what="landed and disarmed")
