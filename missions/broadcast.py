"""Hover points from which an airborne loudspeaker reaches every part of a grid.

Audibility: spherical spreading from the speaker's level at 1 m, ``L(d) = L1 - 20·log10(d)``;
the message counts as heard where ``L(d) >= ambient + margin``, i.e. up to the slant range
``d_max = 10^((L1 - ambient - margin) / 20)``. Hovering at ``alt`` the ground disc has the
horizontal radius ``sqrt(d_max² - alt²)``. Air absorption and buildings are ignored: the margin
is there to absorb them (a measured ``Speaker.audible_radius_m`` replaces the model).

Placement is a disc-covering problem. The best regular covering of the plane is the hexagonal
lattice at spacing ``r·sqrt(3)``; each point then serves one hexagon of area ``2.598·r²``
(``pi·r²·0.827``), which gives the lower bound ``area / (pi·r²·0.827)`` reported as the ratio's
denominator. Only the boundary is wasteful, so the work goes there:

1. Lattices are scored on a raster of sample points: a hexagonal lattice at several rotations
   (the area's own axis among them) and offsets, scored by how many lattice cells hold samples
   once the smallest cells that fit in the uncovered-area budget are dropped; for long thin
   areas also single- and multi-row "band" lattices along the long axis, which beat any
   hexagonal lattice on a strip narrower than about three radii.
2. The best few are finished: points that cannot be used (disc reaches a quiet zone, position
   not allowed) are dropped, points whose loss keeps coverage above the target are removed
   greedily (least unique coverage first), and uncovered spots are repaired by adding the
   allowed position that covers most of them, until the target is met.
3. The result is checked with real geometry (discs as inscribed 64-gons, so it errs low) and
   repaired further if the raster was optimistic: first on the raster with a stricter target,
   then, because slivers between discs and along edges can be finer than the raster's step, on
   the uncovered pieces themselves: a hover point is added (permitted, nearest permitted
   position when restricted) where its disc covers the most uncovered area, until the target
   is met or no position gains anything; a shortfall left then is what ``coverage_pct`` reports.
4. A last local search tries to do with one point fewer, and again while it succeeds: drop one of
   the few points with the least unique coverage and let the others move by a pattern search
   (each point in turn steps in eight directions, halving the step from r/2 to r/16, and takes
   the step that covers the most samples no other point covers). A smaller layout is kept only
   when it meets the target with the real geometry too. The work is bounded by counts (trials,
   steps, sweeps), never by the clock, so the result stays deterministic.

Spots that no permitted hover point can reach (next to quiet zones) are excluded from the target
and reported as ``uncovered_quiet_pct``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from missions.profile import Speaker
from missions.tour import order_points

G = TypeVar("G", bound=BaseGeometry)
XY = tuple[float, float]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

HEX_DENSITY = 0.827  # share of a disc's area in its hexagon: 3·sqrt(3)/(2·pi)
DISC_QUAD_SEGS = 16  # 64-gon discs for the geometric check
_RASTER_SLACK_PCT = 0.3  # the raster aims this much higher than the geometric target
_MAX_SAMPLES = 20000
_MIN_SAMPLES = 2500
_SAMPLES_PER_DISC = 60
_HEX_ROTATIONS = 4  # rotations tried over the lattice's 60 degree symmetry
_HEX_OFFSETS = 3  # offsets tried per lattice axis
_FINISH_BEST = 3  # lattices carried through removal and repair
_REPAIR_CANDIDATES = 600
_RELAX_STEPS = 12
_HEX_STRETCH = (1.0, 1.04)  # lattice spacings tried, as multiples of the covering spacing
_BAND_STRETCH = (1.0, 1.04, 1.08)
_BAND_MAX_WIDTH_R = 4.0  # band lattices are tried on areas narrower than this many radii
_DROP_TRIALS = 3  # points tried for removal per round of the last local search
_DROP_STEPS = (0.5, 0.25, 0.125, 0.0625)  # its pattern-search step lengths, in radii
_DROP_SWEEPS = 8  # sweeps over all points per step length, at most
# A trial ends when more than this share of the samples beyond the budget is still uncovered after
# the first (second) step length; on the benchmark shapes every trial that succeeded was within
# 2.8 % (1.0 %) there.
_DROP_HOPELESS = (0.05, 0.025)
_GEO_REPAIR_POINTS = 64  # hover points the geometric repair may add, at most
_GEO_REPAIR_PIECES = 48  # uncovered pieces (largest first) that seed its candidate positions
_GEO_REPAIR_REACH = (0.0, 0.35, 0.7)  # candidate offsets from a piece, in radii
_DIRECTIONS = np.array(
    [[math.cos(k * math.pi / 4.0), math.sin(k * math.pi / 4.0)] for k in range(8)], dtype=np.float64
)


def audible_radius_m(speaker: Speaker, hover_alt_m: float) -> float:
    """Horizontal radius on the ground within which the speaker is heard from ``hover_alt_m``."""
    if speaker.audible_radius_m is not None:
        return speaker.audible_radius_m
    if not math.isfinite(hover_alt_m) or hover_alt_m < 0.0:
        raise ValueError(f"hover_alt_m must be finite and >= 0, got {hover_alt_m!r}")
    excess_db = speaker.level_db_at_1m - speaker.ambient_db - speaker.min_margin_db
    slant_m = 10.0 ** (excess_db / 20.0)
    if slant_m <= hover_alt_m:
        raise ValueError(
            f"speaker is inaudible on the ground from {hover_alt_m:g} m: its level falls to "
            f"ambient + margin ({speaker.ambient_db + speaker.min_margin_db:g} dB) at {slant_m:.1f} m"
        )
    return math.sqrt(slant_m * slant_m - hover_alt_m * hover_alt_m)


def lower_bound_points(area_m2: float, radius_m: float) -> float:
    """Hover points a perfect hexagonal covering would need: ``area / (pi·r²·0.827)``."""
    return area_m2 / (math.pi * radius_m * radius_m * HEX_DENSITY)


@dataclass(frozen=True, slots=True)
class BroadcastLayout:
    """Hover points (tour order from home when given) and how well their discs cover the area."""

    points: tuple[XY, ...]
    radius_m: float
    covered: BaseGeometry  # union of the discs clipped to the area
    coverage_pct: float  # covered area / area
    coverable_pct: float  # share of the area some permitted hover point can reach
    uncovered_quiet_pct: float  # 100 - coverable_pct: lost to quiet zones (and forbidden positions)
    lower_bound: float
    points_ratio: float  # len(points) / lower_bound


@dataclass(frozen=True, slots=True)
class _Raster:
    xy: FloatArray  # (S, 2) sample points inside the area that some permitted point can reach


def place_broadcast_points(
    area: Polygon | MultiPolygon,
    radius_m: float,
    *,
    quiet: BaseGeometry | None = None,
    allowed: BaseGeometry | None = None,
    home_xy: XY | None = None,
    target_pct: float = 99.0,
) -> BroadcastLayout:
    """Place hover points whose ``radius_m`` discs cover ``area`` (local metres).

    ``quiet``: no disc may reach it. ``allowed``: where hover points may be (None: anywhere).
    ``home_xy``: order the points as a closed tour from there.
    """
    if not math.isfinite(radius_m) or radius_m <= 0.0:
        raise ValueError(f"radius_m must be finite and > 0, got {radius_m!r}")
    if not 0.0 < target_pct <= 100.0:
        raise ValueError(f"target_pct must be in (0, 100], got {target_pct!r}")
    if area.is_empty or area.area <= 0.0:
        raise ValueError("area is empty")
    r = radius_m
    # Work around the area's own origin: the distance maths below loses precision on raw UTM
    # coordinates (millions of metres).
    cx, cy = (float(v) for v in area.centroid.coords[0])
    area = _shift(area, -cx, -cy)
    quiet = None if quiet is None else _shift(quiet, -cx, -cy)
    allowed = None if allowed is None else _shift(allowed, -cx, -cy)
    permitted = _permitted_region(area, r, quiet, allowed)
    coverable = _coverable(area, r, permitted)
    raster = _raster(area, coverable, r)

    target_raster = min(100.0, target_pct + _RASTER_SLACK_PCT)
    points = _single_point(coverable, r, permitted)
    if points is None:
        best: list[XY] | None = None
        for lattice in _candidate_lattices(area, r, raster):
            pts = _finish(lattice, r, raster, permitted, target_raster)
            if best is None or len(pts) < len(best):
                best = pts
            if len(best) <= 1:
                break
        assert best is not None
        points = _tighten(best, r, raster, permitted, target_raster)
    area_m2 = float(area.area)
    coverable_m2 = float(coverable.area)
    covered = _covered(area, points, r)
    # The raster can be optimistic at the edges: tighten it until the geometry agrees.
    while _pct(covered.area, coverable_m2) < target_pct and target_raster < 100.0:
        target_raster = min(100.0, target_raster + 0.3)
        points = _repair(points, r, raster, permitted, target_raster)
        covered = _covered(area, points, r)
    # Even a fully covered raster can leave slivers between discs finer than its step: add points
    # where the real geometry is still uncovered.
    points, covered = _repair_geometry(area, coverable, points, covered, r, permitted, target_pct)
    if _pct(covered.area, coverable_m2) >= target_pct:
        points, covered = _drop_points(
            area, points, covered, r, raster, permitted, target_raster, (target_pct, coverable_m2)
        )
    points = [(x + cx, y + cy) for x, y in points]
    if home_xy is not None and points:
        order = order_points(points, start=home_xy, end=home_xy)
        points = [points[i] for i in order]
    lower = lower_bound_points(area_m2, r)
    coverable_pct = _pct(coverable_m2, area_m2)
    return BroadcastLayout(
        points=tuple(points),
        radius_m=r,
        covered=_shift(covered, cx, cy),
        coverage_pct=_pct(covered.area, area_m2),
        coverable_pct=coverable_pct,
        uncovered_quiet_pct=_noise_to_zero(100.0 - coverable_pct),
        lower_bound=lower,
        points_ratio=len(points) / lower,
    )


def _shift(geom: G, dx_m: float, dy_m: float) -> G:
    return cast(G, shapely.transform(geom, lambda c: c + np.array([dx_m, dy_m])))


def _noise_to_zero(pct: float) -> float:
    """Overlay round-off leaves ~1e-12 % where nothing is lost: report that as 0."""
    return pct if pct > 1e-6 else 0.0


def _pct(part: float, whole: float) -> float:
    return 100.0 if whole <= 0.0 else min(100.0, 100.0 * float(part) / float(whole))


def _permitted_region(
    area: BaseGeometry, r: float, quiet: BaseGeometry | None, allowed: BaseGeometry | None
) -> BaseGeometry | None:
    """Where a hover point may be, or None for anywhere (no quiet zones, no restriction)."""
    if (quiet is None or quiet.is_empty) and allowed is None:
        return None
    region = allowed if allowed is not None else area.buffer(2.0 * r)
    if quiet is not None and not quiet.is_empty:
        # Circumscribed offset: the polygonised arcs must not let a disc graze the zone.
        reach_m = r / math.cos(math.pi / (4 * DISC_QUAD_SEGS))
        region = region.difference(quiet.buffer(reach_m, quad_segs=DISC_QUAD_SEGS))
    shapely.prepare(region)
    return region


def _coverable(area: Polygon | MultiPolygon, r: float, permitted: BaseGeometry | None) -> BaseGeometry:
    if permitted is None:
        return area
    # Shrink by a hair so spots reachable only at exactly r are not counted as reachable.
    reach = permitted.buffer(r * 0.999, quad_segs=DISC_QUAD_SEGS)
    return area.intersection(reach)


def _single_point(coverable: BaseGeometry, r: float, permitted: BaseGeometry | None) -> list[XY] | None:
    """One hover point at the centre of the smallest circle around the area, if that reaches it
    all: the common case of a loud speaker over a small grid, answered without any search."""
    if coverable.is_empty:
        return None
    if shapely.minimum_bounding_radius(coverable) > r:
        return None
    c = shapely.centroid(shapely.minimum_bounding_circle(coverable))
    x, y = float(c.x), float(c.y)
    if permitted is not None and not shapely.contains_xy(permitted, x, y):
        return None
    return [(x, y)]


def _raster(area: BaseGeometry, coverable: BaseGeometry, r: float) -> _Raster:
    area_m2 = float(area.area)
    wanted = max(_MIN_SAMPLES, _SAMPLES_PER_DISC * area_m2 / (math.pi * r * r))
    wanted = min(wanted, _MAX_SAMPLES)
    step = math.sqrt(area_m2 / wanted)
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx + step / 2.0, maxx, step)
    ys = np.arange(miny + step / 2.0, maxy, step)
    mx, my = np.meshgrid(xs, ys)
    gx, gy = mx.ravel(), my.ravel()
    inside = shapely.contains_xy(area, gx, gy)
    gx, gy = gx[inside], gy[inside]
    if coverable is not area:
        reach = shapely.contains_xy(coverable, gx, gy)
        gx, gy = gx[reach], gy[reach]
    return _Raster(np.column_stack([gx, gy]).astype(np.float64))


def _rotation(theta_rad: float) -> FloatArray:
    c, s = math.cos(theta_rad), math.sin(theta_rad)
    return np.array([[c, -s], [s, c]], dtype=np.float64)


def _hex_cells(
    samples: FloatArray, r: float, theta_rad: float, offset: FloatArray, reach_m: float
) -> tuple[npt.NDArray[np.int64], int]:
    """Id of the hexagonal lattice cell (nearest lattice point) of every sample, and how many
    samples are farther than ``reach_m`` from their lattice point (uncovered by the lattice)."""
    d = r * math.sqrt(3.0)
    row = 3.0 * r  # the hex lattice is two rectangular lattices (d x 3r), the second shifted
    local = (samples - offset) @ _rotation(theta_rad)  # rotate by -theta
    ia = np.round(local[:, 0] / d)
    ja = np.round(local[:, 1] / row)
    ib = np.round((local[:, 0] - d / 2.0) / d)
    jb = np.round((local[:, 1] - row / 2.0) / row)
    da = (local[:, 0] - ia * d) ** 2 + (local[:, 1] - ja * row) ** 2
    db = (local[:, 0] - ib * d - d / 2.0) ** 2 + (local[:, 1] - jb * row - row / 2.0) ** 2
    use_b = db < da
    i = np.where(use_b, ib, ia).astype(np.int64)
    j = np.where(use_b, jb, ja).astype(np.int64)
    sub = use_b.astype(np.int64)
    gap = int((np.minimum(da, db) > reach_m * reach_m).sum())
    return ((i + 100000) * 400000 + (j + 100000)) * 2 + sub, gap


def _hex_points(area: BaseGeometry, r: float, theta_rad: float, offset: FloatArray) -> FloatArray:
    """Lattice points within ``r`` of the area's bounding box."""
    d = r * math.sqrt(3.0)
    row = 1.5 * r
    minx, miny, maxx, maxy = area.bounds
    corners = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]]) - offset
    local = corners @ _rotation(theta_rad)
    lo = local.min(axis=0) - 2.0 * r
    hi = local.max(axis=0) + 2.0 * r
    js = np.arange(math.floor(lo[1] / row), math.ceil(hi[1] / row) + 1)
    pts: list[FloatArray] = []
    for j in js:
        shift = d / 2.0 if j % 2 else 0.0
        iss = np.arange(math.floor((lo[0] - shift) / d), math.ceil((hi[0] - shift) / d) + 1)
        pts.append(np.column_stack([iss * d + shift, np.full(len(iss), j * row)]))
    grid = np.vstack(pts)
    return np.asarray(grid @ _rotation(theta_rad).T + offset, dtype=np.float64)


