"""The hostile corpus over the live WebSocket (/ws/live), with a real client against a real uvicorn.

Before authentication anything but a valid ``auth`` message closes the socket with 1008 (policy),
never 1011 (a server error). After it, every bad message gets an ``error`` message in the API's
error shape naming the field, and the same socket still answers a ``ping``. Frames the WebSocket
protocol itself forbids (text that is not UTF-8, a frame over the size limit) close the socket with
the protocol's own code (1007, 1009), and the service goes on serving other sockets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.hostile import corpus
from tests.live.wsclient import Server, open_client, recv

OVER_THE_FRAME_LIMIT = 17 * 2**20
"""uvicorn's default ws_max_size is 16 MiB."""


@pytest.fixture(scope="module")
async def server(app: FastAPI) -> AsyncIterator[Server]:
    async with Server(app) as s:
        yield s


@pytest.fixture
async def nothing_written(pool: asyncpg.Pool) -> AsyncIterator[None]:
    before = await corpus.table_counts(pool)
    yield
    assert corpus.changed(before, await corpus.table_counts(pool)) == {}


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(10):
            await recv(ws, 10)
    return ws.close_code


async def still_served(server: Server, token: str) -> None:
    """A new socket authenticates and answers a ping: the hostile one hurt no one else."""
    ws = await open_client(server.ws_url, token)
    try:
        await ws.send(json.dumps({"type": "ping", "id": "after"}))
        assert await recv(ws) == {"type": "pong", "id": "after"}
    finally:
        await ws.close()


DEEP = "[" * 60_000
"""Under the 65,536-character frame limit, so it reaches the JSON decoder's recursion limit."""

BAD_FIRST_MESSAGES: dict[str, str | bytes] = {
    "binary": b"\x00\x01\x02",
    "empty": "",
    "not-json": "auth please",
    "array": "[]",
    "deep-nesting": DEEP,
    "nan-token": '{"type": "auth", "token": NaN}',
    "token-not-a-string": '{"type": "auth", "token": ["ag_x"]}',
    "nul-token": '{"type": "auth", "token": "ag_\\u0000"}',
    "surrogate-token": '{"type": "auth", "token": "ag_\\ud800"}',
    "huge-integer": '{"type": "auth", "token": ' + "9" * 5000 + "}",
    "too-long": json.dumps({"type": "auth", "token": "A" * 70_000}),
    "sql-token": json.dumps({"type": "auth", "token": "' OR '1'='1"}),
    "subscribe-first": json.dumps({"type": "subscribe", "drones": [1]}),
}


@pytest.mark.parametrize("first", list(BAD_FIRST_MESSAGES))
async def test_a_bad_first_message_closes_with_1008_and_others_are_still_served(
    server: Server, role_tokens: dict[str, str], nothing_written: None, first: str
) -> None:
    ws = await connect(server.ws_url)
    await ws.send(BAD_FIRST_MESSAGES[first])
    assert await close_code(ws) == 1008
    await still_served(server, role_tokens["viewer"])


def _subscribe(**members: Any) -> str:
    return json.dumps({"type": "subscribe", **members})


