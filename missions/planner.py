"""The planners the API and CLI call: grid geometry and a profile in, a checked ``MissionPlan`` out.

Every planner runs the same pipeline, so that fence checks, battery splits and compilation are
done one way for every kind of mission:

1. Project the grid, home and fences into the grid's ``LocalFrame`` (metres): the plan's
   ``Setting`` (``missions.units``).
2. Turn the work into *units*, the pieces a sortie must contain whole: one sweep of a survey,
   one hover point of a broadcast, one edge of a perimeter patrol (``missions.grid_work``;
   the field kinds in ``missions.field_work``). Each unit has a *link*, the path from the
   previous unit's end (a coverage turn, or a transit routed around exclusion zones); a sortie
   that starts with the unit replaces the link by a transit from home.
3. Split the units into sorties so each fits in the battery's usable energy (capacity less
   reserve). Sortie energies are first estimated from one pass over the whole chain and then
   checked exactly on the assembled sortie, backing off a unit at a time if needed
   (``missions.sorties``).
4. Assemble each sortie's 3D route (vertical take-off at home, transit, work, transit back,
   descent; ``missions.assemble``), estimate it (``missions.energy``), check it against the
   fences (``check_route``) and compile it to mission items (``missions.compile``); the shared
   driver of this step is ``missions.pipeline.finish_plan``.

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

This module holds the entry points and the checks of their parameters; ``__all__`` lists the
names it exports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences
from geofences.frame import LocalFrame
from geofences.model import FenceSet
from geofences.routing import Router
from missions.camera import Camera
from missions.checkpoint import Checkpoint
from missions.field_work import CheckpointOrder, checkpoint_work, inspection_work, spray_work
from missions.grid_work import broadcast_work, coverage_work, perimeter_work
from missions.inspect import InspectionSite
from missions.perimeter import Direction
from missions.pipeline import TURN_THRESHOLD_DEG, finish_plan
from missions.plan import MissionPlan
from missions.profile import Battery, FlightProfile, Speaker, Sprayer
from missions.spray import SprayTarget
from missions.tour import order_points
from missions.units import (
    DEFAULT_TURNAROUND_S,
    Area,
    LonLat,
    Setting,
    final_xy,
    local_area,
    obstacles_at,
    representative,
)

__all__ = [
    "DEFAULT_CLEARANCE_M",
    "DEFAULT_PROFILE",
    "DEFAULT_SPEAKER",
    "DEFAULT_TURNAROUND_S",
    "NO_FENCES",
    "TURN_THRESHOLD_DEG",
    "Area",
    "CheckpointOrder",
    "Kind",
    "LonLat",
    "plan_broadcast",
    "plan_checkpoints",
    "plan_coverage",
    "plan_inspection",
    "plan_multi_grid",
    "plan_perimeter",
    "plan_spray",
]

Kind = Literal["coverage", "perimeter", "broadcast"]

DEFAULT_CLEARANCE_M = 5.0
"""Horizontal distance kept from exclusion zones unless the caller says otherwise."""

DEFAULT_PROFILE = FlightProfile()
DEFAULT_SPEAKER = Speaker()
NO_FENCES = FenceSet()


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
    avoid_holes: bool = False,
) -> MissionPlan:
    """A lawnmower survey of the grid, camera off over no-photo zones.

    Give ``camera`` (the swath and trigger distance follow from the overlaps and altitude) or
    ``swath_m`` (lane spacing only: no trigger commands are compiled). The camera is off while
    the drone is within ``no_photo_margin_m`` of a no-photo zone; by default that is half the
    photo footprint's diagonal, so that no photo shows any of the zone (0: off only overhead).
    Holes of the grid may be crossed with the camera off unless ``avoid_holes`` is set.
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
        avoid_holes=avoid_holes,
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
    avoid_holes: bool = False,
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
    _unique_codes("grids", [code for code, _ in grids])  # a grid given twice would be flown twice
    for code, geom in grids:
        if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty or not geom.is_valid:
            raise ValueError(f"grid {code!r}: need a valid, non-empty (Multi)Polygon in WGS-84")
    setting = _make_setting(
        shapely.union_all([g for _, g in grids]), home, profile, fences, battery, landing, clearance_m
    )
    frame = setting.frame
    obstacles = obstacles_at(setting.fences, profile.alt_m)
    areas = [(code, local_area(frame, code, geom)) for code, geom in grids]
    order = order_points([representative(a) for _, a in areas], start=setting.home_xy, end=final_xy(setting))
    ordered = [areas[i] for i in order]
    if kind == "coverage":
        work = coverage_work(
            setting,
            ordered,
            obstacles,
            swath_m,
            camera,
            side_overlap_pct,
            front_overlap_pct,
            angle_deg,
            no_photo_margin_m,
            avoid_holes,
        )
    elif kind == "perimeter":
        work = perimeter_work(setting, ordered, obstacles, margin_m, direction, camera, front_overlap_pct)
    else:
        work = broadcast_work(setting, ordered, obstacles, speaker, message_s, repeats)
    return finish_plan(kind, home, setting, work, grids=len(grids))


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
    work = spray_work(s, targets, sprayer, angle_deg, no_spray_margin_m)
    return finish_plan("spray", home, s, work, grids=1)


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
    work = inspection_work(s, sites, standoff_m, min_standoff_m, photo_step_deg, direction)
    return finish_plan("inspect", home, s, work, grids=1)


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
    work = checkpoint_work(s, points, order, turnaround_s)
    return finish_plan("checkpoint", home, s, work, grids=1)


def _make_setting(
    extent_wgs84: BaseGeometry,
    home: LonLat,
    profile: FlightProfile,
    fences: FenceSet,
    battery: Battery | None,
    landing: LonLat | None,
    clearance_m: float,
) -> Setting:
    """The frame, prepared fences and transit router shared by one plan's sorties."""
    _check_lonlat("home", home)
    if landing is not None:
        _check_lonlat("landing", landing)
    if not math.isfinite(clearance_m) or clearance_m < 0.0:
        raise ValueError(f"clearance_m must be finite and >= 0, got {clearance_m!r}")
    frame = LocalFrame.for_geometry(extent_wgs84)
    prepared = PreparedFences(fences, frame)
    return Setting(
        frame=frame,
        home_xy=frame.xy(*home),
        landing_xy=None if landing is None else frame.xy(*landing),
        profile=profile,
        battery=battery,
        fences=prepared,
        router=Router(obstacles_at(prepared, profile.alt_m), prepared.inclusion, clearance_m=clearance_m),
        clearance_m=clearance_m,
    )


def _unique_codes(name: str, codes: Sequence[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"{name}: code {code!r} appears twice")
        seen.add(code)


def _check_lonlat(name: str, p: LonLat) -> None:
    lon, lat = p
    if not (math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"{name} must be (lon, lat) in degrees, got {p!r}")
