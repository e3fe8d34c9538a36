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

The field kinds (``plan_spray``, ``plan_inspection``, ``plan_checkpoints``; see
``missions.spray``, ``missions.inspect``, ``missions.checkpoint``) use the same pipeline with
three additions:

* A unit may work at its own altitude (spraying 5-10 m above a roof, an orbit, a checkpoint).
  Transits fly at the profile altitude, and any move between two altitudes is flown at the
  higher one: climb before leaving a low point, descend once above the next.
* The sprayer's tank is a second sortie budget beside the battery. A sweep is cut where the tank
  runs dry, so every sortie but the last sprays a full tank and the next resumes at the cut.
* Checkpoints get arrival times (seconds from the first take-off, later sorties starting
  ``turnaround_s`` after the previous landing) and their time windows are checked.

Planners are pure and deterministic. They raise ``ValueError`` for bad parameters only: a plan
that breaks a fence or the battery comes back with ``violations`` (a plan with violations is
never uploaded), because the operator needs to see *where* it goes wrong.

ArduCopter's RTL flies straight home, so a return that must go around an exclusion zone flies
the routed corners as waypoints and leaves only the last, clear, straight leg to RTL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal, TypeAlias

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.checks import LocalZone, PreparedFences, check_route
from geofences.compile import compile_fence
from geofences.frame import LocalFrame
from geofences.model import FenceSet, ZoneKind
from geofences.routing import Router, conservative_buffer
from missions.broadcast import audible_radius_m, place_broadcast_points
from missions.camera import Camera, camera_footprint
from missions.checkpoint import Checkpoint, timetable
from missions.compile import compile_mission
from missions.coverage import Sweep, plan_coverage_path
from missions.energy import RouteEstimate, estimate_route
from missions.inspect import InspectionSite, orbit_points, photo_layout, place_orbit, reach_m, roi_xy
from missions.items import MissionItem
from missions.perimeter import Direction, perimeter_ring
from missions.plan import Arrival, MissionPlan, PlanStats, RoutePoint, Sortie, Violation
from missions.profile import DEFAULT_BATTERY, Battery, FlightProfile, Speaker, Sprayer
from missions.spray import SprayTarget, spray_alt_m
from missions.tour import order_points

XY = tuple[float, float]
XYZ = tuple[float, float, float]
LonLat = tuple[float, float]
Area: TypeAlias = Polygon | MultiPolygon
Kind = Literal["coverage", "perimeter", "broadcast"]
LinkSpeed = Literal["work", "transit"]
Payload = Literal["camera", "sprayer"]
CheckpointOrder = Literal["given", "optimised"]

DEFAULT_CLEARANCE_M = 5.0
"""Horizontal distance kept from exclusion zones unless the caller says otherwise."""

DEFAULT_PROFILE = FlightProfile()
DEFAULT_SPEAKER = Speaker()
NO_FENCES = FenceSet()

TURN_THRESHOLD_DEG = 30.0
"""A heading change above this counts as a turn in the plan statistics."""

DEFAULT_TURNAROUND_S = 300.0
"""Time on the ground between sorties (battery swap, refill) assumed for checkpoint arrival times."""

_LITRES_TOLERANCE = 1e-6  # litres: rounding noise, not an overfilled tank

_S_PER_H = 3600.0


# --------------------------------------------------------------------------------------------
# Units and sorties in local metres


@dataclass(frozen=True, slots=True)
class _Waypoint:
    """A point of the work. Flags describe the leg leaving it (see ``missions.compile``);
    ``photo`` is one photo on arrival, ``roi`` (local x, y, altitude) where the camera aims."""

    xy: XY
    role: str
    hover_s: float = 0.0
    camera_on: bool = False
    speaker_on: bool = False
    sprayer_on: bool = False
    photo: bool = False
    roi: XYZ | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True, slots=True)
class _Unit:
    """Work a sortie flies whole, and how it is reached from the previous unit.

    ``alt_m`` is the altitude of the body and of a working link (None: the profile's); a
    transit link always flies at the profile altitude.
    """

    body: tuple[_Waypoint, ...]
    link: tuple[XY, ...] = ()  # corners between the previous unit's end and body[0]
    link_speed: LinkSpeed = "transit"
    grid: str = ""
    alt_m: float | None = None


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
    violations: tuple[Violation, ...] = ()  # work refused before routing (sortie and leg -1)
    tank_l: float | None = None  # usable litres per sortie; None: no tank to split by
    litres_per_m: float = 0.0  # liquid per metre of sprayer-on track
    turnaround_s: float = DEFAULT_TURNAROUND_S


@dataclass(frozen=True, slots=True)
class _Draft:
    """One sortie's route in local metres, ready to estimate, check and compile."""

    points: tuple[XYZ, ...]
    roles: tuple[str, ...]
    speeds_mps: tuple[float, ...]  # per leg
    hover_s: tuple[float, ...]
    camera_on: tuple[bool, ...]
    speaker_on: tuple[bool, ...]
    sprayer_on: tuple[bool, ...]
    photo: tuple[bool, ...]
    roi: tuple[XYZ | None, ...]
    checkpoints: tuple[Checkpoint | None, ...]


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
    for code, geom in grids:
        if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty or not geom.is_valid:
            raise ValueError(f"grid {code!r}: need a valid, non-empty (Multi)Polygon in WGS-84")
    setting = _make_setting(
        shapely.union_all([g for _, g in grids]), home, profile, fences, battery, landing, clearance_m
    )
    frame = setting.frame
    obstacles = _obstacles(setting.fences, profile.alt_m)
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


