"""Coverage (lawnmower) paths for camera patrols over a grid, in local metres.

How a plan is made, and why:

1. **Flyable region.** Obstacles (grown by the clearance with a mitred buffer, which contains the
   true buffer) are cut out of the area. Holes of the area and obstacles are *forbidden*: no leg
   of the path may enter them. Outside the area is not forbidden: sweeps run to where their swath
   still touches the area and turnarounds overshoot the edge, as every survey planner does (a
   drone turning just outside its grid is normal).
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
   to the lane) covers the sliver the swath would otherwise miss. The smallest slivers, up to
   0.25 % of the region's area in all, are left: their steps cost more than they cover.
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

Everything is deterministic: no randomness, and ties are broken by index order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.routing import Router, conservative_buffer

F64 = npt.NDArray[np.float64]
G = TypeVar("G", bound=BaseGeometry)

_EXTREMAL_TOL_M = 1e-3  # vertical features smaller than this do not split cells
_CRITICAL_MERGE_M = 5e-3  # critical heights closer than this form one cluster
_SLAB_EPS_M = 1e-3  # slabs stop this short of critical clusters so pieces never touch
_MIN_PIECE_M2 = 1e-3  # slab pieces below this area are numerical dust
_CLIP_MARGIN_M = 0.01  # sweeps and turnarounds stop this short of forbidden space
_GRID_M = 1e-6  # precision grid for the coverage union
_ROUGH_SIMPLIFY = 0.01  # outline tolerance (fraction of a swath) for costing legs
_SLIVER_BUDGET = 0.0025  # share of a region's area that may stay uncovered at clipped lane ends
_STEP_MIN_AREA = 1e-3  # end steps only for slivers above this fraction of swath^2
_STRIP_SHRINK_M = 1e-4  # strips measured this much narrower, so an edge they only touch is ignored
_ENTER_TOL_M = 1e-3  # a leg enters forbidden space only if it gets this deep inside
_MIN_EDGE_MARGIN = 0.05  # first lane at least this fraction of a swath inside the cell edge
_ANGLE_GRID_DEG = 3.0
_EDGE_CANDIDATES = 12  # longest edges whose directions are always tried
_REFINE_DEG = (-2.0, -1.0, 1.0, 2.0)
_FULL_EVALUATIONS = 3
_EXACT_ORDER_MAX_CELLS = 8
_MAX_ORDER_MOVES = 4  # improving moves per cell, at most, when ordering many cells


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


# ----------------------------------------------------------------------------------------------
# Public helpers


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
) -> CoveragePath:
    """Plan a lawnmower path covering ``area`` with lanes ``swath_m`` apart (see the module notes).

    ``angle_deg`` forces the sweep direction; by default the direction that gives the shortest
    path is searched for each separate part of the area.
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
    holes = _union([Polygon(ring) for p in _polygons_of(area_s) for ring in p.interiors])
    forbidden = _union([holes, blocked])
    free = _union(_polygons_of(area_s.difference(blocked)) if not blocked.is_empty else _polygons_of(area_s))
    if free.area <= 0.0:
        raise ValueError("area: nothing left to cover once the obstacles are removed")

    ctx = _Context.build(swath_m, turnaround_m, forbidden, _union([holes, *blocked_all]))
    components = _flyable_components(area_s, free, forbidden, swath_m)
    if not components:
        raise ValueError("area: nothing left to cover once the obstacles are removed")
    layouts = [_best_layout(comp, ctx, angle_deg) for comp in components]
    cells = [cell for _, cell_list in layouts for cell in cell_list]
    start_s = None if start_xy is None else np.asarray(start_xy, dtype=float) - origin
    end_s = None if end_xy is None else np.asarray(end_xy, dtype=float) - origin
    order, _ = _order_cells(cells, start_s, end_s, ctx)
    points, sweeps_s = _assemble(order, area_s, ctx)

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
        angle_deg=layouts[0][0],
        covered=covered,
        length_m=length_m,
    )


# ----------------------------------------------------------------------------------------------
# Geometry helpers


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
    return _polygons_of(geom)


def _polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The polygons of any geometry, dropping lines and points that overlays leave behind."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty and geom.area > 0.0 else []
    parts: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        parts.extend(_polygons_of(part))
    return parts


def _union(geoms: Sequence[BaseGeometry]) -> Polygon | MultiPolygon:
    polys = [p for g in geoms for p in _polygons_of(g)]
    if not polys:
        return Polygon()
    merged = _polygons_of(shapely.union_all(polys))
    if len(merged) == 1:
        return merged[0]
    return MultiPolygon(merged)


def _translate(geom: G, offset: F64) -> G:
    result: G = shapely.transform(geom, lambda xy: xy + offset)
    return result