def _score(cells: npt.NDArray[np.int64], budget: int) -> int:
    """Cells needed once the smallest cells that fit in the uncovered budget are dropped
    (-1 when the lattice alone already leaves more than the budget uncovered)."""
    if budget < 0:
        return -1
    _, counts = np.unique(cells, return_counts=True)
    counts.sort()
    dropped = int(np.searchsorted(np.cumsum(counts), budget, side="right"))
    return len(counts) - dropped


def _main_axis(area: BaseGeometry) -> tuple[float, float, float]:
    """(angle of the long axis in rad, length, width) of the minimum rotated rectangle."""
    rect = shapely.minimum_rotated_rectangle(area)
    coords = np.asarray(rect.exterior.coords)[:4]
    e1 = coords[1] - coords[0]
    e2 = coords[2] - coords[1]
    l1, l2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    long_edge = e1 if l1 >= l2 else e2
    return math.atan2(float(long_edge[1]), float(long_edge[0])), max(l1, l2), min(l1, l2)


def _candidate_lattices(area: Polygon | MultiPolygon, r: float, raster: _Raster) -> list[FloatArray]:
    samples = raster.xy
    if len(samples) == 0:
        return [np.empty((0, 2), dtype=np.float64)]
    budget = int((1.0 - 0.99) * len(samples))
    axis_rad, length_m, width_m = _main_axis(area)
    origin = np.asarray(area.bounds[:2], dtype=np.float64)
    scored: list[tuple[int, int, float, float, FloatArray]] = []
    k = 0
    for stretch in _HEX_STRETCH:
        d = r * math.sqrt(3.0) * stretch
        e1 = np.array([d, 0.0])
        e2 = np.array([d / 2.0, 1.5 * r * stretch])
        for rot in range(_HEX_ROTATIONS):
            theta = axis_rad + rot * (math.pi / 3.0) / _HEX_ROTATIONS
            for a in range(_HEX_OFFSETS):
                for b in range(_HEX_OFFSETS):
                    offset = origin + _rotation(theta) @ (e1 * a / _HEX_OFFSETS + e2 * b / _HEX_OFFSETS)
                    cells, gap = _hex_cells(samples, r * stretch, theta, offset, r)
                    score = _score(cells, budget - gap)
                    if score >= 0:
                        scored.append((score, k, stretch, theta, offset))
                    k += 1
    scored.sort(key=lambda t: (t[0], t[1]))
    lattices = [_hex_points(area, r * st, theta, offset) for _, _, st, theta, offset in scored[:_FINISH_BEST]]
    if width_m < _BAND_MAX_WIDTH_R * r:
        lattices.extend(_band_lattices(area, r, axis_rad, length_m, width_m))
    return lattices


