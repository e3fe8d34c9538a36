"""Arming, modes, a whole mission and the failsafes, flown over real UDP at speed-up 20."""

from __future__ import annotations

import time
from dataclasses import replace

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.mavenums import MissionState
from simulator.mission_store import WireItem
from tests.sim.gcs import Gcs, VehicleThread, home_placeholder, running_vehicle, wait_until, waypoint

TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF
FAILED = mavlink.MAV_RESULT_FAILED
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED


def small_mission(last_command: int = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH) -> list[WireItem]:
    return [
        home_placeholder(),
        waypoint(1, 0, 0, 20, command=TAKEOFF),
        waypoint(2, 60, 0, 20),
        waypoint(3, 60, 60, 25),
        waypoint(4, 0, 0, 0, command=last_command),
    ]


def take_off(gcs: Gcs, alt_m: float = 20.0) -> None:
    assert gcs.set_mode("GUIDED") == ACCEPTED
    assert gcs.arm() == ACCEPTED
    assert gcs.command(TAKEOFF, 0, 0, 0, 0, 0, 0, alt_m) == ACCEPTED


def test_arm_is_refused_until_the_ekf_has_a_position() -> None:
    with running_vehicle(speedup=1.0, boot_time_to_ready_s=600.0) as handle, Gcs(handle.port) as gcs:
        gcs.recv("HEARTBEAT", 3.0)
        assert gcs.set_mode("GUIDED") == ACCEPTED  # mode changes are not position-checked while disarmed
        assert gcs.arm() == FAILED
        text = gcs.recv("STATUSTEXT", 2.0, lambda m: m.text.startswith("PreArm"))
        assert text is not None
        assert not handle.vehicle.armed