def _rotate_geom(geom: G, theta_rad: float) -> G:
    """Rotate by -theta so that the direction theta becomes +x (lanes run along x)."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    matrix = np.array([[c, -s], [s, c]])
    result: G = shapely.transform(geom, lambda xy: xy @ matrix)
    return result


def _unrotate(points: F64, theta_rad: float) -> F64:
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    matrix = np.array([[c, s], [-s, c]])
    out: F64 = points @ matrix
    return out


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
    shells = _union([Polygon(p.exterior) for p in _polygons_of(area_s)])
    g = swath_m / 2.0
    closed = shells.buffer(g, join_style="mitre").buffer(-g, join_style="mitre")
    # Only keep real gaps: the closing also leaves dust along edges that would split cells.
    gaps = [p for p in _polygons_of(closed.difference(shells)) if p.area > 1e-3 * swath_m * swath_m]
    filled = _union([shells, *gaps])
    region = filled.difference(forbidden) if not forbidden.is_empty else filled
    comps = [p for p in _polygons_of(region) if p.intersection(free).area > 1e-9 * free.area]
    comps.sort(key=lambda p: (-p.area, p.bounds))
    return comps


# ----------------------------------------------------------------------------------------------
# Context shared by the evaluations


@dataclass(frozen=True, slots=True)
class _Context:
    swath_m: float
    turnaround_m: float
    forbidden: Polygon | MultiPolygon  # holes + buffered obstacles near the area (shifted frame)
    forbidden_all: Polygon | MultiPolygon  # holes + every buffered obstacle, for unbounded detours
    clip: BaseGeometry | None  # forbidden grown by the clip margin (prepared)
    core: BaseGeometry | None  # forbidden shrunk by the entry tolerance (prepared)
    rough: BaseGeometry | None  # simplified forbidden, for costing legs only (prepared)
    rough_edges: tuple[F64, F64]  # its ring edges (starts, ends)

    @classmethod
    def build(
        cls,
        swath_m: float,
        turnaround_m: float,
        forbidden: Polygon | MultiPolygon,
        forbidden_all: Polygon | MultiPolygon,
    ) -> _Context:
        no_edges = (np.empty((0, 2)), np.empty((0, 2)))
        if forbidden.is_empty:
            return cls(swath_m, turnaround_m, forbidden, forbidden_all, None, None, None, no_edges)
        clip = conservative_buffer(forbidden, _CLIP_MARGIN_M)
        core = forbidden.buffer(-_ENTER_TOL_M, join_style="mitre")
        # Leg costs only rank orders, so a coarser outline (fewer vertices) is plenty.
        rough = forbidden.simplify(_ROUGH_SIMPLIFY * swath_m)
        for g in (clip, core, rough):
            shapely.prepare(g)
        if core.is_empty:
            return cls(swath_m, turnaround_m, forbidden, forbidden_all, clip, None, None, no_edges)
        edges = [_ring_edges(p) for p in _polygons_of(rough)]
        rough_edges = (np.concatenate([e[0] for e in edges]), np.concatenate([e[1] for e in edges]))
        return cls(swath_m, turnaround_m, forbidden, forbidden_all, clip, core, rough, rough_edges)

    def penalties(self, p: F64, q: F64) -> F64:
        """About the length of each segment p->q inside forbidden space (0 where it stays out).

        Computed with numpy from the crossings with the outline's edges (a shapely intersection
        per leg would dominate the plan time: ordering costs every pair of cell corners).
        """
        out = np.zeros(len(p))
        if self.rough is None or len(p) == 0:
            return out
        hit = shapely.intersects(self.rough, shapely.linestrings(np.stack([p, q], axis=1)))
        if hit.any():
            out[hit] = self._inside_lengths(p[hit], q[hit])
        return out

    def _inside_lengths(self, p: F64, q: F64) -> F64:
        a, b = self.rough_edges
        d = (q - p)[:, None, :]  # (K, 1, 2)
        e = (b - a)[None, :, :]  # (1, E, 2)
        ap = a[None, :, :] - p[:, None, :]  # (K, E, 2)
        den = d[..., 0] * e[..., 1] - d[..., 1] * e[..., 0]
        safe = np.where(den == 0.0, 1.0, den)
        t = (ap[..., 0] * e[..., 1] - ap[..., 1] * e[..., 0]) / safe
        u = (ap[..., 0] * d[..., 1] - ap[..., 1] * d[..., 0]) / safe
        valid = (den != 0.0) & (t >= 0.0) & (t <= 1.0) & (u >= 0.0) & (u < 1.0)
        cuts = np.sort(np.where(valid, t, 1.0), axis=1)
        bounds = np.concatenate([np.zeros((len(p), 1)), cuts, np.ones((len(p), 1))], axis=1)
        widths = np.diff(bounds, axis=1)
        start_inside = shapely.contains_xy(self.rough, p[:, 0], p[:, 1])
        parity = np.arange(widths.shape[1]) % 2 == 0
        inside = np.where(start_inside[:, None] == parity[None, :], widths, 0.0).sum(axis=1)
        lengths: F64 = inside * np.hypot(d[:, 0, 0], d[:, 0, 1])
        return lengths

    def enters(self, p: F64, q: F64) -> npt.NDArray[np.bool_]:
        if self.core is None or len(p) == 0:
            return np.zeros(len(p), dtype=bool)
        hit: npt.NDArray[np.bool_] = shapely.intersects(
            self.core, shapely.linestrings(np.stack([p, q], axis=1))
        )
        return hit


# ----------------------------------------------------------------------------------------------
# Lanes


def _lane_layout(height_m: F64, swath_m: float) -> tuple[F64, F64, F64]:
    """(lane count, first-lane offset from the low edge, spacing) for cells of the given heights.

    ``ceil(height / swath)`` lanes, centred. When centring would put the outer lanes almost on
    the cell edges (height just over a multiple of the swath) they are pulled in and the spacing
    shrinks a little, so a lane never grazes the boundary of a neighbouring hole.
    """
    n = np.maximum(1.0, np.ceil(height_m / swath_m - 1e-9))
    margin = (height_m - (n - 1.0) * swath_m) / 2.0
    min_margin = np.minimum(_MIN_EDGE_MARGIN * swath_m, height_m / 2.0)
    tight = margin < min_margin
    margin = np.where(tight, min_margin, margin)
    spacing = np.where(tight & (n > 1), (height_m - 2.0 * margin) / np.maximum(n - 1.0, 1.0), swath_m)
    return n, margin, spacing


@dataclass(frozen=True, slots=True)
class _CellGeom:
    """A y-monotone cell in the rotated frame: a stack of slab pieces, lowest first."""

    pieces: npt.NDArray[np.object_]
    lo: F64  # bottom of each piece's slab
    hi: F64  # top of each piece's slab


def _extremal_ys(ring: F64) -> F64:
    """y of the ring's local minima and maxima (runs of equal y count once)."""
    y = ring[:, 1]
    if len(y) < 3:
        return np.empty(0)
    step = np.abs(y - np.roll(y, 1)) > _EXTREMAL_TOL_M
    if not step.any():
        return np.empty(0)
    ys = y[step]
    prev, nxt = np.roll(ys, 1), np.roll(ys, -1)
    extremal = ((ys > prev) & (ys > nxt)) | ((ys < prev) & (ys < nxt))
    out: F64 = ys[extremal]
    return out


def _junction_blocked(
    below: tuple[float, float],
    above: tuple[float, float],
    y_below: float,
    y_above: float,
    clip_rot: BaseGeometry,
) -> bool:
    """Whether a lane next to this junction would need to sweep through forbidden space.

    Where one side of a junction is wider, a lane on the narrow side sweeps on over the wide
    side's extra width (its swath reaches it). That is fine across open ground, but when a hole or
    obstacle sits in between the sweep is clipped and the wide side's edge strip is left
    uncovered; such junctions therefore end the cell, and the next cell lays out its own lanes.
    """
    for side in (0, 1):  # the left ends of the two cross-sections, then the right ends
        x_below, x_above = below[side], above[side]
        if abs(x_below - x_above) <= _EXTREMAL_TOL_M:
            continue
        above_narrower = (x_above > x_below) if side == 0 else (x_above < x_below)
        y = y_above if above_narrower else y_below  # just inside the narrow side
        line = shapely.linestrings([(min(x_below, x_above), y), (max(x_below, x_above), y)])
        if shapely.intersects(clip_rot, line):
            return True
    return False