def _band_lattices(
    area: BaseGeometry, r: float, axis_rad: float, length_m: float, width_m: float
) -> list[FloatArray]:
    """Rows of points along the long axis, each row covering a band ``width / rows`` wide.

    The in-row spacing is tried at exactly covering and slightly stretched: the stretched rows
    leave small gaps at the band edges that the uncovered budget may absorb.
    """
    rect = shapely.minimum_rotated_rectangle(area)
    centre = np.asarray(rect.centroid.coords[0], dtype=np.float64)
    out: list[FloatArray] = []
    for rows in range(1, math.ceil(_BAND_MAX_WIDTH_R) + 1):
        band_m = width_m / rows
        if band_m >= 2.0 * r * 0.98:
            continue
        for stretch in _BAND_STRETCH:
            spacing = 2.0 * math.sqrt(r * r - (band_m / 2.0) ** 2) * stretch
            count = max(1, math.ceil(length_m / spacing - 1e-9))
            along = (np.arange(count) - (count - 1) / 2.0) * spacing
            across = (np.arange(rows) - (rows - 1) / 2.0) * band_m
            ga, gc = np.meshgrid(along, across)
            local = np.column_stack([ga.ravel(), gc.ravel()])
            out.append(np.asarray(local @ _rotation(axis_rad).T + centre, dtype=np.float64))
    return out


