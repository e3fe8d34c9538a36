"""Sweep direction search for the coverage planner (step 6 of ``missions.coverage``).

Candidate directions (the longest edges' and a 3 degree grid) are ranked by a vectorised
estimate of the path length, the best are refined, and the few best are laid out in full
(decomposition, lanes, end steps, cell order); the shortest full plan wins. This module is the
one place where the other coverage modules come together for one direction (``_layout``).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon

from missions.coverage_cells import decompose
from missions.coverage_geometry import F64, ROUGH_SIMPLIFY, Context, ring_edges, rotate_geom
from missions.coverage_lanes import STRIP_SHRINK_M, cell_lanes, choose_steps, lane_layout, lane_paths
from missions.coverage_order import Cell, make_cell, order_cells

_SLIVER_BUDGET = 0.0025  # share of a region's area that may stay uncovered at clipped lane ends
_ANGLE_GRID_DEG = 3.0
_EDGE_CANDIDATES = 12  # longest edges whose directions are always tried
_REFINE_DEG = (-2.0, -1.0, 1.0, 2.0)
_FULL_EVALUATIONS = 3


def best_layout(poly: Polygon, ctx: Context, angle_deg: float | None) -> tuple[float, list[Cell]]:
    """(angle, cells) of the shortest full plan among the candidate directions."""
    candidates = (
        [angle_deg % 180.0]
        if angle_deg is not None
        else _candidate_angles(poly, ctx.swath_m, ctx.turnaround_m)
    )
    best: tuple[float, float, list[Cell]] | None = None
    for theta in candidates:
        cost, cells = _layout(poly, theta, ctx)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, theta, cells)
    assert best is not None
    return best[1], best[2]


def _layout(poly: Polygon, theta_deg: float, ctx: Context) -> tuple[float, list[Cell]]:
    theta = math.radians(theta_deg)
    rotated = rotate_geom(poly, theta)
    clip_rot = None
    if ctx.clip is not None:
        clip_rot = rotate_geom(ctx.clip, theta)
        shapely.prepare(clip_rot)
    laid = [
        cell_lanes(geom, ctx.swath_m, ctx.turnaround_m, clip_rot) for geom in decompose(rotated, clip_rot)
    ]
    candidates = [(k, cand) for k, (_, found) in enumerate(laid) for cand in found]
    chosen = choose_steps(candidates, _SLIVER_BUDGET * float(poly.area))
    cells: list[Cell] = []
    for k, (lanes, _) in enumerate(laid):
        paths = lane_paths(lanes, chosen.get(k, {}))
        if paths:
            cells.append(make_cell(paths, theta, ctx))
    _, cost = order_cells(cells, None, None, ctx)
    return cost, cells


def _candidate_angles(poly: Polygon, swath_m: float, turnaround_m: float) -> list[float]:
    # Ranking is approximate anyway: a slightly simplified outline keeps the arrays small.
    p, q = ring_edges(_simplified(poly, ROUGH_SIMPLIFY * swath_m))
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
    n, margin, spacing = lane_layout(vmax - vmin, swath_m)
    lane_count = int(n.max())
    lane_idx = np.arange(lane_count)[None, :]
    live = lane_idx < n[:, None]  # (A, L)
    ys = vmin[:, None] + margin[:, None] + spacing[:, None] * lane_idx
    half = swath_m / 2.0 - STRIP_SHRINK_M
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


def _simplified(poly: Polygon, tolerance_m: float) -> Polygon:
    simple = poly.simplify(tolerance_m)
    return simple if isinstance(simple, Polygon) and not simple.is_empty else poly


def _unique_angles(angles: F64) -> F64:
    out: F64 = np.unique(np.round(np.mod(angles, 180.0), 9) % 180.0)
    return out


def _angle_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)
