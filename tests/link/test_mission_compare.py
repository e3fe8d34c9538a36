"""Readback comparison: what counts as "the vehicle stored what we sent"."""

from __future__ import annotations

import math

from app.link.mission_protocol import item_differences
from missions.items import MavCmd, MavFrame, MissionItem, MissionType


def waypoint(lat_e7: int, lon_e7: int, alt_m: float = 30.0, **kw: float) -> MissionItem:
    return MissionItem(command=MavCmd.NAV_WAYPOINT, x=lat_e7, y=lon_e7, z=alt_m, **kw)  # type: ignore[arg-type]


HOME = MissionItem(command=MavCmd.NAV_WAYPOINT, x=1, y=1)


def test_home_is_ignored_and_frame_6_equals_3() -> None:
    sent = [HOME, waypoint(473977418, 85455939)]
    got = [
        MissionItem(command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL, x=5, y=5, z=488.0),
        MissionItem(
            command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL_RELATIVE_ALT, x=473977418, y=85455939, z=30.0
        ),
    ]
    assert item_differences(sent, got, MissionType.MISSION) == []


def test_different_location_or_command_is_a_difference() -> None:
    sent = [HOME, waypoint(473977418, 85455939)]
    assert item_differences(sent, [HOME, waypoint(473977419, 85455939)], MissionType.MISSION)
    land = MissionItem(command=MavCmd.NAV_LAND, x=473977418, y=85455939)
    assert item_differences(sent, [HOME, land], MissionType.MISSION)
    assert item_differences(sent, [HOME], MissionType.MISSION) == ["count: sent 2, vehicle has 1"]


def test_nan_params_compare_equal_and_unkept_params_read_back_as_zero() -> None:
    sent = [HOME, waypoint(1, 2, param1=2.7, param2=3.0, param4=math.nan)]
    exact = [HOME, waypoint(1, 2, param1=2.7, param2=3.0, param4=math.nan)]
    stored = [HOME, waypoint(1, 2, param1=2.0)]  # hold time kept as integer seconds, rest dropped
    assert item_differences(sent, exact, MissionType.MISSION) == []
    assert item_differences(sent, stored, MissionType.MISSION) == []
    assert item_differences(sent, [HOME, waypoint(1, 2, param1=9.0)], MissionType.MISSION)


def test_altitude_is_compared_to_the_centimetre() -> None:
    sent = [HOME, waypoint(1, 2, alt_m=30.004)]
    assert item_differences(sent, [HOME, waypoint(1, 2, alt_m=30.0)], MissionType.MISSION) == []
    assert item_differences(sent, [HOME, waypoint(1, 2, alt_m=30.5)], MissionType.MISSION)


def test_fence_and_rally_compare_from_seq_0_with_their_storage_rules() -> None:
    vertex = MissionItem(
        command=MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
        param1=3,
        x=10,
        y=20,
        mission_type=MissionType.FENCE,
    )
    stored_vertex = MissionItem(
        command=MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=MavFrame.GLOBAL, param1=3, x=10, y=20
    )
    assert item_differences([vertex] * 3, [stored_vertex] * 3, MissionType.FENCE) == []
    moved = MissionItem(command=MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, param1=3, x=11, y=20)
    assert item_differences([vertex] * 3, [stored_vertex, stored_vertex, moved], MissionType.FENCE)
    rally = MissionItem(command=MavCmd.NAV_RALLY_POINT, x=1, y=2, z=25.7, mission_type=MissionType.RALLY)
    stored_rally = MissionItem(
        command=MavCmd.NAV_RALLY_POINT, frame=MavFrame.GLOBAL_RELATIVE_ALT, x=1, y=2, z=25.0
    )
    assert item_differences([rally], [stored_rally], MissionType.RALLY) == []


def test_loiter_time_direction_reads_back_as_plus_or_minus_one() -> None:
    """A broadcast hover (LOITER_TIME, param3 0) reads back from ArduCopter with param3 1: the same item."""
    hover = MissionItem(command=MavCmd.NAV_LOITER_TIME, param1=20.0, param3=0.0, x=1, y=2, z=40.0)
    readback = MissionItem(command=MavCmd.NAV_LOITER_TIME, param1=20.0, param3=1.0, x=1, y=2, z=40.0)
    counter = MissionItem(command=MavCmd.NAV_LOITER_TIME, param1=20.0, param3=-1.0, x=1, y=2, z=40.0)
    assert item_differences([HOME, hover], [HOME, readback], MissionType.MISSION) == []
    assert item_differences([HOME, hover], [HOME, counter], MissionType.MISSION) == [
        "seq 1: param3 0.0!=-1.0"
    ]