def _dist2(points: FloatArray, samples: FloatArray) -> FloatArray:
    """Squared distances (points x samples) by |p|² + |s|² - 2·p·s: one matrix product, which is
    much faster than differences and exact enough on centred coordinates."""
    p2 = (points * points).sum(axis=1)
    s2 = (samples * samples).sum(axis=1)
    return np.asarray(p2[:, None] + s2[None, :] - 2.0 * (points @ samples.T), dtype=np.float64)


def _cover_matrix(points: FloatArray, samples: FloatArray, r: float) -> BoolArray:
    return np.asarray(_dist2(points, samples) <= r * r, dtype=np.bool_)


def _usable(points: FloatArray, permitted: BaseGeometry | None) -> FloatArray:
    if permitted is None or len(points) == 0:
        return points
    keep = shapely.contains_xy(permitted, points[:, 0], points[:, 1])
    return np.asarray(points[keep], dtype=np.float64)


def _finish(
    lattice: FloatArray, r: float, raster: _Raster, permitted: BaseGeometry | None, target_pct: float
) -> list[XY]:
    samples = raster.xy
    pts = _usable(lattice, permitted)
    if len(samples) == 0:
        return []
    cover = _cover_matrix(pts, samples, r)
    useful = cover.any(axis=1)
    pts, cover = pts[useful], cover[useful]
    pts, cover = _remove_redundant(pts, cover, _budget(len(samples), target_pct))
    return _repair([(float(x), float(y)) for x, y in pts], r, raster, permitted, target_pct)


