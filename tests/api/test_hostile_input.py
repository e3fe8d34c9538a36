"""Hostile input gets a 4xx in the one error shape, never a 500, and writes nothing.

NUL characters and lone surrogates (which PostgreSQL cannot store), integers beyond bigint, bodies
that are not UTF-8 JSON or nest absurdly deep, a chunked body over the size limit, undeclared
methods. The keep-alive cases run against a real uvicorn on 127.0.0.1 over one raw TCP connection,
since a 500 there used to leave the connection unusable for the next request.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.api.test_grids import LAT0, LON0, collection, grid, grid_count, square
from tests.conftest import auth, wipe_district

NUL = "\x00"


@pytest.fixture
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str]) -> dict[str, str]:
    await wipe_district(pool)
    return auth(role_tokens["admin"])


def assert_rejected(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The status and code, the one error shape, and (when given) the field named in details."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    if field is not None:
        assert [d["field"] for d in body["details"]][:1] == [field], body
        assert body["message"].startswith(f"{field}: "), body
    return body


async def table_count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n


def drone_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "sim",
        "endpoint": "udpout:127.0.0.1:14999",
        "sysid": 7,
        "home": {"lon_deg": LON0, "lat_deg": LAT0},
    }


def plan_body(**overrides: Any) -> dict[str, Any]:
    return {"kind": "coverage", "grid_codes": ["G1"], "home": {"lon_deg": LON0, "lat_deg": LAT0}, **overrides}


async def test_nul_in_an_imported_grid_name_is_422_naming_it_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    doc = collection(grid("G1", square(LON0, LAT0)), grid("G2", square(LON0 + 0.01, LAT0), name=f"a{NUL}b"))
    r = await client.post("/grids/import", json=doc, headers=admin)
    body = assert_rejected(r, 422, "validation_failed", "body.features.1.properties.name")
    assert "NUL" in body["message"]
    assert await grid_count(pool) == 0


async def test_lone_surrogate_in_a_grid_name_is_422_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    text = json.dumps(collection(grid("G1", square(LON0, LAT0), name="SURROGATE")))
    text = text.replace("SURROGATE", "x\\ud800y")
    headers = {**admin, "Content-Type": "application/json"}
    r = await client.post("/grids/import", content=text.encode(), headers=headers)
    body = assert_rejected(r, 422, "validation_failed", "body.features.0.properties.name")
    assert "surrogate" in body["message"]
    assert await grid_count(pool) == 0


async def test_nul_in_a_member_name_is_422_with_the_name_escaped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    doc = collection(grid("G1", square(LON0, LAT0), **{f"k{NUL}": "v"}))
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert_rejected(r, 422, "validation_failed", "body.features.0.properties.k\\u0000")


@pytest.mark.parametrize(
    ("path", "body", "field", "table"),
    [
        ("/drones", drone_body(f"drone{NUL}"), "body.name", "drones"),
        ("/tokens", {"name": f"t{NUL}", "role": "viewer"}, "body.name", "api_tokens"),
        (
            "/tokens",
            {"name": "t", "role": "viewer", "communities": [f"C{NUL}"]},
            "body.communities.0",
            "api_tokens",
        ),
        ("/missions", {**plan_body(), "name": f"m{NUL}"}, "body.name", "missions"),
        ("/missions/plan", plan_body(grid_codes=[f"G{NUL}1"]), "body.grid_codes.0", "missions"),
    ],
    ids=["drone-name", "token-name", "token-community", "mission-name", "plan-grid-code"],
)
async def test_nul_in_a_stored_string_is_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: asyncpg.Pool,
    path: str,
    body: dict[str, Any],
    field: str,
    table: str,
) -> None:
    before = await table_count(pool, table)
    r = await client.post(path, json=body, headers=admin)
    assert_rejected(r, 422, "validation_failed", field)
    assert await table_count(pool, table) == before


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", "/grids/%00", "path.code"),
        ("DELETE", "/grids/%00", "path.code"),
        ("GET", "/geofences/%00", "path.code"),
        ("GET", "/grids?community=%00", "query.community"),
        ("GET", "/grids?street=ok&x%00=1", "query.x\\u0000"),
    ],
)
async def test_nul_in_a_path_or_query_parameter_is_422_naming_it(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, url: str, field: str
) -> None:
    r = await client.request(method, url, headers=admin)
    assert_rejected(r, 422, "validation_failed", field)


@pytest.mark.parametrize("drone_id", [2**62 + 1, 2**63, 2**70, -(2**63) - 1])
async def test_drone_id_beyond_bigint_in_a_plan_request_is_422(
    client: httpx.AsyncClient, admin: dict[str, str], drone_id: int
) -> None:
    r = await client.post("/missions/plan", json=plan_body(drone_id=drone_id), headers=admin)
    assert_rejected(r, 422, "validation_failed", "body.drone_id")


async def test_integer_beyond_64_bits_anywhere_in_a_body_is_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    doc = collection(grid("G1", square(LON0, LAT0), extra=[1, 2**64]))
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert_rejected(r, 422, "validation_failed", "body.features.0.properties.extra.1")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"name": "caf\xe9"}', "not valid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
        (b"[" * 70 + b"]" * 70, "nested deeper than 64 levels"),
        (b'{"name": ', "invalid JSON"),
    ],
    ids=["invalid-utf8", "nested-5000", "nested-70", "truncated"],
)
async def test_malformed_body_is_422_validation_failed(
    client: httpx.AsyncClient, admin: dict[str, str], content: bytes, problem: str
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    r = await client.post("/drones", content=content, headers=headers)
    body = assert_rejected(r, 422, "validation_failed", "body")
    assert problem in body["message"], body


async def test_chunked_body_over_the_limit_without_content_length_is_413(
    client: httpx.AsyncClient, admin: dict[str, str], app: FastAPI, pool: asyncpg.Pool
) -> None:
    limit = app.state.settings.max_body_bytes
    chunk = b" " * 1_000_000

    async def body() -> AsyncIterator[bytes]:
        for _ in range(limit // len(chunk) + 5):  # 25 MB with the default 20 MB limit
            yield chunk

    headers = {**admin, "Content-Type": "application/json"}
    r = await client.post("/grids/import", content=body(), headers=headers)
    assert "content-length" not in r.request.headers
    body_json = assert_rejected(r, 413, "body_too_large")
    assert body_json["details"]["limit_bytes"] == limit
    assert await grid_count(pool) == 0


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", "/grids/G1", "DELETE, GET"),
        ("PATCH", "/grids", "GET"),
        ("DELETE", "/drones", "GET, POST"),
        ("PUT", "/geofences/ceiling", None),  # allowed: not a 405
        ("POST", "/geofences/ceiling", "GET, PUT"),
        ("DELETE", "/geofences/ceiling", "GET, PUT"),  # not a zone code: /geofences/{code} does not match
        ("GET", "/grids/import", "POST"),
        ("GET", "/missions/plan", "POST"),
        ("DELETE", "/tokens/me", "GET"),
        ("PUT", "/tokens/1", "DELETE, GET"),
    ],
)
async def test_undeclared_method_is_405_with_every_allowed_method(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, url: str, allow: str | None
) -> None:
    r = await client.request(method, url, headers=admin)
    if allow is None:
        assert r.status_code != 405, r.text
        return
    assert_rejected(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == allow


async def test_created_resources_read_back_at_their_location(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = []
    r = await client.post("/drones", json=drone_body("located"), headers=admin)
    created.append(r)
    r = await client.post("/tokens", json={"name": "located", "role": "viewer"}, headers=admin)
    created.append(r)
    zone = {
        "type": "Feature",
        "properties": {"code": "Z-1", "name": "pond", "kind": "exclusion"},
        "geometry": {"type": "Polygon", "coordinates": [square(LON0, LAT0)]},
    }
    r = await client.post("/geofences", json=zone, headers=admin)
    created.append(r)
    for r in created:
        assert r.status_code == 201, r.text
        back = await client.get(r.headers["Location"], headers=admin)
        assert back.status_code == 200, (r.headers["Location"], back.text)
    assert [r.headers["Location"] for r in created] == [
        f"/drones/{created[0].json()['id']}",
        f"/tokens/{created[1].json()['id']}",
        "/geofences/Z-1",
    ]
    assert (await client.get(created[1].headers["Location"], headers=admin)).json()["name"] == "located"


async def test_zone_code_its_url_cannot_reach_is_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    zone = {
        "type": "Feature",
        "properties": {"code": "ceiling", "name": "pond", "kind": "exclusion"},
        "geometry": {"type": "Polygon", "coordinates": [square(LON0, LAT0)]},
    }
    r = await client.post("/geofences", json=zone, headers=admin)
    assert_rejected(r, 422, "validation_failed")


# --- the same faults over a real server and one keep-alive connection -------------------------


@pytest.fixture
async def server_port(app: FastAPI) -> AsyncIterator[int]:
    """The session's app behind a real uvicorn on 127.0.0.1 (its lifespan is already running)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


