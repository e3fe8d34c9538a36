"""Route to ArduCopter mission items: the exact item sequence, frames and params."""

from __future__ import annotations

import math

import pytest

from missions.compile import compile_mission
from missions.items import MavCmd, MavFrame, MissionItem, to_e7
from missions.plan import RoutePoint
from missions.profile import FlightProfile

PROFILE = FlightProfile(alt_m=50.0, speed_mps=6.0, transit_speed_mps=12.0, acceptance_radius_m=3.0)
HOME = (120.52, 31.49)


def _pt(dx: float, role: str, alt: float = 50.0, **kw: object) -> RoutePoint:
    return RoutePoint(HOME[0] + dx * 1e-4, HOME[1], alt, role, **kw)  # type: ignore[arg-type]


def _route(end: str = "rtl") -> list[RoutePoint]:
    return [
        _pt(0, "home", 0.0),
        _pt(0, "takeoff"),
        _pt(1, "sweep_start", camera_on=True),
        _pt(2, "sweep_end"),
        _pt(3, "hover", hover_s=30.0, speaker_on=True),
        _pt(0, "return"),
        _pt(0, end, 0.0),
    ]


SPEEDS = [12.0, 12.0, 6.0, 12.0, 12.0, 12.0]


def test_item_sequence_for_sweep_and_speaker_hover() -> None:
    items = compile_mission(
        _route(), leg_speeds_mps=SPEEDS, profile=PROFILE, trigger_distance_m=15.0, relay=2
    )
    assert [it.command for it in items] == [
        MavCmd.NAV_WAYPOINT,  # home
        MavCmd.NAV_TAKEOFF,
        MavCmd.DO_CHANGE_SPEED,  # 12 m/s to the sweep
        MavCmd.NAV_WAYPOINT,  # sweep start
        MavCmd.DO_CHANGE_SPEED,  # 6 m/s along the sweep
        MavCmd.DO_SET_CAM_TRIGG_DIST,  # on
        MavCmd.NAV_WAYPOINT,  # sweep end
        MavCmd.DO_CHANGE_SPEED,  # 12 m/s
        MavCmd.DO_SET_CAM_TRIGG_DIST,  # off
        MavCmd.NAV_WAYPOINT,  # arrive at the hover point
        MavCmd.DO_SET_RELAY,  # speaker on
        MavCmd.NAV_LOITER_TIME,
        MavCmd.DO_SET_RELAY,  # speaker off
        MavCmd.NAV_RETURN_TO_LAUNCH,
    ]
    home, takeoff = items[0], items[1]
    assert home.frame == MavFrame.GLOBAL and home.z == 0.0
    assert (home.x, home.y) == (to_e7(HOME[1]), to_e7(HOME[0]))
    assert takeoff.frame == MavFrame.GLOBAL_RELATIVE_ALT_INT and takeoff.z == 50.0
    speed = items[2]
    assert (speed.param1, speed.param2, speed.param3) == (1.0, 12.0, -1.0)
    cam_on, cam_off = items[5], items[8]
    assert (cam_on.param1, cam_on.param3) == pytest.approx((15.0, 1.0))
    assert cam_off.param1 == 0.0
    wp = items[3]
    assert (wp.param1, wp.param2) == (0.0, 3.0)
    assert (items[10].param1, items[10].param2) == (2.0, 1.0)
    assert items[11].param1 == 30.0
    assert (items[12].param1, items[12].param2) == (2.0, 0.0)


def test_frames_nav_relative_do_mission_and_no_nan() -> None:
    items = compile_mission(_route(), leg_speeds_mps=SPEEDS, profile=PROFILE, trigger_distance_m=15.0)
    for it in items[1:]:
        expected = MavFrame.GLOBAL_RELATIVE_ALT_INT if it.is_nav else MavFrame.MISSION
        assert it.frame == expected
        if not it.is_nav:
            assert (it.x, it.y, it.z) == (0, 0, 0.0)
        assert all(math.isfinite(v) for v in (it.param1, it.param2, it.param3, it.param4, it.z))


def test_land_end_lands_at_the_last_point() -> None:
    items = compile_mission(_route("land"), leg_speeds_mps=SPEEDS, profile=PROFILE)
    last = items[-1]
    assert last.command == MavCmd.NAV_LAND
    assert last.z == 0.0 and last.y == to_e7(HOME[0])


def test_without_trigger_distance_no_camera_items() -> None:
    items = compile_mission(_route(), leg_speeds_mps=SPEEDS, profile=PROFILE)
    assert MavCmd.DO_SET_CAM_TRIGG_DIST not in [it.command for it in items]


def test_camera_still_on_at_the_end_is_switched_off() -> None:
    route = [
        _pt(0, "home", 0.0),
        _pt(0, "takeoff"),
        _pt(1, "sweep_start", camera_on=True),
        _pt(0, "rtl", 0.0),
    ]
    items = compile_mission(route, leg_speeds_mps=[5.0, 5.0, 5.0], profile=PROFILE, trigger_distance_m=10.0)
    assert items[-2] == MissionItem(command=MavCmd.DO_SET_CAM_TRIGG_DIST, frame=MavFrame.MISSION)


def test_malformed_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="home"):
        compile_mission(_route()[1:], leg_speeds_mps=SPEEDS[1:], profile=PROFILE)
    with pytest.raises(ValueError, match="leg_speeds_mps"):
        compile_mission(_route(), leg_speeds_mps=SPEEDS[1:], profile=PROFILE)
    bad = _route()
    bad[2] = _pt(1, "sweep_start", alt=float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        compile_mission(bad, leg_speeds_mps=SPEEDS, profile=PROFILE)
