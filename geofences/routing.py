"""Shortest obstacle-avoiding paths in the local metric frame (transits between sweeps and sorties).

A shortest path among polygonal obstacles bends only at obstacle corners that stick out into
free space, so the search runs over a visibility graph of those corners, found on a slightly
enlarged copy of each obstacle (grown by the clearance plus ``_NODE_MARGIN_M``), with Dijkstra.
Whether a straight leg is allowed is always decided on the original obstacles with an exact
distance test, never on the enlarged copies, so every returned path keeps ``clearance_m`` and
passes ``geofences.checks.check_route``; the enlarged copies only decide where the corners are.

The graph depends only on the obstacles, the boundary and the clearance, so ``Router`` builds it
once and answers many ``path(a, b)`` queries (a coverage plan asks for one per sweep change);
``shortest_path`` is the one-off form and caches recent routers.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from geofences.checks import polygon_parts

Point2 = tuple[float, float]
FloatArray = npt.NDArray[np.float64]

MITRE_LIMIT = 2.0
"""Mitred corners are cut off at twice the buffer distance: still outside the round buffer."""

DEFAULT_SIMPLIFY_M = 0.5
"""How far an obstacle may be grown to drop vertices (a 64-gon circle becomes ~16 corners)."""

_EDGE_MARGIN_M = 1e-3  # graph edges keep clearance + this from the obstacles ...
_NODE_MARGIN_M = 2e-3  # ... and graph corners sit at clearance + this (so edges between them fit)
_END_TOLERANCE_M = 1e-7  # an end point may lie this far inside the clearance (on a boundary)
_NEGLIGIBLE_M = 1e-9


def conservative_buffer(
    geom: BaseGeometry, distance_m: float, *, simplify_m: float = 0.0
) -> Polygon | MultiPolygon:
    """A polygonal buffer that contains every point within ``distance_m`` of ``geom``.

    Shapely's round buffer puts its arc vertices on the circle, so its chords cut up to
    d(1 - cos(pi/4q)) inside the true buffer: a sweep clipped with it can come closer than the
    clearance. Mitred joins follow the exact offset edges and cut corners off only beyond the
    circle, so they contain the true buffer. ``simplify_m`` drops vertices with Douglas-Peucker
    (which moves the outline by at most ``simplify_m``) and then grows the result by
    ``simplify_m`` again, so the simplified polygon still contains the exact buffer; when that
    would not drop a vertex (a mitred box stays four corners) the exact outline is kept.
    """
    if distance_m < 0.0 or simplify_m < 0.0:
        raise ValueError("distance_m and simplify_m must be >= 0")
    out = geom
    if distance_m > _NEGLIGIBLE_M:  # GEOS offsets of sub-nanometre distances are rounding noise
        out = geom.buffer(distance_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
    if simplify_m > 0.0:
        simplified = out.simplify(simplify_m, preserve_topology=True)
        if shapely.get_num_coordinates(simplified) < shapely.get_num_coordinates(out):
            out = simplified.buffer(simplify_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
    parts = polygon_parts(out)
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _corners(rings: Sequence[Any], *, convex: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Corners of counter-clockwise-oriented rings that turn left (``convex``) or right.

    Returns the corners and their previous and next ring vertices; the neighbours decide which
    graph edges can be part of a shortest path (they must be tangent to the ring at the corner).
    """
    nodes: list[FloatArray] = []
    prevs: list[FloatArray] = []
    nexts: list[FloatArray] = []
    for ring in rings:
        pts = np.asarray(ring.coords, dtype=np.float64)[:-1]
        if len(pts) < 3:
            continue
        prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
        a, b = pts - prev, nxt - pts
        turn = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        keep = turn > 0.0 if convex else turn < 0.0
        nodes.append(pts[keep])
        prevs.append(prev[keep])
        nexts.append(nxt[keep])
    if not nodes:
        empty = np.empty((0, 2), dtype=np.float64)
        return empty, empty, empty
    return np.concatenate(nodes), np.concatenate(prevs), np.concatenate(nexts)


