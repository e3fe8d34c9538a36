"""MAVLink mission items as the planning core produces them (MISSION_ITEM_INT fields).

The core may not import pymavlink (see DESIGN.md import rules), so the command, frame and
mission-type numbers it needs are named here; ``tests/unit/test_items.py`` checks every value
against pymavlink's ardupilotmega dialect so they cannot drift.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class MavCmd(IntEnum):
    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TURNS = 18
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    CONDITION_YAW = 115
    DO_CHANGE_SPEED = 178
    DO_SET_HOME = 179
    DO_SET_RELAY = 181
    DO_SET_ROI_LOCATION = 195
    DO_SET_ROI_NONE = 197
    DO_DIGICAM_CONTROL = 203
    DO_MOUNT_CONTROL = 205
    DO_SET_CAM_TRIGG_DIST = 206
    DO_SPRAYER = 216
    IMAGE_START_CAPTURE = 2000
    NAV_FENCE_RETURN_POINT = 5000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class MavFrame(IntEnum):
    GLOBAL = 0
    MISSION = 2
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6
    GLOBAL_TERRAIN_ALT_INT = 11


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2


NAV_COMMANDS = frozenset(
    {
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_RETURN_TO_LAUNCH,
        MavCmd.NAV_LAND,
        MavCmd.NAV_TAKEOFF,
    }
)


def to_e7(deg: float) -> int:
    """Degrees to the integer 1e-7 degree units of MISSION_ITEM_INT.x/y."""
    return round(deg * 1e7)


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MISSION_ITEM_INT, without seq (its index in the list) and target ids (the link's job).

    ``x``/``y`` are latitude/longitude in 1e-7 degrees; ``z`` is altitude in metres in ``frame``.
    Params are stored as the float32 values the wire carries, so an upload followed by a
    download compares equal. Never put NaN in a param: NaN != NaN breaks round-trip checks.
    """

    command: int
    frame: int = MavFrame.GLOBAL_RELATIVE_ALT_INT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: int = 1
    mission_type: int = MissionType.MISSION

    def __post_init__(self) -> None:
        # Normalise to the float32 the wire carries so a downloaded copy compares equal.
        for name in ("param1", "param2", "param3", "param4", "z"):
            object.__setattr__(
                self, name, float(struct.unpack("<f", struct.pack("<f", getattr(self, name)))[0])
            )

    @property
    def lat_deg(self) -> float:
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        return self.y / 1e7

    @property
    def is_nav(self) -> bool:
        return self.command in NAV_COMMANDS
