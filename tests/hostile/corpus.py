"""The hostile and broken input corpus: the routes it covers and the payloads it sends.

The routes come from the app's own OpenAPI document, so a route added later is covered by the
generic cases (path, query, body faults, wrong types, unknown fields) without anyone listing it:
only a route with a body needs a valid example body here, and ``test_every_route_with_input_is_in
_the_corpus`` fails naming any route that lacks one. The payloads are plain values and bytes,
built once (the million-vertex document is cached), so every test module reuses the same corpus.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import asyncpg

from app.config import Settings
from app.main import create_app

LON0, LAT0 = 120.540, 31.490
"""The test district's corner (as in tests/api/test_grids.py)."""

UNKNOWN_FIELD = "zz_unknown_field"

CONTROL_CHARACTERS = "".join(chr(c) for c in (*range(0x00, 0x20), 0x7F) if chr(c) not in "\t\n\r")
"""Refused in every string: C0 controls and DEL, but for tab, line feed and carriage return."""
SQL_LOOKING = (
    "'; DROP TABLE grids; --",
    "1' OR '1'='1",
    'x"); DELETE FROM api_tokens; --',
    "$1::text; TRUNCATE drones CASCADE",
    "%' UNION SELECT token_hash FROM api_tokens --",
)


# --- the routes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path template, with the schemas of its inputs (``$ref`` resolved)."""

    method: str
    template: str
    path_params: dict[str, dict[str, Any]]
    query_params: dict[str, dict[str, Any]]
    body_schema: dict[str, Any] | None
    body_required: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def takes_input(self) -> bool:
        return bool(self.path_params or self.query_params or self.body_schema is not None)

    def url(self, **overrides: str) -> str:
        """The path with every parameter at its sample value unless overridden (raw, not encoded)."""
        values = {name: path_sample(self, name) for name in self.path_params} | overrides
        return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], self.template)


@functools.cache
def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document of an app that is built, never started (no database is reached)."""
    spec: dict[str, Any] = create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()
    return spec


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with a ``$ref`` followed and a nullable ``anyOf`` reduced to its non-null branch."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return resolve(
            {
                **openapi_spec()["components"]["schemas"][name],
                **{k: v for k, v in schema.items() if k != "$ref"},
            }
        )
    branches = [b for b in schema.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) == 1:
        return resolve({**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]})
    return schema


def operations() -> list[Operation]:
    out = []
    for template, item in openapi_spec()["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            out.append(
                Operation(
                    method=method.upper(),
                    template=template,
                    path_params={p["name"]: resolve(p["schema"]) for p in params if p["in"] == "path"},
                    query_params={p["name"]: resolve(p["schema"]) for p in params if p["in"] == "query"},
                    body_schema=resolve(body) if body is not None else None,
                    body_required=bool(op.get("requestBody", {}).get("required")),
                )
            )
    return out


ACTIONS = {
    "/drones/{drone_id}/commands/{action}": "arm",
    "/work-orders/{order_id}/{action}": "start",
    "/runs/{run_id}/actions/{action}": "pause",
}


def path_sample(op: Operation, name: str) -> str:
    """A well-formed value for a path parameter (the resource need not exist)."""
    if name == "action":
        return ACTIONS[op.template]
    if op.path_params[name].get("type") == "integer":
        return "1"
    return "G1"


def square(lon: float, lat: float, size_deg: float = 0.003) -> list[list[float]]:
    return [
        [lon, lat],
        [lon + size_deg, lat],
        [lon + size_deg, lat + size_deg],
        [lon, lat + size_deg],
        [lon, lat],
    ]


def grid_feature(code: str, ring: list[list[Any]], **props: Any) -> dict[str, Any]:
    base = {
        "code": code,
        "name": f"grid {code}",
        "community_code": "C1",
        "community_name": "community one",
        "street_code": "S1",
        "street_name": "street one",
    }
    return {
        "type": "Feature",
        "properties": {**base, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def zone_feature(code: str, geometry: dict[str, Any], kind: str = "exclusion") -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"zone {code}", "kind": kind},
        "geometry": geometry,
    }


def polygon(ring: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def feature_collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


HOME = {"lon_deg": LON0 + 0.0015, "lat_deg": LAT0 + 0.0015}
DETECTION_SPOT = [LON0 + 0.0004, LAT0 + 0.0026]
"""Where the corpus's stored detections lie: in grid G1, but over 100 m from the spot (HOME) where
other suites' detections would join a detection alert the corpus left open."""


