"""Every route that takes a path, a query or a body, against the generic hostile corpus.

The routes are read from the app's OpenAPI document (tests/hostile/corpus.py), so a new route is
covered without being listed. Each case goes over one keep-alive connection to a real uvicorn on
127.0.0.1 and must get a 4xx in the one error shape naming the field; the next request on the same
connection must succeed; and no table may gain or lose a row over the whole route's cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute

from tests.conftest import auth, wipe_district
from tests.hostile import corpus
from tests.hostile.corpus import Campaign, Operation, campaign_on
from tests.live.wsclient import Server

OPERATIONS = [op for op in corpus.operations() if op.takes_input]
WITH_BODY = [op for op in OPERATIONS if op.body_schema is not None]
WITH_PATH = [op for op in OPERATIONS if op.path_params]
WITH_QUERY = [op for op in OPERATIONS if op.query_params]
WEBSOCKET_ROUTES_COVERED = {"/ws/live"}  # tests/hostile/test_corpus_websocket.py
GEOJSON_BODIES = {"POST /grids/import", "POST /geofences/import", "POST /geofences", "PUT /geofences/{code}"}
"""Bodies that are GeoJSON documents: RFC 7946 lets them carry foreign members."""


@pytest.fixture(scope="module")
async def server(app: FastAPI) -> AsyncIterator[Server]:
    async with Server(app) as s:
        yield s


@pytest.fixture(scope="module")
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str]) -> dict[str, str]:
    await wipe_district(pool)
    return {**auth(role_tokens["admin"]), "Content-Type": "application/json"}


@pytest.fixture
async def campaign(
    request: pytest.FixtureRequest, server: Server, admin: dict[str, str], pool: asyncpg.Pool
) -> AsyncIterator[Campaign]:
    async with campaign_on(server.port, admin, pool, request.node.callspec.id) as run:
        yield run


def _websocket_paths(routes: list[Any]) -> set[str]:
    found = set()
    for route in routes:
        if isinstance(route, APIWebSocketRoute):
            found.add(route.path)
        included = getattr(route, "original_router", route)  # FastAPI keeps included routers whole
        found |= _websocket_paths(list(getattr(included, "routes", ())))
    return found


def test_every_route_with_input_is_in_the_corpus(app: FastAPI) -> None:
    """A route the corpus cannot feed fails here by name instead of silently going untested."""
    bodies = corpus.valid_bodies()
    missing = [op.label for op in WITH_BODY if op.label not in bodies]
    unknown_actions = [
        op.label for op in WITH_PATH if "action" in op.path_params and op.template not in corpus.ACTIONS
    ]
    assert missing == [], f"routes with a body but no valid example in corpus.valid_bodies(): {missing}"
    assert unknown_actions == [], f"routes with an action but none in corpus.ACTIONS: {unknown_actions}"
    assert sorted(bodies) == sorted(op.label for op in WITH_BODY), "valid_bodies() names routes that are gone"
    assert _websocket_paths(app.router.routes) == WEBSOCKET_ROUTES_COVERED
    assert len(WITH_BODY) >= 20 and len(WITH_PATH) >= 25 and len(WITH_QUERY) >= 15


# --- path parameters --------------------------------------------------------------------------

INTEGER_PATHS_UNROUTED = ("abc", "-1", "1.5", "%00", "..%2F..%2Fetc%2Fpasswd")
"""Not digits: the id convertor does not match, so no route does: 404 not_found."""
INTEGER_PATHS_OUT_OF_RANGE = ("0", str(2**62 + 1), "9" * 40)
CODE_PATHS_REFUSED = ("%00", "a%20b", "%27%3B%20DROP%20TABLE%20grids%3B--", "x" * 65, "%ED%A0%80", "%1B")
ACTION_PATHS_REFUSED = ("bogus", "arm%00", "%27%20OR%201%3D1--")


@pytest.mark.parametrize("op", WITH_PATH, ids=[op.label for op in WITH_PATH])
async def test_hostile_path_parameters_are_refused(campaign: Campaign, op: Operation) -> None:
    body = json.dumps(corpus.valid_bodies()[op.label]).encode() if op.body_schema is not None else b""
    for name, schema in op.path_params.items():
        field = f"path.{name}"
        cases: list[tuple[str, str | None, tuple[int, ...]]]
        if name == "action":
            cases = [(value, field, (422,)) for value in ACTION_PATHS_REFUSED]
        elif schema.get("type") == "integer":
            cases = [(value, None, (404,)) for value in INTEGER_PATHS_UNROUTED]
            cases += [(value, field, (422,)) for value in INTEGER_PATHS_OUT_OF_RANGE]
        else:
            cases = [(value, field, (422,)) for value in CODE_PATHS_REFUSED]
            cases.append(("..%2F..%2Fetc%2Fpasswd", None, (404, 405)))
        for value, named, statuses in cases:
            target = op.url(**{name: value})
            await campaign.expect(
                value, op.method, target, body, field=named, statuses=statuses, follow_up=False
            )
        await campaign.follow_up(name)
    campaign.assert_clean()


# --- query parameters -------------------------------------------------------------------------

SQL_QUERY = corpus.encoded(corpus.SQL_LOOKING[0])


def _refused_query_values(schema: dict[str, Any]) -> list[str]:
    """Encoded values the schema refuses (so must be a 422 naming the parameter)."""
    values = ["%00"]
    kind = schema.get("type")
    if kind == "array":
        return [*values, "bogus", SQL_QUERY]
    if kind == "integer":
        values += ["abc", "1.5", "9" * 40]
        if "maximum" in schema:
            values.append(str(schema["maximum"] + 1))
        if "minimum" in schema:
            values.append(str(schema["minimum"] - 1))
    elif kind == "boolean":
        values += ["maybe", SQL_QUERY]
    elif schema.get("format") == "date-time":
        values += [
            "not-a-date",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T25:00:00Z",
            SQL_QUERY,
        ]
    elif "enum" in schema:
        values += ["bogus", SQL_QUERY]
    elif "pattern" in schema:
        values += [SQL_QUERY, "a%20b", "x" * 65, "%01", "%ED%A0%80"]
    elif "maxLength" in schema:
        values.append("x" * (schema["maxLength"] + 1))
    return values


def _query_sample(schema: dict[str, Any]) -> str | None:
    """A value the schema accepts, for parameters the route requires."""
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00Z"
    return None


@pytest.mark.parametrize("op", WITH_QUERY, ids=[op.label for op in WITH_QUERY])
async def test_hostile_query_parameters_are_refused(campaign: Campaign, op: Operation) -> None:
    body = json.dumps(corpus.valid_bodies()[op.label]).encode() if op.body_schema is not None else b""
    base = {n: v for n, s in op.query_params.items() if (v := _query_sample(s)) is not None}
    for name, schema in op.query_params.items():
        for value in _refused_query_values(schema):
            query = "&".join(f"{n}={v}" for n, v in {**base, name: value}.items())
            target = f"{op.url()}?{query}"
            await campaign.expect(value, op.method, target, body, field=f"query.{name}", follow_up=False)
        if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
            for text in (*corpus.SQL_LOOKING[:2], "\ud800"):  # free text: matched verbatim, never run
                query = "&".join(f"{n}={v}" for n, v in {**base, name: corpus.encoded(text)}.items())
                target = f"{op.url()}?{query}"
                field = f"query.{name}"
                await campaign.expect(
                    repr(text), op.method, target, body, field=field, may_succeed=True, follow_up=False
                )
        await campaign.follow_up(name)
    names = "&".join(f"{corpus.encoded(n)}=1" for n in ("x\x00", "\x01"))
    await campaign.expect("bad-names", op.method, f"{op.url()}?{names}", body, field="query.x\\u0000")
    campaign.assert_clean()


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", WITH_BODY, ids=[op.label for op in WITH_BODY])
async def test_malformed_bodies_are_refused(campaign: Campaign, op: Operation) -> None:
    url = op.url()
    for case, raw, field, needle in corpus.malformed_bodies():
        await campaign.expect(case, op.method, url, raw, field=field, contains=needle)
    for case, raw in corpus.not_an_object_bodies():
        if case == "null" and not op.body_required:
            continue  # an optional body: null is the absent body, and the resource 404s
        await campaign.expect(case, op.method, url, raw, field=None)
    campaign.assert_clean()


def _is_date_like(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^\d{2}", value) is not None


@pytest.mark.parametrize("op", WITH_BODY, ids=[op.label for op in WITH_BODY])
async def test_wrong_types_non_finite_and_huge_numbers_in_every_field_are_refused(
    campaign: Campaign, op: Operation
) -> None:
    valid = corpus.valid_bodies()[op.label]
    url = op.url()
    for path, value in corpus.leaves(valid):
        field = ".".join(path)
        wrong = corpus.wrong_types(value)
        if _is_date_like(value):  # pydantic reads a number as a Unix time or seconds
            wrong = [w for w in wrong if not isinstance(w, int | float)]
        for bad in wrong:
            raw = json.dumps(corpus.replaced(valid, path, bad)).encode()
            await campaign.expect(f"{field}={bad!r:.30}", op.method, url, raw, field=field, follow_up=False)
        for literal in corpus.FIELD_LITERALS:
            raw = corpus.with_raw(valid, path, literal)
            await campaign.expect(f"{field}={literal:.20}", op.method, url, raw, field=field, follow_up=False)
        await campaign.follow_up(field)
    for name, schema in (op.body_schema or {}).get("properties", {}).items():
        if name in valid:
            continue  # done above, from its example value
        for bad in corpus.wrong_for_schema(corpus.resolve(schema)):
            raw = json.dumps({**valid, name: bad}).encode()
            await campaign.expect(f"{name}={bad!r:.30}", op.method, url, raw, field=name, follow_up=False)
    await campaign.follow_up("absent fields")
    campaign.assert_clean()


@pytest.mark.parametrize("op", WITH_BODY, ids=[op.label for op in WITH_BODY])
async def test_hostile_strings_in_every_text_field_are_refused(campaign: Campaign, op: Operation) -> None:
    """NUL, other control characters and lone surrogates, in values and in member names."""
    valid = corpus.valid_bodies()[op.label]
    url = op.url()
    texts = [(path, value) for path, value in corpus.leaves(valid) if isinstance(value, str)]
    for path, value in texts:
        field = ".".join(path)
        for char in ("\x00", "\x1b"):
            raw = json.dumps(corpus.replaced(valid, path, value[:1] + char + value[1:])).encode()
            await campaign.expect(
                f"{field}+U+{ord(char):04X}", op.method, url, raw, field=field, follow_up=False
            )
        raw = corpus.with_raw(valid, path, '"a\\ud800b"')
        await campaign.expect(f"{field}+surrogate", op.method, url, raw, field=field, follow_up=False)
        await campaign.follow_up(field)
    raw = json.dumps({**valid, "k\x00": 1}).encode()
    await campaign.expect("nul-member-name", op.method, url, raw, field="body.k\\u0000")
    campaign.assert_clean()


@pytest.mark.parametrize("op", WITH_BODY, ids=[op.label for op in WITH_BODY])
async def test_unknown_fields_are_refused_at_every_level(campaign: Campaign, op: Operation) -> None:
    """A typo must not be silently ignored; GeoJSON documents may carry foreign members (RFC 7946)."""
    if op.label in GEOJSON_BODIES:
        pytest.skip("RFC 7946 section 6.1: foreign members are allowed in GeoJSON")
    valid = corpus.valid_bodies()[op.label]
    url = op.url()
    objects = [((), valid), *((p, v) for p, v in corpus.leaves(valid) if isinstance(v, dict))]
    for path, value in objects:
        if "type" in value and "coordinates" in value:
            continue  # a GeoJSON geometry (the detection's position): foreign members allowed
        spoilt = (
            corpus.replaced(valid, path, {**value, corpus.UNKNOWN_FIELD: 1})
            if path
            else {**valid, corpus.UNKNOWN_FIELD: 1}
        )
        field = ".".join((*path, corpus.UNKNOWN_FIELD))
        await campaign.expect(field, op.method, url, json.dumps(spoilt).encode(), field=field)
    campaign.assert_clean()
