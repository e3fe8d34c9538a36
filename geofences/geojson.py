"""Validated import and export of grid, zone and site GeoJSON (RFC 7946).

Grid boundaries reach us from street offices as hand-edited GeoJSON: drawn on AMap (GCJ-02) or
Baidu (BD-09), with swapped axes, unclosed rings, bow-tie polygons and duplicated codes. A drone
planned over such a boundary flies the wrong place, so import is strict and explains itself: every
problem in the document is collected (not just the first), each tagged with the feature index, its
code and a JSON-pointer-like path, so a district GIS clerk can fix the file in one pass. The API
turns ``GeoJSONError`` into a 422 listing the problems.

What comes out is normalised: WGS-84, 2-D, exterior rings counter-clockwise and holes clockwise
(RFC 7946's right-hand rule), valid shapely geometry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, TypeGuard, TypeVar, get_args

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from geofences.crs import CoordinateSystem, to_wgs84_geometry
from geofences.frame import LocalFrame
from geofences.model import Circle, Zone, ZoneKind

DEFAULT_MAX_VERTICES = 10_000
MAX_TEXT_CHARS = 200
MAX_RADIUS_M = 50_000.0
MAX_ZONE_ALT_M = 1_000.0
# A document with a systematic error (every position swapped) would otherwise yield one problem
# per vertex; past these caps the rest are summarised, which is still enough to see the pattern.
MAX_PROBLEMS_PER_FEATURE = 50
MAX_PROBLEMS = 1_000

_CODE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{2,30}")
_GRID_TEXT_FIELDS = ("name", "community_code", "community_name", "street_code", "street_name")
_AREA_TYPES = ("Polygon", "MultiPolygon")
_ZONE_TYPES = ("Polygon", "MultiPolygon", "Point")
# GeoJSON 2008 named CRSs that mean plain WGS-84 lon/lat; QGIS still writes the first one.
_LEGACY_WGS84_NAMES = frozenset(
    {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326"}
)

AreaGeometry: TypeAlias = Polygon | MultiPolygon
SiteKind = Literal["spray_target", "key_site", "checkpoint"]
SITE_KINDS: tuple[SiteKind, ...] = get_args(SiteKind)
_SITE_TYPES: dict[str, tuple[str, ...]] = {
    "spray_target": _AREA_TYPES,
    "key_site": ("Point", *_AREA_TYPES),
    "checkpoint": ("Point",),
}
MAX_SITE_HEIGHT_M = 500.0
MAX_HOVER_S = 65_535.0  # ArduCopter stores NAV_LOITER_TIME's seconds as uint16
MAX_MISSION_TIME_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an imported document.

    ``index`` is the feature's position in ``features`` (None for document-level problems), ``code``
    its ``code`` property when it has a readable one, ``field`` a path such as
    ``features/3/geometry/coordinates/0/5``.
    """

    index: int | None
    code: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"feature {self.index}" if self.index is not None else "document"
        if self.code is not None:
            where += f" ({self.code})"
        return f"{where}, {self.field}: {self.message}"


class GeoJSONError(ValueError):
    """The document was rejected; ``problems`` lists everything found wrong with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"invalid GeoJSON: {first}{more}")


@dataclass(frozen=True, slots=True)
class GridFeature:
    """One grid (网格) as imported: its place in the street/community hierarchy and its boundary."""

    index: int
    code: str
    name: str
    community_code: str
    community_name: str
    street_code: str
    street_name: str
    worker_name: str | None
    worker_phone: str | None
    geometry: AreaGeometry


@dataclass(frozen=True, slots=True)
class ZoneFeature:
    """One imported zone; ``zone.zone_id`` is the feature's ``code``."""

    index: int
    zone: Zone


