"""Streams on request, REQUEST_MESSAGE, commands and the parameter protocol."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from tests.sim.gcs import Gcs, VehicleThread, running_vehicle


@pytest.fixture(scope="module")
def vehicle() -> Iterator[VehicleThread]:
    with running_vehicle(speedup=5.0) as handle:
        yield handle


def count_types(gcs: Gcs, seconds: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        msg = gcs.conn.recv_match(blocking=True, timeout=remaining)
        if msg is not None:
            counts[msg.get_type()] += 1
    return counts


def test_fresh_link_gets_only_heartbeats(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=240) as gcs:
        counts = count_types(gcs, 2.2)
    # Events (HOME_POSITION when the EKF sets home, STATUSTEXT) may appear; no periodic stream does.
    assert set(counts) <= {"HEARTBEAT", "HOME_POSITION", "STATUSTEXT"}
    assert 2 <= counts["HEARTBEAT"] <= 3


def test_set_message_interval_streams_one_message_at_the_asked_rate(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=241) as gcs:
        assert gcs.set_interval(mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 10) == mavlink.MAV_RESULT_ACCEPTED
        gcs.drain()
        counts = count_types(gcs, 2.0)
        assert 17 <= counts["GLOBAL_POSITION_INT"] <= 23
        assert counts.keys() <= {"GLOBAL_POSITION_INT", "HEARTBEAT"}
        assert (
            gcs.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, -1)
            == 0
        )
        gcs.drain()
        assert count_types(gcs, 0.5)["GLOBAL_POSITION_INT"] == 0


def test_request_data_stream_starts_arducopter_groups(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=242) as gcs:
        gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_EXTENDED_STATUS, 4, 1)
        gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_EXTRA3, 4, 1)
        counts = count_types(gcs, 1.5)
        for name in ("SYS_STATUS", "GPS_RAW_INT", "MISSION_CURRENT", "BATTERY_STATUS", "EKF_STATUS_REPORT"):
            assert counts[name] >= 3, (name, counts)
        gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_ALL, 0, 0)
        time.sleep(0.3)
        gcs.drain()
        assert count_types(gcs, 0.6).keys() <= {"HEARTBEAT"}


def test_ready_vehicle_reports_prearm_bit_ekf_position_and_home(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=243) as gcs:
        gcs.wait_ready()
        gcs.set_interval(mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT, 5)
        ekf = gcs.recv("EKF_STATUS_REPORT", 2.0)
        assert ekf is not None and ekf.flags & mavlink.EKF_POS_HORIZ_ABS
        assert gcs.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION) == 0
        home = gcs.recv("HOME_POSITION", 2.0)
        assert home is not None and home.latitude != 0


def test_request_message_autopilot_version_advertises_capabilities(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=244) as gcs:
        assert gcs.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION) == 0
        version = gcs.recv("AUTOPILOT_VERSION", 2.0)
        assert version is not None
        for flag in (
            mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT,
            mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE,
            mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY,
            mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2,
            mavlink.MAV_PROTOCOL_CAPABILITY_SET_ATTITUDE_TARGET,
        ):
            assert version.capabilities & flag


def test_unknown_command_is_unsupported(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=245) as gcs:
        assert gcs.command(mavlink.MAV_CMD_DO_MOTOR_TEST, 1, 0, 0, 0) == mavlink.MAV_RESULT_UNSUPPORTED


def test_payload_commands_change_relays_sprayer_and_camera(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=246) as gcs:
        assert gcs.command(mavlink.MAV_CMD_DO_SET_RELAY, 2, 1) == 0
        assert gcs.command(mavlink.MAV_CMD_DO_SPRAYER, 1) == 0
        assert gcs.command(mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 12.5, 0, 1) == 0
        vehicle_state = vehicle.vehicle
        assert vehicle_state.relays[2] is True
        assert vehicle_state.sprayer_on
        assert vehicle_state.autopilot.cam_trigger_dist_m == 12.5
        assert len(vehicle_state.photos) >= 1  # param3=1 triggers once at once


def test_params_list_read_and_set(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=247) as gcs:
        gcs.mav.param_request_list_send(1, 1)
        names = set()
        total = None
        while True:
            msg = gcs.recv("PARAM_VALUE", 1.0)
            if msg is None:
                break
            names.add(msg.param_id)
            total = msg.param_count
        assert total == len(names)
        for name in (
            "FS_GCS_ENABLE",
            "FS_GCS_TIMEOUT",
            "RTL_ALT",
            "WPNAV_SPEED",
            "FENCE_ENABLE",
            "BATT_LOW_VOLT",
        ):
            assert name in names
        gcs.mav.param_request_read_send(1, 1, b"FS_GCS_ENABLE", -1)
        value = gcs.recv("PARAM_VALUE", 2.0, lambda m: m.param_id == "FS_GCS_ENABLE")
        assert value is not None and value.param_value == 0
        assert value.param_type == mavlink.MAV_PARAM_TYPE_INT8
        assert gcs.set_param("RTL_ALT", 2500.4) == 2500
        assert vehicle.vehicle.param("RTL_ALT") == 2500
        assert gcs.set_param("WPNAV_SPEED", 750.5) == pytest.approx(750.5)


def test_link_loss_window_silences_the_vehicle_then_it_comes_back(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=248) as gcs:
        assert gcs.recv("HEARTBEAT", 2.0) is not None
        vehicle.call(lambda: vehicle.vehicle.faults.link_loss(0.0, 2.5))
        gcs.drain()
        assert gcs.recv("HEARTBEAT", 2.0) is None
        gcs.heartbeat()  # dropped too, but the vehicle still knows this peer
        assert gcs.recv("HEARTBEAT", 2.5) is not None


def test_outbound_packet_loss_drops_about_the_given_share(vehicle: VehicleThread) -> None:
    with Gcs(vehicle.port, source_system=249) as gcs:
        assert gcs.set_interval(mavlink.MAVLINK_MSG_ID_ATTITUDE, 50) == mavlink.MAV_RESULT_ACCEPTED
        faults = vehicle.vehicle.faults
        dropped_before = faults.dropped_out
        vehicle.call(lambda: setattr(faults, "packet_loss_out_pct", 50.0))
        gcs.drain()
        received = count_types(gcs, 2.0)["ATTITUDE"]
        vehicle.call(lambda: setattr(faults, "packet_loss_out_pct", 0.0))
        gcs.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, -1)
        assert 25 <= received <= 75  # 50 Hz for 2 s, half of it lost
        assert faults.dropped_out - dropped_before >= 25