def plan_spray(
    targets: Sequence[SprayTarget],
    *,
    home: LonLat,
    sprayer: Sprayer,
    profile: FlightProfile = DEFAULT_PROFILE,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    angle_deg: float | None = None,
    no_spray_margin_m: float | None = None,
) -> MissionPlan:
    """Disinfection spraying: a low coverage route over each target at the sprayer's swath.

    Targets are flown in a short tour from home, each at the lowest height in the sprayer's
    range above its top that the fences allow (``missions.spray``), with DO_SPRAYER on over the
    target and off in turns and transits, and off within ``no_spray_margin_m`` (default half the
    swath) of a no-spray zone. Sorties are bounded by the battery and by the tank: each returns
    home to refill. ``profile.alt_m`` is the transit altitude and ``profile.speed_mps`` the
    spraying speed the sprayer's flow is given for.
    """
    if not targets:
        raise ValueError("targets is empty")
    if no_spray_margin_m is not None and (not math.isfinite(no_spray_margin_m) or no_spray_margin_m < 0):
        raise ValueError(f"no_spray_margin_m must be finite and >= 0, got {no_spray_margin_m!r}")
    _unique_codes("targets", [t.code for t in targets])
    s = _make_setting(
        shapely.union_all([t.area for t in targets]), home, profile, fences, battery, landing, clearance_m
    )
    work = _spray_work(s, targets, sprayer, angle_deg, no_spray_margin_m)
    return _finish_plan("spray", home, s, work, grids=1)


def plan_inspection(
    sites: Sequence[InspectionSite],
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    standoff_m: float = 20.0,
    min_standoff_m: float = 5.0,
    photo_step_deg: float = 30.0,
    direction: Direction = "ccw",
) -> MissionPlan:
    """Key-site inspection: an orbit about each site, camera ROI on it, a photo every N degrees.

    Sites are visited in a short tour. An orbit's radius is the site's own ``radius_m`` or its
    reach plus ``standoff_m``; one that would cross an exclusion zone or leave the inclusion area
    shrinks down to reach plus ``min_standoff_m``, then moves its centre (``missions.inspect``),
    and is otherwise refused: the plan then carries a violation naming the site and the zone.
    """
    if not sites:
        raise ValueError("sites is empty")
    for name, value in (("standoff_m", standoff_m), ("min_standoff_m", min_standoff_m)):
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if min_standoff_m > standoff_m:
        raise ValueError(f"min_standoff_m {min_standoff_m!r} must not exceed standoff_m {standoff_m!r}")
    if direction not in ("cw", "ccw"):
        raise ValueError(f"direction must be 'cw' or 'ccw', got {direction!r}")
    _unique_codes("sites", [x.code for x in sites])
    s = _make_setting(
        shapely.union_all([x.footprint for x in sites]), home, profile, fences, battery, landing, clearance_m
    )
    work = _inspection_work(s, sites, standoff_m, min_standoff_m, photo_step_deg, direction)
    return _finish_plan("inspect", home, s, work, grids=1)


def plan_checkpoints(
    points: Sequence[Checkpoint],
    *,
    home: LonLat,
    profile: FlightProfile = DEFAULT_PROFILE,
    fences: FenceSet = NO_FENCES,
    battery: Battery | None = None,
    landing: LonLat | None = None,
    clearance_m: float = DEFAULT_CLEARANCE_M,
    order: CheckpointOrder = "given",
    turnaround_s: float = DEFAULT_TURNAROUND_S,
) -> MissionPlan:
    """Checkpoint hover: NAV_LOITER_TIME over each point in turn, in the given or a short order.

    ``stats.arrivals`` gives each checkpoint's arrival time from the first take-off (a later
    sortie takes off ``turnaround_s`` after the previous one lands); an early arrival waits for
    its window, a late one is a violation (``missions.checkpoint``).
    """
    if not points:
        raise ValueError("points is empty")
    if order not in ("given", "optimised"):
        raise ValueError(f"order must be 'given' or 'optimised', got {order!r}")
    if not math.isfinite(turnaround_s) or turnaround_s < 0.0:
        raise ValueError(f"turnaround_s must be finite and >= 0, got {turnaround_s!r}")
    _unique_codes("points", [p.code for p in points])
    s = _make_setting(
        MultiPoint([(p.lon_deg, p.lat_deg) for p in points]),
        home,
        profile,
        fences,
        battery,
        landing,
        clearance_m,
    )
    work = _checkpoint_work(s, points, order, turnaround_s)
    return _finish_plan("checkpoint", home, s, work, grids=1)