def _decompose(poly: Polygon, clip_rot: BaseGeometry | None) -> list[_CellGeom]:
    """Split a rotated polygon into y-monotone cells (boustrophedon decomposition)."""
    minx, miny, maxx, maxy = poly.bounds
    rings = [np.asarray(poly.exterior.coords)[:-1]] + [np.asarray(r.coords)[:-1] for r in poly.interiors]
    extremal = [_extremal_ys(r) for r in rings]
    if len(rings) == 1 and len(extremal[0]) <= 2:
        return [_CellGeom(np.array([poly], dtype=object), np.array([miny]), np.array([maxy]))]
    crit = np.sort(np.concatenate([*extremal, [miny, maxy]]))
    gap = np.diff(crit) > _CRITICAL_MERGE_M
    cluster_lo = crit[np.concatenate([[True], gap])]
    cluster_hi = crit[np.concatenate([gap, [True]])]
    # Slab k lies between clusters k and k+1; its pieces are cut eps inside that band, and the
    # piece's nominal extent (for lane layout) spans the clusters too, so nothing is left out.
    cut_lo, cut_hi = cluster_hi[:-1] + _SLAB_EPS_M, cluster_lo[1:] - _SLAB_EPS_M
    slab_lo, slab_hi = cluster_lo[:-1], cluster_hi[1:]
    boxes = shapely.box(minx - 1.0, cut_lo, maxx + 1.0, cut_hi)
    parts, slab_of = shapely.get_parts(shapely.intersection(poly, boxes), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > _MIN_PIECE_M2)
    parts, slab_of = parts[keep], slab_of[keep]
    if len(parts) == 0:
        return []

    # Cross-section x-range of every piece at its slab's bottom and top cut lines.
    coords, owner = shapely.get_coordinates(parts, return_index=True)
    x = coords[:, 0]
    at_bot = np.abs(coords[:, 1] - cut_lo[slab_of][owner]) < 1e-7
    at_top = np.abs(coords[:, 1] - cut_hi[slab_of][owner]) < 1e-7
    count = len(parts)
    bot_lo, bot_hi = np.full(count, np.inf), np.full(count, -np.inf)
    top_lo, top_hi = np.full(count, np.inf), np.full(count, -np.inf)
    np.minimum.at(bot_lo, owner[at_bot], x[at_bot])
    np.maximum.at(bot_hi, owner[at_bot], x[at_bot])
    np.minimum.at(top_lo, owner[at_top], x[at_top])
    np.maximum.at(top_hi, owner[at_top], x[at_top])

    # Grow cells upward: a piece continues the cell of one adjacent piece below that has not been
    # continued yet, unless forbidden space makes the junction unsafe to sweep across; wider
    # pieces choose first, so the main body stays one cell.
    by_slab: dict[int, list[int]] = {}
    for i, k in enumerate(slab_of.tolist()):
        by_slab.setdefault(k, []).append(i)
    cell_of = np.full(count, -1)
    continued = np.zeros(count, dtype=bool)
    members: list[list[int]] = []
    prev_slab: list[int] = []
    prev_k = -2
    for k in sorted(by_slab):
        current = sorted(by_slab[k], key=lambda i: (-(bot_hi[i] - bot_lo[i]), bot_lo[i]))
        below = prev_slab if k == prev_k + 1 else []
        for b in current:
            best, best_overlap = -1, 1e-5
            for a in below:
                overlap = min(top_hi[a], bot_hi[b]) - max(top_lo[a], bot_lo[b])
                if continued[a] or overlap <= best_overlap:
                    continue
                if clip_rot is not None and _junction_blocked(
                    (top_lo[a], top_hi[a]), (bot_lo[b], bot_hi[b]), cut_hi[k - 1], cut_lo[k], clip_rot
                ):
                    continue
                best, best_overlap = a, overlap
            if best >= 0:
                continued[best] = True
                cell_of[b] = cell_of[best]
                members[cell_of[b]].append(b)
            else:
                cell_of[b] = len(members)
                members.append([b])
        prev_slab, prev_k = by_slab[k], k
    # A piece spans its slab (down to the critical cluster) unless it ends inside it, as the two
    # sides of a hole touching the boundary at a point do: then its own extent counts.
    pb = shapely.bounds(parts)
    piece_lo = np.where(pb[:, 1] > cut_lo[slab_of] + 1e-6, pb[:, 1], slab_lo[slab_of])
    piece_hi = np.where(pb[:, 3] < cut_hi[slab_of] - 1e-6, pb[:, 3], slab_hi[slab_of])
    return [_CellGeom(parts[idx], piece_lo[idx], piece_hi[idx]) for idx in (np.array(m) for m in members)]


@dataclass(frozen=True, slots=True)
class _Lanes:
    """A cell's lanes in the rotated frame: y, sweep x-range, turnaround x-range, still flown."""

    y: F64
    xa: F64
    xb: F64
    oa: F64
    ob: F64
    keep: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _LanePath:
    """One lane as flown from its a-end (low x in the rotated frame) to its b-end.

    ``pts`` run from the a-end turnaround point to the b-end one; ``sweep[i]`` says whether the
    segment pts[i] -> pts[i+1] is camera-on (the main sweep and any end steps).
    """

    pts: F64
    sweep: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _EndStep:
    """A short extra sweep beside a lane end that forbidden space cut short (see ``_end_steps``)."""

    area_m2: float  # the sliver it covers
    x_jog: float  # where the drone steps sideways off the lane (the lane end, or a little back)
    y: float
    x_sweep: float  # far end of the extra sweep
    x_turn: float  # turnaround point beyond it


_StepCandidate = tuple[float, int, int, int, _EndStep]  # (sliver m2, lane, end 0 = a / 1 = b, k, step)


def _residual(cell: _CellGeom, x0: float, x1: float, y0: float, y1: float) -> tuple[float, F64]:
    """Area and bounds of the cell inside the box [x0, x1] x [y0, y1]."""
    parts = shapely.intersection(shapely.box(x0, y0, x1, y1), cell.pieces)
    b = shapely.bounds(parts)
    live = ~np.isnan(b[:, 0])
    if not live.any():
        return 0.0, np.zeros(4)
    b = b[live]
    bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    return float(shapely.area(parts).sum()), bounds


def _end_steps(
    cell: _CellGeom,
    y: float,
    x_end: float,
    x_start: float,
    x_reach: float,
    swath_m: float,
    turnaround_m: float,
    clip_rot: BaseGeometry,
) -> list[_EndStep]:
    """Extra sweeps covering what a lane end cut short by forbidden space would have covered.

    When a hole or obstacle edge is slanted to the lanes, the swath reaches past the point where
    the centre line meets it, on the side where the edge recedes: a sliver of up to
    swath^2 / 8 x cot(angle) per lane end that a clipped sweep leaves uncovered (both sides when
    the lane meets a corner head on). A short sweep parallel to the lane, on that side, from the
    lane end out to the sliver's far corner covers it: the drone steps sideways at the lane end,
    which a transition on that side mostly flies anyway.
    """
    x0, x1 = min(x_end, x_reach), max(x_end, x_reach)
    min_area = _STEP_MIN_AREA * swath_m * swath_m
    if (x1 - x0) * swath_m <= min_area:
        return []  # nothing worth a step fits (e.g. only the clip margin of a square corner)
    direction = 1.0 if x_reach > x_end else -1.0
    half = swath_m / 2.0
    steps: list[_EndStep] = []
    for side in (-1.0, 1.0):
        area, bounds = _residual(cell, x0, x1, min(y, y + side * half), max(y, y + side * half))
        if not area > min_area:
            continue
        depth = (y - bounds[1]) if side < 0 else (bounds[3] - y)
        offset = max(depth - 0.1 * swath_m, 0.5 * depth)
        y_step = y + side * offset
        x_far = float(bounds[2] if direction > 0 else bounds[0])
        step = _free_step(x_end, x_start, direction, y, y_step, x_far, swath_m, turnaround_m, clip_rot)
        if step is not None:
            steps.append(replace(step, area_m2=area))
    return steps