def _budget(n_samples: int, target_pct: float) -> int:
    return math.floor(n_samples * (100.0 - target_pct) / 100.0)


def _remove_redundant(pts: FloatArray, cover: BoolArray, budget: int) -> tuple[FloatArray, BoolArray]:
    """Drop points, least unique coverage first, while the uncovered samples stay within budget."""
    count = cover.sum(axis=0)
    uncovered = int((count == 0).sum())
    alive = np.ones(len(pts), dtype=bool)
    while alive.any():
        unique = (cover & (count == 1)).sum(axis=1)
        unique = np.where(alive, unique, np.iinfo(np.int64).max)
        p = int(np.argmin(unique))
        if not alive[p] or uncovered + int(unique[p]) > budget:
            break
        alive[p] = False
        count = count - cover[p]
        uncovered += int(unique[p])
    return pts[alive], cover[alive]


def _repair(
    points: Sequence[XY], r: float, raster: _Raster, permitted: BaseGeometry | None, target_pct: float
) -> list[XY]:
    """Add points where most uncovered samples are until the target is met, then prune again."""
    samples = raster.xy
    if len(samples) == 0:
        return list(points)
    budget = _budget(len(samples), target_pct)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cover = _cover_matrix(pts, samples, r)
    added = False
    for _ in range(len(samples)):
        covered = cover.any(axis=0)
        holes = samples[~covered]
        if len(holes) <= budget:
            break
        cands = _repair_candidates(holes, r, permitted)
        if len(cands) == 0:
            break
        gain = _cover_matrix(cands, holes, r).sum(axis=1)
        if int(gain.max()) == 0:
            break
        best = cands[int(np.argmax(gain))]
        pts = np.vstack([pts, best])
        cover = np.vstack([cover, _cover_matrix(best[None, :], samples, r)])
        added = True
    if added:
        pts, cover = _remove_redundant(pts, cover, budget)
    return [(float(x), float(y)) for x, y in pts]


