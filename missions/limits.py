"""Bounds on the work of one plan, estimated from its inputs before any planning is done.

A plan's cost follows from a few numbers that its inputs fix: the coverage lanes (a grid's width
over the swath), the hover points of a broadcast (the area over one speaker disc) or of a
checkpoint round, the vertices of the grids, zones and sites the geometry code walks, and the
mission items the route compiles to. A request for a 2 cm swath asks for tens of thousands of
lanes and gigabytes of memory; estimating these numbers first (milliseconds) lets a caller refuse
it before a worker spends minutes on it.

The estimates are deliberately low (a lane count for the narrowest direction, the hexagonal lower
bound of hover points, two items per lane), so a refused request is certainly over its limit;
the planned mission's sorties are checked exactly afterwards (``check_sorties``). ArduCopter's
mission storage is the hard ceiling for one sortie: about 700 items on a Pixhawk-class board
(16 KB of storage at 15 bytes per command, less the rally and fence areas). The simulator holds
the same number by default (``simulator.vehicle.VehicleConfig.mission_capacity``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geofences.frame import LocalFrame
from geofences.model import FenceSet
from missions.broadcast import audible_radius_m, lower_bound_points
from missions.camera import Camera, camera_footprint
from missions.checkpoint import Checkpoint
from missions.inspect import InspectionSite, photo_layout
from missions.plan import MissionPlan
from missions.profile import FlightProfile, Speaker, Sprayer
from missions.spray import SprayTarget

ARDUCOPTER_MAX_ITEMS = 700
"""Mission items one ArduCopter sortie can hold (Pixhawk-class storage); no limit may exceed it."""

ITEMS_PER_LANE = 2  # a lane's start and end waypoints (camera or sprayer toggles come on top)
ITEMS_PER_PLAN = 4  # home, take-off, speed, return or land
LANE_SHARE = 0.9  # end steps and clipped lane ends can save a lane or two of width / swath


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The most work one plan may ask for. The API and the CLI each choose their own."""

    max_lanes: int = 4000
    max_hover_points: int = 300
    max_vertices: int = 20_000
    max_items: int = 10_000
    max_items_per_sortie: int = ARDUCOPTER_MAX_ITEMS

    def __post_init__(self) -> None:
        for name in ("max_lanes", "max_hover_points", "max_vertices", "max_items", "max_items_per_sortie"):
            if getattr(self, name) < 1:
                raise ValueError(f"PlanLimits.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_items_per_sortie > ARDUCOPTER_MAX_ITEMS:
            raise ValueError(
                f"PlanLimits.max_items_per_sortie {self.max_items_per_sortie} exceeds what ArduCopter "
                f"holds ({ARDUCOPTER_MAX_ITEMS})"
            )


@dataclass(frozen=True, slots=True)
class WorkEstimate:
    """The work a plan's inputs ask for. ``driver`` is the planner keyword that sets most of it
    (``swath_m``, ``camera``, ``speaker``, ``targets``...), so a refusal can name what to change."""

    lanes: int
    hover_points: int
    vertices: int
    items: int
    driver: str


class PlanTooLarge(ValueError):
    """A plan over one of its limits: ``field`` is the planner keyword to change, ``limit`` the
    ``PlanLimits`` attribute, ``value`` its value and ``estimate`` what the inputs ask for."""

    def __init__(self, field: str, limit: str, value: int, estimate: int, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.limit = limit
        self.value = value
        self.estimate = estimate


def estimate_work(kind: str, grids: Sequence[BaseGeometry], options: Mapping[str, Any]) -> WorkEstimate:
    """The work of a plan of ``kind`` over ``grids`` (WGS-84) with the planner keywords ``options``.

    Raises ``ValueError`` for parameters the planners would refuse anyway (a speaker inaudible
    from the altitude, a camera whose footprint is empty), so the estimate needs no planning.
    """
    profile: FlightProfile = options.get("profile") or FlightProfile()
    fences: FenceSet = options.get("fences") or FenceSet()
    vertices = sum(_vertices(g) for g in grids) + sum(_zone_vertices(fences))
    if kind == "coverage":
        camera: Camera | None = options.get("camera")
        swath = _swath_m(options, profile) if camera is not None else float(options["swath_m"])
        lanes = _lanes(grids, swath, options.get("angle_deg"))
        driver = "camera" if camera is not None else "swath_m"
        return WorkEstimate(lanes, 0, vertices, ITEMS_PER_LANE * lanes + ITEMS_PER_PLAN, driver)
    if kind == "perimeter":
        ring = sum(_vertices(g) for g in grids)
        return WorkEstimate(0, 0, vertices, ring + ITEMS_PER_PLAN, "grid_codes")
    if kind == "broadcast":
        speaker: Speaker = options.get("speaker") or Speaker()
        radius_m = audible_radius_m(speaker, profile.alt_m)
        hover = math.ceil(lower_bound_points(_local_area_m2(grids), radius_m))
        return WorkEstimate(0, hover, vertices, hover + ITEMS_PER_PLAN, "speaker")
    if kind == "spray":
        targets: Sequence[SprayTarget] = options["targets"]
        sprayer: Sprayer = options["sprayer"]
        areas = [t.area for t in targets]
        lanes = _lanes(areas, sprayer.swath_m, options.get("angle_deg"))
        vertices += sum(_vertices(a) for a in areas)
        driver = "sprayer" if lanes > len(targets) else "targets"
        return WorkEstimate(lanes, 0, vertices, ITEMS_PER_LANE * lanes + ITEMS_PER_PLAN, driver)
    if kind == "inspect":
        sites: Sequence[InspectionSite] = options["sites"]
        layout = photo_layout(float(options.get("photo_step_deg", 30.0)))
        vertices += sum(_vertices(x.footprint) for x in sites)
        items = len(sites) * (layout.vertices + layout.photos) + ITEMS_PER_PLAN
        driver = "photo_step_deg" if layout.photos > 12 else "sites"
        return WorkEstimate(0, 0, vertices, items, driver)
    if kind == "checkpoint":
        points: Sequence[Checkpoint] = options["points"]
        n = len(points)
        return WorkEstimate(0, n, vertices + n, n + ITEMS_PER_PLAN, "points")
    raise ValueError(f"unknown plan kind {kind!r}")


def check_estimate(est: WorkEstimate, limits: PlanLimits, *, one_sortie: bool) -> None:
    """Refuse (``PlanTooLarge``) an estimate over any limit; ``one_sortie`` when no battery will
    split the route, so that all its items must fit in one ArduCopter mission."""
    checks = (
        ("max_lanes", est.lanes, "lanes", est.driver),
        ("max_hover_points", est.hover_points, "hover points", est.driver),
        ("max_vertices", est.vertices, "vertices in the grids, zones and sites", "grid_codes"),
        ("max_items", est.items, "mission items", est.driver),
    )
    for limit, estimate, what, field in checks:
        value = int(getattr(limits, limit))
        if estimate > value:
            raise PlanTooLarge(
                field,
                limit,
                value,
                estimate,
                f"{field}: the plan needs about {estimate} {what}; at most {value} are allowed per plan",
            )
    if one_sortie and est.items > limits.max_items_per_sortie:
        raise PlanTooLarge(
            est.driver,
            "max_items_per_sortie",
            limits.max_items_per_sortie,
            est.items,
            f"{est.driver}: the route needs about {est.items} mission items in one sortie; ArduCopter "
            f"holds at most {limits.max_items_per_sortie} (give a battery to split it into sorties)",
        )


def check_sorties(plan: MissionPlan, limits: PlanLimits, driver: str) -> None:
    """Refuse a planned mission with a sortie over the per-sortie item limit: it could not be
    uploaded (ArduCopter answers MAV_MISSION_NO_SPACE or drops the tail)."""
    for n, sortie in enumerate(plan.sorties):
        if len(sortie.items) > limits.max_items_per_sortie:
            raise PlanTooLarge(
                driver,
                "max_items_per_sortie",
                limits.max_items_per_sortie,
                len(sortie.items),
                f"{driver}: sortie {n} holds {len(sortie.items)} mission items; ArduCopter holds at most "
                f"{limits.max_items_per_sortie}",
            )


def _vertices(geom: BaseGeometry) -> int:
    return int(shapely.get_num_coordinates(geom))


def _zone_vertices(fences: FenceSet) -> list[int]:
    return [_vertices(z.polygon) if z.polygon is not None else 1 for z in fences.zones]


def _swath_m(options: Mapping[str, Any], profile: FlightProfile) -> float:
    fp = camera_footprint(
        options["camera"],
        profile.alt_m,
        float(options.get("side_overlap_pct", 70.0)),
        float(options.get("front_overlap_pct", 80.0)),
    )
    return float(fp.swath_m)


def _lanes(areas: Sequence[BaseGeometry], swath_m: float, angle_deg: float | None) -> int:
    """Lanes across each polygon at ``swath_m``: ``LANE_SHARE`` of its narrowest width (or its
    width across a forced sweep direction) over the swath, at most what the planner lays out."""
    if not math.isfinite(swath_m) or swath_m <= 0.0:
        raise ValueError(f"swath_m must be finite and > 0, got {swath_m!r}")
    total = 0
    for area in areas:  # each in its own frame: no union of possibly large inputs
        for part in shapely.get_parts(LocalFrame.for_geometry(area).to_local(area)):
            total += math.floor(LANE_SHARE * _width_m(part, angle_deg) / swath_m)
    return max(1, total)


def _width_m(poly: BaseGeometry, angle_deg: float | None) -> float:
    if angle_deg is not None:
        theta = math.radians(angle_deg)
        xy = shapely.get_coordinates(poly)
        across = -xy[:, 0] * math.sin(theta) + xy[:, 1] * math.cos(theta)
        return float(across.max() - across.min())
    rect = shapely.minimum_rotated_rectangle(poly)
    if not isinstance(rect, Polygon):  # a degenerate polygon: a line or a point
        return float(rect.length)
    c = shapely.get_coordinates(rect)
    return float(min(math.dist(c[0], c[1]), math.dist(c[1], c[2])))


def _local_area_m2(grids: Sequence[BaseGeometry]) -> float:
    union = shapely.union_all(list(grids))
    return float(LocalFrame.for_geometry(union).to_local(union).area)