def _free_step(
    x_end: float,
    x_start: float,
    direction: float,
    y: float,
    y_step: float,
    x_far: float,
    swath_m: float,
    turnaround_m: float,
    clip_rot: BaseGeometry,
) -> _EndStep | None:
    """An end step whose sideways jog and sweep stay out of forbidden space, or None.

    The jog is tried at the lane end first; when the obstacle's corner is in the way (the lane
    met it just beside a corner) it is tried a little further back along the lane.
    """
    for back in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        x_jog = x_end - direction * back * swath_m
        if direction * (x_jog - x_start) < 0.0:
            break
        # The lane end lies on the clip margin itself, so the jog is tested from 1 mm along it.
        jog = shapely.linestrings([(x_jog, y + np.sign(y_step - y) * 1e-3), (x_jog, y_step)])
        if shapely.intersects(clip_rot, jog):
            continue
        x_turn = x_far + direction * turnaround_m
        line = shapely.linestrings([(x_jog, y_step), (x_turn, y_step)])
        if shapely.intersects(clip_rot, line):
            parts = shapely.get_parts(shapely.difference(line, clip_rot))
            pb = shapely.bounds(parts)
            mine = np.flatnonzero((pb[:, 0] <= x_jog + 1e-6) & (pb[:, 2] >= x_jog - 1e-6))
            if len(mine) == 0:
                continue
            x_turn = float(pb[mine[0], 2] if direction > 0 else pb[mine[0], 0])
        x_sweep = min(x_far, x_turn) if direction > 0 else max(x_far, x_turn)
        if direction * (x_sweep - x_end) < 1e-3:
            return None  # the step would not get past the lane end: nothing to gain
        return _EndStep(0.0, x_jog, y_step, x_sweep, x_turn)
    return None


def _cell_lanes(
    cell: _CellGeom, swath_m: float, turnaround_m: float, clip_rot: BaseGeometry | None
) -> tuple[_Lanes, list[_StepCandidate]]:
    """The cell's lanes, lowest first (rotated frame), and the end steps they could use."""
    bounds = shapely.bounds(cell.pieces)
    bx0, bx1 = float(bounds[:, 0].min()) - 1.0, float(bounds[:, 2].max()) + 1.0
    # Lay the lanes out a few ways within the slack ceil(h/w)*w - h, keep the shortest.
    options = _lane_options(float(cell.lo[0]), float(cell.hi[-1]), swath_m)
    ys_all = np.concatenate(options)
    option_of = np.repeat(np.arange(len(options)), [len(o) for o in options])
    reach_a_all, reach_b_all = _strip_reach(cell, ys_all, swath_m)
    best, best_cost = 0, math.inf
    for k in range(len(options)):
        mine = option_of == k
        cost = _lanes_cost(ys_all[mine], reach_a_all[mine], reach_b_all[mine])
        if cost < best_cost - 1e-6:
            best, best_cost = k, cost
    pick = (option_of == best) & np.isfinite(reach_a_all) & np.isfinite(reach_b_all)
    ys, reach_a, reach_b = ys_all[pick], reach_a_all[pick], reach_b_all[pick]
    keep = np.ones(len(ys), dtype=bool)
    lanes = _Lanes(ys, reach_a, reach_b, reach_a - turnaround_m, reach_b + turnaround_m, keep)
    if clip_rot is None or not len(lanes.y):
        return lanes, []
    lanes = _clip_lanes(cell, lanes, bx0, bx1, clip_rot)
    return lanes, _step_candidates(cell, lanes, reach_a, reach_b, swath_m, turnaround_m, clip_rot)


def _lane_options(y0: float, y1: float, swath_m: float) -> list[F64]:
    """Lane positions to try for a cell spanning [y0, y1]: centred, then shifted to either end.

    ``ceil(h / w)`` lanes a swath apart leave ``ceil(h / w) * w - h`` of slack; where the slack is
    placed decides which lanes catch a wide part of the cell in their swath (an L's junction,
    a slanted end), so it changes the path length.
    """
    n_arr, margin_arr, spacing_arr = _lane_layout(np.array([y1 - y0]), swath_m)
    n, spacing = int(n_arr[0]), float(spacing_arr[0])
    centred: F64 = y0 + float(margin_arr[0]) + spacing * np.arange(n, dtype=np.float64)
    if n == 1 or spacing < swath_m:
        return [centred]
    min_margin = _MIN_EDGE_MARGIN * swath_m
    low = max(min_margin, (y1 - y0) - (n - 0.5) * swath_m)
    high = min(swath_m / 2.0, (y1 - y0) - (n - 1) * swath_m - min_margin)
    options = [centred]
    for margin in (low, high):
        if abs(margin - float(margin_arr[0])) > 1e-3:
            shifted: F64 = y0 + margin + swath_m * np.arange(n, dtype=np.float64)
            options.append(shifted)
    return options


def _strip_reach(cell: _CellGeom, ys: F64, swath_m: float) -> tuple[F64, F64]:
    """x-extent of (swath strip ∩ cell) for lanes at ``ys`` (inf/-inf where they miss it).

    Done with numpy, not overlays: the extreme x of a polygon within a horizontal band lies at
    one of its vertices inside the band or where an edge crosses one of the band's two lines.
    """
    coords, ring = shapely.get_coordinates(shapely.get_rings(cell.pieces), return_index=True)
    same = ring[1:] == ring[:-1]
    p, q = coords[:-1][same], coords[1:][same]
    half = swath_m / 2.0 - _STRIP_SHRINK_M
    lo, hi = (ys - half)[:, None], (ys + half)[:, None]
    inside = (p[None, :, 1] >= lo) & (p[None, :, 1] <= hi)
    reach_a = np.where(inside, p[None, :, 0], np.inf).min(axis=1)
    reach_b = np.where(inside, p[None, :, 0], -np.inf).max(axis=1)
    dy = q[:, 1] - p[:, 1]
    slanted = dy != 0.0
    safe_dy = np.where(slanted, dy, 1.0)
    for y in (lo, hi):
        crosses = slanted & (y >= np.minimum(p[:, 1], q[:, 1])) & (y <= np.maximum(p[:, 1], q[:, 1]))
        x = p[:, 0] + (y - p[:, 1]) / safe_dy * (q[:, 0] - p[:, 0])
        reach_a = np.minimum(reach_a, np.where(crosses, x, np.inf).min(axis=1))
        reach_b = np.maximum(reach_b, np.where(crosses, x, -np.inf).max(axis=1))
    return reach_a, reach_b


