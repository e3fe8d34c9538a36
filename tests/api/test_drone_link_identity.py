"""One vehicle, one registration: every spelling of a drone's link is one canonical endpoint.

Issue 8, 0a: a community-scoped operator registered another community's drone again under another
spelling of its endpoint and then watched and armed it. These tests fly that attack against a real
simulated vehicle on 127.0.0.1 and a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.link.transport import parse_endpoint, resolve_endpoint
from app.services.drone_links import canonicalise_stored
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.api.test_drones import drone
from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district
from tests.procs import free_udp_port

_SYSIDS = itertools.count(101)
"""Each vehicle its own system id: the session's link manager keeps links of drones that
wipe_district removed, and a reused ephemeral port with a reused sysid would meet one of them."""


@pytest.fixture
async def vehicle() -> AsyncIterator[SimVehicle]:
    sim = SimVehicle(VehicleConfig(sysid=next(_SYSIDS), port=0, home_lon_deg=LON0, home_lat_deg=LAT0))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def tokens(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, dict[str, str]]:
    """admin (district-wide), and operators scoped to C1 and to C2."""
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    doc = collection(
        grid("G1", square(LON0, LAT0)),
        grid("G2", square(LON0 + 0.003, LAT0), community_code="C2", community_name="渔港村"),
    )
    assert (await client.post("/grids/import", json=doc, headers=admin)).status_code == 200
    out = {"admin": admin}
    for community in ("C1", "C2"):
        body = {"name": f"{community} op", "role": "operator", "communities": [community]}
        r = await client.post("/tokens", json=body, headers=admin)
        out[community] = auth(r.json()["token"])
    return out


def spellings(port: int) -> list[str]:
    """Ways of writing udpout:127.0.0.1:PORT that reach the same local socket."""
    return [
        f"udpout:localhost:{port}",
        f"udpout:LocalHost.:{port}",
        f"udpout:127.1:{port}",
        f"udpout:0x7f.0.0.1:{port}",
        f"udpout:2130706433:{port}",
        f"UDPOUT:127.0.0.1:{port}",
        f"udpout:127.0.0.1:0{port}",
        f"udpout:[::ffff:127.0.0.1]:{port}",
        f"udpout:127.0.0.2:{port}",
        f"udpout:0.0.0.0:{port}",
    ]


async def wait_online(client: httpx.AsyncClient, drone_id: int, headers: dict[str, str]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = (await client.get(f"/drones/{drone_id}/state", headers=headers)).json()
        if state.get("online"):
            break
        await asyncio.sleep(0.1)
    return state


async def test_another_communitys_drone_under_any_spelling_is_409_naming_nothing_of_it(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], vehicle: SimVehicle
) -> None:
    victim_body = drone(
        "victim-c1", endpoint=f"udpout:127.0.0.1:{vehicle.port}", sysid=vehicle.sysid, community_code="C1"
    )
    r = await client.post("/drones", json=victim_body, headers=tokens["C1"])
    assert r.status_code == 201, r.text
    victim = r.json()
    for i, spelling in enumerate(spellings(vehicle.port)):
        body = drone(f"thief-{i}", endpoint=spelling, sysid=vehicle.sysid, community_code="C2")
        r = await client.post("/drones", json=body, headers=tokens["C2"])
        assert r.status_code == 409, (spelling, r.text)
        error = r.json()
        assert error["code"] == "conflict" and error["details"] == [{"field": "endpoint, sysid"}]
        for secret in ("victim-c1", "C1", str(victim["id"])):
            assert secret not in r.text, (spelling, r.text)
    listed = (await client.get("/drones", headers=tokens["C2"])).json()
    assert listed == []
    assert (
        await client.post(f"/drones/{victim['id']}/commands/arm", headers=tokens["C2"])
    ).status_code == 404


async def test_a_drone_registered_with_any_spelling_is_stored_canonical_and_links(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], vehicle: SimVehicle
) -> None:
    body = drone(
        "sim", endpoint=f"UDPOUT:LOCALHOST:0{vehicle.port}", sysid=vehicle.sysid, community_code="C1"
    )
    r = await client.post("/drones", json=body, headers=tokens["C1"])
    assert r.status_code == 201, r.text
    assert r.json()["endpoint"] == f"udpout:127.0.0.1:{vehicle.port}"
    state = await wait_online(client, r.json()["id"], tokens["C1"])
    assert state.get("linked") is True and state.get("online") is True, state


@pytest.mark.parametrize("kind", ["udpin", "udp", "UDPIN"])
async def test_udpin_bind_forms_of_one_local_port_are_one_link(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], kind: str
) -> None:
    port = free_udp_port()
    r = await client.post(
        "/drones", json=drone("first", endpoint=f"udpin:0.0.0.0:{port}", sysid=3), headers=tokens["admin"]
    )
    assert r.status_code == 201, r.text
    for i, host in enumerate(["0", "0.0.0.0", "[::]", "127.0.0.1", "localhost"]):
        body = drone(f"again-{i}", endpoint=f"{kind}:{host}:{port:06d}", sysid=3)
        r = await client.post("/drones", json=body, headers=tokens["admin"])
        assert r.status_code == 409, (host, r.text)
    body = drone("other sysid", endpoint=f"udp:0:{port}", sysid=4)
    r = await client.post("/drones", json=body, headers=tokens["admin"])
    assert r.status_code == 201 and r.json()["endpoint"] == f"udpin:0.0.0.0:{port}"
    body = drone("other bind address", endpoint=f"udpin:127.0.0.1:{port}", sysid=5)
    r = await client.post("/drones", json=body, headers=tokens["admin"])
    assert r.status_code == 409 and "already open under another bind address" in r.json()["message"]


async def test_concurrent_registrations_of_one_link_store_exactly_one(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    bodies = [drone(f"racer-{i}", endpoint=s, sysid=9) for i, s in enumerate(spellings(15_999))]
    results = await asyncio.gather(*(client.post("/drones", json=b, headers=tokens["admin"]) for b in bodies))
    assert sorted(r.status_code for r in results) == [201] + [409] * (len(bodies) - 1)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM drones") == 1


async def test_an_endpoint_that_cannot_be_opened_is_422_and_writes_nothing(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    cases = {
        "udpin:192.0.2.1:14550": "cannot be opened",  # not an address of this machine
        "udpout:no-such-host.invalid:14550": "does not resolve",
        "udpout:999.1.1.1:14550": "not a valid IPv4 address",
    }
    for endpoint, problem in cases.items():
        r = await client.post("/drones", json=drone(endpoint=endpoint), headers=tokens["admin"])
        assert r.status_code == 422, (endpoint, r.text)
        assert problem in r.json()["message"] and "endpoint" in r.json()["details"][0]["field"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM drones") == 0


async def test_patch_cannot_move_onto_another_drones_link_and_a_failed_patch_keeps_the_old_link(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], vehicle: SimVehicle
) -> None:
    victim = drone(
        "victim", endpoint=f"udpout:127.0.0.1:{vehicle.port}", sysid=vehicle.sysid, community_code="C1"
    )
    assert (await client.post("/drones", json=victim, headers=tokens["C1"])).status_code == 201
    own = drone(
        "own", endpoint=f"udpout:127.0.0.1:{vehicle.port + 1}", sysid=vehicle.sysid, community_code="C2"
    )
    r = await client.post("/drones", json=own, headers=tokens["C2"])
    own_id = r.json()["id"]
    r = await client.patch(
        f"/drones/{own_id}", json={"endpoint": f"udpout:127.1:{vehicle.port}"}, headers=tokens["C2"]
    )
    assert r.status_code == 409 and "victim" not in r.text
    same_link = drone(
        "same link", endpoint=f"udpout:localhost:{vehicle.port}", sysid=200, community_code="C2"
    )
    r = await client.post("/drones", json=same_link, headers=tokens["C2"])
    assert r.status_code == 201  # another system id on the same link is another vehicle
    r = await client.patch(f"/drones/{r.json()['id']}", json={"sysid": vehicle.sysid}, headers=tokens["C2"])
    assert r.status_code == 409 and "victim" not in r.text
    r = await client.patch(f"/drones/{own_id}", json={"endpoint": "udpin:192.0.2.1:9"}, headers=tokens["C2"])
    assert r.status_code == 422
    r = await client.get(f"/drones/{own_id}", headers=tokens["C2"])
    assert r.json()["endpoint"] == f"udpout:127.0.0.1:{vehicle.port + 1}"
    assert (await client.get(f"/drones/{own_id}/state", headers=tokens["C2"])).json()["linked"] is True


async def test_stored_duplicates_are_canonicalised_at_start_and_the_later_one_blocked(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    rows = [
        ("original", "udpout:localhost:16001"),
        ("copy", "udpout:127.0.0.1:16001"),
        ("alone", "UDP:0:16002"),
    ]
    async with pool.acquire() as conn:
        for name, endpoint in rows:  # written the way rows were stored before canonical endpoints
            await conn.execute(
                """INSERT INTO drones (name, endpoint, sysid, home_lon_deg, home_lat_deg)
                   VALUES ($1, $2, 5, 0, 0)""",
                name,
                endpoint,
            )
    await canonicalise_stored(pool)
    async with pool.acquire() as conn:
        stored = {
            r["name"]: (r["endpoint"], r["link_blocked"])
            for r in await conn.fetch("SELECT name, endpoint, link_blocked FROM drones")
        }
    assert stored == {
        "original": ("udpout:127.0.0.1:16001", False),
        "copy": ("udpout:127.0.0.1:16001", True),
        "alone": ("udpin:0.0.0.0:16002", False),
    }
    r = await client.post(
        "/drones", json=drone("late", endpoint="udpout:127.1:16001", sysid=5), headers=tokens["admin"]
    )
    assert r.status_code == 409


@pytest.mark.parametrize(
    "text",
    [
        "udpin:0.0.0.0:14550",
        "udpin:[::]:14550",
        "udpin:192.168.1.5:14550",
        "udpout:127.0.0.1:14550",
        "udpout:127.3.2.1:14550",
        "udpout:0.0.0.0:14550",
        "udpout:[::1]:14550",
        "udpout:[::]:14550",
        "udpout:10.0.0.5:14550",
        "tcp:127.0.0.1:5760",
        "tcp:[2001:db8::1]:5760",
        "udpout:[fe80::1%eth0]:14550",
        "serial:/dev/ttyUSB0:57600",
    ],
)
async def test_sql_link_key_agrees_with_the_transport(pool: asyncpg.Pool, text: str) -> None:
    endpoint = await resolve_endpoint(text)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT drone_link_key($1)", str(endpoint)) == endpoint.link_key
    assert parse_endpoint(str(endpoint)) == endpoint


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("UDPOUT:127.1:014701", "udpout:127.0.0.1:14701"),
        ("udpout:0x7F.1:14701", "udpout:127.0.0.1:14701"),
        ("udpout:[::FFFF:7f00:1]:14701", "udpout:127.0.0.1:14701"),
        ("udpout:[0:0:0:0:0:0:0:1]:14701", "udpout:[::1]:14701"),
        ("udp:0:14550", "udpin:0.0.0.0:14550"),
        ("udpout:[::1%lo]:14701", "udpout:[::1]:14701"),
        ("udpout:[FE80::0001%eth0]:14701", "udpout:[fe80::1%eth0]:14701"),
        ("Tcp:Drone-7.Example.:5760", "tcp:drone-7.example:5760"),
    ],
)
def test_every_lexical_spelling_parses_to_one_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_endpoint(text)) == canonical
