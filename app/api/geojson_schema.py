"""JSON Schemas of the GeoJSON documents the import and zone routes take, for ``/openapi.json``.

The routes take the document as a plain object and validate it themselves (geofences/geojson.py),
because that validator names each bad feature by index and code. These schemas state the same
limits up front (types, required properties, codes, text lengths, altitudes, radii), so a client
or a schema-driven fuzzer sees what the handler accepts; what JSON Schema cannot say (closed rings,
self-intersection, coordinates in range for the CRS) stays the validator's.
"""

from __future__ import annotations

from typing import Any

from app.api.paths import UNADDRESSABLE_CODES
from geofences.geojson import MAX_RADIUS_M, MAX_TEXT_CHARS, MAX_ZONE_ALT_M
from geofences.model import ZoneKind

CODE = {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,64}$"}
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS}
POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
RING = {"type": "array", "minItems": 4, "items": POSITION}
POLYGON = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"const": "Polygon"},
        "coordinates": {"type": "array", "minItems": 1, "items": RING},
    },
}
MULTI_POLYGON = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"const": "MultiPolygon"},
        "coordinates": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 1, "items": RING},
        },
    },
}
POINT = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {"type": {"const": "Point"}, "coordinates": POSITION},
}


def _feature(properties: dict[str, Any], geometries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "properties", "geometry"],
        "properties": {
            "type": {"const": "Feature"},
            "properties": properties,
            "geometry": {"oneOf": geometries},
        },
    }


GRID_FEATURE = _feature(
    {
        "type": "object",
        "required": ["code", "name", "community_code", "community_name", "street_code", "street_name"],
        "properties": {
            "code": CODE,
            "name": TEXT,
            "community_code": CODE,
            "community_name": TEXT,
            "street_code": CODE,
            "street_name": TEXT,
            "worker_name": TEXT,
            "worker_phone": {"type": "string", "pattern": r"^\+?[0-9][0-9 ()-]{2,30}$"},
        },
    },
    [POLYGON, MULTI_POLYGON],
)
ALTITUDE_M = {"type": "number", "minimum": 0, "maximum": MAX_ZONE_ALT_M}
ZONE_FEATURE = _feature(
    {
        "type": "object",
        "required": ["code", "name", "kind"],
        "properties": {
            "code": {**CODE, "not": {"enum": sorted(UNADDRESSABLE_CODES)}},
            "name": TEXT,
            "kind": {"enum": [kind.value for kind in ZoneKind]},
            "min_alt_m": ALTITUDE_M,
            "max_alt_m": ALTITUDE_M,
            "radius_m": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RADIUS_M},
        },
    },
    [POLYGON, MULTI_POLYGON, POINT],
)


def collection(feature: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection of such features, with the optional CRS member."""
    return {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": feature},
            "crs": {"type": "object"},
        },
    }