def _make_setting(
    extent_wgs84: BaseGeometry,
    home: LonLat,
    profile: FlightProfile,
    fences: FenceSet,
    battery: Battery | None,
    landing: LonLat | None,
    clearance_m: float,
) -> _Setting:
    """The frame, prepared fences and transit router shared by one plan's sorties."""
    _check_lonlat("home", home)
    if landing is not None:
        _check_lonlat("landing", landing)
    if not math.isfinite(clearance_m) or clearance_m < 0.0:
        raise ValueError(f"clearance_m must be finite and >= 0, got {clearance_m!r}")
    frame = LocalFrame.for_geometry(extent_wgs84)
    prepared = PreparedFences(fences, frame)
    return _Setting(
        frame=frame,
        home_xy=frame.xy(*home),
        landing_xy=None if landing is None else frame.xy(*landing),
        profile=profile,
        battery=battery,
        fences=prepared,
        router=Router(_obstacles(prepared, profile.alt_m), prepared.inclusion, clearance_m=clearance_m),
        clearance_m=clearance_m,
    )


def _unique_codes(name: str, codes: Sequence[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"{name}: code {code!r} appears twice")
        seen.add(code)


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
    waypoints: Sequence[XY],
    sweeps: Sequence[Sweep],
    blackout: BaseGeometry | None,
    code: str,
    payload: Payload = "camera",
    alt_m: float | None = None,
) -> tuple[list[_Unit], list[tuple[XY, XY]], float]:
    """One unit per sweep: its link is the path's turn from the previous sweep.

    ``waypoints`` holds every sweep's start and end in flight order, with turnaround and
    detour points between them; those between one sweep's end and the next one's start are
    the next sweep's link. Returns the units, the segments with the payload (camera or
    sprayer) on and the metres of sweep flown with it off (no-photo, no-spray).
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
        body, on, dark = _split_sweep(start, end, blackout, payload)
        lit.extend(on)
        dark_m += dark
        units.append(_Unit(body=body, link=tuple(link), link_speed="work", grid=code, alt_m=alt_m))
    return units, lit, dark_m


def _split_sweep(
    start: XY, end: XY, blackout: BaseGeometry | None, payload: Payload = "camera"
) -> tuple[tuple[_Waypoint, ...], list[tuple[XY, XY]], float]:
    """A sweep as waypoints with the payload switched off over ``blackout`` (photos that would
    show a no-photo zone, spray that would land in a no-spray zone)."""
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

    toggle = "camera_toggle" if payload == "camera" else "sprayer_toggle"

    def point(xy: XY, role: str, on: bool) -> _Waypoint:
        return _Waypoint(
            xy, role, camera_on=on and payload == "camera", sprayer_on=on and payload == "sprayer"
        )

    for n, (d, on) in enumerate(cuts):
        if points and abs(d - cuts[n - 1][0]) < 1e-6:
            points[-1] = point(points[-1].xy, points[-1].role, on)
            continue
        role = "sweep_start" if n == 0 else "sweep_end" if n == len(cuts) - 1 else toggle
        points.append(point(at(d), role, on))
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


def _spray_work(
    s: _Setting,
    targets: Sequence[SprayTarget],
    sprayer: Sprayer,
    angle_deg: float | None,
    no_spray_margin_m: float | None,
) -> _Work:
    margin_m = sprayer.swath_m / 2.0 if no_spray_margin_m is None else no_spray_margin_m
    no_spray = s.fences.of_kind(ZoneKind.NO_SPRAY)
    no_spray_union = shapely.union_all([lz.shape for lz in no_spray]) if no_spray else None
    blackout = (
        shapely.union_all([conservative_buffer(lz.shape, margin_m) for lz in no_spray]) if no_spray else None
    )
    local = [(t, _local_area(s.frame, t.code, t.area)) for t in targets]
    order = order_points([_representative(a) for _, a in local], start=s.home_xy, end=_end_xy(s))
    ordered = [local[i] for i in order]
    units: list[_Unit] = []
    covered: list[BaseGeometry] = []
    sprayable_parts: list[BaseGeometry] = []
    warnings: list[str] = []
    removed_m2 = 0.0
    dry_m = 0.0
    position = s.home_xy
    for n, (target, area) in enumerate(ordered):
        sprayable: BaseGeometry = area if no_spray_union is None else area.difference(no_spray_union)
        polys = [p for p in shapely.get_parts(sprayable) if isinstance(p, Polygon) and p.area > 0.0]
        lost_m2 = float(area.area) - sum(p.area for p in polys)
        if lost_m2 > 0.5:
            removed_m2 += lost_m2
            names = ", ".join(lz.zone.zone_id for lz in no_spray if lz.shape.intersects(area))
            warnings.append(
                f"target {target.code}: {lost_m2:.0f} m² inside no-spray zone(s) {names} left out"
            )
        if not polys:
            continue
        part: Area = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        alt_m = _spray_alt(s, part, target, sprayer, warnings)
        obstacles = _obstacles(s.fences, alt_m)
        nxt = _representative(ordered[n + 1][1]) if n + 1 < len(ordered) else _end_xy(s)
        path = plan_coverage_path(
            part,
            sprayer.swath_m,
            turnaround_m=s.profile.turnaround_m,
            obstacles=tuple(obstacles),
            clearance_m=s.clearance_m,
            start_xy=position,
            end_xy=nxt,
            angle_deg=angle_deg,
        )
        target_units, wet, dry = _sweep_units(
            path.waypoints, path.sweeps, blackout, target.code, payload="sprayer", alt_m=alt_m
        )
        if not target_units:
            continue
        target_units[0] = _relink(s, target_units[0], position)
        units.extend(target_units)
        position = target_units[-1].body[-1].xy
        dry_m += dry
        sprayable_parts.append(part)
        if wet:
            strips = shapely.buffer(shapely.linestrings(wet), sprayer.swath_m / 2.0, cap_style="flat")
            covered.append(shapely.union_all(strips).intersection(part))
    if not units:
        raise ValueError("nothing to spray: every target lies inside no-spray zones")
    if dry_m > 0.0:
        names = ", ".join(lz.zone.zone_id for lz in no_spray)
        warnings.append(f"sprayer off for {dry_m:.0f} m of sweeps near no-spray zone(s) {names}")
    litres_per_m = sprayer.litres_per_m(s.profile.speed_mps)
    litres = sum(_litres(u, litres_per_m) for u in units)
    sprayed = shapely.union_all(covered) if covered else Polygon()
    area_m2 = float(shapely.union_all(sprayable_parts).area) if sprayable_parts else 0.0
    extra = {
        "litres": litres,
        "sprayed_area_m2": float(sprayed.area),
        "litres_per_ha": litres_per_m / sprayer.swath_m * 10_000.0,
        "swath_m": sprayer.swath_m,
        "no_spray_removed_m2": removed_m2,
        "targets": float(len(targets)),
    }
    return _Work(
        units=tuple(units),
        covered_local=sprayed,
        area_m2=area_m2,
        extra=extra,
        warnings=tuple(warnings),
        tank_l=sprayer.usable_l,
        litres_per_m=litres_per_m,
    )


def _spray_alt(s: _Setting, area: Area, target: SprayTarget, sprayer: Sprayer, warnings: list[str]) -> float:
    """The target's spray altitude within the bands of the zones over it (``spray_alt_m``).

    Exclusion zones without a band are left to the coverage path, which goes round them.
    """
    allowed = [(-math.inf, s.fences.ceiling_m)]
    allowed += [_zone_band(lz) for lz in s.fences.of_kind(ZoneKind.INCLUSION) if lz.shape.intersects(area)]
    forbidden = [
        _zone_band(lz)
        for lz in s.fences.exclusions
        if lz.shape.intersects(area) and (lz.zone.min_alt_m is not None or lz.zone.max_alt_m is not None)
    ]
    alt_m, fits = spray_alt_m(target.height_m, sprayer, allowed=allowed, forbidden=forbidden)
    if not fits:
        warnings.append(
            f"target {target.code}: no height in {sprayer.min_height_m:g}-{sprayer.max_height_m:g} m above "
            f"it suits the fence bands; planned at {alt_m:g} m (see the violations)"
        )
    return alt_m


def _zone_band(lz: LocalZone) -> tuple[float, float]:
    lo = -math.inf if lz.zone.min_alt_m is None else lz.zone.min_alt_m
    hi = math.inf if lz.zone.max_alt_m is None else lz.zone.max_alt_m
    return lo, hi


def _litres(unit: _Unit, litres_per_m: float) -> float:
    """Liquid a unit's body sprays: its sprayer-on length times the litres per metre."""
    body = unit.body
    wet_m = sum(math.dist(a.xy, b.xy) for a, b in pairwise(body) if a.sprayer_on)
    return wet_m * litres_per_m


