"""The link layer's typed MAVLink numbers match pymavlink's ardupilotmega dialect."""

from __future__ import annotations

from enum import IntEnum, IntFlag

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.link import constants

PREFIXES: dict[type[IntEnum] | type[IntFlag], str] = {
    constants.MavCommand: "MAV_CMD_",
    constants.MavResult: "MAV_RESULT_",
    constants.MavMissionResult: "MAV_MISSION_",
    constants.MissionState: "MISSION_STATE_",
    constants.MavState: "MAV_STATE_",
    constants.LandedState: "MAV_LANDED_STATE_",
    constants.MavType: "MAV_TYPE_",
    constants.MavAutopilot: "MAV_AUTOPILOT_",
    constants.MavComponent: "MAV_COMP_ID_",
    constants.MavModeFlag: "MAV_MODE_FLAG_",
    constants.EkfFlags: "EKF_",
    constants.MavParamType: "MAV_PARAM_TYPE_",
    constants.GpsFixType: "GPS_FIX_TYPE_",
}
RENAMED = {"GpsFixType.FIX_2D": "GPS_FIX_TYPE_2D_FIX", "GpsFixType.FIX_3D": "GPS_FIX_TYPE_3D_FIX"}


@pytest.mark.parametrize("enum", list(PREFIXES), ids=lambda e: e.__name__)
def test_enum_values_match_pymavlink(enum: type[IntEnum] | type[IntFlag]) -> None:
    for member in enum:
        name = RENAMED.get(f"{enum.__name__}.{member.name}", PREFIXES[enum] + str(member.name))
        assert getattr(mavlink, name) == member.value, name


def test_sys_status_sensor_bits_match_pymavlink() -> None:
    assert constants.SysStatusSensor.PREARM_CHECK == mavlink.MAV_SYS_STATUS_PREARM_CHECK
    assert constants.SysStatusSensor.GPS == mavlink.MAV_SYS_STATUS_SENSOR_GPS