def _lanes_cost(ys: F64, xa: F64, xb: F64) -> float:
    """Sweeps plus turns of a lane layout, flown either way round (to compare layouts)."""
    ok = np.isfinite(xa) & np.isfinite(xb)
    ys, xa, xb = ys[ok], xa[ok], xb[ok]
    if len(ys) < 2:
        return float((xb - xa).sum())
    turn_a = np.hypot(np.diff(ys), np.diff(xa))
    turn_b = np.hypot(np.diff(ys), np.diff(xb))
    even = np.arange(len(ys) - 1) % 2 == 0
    turns = min(np.where(even, turn_b, turn_a).sum(), np.where(even, turn_a, turn_b).sum())
    return float((xb - xa).sum() + turns)


def _lane_paths(lanes: _Lanes, steps: dict[tuple[int, int], list[_EndStep]]) -> list[_LanePath]:
    """The kept lanes as paths, with the end steps chosen for them (key: lane, end 0 = a, 1 = b)."""
    return [
        _lane_path(
            float(lanes.y[i]),
            float(lanes.xa[i]),
            float(lanes.xb[i]),
            float(lanes.oa[i]),
            float(lanes.ob[i]),
            sorted(steps.get((i, 0), []), key=lambda step: step.y),
            sorted(steps.get((i, 1), []), key=lambda step: step.y),
        )
        for i in range(len(lanes.y))
        if lanes.keep[i]
    ]


def _clip_lanes(cell: _CellGeom, lanes: _Lanes, bx0: float, bx1: float, clip_rot: BaseGeometry) -> _Lanes:
    """Cut each lane (turnarounds included) to the free stretch that holds its part of the cell."""
    xa, xb, oa, ob = lanes.xa.copy(), lanes.xb.copy(), lanes.oa.copy(), lanes.ob.copy()
    keep = np.ones(len(lanes.y), dtype=bool)
    lines = shapely.linestrings(
        np.stack([np.column_stack([oa, lanes.y]), np.column_stack([ob, lanes.y])], axis=1)
    )
    hit = np.flatnonzero(shapely.intersects(clip_rot, lines))
    if len(hit):
        mids = _centre_mids(cell, lanes.y[hit], bx0, bx1)
        parts, owner = shapely.get_parts(shapely.difference(lines[hit], clip_rot), return_index=True)
        pb = shapely.bounds(parts)
        for local, lane in enumerate(hit.tolist()):
            mine = np.flatnonzero((owner == local) & ~np.isnan(pb[:, 0]))  # skip empty parts
            if len(mine) == 0:
                keep[lane] = False
                continue
            lo, hi = pb[mine, 0], pb[mine, 2]
            inside = np.flatnonzero((lo <= mids[local] + 1e-9) & (hi >= mids[local] - 1e-9))
            pick = mine[inside[0]] if len(inside) else mine[int(np.argmax(hi - lo))]
            oa[lane], ob[lane] = pb[pick, 0], pb[pick, 2]
            xa[lane], xb[lane] = max(xa[lane], oa[lane]), min(xb[lane], ob[lane])
            keep[lane] = xb[lane] >= xa[lane]
    return _Lanes(lanes.y, xa, xb, oa, ob, keep)


def _step_candidates(
    cell: _CellGeom,
    lanes: _Lanes,
    reach_a: F64,
    reach_b: F64,
    swath_m: float,
    turnaround_m: float,
    clip_rot: BaseGeometry,
) -> list[_StepCandidate]:
    """Every end step the cell's clipped lanes could use, with the sliver each would cover."""
    candidates: list[_StepCandidate] = []
    for lane in np.flatnonzero(lanes.keep).tolist():
        y, xa, xb = float(lanes.y[lane]), float(lanes.xa[lane]), float(lanes.xb[lane])
        for end, x_end, x_start, reach in ((0, xa, xb, reach_a[lane]), (1, xb, xa, reach_b[lane])):
            if abs(reach - x_end) > 1e-6:
                found = _end_steps(cell, y, x_end, x_start, float(reach), swath_m, turnaround_m, clip_rot)
                candidates.extend((step.area_m2, lane, end, k, step) for k, step in enumerate(found))
    return candidates


def _choose_steps(
    candidates: Sequence[tuple[int, _StepCandidate]], budget_m2: float
) -> dict[int, dict[tuple[int, int], list[_EndStep]]]:
    """The end steps to fly, per cell, leaving out the smallest slivers within the budget.

    Each step costs a sideways jog (and often the way back), so slivers are skipped smallest
    first while their total stays within the budget (``_SLIVER_BUDGET`` of the region's area):
    coverage stays well above the 99.5 % target, and a lake's shore is not fringed with hooks
    for a few square metres each.
    """
    skipped = 0.0
    chosen: dict[int, dict[tuple[int, int], list[_EndStep]]] = {}
    for cell, (area, lane, end, _, step) in sorted(candidates, key=lambda c: (c[1][0], c[0], *c[1][1:4])):
        if skipped + area <= budget_m2:
            skipped += area
            continue
        chosen.setdefault(cell, {}).setdefault((lane, end), []).append(step)
    return chosen


def _lane_path(
    y: float, xa: float, xb: float, oa: float, ob: float, steps_a: list[_EndStep], steps_b: list[_EndStep]
) -> _LanePath:
    """The lane's points from the a-end to the b-end: a-end excursion, sweep, b-end excursion."""
    out_a, flags_a = _excursion(xa, y, oa, steps_a)
    out_b, flags_b = _excursion(xb, y, ob, steps_b)
    pts = [*out_a[::-1], (xa, y), (xb, y), *out_b]
    flags = [*flags_a[::-1], True, *flags_b]
    keep = [i for i in range(1, len(pts)) if pts[i] != pts[i - 1]]
    return _LanePath(
        np.array([pts[0]] + [pts[i] for i in keep]), np.array([flags[i - 1] for i in keep], dtype=bool)
    )


def _excursion(
    x_end: float, y: float, x_turn: float, steps: list[_EndStep]
) -> tuple[list[tuple[float, float]], list[bool]]:
    """What is flown beyond a lane end, outward from (x_end, y): points and camera flags.

    Without end steps: the turnaround. With them: back along the lane to the jog point if the
    jog is set back, jog sideways, sweep out, and (when a second step is due on the other side)
    come back the same way to the lane; the last step ends with its own turnaround.
    """
    if not steps:
        return [(x_turn, y)], [False]
    pts: list[tuple[float, float]] = []
    flags: list[bool] = []
    for k, step in enumerate(steps):
        pts += [(step.x_jog, y), (step.x_jog, step.y), (step.x_sweep, step.y)]
        flags += [False, False, True]
        if k < len(steps) - 1:
            pts += [(step.x_jog, step.y), (step.x_jog, y)]
            flags += [False, False]
    pts.append((steps[-1].x_turn, steps[-1].y))
    flags.append(False)
    return pts, flags


