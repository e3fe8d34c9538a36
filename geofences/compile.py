"""Compile a fence set into ArduCopter 4.x FENCE and RALLY mission items, and decode them back.

What ArduPilot does with these items (``AC_PolyFence_loader``, ``MissionItemProtocol_Fence`` and
``MissionItemProtocol_Rally``), and what this module does about it:

* Polygons are tested in latitude/longitude integer space, so an edge is a straight line in
  (lon, lat). Everything here therefore works on the WGS-84 coordinates as given; metres appear
  only as a local scale for simplification tolerances.
* A polygon is a run of N vertex items, each carrying N in param1; fewer than 3 vertices is
  refused, a self-intersecting polygon is silently accepted and then misbehaves. We refuse
  invalid polygons (after rounding to 1e-7 degrees, the wire's resolution) before upload.
* There are no holes: a hole of the inclusion area becomes an exclusion polygon, and an
  exclusion polygon with holes is cut into hole-free pieces whose union is exactly the original.
* With the default ``FENCE_OPTIONS`` the vehicle must be inside *every* inclusion fence (their
  intersection), while AeroGrid's model is the *union* of inclusion zones. Inclusion zones are
  therefore unioned first; a union of several disjoint parts is refused unless the caller says
  the vehicle has ``FENCE_OPTIONS`` bit 1 (INCLUSION_UNION, value 2) set (``inclusion_union``).
* Fences are two-dimensional. An exclusion zone with an altitude band is planning-only (a plan
  may legitimately fly over it, and a full-height fence there would trip); the ceiling is the
  ``FENCE_ALT_MAX`` parameter, not an item. Quiet, no-photo and no-spray zones are planning-only.
* Downloads come back with frame GLOBAL, z = 0 and autocontinue = 0 for fence items; compiled
  items use the same values so a download compares equal item for item.

Large polygons are cut down to ``max_vertices`` only conservatively: an inclusion outline is
first shrunk (mitred negative buffer by one, else two, tolerances) and then Douglas-Peucker
simplified by the tolerance; an exclusion outline is grown the same way. Every candidate is rounded to
1e-7 degrees and checked (inclusion inside the original, exclusion covering it) before it is
accepted; otherwise the tolerance (from 1 cm) grows by a quarter and the attempt repeats. The same
path handles outlines whose vertices are off the 1e-7 degree grid (unions, cut pieces,
inscribed circles), where plain rounding could move an edge the wrong way by up to ~1 cm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split

from geofences.model import Circle, FenceSet, Zone, ZoneKind
from missions.items import MavCmd, MavFrame, MissionItem, MissionType, to_e7

DEFAULT_MAX_VERTICES = 100
MAX_VERTICES_LIMIT = 255  # ArduPilot stores a polygon's vertex count in one byte
INCLUSION_CIRCLE_SEGMENTS = 64  # an inclusion circle unioned with polygons becomes an inscribed 64-gon

_METRES_PER_DEG = 111_319.49  # WGS-84 equatorial degree; scales tolerances only
_FIRST_TOLERANCE_M = 0.01  # about the size of the 1e-7 degree rounding
_TOLERANCE_GROWTH = 1.25
_MAX_ATTEMPTS = 80
_MITRE_LIMIT = 2.0


@dataclass(frozen=True, slots=True)
class FenceShape:
    """One fence as the vehicle holds it (WGS-84): a polygon or a circle, inclusion or exclusion."""

    inclusion: bool
    polygon: Polygon | None = None
    circle: Circle | None = None


def _parts(geom: BaseGeometry) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _parts(g)]
    return []


def _distinct_vertices(coords: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Ring vertices without the closing duplicate and without repeated consecutive vertices."""
    out: list[tuple[float, float]] = []
    for c in coords:
        if not out or c != out[-1]:
            out.append(c)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def _validate(poly: Polygon, what: str) -> None:
    """Refuse what ArduPilot would refuse or silently misuse: < 3 vertices, self-intersection."""
    for ring in [poly.exterior, *poly.interiors]:
        if len(_distinct_vertices(list(ring.coords))) < 3:
            raise ValueError(f"{what}: a polygon ring has fewer than 3 distinct vertices")
    if not poly.is_valid:
        raise ValueError(f"{what}: invalid polygon ({shapely.is_valid_reason(poly)})")
    if poly.area <= 0.0:
        raise ValueError(f"{what}: polygon has no area")


def _round_e7(poly: Polygon) -> Polygon:
    """The polygon with its vertices at the 1e-7 degree resolution the wire carries."""

    def ring(coords: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(to_e7(x) / 1e7, to_e7(y) / 1e7) for x, y in coords]

    return Polygon(ring(list(poly.exterior.coords)), [ring(list(r.coords)) for r in poly.interiors])


