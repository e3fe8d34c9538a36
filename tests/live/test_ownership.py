"""Link ownership reconciles the open links with the held leases every round, both ways.

Each test has a database of its own on the session's PostgreSQL (leases are global to a database),
real ``FlightService`` + ``LinkManager`` instances and, where a link must come up, the simulator
over UDP. An instance "crashes" by stopping its rounds and closing its links without handing its
leases back, which is what PostgreSQL sees of a SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.link.manager import LinkManager
from app.services.flight import FlightService
from app.services.ownership import LinkOwnership, warn_if_leased_elsewhere
from simulator.fleet import SimFleet
from tests.dbtools import private_pool

DRONES = 3
RELINK_LIMIT_S = 10.0  # docs/live.md: "within 10 s"
LON, LAT = 120.5000, 30.6000


@pytest.fixture
async def own_pool(server_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with private_pool(server_dsn, "aerogrid_own") as pool:
        yield pool


async def register(pool: asyncpg.Pool, name: str, endpoint: str, sysid: int) -> int:
    async with pool.acquire() as conn:
        drone_id: int = await conn.fetchval(
            """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg)
               VALUES ($1, 'sim', $2, $3, $4, $5) RETURNING id""",
            name,
            endpoint,
            sysid,
            LON,
            LAT,
        )
    return drone_id


async def valid_leases(pool: asyncpg.Pool, instance_id: str) -> set[int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT drone_id FROM link_leases WHERE instance_id = $1 AND expires_at > now()", instance_id
        )
    return {r["drone_id"] for r in rows}


def linked(flights: FlightService) -> set[int]:
    return {int(d) for d in flights.manager.drone_ids()}


async def test_an_instance_restarted_with_the_same_id_links_its_still_leased_drones_again(
    own_pool: asyncpg.Pool,
) -> None:
    async with SimFleet(DRONES, 0, LON, LAT, spacing_m=20.0) as fleet:
        ids = {
            await register(own_pool, f"own-{v.config.sysid}", f"udpout:127.0.0.1:{v.port}", v.config.sysid)
            for v in fleet.vehicles
        }
        first = FlightService(own_pool, LinkManager())
        before = LinkOwnership(own_pool, first, "A", lease_s=30.0, renew_s=0.5)
        await before.start()
        assert linked(first) == ids
        # The crash: no more rounds, links gone, leases left behind unexpired.
        await before.stop()
        await first.close()
        assert await valid_leases(own_pool, "A") == ids, "the leases outlive the crash"

        second = FlightService(own_pool, LinkManager())
        after = LinkOwnership(own_pool, second, "A", lease_s=30.0, renew_s=0.5)
        restarted_s = time.monotonic()
        await after.start()
        try:
            assert after.owned == ids and after.takeovers == 0, "its own leases renewed, none claimed anew"
            while linked(second) != ids or not all(
                second.manager.vehicle(str(i)).tracker.online for i in ids
            ):
                assert time.monotonic() - restarted_s < RELINK_LIMIT_S, f"linked: {linked(second)} of {ids}"
                await asyncio.sleep(0.1)
        finally:
            await after.release()
            await second.close()
    assert await valid_leases(own_pool, "A") == set()


async def test_a_linked_drone_whose_lease_another_instance_holds_or_that_was_deleted_is_unlinked(
    own_pool: asyncpg.Pool,
) -> None:
    taken = await register(own_pool, "taken", "udpout:127.0.0.1:45001", 1)
    deleted = await register(own_pool, "deleted", "udpout:127.0.0.1:45002", 2)
    async with own_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO link_leases (drone_id, instance_id, expires_at) VALUES ($1, 'B', now() + interval '1 min')",
            taken,
        )
    flights = FlightService(own_pool, LinkManager())
    ownership = LinkOwnership(own_pool, flights, "A", lease_s=30.0, renew_s=0.5)
    try:
        await ownership.tick()
        assert linked(flights) == {deleted}
        await flights.link(taken, "udpout:127.0.0.1:45001", 1, None)  # registered here while B owns it
        async with own_pool.acquire() as conn:
            await conn.execute("DELETE FROM drones WHERE id = $1", deleted)  # through another instance
        await ownership.tick()
        assert linked(flights) == {deleted}, "B's drone unlinked at once; the deleted one waits a round"
        await ownership.tick()
        assert linked(flights) == set()
    finally:
        await ownership.release()
        await flights.close()


async def test_an_owned_drone_whose_link_failed_to_open_is_linked_once_it_can_be(
    own_pool: asyncpg.Pool,
) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    drone = await register(own_pool, "busy-port", f"udpin:127.0.0.1:{port}", 1)
    flights = FlightService(own_pool, LinkManager())
    ownership = LinkOwnership(own_pool, flights, "A", lease_s=30.0, renew_s=0.2)
    try:
        await ownership.tick()
        assert ownership.owned == {drone} and linked(flights) == set(), "port taken: the link cannot open"
        blocker.close()
        deadline = time.monotonic() + 5.0
        while linked(flights) != {drone}:
            assert time.monotonic() < deadline, "the owned drone was never linked"
            await asyncio.sleep(0.1)
            await ownership.tick()
    finally:
        blocker.close()
        await ownership.release()
        await flights.close()


async def test_an_instance_without_leases_warns_when_another_instance_holds_live_leases(
    own_pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    drone = await register(own_pool, "leased", "udpout:127.0.0.1:45003", 1)
    assert await warn_if_leased_elsewhere(own_pool, "A") == []
    async with own_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO link_leases (drone_id, instance_id, expires_at) VALUES ($1, 'B', now() + interval '1 min')",
            drone,
        )
    assert await warn_if_leased_elsewhere(own_pool, "B") == [], "its own leases are no reason"
    with caplog.at_level(logging.WARNING, logger="app.services.ownership"):
        assert await warn_if_leased_elsewhere(own_pool, "A") == ["B"]
    assert any(
        "AEROGRID_LINK_LEASES=true" in r.getMessage() and "B: 1 drones" in r.getMessage()
        for r in caplog.records
    )
    async with own_pool.acquire() as conn:
        await conn.execute("UPDATE link_leases SET expires_at = now() - interval '1 s'")
    assert await warn_if_leased_elsewhere(own_pool, "A") == [], "an expired lease is a dead instance's"
