"""Lanes of one cell for the coverage planner (step 4 of ``missions.coverage``).

Everything about a single cell's lanes, in the rotated frame: where the lanes lie, how far each
sweep runs for its swath to reach the cell's edges, clipping sweeps and turnarounds short of
forbidden space, the end steps that cover the slivers clipping leaves, and each lane as the
points it is flown through. Cells in flight order are ``missions.coverage_order``'s concern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from missions.coverage_cells import CellGeom
from missions.coverage_geometry import F64

STRIP_SHRINK_M = 1e-4  # strips measured this much narrower, so an edge they only touch is ignored
_MIN_EDGE_MARGIN = 0.05  # first lane at least this fraction of a swath inside the cell edge
_STEP_MIN_AREA = 1e-3  # end steps only for slivers above this fraction of swath^2
_STEP_OFFSETS = 5  # distances from the lane tried for an end step's sweep


def lane_layout(height_m: F64, swath_m: float) -> tuple[F64, F64, F64]:
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
class _Lanes:
    """A cell's lanes in the rotated frame: y, sweep x-range, turnaround x-range, still flown."""

    y: F64
    xa: F64
    xb: F64
    oa: F64
    ob: F64
    keep: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class LanePath:
    """One lane as flown from its a-end (low x in the rotated frame) to its b-end.

    ``pts`` run from the a-end turnaround point to the b-end one; ``sweep[i]`` says whether the
    segment pts[i] -> pts[i+1] is camera-on (the main sweep and any end steps).
    """

    pts: F64
    sweep: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _EndStep:
    """A short extra sweep beside a lane end that forbidden space cut short (see ``_end_steps``)."""

    area_m2: float  # the part of the sliver its swath covers
    x_jog: float  # where the drone steps sideways off the lane (the lane end, or a little back)
    y: float
    x_sweep: float  # far end of the extra sweep
    x_turn: float  # turnaround point beyond it


_StepCandidate = tuple[float, int, int, int, _EndStep]  # (sliver m2, lane, end 0 = a / 1 = b, k, step)