@dataclass(frozen=True, slots=True)
class SiteFeature:
    """One place a field mission works at: a spray target, a key site or a checkpoint.

    ``geometry`` is WGS-84: a (Multi)Polygon for spray targets, a Point or (Multi)Polygon (the
    footprint) for key sites, a Point for checkpoints. Optional numbers, all None when absent:
    ``height_m`` of the object above the take-off ground (a roof to spray over, a building to
    orbit), ``alt_m`` a flight altitude for it, ``radius_m`` a key site's orbit radius,
    ``hover_s`` a checkpoint's hover time and ``earliest_s`` / ``latest_s`` its arrival window
    in seconds from take-off.
    """

    index: int
    code: str
    name: str | None
    kind: SiteKind
    geometry: Point | AreaGeometry
    grid_code: str | None = None
    height_m: float | None = None
    alt_m: float | None = None
    radius_m: float | None = None
    hover_s: float | None = None
    earliest_s: float | None = None
    latest_s: float | None = None


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two grids that claim the same ground; ``area_m2`` is the area they share."""

    code_a: str
    code_b: str
    area_m2: float


class CodedArea(Protocol):
    """Anything with a code and a WGS-84 area: what ``find_overlaps`` needs."""

    @property
    def code(self) -> str: ...

    @property
    def geometry(self) -> AreaGeometry: ...


class GridLike(CodedArea, Protocol):
    """What grid export needs; ``GridFeature`` satisfies it and so can the API's stored rows."""

    @property
    def name(self) -> str: ...

    @property
    def community_code(self) -> str: ...

    @property
    def community_name(self) -> str: ...

    @property
    def street_code(self) -> str: ...

    @property
    def street_name(self) -> str: ...

    @property
    def worker_name(self) -> str | None: ...

    @property
    def worker_phone(self) -> str | None: ...


# --------------------------------------------------------------------------------------------
# Problem collection


class _Report:
    """Collects the problems of one feature, stamping each with the feature's index and code."""

    __slots__ = ("code", "dropped", "index", "problems", "start")

    def __init__(self, problems: list[Problem], index: int | None) -> None:
        self.problems = problems
        self.index = index
        self.code: str | None = None
        self.start = len(problems)
        self.dropped = 0

    def add(self, field: str, message: str) -> None:
        if len(self.problems) - self.start >= MAX_PROBLEMS_PER_FEATURE:
            self.dropped += 1
            return
        self.problems.append(Problem(self.index, self.code, field, message))

    @property
    def clean(self) -> bool:
        return len(self.problems) == self.start

    def close(self, field: str) -> None:
        if self.dropped:
            self.problems.append(
                Problem(
                    self.index, self.code, field, f"{self.dropped} more problems in this feature not listed"
                )
            )


def _describe(value: object) -> str:
    """A short description of a JSON value for messages (never the whole value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "...")
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
    if isinstance(value, list | tuple):
        return "an empty array" if not value else f"an array of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: int | float) -> float | None:
    """``value`` as a float; None for NaN, infinities and JSON integers too big for a float."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------
# Geometry


def _position(value: object, path: str, report: _Report) -> tuple[float, float] | None:
    """A checked (lon, lat); the optional third value (altitude) is validated and dropped."""
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        report.add(path, f"a position must be [lon, lat] or [lon, lat, alt], got {_describe(value)}")
        return None
    numbers = []
    for k, item in enumerate(value):
        if not _is_number(item):
            report.add(f"{path}/{k}", f"expected a number, got {_describe(item)}")
            return None
        number = _finite(item)
        if number is None:
            report.add(
                f"{path}/{k}", f"{_describe(item)} is not a finite number (NaN and Infinity are not JSON)"
            )
            return None
        numbers.append(number)
    lon_deg, lat_deg = numbers[0], numbers[1]
    if abs(lon_deg) <= 90.0 and 90.0 < abs(lat_deg) <= 180.0:
        report.add(path, f"[{lon_deg}, {lat_deg}] looks like [lat, lon]; GeoJSON wants [lon, lat]")
        return None
    ok = True
    if not -180.0 <= lon_deg <= 180.0:
        report.add(f"{path}/0", f"longitude {lon_deg} is outside [-180, 180]")
        ok = False
    if not -90.0 <= lat_deg <= 90.0:
        report.add(f"{path}/1", f"latitude {lat_deg} is outside [-90, 90]")
        ok = False
    return (lon_deg, lat_deg) if ok else None


def _ring(value: object, path: str, report: _Report) -> list[tuple[float, float]] | None:
    if not isinstance(value, list | tuple):
        report.add(path, f"a linear ring must be an array of positions, got {_describe(value)}")
        return None
    positions = [_position(p, f"{path}/{k}", report) for k, p in enumerate(value)]
    ok = True
    if len(positions) < 4:
        report.add(
            path, f"a linear ring needs at least 4 positions (first repeated as last), got {len(positions)}"
        )
        ok = False
    first, last = (positions[0], positions[-1]) if positions else (None, None)
    if len(positions) >= 2 and first is not None and last is not None and first != last:
        report.add(path, f"ring is not closed: first position {list(first)} differs from last {list(last)}")
        ok = False
    if not ok or any(p is None for p in positions):
        return None
    return [p for p in positions if p is not None]