class _Metric:
    """An affine (lon, lat) -> metres map around a point.

    Affine, so straight edges stay straight and containment is the same as in (lon, lat), which
    is the space ArduPilot tests in; metres are only needed to choose tolerances.
    """

    def __init__(self, lon0_deg: float, lat0_deg: float) -> None:
        self.lon0, self.lat0 = lon0_deg, lat0_deg
        self.kx = _METRES_PER_DEG * math.cos(math.radians(lat0_deg))
        self.ky = _METRES_PER_DEG

    def to_m(self, geom: Polygon) -> Polygon:
        return shapely.transform(geom, lambda c: (c - [self.lon0, self.lat0]) * [self.kx, self.ky])

    def to_deg(self, geom: Polygon) -> Polygon:
        return shapely.transform(geom, lambda c: c / [self.kx, self.ky] + [self.lon0, self.lat0])


def _vertex_count(poly: Polygon) -> int:
    return len(_distinct_vertices(list(poly.exterior.coords)))


def _on_e7_grid(poly: Polygon) -> bool:
    """Whether the vertices already sit on the wire's 1e-7 degree grid (up to float noise)."""
    scaled = shapely.get_coordinates(poly) * 1e7
    return bool(np.abs(scaled - np.round(scaled)).max() < 1e-3)


def _fits(cand: Polygon, outline: Polygon, max_vertices: int, *, grow: bool) -> bool:
    contained = cand.covers(outline) if grow else outline.covers(cand)
    return cand.is_valid and _vertex_count(cand) <= max_vertices and contained


def _fit_vertices(outline: Polygon, max_vertices: int, *, grow: bool, what: str) -> Polygon:
    """``outline`` (no holes) at 1e-7 degrees with at most ``max_vertices``, only shrunk
    (inclusion, ``grow=False``) or grown (exclusion).

    An outline that already fits and sits on the 1e-7 grid (or rounds onto it conservatively)
    is kept exactly. Otherwise see the module docstring for the method; the containment check
    is made on the rounded candidate in (lon, lat), so the guarantee holds for what the vehicle
    stores.
    """
    if _vertex_count(outline) <= max_vertices and (
        _on_e7_grid(outline) or _fits(_round_e7(outline), outline, max_vertices, grow=grow)
    ):
        return outline
    c = outline.centroid
    metric = _Metric(c.x, c.y)
    outline_m = metric.to_m(outline)
    tol_m = _FIRST_TOLERANCE_M
    for _ in range(_MAX_ATTEMPTS):
        for factor in (1.0, 2.0):  # an offset of one tolerance is usually enough, two always
            offset = factor * tol_m if grow else -factor * tol_m
            moved = _parts(outline_m.buffer(offset, join_style="mitre", mitre_limit=_MITRE_LIMIT))
            if len(moved) != 1:
                raise ValueError(
                    f"{what}: shrinking it by {abs(offset):.2f} m to fit {max_vertices} vertices "
                    "splits or erases it; raise max_vertices or simplify the zone"
                )
            cand_m = Polygon(moved[0].exterior).simplify(tol_m, preserve_topology=True)
            cand = _round_e7(metric.to_deg(cand_m))
            if _fits(cand, outline, max_vertices, grow=grow):
                return cand
        tol_m *= _TOLERANCE_GROWTH
    raise ValueError(
        f"{what}: cannot fit {_vertex_count(outline)} vertices into {max_vertices} at 1e-7 degree "
        f"resolution conservatively; raise max_vertices or simplify the zone"
    )


def _without_holes(poly: Polygon, what: str) -> list[Polygon]:
    """Hole-free polygons whose union is exactly ``poly`` (ArduPilot polygons have no holes).

    Cuts along the meridian through the middle of the first hole's extent (which must cross the
    hole), snapped to 1e-7 degrees so the pieces share exactly representable cut vertices.
    """
    if not poly.interiors:
        return [poly]
    minx, _, maxx, _ = Polygon(poly.interiors[0]).bounds
    x = to_e7(0.5 * (minx + maxx)) / 1e7
    _, miny, _, maxy = poly.bounds
    pieces = _parts(split(poly, LineString([(x, miny - 1.0), (x, maxy + 1.0)])))
    if any(len(p.interiors) >= len(poly.interiors) for p in pieces):
        raise ValueError(f"{what}: a hole is too narrow to cut at 1e-7 degree resolution")
    return [q for p in pieces for q in _without_holes(p, what)]