def valid_bodies() -> dict[str, dict[str, Any]]:
    """A well-formed body per operation label: the base that each hostile case spoils in one place.

    Well-formed means the body passes the route's schema; the resources it names need not exist.
    """
    plan = {"kind": "coverage", "grid_codes": ["G1"], "home": HOME, "alt_m": 40.0, "swath_m": 30.0}
    zone = zone_feature("Z1", polygon(square(LON0, LAT0)))
    return {
        "POST /tokens": {"name": "corpus", "role": "viewer", "communities": ["C1"]},
        "POST /grids/import": feature_collection(grid_feature("G1", square(LON0, LAT0))),
        "POST /geofences/import": feature_collection(zone),
        "POST /geofences": zone,
        "PUT /geofences/ceiling": {"ceiling_m": 120.0},
        "PUT /geofences/{code}": zone_feature("G1", polygon(square(LON0, LAT0))),
        "POST /drones": {
            "name": "corpus drone",
            "kind": "sim",
            "endpoint": "udpout:127.0.0.1:14999",
            "sysid": 7,
            "home": HOME,
            "capabilities": {"max_speed_mps": 10.0},
        },
        "PATCH /drones/{drone_id}": {"name": "renamed", "home": HOME},
        "POST /missions/plan": plan,
        "POST /missions": {**plan, "name": "corpus mission"},
        "POST /drones/{drone_id}/upload": {"mission_id": 1, "sortie": 0},
        "POST /drones/{drone_id}/commands/{action}": {"alt_m": 20.0},
        "POST /work-orders": {
            "channel": "hotline_12345",
            "external_ref": "corpus-1",
            "type": "illegal_dumping",
            "title": "rubbish by the gate",
            "position": HOME,
        },
        "PUT /work-orders/sla": {"type": "illegal_dumping", "severity": "warning", "due_s": 3600},
        "POST /work-orders/{order_id}/{action}": {"reason": "corpus", "assignee": {"name": "Li"}},
        "POST /detections": {
            "idempotency_key": "corpus-1",
            "type": "illegal_dumping",
            "confidence": 0.9,
            "position": {"type": "Point", "coordinates": DETECTION_SPOT},
            "note": "seen from above",
        },
        "POST /webhooks": {"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "secret": "s" * 16},
        "POST /runs": {"mission_id": 1, "start": False},
        "POST /runs/{run_id}/actions/{action}": {"drone_id": 1},
        "POST /schedules": {
            "name": "corpus schedule",
            "mission_id": 1,
            "start_at": "2030-01-01T08:00:00",
            "rrule": "FREQ=DAILY",
            "timezone": "Asia/Shanghai",
            "window": {"start": "07:00", "end": "18:00"},
            "blackout_dates": ["2030-02-10"],
        },
    }


# --- what a rejection must look like ------------------------------------------------------------


_UNION_TAGS = {"int", "float", "str", "bool", "list", "dict", "tuple"}


def _normalised(field: str) -> str:
    """A detail's field as a dotted path without its ``body.``/``query.``/``path.`` prefix or
    pydantic's union tags (``body.position.Point.coordinates`` names ``position.coordinates``)."""
    parts = field.replace("/", ".").split(".")
    if parts[0] in ("body", "query", "path") and len(parts) > 1:
        parts = parts[1:]
    kept = [p for p in parts if p not in _UNION_TAGS and not p[:1].isupper() and "[" not in p]
    return ".".join(kept)


def rejection_problem(
    status: int, payload: bytes, *, field: str | None = None, statuses: tuple[int, ...] = (422,)
) -> str | None:
    """Why this answer is not the expected rejection, or None when it is.

    The expected rejection: one of ``statuses``, exactly ``{code, message, details}`` with string
    code and message, and, when ``field`` is given, a detail naming that field (or a field inside
    it): ``body.home`` is named by ``body.home.lon_deg`` and by a GeoJSON ``features/0/...``.
    """
    if status not in statuses:
        return f"status {status} (expected {statuses}): {payload[:300]!r}"
    try:
        body = json.loads(payload)
    except ValueError:
        return f"status {status} body is not JSON: {payload[:300]!r}"
    if not isinstance(body, dict) or set(body) != {"code", "message", "details"}:
        return f"not the error shape: {body!r:.300}"
    if not isinstance(body["code"], str) or not isinstance(body["message"], str) or not body["message"]:
        return f"code and message must be strings: {body!r:.300}"
    if field is None:
        return None
    wanted = _normalised(field)
    details = body["details"] if isinstance(body["details"], list) else [body["details"]]
    named = [_normalised(str(d.get("field", ""))) for d in details if isinstance(d, dict)]
    if not any(n == wanted or n.startswith(wanted + ".") or _is_parent(n, wanted) for n in named):
        return f"no detail names {field!r}: {body!r:.400}"
    return None


def _is_parent(named: str, wanted: str) -> bool:
    """A member's parent object named instead (a discriminated union names the union, not its
    tag); never the whole body."""
    return bool(named) and named != "body" and wanted.startswith(named + ".")


# --- values -----------------------------------------------------------------------------------


def wrong_types(valid: Any) -> list[Any]:
    """Values no lax coercion turns into the type of ``valid`` (pydantic reads "1" as a float)."""
    if isinstance(valid, bool):
        return ["maybe", 2, [True], {"v": True}]
    if isinstance(valid, int | float):
        return ["twelve", [1], {"v": 1}] if isinstance(valid, float) else ["twelve", [1], {"v": 1}, 1.5]
    if isinstance(valid, str):
        return [12345, [valid], {"v": valid}]
    if isinstance(valid, list):
        return ["a list", 7, {"v": valid}]
    if isinstance(valid, dict):
        return ["an object", 7, [valid]]
    return []


def wrong_for_schema(schema: dict[str, Any]) -> list[Any]:
    """Values of the wrong JSON type for a field known only by its schema (absent from the example)."""
    kind = schema.get("type")
    if kind is None and ("properties" in schema or "$ref" in schema):
        kind = "object"
    if schema.get("format") in ("date-time", "date", "time"):
        return [["2030-01-01"], {"v": 1}]  # pydantic reads a number as a Unix time or seconds
    wrong: dict[str, list[Any]] = {
        "string": [12345, ["text"]],
        "number": ["twelve", [1.0]],
        "integer": ["twelve", 1.5],
        "boolean": ["maybe", [True]],
        "array": ["a list", {"v": 1}],
        "object": ["an object", [1]],
    }
    return wrong.get(str(kind), [])


NON_FINITE = ("NaN", "Infinity", "-Infinity")
FIELD_LITERALS = ("NaN", "Infinity", str(2**64))
"""Raw literals tried in every field of every body: non-finite, and an integer beyond 64 bits."""
"""JSON-ish number literals Python's decoder turns into non-finite floats."""


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) for every member of every object in ``value``, depth first; lists by index 0."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield (*path, key), sub
            yield from leaves(sub, (*path, key))
    elif isinstance(value, list) and value and isinstance(value[0], dict | list):
        yield from leaves(value[0], (*path, "0"))