def _centre_mids(cell: _CellGeom, ys: F64, bx0: float, bx1: float) -> F64:
    """A point of the cell on each lane's centre line (the middle of the cell's interval there)."""
    j = np.clip(np.searchsorted(cell.hi, ys), 0, len(cell.pieces) - 1)
    mids = np.full(len(ys), np.nan)
    lines = shapely.linestrings(
        np.stack(
            [np.column_stack([np.full_like(ys, bx0), ys]), np.column_stack([np.full_like(ys, bx1), ys])],
            axis=1,
        )
    )
    # A lane can fall in the thin gap between two slab pieces: try the piece, then its neighbours.
    for shift in (0, 1, -1):
        todo = np.isnan(mids)
        if not todo.any():
            break
        jj = np.clip(j[todo] + shift, 0, len(cell.pieces) - 1)
        b = shapely.bounds(shapely.intersection(lines[todo], cell.pieces[jj]))
        mids[todo] = (b[:, 0] + b[:, 2]) / 2.0
    return mids


# ----------------------------------------------------------------------------------------------
# Cells in flight form


@dataclass(frozen=True, slots=True)
class _Cell:
    """One cell's lanes in the shifted local frame, with its four ways to be flown.

    Variant v: bottom lane first when v < 2 (else top first); first lane flown a->b when v is
    even (else b->a); lanes alternate.
    """

    paths: tuple[_LanePath, ...]
    cost: F64  # (4,) internal length per variant, transitions penalised inside forbidden space
    corners: F64  # (4, 2): first lane a-end, first lane b-end, last lane a-end, last lane b-end
    entry: npt.NDArray[np.int64]  # (4,) corner each variant starts at
    exit: npt.NDArray[np.int64]  # (4,) corner each variant ends at

    def lanes(self, variant: int) -> list[tuple[int, bool]]:
        """(lane index, flown a->b) in flight order."""
        n = len(self.paths)
        order = range(n) if variant < 2 else range(n - 1, -1, -1)
        forward_first = variant % 2 == 0
        return [(i, (k % 2 == 0) == forward_first) for k, i in enumerate(order)]


def _make_cell(paths_rot: Sequence[_LanePath], theta_rad: float, ctx: _Context) -> _Cell:
    paths = tuple(_LanePath(_unrotate(p.pts, theta_rad), p.sweep) for p in paths_rot)
    a_end = np.array([p.pts[0] for p in paths])
    b_end = np.array([p.pts[-1] for p in paths])
    base = float(sum(np.hypot(*np.diff(p.pts, axis=0).T).sum() for p in paths))
    side_a = np.hypot(*np.diff(a_end, axis=0).T) + ctx.penalties(a_end[:-1], a_end[1:])
    side_b = np.hypot(*np.diff(b_end, axis=0).T) + ctx.penalties(b_end[:-1], b_end[1:])
    n = len(paths)
    corners = np.array([a_end[0], b_end[0], a_end[-1], b_end[-1]])
    cell = _Cell(paths, np.zeros(4), corners, np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
    for v in range(4):
        seq = cell.lanes(v)
        cost = base
        for (i, forward), (j, _) in pairwise(seq):
            cost += float(side_b[min(i, j)] if forward else side_a[min(i, j)])
        first, first_fwd = seq[0]
        last, last_fwd = seq[-1]
        cell.cost[v] = cost
        cell.entry[v] = (0 if first == 0 else 2) + (0 if first_fwd else 1)
        cell.exit[v] = (0 if last == 0 and n > 1 else 2) + (1 if last_fwd else 0)
    return cell


def _ring_edges(poly: Polygon) -> tuple[F64, F64]:
    starts, ends = [], []
    for ring in [poly.exterior, *poly.interiors]:
        c = np.asarray(ring.coords)
        starts.append(c[:-1])
        ends.append(c[1:])
    return np.concatenate(starts), np.concatenate(ends)


def _estimate_lengths(p: F64, q: F64, angles_deg: F64, swath_m: float, turnaround_m: float) -> F64:
    """Approximate path length at each angle, vectorised over angles, lanes and edges.

    Counts the lane lengths inside the polygon (centre lines), the end extensions needed for the
    swath to reach slanted edges, turns between lanes, turnarounds, and twice a lane spacing per
    extra interval a lane is split into (extra cells cost turns and a jump back).
    """
    th = np.radians(angles_deg)[:, None]
    c, s = np.cos(th), np.sin(th)
    pu, pv = p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c  # (A, E)
    qu, qv = q[:, 0] * c + q[:, 1] * s, -q[:, 0] * s + q[:, 1] * c
    vmin, vmax = pv.min(axis=1), pv.max(axis=1)
    n, margin, spacing = _lane_layout(vmax - vmin, swath_m)
    lane_count = int(n.max())
    lane_idx = np.arange(lane_count)[None, :]
    live = lane_idx < n[:, None]  # (A, L)
    ys = vmin[:, None] + margin[:, None] + spacing[:, None] * lane_idx
    half = swath_m / 2.0 - _STRIP_SHRINK_M
    elo, ehi = np.minimum(pv, qv)[:, None, :], np.maximum(pv, qv)[:, None, :]
    du = (qu - pu)[:, None, :]
    dv = (qv - pv)[:, None, :]
    safe_dv = np.where(dv == 0.0, 1.0, dv)

    def crossings(yl: F64) -> F64:
        y = yl[:, :, None]
        x = pu[:, None, :] + (y - pv[:, None, :]) / safe_dv * du
        return np.where((y >= elo) & (y < ehi), x, np.nan)

    xc = crossings(ys)
    xs = np.sort(xc, axis=2)
    count = np.sum(~np.isnan(xc), axis=2)
    pairs = count // 2
    col = np.arange(xs.shape[2])[None, None, :]
    sign = np.where(col % 2 == 1, 1.0, -1.0)
    inside = np.where(col < 2 * pairs[:, :, None], sign * np.nan_to_num(xs), 0.0).sum(axis=2)
    lo = np.fmin.reduce(np.concatenate([xc, crossings(ys - half), crossings(ys + half)], axis=2), axis=2)
    hi = np.fmax.reduce(np.concatenate([xc, crossings(ys - half), crossings(ys + half)], axis=2), axis=2)
    # Vertices inside a strip widen it (the swath reaches corners the centre line misses).
    nearest = np.clip(np.rint((pv - ys[:, :1]) / spacing[:, None]), 0, n[:, None] - 1).astype(int)
    within = (np.abs(pv - np.take_along_axis(ys, nearest, axis=1)) < half).ravel()
    flat = (np.arange(len(angles_deg))[:, None] * lane_count + nearest).ravel()[within]
    lo_flat, hi_flat = lo.ravel(), hi.ravel()
    np.fmin.at(lo_flat, flat, pu.ravel()[within])
    np.fmax.at(hi_flat, flat, pu.ravel()[within])
    lo, hi = lo_flat.reshape(lo.shape), hi_flat.reshape(hi.shape)
    has = live & np.isfinite(lo) & np.isfinite(hi)
    first = np.where(pairs > 0, xs[:, :, 0], lo)
    last_col = np.clip(2 * pairs - 1, 0, xs.shape[2] - 1)
    last = np.where(pairs > 0, np.take_along_axis(xs, last_col[:, :, None], axis=2)[:, :, 0], hi)
    inside = np.where(pairs > 0, inside, hi - lo)
    sweep = np.where(
        has, inside + (first - lo) + (hi - last) + 2.0 * turnaround_m * np.maximum(pairs, 1), 0.0
    )
    lo_t, hi_t = np.where(has, lo - turnaround_m, 0.0), np.where(has, hi + turnaround_m, 0.0)
    step_live = has[:, 1:] & has[:, :-1]
    turn_a = np.hypot(spacing[:, None], np.diff(lo_t, axis=1))
    turn_b = np.hypot(spacing[:, None], np.diff(hi_t, axis=1))
    even = (np.arange(lane_count - 1) % 2 == 0)[None, :]
    pattern_1 = np.where(step_live, np.where(even, turn_b, turn_a), 0.0).sum(axis=1)
    pattern_2 = np.where(step_live, np.where(even, turn_a, turn_b), 0.0).sum(axis=1)
    extra = 2.0 * spacing * np.where(has, np.maximum(pairs - 1, 0), 0).sum(axis=1)
    total: F64 = sweep.sum(axis=1) + np.minimum(pattern_1, pattern_2) + extra
    return total


def _candidate_angles(poly: Polygon, swath_m: float, turnaround_m: float) -> list[float]:
    # Ranking is approximate anyway: a slightly simplified outline keeps the arrays small.
    p, q = _ring_edges(_simplified(poly, _ROUGH_SIMPLIFY * swath_m))
    d = q - p
    length = np.hypot(d[:, 0], d[:, 1])
    longest = np.argsort(-length, kind="stable")[:_EDGE_CANDIDATES]
    edge_dirs = np.mod(np.degrees(np.arctan2(d[longest, 1], d[longest, 0])), 180.0)
    grid = np.arange(0.0, 180.0, _ANGLE_GRID_DEG)
    angles = _unique_angles(np.concatenate([edge_dirs, grid]))
    est = _estimate_lengths(p, q, angles, swath_m, turnaround_m)
    best = angles[np.argsort(est, kind="stable")[:_FULL_EVALUATIONS]]
    refine = _unique_angles((best[:, None] + np.array(_REFINE_DEG)[None, :]).ravel())
    refine = refine[~np.isin(refine, angles)]
    if len(refine):
        angles = np.concatenate([angles, refine])
        est = np.concatenate([est, _estimate_lengths(p, q, refine, swath_m, turnaround_m)])
    ranked = angles[np.argsort(est, kind="stable")]
    picked: list[float] = []
    for a in ranked.tolist():
        if all(_angle_gap(a, b) > _ANGLE_GRID_DEG - 0.5 for b in picked):
            picked.append(a)
        if len(picked) == _FULL_EVALUATIONS:
            break
    return picked


def _simplified(poly: Polygon, tolerance_m: float) -> Polygon:
    simple = poly.simplify(tolerance_m)
    return simple if isinstance(simple, Polygon) and not simple.is_empty else poly


def _unique_angles(angles: F64) -> F64:
    out: F64 = np.unique(np.round(np.mod(angles, 180.0), 9) % 180.0)
    return out


def _angle_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _layout(poly: Polygon, theta_deg: float, ctx: _Context) -> tuple[float, list[_Cell]]:
    theta = math.radians(theta_deg)
    rotated = _rotate_geom(poly, theta)
    clip_rot = None
    if ctx.clip is not None:
        clip_rot = _rotate_geom(ctx.clip, theta)
        shapely.prepare(clip_rot)
    laid = [
        _cell_lanes(geom, ctx.swath_m, ctx.turnaround_m, clip_rot) for geom in _decompose(rotated, clip_rot)
    ]
    candidates = [(k, cand) for k, (_, found) in enumerate(laid) for cand in found]
    chosen = _choose_steps(candidates, _SLIVER_BUDGET * float(poly.area))
    cells: list[_Cell] = []
    for k, (lanes, _) in enumerate(laid):
        paths = _lane_paths(lanes, chosen.get(k, {}))
        if paths:
            cells.append(_make_cell(paths, theta, ctx))
    _, cost = _order_cells(cells, None, None, ctx)
    return cost, cells


def _best_layout(poly: Polygon, ctx: _Context, angle_deg: float | None) -> tuple[float, list[_Cell]]:
    """(angle, cells) of the shortest full plan among the candidate directions."""
    candidates = (
        [angle_deg % 180.0]
        if angle_deg is not None
        else _candidate_angles(poly, ctx.swath_m, ctx.turnaround_m)
    )
    best: tuple[float, float, list[_Cell]] | None = None
    for theta in candidates:
        cost, cells = _layout(poly, theta, ctx)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, theta, cells)
    assert best is not None
    return best[1], best[2]


