"""Uploads the service refuses before anything reaches the drone: a sortie beyond this drone's battery,
a plan made for another take-off point, and a viewer's attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district
from tests.e2e.test_api_flight import smallest_clear_grid


@pytest.fixture
async def setup(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> AsyncIterator[dict[str, Any]]:
    await wipe_district(pool)
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    grid = smallest_clear_grid()
    c = shape(grid["geometry"]).representative_point()
    vehicle = SimVehicle(VehicleConfig(sysid=41, port=0, home_lon_deg=c.x, home_lat_deg=c.y, speedup=5))
    await vehicle.start()
    r = await client.post(
        "/drones",
        json={
            "name": "small battery",
            "kind": "sim",
            "endpoint": f"udpout:127.0.0.1:{vehicle.port}",
            "sysid": 41,
            "home": {"lon_deg": c.x, "lat_deg": c.y},
            "capabilities": {"battery_wh": 20},
        },
        headers=operator,
    )
    drone_id = r.json()["id"]
    for _ in range(100):
        if (await client.get(f"/drones/{drone_id}/state", headers=operator)).json().get("online"):
            break
        await asyncio.sleep(0.1)
    try:
        yield {
            "operator": operator,
            "viewer": auth(role_tokens["viewer"]),
            "drone_id": drone_id,
            "grid": grid,
            "home": (c.x, c.y),
            "vehicle": vehicle,
        }
    finally:
        await vehicle.stop()


async def store(client: httpx.AsyncClient, s: dict[str, Any], home: tuple[float, float]) -> int:
    r = await client.post(
        "/missions",
        json={
            "name": "m",
            "kind": "coverage",
            "grid_codes": [s["grid"]["properties"]["code"]],
            "home": {"lon_deg": home[0], "lat_deg": home[1]},
            "swath_m": 60,
        },
        headers=s["operator"],
    )
    assert r.status_code == 201, r.text
    mission_id: int = r.json()["id"]
    return mission_id


async def test_sortie_beyond_the_drones_battery_is_refused(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    mission_id = await store(client, setup, setup["home"])
    r = await client.post(
        f"/drones/{setup['drone_id']}/upload", json={"mission_id": mission_id}, headers=setup["operator"]
    )
    assert r.status_code == 422 and r.json()["code"] == "battery_exceeded", r.text
    assert "20 Wh" in r.json()["message"]
    assert len(setup["vehicle"].mission_items) <= 1  # nothing uploaded


async def test_plan_for_another_take_off_point_is_refused(
    client: httpx.AsyncClient, setup: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE drones SET capabilities = '{\"battery_wh\": 5000}' WHERE id = $1", setup["drone_id"]
        )
    lon, lat = setup["home"]
    mission_id = await store(client, setup, (lon + 0.005, lat))  # ~475 m east
    r = await client.post(
        f"/drones/{setup['drone_id']}/upload", json={"mission_id": mission_id}, headers=setup["operator"]
    )
    assert r.status_code == 422 and r.json()["code"] == "wrong_start", r.text
    assert len(setup["vehicle"].mission_items) <= 1


async def test_viewer_cannot_upload(client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    mission_id = await store(client, setup, setup["home"])
    r = await client.post(
        f"/drones/{setup['drone_id']}/upload", json={"mission_id": mission_id}, headers=setup["viewer"]
    )
    assert r.status_code == 403