def _tangent(node: FloatArray, prev: FloatArray, nxt: FloatArray, other: FloatArray) -> Any:
    """Whether the lines node->other leave the ring's neighbours on one side (vectorised)."""
    d = other - node
    s1 = d[..., 0] * (prev - node)[..., 1] - d[..., 1] * (prev - node)[..., 0]
    s2 = d[..., 0] * (nxt - node)[..., 1] - d[..., 1] * (nxt - node)[..., 0]
    return s1 * s2 >= 0.0


class _Blocker:
    """Obstacle parts in an STRtree, blocking what comes within ``distance_m`` of any of them.

    A tree of parts rather than one prepared union: most legs are near few obstacles, and the
    tree's envelope test rejects the rest without touching their vertices.
    """

    __slots__ = ("_distance_m", "_tree")

    def __init__(self, parts: Sequence[Polygon], distance_m: float) -> None:
        self._tree = STRtree(list(parts))
        self._distance_m = distance_m

    def blocked(self, geoms: Any) -> Any:
        if self._distance_m > 0.0:
            hits = self._tree.query(geoms, predicate="dwithin", distance=self._distance_m)
        else:
            hits = self._tree.query(geoms, predicate="intersects")
        out = np.zeros(len(geoms), dtype=bool)
        out[hits[0]] = True
        return out