def _polygon_items(poly: Polygon, command: MavCmd, what: str) -> list[MissionItem]:
    rounded = _round_e7(shapely.orient_polygons(Polygon(poly.exterior)))
    _validate(rounded, f"{what} (at 1e-7 degree resolution)")
    vertices = _distinct_vertices(list(rounded.exterior.coords))
    return [
        MissionItem(
            command=command,
            frame=MavFrame.GLOBAL,
            param1=float(len(vertices)),
            x=to_e7(lat),
            y=to_e7(lon),
            autocontinue=0,
            mission_type=MissionType.FENCE,
        )
        for lon, lat in vertices
    ]


def _circle_item(circle: Circle, command: MavCmd, what: str) -> MissionItem:
    if not (circle.radius_m > 0.0 and math.isfinite(circle.radius_m)):
        raise ValueError(f"{what}: circle radius must be > 0, got {circle.radius_m}")
    _check_lonlat(circle.lon_deg, circle.lat_deg, what)
    return MissionItem(
        command=command,
        frame=MavFrame.GLOBAL,
        param1=circle.radius_m,
        x=to_e7(circle.lat_deg),
        y=to_e7(circle.lon_deg),
        autocontinue=0,
        mission_type=MissionType.FENCE,
    )


def _check_lonlat(lon_deg: float, lat_deg: float, what: str) -> None:
    if not (-180.0 <= lon_deg <= 180.0 and -90.0 <= lat_deg <= 90.0):
        raise ValueError(f"{what}: ({lon_deg}, {lat_deg}) is not a WGS-84 lon/lat")


