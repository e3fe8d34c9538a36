"""Boustrophedon decomposition for the coverage planner (step 3 of ``missions.coverage``).

A region, rotated so lanes run along +x, is cut into y-monotone cells (each lane crosses a cell
once) at the critical heights where its cross-section changes connectivity, and the cells are
grown greedily upward. This is the one part of the planner that reasons about topology, so it
stands apart from lane layout (``missions.coverage_lanes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from missions.coverage_geometry import F64

_EXTREMAL_TOL_M = 1e-3  # vertical features smaller than this do not split cells
_CRITICAL_MERGE_M = 5e-3  # critical heights closer than this form one cluster
_SLAB_EPS_M = 1e-3  # slabs stop this short of critical clusters so pieces never touch
_MIN_PIECE_M2 = 1e-3  # slab pieces below this area are numerical dust


@dataclass(frozen=True, slots=True)
class CellGeom:
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


def decompose(poly: Polygon, clip_rot: BaseGeometry | None) -> list[CellGeom]:
    """Split a rotated polygon into y-monotone cells (boustrophedon decomposition)."""
    minx, miny, maxx, maxy = poly.bounds
    rings = [np.asarray(poly.exterior.coords)[:-1]] + [np.asarray(r.coords)[:-1] for r in poly.interiors]
    extremal = [_extremal_ys(r) for r in rings]
    if len(rings) == 1 and len(extremal[0]) <= 2:
        return [CellGeom(np.array([poly], dtype=object), np.array([miny]), np.array([maxy]))]
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
    return [CellGeom(parts[idx], piece_lo[idx], piece_hi[idx]) for idx in (np.array(m) for m in members)]
