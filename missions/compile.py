"""A sortie's route to ArduCopter mission items (MISSION_ITEM_INT fields).

The route (``RoutePoint``s, WGS-84) follows one shape, produced by the planners:

* ``route[0]``: role ``"home"`` at 0 m (becomes seq 0, the home item);
* ``route[1]``: role ``"takeoff"``, above home at the mission altitude (NAV_TAKEOFF);
* working and transit points (NAV_WAYPOINT; a point with ``hover_s > 0`` adds NAV_LOITER_TIME);
* optionally a role ``"return"`` point above the landing spot, which the end item flies by itself;
* the last point: role ``"rtl"`` (RETURN_TO_LAUNCH) or ``"land"`` (NAV_LAND at that spot).

Flags describe the leg *leaving* a point: ``camera_on`` means the camera triggers from this point
to the next. ArduPilot runs the DO items that follow a NAV item as soon as that NAV item
completes, i.e. at the start of the next leg, so every DO item here is placed straight after the
NAV item of the point where its effect must begin:

* DO_CHANGE_SPEED (param1 = 1 ground speed, param2 = m/s, param3 = -1 throttle unchanged)
  whenever the leg speed changes, the first one right after NAV_TAKEOFF;
* DO_SET_CAM_TRIGG_DIST (param1 = metres, param3 = 1 trigger once at once) after a sweep's first
  waypoint and DO_SET_CAM_TRIGG_DIST 0 after its last, so photos cover exactly the sweep;
* a speaker hover is NAV_WAYPOINT to the spot, DO_SET_RELAY on, NAV_LOITER_TIME, DO_SET_RELAY
  off: with the relay item before a lone NAV_LOITER_TIME the speaker would start when the drone
  *leaves* the previous point and play over everything on the way;
* DO_SPRAYER (param1 = 1 on, 0 off) where ``sprayer_on`` changes, so the pump runs exactly over
  the legs flagged (ArduCopter's AC_Sprayer also stops it below SPRAY_SPEED_MIN);
* DO_SET_ROI_LOCATION (the ``roi`` position) where the region of interest starts or changes and
  DO_SET_ROI_NONE (zero position, which ArduCopter's do_roi reads as "clear") where it ends:
  ArduCopter then yaws the copter (and points a mount) at the ROI while it flies on;
* ``photo``: DO_DIGICAM_CONTROL with x (param5) = 1, "shoot", as the first DO item after the
  point's NAV item, i.e. one photo when the point is reached, before the leaving leg's changes.

Every payload left on at the end (camera triggering, sprayer, ROI) is switched off before the
end item, so a mission never returns home spraying or yawed at a site.

NAV items use GLOBAL_RELATIVE_ALT_INT; DO items use the MISSION frame with zero coordinates, as
QGroundControl writes them. The home item is frame GLOBAL with its altitude above mean sea level
(0 unless known; ArduCopter replaces seq 0 with its real home anyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from missions.items import MavCmd, MavFrame, MissionItem, to_e7
from missions.plan import RoutePoint
from missions.profile import FlightProfile

_SPEED_TYPE_GROUND = 1.0
_THROTTLE_UNCHANGED = -1.0
_TRIGGER_ONCE_NOW = 1.0


def _do(command: MavCmd, p1: float = 0.0, p2: float = 0.0, p3: float = 0.0, p4: float = 0.0) -> MissionItem:
    return MissionItem(command=command, frame=MavFrame.MISSION, param1=p1, param2=p2, param3=p3, param4=p4)


def _nav(command: MavCmd, point: RoutePoint, p1: float = 0.0, p2: float = 0.0) -> MissionItem:
    return MissionItem(
        command=command,
        frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
        param1=p1,
        param2=p2,
        x=to_e7(point.lat_deg),
        y=to_e7(point.lon_deg),
        z=point.alt_rel_m,
    )


def change_speed_item(speed_mps: float) -> MissionItem:
    return _do(MavCmd.DO_CHANGE_SPEED, _SPEED_TYPE_GROUND, speed_mps, _THROTTLE_UNCHANGED)


def camera_trigger_item(trigger_distance_m: float) -> MissionItem:
    """Start (distance > 0, with one photo at once) or stop (0) distance triggering."""
    if trigger_distance_m > 0.0:
        return _do(MavCmd.DO_SET_CAM_TRIGG_DIST, trigger_distance_m, 0.0, _TRIGGER_ONCE_NOW)
    return _do(MavCmd.DO_SET_CAM_TRIGG_DIST, 0.0)


def relay_item(relay: int, on: bool) -> MissionItem:
    return _do(MavCmd.DO_SET_RELAY, float(relay), 1.0 if on else 0.0)


def sprayer_item(on: bool) -> MissionItem:
    return _do(MavCmd.DO_SPRAYER, 1.0 if on else 0.0)


def photo_item() -> MissionItem:
    """DO_DIGICAM_CONTROL "shoot": its x carries param5 as a raw number, not a position."""
    return MissionItem(command=MavCmd.DO_DIGICAM_CONTROL, frame=MavFrame.MISSION, x=1)


def roi_item(roi: tuple[float, float, float] | None) -> MissionItem:
    """Point the copter at (lon, lat, alt_rel_m), or clear the ROI (None: all-zero position)."""
    if roi is None:
        return _do(MavCmd.DO_SET_ROI_NONE)
    lon_deg, lat_deg, alt_rel_m = roi
    return MissionItem(
        command=MavCmd.DO_SET_ROI_LOCATION,
        frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
        x=to_e7(lat_deg),
        y=to_e7(lon_deg),
        z=alt_rel_m,
    )


def _check_route(route: Sequence[RoutePoint], leg_speeds_mps: Sequence[float]) -> None:
    if len(route) < 3:
        raise ValueError("a route needs at least home, takeoff and an end point")
    if route[0].role != "home" or route[1].role != "takeoff":
        raise ValueError("a route starts with a 'home' point and a 'takeoff' point")
    if route[-1].role not in ("rtl", "land"):
        raise ValueError(f"a route ends with an 'rtl' or 'land' point, not {route[-1].role!r}")
    if len(leg_speeds_mps) != len(route) - 1:
        raise ValueError(f"leg_speeds_mps has {len(leg_speeds_mps)} values for {len(route) - 1} legs")
    for i, p in enumerate(route):
        values = (p.lon_deg, p.lat_deg, p.alt_rel_m, p.hover_s, *(p.roi or ()))
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"route point {i} has a non-finite coordinate or hover time: {p!r}")
        if p.hover_s < 0.0:
            raise ValueError(f"route point {i} has a negative hover time")
    for i, s in enumerate(leg_speeds_mps):
        if not math.isfinite(s) or s <= 0.0:
            raise ValueError(f"leg {i} speed must be finite and > 0, got {s!r}")


def compile_mission(
    route: Sequence[RoutePoint],
    *,
    leg_speeds_mps: Sequence[float],
    profile: FlightProfile,
    trigger_distance_m: float | None = None,
    relay: int = 0,
    home_alt_amsl_m: float = 0.0,
) -> tuple[MissionItem, ...]:
    """Mission items for one sortie; seq 0 is home.

    ``leg_speeds_mps[i]`` is the ground speed from ``route[i]`` to ``route[i + 1]``.
    ``trigger_distance_m`` None means no camera commands (``camera_on`` then only marks footage
    for previews). ``relay`` powers the speaker.
    """
    _check_route(route, leg_speeds_mps)
    if trigger_distance_m is not None and (not math.isfinite(trigger_distance_m) or trigger_distance_m <= 0):
        raise ValueError(f"trigger_distance_m must be finite and > 0, got {trigger_distance_m!r}")
    if not math.isfinite(home_alt_amsl_m):
        raise ValueError(f"home_alt_amsl_m must be finite, got {home_alt_amsl_m!r}")
    home = route[0]
    items: list[MissionItem] = [
        MissionItem(
            command=MavCmd.NAV_WAYPOINT,
            frame=MavFrame.GLOBAL,
            x=to_e7(home.lat_deg),
            y=to_e7(home.lon_deg),
            z=home_alt_amsl_m,
        )
    ]
    speed_mps: float | None = None
    camera_on = False
    sprayer_on = False
    roi: tuple[float, float, float] | None = None
    last = len(route) - 1
    for i in range(1, last):
        p = route[i]
        if p.role == "return":
            continue
        if p.role == "takeoff":
            items.append(_nav(MavCmd.NAV_TAKEOFF, p))
        elif p.hover_s > 0.0 and p.speaker_on:
            items.append(_nav(MavCmd.NAV_WAYPOINT, p, 0.0, profile.acceptance_radius_m))
            items.append(relay_item(relay, True))
            items.append(_nav(MavCmd.NAV_LOITER_TIME, p, p.hover_s))
            items.append(relay_item(relay, False))
        elif p.hover_s > 0.0:
            items.append(_nav(MavCmd.NAV_LOITER_TIME, p, p.hover_s))
        else:
            items.append(_nav(MavCmd.NAV_WAYPOINT, p, 0.0, profile.acceptance_radius_m))
        if p.photo:
            items.append(photo_item())
        # What changes on the leg leaving this point.
        if leg_speeds_mps[i] != speed_mps:
            speed_mps = leg_speeds_mps[i]
            items.append(change_speed_item(speed_mps))
        if p.roi != roi:
            roi = p.roi
            items.append(roi_item(roi))
        want_camera = p.camera_on and trigger_distance_m is not None
        if want_camera != camera_on and trigger_distance_m is not None:
            items.append(camera_trigger_item(trigger_distance_m if want_camera else 0.0))
            camera_on = want_camera
        if p.sprayer_on != sprayer_on:
            sprayer_on = p.sprayer_on
            items.append(sprayer_item(sprayer_on))
    if camera_on:
        items.append(camera_trigger_item(0.0))
    if sprayer_on:
        items.append(sprayer_item(False))
    if roi is not None:
        items.append(roi_item(None))
    end = route[last]
    if end.role == "rtl":
        items.append(MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH, frame=MavFrame.GLOBAL_RELATIVE_ALT_INT))
    else:
        items.append(_nav(MavCmd.NAV_LAND, end))
    return tuple(items)
