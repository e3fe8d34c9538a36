"""The values the planning pipeline passes between its steps, and the helpers they share.

Every planner (``missions.planner``) turns its work into ``Unit``s (``missions.grid_work``,
``missions.field_work``), splits them into sorties (``missions.sorties``), assembles each sortie
into a ``Draft`` route (``missions.assemble``) and checks and compiles it (``missions.pipeline``).
Those steps meet here: the units, the work and the drafts, all in the plan's local metres, the
``Setting`` one plan's sorties share (frame, fences, router), and the small helpers more than one
step needs (routing around exclusion zones, where the flight ends, the litres a unit sprays).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences
from geofences.frame import LocalFrame
from geofences.routing import Router
from missions.checkpoint import Checkpoint
from missions.plan import Violation
from missions.profile import Battery, FlightProfile

XY = tuple[float, float]
XYZ = tuple[float, float, float]
LonLat = tuple[float, float]
Area: TypeAlias = Polygon | MultiPolygon
LinkSpeed = Literal["work", "transit"]

DEFAULT_TURNAROUND_S = 300.0
"""Time on the ground between sorties (battery swap, refill) assumed for checkpoint arrival times."""

LITRES_TOLERANCE = 1e-6  # litres: rounding noise, not an overfilled tank


@dataclass(frozen=True, slots=True)
class Waypoint:
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
class Unit:
    """Work a sortie flies whole, and how it is reached from the previous unit.

    ``alt_m`` is the altitude of the body and of a working link (None: the profile's); a
    transit link always flies at the profile altitude.
    """

    body: tuple[Waypoint, ...]
    link: tuple[XY, ...] = ()  # corners between the previous unit's end and body[0]
    link_speed: LinkSpeed = "transit"
    grid: str = ""
    alt_m: float | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """What a kind-specific planner hands to the shared pipeline."""

    units: tuple[Unit, ...]
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
class Draft:
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
class Setting:
    """Everything shared by one plan's sorties."""

    frame: LocalFrame
    home_xy: XY
    landing_xy: XY | None
    profile: FlightProfile
    battery: Battery | None
    fences: PreparedFences
    router: Router
    clearance_m: float


def close_xy(a: XY, b: XY, tol_m: float = 1e-6) -> bool:
    """Whether two local points are the same spot (within ``tol_m`` on each axis)."""
    return abs(a[0] - b[0]) <= tol_m and abs(a[1] - b[1]) <= tol_m


def final_xy(s: Setting) -> XY:
    """Where the last sortie ends: the landing spot if one is given, else home."""
    return s.landing_xy if s.landing_xy is not None else s.home_xy


def unit_alt(s: Setting, u: Unit) -> float:
    """The altitude a unit works at: its own, else the profile's."""
    return s.profile.alt_m if u.alt_m is None else u.alt_m


def route_corners(s: Setting, a: XY, b: XY) -> tuple[XY, ...]:
    """The corners between a and b on the shortest path around exclusion zones (a, b excluded).

    With no path (an end inside a zone, outside the inclusion) the leg stays straight and the
    fence check reports it.
    """
    if close_xy(a, b):
        return ()
    path = s.router.path(a, b)
    if path is None:
        return ()
    return tuple(path[1:-1])


def relink(s: Setting, unit: Unit, position: XY) -> Unit:
    """The unit reached in transit from ``position`` (another grid, or home)."""
    return replace(unit, link=route_corners(s, position, unit.body[0].xy), link_speed="transit")


def obstacles_at(fences: PreparedFences, alt_m: float) -> list[Polygon]:
    """Exclusion zones the drone would hit at its working altitude (bands it overflies don't)."""
    out: list[Polygon] = []
    for lz in fences.exclusions:
        lo = -math.inf if lz.zone.min_alt_m is None else lz.zone.min_alt_m
        hi = math.inf if lz.zone.max_alt_m is None else lz.zone.max_alt_m
        if lo <= alt_m <= hi:
            out.append(lz.shape)
    return out


def unit_litres(unit: Unit, litres_per_m: float) -> float:
    """Liquid a unit's body sprays: its sprayer-on length times the litres per metre."""
    body = unit.body
    wet_m = sum(math.dist(a.xy, b.xy) for a, b in pairwise(body) if a.sprayer_on)
    return wet_m * litres_per_m


def local_area(frame: LocalFrame, code: str, geom: Area) -> Area:
    """A WGS-84 grid or target in local metres, made valid, as its polygons with area."""
    local = frame.to_local(geom)
    if not local.is_valid:
        local = shapely.make_valid(local)
    polys = [p for p in shapely.get_parts(local) if isinstance(p, Polygon) and p.area > 0.0]
    if not polys:
        raise ValueError(f"grid {code!r} has no area")
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def union_area(areas: Sequence[tuple[str, Area]]) -> Area:
    """The union of several local areas, as its polygons with area."""
    union = shapely.union_all([a for _, a in areas])
    polys = [p for p in shapely.get_parts(union) if isinstance(p, Polygon) and p.area > 0.0]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def representative(area: BaseGeometry) -> XY:
    """A point inside the area, standing for it when ordering a tour."""
    p = area.representative_point()
    return float(p.x), float(p.y)
