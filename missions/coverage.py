"""Coverage (lawnmower) paths for camera patrols over a grid, in local metres.

How a plan is made, and why:

1. **Flyable region.** Obstacles (grown by the clearance with a mitred buffer, which contains the
   true buffer) are cut out of the area. Obstacles are *forbidden*: no leg of the path may enter
   them. For the cell decomposition (steps 2-7) the holes of the area are forbidden too; the
   whole-grid sweep (step 8) may cross them with the camera off. Outside the area is not
   forbidden: sweeps run to where their swath still touches the area and turnarounds overshoot
   the edge, as every survey planner does (a drone turning just outside its grid is normal).
2. **Gap filling.** Notches of the outer boundary narrower than one swath are closed before
   decomposition: flying straight across a narrow notch is far shorter than splitting the area
   into extra cells (coverage is unaffected: the filled region contains the area).
3. **Boustrophedon decomposition.** For a sweep direction, the region is rotated so lanes run along
   +x and cut into y-monotone cells (each lane crosses a cell once) at the critical points where the
   cross-section changes connectivity. Cells are then grown greedily, a parent with one of its
   children (a U becomes two cells, not three), except across a junction where a hole or obstacle
   would cut the sweeps of the lanes straddling it: there the next cell lays out its own lanes.
4. **Lanes per cell.** ``ceil(height / swath)`` lanes a swath apart, the outer ones at most half a
   swath from the cell's edges; the slack is placed centred or at either end, whichever flies
   shortest. A lane's sweep spans the x-extent of (its swath strip ∩ cell): on a slanted edge the
   sweep runs on until the footprint no longer touches the area, so the end corners are covered.
   Sweeps and turnarounds stop 1 cm short of forbidden space; where that cuts a sweep short of a
   slanted hole or obstacle edge, a short *end step* (a sideways jog and an extra sweep parallel
   to the lane) covers the sliver the swath would otherwise miss. The step runs as near the lane
   as lets its sweep cover the whole sliver: where the obstacle's slanted edge would cut it short
   it runs farther out, and only the part it covers counts as covered. The smallest slivers, up
   to 0.25 % of the region's area in all, are left: their steps cost more than they cover.
5. **Order.** Each cell can be flown from four corners. Cell order and corners are chosen together:
   exactly (Held-Karp) for up to eight cells, nearest neighbour plus 2-opt and single-cell moves
   beyond, with legs costed by length plus the length they would spend inside forbidden space, and
   with the launch and landing points (``start_xy``, ``end_xy``) in the objective.
6. **Direction.** The twelve longest edge directions and a 3 degree grid are ranked with a
   vectorised estimate of the path length (sweeps, end extensions, turns, turnarounds, split
   lanes); the best are refined to 1 degree, the three best distinct directions are planned in
   full, and the shortest full plan wins. Each separate part of the area gets its own direction.
7. **Legs.** Transitions and cell-to-cell legs that would enter forbidden space are routed with
   ``geofences.routing`` (one ``Router`` per plan, the engine behind ``shortest_path``, built
   without corner simplification because sweep ends stop only 1 cm from obstacles) inside the
   convex hull of the area and the path grown by one swath, falling back to an unbounded search
   if the hull leaves no way round.
8. **Whole-grid sweep.** Unless ``avoid_holes`` is set, each part of the flyable region is also
   planned as one set of lanes across the whole part in one direction (``missions.coverage_whole``),
   crossing holes and concave gaps in transit with the camera off (each camera-on stretch is a
   sweep of its own). A part whose lanes would cross an obstacle at every angle tried keeps its
   cells. The plan flown is the shorter of this and the decomposition's, by the length of the
   complete path with the straight launch and landing legs; ties keep the decomposition.

Everything is deterministic: no randomness, and ties are broken by index order.

Module layout: this module holds the public API, input checks, the flyable region (steps 1-2)
and the coverage measurement; ``missions.coverage_cells`` the decomposition (3),
``missions.coverage_lanes`` the lanes and end steps of a cell (4), ``missions.coverage_order``
the cell order and routed legs (5, 7), ``missions.coverage_direction`` the direction search (6),
``missions.coverage_whole`` the whole-grid sweep (8), and ``missions.coverage_geometry`` the
geometry they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.routing import conservative_buffer
from missions.coverage_direction import best_layout
from missions.coverage_geometry import F64, Context, G, polygons_of
from missions.coverage_order import assemble, order_cells
from missions.coverage_whole import may_sweep_whole, whole_grid_plan

_GRID_M = 1e-6  # precision grid for the coverage union


@dataclass(frozen=True, slots=True)
class Sweep:
    """One camera-on pass, flown from ``start`` to ``end`` (local metres)."""

    start: tuple[float, float]
    end: tuple[float, float]


@dataclass(frozen=True, slots=True)
class CoveragePath:
    """A planned coverage path in local metres.

    ``waypoints`` is the whole path in flight order: every sweep's start and end, turnaround
    overshoot points, and the vertices of legs routed around forbidden space. ``covered`` is the
    union of the sweeps' swath strips within the flyable area (area minus buffered obstacles).
    ``angle_deg`` is the sweep direction (0 = east, counter-clockwise, in [0, 180)) of the largest
    part of the area.
    """

    waypoints: tuple[tuple[float, float], ...]
    sweeps: tuple[Sweep, ...]
    angle_deg: float
    covered: Polygon | MultiPolygon
    length_m: float


def coverage_pct(area: Polygon | MultiPolygon, sweeps: Sequence[Sweep], swath_m: float) -> float:
    """Percentage of ``area`` within swath/2 of a sweep (flat caps: nothing beyond a sweep's ends)."""
    if area.is_empty or area.area <= 0.0:
        raise ValueError("area must have a positive area")
    covered = covered_region(area, sweeps, swath_m)
    return 100.0 * float(covered.area) / float(area.area)


def covered_region(area: BaseGeometry, sweeps: Sequence[Sweep], swath_m: float) -> Polygon | MultiPolygon:
    """The part of ``area`` within swath/2 of a sweep: the union of flat-capped swath strips.

    Use this rather than ``union_all`` of buffered lines: adjacent strips share long, nearly
    identical edges, which the default floating-point overlay can get badly wrong (whole strips
    lost, seen with GEOS 3.12). The union is taken near the origin on a 1 micrometre grid,
    which is exact for the purpose and robust.
    """
    _require_positive("swath_m", swath_m)
    if not sweeps or area.is_empty:
        return Polygon()
    minx, miny, maxx, maxy = area.bounds
    origin = np.array([(minx + maxx) / 2.0, (miny + maxy) / 2.0])
    starts = np.array([s.start for s in sweeps], dtype=float) - origin
    ends = np.array([s.end for s in sweeps], dtype=float) - origin
    strips = _strip_polygons(starts, ends, swath_m / 2.0)
    if len(strips) == 0:
        return Polygon()
    union = shapely.union_all(strips, grid_size=_GRID_M)
    inside = shapely.intersection(union, _translate(area, -origin), grid_size=_GRID_M)
    return _union([_translate(inside, origin)])


def plan_coverage_path(
    area: Polygon | MultiPolygon,
    swath_m: float,
    *,
    turnaround_m: float = 0.0,
    obstacles: Sequence[Polygon] = (),
    clearance_m: float = 0.0,
    start_xy: tuple[float, float] | None = None,
    end_xy: tuple[float, float] | None = None,
    angle_deg: float | None = None,
    avoid_holes: bool = False,
) -> CoveragePath:
    """Plan a lawnmower path covering ``area`` with lanes ``swath_m`` apart (see the module notes).

    ``angle_deg`` forces the sweep direction; by default the direction that gives the shortest
    path is searched for each separate part of the area. ``avoid_holes`` keeps the path out of the
    area's holes (the cell decomposition alone); by default holes and gaps may be crossed with the
    camera off, and the shorter of the cell plan and the whole-grid sweep is flown (step 8).
    """
    _require_positive("swath_m", swath_m)
    _require_non_negative("turnaround_m", turnaround_m)
    _require_non_negative("clearance_m", clearance_m)
    if angle_deg is not None and not math.isfinite(angle_deg):
        raise ValueError(f"angle_deg must be finite, got {angle_deg!r}")
    for name, point in (("start_xy", start_xy), ("end_xy", end_xy)):
        if point is not None and not all(math.isfinite(c) for c in point):
            raise ValueError(f"{name} must be finite, got {point!r}")
    area_parts = _checked_polygons(area, "area")
    obstacle_parts = [p for i, ob in enumerate(obstacles) for p in _checked_polygons(ob, f"obstacles[{i}]")]

    # Work near the origin: UTM coordinates are ~1e6 m and would cost precision in the geometry.
    minx, miny, maxx, maxy = area.bounds
    origin = np.array([(minx + maxx) / 2.0, (miny + maxy) / 2.0])
    area_s = _union([_translate(p, -origin) for p in area_parts])
    # Mitred buffer: contains every point within the clearance (a round buffer's chords cut in).
    blocked_all = [conservative_buffer(_translate(p, -origin), clearance_m) for p in obstacle_parts]
    # Every leg stays within the hull of the area grown by a swath and the turnaround (routed legs
    # within one more swath), so only obstacles near it shape the plan; the rest are kept for the
    # rare unbounded detour.
    reach = area_s.convex_hull.buffer(2.0 * swath_m + turnaround_m)
    blocked = _union([b for b in blocked_all if b.intersects(reach)])
    holes = _union([Polygon(ring) for p in polygons_of(area_s) for ring in p.interiors])
    forbidden = _union([holes, blocked])
    free = _union(polygons_of(area_s.difference(blocked)) if not blocked.is_empty else polygons_of(area_s))
    if free.area <= 0.0:
        raise ValueError("area: nothing left to cover once the obstacles are removed")

    ctx = Context.build(swath_m, turnaround_m, forbidden, _union([holes, *blocked_all]))
    components = _flyable_components(area_s, free, forbidden, swath_m)
    if not components:
        raise ValueError("area: nothing left to cover once the obstacles are removed")
    layouts = [best_layout(comp, ctx, angle_deg) for comp in components]
    cells = [cell for _, cell_list in layouts for cell in cell_list]
    start_s = None if start_xy is None else np.asarray(start_xy, dtype=float) - origin
    end_s = None if end_xy is None else np.asarray(end_xy, dtype=float) - origin
    order, _ = order_cells(cells, start_s, end_s, ctx)
    points, sweeps_s = assemble(order, area_s, ctx)
    angle_out = layouts[0][0]
    if not avoid_holes and any(may_sweep_whole(p) for p in polygons_of(free)):
        # Only obstacles are forbidden now; without holes that is the decomposition's context.
        overflight = (
            ctx if holes.is_empty else Context.build(swath_m, turnaround_m, blocked, _union(blocked_all))
        )
        cells_m = _flown_m(points, start_s, end_s)
        whole = whole_grid_plan(
            free, components, layouts, area_s, overflight, angle_deg, start_s, end_s, cells_m
        )
        if whole is not None and _flown_m(whole[1], start_s, end_s) < cells_m - 1e-6:
            angle_out, points, sweeps_s = whole

    waypoints = tuple((float(x), float(y)) for x, y in points + origin)
    sweeps = tuple(
        Sweep(
            start=(float(a[0] + origin[0]), float(a[1] + origin[1])),
            end=(float(b[0] + origin[0]), float(b[1] + origin[1])),
        )
        for a, b in sweeps_s
    )
    free_local = _translate(free, origin)
    covered = covered_region(free_local, sweeps, swath_m)
    length_m = float(np.hypot(*np.diff(points, axis=0).T).sum()) if len(points) > 1 else 0.0
    return CoveragePath(
        waypoints=waypoints,
        sweeps=sweeps,
        angle_deg=angle_out,
        covered=covered,
        length_m=length_m,
    )


def _flown_m(points: F64, start: F64 | None, end: F64 | None) -> float:
    """The path's length with the straight launch and landing legs: what candidates are judged by."""
    length = float(np.hypot(*np.diff(points, axis=0).T).sum()) if len(points) > 1 else 0.0
    if start is not None and len(points):
        length += float(np.hypot(*(points[0] - start)))
    if end is not None and len(points):
        length += float(np.hypot(*(points[-1] - end)))
    return length


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _require_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")


def _checked_polygons(geom: BaseGeometry, name: str) -> list[Polygon]:
    if not isinstance(geom, Polygon | MultiPolygon):
        raise ValueError(f"{name} must be a Polygon or MultiPolygon, got {geom.geom_type}")
    if geom.is_empty or geom.area <= 0.0:
        raise ValueError(f"{name} must have a positive area")
    if not geom.is_valid:
        raise ValueError(f"{name} is not a valid polygon: {shapely.is_valid_reason(geom)}")
    return polygons_of(geom)


def _union(geoms: Sequence[BaseGeometry]) -> Polygon | MultiPolygon:
    polys = [p for g in geoms for p in polygons_of(g)]
    if not polys:
        return Polygon()
    merged = polygons_of(shapely.union_all(polys))
    if len(merged) == 1:
        return merged[0]
    return MultiPolygon(merged)


def _translate(geom: G, offset: F64) -> G:
    result: G = shapely.transform(geom, lambda xy: xy + offset)
    return result


def _strip_polygons(starts: F64, ends: F64, half_width_m: float) -> npt.NDArray[np.object_]:
    """Flat-capped swath rectangles around segments (zero-length segments cover nothing)."""
    d = ends - starts
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 0.0
    if not keep.any():
        return np.empty(0, dtype=object)
    starts, ends, d, length = starts[keep], ends[keep], d[keep], length[keep]
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None] * half_width_m
    rings = np.stack([starts + normal, ends + normal, ends - normal, starts - normal], axis=1)
    strips: npt.NDArray[np.object_] = shapely.polygons(rings)
    return strips