def _inspection_work(
    s: _Setting,
    sites: Sequence[InspectionSite],
    standoff_m: float,
    min_standoff_m: float,
    photo_step_deg: float,
    direction: Direction,
) -> _Work:
    layout = photo_layout(photo_step_deg)
    # place_orbit calls the inclusion boundary "": name the inclusion zones instead.
    inclusion_ids = [lz.zone.zone_id for lz in s.fences.of_kind(ZoneKind.INCLUSION)]
    edge = f"the edge of inclusion zone(s) {', '.join(dict.fromkeys(inclusion_ids))}"
    local = [(site, s.frame.to_local(site.footprint)) for site in sites]
    rois = [roi_xy(fp) for _, fp in local]
    order = order_points(rois, start=s.home_xy, end=_end_xy(s))
    units: list[_Unit] = []
    warnings: list[str] = []
    violations: list[Violation] = []
    position = s.home_xy
    for i in order:
        site, footprint = local[i]
        roi = rois[i]
        alt_m = s.profile.alt_m if site.alt_m is None else site.alt_m
        requested_m = reach_m(footprint, roi) + standoff_m if site.radius_m is None else site.radius_m
        blockers = [
            (lz.zone.zone_id, conservative_buffer(lz.shape, s.clearance_m))
            for lz in s.fences.exclusions
            if _zone_band(lz)[0] <= alt_m <= _zone_band(lz)[1]
        ]
        try:
            choice = place_orbit(
                footprint,
                roi,
                requested_m,
                min_standoff_m=min_standoff_m,
                vertices=layout.vertices,
                blockers=blockers,
                inclusion=s.fences.inclusion,
            )
        except ValueError as exc:
            raise ValueError(f"key site {site.code!r}: {exc}") from None
        zones = ", ".join(z or edge for z in choice.blocked_by)
        orbit = choice.orbit
        if orbit is None:
            violations.append(
                Violation(
                    sortie=-1,
                    leg=-1,
                    zone_id=choice.blocked_by[0] or inclusion_ids[0],
                    kind="orbit_blocked",
                    distance_m=0.0,
                    message=f"key site {site.code}: its {requested_m:.0f} m orbit at {alt_m:g} m crosses {zones}, "
                    f"and no smaller orbit (down to {min_standoff_m:g} m off the site) or moved centre clears it",
                )
            )
            continue
        if choice.blocked_by:
            moved = f", centre moved {orbit.offset_m:.0f} m" if orbit.offset_m > 0.0 else ""
            warnings.append(
                f"key site {site.code}: orbit {requested_m:.0f} m -> {orbit.radius_m:.0f} m{moved} to keep clear of {zones}"
            )
        points = orbit_points(orbit, position, layout.vertices, direction)
        aim = (roi[0], roi[1], site.height_m / 2.0)
        last = len(points) - 1
        body = tuple(
            _Waypoint(
                xy,
                "orbit_start" if k == 0 else "orbit_end" if k == last else "orbit",
                photo=k > 0 and k % layout.vertices_per_photo == 0,
                roi=aim if k < last else None,
            )
            for k, xy in enumerate(points)
        )
        units.append(_Unit(body=body, link=_route(s, position, points[0]), grid=site.code, alt_m=alt_m))
        position = points[-1]
    extra = {
        "sites": float(len(sites)),
        "orbits": float(len(units)),
        "photos_per_orbit": float(layout.photos),
        "photo_step_deg": layout.step_deg,
    }
    return _Work(
        units=tuple(units),
        covered_local=Polygon(),
        area_m2=0.0,
        extra=extra,
        warnings=tuple(warnings),
        violations=tuple(violations),
    )