def _validity(geom: BaseGeometry, path: str, what: str, report: _Report) -> bool:
    reason = str(shapely.is_valid_reason(geom))
    if reason == "Valid Geometry":
        return True
    # GEOS reports e.g. "Self-intersection[120.54 31.49]": name the place in GeoJSON order.
    match = re.fullmatch(r"(.*?)\[(\S+) (\S+)\]", reason)
    detail = f"{match[1]} at [{match[2]}, {match[3]}]" if match else reason
    report.add(path, f"invalid {what}: {detail}")
    return False


def _polygon(value: object, path: str, report: _Report) -> Polygon | None:
    if not isinstance(value, list | tuple):
        report.add(path, f"Polygon coordinates must be an array of rings, got {_describe(value)}")
        return None
    if not value:
        report.add(path, "empty geometry: a Polygon needs at least its exterior ring")
        return None
    rings = [_ring(r, f"{path}/{k}", report) for k, r in enumerate(value)]
    shell, *holes = rings
    if shell is None or any(h is None for h in holes):
        return None
    polygon = Polygon(shell, [h for h in holes if h is not None])
    return polygon if _validity(polygon, path, "polygon", report) else None


def _multipolygon(value: object, path: str, report: _Report) -> MultiPolygon | None:
    if not isinstance(value, list | tuple):
        report.add(path, f"MultiPolygon coordinates must be an array of polygons, got {_describe(value)}")
        return None
    if not value:
        report.add(path, "empty geometry: a MultiPolygon needs at least one polygon")
        return None
    parts = [_polygon(p, f"{path}/{k}", report) for k, p in enumerate(value)]
    if any(p is None for p in parts):
        return None
    multi = MultiPolygon([p for p in parts if p is not None])
    if not _validity(multi, path, "MultiPolygon (its polygons overlap or share an edge)", report):
        return None
    return multi


def _count_positions(geom_type: str, coords: object) -> int:
    """Positions in ``coords`` at the depth ``geom_type`` implies, counted without trusting the shape."""
    depth = {"Point": 0, "Polygon": 2, "MultiPolygon": 3}[geom_type]
    level: list[object] = [coords]
    for _ in range(depth):
        level = [item for seq in level if isinstance(seq, list | tuple) for item in seq]
    return len(level)


def _geometry(
    feature: Mapping[str, object], path: str, allowed: tuple[str, ...], max_vertices: int, report: _Report
) -> BaseGeometry | None:
    """The feature's geometry, checked and 2-D, in the document's CRS."""
    geometry = feature.get("geometry")
    if geometry is None:
        report.add(path, f"missing geometry; expected {' or '.join(allowed)}")
        return None
    if not isinstance(geometry, dict):
        report.add(path, f"geometry must be an object, got {_describe(geometry)}")
        return None
    geom_type = geometry.get("type")
    if geom_type not in allowed:
        report.add(
            f"{path}/type",
            f"geometry type {_describe(geom_type)} not allowed; expected {' or '.join(allowed)}",
        )
        return None
    coords_path = f"{path}/coordinates"
    if "coordinates" not in geometry:
        report.add(coords_path, "missing coordinates")
        return None
    coords = geometry["coordinates"]
    n_positions = _count_positions(geom_type, coords)
    if n_positions > max_vertices:
        report.add(
            coords_path, f"{n_positions} vertices exceed the limit of {max_vertices}; simplify the boundary"
        )
        return None
    if geom_type == "Polygon":
        return _polygon(coords, coords_path, report)
    if geom_type == "MultiPolygon":
        return _multipolygon(coords, coords_path, report)
    if isinstance(coords, list | tuple) and not coords:
        report.add(coords_path, "empty geometry: a Point needs [lon, lat]")
        return None
    position = _position(coords, coords_path, report)
    return Point(position) if position is not None else None


def _normalise_area(geom: BaseGeometry, crs: CoordinateSystem) -> AreaGeometry:
    """WGS-84 with the right-hand rule: exteriors counter-clockwise, holes clockwise."""
    return shapely.orient_polygons(to_wgs84_geometry(geom, crs), exterior_cw=False)


# --------------------------------------------------------------------------------------------
# Properties


