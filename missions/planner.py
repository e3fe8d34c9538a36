"""The planners the API and CLI call: grid geometry and a profile in, a checked ``MissionPlan`` out.

Every planner runs the same pipeline, so that fence checks, battery splits and compilation are
done one way for every kind of mission:

1. Project the grid, home and fences into the grid's ``LocalFrame`` (metres).
2. Turn the work into *units*, the pieces a sortie must contain whole: one sweep of a survey,
   one hover point of a broadcast, one edge of a perimeter patrol. Each unit has a *link*, the
   path from the previous unit's end (a coverage turn, or a transit routed around exclusion
   zones); a sortie that starts with the unit replaces the link by a transit from home.
3. Split the units into sorties so each fits in the battery's usable energy (capacity less
   reserve). Sortie energies are first estimated from one pass over the whole chain and then
   checked exactly on the assembled sortie, backing off a unit at a time if needed.
4. Assemble each sortie's 3D route (vertical take-off at home, transit, work, transit back,
   descent), estimate it (``missions.energy``), check it against the fences (``check_route``)
   and compile it to mission items (``missions.compile``).

Planners are pure and deterministic. They raise ``ValueError`` for bad parameters only: a plan
that breaks a fence or the battery comes back with ``violations`` (a plan with violations is
never uploaded), because the operator needs to see *where* it goes wrong.

ArduCopter's RTL flies straight home, so a return that must go around an exclusion zone flies
the routed corners as waypoints and leaves only the last, clear, straight leg to RTL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal, TypeAlias

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences, check_route
from geofences.compile import compile_fence
from geofences.frame import LocalFrame
from geofences.model import FenceSet, ZoneKind
from geofences.routing import Router, conservative_buffer
from missions.broadcast import audible_radius_m, place_broadcast_points
from missions.camera import Camera, camera_footprint
from missions.compile import compile_mission
from missions.coverage import Sweep, plan_coverage_path
from missions.energy import RouteEstimate, estimate_route
from missions.items import MissionItem
from missions.perimeter import Direction, perimeter_ring
from missions.plan import MissionPlan, PlanStats, RoutePoint, Sortie, Violation
from missions.profile import DEFAULT_BATTERY, Battery, FlightProfile, Speaker
from missions.tour import order_points

XY = tuple[float, float]
XYZ = tuple[float, float, float]
LonLat = tuple[float, float]
Area: TypeAlias = Polygon | MultiPolygon
Kind = Literal["coverage", "perimeter", "broadcast"]
LinkSpeed = Literal["work", "transit"]

DEFAULT_CLEARANCE_M = 5.0
"""Horizontal distance kept from exclusion zones unless the caller says otherwise."""

DEFAULT_PROFILE = FlightProfile()
DEFAULT_SPEAKER = Speaker()
NO_FENCES = FenceSet()

TURN_THRESHOLD_DEG = 30.0
"""A heading change above this counts as a turn in the plan statistics."""

_S_PER_H = 3600.0


# --------------------------------------------------------------------------------------------
# Units and sorties in local metres


@dataclass(frozen=True, slots=True)
class _Waypoint:
    """A point of the work. Flags describe the leg leaving it (see ``missions.compile``)."""

    xy: XY
    role: str
    hover_s: float = 0.0
    camera_on: bool = False
    speaker_on: bool = False


@dataclass(frozen=True, slots=True)
class _Unit:
    """Work a sortie flies whole, and how it is reached from the previous unit."""

    body: tuple[_Waypoint, ...]
    link: tuple[XY, ...] = ()  # corners between the previous unit's end and body[0]
    link_speed: LinkSpeed = "transit"
    grid: str = ""


@dataclass(frozen=True, slots=True)
class _Work:
    """What a kind-specific planner hands to the shared pipeline."""

    units: tuple[_Unit, ...]
    covered_local: BaseGeometry
    area_m2: float
    trigger_distance_m: float | None = None
    relay: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Draft:
    """One sortie's route in local metres, ready to estimate, check and compile."""

    points: tuple[XYZ, ...]
    roles: tuple[str, ...]
    speeds_mps: tuple[float, ...]  # per leg
    hover_s: tuple[float, ...]
    camera_on: tuple[bool, ...]
    speaker_on: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class _Setting:
    """Everything shared by one plan's sorties."""

    frame: LocalFrame
    home_xy: XY
    landing_xy: XY | None
    profile: FlightProfile
    battery: Battery | None
    fences: PreparedFences
    router: Router
    clearance_m: float


