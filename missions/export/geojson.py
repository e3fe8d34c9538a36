"""A whole plan as one RFC 7946 GeoJSON FeatureCollection, for map previews and GIS tools.

Positions are ``[lon, lat]`` (``[lon, lat, alt_rel_m]`` where an altitude means something), rings
are closed and counter-clockwise (the right-hand rule of RFC 7946 section 3.1.6). Every feature
has a ``kind`` property:

* ``home``: the plan's take-off point.
* ``route``: one LineString per sortie, the flown path from ``Sortie.route``.
* ``waypoint``: one Point per route point with its role, hover time and payload flags, plus the
  MAVLink ``seq`` and command name of the mission item that flies it (null when the route point
  has no item of its own) and ``seqs``, every nav item flown at that spot (a speaker hover is a
  NAV_WAYPOINT and a NAV_LOITER_TIME at one point).
* ``footprints``: the covered area (``MissionPlan.footprints_wkt``).
* ``fence``: fence polygons and circles (a circle as a 64-gon, its centre and radius in the
  properties: GeoJSON has no circle), ``fence_return`` and ``rally`` Points.

Longitudes and latitudes are written to 7 decimals (1e-7 degrees, about 1 cm, the resolution of
MISSION_ITEM_INT), and every geometry is valid as written: polygons are snapped to that grid with
``shapely.set_precision`` before they are written, which merges vertices that would round onto
each other, drops rings and parts that collapse, and resolves the self-intersections rounding
would otherwise create in the footprint unions of coverage and spray plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import shapely
from pyproj import Geod
from shapely import wkt
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from missions.export.common import group_fence
from missions.items import NAV_COMMANDS, MavCmd, MissionItem
from missions.plan import MissionPlan, RoutePoint, Sortie

CIRCLE_SEGMENTS = 64
COORDINATE_DECIMALS = 7
_GRID_DEG = 10.0**-COORDINATE_DECIMALS
_MATCH_TOLERANCE_DEG = 1e-6  # about 0.1 m; item positions are rounded to 1e-7 degrees
_WGS84 = Geod(ellps="WGS84")

# The only route role each of these commands can fly (RTL carries no position of its own; a
# take-off or landing may sit right below a transit point, so position alone is not enough).
_ROLE_OF_COMMAND = {
    int(MavCmd.NAV_TAKEOFF): "takeoff",
    int(MavCmd.NAV_LAND): "land",
    int(MavCmd.NAV_RETURN_TO_LAUNCH): "rtl",
}


def to_geojson(plan: MissionPlan) -> dict[str, Any]:
    """The plan (all sorties, fence, rally, footprints) as a GeoJSON FeatureCollection dict."""
    features: list[dict[str, Any]] = [
        _feature(
            {"type": "Point", "coordinates": _lon_lat(plan.home_lon_deg, plan.home_lat_deg)}, kind="home"
        )
    ]
    for index, sortie in enumerate(plan.sorties):
        if len(sortie.route) >= 2:
            features.append(
                _feature(
                    {"type": "LineString", "coordinates": [_position(p) for p in sortie.route]},
                    kind="route",
                    sortie=index,
                    length_m=sortie.length_m,
                    flight_time_s=sortie.flight_time_s,
                    energy_wh=sortie.energy_wh,
                )
            )
        features.extend(_waypoints(index, sortie))
    if plan.footprints_wkt:
        footprints = _footprints_geometry(plan.footprints_wkt)
        if footprints is not None:
            features.append(_feature(footprints, kind="footprints", plan_kind=plan.kind))
    features.extend(_fence_features(plan.fence_items))
    for item in plan.rally_items:
        features.append(
            _feature(
                {"type": "Point", "coordinates": [*_lon_lat(item.lon_deg, item.lat_deg), item.z]},
                kind="rally",
                frame=item.frame,
            )
        )
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _deg(value: float) -> float:
    return round(value, COORDINATE_DECIMALS)


def _position(point: RoutePoint) -> list[float]:
    return [_deg(point.lon_deg), _deg(point.lat_deg), point.alt_rel_m]


def _lon_lat(lon_deg: float, lat_deg: float) -> list[float]:
    return [_deg(lon_deg), _deg(lat_deg)]


def _command_name(command: int) -> str:
    try:
        return MavCmd(command).name
    except ValueError:
        return f"MAV_CMD_{command}"


def _same_spot(item: MissionItem, point: RoutePoint) -> bool:
    return (
        abs(item.lat_deg - point.lat_deg) <= _MATCH_TOLERANCE_DEG
        and abs(item.lon_deg - point.lon_deg) <= _MATCH_TOLERANCE_DEG
    )


def _matches(item: MissionItem, point: RoutePoint) -> bool:
    role = _ROLE_OF_COMMAND.get(item.command)
    if role is not None and point.role != role:
        return False
    if item.x == 0 and item.y == 0:
        return role is not None
    return _same_spot(item, point)


def _match_items(route: Sequence[RoutePoint], items: Sequence[tuple[int, MissionItem]]) -> list[list[int]]:
    """For each route point, the seqs of the nav items that fly it, matched in flight order.

    A point takes the first unused item at or after the last match, plus the items right after
    it at the same spot (AeroGrid's speaker hover is NAV_WAYPOINT then NAV_LOITER_TIME there),
    unless the next route point is at that spot too. A point with no item gets an empty list.
    """
    matched: list[list[int]] = []
    cursor = 0
    for index, point in enumerate(route):
        found = next((j for j in range(cursor, len(items)) if _matches(items[j][1], point)), None)
        if found is None:
            matched.append([])
            continue
        seqs = [items[found][0]]
        cursor = found + 1
        following = route[index + 1] if index + 1 < len(route) else None
        while (
            cursor < len(items)
            and items[cursor][1].command not in _ROLE_OF_COMMAND
            and _same_spot(items[cursor][1], point)
            and (following is None or not _same_spot(items[cursor][1], following))
        ):
            seqs.append(items[cursor][0])
            cursor += 1
        matched.append(seqs)
    return matched


def _waypoints(sortie_index: int, sortie: Sortie) -> list[dict[str, Any]]:
    # seq 0 (home) is a candidate too: planners start the route at home
    nav_items = [
        (seq, item) for seq, item in enumerate(sortie.items) if seq == 0 or item.command in NAV_COMMANDS
    ]
    features = []
    for route_index, (point, seqs) in enumerate(
        zip(sortie.route, _match_items(sortie.route, nav_items), strict=True)
    ):
        features.append(
            _feature(
                {"type": "Point", "coordinates": _position(point)},
                kind="waypoint",
                sortie=sortie_index,
                index=route_index,
                seq=seqs[0] if seqs else None,
                command=_command_name(sortie.items[seqs[0]].command) if seqs else None,
                seqs=seqs,
                role=point.role,
                alt_rel_m=point.alt_rel_m,
                hover_s=point.hover_s,
                camera_on=point.camera_on,
                speaker_on=point.speaker_on,
                sprayer_on=point.sprayer_on,
            )
        )
    return features


def _listify(value: Any) -> Any:
    """shapely's mapping() nests tuples; JSON and equality checks want lists."""
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    return value


def _footprints_geometry(text: str) -> dict[str, Any] | None:
    """The footprints WKT as valid GeoJSON (Multi)Polygon on the 1e-7 degree grid; None when empty."""
    try:
        geometry = wkt.loads(text)
    except GEOSException as exc:
        raise ValueError(f"footprints_wkt is not valid WKT: {exc}") from exc
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise ValueError(f"footprints_wkt must be a Polygon or MultiPolygon, got {geometry.geom_type}")
    return _area_geojson(geometry)


def _area_geojson(geometry: BaseGeometry) -> dict[str, Any] | None:
    """A polygonal geometry as GeoJSON that stays valid when read back: snapped to the 1e-7 degree
    grid the coordinates are written on, counter-clockwise, degenerate rings and parts dropped.

    Rounding each coordinate on its own can fold a thin sliver of a footprint union into a
    self-intersection or a hole of two distinct points; snapping the geometry as a whole with GEOS
    (``set_precision``, valid output) removes those instead. None when nothing is left.
    """
    polygons = _polygonal(shapely.set_precision(shapely.make_valid(geometry), _GRID_DEG))
    if polygons is None:
        return None
    oriented = shapely.orient_polygons(polygons, exterior_cw=False)
    result: dict[str, Any] = _round_coordinates(_listify(mapping(oriented)))
    if not shape(result).is_valid:  # a float that rounds differently from GEOS's grid: never expected
        raise ValueError(
            f"footprints cannot be written as valid GeoJSON: {shapely.is_valid_reason(shape(result))}"
        )
    return result


def _polygonal(geometry: BaseGeometry) -> Polygon | MultiPolygon | None:
    """The polygons of ``geometry`` (make_valid may add lines and points where parts touch)."""
    if isinstance(geometry, Polygon | MultiPolygon):
        return None if geometry.is_empty else geometry
    parts = [
        polygon
        for member in getattr(geometry, "geoms", ())
        for polygon in (member.geoms if isinstance(member, MultiPolygon) else (member,))
        if isinstance(polygon, Polygon) and not polygon.is_empty
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _round_coordinates(value: Any) -> Any:
    """Round every [lon, lat] position of a GeoJSON coordinates tree to the written decimals."""
    if isinstance(value, dict):
        return {k: _round_coordinates(v) if k == "coordinates" else v for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], int | float):
        return [_deg(value[0]), _deg(value[1]), *value[2:]]
    if isinstance(value, list):
        return [_round_coordinates(v) for v in value]
    return value


def _counter_clockwise(ring: list[list[float]]) -> list[list[float]]:
    """Close the ring and wind it counter-clockwise (positive shoelace area in lon/lat)."""
    closed = ring if ring[0] == ring[-1] else [*ring, ring[0]]
    twice_area = sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(closed))
    return closed if twice_area > 0 else closed[::-1]