def replaced(doc: Any, path: tuple[str, ...], new: Any) -> Any:
    """A deep copy of ``doc`` with the member at ``path`` replaced."""
    copy = json.loads(json.dumps(doc))
    target = copy
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = path[-1]
    if isinstance(target, list):
        target[int(last)] = new
    else:
        target[last] = new
    return copy


MARKER = "\u2063corpus-marker\u2063"
"""Stands in for a raw JSON literal (NaN, a huge integer) that json.dumps cannot write itself."""


def with_raw(doc: Any, path: tuple[str, ...], literal: str) -> bytes:
    """``doc`` as JSON bytes with the member at ``path`` replaced by a raw literal."""
    text = json.dumps(replaced(doc, path, MARKER))
    return text.replace(json.dumps(MARKER), literal).encode()


def malformed_bodies() -> list[tuple[str, bytes, str, str]]:
    """(id, raw body, field named, text the 422's message must contain) for bodies no route reads."""
    return [
        ("not-json", b"{name: corpus}", "body", "invalid JSON"),
        ("truncated", b'{"name": "corpus"', "body", "invalid JSON"),
        ("invalid-utf8", b'{"name": "caf\xe9"}', "body", "not valid UTF-8"),
        ("utf16", '{"name": "x"}'.encode("utf-16"), "body", "not valid UTF-8"),
        ("nested-100", b"[" * 100 + b"]" * 100, "body", "nested deeper"),
        ("nested-100000", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "body", "nested deeper"),
        ("integer-5000-digits", b'{"name": ' + b"7" * 5000 + b"}", "body", "digits"),
        ("integer-beyond-64-bits", b'{"name": 18446744073709551616}', "body.name", "64-bit"),
        ("lone-surrogate-key", b'{"\\udc00": 1}', "body.\\udc00", "surrogate"),
        ("nul-key", b'{"a\\u0000": 1}', "body.a\\u0000", "NUL"),
    ]