# --------------------------------------------------------------------------------------------
# Public entry points


def plan_coverage(
    grid_wgs84: Area,
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    swath_m: float | None = None,
    camera: Camera | None = None,
    side_overlap_pct: float = 70.0,
    front_overlap_pct: float = 80.0,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    angle_deg: float | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    no_photo_margin_m: float | None = None,
) -> MissionPlan:
    """A lawnmower survey of the grid, camera off over no-photo zones.

    Give ``camera`` (the swath and trigger distance follow from the overlaps and altitude) or
    ``swath_m`` (lane spacing only: no trigger commands are compiled). The camera is off while
    the drone is within ``no_photo_margin_m`` of a no-photo zone; by default that is half the
    photo footprint's diagonal, so that no photo shows any of the zone (0: off only overhead).
    """
    return plan_multi_grid(
        [("", grid_wgs84)],
        "coverage",
        home=home,
        profile=profile,
        swath_m=swath_m,
        camera=camera,
        side_overlap_pct=side_overlap_pct,
        front_overlap_pct=front_overlap_pct,
        fences=fences,
        battery=battery,
        landing=landing,
        angle_deg=angle_deg,
        clearance_m=clearance_m,
        no_photo_margin_m=no_photo_margin_m,
    )


def plan_perimeter(
    grid_wgs84: Area,
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    margin_m: float = 10.0,
    direction: Direction = "ccw",
    camera: Camera | None = None,
    front_overlap_pct: float = 80.0,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
) -> MissionPlan:
    """A patrol along the grid boundary ``margin_m`` inside it (photos along it with ``camera``)."""
    return plan_multi_grid(
        [("", grid_wgs84)],
        "perimeter",
        home=home,
        profile=profile,
        camera=camera,
        front_overlap_pct=front_overlap_pct,
        margin_m=margin_m,
        direction=direction,
        fences=fences,
        battery=battery,
        landing=landing,
        clearance_m=clearance_m,
    )


def plan_broadcast(
    grid_wgs84: Area,
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    speaker: Speaker = DEFAULT_SPEAKER,
    message_s: float = 30.0,
    repeats: int = 2,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
) -> MissionPlan:
    """Hover points whose speaker discs cover the grid, each playing ``message_s`` x ``repeats``."""
    return plan_multi_grid(
        [("", grid_wgs84)],
        "broadcast",
        home=home,
        profile=profile,
        speaker=speaker,
        message_s=message_s,
        repeats=repeats,
        fences=fences,
        battery=battery,
        landing=landing,
        clearance_m=clearance_m,
    )


def plan_multi_grid(
    grids: Sequence[tuple[str, Area]],
    kind: Kind,
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    swath_m: float | None = None,
    camera: Camera | None = None,
    side_overlap_pct: float = 70.0,
    front_overlap_pct: float = 80.0,
    angle_deg: float | None = None,
    no_photo_margin_m: float | None = None,
    margin_m: float = 10.0,
    direction: Direction = "ccw",
    speaker: Speaker = DEFAULT_SPEAKER,
    message_s: float = 30.0,
    repeats: int = 2,
) -> MissionPlan:
    """Several grids (``(code, WGS-84 polygon)``) in one flight, in the order that keeps transit
    short (a tour from home over the grids), split into sorties by the battery."""
    if kind not in ("coverage", "perimeter", "broadcast"):
        raise ValueError(f"kind must be 'coverage', 'perimeter' or 'broadcast', got {kind!r}")
    if not grids:
        raise ValueError("grids is empty")
    _check_lonlat("home", home)
    if landing is not None:
        _check_lonlat("landing", landing)
    if not math.isfinite(clearance_m) or clearance_m < 0.0:
        raise ValueError(f"clearance_m must be finite and >= 0, got {clearance_m!r}")
    for code, geom in grids:
        if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty or not geom.is_valid:
            raise ValueError(f"grid {code!r}: need a valid, non-empty (Multi)Polygon in WGS-84")

    frame = LocalFrame.for_geometry(shapely.union_all([g for _, g in grids]))
    prepared = PreparedFences(fences, frame)
    obstacles = _obstacles(prepared, profile.alt_m)
    setting = _Setting(
        frame=frame,
        home_xy=frame.xy(*home),
        landing_xy=None if landing is None else frame.xy(*landing),
        profile=profile,
        battery=battery,
        fences=prepared,
        router=Router(obstacles, prepared.inclusion, clearance_m=clearance_m),
        clearance_m=clearance_m,
    )
    areas = [(code, _local_area(frame, code, geom)) for code, geom in grids]
    order = order_points([_representative(a) for _, a in areas], start=setting.home_xy, end=_end_xy(setting))
    ordered = [areas[i] for i in order]
    if kind == "coverage":
        work = _coverage_work(
            setting,
            ordered,
            obstacles,
            swath_m,
            camera,
            side_overlap_pct,
            front_overlap_pct,
            angle_deg,
            no_photo_margin_m,
        )
    elif kind == "perimeter":
        work = _perimeter_work(setting, ordered, obstacles, margin_m, direction, camera, front_overlap_pct)
    else:
        work = _broadcast_work(setting, ordered, obstacles, speaker, message_s, repeats)
    return _finish_plan(kind, home, setting, work, grids=len(grids))