def _checkpoint_work(
    s: _Setting, points: Sequence[Checkpoint], order: CheckpointOrder, turnaround_s: float
) -> _Work:
    xy = [s.frame.xy(p.lon_deg, p.lat_deg) for p in points]
    visit = range(len(points)) if order == "given" else order_points(xy, start=s.home_xy, end=_end_xy(s))
    units: list[_Unit] = []
    position = s.home_xy
    for i in visit:
        cp = points[i]
        wp = _Waypoint(xy[i], "checkpoint", hover_s=cp.hover_s, checkpoint=cp)
        units.append(_Unit(body=(wp,), link=_route(s, position, xy[i]), grid=cp.code, alt_m=cp.alt_m))
        position = xy[i]
    extra = {"checkpoints": float(len(points)), "hover_s_total": sum(p.hover_s for p in points)}
    return _Work(
        units=tuple(units), covered_local=Polygon(), area_m2=0.0, extra=extra, turnaround_s=turnaround_s
    )


# --------------------------------------------------------------------------------------------
# Shared pipeline


def _finish_plan(kind: str, home: LonLat, s: _Setting, work: _Work, *, grids: int) -> MissionPlan:
    violations: list[Violation] = list(work.violations)
    if not work.units and violations:  # every piece of work was refused: say why, fly nothing
        units: list[_Unit] = []
        ranges: list[tuple[int, int]] = []
    else:
        units, ranges = _split(s, work)
    sorties: list[Sortie] = []
    arrivals: list[Arrival] = []
    photos = 0
    turns = 0
    clock_s = 0.0
    for n, (i, j) in enumerate(ranges):
        last = n == len(ranges) - 1
        draft = _assemble(s, units, i, j, last=last)
        est = _estimate(s, draft)
        if any(c is not None for c in draft.checkpoints):
            draft, est = _schedule(s, n, draft, est, clock_s, arrivals, violations)
        clock_s += est.duration_s + work.turnaround_s
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
        litres = sum(_litres(units[k], work.litres_per_m) for k in range(i, j + 1))
        if work.tank_l is not None and litres > work.tank_l + _LITRES_TOLERANCE:
            violations.append(
                Violation(
                    sortie=n,
                    leg=0,
                    zone_id="",
                    kind="tank",
                    distance_m=0.0,
                    message=f"sortie {n} sprays {litres:.2f} L but the tank holds {work.tank_l:.2f} L usable",
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
        hover_points=sum(1 for u in units for w in u.body if w.hover_s > 0.0),
        extra={**work.extra, "grids": float(grids)} if grids > 1 else dict(work.extra),
        arrivals=tuple(arrivals),
    )
    warnings = list(work.warnings)
    if len(sorties) > 1:
        budget = "the battery" if work.tank_l is None else "the battery and the tank"
        warnings.append(f"split into {len(sorties)} sorties to keep each within {budget}")
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


def _schedule(
    s: _Setting,
    sortie: int,
    draft: _Draft,
    est: RouteEstimate,
    start_s: float,
    arrivals: list[Arrival],
    violations: list[Violation],
) -> tuple[_Draft, RouteEstimate]:
    """Arrival times at the sortie's checkpoints, waits for windows not yet open, late arrivals.

    A wait lengthens the checkpoint's hover, so the sortie is estimated again with it.
    """
    windows = [None if c is None else c.earliest_s for c in draft.checkpoints]
    times, waits = timetable(start_s, [leg.moving_s for leg in est.legs], draft.hover_s, windows)
    if any(waits):
        draft = replace(draft, hover_s=tuple(h + w for h, w in zip(draft.hover_s, waits, strict=True)))
        est = _estimate(s, draft)
    for p, cp in enumerate(draft.checkpoints):
        if cp is None:
            continue
        arrivals.append(Arrival(cp.code, sortie, times[p], waits[p], cp.earliest_s, cp.latest_s))
        starts_s = times[p] + waits[p]
        if cp.latest_s is not None and starts_s > cp.latest_s:
            violations.append(
                Violation(
                    sortie=sortie,
                    leg=p - 1,
                    zone_id="",
                    kind="time_window",
                    distance_m=0.0,
                    message=f"checkpoint {cp.code} is reached at {starts_s:.0f} s, "
                    f"{starts_s - cp.latest_s:.0f} s after its window closes at {cp.latest_s:g} s",
                )
            )
    return draft, est


def _end_xy(s: _Setting) -> XY:
    return s.landing_xy if s.landing_xy is not None else s.home_xy


class _Route3D:
    """A route being assembled: 3D points with their roles, leg speeds, hovers and payload flags.

    Flags describe the leg leaving a point (see ``missions.compile``); ``speeds[k]`` is leg k's
    speed, the last entry a placeholder until the next point arrives. ``owner`` and ``is_link``
    tag each point with the unit it belongs to, for the energy split. A horizontal move between
    two altitudes is flown at the higher one (climb before leaving a low point, descend once
    above a low one), so the drone is never below either end while it crosses the district.
    """

    __slots__ = (
        "camera",
        "checkpoints",
        "hover",
        "is_link",
        "owner",
        "photo",
        "points",
        "roi",
        "roles",
        "speaker",
        "speeds",
        "sprayer",
        "transit_mps",
    )

    def __init__(self, transit_mps: float) -> None:
        self.transit_mps = transit_mps
        self.points: list[XYZ] = []
        self.roles: list[str] = []
        self.speeds: list[float] = []
        self.hover: list[float] = []
        self.camera: list[bool] = []
        self.speaker: list[bool] = []
        self.sprayer: list[bool] = []
        self.photo: list[bool] = []
        self.roi: list[XYZ | None] = []
        self.checkpoints: list[Checkpoint | None] = []
        self.owner: list[int] = []
        self.is_link: list[bool] = []

    @property
    def xy(self) -> XY:
        return self.points[-1][0], self.points[-1][1]

    @property
    def alt_m(self) -> float:
        return self.points[-1][2]

    def add(
        self,
        xy: XY,
        alt_m: float,
        role: str,
        leg_mps: float,
        w: _Waypoint | None = None,
        *,
        camera: bool = False,
        owner: int = -1,
        is_link: bool = True,
    ) -> None:
        """Fly to ``xy`` at ``alt_m`` at ``leg_mps``; ``camera`` is for a corner without a waypoint."""
        if self.points:
            x, y, z = self.points[-1]
            same_spot = _close(xy, (x, y)) and abs(alt_m - z) <= 1e-9
            if same_spot and w is not None and self.roles[-1] == "spray_pause":
                # A sweep cut where the tank ran dry, resumed in the same sortie: fly straight on.
                self._set(len(self.points) - 1, role, w, camera, owner, is_link)
                return
            if not _close(xy, (x, y)) and alt_m != z:
                # The move is split in two at the higher altitude; both halves keep its flags.
                mid = _Waypoint(
                    (x, y) if alt_m > z else xy,
                    "climb" if alt_m > z else "descend",
                    camera_on=self.camera[-1],
                    sprayer_on=self.sprayer[-1],
                    roi=self.roi[-1],
                )
                self._append((*mid.xy, max(alt_m, z)), mid.role, leg_mps, mid, False, owner, True)
        point = w if w is not None else _Waypoint(xy, role)
        self._append((*xy, alt_m), role, leg_mps, point, camera, owner, is_link)

    def _append(
        self, p: XYZ, role: str, leg_mps: float, w: _Waypoint, camera: bool, owner: int, is_link: bool
    ) -> None:
        if self.speeds:
            self.speeds[-1] = leg_mps
        self.points.append(p)
        self.speeds.append(self.transit_mps)
        self.roles.append(role)
        self.hover.append(w.hover_s)
        self.camera.append(w.camera_on or camera)
        self.speaker.append(w.speaker_on)
        self.sprayer.append(w.sprayer_on)
        self.photo.append(w.photo)
        self.roi.append(w.roi)
        self.checkpoints.append(w.checkpoint)
        self.owner.append(owner)
        self.is_link.append(is_link)

    def _set(self, k: int, role: str, w: _Waypoint, camera: bool, owner: int, is_link: bool) -> None:
        self.roles[k] = role
        self.hover[k] = w.hover_s
        self.camera[k] = w.camera_on or camera
        self.speaker[k] = w.speaker_on
        self.sprayer[k] = w.sprayer_on
        self.photo[k] = w.photo
        self.roi[k] = w.roi
        self.checkpoints[k] = w.checkpoint
        self.owner[k] = owner
        self.is_link[k] = is_link

    def payload_off(self) -> None:
        """Never photograph, spray or aim the camera on the way home."""
        self.camera[-1] = self.sprayer[-1] = False
        self.roi[-1] = None

    def draft(self) -> _Draft:
        return _Draft(
            points=tuple(self.points),
            roles=tuple(self.roles),
            speeds_mps=tuple(self.speeds[:-1]),
            hover_s=tuple(self.hover),
            camera_on=tuple(self.camera),
            speaker_on=tuple(self.speaker),
            sprayer_on=tuple(self.sprayer),
            photo=tuple(self.photo),
            roi=tuple(self.roi),
            checkpoints=tuple(self.checkpoints),
        )


def _unit_alt(s: _Setting, u: _Unit) -> float:
    return s.profile.alt_m if u.alt_m is None else u.alt_m


def _assemble(s: _Setting, units: Sequence[_Unit], i: int, j: int, *, last: bool) -> _Draft:
    """Sortie i..j (inclusive): take off at home, fly the units, return and land."""
    alt = s.profile.alt_m
    transit = s.profile.transit_speed_mps
    end_xy = _end_xy(s) if last else s.home_xy
    end_role = "land" if (last and s.landing_xy is not None) or s.profile.end_action == "land" else "rtl"
    r = _Route3D(transit)
    r.add(s.home_xy, 0.0, "home", transit)
    r.add(s.home_xy, alt, "takeoff", transit)
    for c in _route(s, s.home_xy, units[i].body[0].xy):
        r.add(c, alt, "transit", transit)
    _fly_units(s, r, units, i, j)
    r.payload_off()
    if r.alt_m < alt:
        r.add(r.xy, alt, "climb", transit)
    for c in _route(s, r.xy, end_xy):
        r.add(c, alt, "transit", transit)
    r.add(end_xy, alt, "return", transit)
    r.add(end_xy, 0.0, end_role, transit)
    return r.draft()


def _fly_units(s: _Setting, r: _Route3D, units: Sequence[_Unit], i: int, j: int) -> None:
    """Units i..j onto the route: each reached by its link (the first one directly)."""
    transit_alt = s.profile.alt_m
    transit = s.profile.transit_speed_mps
    for k in range(i, j + 1):
        u = units[k]
        alt = _unit_alt(s, u)
        first = u.body[0]
        if k == i:
            r.add(first.xy, alt, first.role, transit, first, owner=k)
        elif u.link_speed == "transit":
            if r.alt_m < transit_alt:
                r.add(r.xy, transit_alt, "climb", transit, owner=k)
            for c in u.link:
                r.add(c, transit_alt, "transit", transit, owner=k)
            r.add(first.xy, alt, first.role, transit, first, owner=k)
        else:
            # A working link (a coverage turn, a perimeter edge bent round a zone) stays at the
            # unit's altitude and keeps the camera as it was.
            keep = r.camera[-1]
            for c in u.link:
                r.add(c, alt, "turn", s.profile.speed_mps, camera=keep, owner=k)
            r.add(first.xy, alt, first.role, s.profile.speed_mps, first, owner=k)
        for w in u.body[1:]:
            r.add(w.xy, alt, w.role, s.profile.speed_mps, w, owner=k, is_link=False)


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
    return replace(unit, link=_route(s, position, unit.body[0].xy), link_speed="transit")


def _estimate(s: _Setting, d: _Draft) -> RouteEstimate:
    return estimate_route(
        d.points,
        s.profile,
        s.battery or DEFAULT_BATTERY,
        leg_speeds_mps=d.speeds_mps,
        hover_s=d.hover_s,
    )


def _split(s: _Setting, work: _Work) -> tuple[list[_Unit], list[tuple[int, int]]]:
    """Unit ranges per sortie, each within the battery's usable energy where possible and within
    the tank: a unit that would overfill the tank is cut where it runs dry (``_cut``), so the
    units come back with the ranges."""
    units = list(work.units)
    if not units:
        raise ValueError("nothing to fly: the grid produced no work (too small for the margin or swath?)")
    tank = work.tank_l
    if s.battery is None and tank is None:
        return units, [(0, len(units) - 1)]
    usable = math.inf if s.battery is None else s.battery.usable_wh
    body_wh, link_wh, back_wh = _unit_energies(s, units)
    litres = [_litres(u, work.litres_per_m) for u in units]

    def cut(k: int, litres_a: float) -> None:
        a, b = _cut(units[k], litres_a, work.litres_per_m)
        share = _body_length(a) / max(_body_length(units[k]), 1e-12)
        units[k : k + 1] = [a, b]
        body_wh[k : k + 1] = [body_wh[k] * share, body_wh[k] * (1.0 - share)]
        link_wh[k : k + 1] = [link_wh[k], 0.0]
        back_wh[k : k + 1] = [_back_energy(s, a), back_wh[k]]
        litres[k : k + 1] = [_litres(a, work.litres_per_m), _litres(b, work.litres_per_m)]

    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        if tank is not None and litres[i] > tank + _LITRES_TOLERANCE:
            cut(i, tank)
        out_wh = _leg_energy(
            s, [(*s.home_xy, 0.0), (*s.home_xy, s.profile.alt_m), _at_alt(s, units[i], units[i].body[0].xy)]
        )
        total = out_wh + body_wh[i]
        left = math.inf if tank is None else tank - litres[i]
        j = i
        while j + 1 < len(units) and total + link_wh[j + 1] + body_wh[j + 1] + back_wh[j + 1] <= usable:
            if litres[j + 1] > left + _LITRES_TOLERANCE:
                if left > _LITRES_TOLERANCE:
                    cut(j + 1, left)
                    if total + link_wh[j + 1] + body_wh[j + 1] + back_wh[j + 1] <= usable:
                        j += 1
                break
            j += 1
            total += link_wh[j] + body_wh[j]
            left -= litres[j]
        while j > i and s.battery is not None:
            draft = _assemble(s, units, i, j, last=j == len(units) - 1)
            if _estimate(s, draft).energy_wh <= usable:
                break
            j -= 1
        ranges.append((i, j))
        i = j + 1
    return units, ranges


def _body_length(u: _Unit) -> float:
    return sum(math.dist(a.xy, b.xy) for a, b in pairwise(u.body))


def _cut(u: _Unit, litres_a: float, litres_per_m: float) -> tuple[_Unit, _Unit]:
    """A spray unit cut where ``litres_a`` have been sprayed: the first part ends there with the
    sprayer off, the second resumes there with it on (and flies on at once when both parts end
    up in one sortie). ``0 < litres_a <`` the unit's litres."""
    body = u.body
    wet_m = litres_a / litres_per_m
    for m, (a, b) in enumerate(pairwise(body)):
        seg_m = math.dist(a.xy, b.xy)
        if not a.sprayer_on or seg_m <= 0.0:
            continue
        if wet_m <= seg_m:
            t = wet_m / seg_m
            xy = (a.xy[0] + (b.xy[0] - a.xy[0]) * t, a.xy[1] + (b.xy[1] - a.xy[1]) * t)
            pause = _Waypoint(xy, "spray_pause")
            resume = _Waypoint(xy, "spray_resume", sprayer_on=True)
            first = replace(u, body=(*body[: m + 1], pause))
            second = replace(u, body=(resume, *body[m + 1 :]), link=(), link_speed="work")
            return first, second
        wet_m -= seg_m
    raise ValueError("cannot cut a unit beyond the litres it sprays")


def _at_alt(s: _Setting, u: _Unit, xy: XY) -> XYZ:
    return (xy[0], xy[1], _unit_alt(s, u))


def _leg_energy(s: _Setting, pts: Sequence[XYZ]) -> float:
    """Energy to fly ``pts`` at transit speed, moves between altitudes at the higher one."""
    battery = s.battery or DEFAULT_BATTERY
    r = _Route3D(s.profile.transit_speed_mps)
    for x, y, z in pts:
        r.add((x, y), z, "transit", s.profile.transit_speed_mps)
    d = r.draft()
    return estimate_route(d.points, s.profile, battery, leg_speeds_mps=d.speeds_mps).energy_wh


def _back_energy(s: _Setting, u: _Unit) -> float:
    """A straight return from the unit's end to the landing spot (a lower bound; see _split)."""
    end = _end_xy(s)
    alt = s.profile.alt_m
    last = _at_alt(s, u, u.body[-1].xy)
    climb = [(last[0], last[1], alt)] if last[2] < alt else []
    return _leg_energy(s, [last, *climb, (*end, alt), (end[0], end[1], 0.0)])


def _unit_energies(s: _Setting, units: Sequence[_Unit]) -> tuple[list[float], list[float], list[float]]:
    """Per unit: energy of its body (with hovers), of its link, and of a straight return home.

    One estimate over the whole chain of units gives body and link figures with realistic
    corner speeds; the straight return is a lower bound that the exact check corrects.
    """
    battery = s.battery or DEFAULT_BATTERY
    r = _Route3D(s.profile.transit_speed_mps)
    _fly_units(s, r, units, 0, len(units) - 1)
    d = r.draft()
    est = estimate_route(d.points, s.profile, battery, leg_speeds_mps=d.speeds_mps, hover_s=d.hover_s)
    body = [0.0] * len(units)
    link = [0.0] * len(units)
    for leg in est.legs:
        q = leg.index + 1
        moving_wh = leg.energy_wh - battery.hover_power_w * leg.hover_s / _S_PER_H
        if r.is_link[q]:
            link[r.owner[q]] += moving_wh
        else:
            body[r.owner[q]] += moving_wh
    for k, u in enumerate(units):
        body[k] += battery.hover_power_w * sum(w.hover_s for w in u.body) / _S_PER_H
    return body, link, [_back_energy(s, u) for u in units]


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
            sprayer_on=d.sprayer_on[k],
            photo=d.photo[k],
            roi=_roi_wgs84(frame, d.roi[k]),
        )
        for k in range(len(d.points))
    )


def _roi_wgs84(frame: LocalFrame, roi: XYZ | None) -> tuple[float, float, float] | None:
    if roi is None:
        return None
    lon, lat = frame.lonlat(roi[0], roi[1])
    return lon, lat, roi[2]


def _photos(d: _Draft, trigger_m: float | None) -> int:
    """Single photos (orbits), plus per camera-on run one at its start and one every trigger distance."""
    total = sum(d.photo)
    if trigger_m is None:
        return total
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
