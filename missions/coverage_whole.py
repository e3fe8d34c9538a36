"""Whole-grid sweep: the candidate the coverage planner weighs beside the cell decomposition.

On a concave grid or one with holes, cells pay for their extra turns and the jumps between them;
one set of lanes across the whole grid, flown in one direction and crossing the gaps and holes
in transit with the camera off, is often shorter (issue 8 measured cells 12-21 % longer). A hole is not
part of the work area but may be overflown unless the caller says otherwise (``avoid_holes``);
exclusion zones never are, so a sweep whose lane would cross one is not offered at that angle.

A lane here is one straight line across the grid: ``ceil(height / swath)`` lanes, centred (the
layout of ``missions.coverage_lanes.lane_layout``), each running from where its swath first
touches the grid to where it last does (plus the turnaround), camera on exactly over the stretches
where the swath touches the grid. Lane extents come from the outline's edges clipped to each swath
band, vectorised over every candidate angle, so the length of the whole-grid sweep (lanes, turns,
and the launch and landing legs) is exact for every angle the search tries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from missions.coverage_geometry import F64, Context, polygons_of, rotate_geom
from missions.coverage_lanes import STRIP_SHRINK_M, LanePath, lane_layout
from missions.coverage_order import Cell, assemble, make_cell, order_cells

_ANGLE_GRID_DEG = 3.0  # the coarse directions, as the cell decomposition's search tries them
_EDGE_CANDIDATES = 12  # longest outline edges whose directions are always tried
_REFINE_DEG = (-2.0, -1.0, 1.0, 2.0)
_REFINED_BEST = 3  # coarse directions refined to 1 degree
_LEGAL_TRIES = 6  # best angles tried, in order, for one whose lanes stay out of forbidden space
_MERGE_GAP_M = 1e-3  # gaps in the swath's contact narrower than this keep the camera on
_CHUNK_ELEMENTS = 2_000_000  # (angles x lanes x edges) per vectorised pass


def whole_grid_plan(
    free: Polygon | MultiPolygon,
    components: Sequence[Polygon],
    layouts: Sequence[tuple[float, list[Cell]]],
    area_s: BaseGeometry,
    ctx: Context,
    angle_deg: float | None,
    start: F64 | None,
    end: F64 | None,
    bound_m: float,
) -> tuple[float, F64, list[tuple[F64, F64]]] | None:
    """(angle, waypoints, sweeps) flying each part of ``free`` as one whole-grid sweep, or None.

    A part whose sweep would cross forbidden space at every angle tried keeps the cells of the
    decomposition (``components`` with their ``layouts``) that lie in it, and so does a convex
    part without holes (one cell already, the decomposition's lane options only add to it). None
    when no part is swept whole, or when a single part's sweep is no shorter than ``bound_m`` (the
    decomposition's flown length): the plan would not change, so its legs are not even built.
    """
    parts = [p for p in polygons_of(free) if p.area > 1e-9 * free.area]
    parts.sort(key=lambda p: (-p.area, p.bounds))
    single = len(parts) == 1
    cells: list[Cell] = []
    angles: list[float] = []
    fallback: dict[int, list[int]] = {}
    for k, comp in enumerate(components):
        shares = [float(comp.intersection(part).area) for part in parts]
        fallback.setdefault(int(np.argmax(shares)), []).append(k)
    swept_whole = False
    for n, part in enumerate(parts):
        found = None
        if may_sweep_whole(part):
            ends = (start, end, bound_m) if single else (None, None, math.inf)
            found = _whole_grid_cell(part, ctx, angle_deg, *ends)
        if found is not None:
            swept_whole = True
            angles.append(found[0])
            cells.append(found[1])
            continue
        for k in fallback.get(n, []):
            angles.append(layouts[k][0])
            cells.extend(layouts[k][1])
    if not swept_whole or not cells:
        return None
    order, _ = order_cells(cells, start, end, ctx)
    points, sweeps = assemble(order, area_s, ctx)
    return angles[0], points, sweeps


def may_sweep_whole(part: Polygon) -> bool:
    """Whether a whole-grid sweep could differ from the decomposition: the part has holes or gaps."""
    return bool(part.interiors) or part.area < (1.0 - 1e-9) * part.convex_hull.area


def _whole_grid_cell(
    poly: Polygon,
    ctx: Context,
    angle_deg: float | None,
    start: F64 | None,
    end: F64 | None,
    bound_m: float,
) -> tuple[float, Cell] | None:
    """(angle, cell) of the shortest legal whole-grid sweep of ``poly``, or None if none is legal
    or none is shorter than ``bound_m``.

    ``ctx.forbidden`` must hold only what may not be overflown (buffered obstacles): the holes of
    ``poly`` that are not in it are crossed. ``start``/``end`` (shifted frame) count in the length.
    """
    p, q = _outline_edges(poly)
    angles = np.array([angle_deg % 180.0]) if angle_deg is not None else _coarse_angles(p, q)
    cost = _sweep_lengths(p, q, angles, ctx.swath_m, ctx.turnaround_m, start, end)
    if angle_deg is None:
        best = angles[np.argsort(cost, kind="stable")[:_REFINED_BEST]]
        refine = _unique_angles((best[:, None] + np.array(_REFINE_DEG)[None, :]).ravel())
        refine = refine[~np.isin(refine, angles)]
        if len(refine):
            angles = np.concatenate([angles, refine])
            cost = np.concatenate(
                [cost, _sweep_lengths(p, q, refine, ctx.swath_m, ctx.turnaround_m, start, end)]
            )
    if not float(cost.min()) < bound_m - 1e-6:
        return None
    for theta_deg in angles[np.argsort(cost, kind="stable")[:_LEGAL_TRIES]].tolist():
        cell = _cell_at(poly, theta_deg, ctx)
        if cell is not None:
            return theta_deg, cell
    return None


def _outline_edges(poly: Polygon) -> tuple[F64, F64]:
    """The exterior's edges: holes lie inside it, so they never widen a lane's extent."""
    c = np.asarray(poly.exterior.coords, dtype=np.float64)
    return c[:-1], c[1:]


def _coarse_angles(p: F64, q: F64) -> F64:
    d = q - p
    longest = np.argsort(-np.hypot(d[:, 0], d[:, 1]), kind="stable")[:_EDGE_CANDIDATES]
    edge_dirs = np.mod(np.degrees(np.arctan2(d[longest, 1], d[longest, 0])), 180.0)
    return _unique_angles(np.concatenate([edge_dirs, np.arange(0.0, 180.0, _ANGLE_GRID_DEG)]))


def _unique_angles(angles: F64) -> F64:
    out: F64 = np.unique(np.round(np.mod(angles, 180.0), 9) % 180.0)
    return out


def _lane_extents(p: F64, q: F64, angles_deg: F64, swath_m: float) -> tuple[F64, F64, F64]:
    """Lanes of the whole-grid sweep at each angle, in the rotated frame (lanes along +x).

    Returns (ys, lo, hi): lane heights and the x-extent of (swath band ∩ outline) per lane,
    (angles, lanes) arrays padded with NaN where an angle has fewer lanes. The extent of a
    polygon within a band is reached on an edge clipped to the band, so it is exact.
    """
    th = np.radians(angles_deg)[:, None]
    c, s = np.cos(th), np.sin(th)
    pu, pv = p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c  # (A, E)
    qu, qv = q[:, 0] * c + q[:, 1] * s, -q[:, 0] * s + q[:, 1] * c
    vmin = np.minimum(pv.min(axis=1), qv.min(axis=1))
    vmax = np.maximum(pv.max(axis=1), qv.max(axis=1))
    n, margin, spacing = lane_layout(vmax - vmin, swath_m)
    lanes = int(n.max())
    idx = np.arange(lanes)[None, :]
    ys = np.where(idx < n[:, None], vmin[:, None] + margin[:, None] + spacing[:, None] * idx, np.nan)
    half = swath_m / 2.0 - STRIP_SHRINK_M
    lo = np.full(ys.shape, np.inf)
    hi = np.full(ys.shape, -np.inf)
    edges = p.shape[0]
    step = max(1, _CHUNK_ELEMENTS // max(1, lanes * edges))
    for a0 in range(0, len(angles_deg), step):
        sl = slice(a0, a0 + step)
        band_lo, band_hi = (ys[sl] - half)[:, :, None], (ys[sl] + half)[:, :, None]
        eu, ev = pu[sl][:, None, :], pv[sl][:, None, :]
        du, dv = (qu[sl] - pu[sl])[:, None, :], (qv[sl] - pv[sl])[:, None, :]
        flat = dv == 0.0
        safe = np.where(flat, 1.0, dv)
        t_a, t_b = (band_lo - ev) / safe, (band_hi - ev) / safe
        t0 = np.where(flat, 0.0, np.minimum(t_a, t_b))
        t1 = np.where(flat, 1.0, np.maximum(t_a, t_b))
        inside = np.where(flat, (ev >= band_lo) & (ev <= band_hi), (t1 >= 0.0) & (t0 <= 1.0))
        t0, t1 = np.clip(t0, 0.0, 1.0), np.clip(t1, 0.0, 1.0)
        x0, x1 = eu + t0 * du, eu + t1 * du
        lo[sl] = np.where(inside, np.minimum(x0, x1), np.inf).min(axis=2)
        hi[sl] = np.where(inside, np.maximum(x0, x1), -np.inf).max(axis=2)
    missing = ~np.isfinite(lo) | ~np.isfinite(hi)
    lo[missing] = np.nan
    hi[missing] = np.nan
    return ys, lo, hi


def _sweep_lengths(
    p: F64,
    q: F64,
    angles_deg: F64,
    swath_m: float,
    turnaround_m: float,
    start: F64 | None,
    end: F64 | None,
) -> F64:
    """Length of the whole-grid sweep at each angle, flown the best of its four ways round.

    The variants are ``missions.coverage_order.Cell``'s: bottom or top lane first, flown a->b or
    b->a, lanes alternating. The launch and landing legs (when given) are straight lines to the
    first and from the last turnaround point, as the cell order costs them.
    """
    ys, lo, hi = _lane_extents(p, q, angles_deg, swath_m)
    live = np.isfinite(lo)
    m = live.sum(axis=1)
    a_end = np.where(live, lo - turnaround_m, 0.0)
    b_end = np.where(live, hi + turnaround_m, 0.0)
    sweeps = (b_end - a_end).sum(axis=1)
    y = np.where(live, ys, 0.0)
    pair = live[:, 1:] & live[:, :-1]
    turn_a = np.where(pair, np.hypot(np.diff(y, axis=1), np.diff(a_end, axis=1)), 0.0)
    turn_b = np.where(pair, np.hypot(np.diff(y, axis=1), np.diff(b_end, axis=1)), 0.0)
    even = (np.arange(turn_a.shape[1]) % 2 == 0)[None, :]
    p1 = np.where(even, turn_b, turn_a).sum(axis=1)  # bottom lane first, flown a->b
    p2 = np.where(even, turn_a, turn_b).sum(axis=1)  # bottom lane first, flown b->a
    m_odd = m % 2 == 1
    inner = np.stack([p1, p2, np.where(m_odd, p2, p1), np.where(m_odd, p1, p2)], axis=1)
    top = np.clip(m - 1, 0, None)[:, None]
    rows = np.arange(len(angles_deg))
    th = np.radians(angles_deg)
    c, s = np.cos(th)[:, None], np.sin(th)[:, None]

    def unrotated(x: F64, yy: F64) -> F64:
        out: F64 = np.stack([x * c[:, 0] - yy * s[:, 0], x * s[:, 0] + yy * c[:, 0]], axis=1)
        return out

    y_top = np.take_along_axis(y, top, axis=1)[:, 0]
    corners = [
        unrotated(a_end[:, 0], y[:, 0]),
        unrotated(b_end[:, 0], y[:, 0]),
        unrotated(np.take_along_axis(a_end, top, axis=1)[:, 0], y_top),
        unrotated(np.take_along_axis(b_end, top, axis=1)[:, 0], y_top),
    ]
    entry = (0, 1, 2, 3)
    exit_ = [np.where(m_odd, 3, 2), np.where(m_odd, 2, 3), np.where(m_odd, 1, 0), np.where(m_odd, 0, 1)]
    corner_xy = np.stack(corners, axis=1)  # (A, 4, 2)
    total = np.full((len(angles_deg), 4), 0.0)
    for v in range(4):
        total[:, v] = sweeps + inner[:, v]
        if start is not None:
            total[:, v] += np.hypot(*(corner_xy[:, entry[v]] - start).T)
        if end is not None:
            total[:, v] += np.hypot(*(corner_xy[rows, exit_[v]] - end).T)
    best: F64 = np.where(m > 0, total.min(axis=1), np.inf)
    return best


def _cell_at(poly: Polygon, theta_deg: float, ctx: Context) -> Cell | None:
    """The whole-grid sweep at one angle as a ``Cell``, or None if a lane crosses forbidden space."""
    theta = math.radians(theta_deg)
    p, q = _outline_edges(poly)
    ys, lo, hi = _lane_extents(p, q, np.array([theta_deg]), ctx.swath_m)
    live = np.isfinite(lo[0])
    y, xa, xb = ys[0][live], lo[0][live], hi[0][live]
    if not len(y):
        return None
    t = ctx.turnaround_m
    if ctx.clip is not None:
        clip_rot = rotate_geom(ctx.clip, theta)
        lines = shapely.linestrings(np.stack([np.column_stack([xa - t, y]), np.column_stack([xb + t, y])], axis=1))
        if shapely.intersects(clip_rot, lines).any():
            return None
    rotated = rotate_geom(poly, theta)
    half = ctx.swath_m / 2.0 - STRIP_SHRINK_M
    strips = shapely.box(xa - 1.0, y - half, xb + 1.0, y + half)
    parts, owner = shapely.get_parts(shapely.intersection(rotated, strips), return_index=True)
    solid = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0.0)
    bounds = shapely.bounds(parts[solid])
    owner = owner[solid]
    paths: list[LanePath] = []
    for k in range(len(y)):
        mine = bounds[owner == k]
        runs = _merged_runs(mine[:, 0], mine[:, 2], float(xa[k]), float(xb[k]))
        if runs:
            paths.append(_lane_path(float(y[k]), runs, t))
    return make_cell(paths, theta, ctx) if paths else None


def _merged_runs(x0: F64, x1: F64, lo: float, hi: float) -> list[tuple[float, float]]:
    """The camera-on stretches of a lane: where its swath touches the grid, gaps merged, in [lo, hi]."""
    if len(x0) == 0:
        return []  # the swath only grazes the grid here: nothing to photograph
    order = np.argsort(x0, kind="stable")
    runs: list[list[float]] = []
    for a, b in zip(x0[order].tolist(), x1[order].tolist(), strict=True):
        if runs and a <= runs[-1][1] + _MERGE_GAP_M:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    runs[0][0] = lo  # the ends are the exact extents the lengths were ranked with
    runs[-1][1] = hi
    return [(a, b) for a, b in runs if b > a]


def _lane_path(y: float, runs: list[tuple[float, float]], turnaround_m: float) -> LanePath:
    """Turnaround, camera-on runs with camera-off gaps between them, turnaround (a-end to b-end)."""
    xs = [runs[0][0] - turnaround_m]
    flags: list[bool] = []
    for a, b in runs:
        xs += [a, b]
        flags += [False, True]
    xs.append(runs[-1][1] + turnaround_m)
    flags.append(False)
    keep = [i for i in range(1, len(xs)) if xs[i] > xs[i - 1]]
    pts = np.array([[xs[0], y]] + [[xs[i], y] for i in keep], dtype=np.float64)
    return LanePath(pts, np.array([flags[i - 1] for i in keep], dtype=bool))