# --------------------------------------------------------------------------------------------
# Kind-specific work


def _coverage_work(
    s: _Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    swath_m: float | None,
    camera: Camera | None,
    side_overlap_pct: float,
    front_overlap_pct: float,
    angle_deg: float | None,
    no_photo_margin_m: float | None,
) -> _Work:
    if (swath_m is None) == (camera is None):
        raise ValueError("give exactly one of swath_m and camera")
    if no_photo_margin_m is not None and (not math.isfinite(no_photo_margin_m) or no_photo_margin_m < 0):
        raise ValueError(f"no_photo_margin_m must be finite and >= 0, got {no_photo_margin_m!r}")
    warnings: list[str] = []
    extra: dict[str, float] = {}
    trigger_m: float | None = None
    if camera is not None:
        fp = camera_footprint(camera, s.profile.alt_m, side_overlap_pct, front_overlap_pct)
        swath = fp.swath_m
        trigger_m = fp.trigger_distance_m
        # A photo shows its whole footprint: keep it out of no-photo zones, not just the track.
        photo_reach_m = math.hypot(fp.footprint_width_m, fp.footprint_height_m) / 2.0
        extra["gsd_cm_per_px"] = fp.gsd_cm_per_px
        extra["trigger_distance_m"] = trigger_m
    else:
        assert swath_m is not None
        if not math.isfinite(swath_m) or swath_m <= 0.0:
            raise ValueError(f"swath_m must be finite and > 0, got {swath_m!r}")
        swath = swath_m
        photo_reach_m = swath / 2.0
        warnings.append("no camera given: lanes are spaced by swath_m but no trigger commands are compiled")
    extra["swath_m"] = swath
    if no_photo_margin_m is not None:
        photo_reach_m = no_photo_margin_m

    no_photo = [lz.shape for lz in s.fences.of_kind(ZoneKind.NO_PHOTO)]
    blackout = (
        shapely.union_all([conservative_buffer(z, photo_reach_m) for z in no_photo]) if no_photo else None
    )
    units: list[_Unit] = []
    covered: list[BaseGeometry] = []
    position = s.home_xy
    dark_m = 0.0
    for n, (code, area) in enumerate(areas):
        nxt = _representative(areas[n + 1][1]) if n + 1 < len(areas) else _end_xy(s)
        path = plan_coverage_path(
            area,
            swath,
            turnaround_m=s.profile.turnaround_m,
            obstacles=tuple(obstacles),
            clearance_m=s.clearance_m,
            start_xy=position,
            end_xy=nxt,
            angle_deg=angle_deg,
        )
        grid_units, lit, dark = _sweep_units(path.waypoints, path.sweeps, blackout, code)
        if grid_units:
            grid_units[0] = _relink(s, grid_units[0], position)
            units.extend(grid_units)
            position = grid_units[-1].body[-1].xy
        dark_m += dark
        if lit:
            strips = shapely.buffer(shapely.linestrings(lit), swath / 2.0, cap_style="flat")
            covered.append(shapely.union_all(strips).intersection(area))
    if dark_m > 0.0:
        names = ", ".join(lz.zone.zone_id for lz in s.fences.of_kind(ZoneKind.NO_PHOTO))
        warnings.append(f"camera off for {dark_m:.0f} m of sweeps near no-photo zone(s) {names}")
    return _Work(
        units=tuple(units),
        covered_local=shapely.union_all(covered) if covered else Polygon(),
        area_m2=float(_union_area(areas).area),
        trigger_distance_m=trigger_m,
        extra=extra,
        warnings=tuple(warnings),
    )