# ----------------------------------------------------------------------------------------------
# Ordering


def _order_cells(
    cells: Sequence[_Cell], start: F64 | None, end: F64 | None, ctx: _Context
) -> tuple[list[tuple[_Cell, int]], float]:
    """Cell order and variants minimising internal + connecting + launch/landing legs."""
    n = len(cells)
    if n == 0:
        return [], 0.0
    inner = np.array([c.cost for c in cells])  # (n, 4)
    corners = np.concatenate([c.corners for c in cells])  # (4n, 2)
    entry = np.array([c.entry for c in cells]) + 4 * np.arange(n)[:, None]  # (n, 4) corner index
    exit_ = np.array([c.exit for c in cells]) + 4 * np.arange(n)[:, None]
    start_cost = np.zeros((n, 4)) if start is None else np.hypot(*(corners[entry] - start).transpose(2, 0, 1))
    end_cost = np.zeros((n, 4)) if end is None else np.hypot(*(corners[exit_] - end).transpose(2, 0, 1))
    if n == 1:
        v = int(np.argmin(start_cost[0] + inner[0] + end_cost[0]))
        return [(cells[0], v)], float(start_cost[0, v] + inner[0, v] + end_cost[0, v])
    # Legs join corners of different cells; each unordered pair is costed once.
    i, j = np.triu_indices(4 * n, k=1)
    other = i // 4 != j // 4
    i, j = i[other], j[other]
    leg = np.hypot(*(corners[j] - corners[i]).T) + ctx.penalties(corners[i], corners[j])
    pair = np.full((4 * n, 4 * n), np.inf)
    pair[i, j] = leg
    pair[j, i] = leg
    conn = pair[exit_[:, :, None, None], entry[None, None, :, :]]  # (n, 4, n, 4)
    if n <= _EXACT_ORDER_MAX_CELLS:
        seq, cost = _held_karp(inner, conn, start_cost, end_cost)
    else:
        seq, cost = _two_opt(inner, conn, start_cost, end_cost)
    return [(cells[i], v) for i, v in seq], cost