def _tighten(
    points: list[XY], r: float, raster: _Raster, permitted: BaseGeometry | None, target_pct: float
) -> list[XY]:
    """Drop one point at a time and let the rest spread out, while the target still holds.

    The spreading is the k-centre Lloyd step: every point serves the samples nearest to it and
    moves to the centre of their smallest enclosing circle, which is where it needs the least
    radius to cover them. This recovers most of what the lattice wastes along the boundary.
    """
    samples = raster.xy
    budget = _budget(len(samples), target_pct)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    while len(pts) > 1:
        cover = _cover_matrix(pts, samples, r)
        count = cover.sum(axis=0)
        unique = (cover & (count == 1)).sum(axis=1)
        trial = np.delete(pts, int(np.argmin(unique)), axis=0)
        relaxed = _relax(trial, r, samples, permitted, budget)
        if relaxed is None:
            break
        pts = relaxed
    return [(float(x), float(y)) for x, y in pts]


def _uncovered(pts: FloatArray, samples: FloatArray, r: float) -> int:
    return int((~_cover_matrix(pts, samples, r).any(axis=0)).sum())


def _relax(
    pts: FloatArray, r: float, samples: FloatArray, permitted: BaseGeometry | None, budget: int
) -> FloatArray | None:
    """Lloyd steps towards a layout leaving at most ``budget`` samples uncovered, or None."""
    for _ in range(_RELAX_STEPS):
        d2 = _dist2(samples, pts)
        if int((d2.min(axis=1) > r * r).sum()) <= budget:
            return pts
        nearest = np.argmin(d2, axis=1)
        order = np.argsort(nearest, kind="stable")
        labels = nearest[order]
        owners = np.unique(labels)
        hulls = shapely.multipoints(samples[order], indices=np.searchsorted(owners, labels))
        centres = shapely.get_coordinates(shapely.centroid(shapely.minimum_bounding_circle(hulls)))
        moved = pts.copy()
        moved[owners] = centres
        if permitted is not None:
            ok = shapely.contains_xy(permitted, moved[:, 0], moved[:, 1])
            moved[~ok] = pts[~ok]
        if np.allclose(moved, pts):
            break
        pts = moved
    return pts if _uncovered(pts, samples, r) <= budget else None