def _inscribed_polygon(circle: Circle) -> Polygon:
    """An inclusion circle as a polygon with its vertices on the circle (so it lies inside)."""
    metric = _Metric(circle.lon_deg, circle.lat_deg)
    disc_m = Point(0.0, 0.0).buffer(circle.radius_m, quad_segs=INCLUSION_CIRCLE_SEGMENTS // 4)
    return metric.to_deg(disc_m)


def _zone_polygons(zone: Zone) -> list[Polygon]:
    assert zone.polygon is not None
    parts = _parts(zone.polygon)
    for part in parts:
        _validate(part, f"zone {zone.zone_id}")
    return parts


def _inclusion_area(zones: Sequence[Zone]) -> list[Polygon]:
    """The inclusion zones as the parts of their union (one polygon as given is kept exactly)."""
    shapes: list[Polygon] = []
    for zone in zones:
        if zone.circle is not None:
            if not zone.circle.radius_m > 0.0:
                raise ValueError(f"zone {zone.zone_id}: circle radius must be > 0")
            shapes.append(_inscribed_polygon(zone.circle))
        else:
            shapes.extend(_zone_polygons(zone))
    if len(shapes) == 1:
        return shapes
    return _parts(shapely.union_all(shapes))


def compile_fence(
    fences: FenceSet,
    *,
    return_point: tuple[float, float] | None = None,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    inclusion_union: bool = False,
) -> tuple[MissionItem, ...]:
    """FENCE mission items for the inclusion and (unbanded) exclusion zones of ``fences``.

    Order: the return point (``(lon, lat)``, when given), the inclusion fences, then the
    exclusion fences (holes of the inclusion area first, then exclusion zones in set order).
    ``inclusion_union=True`` is only right for a vehicle with FENCE_OPTIONS bit 1 set; without
    it, inclusion zones whose union has several parts raise ValueError. Invalid polygons raise
    ValueError too (see the module docstring for everything that is refused and why).
    """
    if not 3 <= max_vertices <= MAX_VERTICES_LIMIT:
        raise ValueError(f"max_vertices must be in 3..{MAX_VERTICES_LIMIT}, got {max_vertices}")
    items: list[MissionItem] = []
    if return_point is not None:
        _check_lonlat(return_point[0], return_point[1], "return point")
        items.append(
            MissionItem(
                command=MavCmd.NAV_FENCE_RETURN_POINT,
                frame=MavFrame.GLOBAL,
                x=to_e7(return_point[1]),
                y=to_e7(return_point[0]),
                autocontinue=0,
                mission_type=MissionType.FENCE,
            )
        )
    exclusions: list[MissionItem] = []
    inclusion_zones = fences.of_kind(ZoneKind.INCLUSION)
    only = inclusion_zones[0] if len(inclusion_zones) == 1 else None
    if only is not None and only.circle is not None:
        what = f"inclusion zone {only.zone_id}"
        items.append(_circle_item(only.circle, MavCmd.NAV_FENCE_CIRCLE_INCLUSION, what))
    elif inclusion_zones:
        area = _inclusion_area(inclusion_zones)
        if len(area) > 1 and not inclusion_union:
            raise ValueError(
                f"the inclusion zones form {len(area)} separate areas; ArduPilot keeps the vehicle "
                "inside every inclusion fence, so set FENCE_OPTIONS bit 1 (inclusion union) and "
                "pass inclusion_union=True, or plan each area separately"
            )
        for k, part in enumerate(area):
            what = f"inclusion area part {k}"
            outline = _fit_vertices(Polygon(part.exterior), max_vertices, grow=False, what=what)
            items += _polygon_items(outline, MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, what)
            for h, ring in enumerate(part.interiors):
                hole_what = f"{what} hole {h}"
                hole = _fit_vertices(Polygon(ring), max_vertices, grow=True, what=hole_what)
                exclusions += _polygon_items(hole, MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, hole_what)
    for zone in fences.of_kind(ZoneKind.EXCLUSION):
        if zone.min_alt_m is not None or zone.max_alt_m is not None:
            continue  # banded: planning-only, see the module docstring
        what = f"exclusion zone {zone.zone_id}"
        if zone.circle is not None:
            exclusions.append(_circle_item(zone.circle, MavCmd.NAV_FENCE_CIRCLE_EXCLUSION, what))
            continue
        for part in _zone_polygons(zone):
            for piece in _without_holes(part, what):
                fitted = _fit_vertices(piece, max_vertices, grow=True, what=what)
                exclusions += _polygon_items(fitted, MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, what)
    return (*items, *exclusions)


def compile_rally(points: Sequence[tuple[float, float, float]]) -> tuple[MissionItem, ...]:
    """RALLY mission items for (lon, lat, alt_rel_m) points.

    Frame GLOBAL_RELATIVE_ALT_INT (altitude above home), which every ArduPilot 4.x accepts.
    ArduPilot stores a rally altitude as whole metres in an int16, truncating, so altitudes are
    rounded to whole metres here: the stored point is then the one that was planned.
    """
    items: list[MissionItem] = []
    for k, (lon_deg, lat_deg, alt_rel_m) in enumerate(points):
        _check_lonlat(lon_deg, lat_deg, f"rally point {k}")
        alt_m = float(round(alt_rel_m)) if math.isfinite(alt_rel_m) else math.nan
        if not -32768.0 <= alt_m <= 32767.0:
            raise ValueError(f"rally point {k}: altitude {alt_rel_m} m does not fit ArduPilot's int16")
        items.append(
            MissionItem(
                command=MavCmd.NAV_RALLY_POINT,
                frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
                x=to_e7(lat_deg),
                y=to_e7(lon_deg),
                z=alt_m,
                autocontinue=0,
                mission_type=MissionType.RALLY,
            )
        )
    return tuple(items)


_POLYGON_COMMANDS: dict[int, bool] = {
    MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION: True,
    MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION: False,
}
_CIRCLE_COMMANDS: dict[int, bool] = {
    MavCmd.NAV_FENCE_CIRCLE_INCLUSION: True,
    MavCmd.NAV_FENCE_CIRCLE_EXCLUSION: False,
}


def fence_from_items(items: Sequence[MissionItem]) -> tuple[FenceShape, ...]:
    """Decode FENCE items (e.g. a download) back into shapes; the return point is skipped.

    Raises ValueError for a vertex run whose length does not match its param1, which is what
    ArduPilot itself rejects.
    """
    shapes: list[FenceShape] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.command == MavCmd.NAV_FENCE_RETURN_POINT:
            i += 1
        elif item.command in _CIRCLE_COMMANDS:
            circle = Circle(lon_deg=item.lon_deg, lat_deg=item.lat_deg, radius_m=item.param1)
            shapes.append(FenceShape(inclusion=_CIRCLE_COMMANDS[item.command], circle=circle))
            i += 1
        elif item.command in _POLYGON_COMMANDS:
            count = int(item.param1)
            run = items[i : i + count]
            if (
                count < 3
                or len(run) != count
                or any(v.command != item.command or v.param1 != item.param1 for v in run)
            ):
                raise ValueError(f"fence item {i}: polygon of {item.param1:g} vertices is malformed")
            polygon = Polygon(np.array([(v.lon_deg, v.lat_deg) for v in run]))
            shapes.append(FenceShape(inclusion=_POLYGON_COMMANDS[item.command], polygon=polygon))
            i += count
        else:
            raise ValueError(f"fence item {i}: command {item.command} is not a fence command")
    return tuple(shapes)
