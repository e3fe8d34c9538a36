"""Simulated drones over UDP -> the service's links -> ingest -> PostgreSQL: every position once, right grid.

The fleet is real MAVLink peers on 127.0.0.1. A test listener on the same LinkManager records
every GLOBAL_POSITION_INT the service received; the stored rows must be exactly those, once each,
each with the grid shapely gives for its stored position (grid borders and no-grid included).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from shapely.geometry import Point, shape

from app.link.codec import MavMessage
from app.telemetry.pipeline import TelemetryIngest
from simulator.fleet import SimFleet
from tests.conftest import auth, wipe_district
from tests.telemetry.mavbytes import FakeDrone

HOME_LON, HOME_LAT = 120.2000, 30.3000
SPACING_M = 30.0
SPEEDUP = 10.0


def box(code: str, lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    props = {
        "code": code,
        "name": code,
        "community_code": "C1",
        "community_name": "C1",
        "street_code": "ST",
        "street_name": "ST",
    }
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def expected_grid(grids: dict[str, Any], lon: float, lat: float) -> str | None:
    hits = sorted(code for code, poly in grids.items() if poly.covers(Point(lon, lat)))
    return hits[0] if hits else None


@pytest.fixture
async def fleet() -> AsyncIterator[SimFleet]:
    async with SimFleet(3, 0, HOME_LON, HOME_LAT, speedup=SPEEDUP, spacing_m=SPACING_M) as sim:
        yield sim


async def test_every_position_of_a_flight_is_stored_once_with_its_grid(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], fleet: SimFleet
) -> None:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    v0, v1, v2 = fleet.vehicles  # v0 at home, v1 east of it, v2 north of it
    border_lon = v1.config.home_lon_deg  # v1 sits on the A|B border; v2 is north of both grids
    north = (v0.config.home_lat_deg + v2.config.home_lat_deg) / 2
    features = [
        box("A", HOME_LON - 0.002, HOME_LAT - 0.002, border_lon, north),
        box("B", border_lon, HOME_LAT - 0.002, border_lon + 0.002, north),
    ]
    assert (
        await client.post(
            "/grids/import", json={"type": "FeatureCollection", "features": features}, headers=admin
        )
    ).status_code == 200
    grids = {f["properties"]["code"]: shape(f["geometry"]) for f in features}

    ingest: TelemetryIngest = app.state.telemetry
    received: list[tuple[str, int]] = []

    def record(drone_id: str, msg: MavMessage) -> None:
        if msg.name == "GLOBAL_POSITION_INT":
            received.append((drone_id, msg.get_int("time_boot_ms")))

    remove = app.state.flights.manager.add_listener(record)
    ids = []
    try:
        for v in fleet.vehicles:
            r = await client.post(
                "/drones",
                headers=admin,
                json={
                    "name": f"ingest-{v.config.sysid}",
                    "kind": "sim",
                    "endpoint": f"udpout:127.0.0.1:{v.port}",
                    "sysid": v.config.sysid,
                    "community_code": "C1",
                    "home": {"lon_deg": v.config.home_lon_deg, "lat_deg": v.config.home_lat_deg},
                },
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        flyer = app.state.flights.vehicle(ids[1])
        await flyer.tracker.wait_until(lambda t: t.ready_to_arm, timeout_s=20, what="ready to arm")
        await flyer.set_mode("GUIDED")
        await flyer.arm()
        await flyer.takeoff(12.0)
        await flyer.tracker.wait_until(lambda t: (t.alt_rel_m or 0) > 8, timeout_s=20, what="climbing")
        await asyncio.sleep(2.0)
    finally:
        for drone_id in ids:  # unlinked: nothing more reaches ingest or the recorder
            await client.delete(f"/drones/{drone_id}", headers=admin)
        remove()
    await ingest.flushed()

    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT drone_id, time_boot_ms, lon_deg, lat_deg, alt_rel_m, grid_code, armed FROM telemetry_samples "
            "WHERE drone_id = ANY($1::bigint[])",
            ids,
        )
    stored = sorted((str(r["drone_id"]), r["time_boot_ms"]) for r in rows)
    assert len(received) > 30
    assert stored == sorted(received), "every received position stored exactly once"
    assert len(set(stored)) == len(stored)
    for r in rows:
        assert r["grid_code"] == expected_grid(grids, r["lon_deg"], r["lat_deg"]), dict(r)
    by_drone = {d: {r["grid_code"] for r in rows if r["drone_id"] == d} for d in ids}
    assert by_drone[ids[0]] == {"A"} and by_drone[ids[2]] == {None}
    assert by_drone[ids[1]] <= {"A", "B"} and by_drone[ids[1]]
    flown = [r for r in rows if r["drone_id"] == ids[1] and r["armed"]]
    assert flown and max(r["alt_rel_m"] for r in flown) > 8


async def test_unregistered_and_malformed_traffic_is_counted_and_never_stored(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> None:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    r = await client.post(
        "/drones",
        headers=admin,
        json={
            "name": "raw-5",
            "kind": "sim",
            "endpoint": f"udpin:127.0.0.1:{port}",
            "sysid": 5,
            "home": {"lon_deg": 120.0, "lat_deg": 30.0},
        },
    )
    assert r.status_code == 201, r.text
    drone_id = r.json()["id"]
    registered, stranger = FakeDrone(5), FakeDrone(6)
    link = app.state.flights.vehicle(drone_id).link
    before, invalid_before = link.stats, app.state.telemetry.invalid_positions
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, datagram in enumerate(
                [
                    registered.position(1000, 30.0, 120.0),
                    stranger.position(1000, 30.0, 120.0),
                    b"\xfd\x09\x00\x00\x00\x05\x01\x21\x00\x00garbage!!",  # MAVLink 2 header, bad CRC
                    bytes(range(256)),  # noise
                    registered.packet(
                        "GLOBAL_POSITION_INT",
                        time_boot_ms=2000,
                        lat=95 * 10**7,
                        lon=0,
                        alt=0,
                        relative_alt=0,
                        vx=0,
                        vy=0,
                        vz=0,
                        hdg=0,
                    ),  # latitude out of range
                    registered.position(3000, 30.0, 120.0),
                ]
            ):
                tx.sendto(datagram, ("127.0.0.1", port))
                await asyncio.sleep(0.02 if i else 0.1)
        await asyncio.sleep(0.3)
        await app.state.telemetry.flushed()
    finally:
        await client.delete(f"/drones/{drone_id}", headers=admin)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT drone_id, time_boot_ms FROM telemetry_samples WHERE time_boot_ms IN "
            "(1000, 2000, 3000) AND lat_deg = 30 AND lon_deg = 120"
        )
    assert sorted((r["drone_id"], r["time_boot_ms"]) for r in rows) == [(drone_id, 1000), (drone_id, 3000)]
    after = link.stats
    assert app.state.telemetry.invalid_positions == invalid_before + 1
    assert (
        after.codec.rx_bad_crc + after.codec.rx_bad_data > before.codec.rx_bad_crc + before.codec.rx_bad_data
    )
