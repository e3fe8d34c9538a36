"""Two service instances on one PostgreSQL: live updates cross them, and a dead owner's links move.

Instance B is a real ``aerogrid serve`` process; instance A runs in this process (its own
LinkManager, hub and uvicorn server), both on a database of this test's own, with a simulated
fleet (SimFleet, real MAVLink over UDP). B starts first and links the drones; a WebSocket client
on A sees their states (through NOTIFY) while A holds none of their links. Then B is killed with
SIGKILL and A must link every drone and stream its state within the stated 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens
from simulator.fleet import SimFleet
from tests.dbtools import private_database
from tests.drones import register_fleet
from tests.live.wsclient import Server, open_client, recv, subscribe
from tests.procs import ServeProcess

log = logging.getLogger(__name__)

DRONES = 3
TAKEOVER_LIMIT_S = 10.0
LON, LAT = 120.5000, 30.6000


@pytest.fixture
async def own_dsn(server_dsn: str) -> AsyncIterator[str]:
    async with private_database(server_dsn, "aerogrid_live") as db:
        yield db.dsn


def serve_b(dsn: str, data_dir: Path, log_path: Path) -> ServeProcess:
    """``aerogrid serve`` as instance B."""
    env = {"AEROGRID_INSTANCE_ID": "B", "AEROGRID_LINK_LEASES": "true", "AEROGRID_PLAN_WORKERS": "1"}
    return ServeProcess(dsn, data_dir, log_path, env)


async def leases_held_by(dsn: str, instance_id: str, count: int, timeout_s: float = 10.0) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        query = "SELECT count(*) FROM link_leases WHERE instance_id = $1 AND expires_at > now()"
        while await conn.fetchval(query, instance_id) < count:
            assert time.monotonic() < deadline, f"{instance_id} did not claim its drones"
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def drone_states(ws: Any, drone_ids: set[int], timeout_s: float) -> set[int]:
    """The drones among ``drone_ids`` a state arrived for within ``timeout_s``."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while seen != drone_ids and (left := deadline - time.monotonic()) > 0:
        try:
            msg = await recv(ws, left)
        except TimeoutError:
            break
        if msg["type"] == "state":
            seen |= {s["drone_id"] for s in msg["states"]} & drone_ids
    return seen


async def test_a_client_on_one_instance_sees_the_others_drones_and_a_killed_owners_links_move_within_10_s(
    own_dsn: str, tmp_path: Path
) -> None:
    b = serve_b(own_dsn, tmp_path / "b", tmp_path / "b.log")
    try:
        await b.ready()
        conn = await asyncpg.connect(own_dsn)
        try:
            token, _ = await tokens.create(conn, name="t", role=Role.ADMIN, communities=None, created_by=None)
        finally:
            await conn.close()
        async with SimFleet(DRONES, 0, LON, LAT, speedup=1.0, spacing_m=20.0) as fleet:
            async with httpx.AsyncClient(base_url=b.url) as c:
                ids = await register_fleet(c, {"Authorization": f"Bearer {token}"}, fleet, "inst")
            await leases_held_by(own_dsn, "B", DRONES)  # B claims what it registered at its next round
            settings = Settings(
                database_url=own_dsn,
                data_dir=tmp_path / "a",
                instance_id="A",
                link_leases=True,
                plan_workers=1,
            )
            app_a = create_app(settings)
            async with app_a.router.lifespan_context(app_a), Server(app_a) as server_a:
                ws = await open_client(server_a.ws_url, token)
                assert (await subscribe(ws, drones=ids))["type"] == "subscribed"
                assert await drone_states(ws, set(ids), 15.0) == set(ids), "B's drones seen on A"
                linked_on_a = set(app_a.state.flights.manager.drone_ids())
                assert linked_on_a.isdisjoint(str(i) for i in ids), "while B owns them, A links none"

                b.proc.send_signal(signal.SIGKILL)
                b.proc.wait(10)
                killed_s = time.monotonic()
                await drone_states(ws, set(ids), 1.0)  # what B notified before dying
                while not all(
                    str(i) in app_a.state.flights.manager.drone_ids()
                    and app_a.state.flights.manager.vehicle(str(i)).tracker.online
                    for i in ids
                ):
                    assert time.monotonic() - killed_s < TAKEOVER_LIMIT_S, "A did not take the links over"
                    await asyncio.sleep(0.1)
                assert await drone_states(ws, set(ids), TAKEOVER_LIMIT_S) == set(ids)
                takeover_s = time.monotonic() - killed_s
                log.info("takeover: A streams every drone %.1f s after B was killed", takeover_s)
                await ws.close()
            assert takeover_s < TAKEOVER_LIMIT_S, f"states from A {takeover_s:.1f} s after the kill"
    finally:
        b.stop()
    conn = await asyncpg.connect(own_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM link_leases") == 0, "A released its leases on stop"
    finally:
        await conn.close()