def _text(props: Mapping[str, object], key: str, path: str, report: _Report, *, required: bool) -> str | None:
    value = props.get(key)
    if value is None:
        if required:
            report.add(f"{path}/{key}", f"missing required property {key!r}")
        return None
    if not isinstance(value, str) or not value.strip():
        report.add(f"{path}/{key}", f"{key} must be a non-empty string, got {_describe(value)}")
        return None
    if len(value) > MAX_TEXT_CHARS:
        report.add(f"{path}/{key}", f"{key} is {len(value)} characters long; the limit is {MAX_TEXT_CHARS}")
        return None
    return value


def _code(props: Mapping[str, object], path: str, report: _Report) -> str | None:
    """The feature's code; once known it is stamped on every later problem of the feature."""
    value = props.get("code")
    if isinstance(value, str) and value:
        report.code = value[:64]
    if value is None:
        report.add(f"{path}/code", "missing required property 'code'")
        return None
    if not isinstance(value, str) or not _CODE_RE.fullmatch(value):
        report.add(
            f"{path}/code",
            f"code must be 1-64 letters, digits, '-', '_' or '.', got {_describe(value)}",
        )
        return None
    return value


def _number(
    props: Mapping[str, object],
    key: str,
    path: str,
    report: _Report,
    *,
    low: float,
    high: float,
    low_open: bool,
) -> float | None:
    """An optional number in [low, high] (or (low, high] when ``low_open``); None when absent."""
    value = props.get(key)
    if value is None:
        return None
    number = _finite(value) if _is_number(value) else None
    if number is None:
        report.add(f"{path}/{key}", f"{key} must be a finite number, got {_describe(value)}")
        return None
    below = number <= low if low_open else number < low
    if below or number > high:
        bracket = "(" if low_open else "["
        report.add(f"{path}/{key}", f"{key} {number:g} is outside {bracket}{low:g}, {high:g}]")
        return None
    return number


def _phone(props: Mapping[str, object], path: str, report: _Report) -> str | None:
    value = _text(props, "worker_phone", path, report, required=False)
    if value is not None and not _PHONE_RE.fullmatch(value):
        report.add(f"{path}/worker_phone", f"worker_phone {_describe(value)} is not a phone number")
        return None
    return value


# --------------------------------------------------------------------------------------------
# Documents


def _source_crs(
    doc: Mapping[str, object], override: CoordinateSystem | None, report: _Report
) -> CoordinateSystem:
    """The datum the document's coordinates are in: the caller's override, its ``crs`` member, or WGS-84."""
    if override is not None:
        return override
    raw = doc.get("crs")
    if raw is None:
        return CoordinateSystem.WGS84
    if isinstance(raw, str):
        for crs in CoordinateSystem:
            if raw.upper() == crs.value:
                return crs
    if isinstance(raw, dict):
        props = raw.get("properties")
        if isinstance(props, dict) and props.get("name") in _LEGACY_WGS84_NAMES:
            return CoordinateSystem.WGS84
    choices = ", ".join(f'"{c.value}"' for c in CoordinateSystem)
    report.add("crs", f"unsupported crs {_describe(raw)}; use one of {choices}, or omit it for WGS-84")
    return CoordinateSystem.WGS84


@dataclass(frozen=True, slots=True)
class _Context:
    """What every feature builder needs besides the feature itself."""

    crs: CoordinateSystem
    max_vertices: int


T = TypeVar("T")
_Builder = Callable[[int, Mapping[str, object], Mapping[str, object], _Context, _Report], T | None]


