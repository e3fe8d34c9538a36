"""Short visiting orders: exact for a few points, else nearest neighbour, 2-opt and or-opt.

Used to order broadcast hover points, grids in a multi-grid flight and anything else that is a
set of places to visit from home. Up to ``EXACT_MAX_POINTS`` the order is optimal (Held-Karp);
beyond, the local search lands within a few per cent of optimal. The same input always gives the
same order: ties are broken by index and no randomness is used.

Every variant is reduced to one problem, a path with fixed first and last node: a closed tour
from home is a path home -> ... -> home, and a free end is a dummy node at distance 0 from all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

XY = tuple[float, float]
FloatArray = npt.NDArray[np.float64]

_EPS = 1e-9
_MAX_PASSES = 50


def tour_length_m(
    points: Sequence[XY], order: Sequence[int], *, start: XY | None = None, end: XY | None = None
) -> float:
    """Euclidean length of visiting ``points`` in ``order``, from ``start`` and to ``end`` if given."""
    seq: list[XY] = []
    if start is not None:
        seq.append(start)
    seq.extend(points[i] for i in order)
    if end is not None:
        seq.append(end)
    arr = np.asarray(seq, dtype=np.float64).reshape(-1, 2)
    if len(arr) < 2:
        return 0.0
    return float(np.hypot(*np.diff(arr, axis=0).T).sum())


def order_points(
    points: Sequence[XY],
    *,
    start: XY | None = None,
    end: XY | None = None,
) -> tuple[int, ...]:
    """Indices of ``points`` in a short visiting order.

    With ``start`` and ``end`` both set to home this is a closed tour from home; either may be
    ``None`` for a free end (the path then starts or ends wherever is shortest).
    """
    n = len(points)
    if n == 0:
        return ()
    pts = np.asarray(points, dtype=np.float64).reshape(n, 2)
    dist = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    return order_by_matrix(dist, _distances_from(pts, start), _distances_from(pts, end))


def _distances_from(pts: FloatArray, anchor: XY | None) -> FloatArray | None:
    if anchor is None:
        return None
    return np.asarray(np.hypot(pts[:, 0] - anchor[0], pts[:, 1] - anchor[1]), dtype=np.float64)


def order_by_matrix(
    dist: FloatArray,
    from_start: FloatArray | None = None,
    to_end: FloatArray | None = None,
) -> tuple[int, ...]:
    """Order for a symmetric distance matrix; ``from_start`` / ``to_end`` are the fixed ends' costs.

    Lets callers order by routed (obstacle-avoiding) distances rather than straight lines.
    """
    n = dist.shape[0]
    if dist.shape != (n, n):
        raise ValueError("distance matrix must be square")
    if n == 0:
        return ()
    m = n + 2
    full = np.zeros((m, m), dtype=np.float64)
    full[1 : n + 1, 1 : n + 1] = dist
    if from_start is not None:
        full[0, 1 : n + 1] = from_start
        full[1 : n + 1, 0] = from_start
    if to_end is not None:
        full[m - 1, 1 : n + 1] = to_end
        full[1 : n + 1, m - 1] = to_end
    path = _exact_path(full) if n <= EXACT_MAX_POINTS else _improve(full, _nearest_neighbour(full))
    return tuple(int(i) - 1 for i in path[1:-1])


EXACT_MAX_POINTS = 8
"""Up to this many points the order is exact (Held-Karp, a few ms); local search can stall 10-15 %
above optimal on small awkward layouts, which is exactly where an operator notices."""


def _exact_path(dist: FloatArray) -> list[int]:
    """Shortest path from node 0 through every interior node to node m-1 (Held-Karp DP)."""
    m = dist.shape[0]
    n = m - 2
    full_mask = (1 << n) - 1
    d = dist.tolist()
    # best[mask][k]: shortest path from 0 visiting the interior nodes in mask, ending at interior k.
    best: list[dict[int, tuple[float, int]]] = [{} for _ in range(1 << n)]
    for k in range(n):
        best[1 << k][k] = (d[0][k + 1], -1)
    for mask in range(1, 1 << n):
        for k, (cost, _) in best[mask].items():
            for nxt in range(n):
                bit = 1 << nxt
                if mask & bit:
                    continue
                new_cost = cost + d[k + 1][nxt + 1]
                entry = best[mask | bit].get(nxt)
                if entry is None or new_cost < entry[0] - _EPS:
                    best[mask | bit][nxt] = (new_cost, k)
    last = min(range(n), key=lambda k: (best[full_mask][k][0] + d[k + 1][m - 1], k))
    order: list[int] = []
    mask, k = full_mask, last
    while k != -1:
        order.append(k + 1)
        prev = best[mask][k][1]
        mask &= ~(1 << k)
        k = prev
    return [0, *reversed(order), m - 1]


def _nearest_neighbour(dist: FloatArray) -> list[int]:
    m = dist.shape[0]
    unvisited = np.ones(m, dtype=bool)
    unvisited[0] = unvisited[m - 1] = False
    path = [0]
    current = 0
    for _ in range(m - 2):
        row = np.where(unvisited, dist[current], np.inf)
        current = int(np.argmin(row))  # first minimum: ties go to the lowest index
        unvisited[current] = False
        path.append(current)
    path.append(m - 1)
    return path


def _improve(dist: FloatArray, path: list[int]) -> list[int]:
    """2-opt and or-opt until neither helps (fixed first and last node)."""
    for _ in range(_MAX_PASSES):
        changed = _two_opt(dist, path)
        changed = _or_opt(dist, path) or changed
        if not changed:
            break
    return path


def _two_opt(dist: FloatArray, path: list[int]) -> bool:
    """Reverse interior segments path[i..j] while that shortens the path; True if it did."""
    m = len(path)
    changed = False
    improved = True
    while improved:
        improved = False
        p = np.asarray(path)
        for i in range(1, m - 2):
            a, b = p[i - 1], p[i]
            js = np.arange(i + 1, m - 1)
            c, d = p[js], p[js + 1]
            delta = dist[a, c] + dist[b, d] - dist[a, b] - dist[c, d]
            k = int(np.argmin(delta))
            if delta[k] < -_EPS:
                j = int(js[k])
                path[i : j + 1] = path[i : j + 1][::-1]
                improved = changed = True
                break
    return changed


def _or_opt(dist: FloatArray, path: list[int]) -> bool:
    """Move runs of 1-3 interior nodes (either way round) to a better place; True if any moved."""
    changed = False
    improved = True
    while improved:
        improved = False
        m = len(path)
        for seg_len in (1, 2, 3):
            for i in range(1, m - seg_len):
                j = i + seg_len - 1  # run is path[i..j]
                if j >= m - 1:
                    break
                prev, nxt = path[i - 1], path[j + 1]
                first, last = path[i], path[j]
                removed = dist[prev, first] + dist[last, nxt] - dist[prev, nxt]
                rest = path[:i] + path[j + 1 :]
                r = np.asarray(rest)
                u, v = r[:-1], r[1:]
                base = dist[u, v]
                fwd = dist[u, first] + dist[last, v] - base
                rev = dist[u, last] + dist[first, v] - base
                best_fwd, best_rev = int(np.argmin(fwd)), int(np.argmin(rev))
                gain_fwd = removed - fwd[best_fwd]
                gain_rev = removed - rev[best_rev]
                if max(gain_fwd, gain_rev) <= _EPS:
                    continue
                run = path[i : j + 1]
                if gain_rev > gain_fwd + _EPS:
                    pos, run = best_rev, run[::-1]
                else:
                    pos = best_fwd
                path[:] = rest[: pos + 1] + run + rest[pos + 1 :]
                improved = changed = True
                break
            if improved:
                break
    return changed