def test_arm_is_refused_in_auto_and_armed_flag_follows_in_heartbeat() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        assert gcs.upload(small_mission()) == mavlink.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("AUTO") == ACCEPTED
        assert gcs.arm() == FAILED
        assert gcs.recv("STATUSTEXT", 2.0, lambda m: "mode not armable" in m.text) is not None
        take_off(gcs)  # at once: the copter disarms itself 10 s (0.5 s here) after arming on the ground
        beat = gcs.recv("HEARTBEAT", 2.0, lambda m: m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        assert beat is not None and beat.system_status == mavlink.MAV_STATE_ACTIVE


def test_vehicle_disarms_itself_10s_after_arming_without_takeoff() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        assert gcs.set_mode("GUIDED") == ACCEPTED
        assert gcs.arm() == ACCEPTED
        armed_at = handle.vehicle.sim_time_s
        wait_until(lambda: not handle.vehicle.armed, 3.0, "auto-disarm")
        assert 9.5 <= handle.vehicle.sim_time_s - armed_at <= 11.5


def test_guided_arm_takeoff_auto_flies_the_mission_to_complete_and_rtl_lands_disarmed() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        gcs.set_interval(mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, 4)
        assert gcs.upload(small_mission()) == mavlink.MAV_MISSION_ACCEPTED
        take_off(gcs)
        assert gcs.set_mode("AUTO") == ACCEPTED
        seen_seqs = set()
        complete = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and complete is None:
            current = gcs.recv("MISSION_CURRENT", 2.0)
            assert current is not None
            seen_seqs.add(current.seq)
            if current.mission_state == mavlink.MISSION_STATE_COMPLETE and current.seq == 4:
                complete = current
        assert complete is not None, f"mission never completed (saw {sorted(seen_seqs)})"
        assert {1, 2, 3, 4} <= seen_seqs
        assert complete.total == 4
        vehicle = handle.vehicle
        assert not vehicle.armed and vehicle.landed and vehicle.mode == "AUTO"
        assert abs(vehicle.position.alt_rel_m) < 0.1
        home = vehicle.home
        assert home is not None
        assert abs(vehicle.position.lat_deg - home.lat_deg) < 2e-5
        assert "Reached command #3" in vehicle.statustexts


def test_auto_on_the_ground_waits_for_mission_start_and_holds_after_last_waypoint() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        mission = small_mission()[:4]  # ends on a waypoint: hold there in AUTO
        assert gcs.upload(mission) == mavlink.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("GUIDED") == ACCEPTED
        assert gcs.arm() == ACCEPTED
        assert gcs.set_mode("AUTO") == ACCEPTED
        time.sleep(0.2)
        assert handle.vehicle.landed  # no lift-off without MISSION_START
        assert gcs.command(mavlink.MAV_CMD_MISSION_START, 1, 0) == mavlink.MAV_RESULT_DENIED
        assert gcs.command(mavlink.MAV_CMD_MISSION_START, 0, 0) == ACCEPTED
        wait_until(lambda: handle.vehicle.mission_state == MissionState.COMPLETE, 10.0, "mission complete")
        vehicle = handle.vehicle
        assert vehicle.armed and vehicle.mode == "AUTO" and vehicle.position.alt_rel_m > 20


def test_auto_is_refused_on_the_ground_when_item_1_is_not_a_takeoff() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        mission = [home_placeholder(), waypoint(1, 50, 0, 20)]
        assert gcs.upload(mission) == mavlink.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("GUIDED") == ACCEPTED
        assert gcs.arm() == ACCEPTED
        assert gcs.set_mode("AUTO") == FAILED
        assert gcs.recv("STATUSTEXT", 2.0, lambda m: "Missing Takeoff" in m.text) is not None


def climb_to(handle: VehicleThread, gcs: Gcs, alt_m: float = 20.0) -> None:
    take_off(gcs, alt_m)
    wait_until(lambda: handle.vehicle.position.alt_rel_m > alt_m - 1, 5.0, "takeoff")


def test_gcs_failsafe_triggers_rtl_within_timeout_when_enabled() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        assert gcs.set_param("FS_GCS_ENABLE", 1) == 1
        gcs.start_heartbeats()
        climb_to(handle, gcs)
        gcs.stop_heartbeats()
        silent_from = time.monotonic()
        wait_until(lambda: handle.vehicle.mode == "RTL", 5 + 2, "GCS failsafe RTL")
        assert time.monotonic() - silent_from >= 4.0  # the last heartbeat went out up to 0.5 s earlier
        assert "GCS Failsafe" in handle.vehicle.statustexts


def test_gcs_loss_does_nothing_with_the_default_fs_gcs_enable_0() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        assert gcs.set_param("FS_GCS_TIMEOUT", 1.0) == 1.0  # FS_GCS_ENABLE stays at its default, 0
        climb_to(handle, gcs)
        time.sleep(2.5)
        assert handle.vehicle.mode == "GUIDED"


def test_battery_failsafe_returns_to_launch_when_voltage_stays_low() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        climb_to(handle, gcs)
        handle.call(lambda: handle.vehicle.faults.battery_sag(92))
        wait_until(lambda: handle.vehicle.mode == "RTL", 3.0, "battery failsafe RTL")
        assert any(text.startswith("Battery 1 is low") for text in handle.vehicle.statustexts)
        gcs.set_interval(mavlink.MAVLINK_MSG_ID_BATTERY_STATUS, 5)
        status = gcs.recv("BATTERY_STATUS", 2.0)
        assert status is not None and status.charge_state >= mavlink.MAV_BATTERY_CHARGE_STATE_LOW


def test_fence_breach_triggers_rtl_and_arming_outside_is_refused() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        fence_type = mavlink.MAV_MISSION_TYPE_FENCE
        vertex = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
        corners = [(-30, -30), (-30, 30), (30, 30), (30, -30)]
        polygon = [
            replace(waypoint(seq, n, e, 0, command=vertex, param1=4), mission_type=fence_type)
            for seq, (n, e) in enumerate(corners)
        ]
        assert gcs.upload(polygon, fence_type) == mavlink.MAV_MISSION_ACCEPTED
        assert gcs.set_param("FENCE_ENABLE", 1) == 1
        climb_to(handle, gcs)
        target = waypoint(0, 80, 0, 20)
        gcs.mav.set_position_target_global_int_send(
            0,
            1,
            1,
            mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
            0xFF8,
            target.x,
            target.y,
            20,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        )
        wait_until(lambda: handle.vehicle.mode == "RTL", 5.0, "fence breach RTL")
        assert any(text.startswith("Fence Breached") for text in handle.vehicle.statustexts)
        wait_until(lambda: not handle.vehicle.armed, 10.0, "RTL landing")
        # Now move the fence away from the vehicle: arming is refused.
        away = [replace(item, x=item.x + 2_000_000) for item in polygon]
        assert gcs.upload(away, fence_type) == mavlink.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("GUIDED") == ACCEPTED
        assert gcs.arm() == FAILED
        assert gcs.recv("STATUSTEXT", 2.0, lambda m: "breaching Polygon fence" in m.text) is not None


def test_motor_failure_forces_land_and_locks_the_mode() -> None:
    with running_vehicle() as handle, Gcs(handle.port) as gcs:
        gcs.wait_ready()
        climb_to(handle, gcs)
        handle.call(handle.vehicle.faults.motor_failure)
        wait_until(lambda: handle.vehicle.mode == "LAND", 2.0, "forced LAND")
        assert gcs.set_mode("GUIDED") == FAILED
        wait_until(lambda: not handle.vehicle.armed, 10.0, "landed and disarmed")