def _parse(
    doc: object, crs: CoordinateSystem | None, max_vertices: int, builder: _Builder[T]
) -> tuple[T, ...]:
    """Walk a FeatureCollection, build each feature with ``builder``; raise if anything was wrong.

    ``builder`` gets the feature, its properties (``{}`` when unusable, after reporting why) and a
    report; it reads the code first (via ``_code``) so later problems carry it. Duplicate codes and
    the ``type`` members are checked here, once for both grids and zones.
    """
    problems: list[Problem] = []
    doc_report = _Report(problems, None)
    if not isinstance(doc, dict):
        doc_report.add("", f"expected a GeoJSON FeatureCollection object, got {_describe(doc)}")
        raise GeoJSONError(problems)
    if doc.get("type") != "FeatureCollection":
        doc_report.add("type", f"expected type 'FeatureCollection', got {_describe(doc.get('type'))}")
    context = _Context(_source_crs(doc, crs, doc_report), max_vertices)
    features = doc.get("features")
    if not isinstance(features, list):
        doc_report.add("features", f"features must be an array, got {_describe(features)}")
        raise GeoJSONError(problems)

    built: list[T] = []
    first_index_of: dict[str, int] = {}
    for index, feature in enumerate(features):
        report = _Report(problems, index)
        path = f"features/{index}"
        if not isinstance(feature, dict):
            report.add(path, f"a feature must be an object, got {_describe(feature)}")
            continue
        props = feature.get("properties")
        if not isinstance(props, dict):
            # RFC 7946 allows null properties; the missing required ones are reported one by one.
            if props is not None:
                report.add(f"{path}/properties", f"properties must be an object, got {_describe(props)}")
            props = {}
        item = builder(index, feature, props, context, report)
        if report.code is not None and _CODE_RE.fullmatch(report.code):
            first = first_index_of.setdefault(report.code, index)
            if first != index:
                report.add(
                    f"{path}/properties/code", f"duplicate code {report.code!r}: feature {first} has it too"
                )
        if feature.get("type") != "Feature":
            report.add(f"{path}/type", f"expected type 'Feature', got {_describe(feature.get('type'))}")
        report.close(path)
        if item is not None and report.clean:
            built.append(item)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            extra = len(problems) - MAX_PROBLEMS
            problems[MAX_PROBLEMS:] = [Problem(None, None, "features", f"{extra} more problems not listed")]
        raise GeoJSONError(problems)
    return tuple(built)


def _build_grid(
    index: int, feature: Mapping[str, object], props: Mapping[str, object], context: _Context, report: _Report
) -> GridFeature | None:
    path = f"features/{index}"
    ppath = f"{path}/properties"
    code = _code(props, ppath, report)
    texts = [_text(props, key, ppath, report, required=True) for key in _GRID_TEXT_FIELDS]
    worker_name = _text(props, "worker_name", ppath, report, required=False)
    worker_phone = _phone(props, ppath, report)
    geom = _geometry(feature, f"{path}/geometry", _AREA_TYPES, context.max_vertices, report)
    if not report.clean or code is None or geom is None:
        return None
    name, community_code, community_name, street_code, street_name = (t or "" for t in texts)
    return GridFeature(
        index=index,
        code=code,
        name=name,
        community_code=community_code,
        community_name=community_name,
        street_code=street_code,
        street_name=street_name,
        worker_name=worker_name,
        worker_phone=worker_phone,
        geometry=_normalise_area(geom, context.crs),
    )


def _build_zone(
    index: int, feature: Mapping[str, object], props: Mapping[str, object], context: _Context, report: _Report
) -> ZoneFeature | None:
    path = f"features/{index}"
    ppath = f"{path}/properties"
    code = _code(props, ppath, report)
    name = _text(props, "name", ppath, report, required=True)
    kind: ZoneKind | None = None
    raw_kind = props.get("kind")
    if raw_kind is None:
        report.add(f"{ppath}/kind", "missing required property 'kind'")
    elif not isinstance(raw_kind, str) or raw_kind not in {k.value for k in ZoneKind}:  # a list is unhashable
        choices = ", ".join(k.value for k in ZoneKind)
        report.add(f"{ppath}/kind", f"kind {_describe(raw_kind)} is not one of {choices}")
    else:
        kind = ZoneKind(raw_kind)
    min_alt_m = _number(props, "min_alt_m", ppath, report, low=0.0, high=MAX_ZONE_ALT_M, low_open=False)
    max_alt_m = _number(props, "max_alt_m", ppath, report, low=0.0, high=MAX_ZONE_ALT_M, low_open=False)
    if min_alt_m is not None and max_alt_m is not None and min_alt_m >= max_alt_m:
        report.add(f"{ppath}/max_alt_m", f"max_alt_m {max_alt_m:g} must be above min_alt_m {min_alt_m:g}")
    geom = _geometry(feature, f"{path}/geometry", _ZONE_TYPES, context.max_vertices, report)
    radius_m: float | None = None
    if isinstance(geom, Point):
        radius_m = _number(props, "radius_m", ppath, report, low=0.0, high=MAX_RADIUS_M, low_open=True)
        if radius_m is None and props.get("radius_m") is None:
            report.add(f"{ppath}/radius_m", "a Point zone is a circle and needs radius_m (metres)")
    if not report.clean or code is None or name is None or kind is None or geom is None:
        return None
    if isinstance(geom, Point):
        assert radius_m is not None
        centre = to_wgs84_geometry(geom, context.crs)
        zone = Zone(
            code,
            name,
            kind,
            circle=Circle(centre.x, centre.y, radius_m),
            min_alt_m=min_alt_m,
            max_alt_m=max_alt_m,
        )
    else:
        polygon = _normalise_area(geom, context.crs)
        zone = Zone(code, name, kind, polygon=polygon, min_alt_m=min_alt_m, max_alt_m=max_alt_m)
    return ZoneFeature(index=index, zone=zone)


