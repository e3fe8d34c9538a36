"""``GET /ws/live``: the live stream over a WebSocket (protocol in app/live/protocol.py, docs/live.md).

The token is the first message, ``{"type": "auth", "token": "ag_..."}``, sent within
``AUTH_TIMEOUT_S`` of the upgrade: never in the URL, where proxies and access logs would keep it.
A missing, malformed, unknown or revoked token, a first message of another type, a timeout, or an
address the failed-auth limiter holds, closes the socket with 1008 (policy violation). After
``ready`` the client subscribes by drone, grid or community; a community-scoped token only gets its
own communities (asking for another is an ``error`` naming it, and none of its data).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from app.api.deps import AuthGuard
from app.auth import Principal, hash_token, is_well_formed
from app.live import protocol
from app.live.hub import ClientOverflow, LiveClient, LiveHub
from app.live.protocol import ProtocolError, Targets
from app.ratelimit import client_key
from app.services import tokens

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
UNAVAILABLE = 1011


async def _principal(ws: WebSocket, token: str) -> Principal | None:
    """The token's principal, or None; failures count against the address as on the HTTP API."""
    guard: AuthGuard = ws.app.state.auth_guard
    pool: asyncpg.Pool = ws.app.state.db.pool
    well_formed = is_well_formed(token)
    token_hash = hash_token(token) if well_formed else b""
    hit, cached = guard.cache.get(token_hash) if well_formed else (False, None)
    if hit and cached is not None:
        return cached
    client = client_key(ws.client.host if ws.client else None)
    if guard.limiter.retry_after_s(client) is not None:
        return None
    principal = (
        (cached if hit else await tokens.lookup(pool, token_hash, guard.cache)) if well_formed else None
    )
    if principal is None:
        guard.limiter.record_failure(client)
    return principal


async def _authenticate(ws: WebSocket) -> Principal | None:
    try:
        text = await asyncio.wait_for(ws.receive_text(), protocol.AUTH_TIMEOUT_S)
        return await _principal(ws, protocol.auth_token(protocol.parse_frame(text)))
    except (TimeoutError, ProtocolError, KeyError, WebSocketDisconnect):
        return None


def _not_found(field: str, value: object) -> ProtocolError:
    return ProtocolError(
        "not_found", f"{field}: {value} not found", [{"field": field, "problem": "not found"}]
    )


async def _check(pool: asyncpg.Pool, principal: Principal, t: Targets) -> None:
    """Every target exists and is the principal's to see; the first that is not is the error."""
    async with pool.acquire() as conn:
        drones = {
            r["id"]: r["community_code"]
            for r in await conn.fetch(
                "SELECT id, community_code FROM drones WHERE id = ANY($1)", sorted(t.drones)
            )
        }
        grids = {
            r["code"]: r["community_code"]
            for r in await conn.fetch(
                "SELECT code, community_code FROM grids WHERE code = ANY($1)", sorted(t.grids)
            )
        }
        communities = {
            r["code"]
            for r in await conn.fetch(
                "SELECT code FROM communities WHERE code = ANY($1)", sorted(t.communities)
            )
        }
    for drone_id in sorted(t.drones):
        if drone_id not in drones or not principal.sees_community(drones[drone_id]):
            raise _not_found("drones", drone_id)
    for code in sorted(t.grids):
        if code not in grids or not principal.sees_community(grids[code]):
            raise _not_found("grids", code)
    for code in sorted(t.communities):
        if not principal.sees_community(code):
            raise ProtocolError(
                "forbidden",
                f"communities: {code} is outside this token's scope",
                [{"field": "communities", "problem": f"{code} outside the token's scope"}],
            )
        if code not in communities:
            raise _not_found("communities", code)


def _subscribed(client: LiveClient) -> str:
    return json.dumps(
        {
            "type": "subscribed",
            "drones": sorted(client.drones),
            "grids": sorted(client.grids),
            "communities": sorted(client.communities),
        }
    )


async def _apply(ws: WebSocket, hub: LiveHub, client: LiveClient, frame: dict[str, Any]) -> None:
    if frame["type"] == "ping":
        client.offer_event(json.dumps({"type": "pong", "id": frame.get("id")}))
        return
    targets = protocol.parse_targets(frame)
    if targets.action == "unsubscribe":
        client.drones -= targets.drones
        client.grids -= targets.grids
        client.communities -= targets.communities
    else:
        await _check(ws.app.state.db.pool, client.principal, targets)
        client.drones |= targets.drones
        client.grids |= targets.grids
        client.communities |= targets.communities
    client.offer_event(_subscribed(client))
    if targets.action == "subscribe":
        hub.offer_latest(client)


def _binary_frame() -> ProtocolError:
    problem = "a binary frame; the protocol is JSON text"
    return ProtocolError(
        "validation_failed", f"message: {problem}", [{"field": "message", "problem": problem}]
    )


async def _receive(ws: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        try:
            if text is None:  # answered like any other bad message: the socket stays open
                raise _binary_frame()
            await _apply(ws, hub, client, protocol.parse_frame(text))
        except ProtocolError as exc:
            client.offer_event(protocol.error_message(exc))


async def _send(ws: WebSocket, client: LiveClient) -> None:
    while True:
        for frame in await client.next_frames():
            await ws.send_text(frame)


@router.websocket("/ws/live")
async def live(ws: WebSocket) -> None:
    await ws.accept()
    principal = await _authenticate(ws)
    if principal is None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):  # already gone
            await ws.close(POLICY_VIOLATION, "a valid token is required as the first message")
        return
    hub: LiveHub | None = getattr(ws.app.state, "live_hub", None)
    if hub is None:
        await ws.close(UNAVAILABLE, "the live stream is not running on this instance")
        return
    client = hub.add_client(principal)
    client.offer_event(
        json.dumps({"type": "ready", "role": principal.role.value, "communities": principal.community_scope})
    )
    tasks = [asyncio.create_task(_receive(ws, hub, client)), asyncio.create_task(_send(ws, client))]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if isinstance(exc, ClientOverflow):
                log.info("live client of %s disconnected: %s", principal.name, exc)
                with contextlib.suppress(Exception):  # a stalled client may never take the close frame
                    await asyncio.wait_for(ws.close(TRY_AGAIN_LATER, "too far behind: reconnect"), 1.0)
            elif exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
                log.warning("live client of %s failed: %r", principal.name, exc)
    finally:
        hub.remove_client(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