def _drop_points(
    area: BaseGeometry,
    points: list[XY],
    covered: BaseGeometry,
    r: float,
    raster: _Raster,
    permitted: BaseGeometry | None,
    target_raster: float,
    target: tuple[float, float],
) -> tuple[list[XY], BaseGeometry]:
    """Remove one point at a time while the others can spread out to cover for it (step 4 of the
    module docstring); returns the points and their clipped discs. ``target``: (percent, of how
    many m²), the geometric check every smaller layout must pass."""
    samples = raster.xy
    if len(points) <= 1 or len(samples) == 0:
        return points, covered
    budget = _budget(len(samples), target_raster)
    target_pct, coverable_m2 = target
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    while len(pts) > 1:
        cover = _cover_matrix(pts, samples, r)
        count = cover.sum(axis=0)
        unique = (cover & (count == 1)).sum(axis=1)
        for i in np.argsort(unique, kind="stable")[:_DROP_TRIALS]:
            trial = _spread(np.delete(pts, int(i), axis=0), r, samples, permitted, budget)
            if trial is None:
                continue
            trial_pts = [(float(x), float(y)) for x, y in trial]
            trial_covered = _covered(area, trial_pts, r)
            if _pct(trial_covered.area, coverable_m2) >= target_pct:
                pts, covered = trial, trial_covered
                break
        else:
            break
    return [(float(x), float(y)) for x, y in pts], covered


def _spread(
    pts: FloatArray, r: float, samples: FloatArray, permitted: BaseGeometry | None, budget: int
) -> FloatArray | None:
    """Pattern search for positions of ``pts`` leaving at most ``budget`` samples uncovered, or None.

    Each point in turn tries a step in eight directions and takes the one that covers the most
    samples no other point covers, if that beats where it is; the step halves when a sweep over
    all points changes nothing (or after ``_DROP_SWEEPS`` sweeps).
    """
    pts = pts.copy()
    r2 = r * r
    sx = np.ascontiguousarray(samples[:, 0])
    sy = np.ascontiguousarray(samples[:, 1])
    # Coverage counts with the same arithmetic as the steps below, so that the bookkeeping of a
    # sample right on a disc's edge cannot drift.
    count = np.zeros(len(samples), dtype=np.int32)
    for x, y in pts:
        count += (sx - x) ** 2 + (sy - y) ** 2 <= r2
    uncovered = int((count == 0).sum())
    for level, step_r in enumerate(_DROP_STEPS):
        if uncovered <= budget:
            return pts
        if 0 < level <= len(_DROP_HOPELESS) and uncovered > budget + _DROP_HOPELESS[level - 1] * len(samples):
            return None
        step = step_r * r
        near2 = (r + step) ** 2
        offsets = step * _DIRECTIONS
        for _ in range(_DROP_SWEEPS):
            moved = False
            for j in range(len(pts)):
                dj = (sx - pts[j, 0]) ** 2 + (sy - pts[j, 1]) ** 2
                mine = dj <= r2
                # Samples no other point covers and a step can reach: all a step can win or lose.
                free = np.flatnonzero((count == mine) & (dj <= near2))
                if len(free) == 0:
                    continue
                held = int(np.count_nonzero(mine[free]))
                cands = pts[j] + offsets
                if permitted is not None:
                    cands = cands[shapely.contains_xy(permitted, cands[:, 0], cands[:, 1])]
                    if len(cands) == 0:
                        continue
                fx, fy = sx[free], sy[free]
                gain = np.count_nonzero(
                    (fx[None, :] - cands[:, 0:1]) ** 2 + (fy[None, :] - cands[:, 1:2]) ** 2 <= r2, axis=1
                )
                best = int(np.argmax(gain))
                if int(gain[best]) > held:
                    x, y = cands[best]
                    count += (sx - x) ** 2 + (sy - y) ** 2 <= r2
                    count -= mine
                    uncovered -= int(gain[best]) - held
                    pts[j] = cands[best]
                    moved = True
            if uncovered <= budget or not moved:
                break
    return pts if uncovered <= budget else None