def not_an_object_bodies() -> list[tuple[str, bytes]]:
    return [("array", b"[]"), ("null", b"null"), ("string", b'"body"'), ("number", b"42"), ("true", b"true")]


# --- GeoJSON ----------------------------------------------------------------------------------


def bad_geometries() -> dict[str, dict[str, Any]]:
    """Geometries that must never become a grid, a zone, an area or a detection footprint."""
    ring = square(LON0, LAT0)
    bowtie = [
        [LON0, LAT0],
        [LON0 + 0.003, LAT0 + 0.003],
        [LON0 + 0.003, LAT0],
        [LON0, LAT0 + 0.003],
        [LON0, LAT0],
    ]
    return {
        "wrong-type": {"type": "Polygonn", "coordinates": [ring]},
        "type-not-a-string": {"type": 7, "coordinates": [ring]},
        "line-string": {"type": "LineString", "coordinates": ring},
        "no-coordinates": {"type": "Polygon"},
        "coordinates-a-string": {"type": "Polygon", "coordinates": "0,0 1,1"},
        "unclosed-ring": polygon(ring[:-1]),
        "too-few-points": polygon([ring[0], ring[1], ring[0]]),
        "self-intersecting": polygon(bowtie),
        "position-one-number": polygon([[LON0], *ring[1:]]),
        "position-strings": polygon([[str(LON0), str(LAT0)], *ring[1:-1], [str(LON0), str(LAT0)]]),
        "3d-coordinates": polygon([[*p, 10.0] for p in ring]),
        "4d-coordinates": polygon([[*p, 10.0, 1.0] for p in ring]),
        "longitude-out-of-range": polygon(square(181.0, LAT0)),
        "latitude-out-of-range": polygon(square(LON0, 90.5)),
        "empty-polygon": {"type": "Polygon", "coordinates": []},
        "empty-ring": {"type": "Polygon", "coordinates": [[]]},
        "hole-outside-shell": {"type": "Polygon", "coordinates": [ring, square(LON0 + 0.01, LAT0, 0.001)]},
        "empty-multipolygon": {"type": "MultiPolygon", "coordinates": []},
        "empty-geometry-collection": {"type": "GeometryCollection", "geometries": []},
        "nested-geometry-collections": {
            "type": "GeometryCollection",
            "geometries": [{"type": "GeometryCollection", "geometries": [polygon(ring)]}],
        },
        "geometry-null": None,  # type: ignore[dict-item]
    }


@functools.cache
def million_vertex_ring() -> bytes:
    """A closed ring of a million and one positions as JSON text, built once per run.

    Short coordinates (a zig-zag between two points near the district) keep it near 14 MB, under
    the 20 MB body limit, so it reaches the decoder and the GeoJSON validator instead of the 413.
    """
    a = f"[{LON0:.2f},{LAT0:.2f}]".encode()
    b = f"[{LON0 + 0.01:.2f},{LAT0 + 0.01:.2f}]".encode()
    return b"[" + b",".join([a, b] * 500_000) + b"," + a + b"]"


# --- images -----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, end: bool = True) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey), with one tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
    out += _png_chunk(b"IDAT", zlib.compress(b"\x00" * (1 + min(width, 64))))
    return out + (_png_chunk(b"IEND", b"") if end else b"")


