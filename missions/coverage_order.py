"""Cell order and connecting legs for the coverage planner (steps 5 and 7 of ``missions.coverage``).

Cells in flight form (the local frame, four ways to fly each), their order and variants chosen
together (Held-Karp for a few cells, nearest neighbour plus 2-opt and single-cell moves for
many), and the assembly of the ordered cells into one path whose legs are routed round
forbidden space with ``geofences.routing``. Only this module knows about flight order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from geofences.routing import Router
from missions.coverage_geometry import F64, Context, polygons_of, unrotate
from missions.coverage_lanes import LanePath

_EXACT_ORDER_MAX_CELLS = 8
_MAX_ORDER_MOVES = 4  # improving moves per cell, at most, when ordering many cells


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell's lanes in the shifted local frame, with its four ways to be flown.

    Variant v: bottom lane first when v < 2 (else top first); first lane flown a->b when v is
    even (else b->a); lanes alternate.
    """

    paths: tuple[LanePath, ...]
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


def make_cell(paths_rot: Sequence[LanePath], theta_rad: float, ctx: Context) -> Cell:
    paths = tuple(LanePath(unrotate(p.pts, theta_rad), p.sweep) for p in paths_rot)
    a_end = np.array([p.pts[0] for p in paths])
    b_end = np.array([p.pts[-1] for p in paths])
    base = float(sum(np.hypot(*np.diff(p.pts, axis=0).T).sum() for p in paths))
    side_a = np.hypot(*np.diff(a_end, axis=0).T) + ctx.penalties(a_end[:-1], a_end[1:])
    side_b = np.hypot(*np.diff(b_end, axis=0).T) + ctx.penalties(b_end[:-1], b_end[1:])
    n = len(paths)
    corners = np.array([a_end[0], b_end[0], a_end[-1], b_end[-1]])
    cell = Cell(paths, np.zeros(4), corners, np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
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


def order_cells(
    cells: Sequence[Cell], start: F64 | None, end: F64 | None, ctx: Context
) -> tuple[list[tuple[Cell, int]], float]:
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


def _order_costs(orders: npt.NDArray[np.int64], inner: F64, conn: F64, start_cost: F64, end_cost: F64) -> F64:
    """Cost of each cell order (rows) with its best variants, all orders at once (Viterbi)."""
    score = start_cost[orders[:, 0]] + inner[orders[:, 0]]  # (T, 4)
    for k in range(1, orders.shape[1]):
        prev, cur = orders[:, k - 1], orders[:, k]
        score = (score[:, :, None] + conn[prev, :, cur, :]).min(axis=1) + inner[cur]
    out: F64 = (score + end_cost[orders[:, -1]]).min(axis=1)
    return out


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


def assemble(
    order: Sequence[tuple[Cell, int]], area_s: BaseGeometry, ctx: Context
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
        obstacles = tuple(polygons_of(ctx.forbidden))
        # Corners exactly on the obstacles (no simplification): sweep ends sit 1 cm from them.
        bounded = Router(obstacles, hull.buffer(ctx.swath_m), simplify_m=0.0)
        unbounded: Router | None = None
        for k in blocked.tolist():
            a = (float(leg_from[k, 0]), float(leg_from[k, 1]))
            b = (float(leg_to[k, 0]), float(leg_to[k, 1]))
            route = bounded.path(a, b)
            if route is None:
                unbounded = unbounded or Router(tuple(polygons_of(ctx.forbidden_all)), None, simplify_m=0.0)
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