def _repair_candidates(holes: FloatArray, r: float, permitted: BaseGeometry | None) -> FloatArray:
    """Positions worth trying: the uncovered samples, points up to 0.7 r from them and, where
    hover points are restricted, the nearest permitted position to each."""
    step = max(1, len(holes) // (_REPAIR_CANDIDATES // 8))
    base = holes[::step]
    ring = [base]
    for k in range(6):
        ang = k * math.pi / 3.0
        ring.append(base + 0.7 * r * np.array([math.cos(ang), math.sin(ang)]))
    if permitted is not None:
        ring.append(_nearest_permitted(base, permitted))
    return _usable(np.vstack(ring), permitted)


def _nearest_permitted(xy: FloatArray, permitted: BaseGeometry) -> FloatArray:
    """The permitted position nearest to each of ``xy``, moved 1 cm inside the region (the nearest
    point itself lies on its edge, where the containment test may go either way)."""
    near = shapely.get_coordinates(shapely.shortest_line(permitted, shapely.points(xy)))[0::2]
    away = near - xy
    norm = np.hypot(away[:, 0], away[:, 1])[:, None]
    return np.asarray(near + np.divide(away, norm, out=np.zeros_like(away), where=norm > 0) * 0.01)


def _repair_geometry(
    area: BaseGeometry,
    coverable: BaseGeometry,
    points: list[XY],
    covered: BaseGeometry,
    r: float,
    permitted: BaseGeometry | None,
    target_pct: float,
) -> tuple[list[XY], BaseGeometry]:
    """Add hover points, one at a time, where the most of the still uncovered area is, until the
    real geometry meets the target (step 3 of the module docstring).

    The raster cannot see slivers narrower than its step (between neighbouring discs, along the
    edges), so this works on the uncovered pieces themselves: candidates sit on the largest
    pieces and around them (and at the nearest permitted position when hover points are
    restricted), and the one whose disc covers the most uncovered area wins. Bounded by
    ``_GEO_REPAIR_POINTS``; if no candidate gains any more area the shortfall is reported as is.
    """
    coverable_m2 = float(coverable.area)
    pts = list(points)
    for _ in range(_GEO_REPAIR_POINTS):
        if _pct(covered.area, coverable_m2) >= target_pct:
            break
        gaps = coverable.difference(covered)
        pieces = sorted(shapely.get_parts(gaps), key=lambda g: -float(g.area))[:_GEO_REPAIR_PIECES]
        seeds = shapely.get_coordinates(shapely.point_on_surface(np.asarray(pieces, dtype=object)))
        cands = _geometry_candidates(seeds, r, permitted)
        if len(cands) == 0:
            break
        discs = shapely.buffer(shapely.points(cands), r, quad_segs=DISC_QUAD_SEGS)
        gain = shapely.area(shapely.intersection(discs, gaps))
        best = int(np.argmax(gain))
        if float(gain[best]) <= 0.0:
            break
        pts.append((float(cands[best, 0]), float(cands[best, 1])))
        covered = shapely.union(covered, shapely.intersection(discs[best], area))
    return pts, covered


def _geometry_candidates(seeds: FloatArray, r: float, permitted: BaseGeometry | None) -> FloatArray:
    """Positions on and around the seed points (six directions per offset), permitted ones only,
    plus the nearest permitted position to each seed."""
    ring = [seeds]
    for reach in _GEO_REPAIR_REACH[1:]:
        for k in range(6):
            ang = k * math.pi / 3.0
            ring.append(seeds + reach * r * np.array([math.cos(ang), math.sin(ang)]))
    if permitted is not None:
        ring.append(_nearest_permitted(seeds, permitted))
    return _usable(np.vstack(ring), permitted)


def _covered(area: BaseGeometry, points: Sequence[XY], r: float) -> BaseGeometry:
    if not points:
        return Polygon()
    discs = shapely.buffer(shapely.points(np.asarray(points, dtype=np.float64)), r, quad_segs=DISC_QUAD_SEGS)
    return shapely.union_all(discs).intersection(area)