def jpeg() -> bytes:
    """A minimal baseline JPEG structure: SOI, a SOF0 naming 16 x 16, SOS and EOI."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 16, 16, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + sof
        + sos
        + b"\x00" * 32
        + b"\xff\xd9"
    )


def not_images() -> dict[str, bytes]:
    """Bytes a detection might call an image: none of them is a JPEG or PNG a viewer can show."""
    return {
        "wrong-magic": b"GIF89a" + b"\x00" * 64,
        "text": b"this is not an image at all",
        "empty": b"",
        "truncated-jpeg": jpeg()[:24],
        "jpeg-without-end": jpeg()[:-2],
        "jpeg-magic-only": b"\xff\xd8\xff",
        "png-magic-only": b"\x89PNG\r\n\x1a\n",
        "png-bomb-dimensions": png(2**31 - 1, 2**31 - 1),
        "png-100k-square": png(100_000, 100_000),
        "png-zero-width": png(0, 16),
        "png-truncated": png(16, 16)[:40],
        "png-bad-crc": png(16, 16)[:29] + b"\x00\x00\x00\x00" + png(16, 16)[33:],
        "svg-with-script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "html-polyglot": b"\xff\xd8\xff<html><script>alert(1)</script></html>",
    }


# --- the database -----------------------------------------------------------------------------


async def table_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows in every table of the schema (partitions counted in their parent), in one query."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " ORDER BY c.relname"
        )
        query = " UNION ALL ".join(
            f"SELECT {quote_literal(t['relname'])}, count(*) FROM {quote_ident(t['relname'])}" for t in tables
        )
        return {name: n for name, n in await conn.fetch(query)}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {t: (before.get(t, 0), n) for t, n in after.items() if before.get(t, 0) != n}


def encoded(value: str) -> str:
    """A path segment or query value percent-encoded as a client would send it (UTF-8; surrogates
    are sent as the bytes a careless encoder writes, ED A0 80)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# --- one keep-alive connection ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One HTTP/1.1 connection to a real server, carrying requests in turn, so that every request
    after a hostile one provably travels on the same socket (no pool silently opens another)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        chunked: bool = False,
    ) -> Answer:
        """Send one request (the body with Content-Length, or chunked in 1 MB chunks) and read
        the whole answer; an answer announcing ``Connection: close`` fails the caller's test."""
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        if chunked:
            for start in range(0, len(body), 1_000_000):
                piece = body[start : start + 1_000_000]
                self.writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.writer.write(b"0\r\n\r\n")
        else:
            self.writer.write(body)
        await self.writer.drain()
        return await self._answer()

    async def _answer(self) -> Answer:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", 0))), 30)
        return Answer(status, headers, body)


# --- a campaign of hostile requests -------------------------------------------------------------

FOLLOW_UP = ("GET", "/tokens/me")
"""The valid request that must succeed on the same connection after hostile ones."""


class Campaign:
    """Hostile requests on one connection, each followed by a valid one; failures are collected so
    one run names every case that went wrong, not just the first."""

    def __init__(self, conn: Connection, headers: dict[str, str], label: str) -> None:
        self.conn = conn
        self.headers = headers
        self.label = label
        self.failures: list[str] = []
        self.sent = 0

    async def expect(
        self,
        case: str,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        field: str | None,
        statuses: tuple[int, ...] = (422,),
        contains: str | None = None,
        follow_up: bool = True,
        may_succeed: bool = False,
        chunked: bool = False,
    ) -> None:
        """Send one hostile request and check its answer; then (unless the caller batches them)
        a valid request on the same connection, which must succeed."""
        answer = await self.conn.request(method, target, self.headers, body, chunked=chunked)
        self.sent += 1
        if may_succeed and 200 <= answer.status < 300:
            problem = None  # stored or matched verbatim: a refusal is the other good answer
        else:
            problem = rejection_problem(answer.status, answer.body, field=field, statuses=statuses)
        if problem is None and contains is not None and contains not in answer.json()["message"]:
            problem = f"message lacks {contains!r}: {answer.body[:300]!r}"
        if problem is not None:
            self.failures.append(f"{self.label} [{case}] {target[:120]}: {problem}")
        if follow_up:
            await self.follow_up(case)

    async def follow_up(self, case: str) -> None:
        follow = await self.conn.request(*FOLLOW_UP, self.headers)
        if follow.status != 200:
            self.failures.append(
                f"{self.label} [{case}]: the next request got {follow.status}: {follow.body[:200]!r}"
            )

    def assert_clean(self) -> None:
        """Called by each test at its end (the fixture then checks that no row was written)."""
        assert self.sent > 0, f"{self.label}: no case was sent"
        assert not self.failures, "\n".join(self.failures)


@contextlib.asynccontextmanager
async def campaign_on(
    port: int, headers: dict[str, str], pool: asyncpg.Pool, label: str
) -> AsyncIterator[Campaign]:
    """A campaign on a fresh connection; on leaving, no table may have gained or lost a row."""
    before = await table_counts(pool)
    conn = await Connection.open(port)
    try:
        yield Campaign(conn, headers, label)
    finally:
        await conn.close()
    assert changed(before, await table_counts(pool)) == {}, "rows were written"