def _held_karp(inner: F64, conn: F64, start_cost: F64, end_cost: F64) -> tuple[list[tuple[int, int]], float]:
    n = inner.shape[0]
    full = (1 << n) - 1
    dp = np.full((1 << n, n, 4), np.inf)
    parent = np.full((1 << n, n, 4), -1, dtype=np.int64)
    for j in range(n):
        dp[1 << j, j] = start_cost[j] + inner[j]
    flat_conn = conn.reshape(n * 4, n * 4)
    for mask in range(1, full):
        cur = dp[mask].reshape(-1)
        if not np.isfinite(cur).any():
            continue
        total = cur[:, None] + flat_conn
        prev = np.argmin(total, axis=0)
        value = total[prev, np.arange(n * 4)].reshape(n, 4) + inner
        for j in range(n):
            if mask & (1 << j):
                continue
            nxt = mask | (1 << j)
            better = value[j] < dp[nxt, j]
            dp[nxt, j][better] = value[j][better]
            parent[nxt, j][better] = prev.reshape(n, 4)[j][better]
    final = dp[full] + end_cost
    state = int(np.argmin(final))
    cost = float(final.reshape(-1)[state])
    seq: list[tuple[int, int]] = []
    mask = full
    while state >= 0:
        j, v = divmod(state, 4)
        seq.append((j, v))
        state = int(parent[mask, j, v])
        mask &= ~(1 << j)
    seq.reverse()
    return seq, cost


def _best_variants(
    order: Sequence[int], inner: F64, conn: F64, start_cost: F64, end_cost: F64
) -> tuple[list[int], float]:
    """Best variant per cell for a fixed cell order (Viterbi over the four variants)."""
    score = start_cost[order[0]] + inner[order[0]]
    back: list[npt.NDArray[np.int64]] = []
    for prev, cur in pairwise(order):
        total = score[:, None] + conn[prev, :, cur, :]
        arg = np.argmin(total, axis=0)
        back.append(arg)
        score = total[arg, np.arange(4)] + inner[cur]
    score = score + end_cost[order[-1]]
    v = int(np.argmin(score))
    cost = float(score[v])
    variants = [v]
    for arg in reversed(back):
        v = int(arg[v])
        variants.append(v)
    variants.reverse()
    return variants, cost


def _order_costs(orders: npt.NDArray[np.int64], inner: F64, conn: F64, start_cost: F64, end_cost: F64) -> F64:
    """Cost of each cell order (rows) with its best variants, all orders at once (Viterbi)."""
    score = start_cost[orders[:, 0]] + inner[orders[:, 0]]  # (T, 4)
    for k in range(1, orders.shape[1]):
        prev, cur = orders[:, k - 1], orders[:, k]
        score = (score[:, :, None] + conn[prev, :, cur, :]).min(axis=1) + inner[cur]
    out: F64 = (score + end_cost[orders[:, -1]]).min(axis=1)
    return out


@lru_cache(maxsize=32)
def _neighbour_moves(n: int) -> npt.NDArray[np.int64]:
    """Index permutations for every 2-opt reversal and single-cell move of an n-cell order."""
    base = np.arange(n)
    moves = []
    for i in range(n - 1):
        for j in range(i + 1, n):
            t = base.copy()
            t[i : j + 1] = base[i : j + 1][::-1]
            moves.append(t)
    for i in range(n):
        rest = np.delete(base, i)
        for j in range(n):
            if j not in (i, i + 1):
                moves.append(np.insert(rest, j if j < i else j - 1, i))
    out = np.array(moves, dtype=np.int64)
    out.setflags(write=False)
    return out


def _two_opt(inner: F64, conn: F64, start_cost: F64, end_cost: F64) -> tuple[list[tuple[int, int]], float]:
    """Nearest-neighbour cell order, improved by 2-opt and single-cell moves (many cells).

    Every neighbour of the current order is costed in one vectorised pass and the best
    improving move is taken, until none improves (or a move budget runs out).
    """
    n = inner.shape[0]
    first = int(np.argmin((start_cost + inner).min(axis=1)))
    order = [first]
    last_v = int(np.argmin(start_cost[first] + inner[first]))
    remaining = set(range(n)) - {first}
    while remaining:
        cand = sorted(remaining)
        step = conn[order[-1], last_v][cand] + inner[cand]  # (len, 4)
        k, v = divmod(int(np.argmin(step)), 4)
        order.append(cand[k])
        last_v = v
        remaining.discard(cand[k])
    current = np.array(order, dtype=np.int64)
    cost = float(_order_costs(current[None, :], inner, conn, start_cost, end_cost)[0])
    for _ in range(_MAX_ORDER_MOVES * n):
        trials = current[_neighbour_moves(n)]
        costs = _order_costs(trials, inner, conn, start_cost, end_cost)
        best = int(np.argmin(costs))
        if not costs[best] < cost - 1e-9:
            break
        current, cost = trials[best], float(costs[best])
    final = current.tolist()
    variants, cost = _best_variants(final, inner, conn, start_cost, end_cost)
    return list(zip(final, variants, strict=True)), cost


# ----------------------------------------------------------------------------------------------
# Assembly


def _assemble(
    order: Sequence[tuple[_Cell, int]], area_s: BaseGeometry, ctx: _Context
) -> tuple[F64, list[tuple[F64, F64]]]:
    """Waypoints (shifted frame) and sweeps in flight order, with legs routed round forbidden space."""
    chunks: list[F64] = []
    sweeps: list[tuple[F64, F64]] = []
    for cell, variant in order:
        for i, forward in cell.lanes(variant):
            path = cell.paths[i]
            pts = path.pts if forward else path.pts[::-1]
            flags = path.sweep if forward else path.sweep[::-1]
            chunks.append(pts)
            sweeps.extend((pts[k], pts[k + 1]) for k in np.flatnonzero(flags).tolist())
    leg_from = np.array([c[-1] for c in chunks[:-1]]).reshape(-1, 2)
    leg_to = np.array([c[0] for c in chunks[1:]]).reshape(-1, 2)
    blocked = np.flatnonzero(ctx.enters(leg_from, leg_to))
    detours: dict[int, F64] = {}
    if len(blocked):
        all_points = np.concatenate(chunks)
        hull = shapely.union_all([area_s, shapely.multipoints(all_points)]).convex_hull
        obstacles = tuple(_polygons_of(ctx.forbidden))
        # Corners exactly on the obstacles (no simplification): sweep ends sit 1 cm from them.
        bounded = Router(obstacles, hull.buffer(ctx.swath_m), simplify_m=0.0)
        unbounded: Router | None = None
        for k in blocked.tolist():
            a = (float(leg_from[k, 0]), float(leg_from[k, 1]))
            b = (float(leg_to[k, 0]), float(leg_to[k, 1]))
            route = bounded.path(a, b)
            if route is None:
                unbounded = unbounded or Router(tuple(_polygons_of(ctx.forbidden_all)), None, simplify_m=0.0)
                route = unbounded.path(a, b)
            if route is None:
                raise ValueError(f"cannot route from {a} to {b} around the holes and obstacles")
            detours[k] = np.asarray(route, dtype=float)[1:-1].reshape(-1, 2)
    pieces: list[F64] = []
    for k, chunk in enumerate(chunks):
        pieces.append(chunk)
        if k in detours:
            pieces.append(detours[k])
    points = np.concatenate(pieces)
    step = np.hypot(*np.diff(points, axis=0).T)
    points = points[np.concatenate([[True], step > 1e-9])]
    return points, sweeps