BAD_MESSAGES: list[tuple[str, str | bytes, str]] = [
    ("binary", b"\xde\xad\xbe\xef", "message"),
    ("not-json", "subscribe me", "message"),
    ("array", "[1, 2]", "message"),
    ("no-type", json.dumps({"drones": [1]}), "type"),
    ("type-not-a-string", json.dumps({"type": 7}), "type"),
    ("unknown-type", json.dumps({"type": "dance"}), "type"),
    ("second-auth", json.dumps({"type": "auth", "token": "x"}), "type"),
    ("unknown-field", _subscribe(drones=[1], zz_unknown=1), "zz_unknown"),
    ("drones-a-string", _subscribe(drones="1"), "drones"),
    ("drones-an-object", _subscribe(drones={"id": 1}), "drones"),
    ("drone-zero", _subscribe(drones=[0]), "drones[0]"),
    ("drone-negative", _subscribe(drones=[-1]), "drones[0]"),
    ("drone-beyond-64-bits", _subscribe(drones=[2**64]), "drones[0]"),
    ("drone-true", _subscribe(drones=[True]), "drones[0]"),
    ("drone-float", _subscribe(drones=[1.5]), "drones[0]"),
    ("drone-string", _subscribe(drones=["1"]), "drones[0]"),
    ("drone-null", _subscribe(drones=[None]), "drones[0]"),
    ("too-many-drones", _subscribe(drones=list(range(1, 5002))), "drones"),
    ("unknown-drone", _subscribe(drones=[987654]), "drones"),
    ("grids-a-string", _subscribe(grids="G1"), "grids"),
    ("grid-empty", _subscribe(grids=[""]), "grids[0]"),
    ("grid-too-long", _subscribe(grids=["x" * 65]), "grids[0]"),
    ("grid-a-number", _subscribe(grids=[1]), "grids[0]"),
    ("grid-nul", _subscribe(grids=["a\x00b"]), "grids[0]"),
    ("grid-control", _subscribe(grids=["a\x1bb"]), "grids[0]"),
    ("grid-surrogate", _subscribe(grids=["SURROGATE"]).replace("SURROGATE", "\\ud800"), "grids[0]"),
    ("grid-sql", _subscribe(grids=["'; DROP TABLE grids; --"]), "grids[0]"),
    ("community-object", _subscribe(communities=[{"code": "C1"}]), "communities[0]"),
    ("community-nul", _subscribe(communities=["C\x00"]), "communities[0]"),
    ("unknown-community", _subscribe(communities=["NOWHERE"]), "communities"),
    ("nan", '{"type": "ping", "id": NaN}', "message"),
    ("infinity", '{"type": "subscribe", "drones": [Infinity]}', "message"),
    ("huge-integer", '{"type": "ping", "id": ' + "9" * 5000 + "}", "message"),
    ("deep-nesting", DEEP, "message"),
    ("too-long", json.dumps({"type": "ping", "id": "x" * 70_000}), "message"),
]


async def test_every_bad_message_after_auth_is_an_error_naming_the_field_and_the_socket_stays_open(
    server: Server, role_tokens: dict[str, str], nothing_written: None
) -> None:
    ws = await open_client(server.ws_url, role_tokens["admin"])
    failures = []
    try:
        for case, frame, field in BAD_MESSAGES:
            await ws.send(frame)
            answer = await recv(ws)
            named = [d.get("field") for d in answer.get("details") or []]
            if answer.get("type") != "error" or set(answer) != {"type", "code", "message", "details"}:
                failures.append(f"{case}: not an error message: {answer!r:.300}")
            elif not isinstance(answer["message"], str) or field not in named:
                failures.append(f"{case}: no detail names {field!r}: {answer!r:.300}")
            await ws.send(json.dumps({"type": "ping", "id": case}))
            pong = await recv(ws)
            if pong != {"type": "pong", "id": case}:
                failures.append(f"{case}: the ping after it got {pong!r:.200}")
        await ws.send(_subscribe(drones=[], grids=[], communities=[]))
        assert (await recv(ws))["type"] == "subscribed"
    finally:
        await ws.close()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("authenticated", [False, True], ids=["first", "after-auth"])
async def test_text_that_is_not_utf8_closes_with_1007_and_others_are_still_served(
    server: Server, role_tokens: dict[str, str], authenticated: bool
) -> None:
    ws = await (open_client(server.ws_url, role_tokens["admin"]) if authenticated else connect(server.ws_url))
    await ws.send(b'{"type": "ping", "id": "caf\xe9"}', text=True)
    assert await close_code(ws) == 1007
    await still_served(server, role_tokens["viewer"])


@pytest.mark.parametrize("authenticated", [False, True], ids=["first", "after-auth"])
async def test_a_frame_over_the_size_limit_closes_with_1009_and_others_are_still_served(
    server: Server, role_tokens: dict[str, str], authenticated: bool
) -> None:
    ws = await (open_client(server.ws_url, role_tokens["admin"]) if authenticated else connect(server.ws_url))
    await ws.send("x" * OVER_THE_FRAME_LIMIT)
    assert await close_code(ws) == 1009
    await still_served(server, role_tokens["viewer"])