class Router:
    """A visibility graph over fixed obstacles, a boundary and a clearance, for many queries.

    ``obstacles`` are polygons to keep ``clearance_m`` away from (non-convex and with holes is
    fine); ``boundary`` (optional) is the area to stay inside, e.g. the inclusion zone or the
    grid polygon with its holes. The clearance applies to obstacles only, not to the boundary.
    All in local metres.
    """

    __slots__ = (
        "_adjacency",
        "_boundary_edge",
        "_boundary_end",
        "_edge_blocker",
        "_end_blocker",
        "_grown",
        "_next",
        "_nodes",
        "_prev",
        "_shrunk_boundary",
    )

    def __init__(
        self,
        obstacles: Sequence[Polygon | MultiPolygon],
        boundary: Polygon | MultiPolygon | None = None,
        *,
        clearance_m: float = 0.0,
        simplify_m: float = DEFAULT_SIMPLIFY_M,
    ) -> None:
        if clearance_m < 0.0 or not math.isfinite(clearance_m):
            raise ValueError(f"clearance_m must be finite and >= 0, got {clearance_m}")
        parts = [p for o in obstacles for p in polygon_parts(o)]
        for p in parts:
            if not p.is_valid:
                raise ValueError(f"invalid obstacle polygon ({shapely.is_valid_reason(p)})")
        self._edge_blocker: _Blocker | None = None
        self._end_blocker: _Blocker | None = None
        if parts:
            self._edge_blocker = _Blocker(parts, clearance_m + _EDGE_MARGIN_M)
            # Legs from or to an end point may touch the clearance line itself (an end point
            # on it), so they are tested against slightly less than the clearance.
            end_distance_m = clearance_m - _END_TOLERANCE_M
            if end_distance_m > 0.0:
                self._end_blocker = _Blocker(parts, end_distance_m)
            else:
                shrunk = [
                    q
                    for p in parts
                    for q in polygon_parts(
                        p.buffer(end_distance_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
                    )
                ]
                self._end_blocker = _Blocker(shrunk, 0.0)
        self._boundary_edge: BaseGeometry | None = None
        self._boundary_end: BaseGeometry | None = None
        if boundary is not None:
            if not boundary.is_valid:
                raise ValueError(f"invalid boundary ({shapely.is_valid_reason(boundary)})")
            self._boundary_edge = boundary.buffer(
                -_EDGE_MARGIN_M, join_style="mitre", mitre_limit=MITRE_LIMIT
            )
            self._boundary_end = boundary.buffer(
                _END_TOLERANCE_M, join_style="mitre", mitre_limit=MITRE_LIMIT
            )
            shapely.prepare(self._boundary_edge)
            shapely.prepare(self._boundary_end)
        grown = shapely.union_all(
            [conservative_buffer(p, clearance_m + _NODE_MARGIN_M, simplify_m=simplify_m) for p in parts]
        )
        shrunk_boundary = (
            None
            if boundary is None
            else boundary.buffer(-_NODE_MARGIN_M, join_style="mitre", mitre_limit=MITRE_LIMIT)
        )
        # The outlines the corners come from: an end point strictly between them can use
        # tangency pruning (see _end_edges).
        self._grown = grown
        self._shrunk_boundary = shrunk_boundary
        shapely.prepare(grown)
        if shrunk_boundary is not None:
            shapely.prepare(shrunk_boundary)
        self._nodes, self._prev, self._next = self._graph_corners(grown, shrunk_boundary)
        self._adjacency = self._visibility()

    def _graph_corners(
        self, grown: BaseGeometry, shrunk_boundary: BaseGeometry | None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        rings_out: list[Any] = []  # free space outside: corners that turn left
        rings_in: list[Any] = []  # free space inside: corners that turn right
        for poly in polygon_parts(grown):
            poly = shapely.orient_polygons(poly)
            rings_out.extend([poly.exterior, *poly.interiors])
        if shrunk_boundary is not None:
            for poly in polygon_parts(shrunk_boundary):
                poly = shapely.orient_polygons(poly)
                rings_in.extend([poly.exterior, *poly.interiors])
        n_out, p_out, x_out = _corners(rings_out, convex=True)
        n_in, p_in, x_in = _corners(rings_in, convex=False)
        nodes = np.concatenate([n_out, n_in])
        prev = np.concatenate([p_out, p_in])
        nxt = np.concatenate([x_out, x_in])
        if len(nodes) == 0:
            return nodes, prev, nxt
        free = self._clear(shapely.points(nodes), end=False)
        return nodes[free], prev[free], nxt[free]

    def _clear(self, geoms: Any, *, end: bool) -> Any:
        """Which geometries keep the clearance and stay in the boundary (vectorised).

        Graph edges (``end=False``) must keep ``_EDGE_MARGIN_M`` more than the clearance; legs
        from or to an end point may use the clearance and boundary exactly (``end=True``).
        """
        ok = np.ones(len(geoms), dtype=bool)
        blocker = self._end_blocker if end else self._edge_blocker
        if blocker is not None:
            ok &= ~blocker.blocked(geoms)
        boundary = self._boundary_end if end else self._boundary_edge
        if boundary is not None:
            ok &= shapely.covers(boundary, geoms)
        return ok

    def _visibility(self) -> list[list[tuple[int, float]]]:
        n = len(self._nodes)
        adjacency: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        if n < 2:
            return adjacency
        i, j = np.triu_indices(n, k=1)
        nodes, prev, nxt = self._nodes, self._prev, self._next
        cand = _tangent(nodes[i], prev[i], nxt[i], nodes[j]) & _tangent(nodes[j], prev[j], nxt[j], nodes[i])
        i, j = i[cand], j[cand]
        if len(i) == 0:
            return adjacency
        lines = shapely.linestrings(np.stack([nodes[i], nodes[j]], axis=1))
        visible = self._clear(lines, end=False)
        lengths = np.hypot(*(nodes[j] - nodes[i]).T)
        for a, b, w in zip(i[visible].tolist(), j[visible].tolist(), lengths[visible].tolist(), strict=True):
            adjacency[a].append((b, w))
            adjacency[b].append((a, w))
        return adjacency

    def _end_edges(self, p: FloatArray) -> dict[int, float]:
        """Graph corners reachable in a straight leg from end point ``p``, with their distance.

        Legs that are not tangent at the corner are pruned as for graph edges, except for an
        end point on the clearance line: it lies inside the enlarged outline the corners come
        from, and its only way out can be a leg the tangency rule would drop.
        """
        if len(self._nodes) == 0:
            return {}
        cand = np.arange(len(self._nodes))
        point = shapely.points(p)
        outside_grown = not self._grown.intersects(point)
        if outside_grown and (self._shrunk_boundary is None or self._shrunk_boundary.contains(point)):
            cand = cand[_tangent(self._nodes, self._prev, self._next, p)]
        ends = np.broadcast_to(p, (len(cand), 2))
        lines = shapely.linestrings(np.stack([ends, self._nodes[cand]], axis=1))
        visible = cand[self._clear(lines, end=True)]
        lengths = np.hypot(*(self._nodes[visible] - p).T)
        return dict(zip(visible.tolist(), lengths.tolist(), strict=True))

    def path(self, a: Point2, b: Point2) -> tuple[Point2, ...] | None:
        """The shortest path from a to b (both included), or None when there is none.

        None also when a or b itself is inside an obstacle's clearance or outside the boundary.
        """
        pa = np.array([float(a[0]), float(a[1])], dtype=np.float64)
        pb = np.array([float(b[0]), float(b[1])], dtype=np.float64)
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            raise ValueError("path end points must be finite")
        start, goal = (float(pa[0]), float(pa[1])), (float(pb[0]), float(pb[1]))
        if not self._clear(shapely.points(np.stack([pa, pb])), end=True).all():
            return None
        direct = shapely.points(pa) if start == goal else shapely.linestrings([start, goal])
        if self._clear(np.array([direct], dtype=object), end=True)[0]:
            return (start, goal)
        from_a = self._end_edges(pa)
        to_b = self._end_edges(pb)
        if not from_a or not to_b:
            return None
        chain = self._dijkstra(from_a, to_b)
        if chain is None:
            return None
        corners = tuple((float(self._nodes[k][0]), float(self._nodes[k][1])) for k in chain)
        return (start, *corners, goal)

    def _dijkstra(self, from_a: dict[int, float], to_b: dict[int, float]) -> list[int] | None:
        """Corner indices of the shortest a -> corners -> b chain (deterministic on ties)."""
        n = len(self._nodes)
        goal = n  # a virtual node standing for b
        dist = [math.inf] * (n + 1)
        back = [-1] * (n + 1)
        heap: list[tuple[float, int]] = []
        for k, w in sorted(from_a.items()):
            dist[k] = w
            heapq.heappush(heap, (w, k))
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            if u == goal:
                break
            edges = self._adjacency[u]
            if u in to_b:
                edges = [*edges, (goal, to_b[u])]
            for v, w in edges:
                nd = d + w
                if nd < dist[v]:
                    dist[v] = nd
                    back[v] = u
                    heapq.heappush(heap, (nd, v))
        if math.isinf(dist[goal]):
            return None
        chain: list[int] = []
        u = back[goal]
        while u != -1:
            chain.append(u)
            u = back[u]
        chain.reverse()
        return chain


@lru_cache(maxsize=16)
def _cached_router(
    obstacles: tuple[Polygon, ...], boundary: Polygon | MultiPolygon | None, clearance_m: float
) -> Router:
    return Router(obstacles, boundary, clearance_m=clearance_m)


def shortest_path(
    a: Point2,
    b: Point2,
    *,
    obstacles: Sequence[Polygon],
    boundary: Polygon | MultiPolygon | None = None,
    clearance_m: float = 0.0,
) -> tuple[Point2, ...] | None:
    """The shortest polyline from a to b (both included) that keeps ``clearance_m`` from every
    obstacle and stays inside ``boundary``; None when there is none. Local metres.

    Recent obstacle sets are cached, so repeated calls with the same obstacles are cheap; hold a
    ``Router`` yourself when you have many queries.
    """
    return _cached_router(tuple(obstacles), boundary, clearance_m).path(a, b)
