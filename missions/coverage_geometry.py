"""Geometry shared by the coverage planner's modules (``missions.coverage`` and its helpers).

Polygon parts of overlay results, the rotated frame in which lanes run along +x, ring edges, and
``Context``: the forbidden space (holes and buffered obstacles) in the forms the planner queries,
prepared once per plan. They live apart from ``missions.coverage`` so that the cell, lane,
direction and ordering modules can share them without an import cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.routing import conservative_buffer

F64 = npt.NDArray[np.float64]
G = TypeVar("G", bound=BaseGeometry)

_CLIP_MARGIN_M = 0.01  # sweeps and turnarounds stop this short of forbidden space
_ENTER_TOL_M = 1e-3  # a leg enters forbidden space only if it gets this deep inside
ROUGH_SIMPLIFY = 0.01  # outline tolerance (fraction of a swath) for costing legs


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The polygons of any geometry, dropping lines and points that overlays leave behind."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty and geom.area > 0.0 else []
    parts: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        parts.extend(polygons_of(part))
    return parts


def rotate_geom(geom: G, theta_rad: float) -> G:
    """Rotate by -theta so that the direction theta becomes +x (lanes run along x)."""
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    matrix = np.array([[c, -s], [s, c]])
    result: G = shapely.transform(geom, lambda xy: xy @ matrix)
    return result


def unrotate(points: F64, theta_rad: float) -> F64:
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    matrix = np.array([[c, s], [-s, c]])
    out: F64 = points @ matrix
    return out


def ring_edges(poly: Polygon) -> tuple[F64, F64]:
    starts, ends = [], []
    for ring in [poly.exterior, *poly.interiors]:
        c = np.asarray(ring.coords)
        starts.append(c[:-1])
        ends.append(c[1:])
    return np.concatenate(starts), np.concatenate(ends)


@dataclass(frozen=True, slots=True)
class Context:
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
    ) -> Context:
        no_edges = (np.empty((0, 2)), np.empty((0, 2)))
        if forbidden.is_empty:
            return cls(swath_m, turnaround_m, forbidden, forbidden_all, None, None, None, no_edges)
        clip = conservative_buffer(forbidden, _CLIP_MARGIN_M)
        core = forbidden.buffer(-_ENTER_TOL_M, join_style="mitre")
        # Leg costs only rank orders, so a coarser outline (fewer vertices) is plenty.
        rough = forbidden.simplify(ROUGH_SIMPLIFY * swath_m)
        for g in (clip, core, rough):
            shapely.prepare(g)
        if core.is_empty:
            return cls(swath_m, turnaround_m, forbidden, forbidden_all, clip, None, None, no_edges)
        edges = [ring_edges(p) for p in polygons_of(rough)]
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