def _close(a: XY, b: XY, tol_m: float = 1e-6) -> bool:
    return abs(a[0] - b[0]) <= tol_m and abs(a[1] - b[1]) <= tol_m


def _sweep_units(
    waypoints: Sequence[XY], sweeps: Sequence[Sweep], blackout: BaseGeometry | None, code: str
) -> tuple[list[_Unit], list[tuple[XY, XY]], float]:
    """One unit per sweep: its link is the path's turn from the previous sweep.

    ``waypoints`` holds every sweep's start and end in flight order, with turnaround and
    detour points between them; those between one sweep's end and the next one's start are
    the next sweep's link. Returns the units, the camera-on segments and the metres of sweep
    flown dark (no-photo).
    """
    units: list[_Unit] = []
    lit: list[tuple[XY, XY]] = []
    dark_m = 0.0
    wp = [(float(x), float(y)) for x, y in waypoints]
    k = 0
    for sweep in sweeps:
        start, end = sweep.start, sweep.end
        found = next((m for m in range(k, len(wp)) if _close(wp[m], start)), None)
        link: list[XY] = []
        if found is not None:
            link = wp[k:found]
            k = found + 1
            if k < len(wp) and _close(wp[k], end):
                k += 1
        body, on, dark = _split_sweep(start, end, blackout)
        lit.extend(on)
        dark_m += dark
        units.append(_Unit(body=body, link=tuple(link), link_speed="work", grid=code))
    return units, lit, dark_m


def _split_sweep(
    start: XY, end: XY, blackout: BaseGeometry | None
) -> tuple[tuple[_Waypoint, ...], list[tuple[XY, XY]], float]:
    """A sweep as waypoints with the camera switched off where photos would show a no-photo zone."""
    line = LineString([start, end])
    length = float(line.length)
    dark_parts: list[tuple[float, float]] = []
    if blackout is not None and length > 0.0 and line.intersects(blackout):
        inter = line.intersection(blackout)
        for part in shapely.get_parts(inter):
            if part.length <= 0.0:
                continue
            ends = [line.project(Point(c)) for c in part.coords]
            dark_parts.append((min(ends), max(ends)))
    dark_parts.sort()
    merged: list[tuple[float, float]] = []
    for a, b in dark_parts:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    cuts: list[tuple[float, bool]] = [(0.0, True)]  # (distance along, camera on from here)
    for a, b in merged:
        cuts.append((a, False))
        cuts.append((b, True))
    cuts.append((length, False))
    points: list[_Waypoint] = []
    lit: list[tuple[XY, XY]] = []
    dark_m = sum(b - a for a, b in merged)

    def at(d: float) -> XY:
        t = 0.0 if length == 0.0 else d / length
        return start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t

    for n, (d, on) in enumerate(cuts):
        if points and abs(d - cuts[n - 1][0]) < 1e-6:
            points[-1] = _Waypoint(points[-1].xy, points[-1].role, camera_on=on)
            continue
        role = "sweep_start" if n == 0 else "sweep_end" if n == len(cuts) - 1 else "camera_toggle"
        points.append(_Waypoint(at(d), role, camera_on=on))
        if n + 1 < len(cuts) and on:
            lit.append((at(d), at(cuts[n + 1][0])))
    return tuple(points), lit, dark_m


def _perimeter_work(
    s: _Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    margin_m: float,
    direction: Direction,
    camera: Camera | None,
    front_overlap_pct: float,
) -> _Work:
    trigger_m: float | None = None
    reach_m = 0.0
    extra: dict[str, float] = {"margin_m": margin_m}
    if camera is not None:
        fp = camera_footprint(camera, s.profile.alt_m, 0.0, front_overlap_pct)
        trigger_m = fp.trigger_distance_m
        reach_m = fp.footprint_width_m / 2.0
        extra["trigger_distance_m"] = trigger_m
    keep_out = (
        shapely.union_all([conservative_buffer(o, s.clearance_m) for o in obstacles]) if obstacles else None
    )
    units: list[_Unit] = []
    covered: list[BaseGeometry] = []
    position = s.home_xy
    for code, area in areas:
        flyable = area if keep_out is None else _largest(area.difference(keep_out))
        ring = perimeter_ring(flyable, margin_m, start_near=position, direction=direction)
        cam = camera is not None
        for k, xy in enumerate(ring):
            role = "perimeter_start" if k == 0 else "perimeter_end" if k == len(ring) - 1 else "vertex"
            wp = _Waypoint(xy, role, camera_on=cam and k < len(ring) - 1)
            if k == 0:
                units.append(_relink(s, _Unit(body=(wp,), grid=code), position))
            else:
                link = _route(s, ring[k - 1], xy)
                units.append(_Unit(body=(wp,), link=link, link_speed="work", grid=code))
        position = ring[-1]
        if cam:
            covered.append(LineString(ring).buffer(reach_m, cap_style="flat").intersection(area))
    return _Work(
        units=tuple(units),
        covered_local=shapely.union_all(covered) if covered else Polygon(),
        area_m2=float(_union_area(areas).area),
        trigger_distance_m=trigger_m,
        extra=extra,
    )