def _site_builder(kind: SiteKind) -> _Builder[SiteFeature]:
    """A builder keeping the features of ``kind``; other site kinds are skipped unread."""

    def build(
        index: int,
        feature: Mapping[str, object],
        props: Mapping[str, object],
        context: _Context,
        report: _Report,
    ) -> SiteFeature | None:
        path = f"features/{index}"
        ppath = f"{path}/properties"
        raw_kind = props.get("kind", kind)
        if raw_kind != kind and raw_kind in SITE_KINDS:
            return None
        code = _code(props, ppath, report)
        if raw_kind != kind:
            report.add(f"{ppath}/kind", f"kind {_describe(raw_kind)} is not one of {', '.join(SITE_KINDS)}")
        name = _text(props, "name", ppath, report, required=False)
        grid_code = _text(props, "grid_code", ppath, report, required=False)

        def number(key: str, high: float, *, low_open: bool) -> float | None:
            return _number(props, key, ppath, report, low=0.0, high=high, low_open=low_open)

        height_m = number("height_m", MAX_SITE_HEIGHT_M, low_open=False)
        alt_m = number("alt_m", MAX_ZONE_ALT_M, low_open=True)
        radius_m = number("radius_m", MAX_RADIUS_M, low_open=True)
        hover_s = number("hover_s", MAX_HOVER_S, low_open=False)
        earliest_s = number("earliest_s", MAX_MISSION_TIME_S, low_open=False)
        latest_s = number("latest_s", MAX_MISSION_TIME_S, low_open=False)
        if earliest_s is not None and latest_s is not None and latest_s < earliest_s:
            report.add(f"{ppath}/latest_s", f"latest_s {latest_s:g} is before earliest_s {earliest_s:g}")
        geom = _geometry(feature, f"{path}/geometry", _SITE_TYPES[kind], context.max_vertices, report)
        if not report.clean or code is None or geom is None:
            return None
        point = isinstance(geom, Point)
        return SiteFeature(
            index=index,
            code=code,
            name=name,
            kind=kind,
            geometry=to_wgs84_geometry(geom, context.crs) if point else _normalise_area(geom, context.crs),
            grid_code=grid_code,
            height_m=height_m,
            alt_m=alt_m,
            radius_m=radius_m,
            hover_s=hover_s,
            earliest_s=earliest_s,
            latest_s=latest_s,
        )

    return build


def parse_sites(
    doc: object,
    *,
    kind: SiteKind,
    crs: CoordinateSystem | None = None,
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> tuple[SiteFeature, ...]:
    """The sites of ``kind`` in a FeatureCollection, or ``GeoJSONError`` listing every problem.

    One file may hold every kind (as ``geofences/sample/sites.geojson`` does): features of another
    site kind are skipped, a feature without ``kind`` is taken to be of ``kind`` (an API field
    named for the kind implies it), and an unknown kind is a problem (a typo would otherwise drop
    the site silently). Codes must be unique across the document.
    """
    if kind not in SITE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SITE_KINDS)}, got {kind!r}")
    return _parse(doc, crs, max_vertices, _site_builder(kind))


def parse_grids(
    doc: object, *, crs: CoordinateSystem | None = None, max_vertices: int = DEFAULT_MAX_VERTICES
) -> tuple[GridFeature, ...]:
    """Grids from a decoded GeoJSON FeatureCollection, or ``GeoJSONError`` listing every problem.

    ``crs`` overrides the document's ``crs`` member ("WGS84", "GCJ02" or "BD09"; absent means
    WGS-84). Ranges are checked on the coordinates as given, then they are converted to WGS-84.
    """
    return _parse(doc, crs, max_vertices, _build_grid)


