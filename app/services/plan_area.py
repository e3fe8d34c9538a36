"""A coverage plan's ``area``: a part of the named grids to cover instead of all of them.

The usual source is a grid's unseen part (``GET /grids/{code}/coverage``) re-flown after an
interrupted patrol. The area is checked like a grid boundary (positions, closed rings, validity,
vertex limit) and must lie inside the union of the named grids, within ``INSIDE_TOLERANCE_M``
(the unseen part is rounded to 7 decimals, about a centimetre, so it may poke out by that much).
Each grid is then replaced by its intersection with the area, so the planner, the work-limit
estimate and the plan's statistics all see only that part; grids the area misses are dropped.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from app.errors import ValidationFailed
from geofences.crs import CoordinateSystem
from geofences.frame import LocalFrame
from geofences.geojson import _AREA_TYPES, DEFAULT_MAX_VERTICES, _geometry, _normalise_area, _Report

INSIDE_TOLERANCE_M = 0.5
"""How far the area may reach outside the grids (rounding), in metres."""
NEAR_DEG = 0.01
"""An area reaching further than this (about a kilometre) from the grids is refused before measuring."""
MIN_PART_M2 = 0.01
"""Overlay crumbs smaller than this are not areas to fly."""


def _refuse(problem: str, field: str = "area") -> ValidationFailed:
    return ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


def parse_area(doc: dict[str, Any]) -> Polygon | MultiPolygon:
    """A WGS-84 GeoJSON Polygon or MultiPolygon geometry, or 422 naming ``area`` and the problem."""
    problems: list[Any] = []
    report = _Report(problems, None)
    geom = _geometry({"geometry": doc}, "area", _AREA_TYPES, DEFAULT_MAX_VERTICES, report)
    if geom is None or not report.clean:
        first = problems[0] if problems else None
        field = first.field.replace("/", ".") if first is not None else "area"
        message = first.message if first is not None else "not a Polygon or MultiPolygon"
        raise ValidationFailed(
            f"{field}: {message}",
            details=[{"field": p.field.replace("/", "."), "problem": p.message} for p in problems]
            or [{"field": "area", "problem": message}],
        )
    area = _normalise_area(geom, CoordinateSystem.WGS84)
    if area.is_empty or area.area <= 0.0:
        raise _refuse("empty area")
    return area


def _polygonal(geom: BaseGeometry, frame: LocalFrame) -> Polygon | MultiPolygon | None:
    """The areal parts of an overlay (in WGS-84) at least ``MIN_PART_M2`` each, or None."""
    parts = [
        p
        for g in shapely.get_parts(geom)
        for p in (g.geoms if isinstance(g, MultiPolygon) else [g])
        if isinstance(p, Polygon) and frame.to_local(p).area >= MIN_PART_M2
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def clip_to_area(
    grids: list[tuple[str, str, Polygon | MultiPolygon]], area: Polygon | MultiPolygon
) -> list[tuple[str, str, Polygon | MultiPolygon]]:
    """Each grid cut down to the area; 422 naming ``area`` when it leaves the grids or misses them."""
    union = shapely.union_all([g for _, _, g in grids])
    frame = LocalFrame.for_geometry(union)
    codes = ", ".join(code for code, _, _ in grids)
    if not union.buffer(NEAR_DEG).contains(area):  # far off: no metric frame would hold both
        raise _refuse(f"it lies outside the grids {codes}")
    outside = frame.to_local(area).difference(frame.to_local(union).buffer(INSIDE_TOLERANCE_M))
    if not math.isfinite(outside.area) or outside.area > MIN_PART_M2:
        raise _refuse(f"{outside.area:.1f} m² of it lies outside the grids {codes}")
    clipped = []
    for code, community, grid in grids:
        part = _polygonal(shapely.intersection(grid, area), frame)
        if part is not None:
            clipped.append((code, community, part))
    if not clipped:
        raise _refuse("it covers no part of the grids large enough to fly")
    return clipped
