"""A simulated flight with injected detections: the simulator as a real MAVLink peer over UDP,
flown in GUIDED over two grids; at each stop onboard-AI detections are sent at the position the
service's link reports. They end as work orders under those grids, assigned to their workers, and
the repeats at one spot join that spot's detection alert."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.link.manager import VehicleLink
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth
from tests.workorders.district import G1_WORKER, G2_WORKER, IN_G1, IN_G2, two_grids

SYSID = 41
ALT_M = 20.0


@pytest_asyncio.fixture(loop_scope="session")
async def flying(
    app: FastAPI, pool: asyncpg.Pool, client: httpx.AsyncClient, role_tokens: dict[str, str]
) -> AsyncIterator[tuple[SimVehicle, int, VehicleLink]]:
    """A simulated drone over G1, linked by the service, airborne in GUIDED."""
    await two_grids(pool, client, role_tokens["admin"])
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=SYSID, port=0, home_lon_deg=IN_G1["lon_deg"], home_lat_deg=IN_G1["lat_deg"], speedup=5.0
        )
    )
    await vehicle.start()
    endpoint = f"udpout:127.0.0.1:{vehicle.port}"
    async with pool.acquire() as conn:
        drone_id: int = await conn.fetchval(
            """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg, community_code)
               VALUES ('wo-sim', 'sim', $1, $2, $3, $4, 'C1') RETURNING id""",
            endpoint,
            SYSID,
            IN_G1["lon_deg"],
            IN_G1["lat_deg"],
        )
    try:
        await app.state.flights.link(drone_id, endpoint, SYSID, None)
        link = app.state.flights.vehicle(drone_id)
        await link.wait_online(10.0)
        await link.tracker.wait_until(lambda t: bool(t.ready_to_arm), timeout_s=15.0, what="ready to arm")
        await link.set_mode("GUIDED")
        await link.arm()
        await link.takeoff(ALT_M)
        await link.tracker.wait_until(
            lambda t: (t.alt_rel_m or 0.0) >= ALT_M - 1.0, timeout_s=30.0, what="takeoff altitude"
        )
        yield vehicle, drone_id, link
    finally:
        await app.state.flights.unlink(drone_id)
        await vehicle.stop()


def goto(port: int, lon_deg: float, lat_deg: float) -> None:
    """SET_POSITION_TARGET_GLOBAL_INT from a second ground station (real MAVLink bytes over UDP)."""
    mav = mavlink.MAVLink(None, srcSystem=254, srcComponent=190)
    msg = mav.set_position_target_global_int_encode(
        0,
        SYSID,
        1,
        mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        0xFF8,
        int(lat_deg * 1e7),
        int(lon_deg * 1e7),
        ALT_M,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(msg.pack(mav), ("127.0.0.1", port))


async def arrive(link: VehicleLink, at: dict[str, float]) -> tuple[float, float]:
    """Wait until the link reports the drone within ~5 m of ``at``; its reported (lon, lat)."""
    await link.tracker.wait_until(
        lambda t: (
            t.lat_deg is not None
            and t.lon_deg is not None
            and abs(t.lat_deg - at["lat_deg"]) < 5e-5
            and abs(t.lon_deg - at["lon_deg"]) < 5e-5
        ),
        timeout_s=60.0,
        what="arrival",
    )
    assert link.tracker.lon_deg is not None and link.tracker.lat_deg is not None
    return link.tracker.lon_deg, link.tracker.lat_deg


async def test_detections_injected_during_a_simulated_flight_become_work_orders_under_the_right_grids(
    client: httpx.AsyncClient, flying: tuple[SimVehicle, int, VehicleLink], role_tokens: dict[str, str]
) -> None:
    vehicle, drone_id, link = flying
    ops = auth(role_tokens["operator"])
    seen: dict[str, list[dict[str, Any]]] = {}
    for grid, spot, kind in (("G1", IN_G1, "illegal_dumping"), ("G2", IN_G2, "crowd")):
        goto(vehicle.port, spot["lon_deg"], spot["lat_deg"])
        lon, lat = await arrive(link, spot)
        for repeat in range(3):  # the onboard AI sees the same thing on three frames
            body = {
                "idempotency_key": secrets.token_hex(8),
                "type": kind,
                "source": "onboard_ai",
                "confidence": 0.9,
                "drone_id": drone_id,
                "position": {"type": "Point", "coordinates": [lon + repeat * 2e-5, lat]},
            }
            r = await client.post("/detections", json=body, headers=ops)
            assert r.status_code == 201, r.text
            seen.setdefault(grid, []).append(r.json())
        await asyncio.sleep(0.1)
    for grid, worker in (("G1", G1_WORKER), ("G2", G2_WORKER)):
        detections = seen[grid]
        assert {d["grid_code"] for d in detections} == {grid}
        assert len({d["alert"]["id"] for d in detections}) == 1
        assert detections[-1]["alert"]["detection_count"] == 3
        order_ids = {d["work_order_id"] for d in detections}
        assert len(order_ids) == 1
        order = (await client.get(f"/work-orders/{order_ids.pop()}", headers=ops)).json()
        assert order["grid_code"] == grid and order["drone_id"] == drone_id and order["channel"] == "drone"
        assert order["state"] == "assigned" and order["assignee"]["name"] == worker[0]