def _flyable_components(
    area_s: Polygon | MultiPolygon, free: Polygon | MultiPolygon, forbidden: BaseGeometry, swath_m: float
) -> list[Polygon]:
    """Connected parts of the region to sweep: the area with narrow notches closed, minus forbidden."""
    shells = _union([Polygon(p.exterior) for p in polygons_of(area_s)])
    g = swath_m / 2.0
    closed = shells.buffer(g, join_style="mitre").buffer(-g, join_style="mitre")
    # Only keep real gaps: the closing also leaves dust along edges that would split cells. The
    # closing mostly repeats the shells' edges, and the plain floating overlay of such near-equal
    # polygons can fail outright (a convex quadrilateral minus its own closing gave the whole
    # quadrilateral, and the plan then found nothing to cover): snap-rounded on the micrometre grid.
    notches = shapely.difference(closed, shells, grid_size=_GRID_M)
    gaps = [p for p in polygons_of(notches) if p.area > 1e-3 * swath_m * swath_m]
    filled = _union([shells, *gaps])
    region = filled.difference(forbidden) if not forbidden.is_empty else filled
    comps = [p for p in polygons_of(region) if p.intersection(free).area > 1e-9 * free.area]
    comps.sort(key=lambda p: (-p.area, p.bounds))
    return comps