class RawConnection:
    """One TCP connection carrying HTTP/1.1 requests in turn, so reuse is certain, not pooled."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            assert name.strip().lower() != b"connection" or value.strip().lower() != b"close", head
        return status, await asyncio.wait_for(self.reader.readexactly(length), 10)


def hostile_requests() -> Iterator[tuple[str, str, bytes]]:
    plan = json.dumps(plan_body(drone_id=2**63)).encode()
    yield "POST", "/missions/plan", plan
    yield "POST", "/missions/plan", json.dumps(plan_body(drone_id=2**70)).encode()
    yield "POST", "/drones", json.dumps(drone_body(f"d{NUL}")).encode()
    grid_doc = json.dumps(collection(grid("G1", square(LON0, LAT0), name="SURROGATE")))
    yield "POST", "/grids/import", grid_doc.replace("SURROGATE", "\\udfff").encode()
    yield "GET", "/grids/%00", b""
    yield "DELETE", "/grids/%00", b""
    yield "GET", "/geofences/%00", b""
    yield "GET", "/grids?community=%00", b""
    yield "POST", "/drones", b'{"name": "\xff"}'
    yield "POST", "/drones", b"[" * 5000


async def test_keep_alive_connection_serves_the_next_request_after_each_hostile_one(
    server_port: int, admin: dict[str, str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server_port)
    conn = RawConnection(reader, writer)
    headers = {**admin, "Content-Type": "application/json"}
    try:
        for method, target, body in hostile_requests():
            status, payload = await conn.request(method, target, headers, body)
            assert status == 422, (target, payload)
            assert json.loads(payload)["code"] == "validation_failed"
            status, payload = await conn.request("GET", "/grids", headers)
            assert status == 200, (target, payload)
            assert json.loads(payload)["type"] == "FeatureCollection"
    finally:
        writer.close()


async def test_chunked_body_over_the_limit_is_413_over_a_real_server(
    server_port: int, admin: dict[str, str], app: FastAPI
) -> None:
    limit = app.state.settings.max_body_bytes

    async def body() -> AsyncIterator[bytes]:
        for _ in range(limit // 1_000_000 + 5):
            yield b" " * 1_000_000

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server_port}") as c:
        r = await c.post(
            "/grids/import", content=body(), headers={**admin, "Content-Type": "application/json"}
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert_rejected(r, 413, "body_too_large")
        assert (await c.get("/grids", headers=admin)).status_code == 200


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/alerts?from=0001-01-01T00:00:00%2B14:00", "query.from"),
        ("/alerts?to=9999-12-31T23:59:59-14:00", "query.to"),
        ("/alerts/counts?from=1969-12-31T23:59:59Z", "query.from"),
        ("/telemetry/samples?to=9999-12-31T23:59:59-14:00", "query.to"),
        ("/telemetry/events?to=0001-01-01T00:30:00Z", "query.to"),
        ("/drones/1/track?from=0001-01-01T00:00:00%2B14:00", "query.from"),
    ],
)
async def test_datetime_beyond_what_utc_and_postgresql_hold_is_422(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, field: str
) -> None:
    r = await client.get(url, headers=admin)
    assert_rejected(r, 422, "validation_failed", field)