def _broadcast_work(
    s: _Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    speaker: Speaker,
    message_s: float,
    repeats: int,
) -> _Work:
    if not math.isfinite(message_s) or message_s <= 0.0:
        raise ValueError(f"message_s must be finite and > 0, got {message_s!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    radius_m = audible_radius_m(speaker, s.profile.alt_m)
    hover_s = message_s * repeats
    quiet_zones = s.fences.of_kind(ZoneKind.QUIET)
    quiet = shapely.union_all([lz.shape for lz in quiet_zones]) if quiet_zones else None
    # All grids are covered as one area: per-grid layouts would each waste points on their
    # shared boundaries. Each point is then credited to the grid it serves (nearest).
    union = _union_area(areas)
    allowed: BaseGeometry | None = s.fences.inclusion
    if obstacles:
        keep_out = shapely.union_all([conservative_buffer(o, s.clearance_m) for o in obstacles])
        base = allowed if allowed is not None else union.buffer(2.0 * radius_m)
        allowed = base.difference(keep_out)
    layout = place_broadcast_points(union, radius_m, quiet=quiet, allowed=allowed, home_xy=s.home_xy)
    units: list[_Unit] = []
    position = s.home_xy
    for xy in layout.points:
        code = areas[int(np.argmin(shapely.distance([a for _, a in areas], Point(xy))))][0]
        wp = _Waypoint(xy, "hover", hover_s=hover_s, speaker_on=True)
        units.append(_Unit(body=(wp,), link=_route(s, position, xy), link_speed="transit", grid=code))
        position = xy
    uncovered_quiet_pct = layout.uncovered_quiet_pct
    warnings: list[str] = []
    if uncovered_quiet_pct > 0.05:
        names = ", ".join(lz.zone.zone_id for lz in quiet_zones)
        warnings.append(
            f"{uncovered_quiet_pct:.1f}% of the grid is out of earshot: no hover point may be "
            f"within {radius_m:.0f} m of quiet zone(s) {names}"
        )
    extra = {
        "broadcast_points_ratio": layout.points_ratio,
        "uncovered_quiet_pct": uncovered_quiet_pct,
        "audible_radius_m": radius_m,
        "hover_s_per_point": hover_s,
    }
    return _Work(
        units=tuple(units),
        covered_local=layout.covered,
        area_m2=float(union.area),
        relay=speaker.relay,
        extra=extra,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Shared pipeline


def _finish_plan(kind: Kind, home: LonLat, s: _Setting, work: _Work, *, grids: int) -> MissionPlan:
    ranges = _split(s, work.units)
    sorties: list[Sortie] = []
    violations: list[Violation] = []
    photos = 0
    turns = 0
    for n, (i, j) in enumerate(ranges):
        last = n == len(ranges) - 1
        draft = _assemble(s, work.units, i, j, last=last)
        est = _estimate(s, draft)
        for fv in check_route(draft.points, s.fences, clearance_m=s.clearance_m):
            violations.append(Violation(n, fv.leg, fv.zone_id, fv.kind, fv.distance_m, fv.message))
        if s.battery is not None and est.energy_wh > s.battery.usable_wh:
            violations.append(
                Violation(
                    sortie=n,
                    leg=0,
                    zone_id="",
                    kind="battery",
                    distance_m=0.0,
                    message=f"sortie {n} needs {est.energy_wh:.1f} Wh but the battery allows "
                    f"{s.battery.usable_wh:.1f} Wh (capacity less {s.battery.reserve_frac:.0%} reserve)",
                )
            )
        route = _route_points(s.frame, draft)
        items = compile_mission(
            route,
            leg_speeds_mps=draft.speeds_mps,
            profile=s.profile,
            trigger_distance_m=work.trigger_distance_m,
            relay=work.relay,
        )
        sorties.append(Sortie(items, route, est.length_m, est.duration_s, est.energy_wh))
        photos += _photos(draft, work.trigger_distance_m)
        turns += _turns(draft.points)
    area_m2 = work.area_m2
    covered_m2 = float(work.covered_local.area) if not work.covered_local.is_empty else 0.0
    stats = PlanStats(
        length_m=sum(x.length_m for x in sorties),
        flight_time_s=sum(x.flight_time_s for x in sorties),
        turns=turns,
        photos=photos,
        energy_wh=sum(x.energy_wh for x in sorties),
        sorties=len(sorties),
        coverage_pct=min(100.0, 100.0 * covered_m2 / area_m2) if area_m2 > 0 else 0.0,
        area_m2=area_m2,
        hover_points=sum(1 for u in work.units for w in u.body if w.hover_s > 0.0),
        extra={**work.extra, "grids": float(grids)} if grids > 1 else dict(work.extra),
    )
    warnings = list(work.warnings)
    if len(sorties) > 1:
        warnings.append(f"split into {len(sorties)} sorties to keep each within the battery")
    footprints = ""
    if not work.covered_local.is_empty:
        footprints = shapely.to_wkt(s.frame.to_wgs84(work.covered_local), rounding_precision=7)
    fence_items: tuple[MissionItem, ...] = ()
    if s.fences.fences.zones:
        try:
            fence_items = compile_fence(s.fences.fences)
        except ValueError as exc:  # the plan stands; the vehicle fence has to be set up by hand
            warnings.append(f"fence not compiled for upload: {exc}")
    return MissionPlan(
        kind=kind,
        home_lon_deg=home[0],
        home_lat_deg=home[1],
        sorties=tuple(sorties),
        fence_items=fence_items,
        rally_items=(),
        stats=stats,
        violations=tuple(violations),
        warnings=tuple(warnings),
        footprints_wkt=footprints,
    )


def _speed(s: _Setting, kind: LinkSpeed) -> float:
    return s.profile.speed_mps if kind == "work" else s.profile.transit_speed_mps


def _end_xy(s: _Setting) -> XY:
    return s.landing_xy if s.landing_xy is not None else s.home_xy


def _assemble(s: _Setting, units: Sequence[_Unit], i: int, j: int, *, last: bool) -> _Draft:
    """Sortie i..j (inclusive): take off at home, fly the units, return and land."""
    alt = s.profile.alt_m
    hx, hy = s.home_xy
    end_xy = _end_xy(s) if last else s.home_xy
    end_role = "land" if (last and s.landing_xy is not None) or s.profile.end_action == "land" else "rtl"
    pts: list[XYZ] = [(hx, hy, 0.0), (hx, hy, alt)]
    roles = ["home", "takeoff"]
    # speeds[k] is leg k's speed; the last entry is a placeholder for the leg leaving the
    # newest point, set when the next point is added.
    speeds: list[float] = [s.profile.transit_speed_mps, s.profile.transit_speed_mps]
    hover = [0.0, 0.0]
    cam = [False, False]
    spk = [False, False]

    def add(xy: XY, role: str, leg_speed: float, w: _Waypoint | None = None, camera: bool = False) -> None:
        # ``leg_speed`` is for the leg arriving here; ``camera`` for a corner without a waypoint.
        speeds[-1] = leg_speed
        pts.append((xy[0], xy[1], alt))
        roles.append(role)
        speeds.append(s.profile.transit_speed_mps)
        hover.append(0.0 if w is None else w.hover_s)
        cam.append(camera if w is None else w.camera_on)
        spk.append(False if w is None else w.speaker_on)

    transit = s.profile.transit_speed_mps
    first = units[i]
    for c in _route(s, s.home_xy, first.body[0].xy):
        add(c, "transit", transit)
    for k in range(i, j + 1):
        u = units[k]
        if k > i:
            link_v = _speed(s, u.link_speed)
            # A working link (a perimeter edge bent round a zone) keeps the camera as it was.
            keep = cam[-1] and u.link_speed == "work"
            for c in u.link:
                add(c, "transit" if u.link_speed == "transit" else "turn", link_v, camera=keep)
            add(u.body[0].xy, u.body[0].role, link_v, u.body[0])
        else:
            add(u.body[0].xy, u.body[0].role, transit, u.body[0])
        for w in u.body[1:]:
            add(w.xy, w.role, s.profile.speed_mps, w)
    cam[-1] = False  # never photograph the way home
    for c in _route(s, pts[-1][:2], end_xy):
        add(c, "transit", transit)
    add(end_xy, "return", transit)
    pts.append((end_xy[0], end_xy[1], 0.0))
    roles.append(end_role)
    hover.append(0.0)
    cam.append(False)
    spk.append(False)
    return _Draft(tuple(pts), tuple(roles), tuple(speeds), tuple(hover), tuple(cam), tuple(spk))


def _route(s: _Setting, a: XY, b: XY) -> tuple[XY, ...]:
    """The corners between a and b on the shortest path around exclusion zones (a, b excluded).

    With no path (an end inside a zone, outside the inclusion) the leg stays straight and the
    fence check reports it.
    """
    if _close(a, b):
        return ()
    path = s.router.path(a, b)
    if path is None:
        return ()
    return tuple(path[1:-1])


def _relink(s: _Setting, unit: _Unit, position: XY) -> _Unit:
    """The unit reached in transit from ``position`` (another grid, or home)."""
    return _Unit(
        body=unit.body, link=_route(s, position, unit.body[0].xy), link_speed="transit", grid=unit.grid
    )


def _estimate(s: _Setting, d: _Draft) -> RouteEstimate:
    return estimate_route(
        d.points,
        s.profile,
        s.battery or DEFAULT_BATTERY,
        leg_speeds_mps=d.speeds_mps,
        hover_s=d.hover_s,
    )


def _split(s: _Setting, units: Sequence[_Unit]) -> list[tuple[int, int]]:
    """Unit ranges per sortie, each within the battery's usable energy where possible."""
    n = len(units)
    if n == 0:
        raise ValueError("nothing to fly: the grid produced no work (too small for the margin or swath?)")
    if s.battery is None:
        return [(0, n - 1)]
    usable = s.battery.usable_wh
    body_wh, link_wh, back_wh = _unit_energies(s, units)
    ranges: list[tuple[int, int]] = []
    i = 0
    while i < n:
        out_wh = _leg_energy(
            s, [(*s.home_xy, 0.0), (*s.home_xy, s.profile.alt_m), _at_alt(s, units[i].body[0].xy)]
        )
        total = out_wh + body_wh[i]
        j = i
        while j + 1 < n and total + link_wh[j + 1] + body_wh[j + 1] + back_wh[j + 1] <= usable:
            j += 1
            total += link_wh[j] + body_wh[j]
        while j > i:
            draft = _assemble(s, units, i, j, last=j == n - 1)
            if _estimate(s, draft).energy_wh <= usable:
                break
            j -= 1
        ranges.append((i, j))
        i = j + 1
    return ranges


def _at_alt(s: _Setting, xy: XY) -> XYZ:
    return (xy[0], xy[1], s.profile.alt_m)


def _leg_energy(s: _Setting, pts: Sequence[XYZ]) -> float:
    battery = s.battery or DEFAULT_BATTERY
    speeds = [s.profile.transit_speed_mps] * (len(pts) - 1)
    return estimate_route(pts, s.profile, battery, leg_speeds_mps=speeds).energy_wh


def _unit_energies(s: _Setting, units: Sequence[_Unit]) -> tuple[list[float], list[float], list[float]]:
    """Per unit: energy of its body (with hovers), of its link, and of a straight return home.

    One estimate over the whole chain of units gives body and link figures with realistic
    corner speeds; the straight return is a lower bound that the exact check corrects.
    """
    battery = s.battery or DEFAULT_BATTERY
    pts: list[XYZ] = []
    owner: list[int] = []
    is_link: list[bool] = []
    speeds: list[float] = []
    hovers: list[float] = []
    for k, u in enumerate(units):
        v = _speed(s, u.link_speed)
        if k > 0:
            for c in u.link:
                pts.append(_at_alt(s, c))
                owner.append(k)
                is_link.append(True)
                hovers.append(0.0)
                speeds.append(v)
        for m, w in enumerate(u.body):
            pts.append(_at_alt(s, w.xy))
            owner.append(k)
            is_link.append(m == 0)
            hovers.append(w.hover_s)
            speeds.append(v if m == 0 else s.profile.speed_mps)
    est = estimate_route(pts, s.profile, battery, leg_speeds_mps=speeds[1:], hover_s=hovers)
    body = [0.0] * len(units)
    link = [0.0] * len(units)
    for leg in est.legs:
        q = leg.index + 1
        moving_wh = leg.energy_wh - battery.hover_power_w * leg.hover_s / _S_PER_H
        if is_link[q]:
            link[owner[q]] += moving_wh
        else:
            body[owner[q]] += moving_wh
    for k, u in enumerate(units):
        body[k] += battery.hover_power_w * sum(w.hover_s for w in u.body) / _S_PER_H
    end = _end_xy(s)
    back = [
        _leg_energy(s, [_at_alt(s, u.body[-1].xy), _at_alt(s, end), (end[0], end[1], 0.0)]) for u in units
    ]
    return body, link, back


# --------------------------------------------------------------------------------------------
# Helpers


def _check_lonlat(name: str, p: LonLat) -> None:
    lon, lat = p
    if not (math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"{name} must be (lon, lat) in degrees, got {p!r}")


def _local_area(frame: LocalFrame, code: str, geom: Area) -> Area:
    local = frame.to_local(geom)
    if not local.is_valid:
        local = shapely.make_valid(local)
    polys = [p for p in shapely.get_parts(local) if isinstance(p, Polygon) and p.area > 0.0]
    if not polys:
        raise ValueError(f"grid {code!r} has no area")
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _union_area(areas: Sequence[tuple[str, Area]]) -> Area:
    union = shapely.union_all([a for _, a in areas])
    polys = [p for p in shapely.get_parts(union) if isinstance(p, Polygon) and p.area > 0.0]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _largest(geom: BaseGeometry) -> Polygon:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0.0]
    if not polys:
        raise ValueError("nothing of the grid is left outside the exclusion zones")
    return max(polys, key=lambda p: (p.area, p.bounds))


def _representative(area: BaseGeometry) -> XY:
    p = area.representative_point()
    return float(p.x), float(p.y)


def _obstacles(fences: PreparedFences, alt_m: float) -> list[Polygon]:
    """Exclusion zones the drone would hit at its working altitude (bands it overflies don't)."""
    out: list[Polygon] = []
    for lz in fences.exclusions:
        lo = -math.inf if lz.zone.min_alt_m is None else lz.zone.min_alt_m
        hi = math.inf if lz.zone.max_alt_m is None else lz.zone.max_alt_m
        if lo <= alt_m <= hi:
            out.append(lz.shape)
    return out


def _route_points(frame: LocalFrame, d: _Draft) -> tuple[RoutePoint, ...]:
    xy = np.asarray([(p[0], p[1]) for p in d.points], dtype=np.float64)
    ll = shapely.get_coordinates(frame.to_wgs84(shapely.multipoints(xy)))
    return tuple(
        RoutePoint(
            lon_deg=float(ll[k, 0]),
            lat_deg=float(ll[k, 1]),
            alt_rel_m=d.points[k][2],
            role=d.roles[k],
            hover_s=d.hover_s[k],
            camera_on=d.camera_on[k],
            speaker_on=d.speaker_on[k],
        )
        for k in range(len(d.points))
    )


def _photos(d: _Draft, trigger_m: float | None) -> int:
    """Photos per camera-on run: one at its start, then one every trigger distance."""
    if trigger_m is None:
        return 0
    total = 0
    run_m = -1.0
    for k in range(len(d.points) - 1):
        if d.camera_on[k]:
            p, q = d.points[k], d.points[k + 1]
            run_m = max(run_m, 0.0) + math.hypot(q[0] - p[0], q[1] - p[1])
        elif run_m >= 0.0:
            total += int(run_m // trigger_m) + 1
            run_m = -1.0
    if run_m >= 0.0:
        total += int(run_m // trigger_m) + 1
    return total


def _turns(points: Sequence[XYZ]) -> int:
    """Heading changes above ``TURN_THRESHOLD_DEG`` along the horizontal path."""
    headings: list[float] = []
    for p, q in pairwise(points):
        dx, dy = q[0] - p[0], q[1] - p[1]
        if math.hypot(dx, dy) > 1e-6:
            headings.append(math.atan2(dy, dx))
    count = 0
    for a, b in pairwise(headings):
        change = abs((b - a + math.pi) % (2.0 * math.pi) - math.pi)
        if math.degrees(change) > TURN_THRESHOLD_DEG:
            count += 1
    return count
