"""The NOTIFY relay between two instances survives a PostgreSQL restart (its own server here)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from app.auth import Principal, Role
from app.live.hub import LiveClient, LiveHub, Routed
from app.live.relay import Relay
from tests.telemetry.pgcontrol import OwnPostgres

ADMIN = Principal(token_id=1, name="t", role=Role.ADMIN, communities=None)


@pytest.fixture
async def own_pg() -> AsyncIterator[OwnPostgres]:
    async with OwnPostgres() as pg:
        yield pg


async def delivered(client: LiveClient, relay_b: Relay, n: int, timeout_s: float = 15.0) -> None:
    """Send state ``n`` from B until A's client holds it (B's sends while the server is away are dropped)."""
    deadline = time.monotonic() + timeout_s
    text = json.dumps({"drone_id": 7, "n": n})
    while True:
        relay_b([Routed(7, None, None, text)], [])
        await asyncio.sleep(0.3)
        if client.pending_states:
            (frame,) = await client.next_frames()
            if json.loads(frame)["states"] == [{"drone_id": 7, "n": n}]:
                return
        assert time.monotonic() < deadline, f"state {n} never crossed from B to A"


async def test_states_cross_instances_again_after_the_database_restarts(own_pg: OwnPostgres) -> None:
    hub_a, hub_b = LiveHub(), LiveHub()
    client = hub_a.add_client(ADMIN)
    client.drones.add(7)
    relay_a, relay_b = Relay(own_pg.dsn, hub_a, "A"), Relay(own_pg.dsn, hub_b, "B")
    relay_a.start()
    relay_b.start()
    try:
        await asyncio.wait_for(relay_a.listening.wait(), 15)
        await delivered(client, relay_b, 1)
        await own_pg.stop()
        await own_pg.start()
        await delivered(client, relay_b, 2)
        assert relay_a.payloads_received >= 2
    finally:
        await relay_a.close()
        await relay_b.close()