def parse_zones(
    doc: object, *, crs: CoordinateSystem | None = None, max_vertices: int = DEFAULT_MAX_VERTICES
) -> tuple[ZoneFeature, ...]:
    """Zones from a decoded GeoJSON FeatureCollection, or ``GeoJSONError`` listing every problem.

    A Point feature with ``radius_m`` becomes a circle zone; polygons keep their holes.
    """
    return _parse(doc, crs, max_vertices, _build_zone)


# --------------------------------------------------------------------------------------------
# Overlaps


def find_overlaps(features: Sequence[CodedArea], *, min_area_m2: float = 1.0) -> tuple[Overlap, ...]:
    """Pairs of grids sharing at least ``min_area_m2`` of ground, in input order.

    Grids that merely touch (a shared edge, as neighbours should) have zero shared area and are
    not reported; the threshold also absorbs slivers from coordinate rounding. Areas are measured
    in one local UTM frame for the whole set.
    """
    if len(features) < 2:
        return ()
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds([f.geometry for f in features])
    frame = LocalFrame.for_lonlat((min_lon + max_lon) / 2.0, (min_lat + max_lat) / 2.0)
    local: npt.NDArray[np.object_] = np.array([frame.to_local(f.geometry) for f in features], dtype=object)
    tree = STRtree(local)
    left, right = tree.query(local, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    areas_m2 = shapely.area(shapely.intersection(local[left], local[right]))
    found = sorted(
        (int(i), int(j), float(a)) for i, j, a in zip(left, right, areas_m2, strict=True) if a >= min_area_m2
    )
    return tuple(Overlap(features[i].code, features[j].code, area) for i, j, area in found)


# --------------------------------------------------------------------------------------------
# Export


def _listify(value: object) -> object:
    if isinstance(value, list | tuple):
        return [_listify(v) for v in value]
    return value


def geometry_to_geojson(geom: BaseGeometry, *, precision: int = 7) -> dict[str, Any]:
    """A GeoJSON geometry object for a WGS-84 shapely geometry: right-hand rule, rounded, lists.

    Seven decimals is about a centimetre, finer than any grid boundary is surveyed.
    """
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    rounded = shapely.transform(oriented, lambda c: np.round(c, precision))
    out: dict[str, Any] = {
        "type": rounded.geom_type,
        "coordinates": _listify(mapping(rounded)["coordinates"]),
    }
    return out


def grid_to_feature(grid: GridLike) -> dict[str, Any]:
    """A GeoJSON Feature with the same properties ``parse_grids`` reads (absent optionals omitted)."""
    properties: dict[str, Any] = {
        "code": grid.code,
        "name": grid.name,
        "community_code": grid.community_code,
        "community_name": grid.community_name,
        "street_code": grid.street_code,
        "street_name": grid.street_name,
    }
    if grid.worker_name is not None:
        properties["worker_name"] = grid.worker_name
    if grid.worker_phone is not None:
        properties["worker_phone"] = grid.worker_phone
    return {"type": "Feature", "properties": properties, "geometry": geometry_to_geojson(grid.geometry)}


def grids_to_feature_collection(grids: Iterable[GridLike]) -> dict[str, Any]:
    """A WGS-84 FeatureCollection of grids that ``parse_grids`` reads back unchanged."""
    return {"type": "FeatureCollection", "features": [grid_to_feature(g) for g in grids]}


def zone_to_feature(zone: Zone) -> dict[str, Any]:
    """A GeoJSON Feature for a zone; a circle becomes a Point with ``radius_m``, as ``parse_zones`` reads."""
    properties: dict[str, Any] = {"code": zone.zone_id, "name": zone.name, "kind": zone.kind.value}
    if zone.min_alt_m is not None:
        properties["min_alt_m"] = zone.min_alt_m
    if zone.max_alt_m is not None:
        properties["max_alt_m"] = zone.max_alt_m
    if zone.circle is not None:
        properties["radius_m"] = zone.circle.radius_m
        geometry = geometry_to_geojson(Point(zone.circle.lon_deg, zone.circle.lat_deg))
    else:
        assert zone.polygon is not None
        geometry = geometry_to_geojson(zone.polygon)
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def zones_to_feature_collection(zones: Iterable[Zone]) -> dict[str, Any]:
    """A WGS-84 FeatureCollection of zones that ``parse_zones`` reads back unchanged."""
    return {"type": "FeatureCollection", "features": [zone_to_feature(z) for z in zones]}