def cell_lanes(
    cell: CellGeom, swath_m: float, turnaround_m: float, clip_rot: BaseGeometry | None
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
    n_arr, margin_arr, spacing_arr = lane_layout(np.array([y1 - y0]), swath_m)
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


def _strip_reach(cell: CellGeom, ys: F64, swath_m: float) -> tuple[F64, F64]:
    """x-extent of (swath strip ∩ cell) for lanes at ``ys`` (inf/-inf where they miss it).

    Done with numpy, not overlays: the extreme x of a polygon within a horizontal band lies at
    one of its vertices inside the band or where an edge crosses one of the band's two lines.
    """
    coords, ring = shapely.get_coordinates(shapely.get_rings(cell.pieces), return_index=True)
    same = ring[1:] == ring[:-1]
    p, q = coords[:-1][same], coords[1:][same]
    half = swath_m / 2.0 - STRIP_SHRINK_M
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


def _clip_lanes(cell: CellGeom, lanes: _Lanes, bx0: float, bx1: float, clip_rot: BaseGeometry) -> _Lanes:
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


def _centre_mids(cell: CellGeom, ys: F64, bx0: float, bx1: float) -> F64:
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


def _residual(
    cell: CellGeom, x0: float, x1: float, y0: float, y1: float
) -> tuple[float, F64, npt.NDArray[np.object_]]:
    """Area, bounds and pieces of the cell inside the box [x0, x1] x [y0, y1]."""
    parts = shapely.intersection(shapely.box(x0, y0, x1, y1), cell.pieces)
    b = shapely.bounds(parts)
    live = ~np.isnan(b[:, 0])
    if not live.any():
        return 0.0, np.zeros(4), parts[live]
    b = b[live]
    bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
    return float(shapely.area(parts).sum()), bounds, parts[live]


def _end_steps(
    cell: CellGeom,
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
    which a transition on that side mostly flies anyway. The same slanted edge can cut that
    sweep short too; then the step runs farther from the lane, where the edge no longer reaches,
    as long as that covers more. A step's ``area_m2`` is the part of the sliver it covers, so the
    sliver budget of ``choose_steps`` never counts as covered what no sweep sees.
    """
    x0, x1 = min(x_end, x_reach), max(x_end, x_reach)
    min_area = _STEP_MIN_AREA * swath_m * swath_m
    if (x1 - x0) * swath_m <= min_area:
        return []  # nothing worth a step fits (e.g. only the clip margin of a square corner)
    direction = 1.0 if x_reach > x_end else -1.0
    half = swath_m / 2.0
    steps: list[_EndStep] = []
    for side in (-1.0, 1.0):
        area, bounds, sliver = _residual(cell, x0, x1, min(y, y + side * half), max(y, y + side * half))
        if not area > min_area:
            continue
        depth = (y - bounds[1]) if side < 0 else (bounds[3] - y)
        near = (y - bounds[3]) if side < 0 else (bounds[1] - y)
        x_far = float(bounds[2] if direction > 0 else bounds[0])
        # Nearest the lane first (the shortest jog); farther out when the obstacle's slanted edge
        # cuts that step's sweep short, up to where its swath still reaches the sliver's near edge.
        first = max(depth - 0.1 * swath_m, 0.5 * depth)
        last = max(first, near + half - _MIN_EDGE_MARGIN * swath_m)
        best: _EndStep | None = None
        for offset in np.linspace(first, last, _STEP_OFFSETS):
            y_step = y + side * float(offset)
            step = _free_step(x_end, x_start, direction, y, y_step, x_far, swath_m, turnaround_m, clip_rot)
            if step is None:
                continue
            reach = (
                min(step.x_jog, step.x_sweep),
                y_step - half,
                max(step.x_jog, step.x_sweep),
                y_step + half,
            )
            seen = _seen_m2(sliver, bounds, area, reach, min_area)
            if best is not None and seen <= best.area_m2 + min_area:
                break  # farther out gains nothing here (a curved shore): keep the nearer step
            best = replace(step, area_m2=seen)
            if area - seen <= min_area:
                break
        if best is not None and best.area_m2 > min_area:
            steps.append(best)
    return steps


def _seen_m2(
    sliver: npt.NDArray[np.object_],
    bounds: F64,
    area_m2: float,
    reach: tuple[float, float, float, float],
    slack_m2: float,
) -> float:
    """How much of the sliver (``bounds``, ``area_m2``) a step's strip box ``reach`` covers, at
    most ``slack_m2`` low: without an overlay when the part of the sliver's bounding box outside
    the strip box is no larger than that (then it is all counted as missed)."""
    x0, y0, x1, y1 = reach
    inside_x = max(0.0, min(x1, bounds[2]) - max(x0, bounds[0]))
    inside_y = max(0.0, min(y1, bounds[3]) - max(y0, bounds[1]))
    outside_m2 = float((bounds[2] - bounds[0]) * (bounds[3] - bounds[1]) - inside_x * inside_y)
    if outside_m2 <= slack_m2:
        return max(0.0, area_m2 - max(0.0, outside_m2))
    return float(shapely.area(shapely.intersection(sliver, shapely.box(x0, y0, x1, y1))).sum())


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


def _step_candidates(
    cell: CellGeom,
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


def choose_steps(
    candidates: Sequence[tuple[int, _StepCandidate]], budget_m2: float
) -> dict[int, dict[tuple[int, int], list[_EndStep]]]:
    """The end steps to fly, per cell, leaving out the smallest slivers within the budget.

    Each step costs a sideways jog (and often the way back), so slivers are skipped smallest
    first while their total stays within the budget (a share of the region's area, set by
    ``missions.coverage_direction``):
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


def lane_paths(lanes: _Lanes, steps: dict[tuple[int, int], list[_EndStep]]) -> list[LanePath]:
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


def _lane_path(
    y: float, xa: float, xb: float, oa: float, ob: float, steps_a: list[_EndStep], steps_b: list[_EndStep]
) -> LanePath:
    """The lane's points from the a-end to the b-end: a-end excursion, sweep, b-end excursion."""
    out_a, flags_a = _excursion(xa, y, oa, steps_a)
    out_b, flags_b = _excursion(xb, y, ob, steps_b)
    pts = [*out_a[::-1], (xa, y), (xb, y), *out_b]
    flags = [*flags_a[::-1], True, *flags_b]
    keep = [i for i in range(1, len(pts)) if pts[i] != pts[i - 1]]
    return LanePath(
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
