"""Fence checks for planned routes, in the local metric frame.

Planners check thousands of legs per plan, so a ``PreparedFences`` is built once per plan: every
zone is projected to metres, inclusion zones are unioned, and shapes are prepared and indexed
(STRtree). ``check_route`` then tests all legs of a route with vectorised shapely calls and only
does the slow, exact work (where a leg goes wrong and by how much) for the few legs that fail the
fast test.

Semantics (what the planners rely on):

* A leg is the whole straight segment between two route points; its altitude changes linearly.
  Checking only the end points would miss a leg that cuts across an exclusion zone.
* The drone must stay inside the union of the inclusion zones (when there is any).
* Exclusion zones must be kept ``clearance_m`` away horizontally. An exclusion zone with an
  altitude band only forbids the part of the leg whose altitude lies inside the band (flying
  over a band that ends below is allowed); without a band it forbids every altitude.
* Inside inclusion zones, the altitude must be inside the band of at least one inclusion zone
  that contains the point (the same union rule as the horizontal shape).
* Every altitude must be at or below the fence set's ceiling.

Geometry is compared with a tolerance of ``GEOMETRY_TOLERANCE_M`` so that a leg that runs exactly
along a zone boundary (as routed paths and clipped sweeps do) is not reported for rounding noise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from geofences.frame import LocalFrame
from geofences.model import FenceSet, Zone, ZoneKind

GEOMETRY_TOLERANCE_M = 1e-6
"""Violations at most this deep are floating-point noise on a boundary, not violations."""

INCLUSION_CIRCLE_SEGMENTS = 64
"""Vertices of the polygon standing in for an inclusion circle (inscribed, so it errs inside)."""

_SAMPLE_STEP_M = 0.05  # spacing of the samples that measure how deep a leg goes wrong
_MAX_SAMPLES = 4096  # per leg, so a very long violating leg stays cheap (step grows instead)

_KIND_ORDER = {
    "above_ceiling": 0,
    "outside_inclusion": 1,
    "below_min_alt": 2,
    "above_max_alt": 3,
    "inside_exclusion": 4,
}

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalZone:
    """One polygon of a zone in local metres (a MultiPolygon zone gives one LocalZone per part)."""

    zone: Zone
    shape: Polygon


@dataclass(frozen=True, slots=True)
class FenceViolation:
    """One way a route leg breaks the fences.

    ``leg`` indexes the route's legs (leg i runs from point i to point i + 1; a one-point route
    has leg 0). ``zone_id`` is empty for the ceiling, which is not a zone. ``distance_m`` is how
    far the leg goes wrong: metres of penetration into an exclusion zone plus the clearance it
    should have kept, metres outside the inclusion area, or metres beyond an altitude limit.
    """

    leg: int
    zone_id: str
    kind: str  # "outside_inclusion", "inside_exclusion", "above_ceiling", "below_min_alt", "above_max_alt"
    distance_m: float
    message: str


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of a geometry (shapely results may be collections)."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygon_parts(g)]
    return []


def _zone_local_shape(zone: Zone, frame: LocalFrame) -> BaseGeometry:
    """The zone in metres, erring on the safe side for its kind.

    ``Zone.local_shape`` circumscribes circles, which is safe for everything that keeps the
    drone out or switches a payload off, but would let a route leave an inclusion circle; an
    inclusion circle is therefore inscribed instead (vertices on the circle).
    """
    if zone.kind == ZoneKind.INCLUSION and zone.circle is not None:
        cx, cy = frame.xy(zone.circle.lon_deg, zone.circle.lat_deg)
        return Point(cx, cy).buffer(zone.circle.radius_m, quad_segs=INCLUSION_CIRCLE_SEGMENTS // 4)
    return zone.local_shape(frame)


def _band(zone: Zone) -> tuple[float, float]:
    lo = -math.inf if zone.min_alt_m is None else zone.min_alt_m
    hi = math.inf if zone.max_alt_m is None else zone.max_alt_m
    return lo, hi


def _has_band(zone: Zone) -> bool:
    return zone.min_alt_m is not None or zone.max_alt_m is not None


class PreparedFences:
    """A fence set projected into a local frame, unioned, prepared and indexed for fast checks.

    Build one per plan (projection and indexing cost far more than a check) and share it between
    the planners' checks; it is immutable after construction.
    """

    __slots__ = (
        "_banded_inclusions",
        "_banded_tree",
        "_by_kind",
        "_ceiling_m",
        "_fences",
        "_frame",
        "_inclusion",
        "_trees",
        "_unbanded_inclusion",
    )

    def __init__(self, fences: FenceSet, frame: LocalFrame) -> None:
        local: list[LocalZone] = []
        for zone in fences.zones:
            shape = _zone_local_shape(zone, frame)
            if not shape.is_valid:
                raise ValueError(f"zone {zone.zone_id}: invalid polygon ({shapely.is_valid_reason(shape)})")
            local.extend(LocalZone(zone, part) for part in polygon_parts(shape))
        for lz in local:
            shapely.prepare(lz.shape)
        self._fences = fences
        self._frame = frame
        self._ceiling_m = fences.ceiling_m
        self._by_kind: dict[ZoneKind, tuple[LocalZone, ...]] = {
            kind: tuple(lz for lz in local if lz.zone.kind == kind) for kind in ZoneKind
        }
        self._trees: dict[ZoneKind, STRtree] = {
            kind: STRtree([lz.shape for lz in zones]) for kind, zones in self._by_kind.items()
        }
        inclusions = self._by_kind[ZoneKind.INCLUSION]
        self._inclusion = _union([lz.shape for lz in inclusions])
        self._banded_inclusions = tuple(lz for lz in inclusions if _has_band(lz.zone))
        self._banded_tree = STRtree([lz.shape for lz in self._banded_inclusions])
        self._unbanded_inclusion = _union([lz.shape for lz in inclusions if not _has_band(lz.zone)])

    @property
    def fences(self) -> FenceSet:
        return self._fences

    @property
    def frame(self) -> LocalFrame:
        return self._frame

    @property
    def inclusion(self) -> Polygon | MultiPolygon | None:
        """Union of all inclusion zones in local metres; None when the set has no inclusion zone."""
        return self._inclusion

    @property
    def exclusions(self) -> tuple[LocalZone, ...]:
        return self._by_kind[ZoneKind.EXCLUSION]

    @property
    def ceiling_m(self) -> float:
        return self._ceiling_m

    def of_kind(self, kind: ZoneKind) -> tuple[LocalZone, ...]:
        return self._by_kind[ZoneKind(kind)]

    def _tree(self, kind: ZoneKind) -> STRtree:
        return self._trees[ZoneKind(kind)]


def _union(shapes: list[Polygon]) -> Polygon | MultiPolygon | None:
    if not shapes:
        return None
    union = shapely.union_all(shapes)
    parts = polygon_parts(union)
    if not parts:
        return None
    result: Polygon | MultiPolygon = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    shapely.prepare(result)
    return result


def zones_touching(
    line_or_polygon_local: BaseGeometry,
    fences: PreparedFences,
    kind: ZoneKind,
    *,
    within_m: float = 0.0,
) -> tuple[LocalZone, ...]:
    """The zones of ``kind`` that the geometry touches or comes within ``within_m`` of.

    Planners use it to switch the camera off over no-photo zones and the speaker or sprayer off
    near quiet and no-spray zones; ``within_m`` is the earshot or drift distance. Zones come back
    in fence-set order, so plans are deterministic.
    """
    if within_m < 0.0 or not math.isfinite(within_m):
        raise ValueError(f"within_m must be finite and >= 0, got {within_m}")
    zones = fences.of_kind(kind)
    if not zones or line_or_polygon_local.is_empty:
        return ()
    tree = fences._tree(kind)
    if within_m > 0.0:
        hits = tree.query(line_or_polygon_local, predicate="dwithin", distance=within_m)
    else:
        hits = tree.query(line_or_polygon_local, predicate="intersects")
    return tuple(zones[int(i)] for i in sorted(hits.tolist()))


@dataclass(frozen=True, slots=True)
class _Legs:
    """The legs of a route as arrays: 2D ends, altitudes and one shapely geometry per leg."""

    xy0: FloatArray
    xy1: FloatArray
    z0: FloatArray
    z1: FloatArray
    geoms: npt.NDArray[Any]

    def point_at(self, leg: int, t: float) -> tuple[float, float]:
        x = self.xy0[leg] + t * (self.xy1[leg] - self.xy0[leg])
        return float(x[0]), float(x[1])

    def alt_at(self, leg: int, t: float) -> float:
        return float(self.z0[leg] + t * (self.z1[leg] - self.z0[leg]))

    def sub_geometry(self, leg: int, ta: float, tb: float) -> BaseGeometry:
        """The part of the leg between parameters ta <= tb (a point when it has no length)."""
        pa, pb = self.point_at(leg, ta), self.point_at(leg, tb)
        if pa == pb:
            return shapely.points(pa)
        return shapely.linestrings([pa, pb])


def _make_legs(route: Sequence[tuple[float, float, float]]) -> _Legs:
    pts = np.asarray(route, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(pts).all():
        raise ValueError("route has a non-finite coordinate")
    first, last = (pts, pts) if len(pts) == 1 else (pts[:-1], pts[1:])
    xy0, xy1 = first[:, :2].copy(), last[:, :2].copy()
    degenerate = np.all(xy0 == xy1, axis=1)
    geoms = np.empty(len(xy0), dtype=object)
    if (~degenerate).any():
        geoms[~degenerate] = shapely.linestrings(np.stack([xy0, xy1], axis=1)[~degenerate])
    if degenerate.any():
        geoms[degenerate] = shapely.points(xy0[degenerate])
    return _Legs(xy0, xy1, first[:, 2].copy(), last[:, 2].copy(), geoms)


def _samples(geom: BaseGeometry) -> npt.NDArray[Any]:
    """Points along a (multi)line or point set, close enough to measure a depth to ~3 cm."""
    step = max(_SAMPLE_STEP_M, float(shapely.length(geom)) / _MAX_SAMPLES)
    points: npt.NDArray[Any] = shapely.points(shapely.get_coordinates(shapely.segmentize(geom, step)))
    return points


def _band_interval(z0: float, z1: float, lo: float, hi: float) -> tuple[float, float] | None:
    """Parameters [ta, tb] of the leg where the (linear) altitude is inside [lo, hi]."""
    if z0 == z1:
        return (0.0, 1.0) if lo <= z0 <= hi else None
    dz = z1 - z0
    t_lo, t_hi = (lo - z0) / dz, (hi - z0) / dz
    ta, tb = max(0.0, min(t_lo, t_hi)), min(1.0, max(t_lo, t_hi))
    return (ta, tb) if ta <= tb else None


def _crossings(legs: _Legs, leg: int, boundary: BaseGeometry) -> list[float]:
    """Leg parameters where the leg meets ``boundary`` (including ends of collinear overlaps)."""
    geom = legs.geoms[leg]
    if not isinstance(geom, shapely.LineString):
        return []
    coords = shapely.get_coordinates(geom.intersection(boundary))
    if len(coords) == 0:
        return []
    d = legs.xy1[leg] - legs.xy0[leg]
    t = (coords - legs.xy0[leg]) @ d / float(d @ d)
    return [float(v) for v in np.clip(t, 0.0, 1.0)]


def _check_ceiling(legs: _Legs, ceiling_m: float, out: list[FenceViolation]) -> None:
    over = np.maximum(legs.z0, legs.z1) - ceiling_m
    for i in np.flatnonzero(over > GEOMETRY_TOLERANCE_M).tolist():
        out.append(
            FenceViolation(
                leg=i,
                zone_id="",
                kind="above_ceiling",
                distance_m=float(over[i]),
                message=f"leg {i} climbs {over[i]:.2f} m above the {ceiling_m:g} m ceiling",
            )
        )


def _check_inclusion(legs: _Legs, fences: PreparedFences, out: list[FenceViolation]) -> None:
    inclusion = fences.inclusion
    if inclusion is None:
        return
    inside = shapely.covers(inclusion, legs.geoms)
    for i in np.flatnonzero(~inside).tolist():
        outside = legs.geoms[i].difference(inclusion)
        if outside.is_empty:
            continue
        pts = _samples(outside)
        dist = shapely.distance(inclusion, pts)
        worst = int(np.argmax(dist))
        distance_m = float(dist[worst])
        if distance_m <= GEOMETRY_TOLERANCE_M:
            continue
        zones = fences.of_kind(ZoneKind.INCLUSION)
        nearest = min(zones, key=lambda lz: float(shapely.distance(lz.shape, pts[worst])))
        out.append(
            FenceViolation(
                leg=i,
                zone_id=nearest.zone.zone_id,
                kind="outside_inclusion",
                distance_m=distance_m,
                message=f"leg {i} leaves the inclusion area by {distance_m:.2f} m "
                f"(nearest zone {nearest.zone.zone_id})",
            )
        )


def _band_gap(z: float, bands: list[tuple[float, float]]) -> tuple[float, int]:
    """Smallest distance from altitude z to any band, and the index of that band."""
    gaps = [max(lo - z, z - hi, 0.0) for lo, hi in bands]
    best = min(range(len(gaps)), key=gaps.__getitem__)
    return gaps[best], best


def _check_inclusion_bands(legs: _Legs, fences: PreparedFences, out: list[FenceViolation]) -> None:
    """Altitude limits of banded inclusion zones, with the union rule of ``check_route``.

    The leg is cut where it crosses a zone boundary or a band limit; in each piece the set of
    containing zones and which bands hold are constant, so the piece's midpoint decides. The
    gap to the nearest allowed band is piecewise linear in the piece, so its maximum is at a
    piece end or where two zones' gaps cross; those are the candidates evaluated.
    """
    banded = fences._banded_inclusions
    if not banded:
        return
    unbanded = fences._unbanded_inclusion
    hits = fences._banded_tree.query(legs.geoms, predicate="intersects")
    by_leg: dict[int, list[int]] = {}
    for leg, j in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
        by_leg.setdefault(leg, []).append(j)
    for leg in sorted(by_leg):
        cands = sorted(by_leg[leg])
        z0, z1 = float(legs.z0[leg]), float(legs.z1[leg])
        zlo, zhi = min(z0, z1), max(z0, z1)
        if all(_band(banded[j].zone)[0] <= zlo and zhi <= _band(banded[j].zone)[1] for j in cands):
            continue
        if unbanded is not None and unbanded.covers(legs.geoms[leg]):
            continue
        worst: dict[tuple[str, str], float] = {}
        for ta, tb in _pieces(legs, leg, [banded[j] for j in cands], unbanded):
            _band_piece(legs, leg, ta, tb, [banded[j] for j in cands], unbanded, worst)
        for (kind, zone_id), distance_m in sorted(worst.items()):
            word = "below the minimum" if kind == "below_min_alt" else "above the maximum"
            out.append(
                FenceViolation(
                    leg=leg,
                    zone_id=zone_id,
                    kind=kind,
                    distance_m=distance_m,
                    message=f"leg {leg} is {distance_m:.2f} m {word} altitude of zone {zone_id}",
                )
            )


def _pieces(
    legs: _Legs, leg: int, zones: list[LocalZone], unbanded: BaseGeometry | None
) -> list[tuple[float, float]]:
    ts = {0.0, 1.0}
    for lz in zones:
        ts.update(_crossings(legs, leg, lz.shape.boundary))
        for limit in _band(lz.zone):
            if math.isfinite(limit):
                interval = _band_interval(float(legs.z0[leg]), float(legs.z1[leg]), limit, limit)
                ts.update(interval or ())
    if unbanded is not None:
        ts.update(_crossings(legs, leg, unbanded.boundary))
    ordered = sorted(ts)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b > a]


def _band_piece(
    legs: _Legs,
    leg: int,
    ta: float,
    tb: float,
    zones: list[LocalZone],
    unbanded: BaseGeometry | None,
    worst: dict[tuple[str, str], float],
) -> None:
    tm = 0.5 * (ta + tb)
    mid = Point(legs.point_at(leg, tm))
    if unbanded is not None and unbanded.covers(mid):
        return
    containing = [lz for lz in zones if lz.shape.covers(mid)]
    if not containing:
        return  # outside every inclusion zone: reported as outside_inclusion
    bands = [_band(lz.zone) for lz in containing]
    if _band_gap(legs.alt_at(leg, tm), bands)[0] == 0.0:
        return
    # Within the piece each zone's gap is linear in t: the worst point is an end or a crossing.
    za, zm, zb = legs.alt_at(leg, ta), legs.alt_at(leg, tm), legs.alt_at(leg, tb)
    candidates = [ta, tb]
    lines = []  # each zone's gap as (gap at ta, slope per unit t); the side is the midpoint's
    for lo, hi in bands:
        ga, gb = (lo - za, lo - zb) if zm < lo else (za - hi, zb - hi)
        lines.append((ga, (gb - ga) / (tb - ta)))
    for k, (ga, sa) in enumerate(lines):
        for gb, sb in lines[k + 1 :]:
            if sa != sb:
                t = ta + (gb - ga) / (sa - sb)
                if ta < t < tb:
                    candidates.append(t)
    best_gap, best_t = max((_band_gap(legs.alt_at(leg, t), bands)[0], t) for t in candidates)
    if best_gap <= GEOMETRY_TOLERANCE_M:
        return
    z = legs.alt_at(leg, best_t)
    zone = containing[_band_gap(z, bands)[1]].zone
    kind = "below_min_alt" if zone.min_alt_m is not None and z < zone.min_alt_m else "above_max_alt"
    key = (kind, zone.zone_id)
    worst[key] = max(worst.get(key, 0.0), best_gap)


def _exclusion_depth(geom: BaseGeometry, shape: Polygon, clearance_m: float) -> float:
    """How far ``geom`` goes into ``shape`` grown by the clearance (<= 0 when it keeps clear)."""
    if shape.intersects(geom):
        inside = geom.intersection(shape)
        if inside.is_empty:
            return clearance_m
        depth = float(np.max(shapely.distance(shape.boundary, _samples(inside))))
        return clearance_m + depth
    return clearance_m - float(shapely.distance(shape, geom))


def _check_exclusions(
    legs: _Legs, fences: PreparedFences, clearance_m: float, out: list[FenceViolation]
) -> None:
    zones = fences.exclusions
    if not zones:
        return
    tree = fences._tree(ZoneKind.EXCLUSION)
    if clearance_m > 0.0:
        hits = tree.query(legs.geoms, predicate="dwithin", distance=clearance_m)
    else:
        hits = tree.query(legs.geoms, predicate="intersects")
    worst: dict[tuple[int, str], float] = {}
    for leg, j in sorted(zip(hits[0].tolist(), hits[1].tolist(), strict=True)):
        lz = zones[j]
        lo, hi = _band(lz.zone)
        interval = _band_interval(float(legs.z0[leg]), float(legs.z1[leg]), lo, hi)
        if interval is None:
            continue
        part = legs.sub_geometry(leg, *interval) if interval != (0.0, 1.0) else legs.geoms[leg]
        distance_m = _exclusion_depth(part, lz.shape, clearance_m)
        if distance_m > GEOMETRY_TOLERANCE_M:
            key = (leg, lz.zone.zone_id)
            worst[key] = max(worst.get(key, 0.0), distance_m)
    for (leg, zone_id), distance_m in sorted(worst.items()):
        out.append(
            FenceViolation(
                leg=leg,
                zone_id=zone_id,
                kind="inside_exclusion",
                distance_m=distance_m,
                message=f"leg {leg} comes {distance_m:.2f} m inside exclusion zone {zone_id}"
                + (f" grown by its {clearance_m:g} m clearance" if clearance_m > 0.0 else ""),
            )
        )


def check_route(
    route: Sequence[tuple[float, float, float]],
    fences: PreparedFences,
    *,
    clearance_m: float = 0.0,
) -> tuple[FenceViolation, ...]:
    """Every way the route breaks the fences, ordered by leg, then kind, then zone id.

    ``route`` holds (x_m, y_m, alt_rel_m) points in the fences' local frame; leg i is the
    straight segment from point i to point i + 1 with linear altitude, and a one-point route is
    checked as that point. ``clearance_m`` is the horizontal distance to keep from exclusion
    zones (inclusion zones are not shrunk by it). An empty tuple means the route may fly.
    """
    if clearance_m < 0.0 or not math.isfinite(clearance_m):
        raise ValueError(f"clearance_m must be finite and >= 0, got {clearance_m}")
    if len(route) == 0:
        return ()
    legs = _make_legs(route)
    found: list[FenceViolation] = []
    _check_ceiling(legs, fences.ceiling_m, found)
    _check_inclusion(legs, fences, found)
    _check_inclusion_bands(legs, fences, found)
    _check_exclusions(legs, fences, clearance_m, found)
    found.sort(key=lambda v: (v.leg, _KIND_ORDER[v.kind], v.zone_id))
    return tuple(found)