def _circle_ring(lon_deg: float, lat_deg: float, radius_m: float) -> list[list[float]]:
    azimuths_deg = [360.0 * i / CIRCLE_SEGMENTS for i in range(CIRCLE_SEGMENTS)]
    lons, lats, _ = _WGS84.fwd(
        [lon_deg] * CIRCLE_SEGMENTS, [lat_deg] * CIRCLE_SEGMENTS, azimuths_deg, [radius_m] * CIRCLE_SEGMENTS
    )
    return [[float(lon), float(lat)] for lon, lat in zip(lons, lats, strict=True)]


def _fence_features(fence_items: tuple[MissionItem, ...]) -> list[dict[str, Any]]:
    shapes = group_fence(fence_items)
    features = []
    for polygon in shapes.polygons:
        ring = _counter_clockwise([[v.lon_deg, v.lat_deg] for v in polygon.vertices])
        features.append(
            _feature(
                {"type": "Polygon", "coordinates": [ring]},
                kind="fence",
                shape="polygon",
                inclusion=polygon.inclusion,
            )
        )
    for circle in shapes.circles:
        center = [circle.item.lon_deg, circle.item.lat_deg]
        ring = _counter_clockwise([_lon_lat(*p) for p in _circle_ring(center[0], center[1], circle.radius_m)])
        features.append(
            _feature(
                {"type": "Polygon", "coordinates": [ring]},
                kind="fence",
                shape="circle",
                inclusion=circle.inclusion,
                center=center,
                radius_m=circle.radius_m,
            )
        )
    if shapes.return_point is not None:
        point = shapes.return_point
        features.append(
            _feature({"type": "Point", "coordinates": [point.lon_deg, point.lat_deg]}, kind="fence_return")
        )
    return features
