"""The areas `aerogrid plan` plans over: any GeoJSON polygons, with or without grid properties.

The service imports grids with their street and community codes (``geofences.geojson.parse_grids``)
because it files them in the district's hierarchy. Offline planning needs only a boundary and a name
to pick it by, so a plain FeatureCollection of polygons from any GIS tool is enough here: a feature's
``code`` property names it (a string, or an integer written as one), and a feature without ``code``
is named by its index in ``features`` ("0", "1", ...). Geometry is checked exactly as for grids
(positions, closed rings, validity, vertex limit) by the same geofences helpers, and converted to
WGS-84 from the document's or the caller's coordinate system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from geofences.crs import CoordinateSystem
from geofences.geojson import (
    _AREA_TYPES,
    _CODE_RE,
    DEFAULT_MAX_VERTICES,
    AreaGeometry,
    _Context,
    _describe,
    _geometry,
    _normalise_area,
    _parse,
    _Report,
)


@dataclass(frozen=True, slots=True)
class PlanArea:
    """One area to plan over: its code (or index) and its WGS-84 boundary."""

    index: int
    code: str
    geometry: AreaGeometry


def _area_code(index: int, props: Mapping[str, object], path: str, report: _Report) -> str | None:
    """The feature's ``code`` property, or its index when it has none."""
    value = props.get("code")
    if value is None:
        code = str(index)
    elif isinstance(value, int) and not isinstance(value, bool):
        code = str(value)
    elif isinstance(value, str):
        code = value
    else:
        report.add(f"{path}/code", f"code must be a string or an integer, got {_describe(value)}")
        return None
    if not _CODE_RE.fullmatch(code):
        report.add(f"{path}/code", f"code must be 1-64 letters, digits, '-', '_' or '.', got {code!r}")
        return None
    report.code = code
    return code


def _build_area(
    index: int, feature: Mapping[str, object], props: Mapping[str, object], context: _Context, report: _Report
) -> PlanArea | None:
    path = f"features/{index}"
    code = _area_code(index, props, f"{path}/properties", report)
    geom = _geometry(feature, f"{path}/geometry", _AREA_TYPES, context.max_vertices, report)
    if code is None or geom is None or not report.clean:
        return None
    return PlanArea(index=index, code=code, geometry=_normalise_area(geom, context.crs))


def parse_plan_areas(
    doc: object, *, crs: CoordinateSystem | None = None, max_vertices: int = DEFAULT_MAX_VERTICES
) -> tuple[PlanArea, ...]:
    """Areas from a decoded FeatureCollection of Polygons/MultiPolygons, or ``GeoJSONError``.

    Codes must be unique; an index-based code clashes with an explicit ``code`` equal to it, which
    is reported like any duplicate.
    """
    return _parse(doc, crs, max_vertices, _build_area)
