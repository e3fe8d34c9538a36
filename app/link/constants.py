"""The MAVLink numbers the link layer speaks, as typed enums.

pymavlink's dialect module is untyped, so reading ``mavlink.MAV_CMD_...`` would spread ``Any``
through the link code. These enums name the values once; ``tests/link/test_constants.py`` checks
each of them against pymavlink's ardupilotmega dialect so they cannot drift. Custom flight modes
are deliberately absent: they come from pymavlink's mode mapping (see ``codec.mode_mapping``).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class MavCommand(IntEnum):
    """MAV_CMD values sent as COMMAND_LONG by the link layer (mission items use missions.items.MavCmd)."""

    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_SET_MODE = 176
    MISSION_START = 300
    COMPONENT_ARM_DISARM = 400
    SET_MESSAGE_INTERVAL = 511
    REQUEST_MESSAGE = 512


class MavResult(IntEnum):
    ACCEPTED = 0
    TEMPORARILY_REJECTED = 1
    DENIED = 2
    UNSUPPORTED = 3
    FAILED = 4
    IN_PROGRESS = 5


class MavMissionResult(IntEnum):
    ACCEPTED = 0
    ERROR = 1
    UNSUPPORTED_FRAME = 2
    UNSUPPORTED = 3
    NO_SPACE = 4
    INVALID = 5
    INVALID_PARAM1 = 6
    INVALID_PARAM2 = 7
    INVALID_PARAM3 = 8
    INVALID_PARAM4 = 9
    INVALID_PARAM5_X = 10
    INVALID_PARAM6_Y = 11
    INVALID_PARAM7 = 12
    INVALID_SEQUENCE = 13
    DENIED = 14
    OPERATION_CANCELLED = 15


class MissionState(IntEnum):
    """MISSION_CURRENT.mission_state."""

    UNKNOWN = 0
    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


class MavState(IntEnum):
    UNINIT = 0
    BOOT = 1
    CALIBRATING = 2
    STANDBY = 3
    ACTIVE = 4
    CRITICAL = 5
    EMERGENCY = 6
    POWEROFF = 7
    FLIGHT_TERMINATION = 8


class LandedState(IntEnum):
    """EXTENDED_SYS_STATE.landed_state."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


class MavType(IntEnum):
    QUADROTOR = 2
    GCS = 6


class MavAutopilot(IntEnum):
    GENERIC = 0
    ARDUPILOTMEGA = 3
    INVALID = 8
    PX4 = 12


class MavComponent(IntEnum):
    AUTOPILOT1 = 1
    MISSIONPLANNER = 190


class MavModeFlag(IntFlag):
    CUSTOM_MODE_ENABLED = 1
    SAFETY_ARMED = 128


class SysStatusSensor(IntFlag):
    """Bits of SYS_STATUS.onboard_control_sensors_{present,enabled,health}."""

    GPS = 32
    PREARM_CHECK = 268435456


class EkfFlags(IntFlag):
    """EKF_STATUS_REPORT.flags."""

    ATTITUDE = 1
    VELOCITY_HORIZ = 2
    VELOCITY_VERT = 4
    POS_HORIZ_REL = 8
    POS_HORIZ_ABS = 16
    POS_VERT_ABS = 32
    POS_VERT_AGL = 64
    CONST_POS_MODE = 128
    PRED_POS_HORIZ_REL = 256
    PRED_POS_HORIZ_ABS = 512
    UNINITIALIZED = 1024
    GPS_GLITCHING = 32768


class MavParamType(IntEnum):
    UINT8 = 1
    INT8 = 2
    UINT16 = 3
    INT16 = 4
    UINT32 = 5
    INT32 = 6
    REAL32 = 9


class GpsFixType(IntEnum):
    NO_GPS = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


def result_name(result: int) -> str:
    """MAV_RESULT as a name for messages and API details; unknown values stay readable."""
    try:
        return f"MAV_RESULT_{MavResult(result).name}"
    except ValueError:
        return f"MAV_RESULT({result})"


def mission_result_name(result: int) -> str:
    """MAV_MISSION_RESULT as a name for messages and API details."""
    try:
        return f"MAV_MISSION_{MavMissionResult(result).name}"
    except ValueError:
        return f"MAV_MISSION_RESULT({result})"
