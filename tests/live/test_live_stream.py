"""GET /ws/live over a real uvicorn server and a real WebSocket client, against PostgreSQL and UDP.

Two communities (CA with grid GA and drone A, CB with grid GB and drone B) stream real MAVLink
datagrams through one udpin link; clients authenticate with their first message and subscribe.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.auth import Role
from app.db.repos.alerts import NewAlert
from app.live import protocol
from app.services import tokens
from tests.conftest import auth, wipe_district
from tests.live.district import LAT, LON, register, two_communities
from tests.live.streamer import UdpStreamer
from tests.live.wsclient import Server, open_client, recv, recv_until, subscribe
from tests.procs import free_udp_port


@pytest.fixture(scope="module")
async def server(app: FastAPI) -> AsyncIterator[Server]:
    async with Server(app) as s:
        yield s


@pytest.fixture(scope="module")
async def district(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> AsyncIterator[dict[str, Any]]:
    await wipe_district(pool)
    admin = role_tokens["admin"]
    await two_communities(client, admin)
    port = free_udp_port()
    a = await register(client, admin, port, 1, "CA", "live-a")
    b = await register(client, admin, port, 2, "CB", "live-b")
    async with pool.acquire() as conn:
        scoped_a, _ = await tokens.create(
            conn, name="ca", role=Role.VIEWER, communities=["CA"], created_by=None
        )
    with UdpStreamer(port, 2, LON, LAT, position_hz=10.0):
        yield {"a": a, "b": b, "scoped_a": scoped_a, "admin": admin}
    for drone_id in (a, b):
        await client.delete(f"/drones/{drone_id}", headers=auth(admin))


async def closed_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(10):
            await recv(ws, 10)
    return ws.close_code


@pytest.mark.parametrize(
    "first",
    [
        json.dumps({"type": "subscribe", "drones": [1]}),
        json.dumps({"type": "auth", "token": "ag_AAAAAAAA_" + "A" * 32}),
        json.dumps({"type": "auth", "token": "not-a-token"}),
        json.dumps({"type": "auth"}),
        "not json",
    ],
    ids=["no-auth-first", "unknown-token", "malformed-token", "missing-token", "not-json"],
)
async def test_a_socket_without_a_valid_token_first_is_closed_with_1008(server: Server, first: str) -> None:
    ws = await connect(server.ws_url)
    await ws.send(first)
    assert await closed_code(ws) == 1008


async def test_a_client_that_sends_no_token_is_closed_with_1008_after_the_auth_timeout(
    server: Server,
) -> None:
    ws = await connect(server.ws_url)
    started = time.monotonic()
    assert await closed_code(ws) == 1008
    assert time.monotonic() - started >= protocol.AUTH_TIMEOUT_S * 0.9


async def test_a_token_in_the_url_is_not_accepted(server: Server, role_tokens: dict[str, str]) -> None:
    ws = await connect(f"{server.ws_url}?token={role_tokens['admin']}")
    await ws.send(json.dumps({"type": "subscribe", "communities": ["CA"]}))
    assert await closed_code(ws) == 1008


async def test_a_scoped_token_gets_an_error_naming_another_community_and_none_of_its_data(
    server: Server, district: dict[str, Any]
) -> None:
    ws = await open_client(server.ws_url, district["scoped_a"])
    try:
        err = await subscribe(ws, communities=["CB"])
        assert err["type"] == "error" and err["code"] == "forbidden" and "CB" in err["message"]
        assert err["details"] == [{"field": "communities", "problem": "CB outside the token's scope"}]
        for targets, field in (({"grids": ["GB"]}, "grids"), ({"drones": [district["b"]]}, "drones")):
            err = await subscribe(ws, **targets)
            assert err["type"] == "error" and err["code"] == "not_found", err
            assert err["details"][0]["field"] == field
        ok = await subscribe(ws, communities=["CA"])
        assert ok == {"type": "subscribed", "drones": [], "grids": [], "communities": ["CA"]}
        seen = await states_for(ws, 2.0)
        # Other modules' drones may share the database (and community CA): the promise is that every
        # state is of the token's community, and the other community's drone is never among them.
        assert district["a"] in seen and district["b"] not in seen, set(seen)
        assert {s["community_code"] for states in seen.values() for s in states} == {"CA"}
    finally:
        await ws.close()


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "subscribe", "drones": ["x"]}, "drones[0]"),
        ({"type": "subscribe", "drones": [True]}, "drones[0]"),
        ({"type": "subscribe", "grids": "GA"}, "grids"),
        ({"type": "subscribe", "communities": [""]}, "communities[0]"),
        ({"type": "subscribe", "drone": [1]}, "drone"),
        ({"type": "launch"}, "type"),
        ({"kind": "subscribe"}, "type"),
    ],
)
async def test_an_invalid_subscribe_is_an_error_naming_the_field_and_the_socket_stays_open(
    server: Server, role_tokens: dict[str, str], message: dict[str, Any], field: str
) -> None:
    ws = await open_client(server.ws_url, role_tokens["viewer"])
    try:
        await ws.send(json.dumps(message))
        err = await recv_until(ws, "error")
        assert err["code"] == "validation_failed" and err["details"][0]["field"] == field, err
        await ws.send(json.dumps({"type": "ping", "id": 7}))
        assert (await recv_until(ws, "pong"))["id"] == 7
    finally:
        await ws.close()


async def states_for(ws: ClientConnection, duration_s: float) -> dict[int, list[dict[str, Any]]]:
    """Every state received for ``duration_s``, by drone."""
    out: dict[int, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + duration_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await recv(ws, left)
        except TimeoutError:
            break
        if msg["type"] == "state":
            for s in msg["states"]:
                out.setdefault(s["drone_id"], []).append(s)
    return out


async def test_a_grid_subscription_gets_that_grids_drone_coalesced_to_at_most_5_hz(
    app: FastAPI, server: Server, district: dict[str, Any]
) -> None:
    ws = await open_client(server.ws_url, district["admin"])
    try:
        assert (await subscribe(ws, grids=["GB"]))["type"] == "subscribed"
        await states_for(ws, 0.5)  # the latest state on subscribing, and the grid index warming
        received_before = app.state.telemetry.stats.samples
        seen = await states_for(ws, 3.0)
        samples = app.state.telemetry.stats.samples - received_before
    finally:
        await ws.close()
    assert set(seen) == {district["b"]}
    states = seen[district["b"]]
    assert {s["grid_code"] for s in states} == {"GB"}
    assert samples >= 2 * 10 * 3 * 0.8, "both drones streamed at 10 Hz"
    assert 5 * 3 * 0.6 <= len(states) <= 5 * 3 + 2, "coalesced to 5 Hz from 10 Hz"
    times = [s["time_unix_ms"] for s in states]
    assert times == sorted(times), "newest state each time"


async def test_alerts_reach_subscribers_of_their_drone_and_only_within_scope(
    app: FastAPI, server: Server, district: dict[str, Any]
) -> None:
    admin = await open_client(server.ws_url, district["admin"])
    scoped = await open_client(server.ws_url, district["scoped_a"])
    try:
        assert (await subscribe(admin, drones=[district["b"]]))["type"] == "subscribed"
        assert (await subscribe(scoped, communities=["CA"]))["type"] == "subscribed"
        alert = NewAlert(
            drone_id=district["b"],
            type="battery_low",
            condition_key="live-test",
            severity="warning",
            message="battery 20 %",
            evidence={"battery_pct": 20},
            at=datetime.now(UTC),
            grid_code="GB",
            community_code="CB",
        )
        opened = await app.state.alerts.open(alert)
        got = await recv_until(admin, "alert")
        assert got["kind"] == "opened" and got["alert"]["id"] == opened.alert["id"]
        await app.state.alerts.clear(
            (district["b"], "battery_low", "live-test"), at=datetime.now(UTC), evidence={"battery_pct": 60}
        )
        got = await recv_until(admin, "alert")
        assert got["kind"] == "cleared" and got["alert"]["state"] == "cleared"
        await scoped.send(json.dumps({"type": "ping", "id": 1}))
        while (msg := await recv(scoped))["type"] != "pong":
            assert msg["type"] == "state", f"a CA token must not hear CB's alert: {msg}"
    finally:
        await admin.close()
        await scoped.close()
