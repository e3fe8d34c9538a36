"""Through the API alone: register a simulated drone, plan a coverage route for a sample-district grid,
upload it, fly it, and watch GET /drones/{id}/state follow it to completion and landing.

The simulator is a real MAVLink peer on a UDP port of 127.0.0.1; the service links to it exactly as it
would to a drone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district

SPEEDUP = 25.0
BATTERY_WH = 400.0


def smallest_clear_grid() -> dict[str, Any]:
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    return min(grids, key=lambda g: shape(g["geometry"]).area)


@pytest.fixture
async def sim_drone() -> AsyncIterator[SimVehicle]:
    grid = smallest_clear_grid()
    c = shape(grid["geometry"]).representative_point()
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=17,
            port=0,
            home_lon_deg=c.x,
            home_lat_deg=c.y,
            speedup=SPEEDUP,
            battery_capacity_wh=BATTERY_WH,
        )
    )
    await vehicle.start()
    try:
        yield vehicle
    finally:
        await vehicle.stop()


async def test_plan_upload_fly_and_watch_state_to_landing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], sim_drone: SimVehicle
) -> None:
    await wipe_district(pool)
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    assert (
        await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    ).status_code == 200
    assert (
        await client.post("/geofences/import", json=sample_document("zones"), headers=admin)
    ).status_code == 200
    cfg = sim_drone.config
    r = await client.post(
        "/drones",
        json={
            "name": "sim-17",
            "kind": "sim",
            "endpoint": f"udpout:127.0.0.1:{sim_drone.port}",
            "sysid": cfg.sysid,
            "home": {"lon_deg": cfg.home_lon_deg, "lat_deg": cfg.home_lat_deg},
            "capabilities": {"battery_wh": BATTERY_WH, "max_speed_mps": 15},
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    drone_id = r.json()["id"]

    state: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = (await client.get(f"/drones/{drone_id}/state", headers=operator)).json()
        if state.get("online") and state.get("warnings"):
            break
        await asyncio.sleep(0.2)
    assert state.get("online"), state
    assert state["warnings"] == ["FS_GCS_ENABLE is 0: losing the ground station will not trigger RTL"]

    grid = smallest_clear_grid()
    r = await client.post(
        "/missions",
        json={
            "name": "e2e coverage",
            "kind": "coverage",
            "grid_codes": [grid["properties"]["code"]],
            "drone_id": drone_id,
            "swath_m": 60,
            "alt_m": 40,
            "speed_mps": 10,
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    mission = r.json()
    assert mission["stats"]["coverage_pct"] >= 99.5

    r = await client.post(f"/drones/{drone_id}/upload", json={"mission_id": mission["id"]}, headers=operator)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"

    r = await client.post(f"/drones/{drone_id}/flight", headers=operator)
    assert r.status_code == 202, r.text

    seen_modes: set[str] = set()
    max_seq = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = (await client.get(f"/drones/{drone_id}/state", headers=operator)).json()
        seen_modes.add(state.get("mode") or "")
        max_seq = max(max_seq, state.get("mission_seq") or 0)
        if state["flight"]["phase"] in ("done", "failed"):
            break
        await asyncio.sleep(0.25)
    flight = state["flight"]
    assert flight["phase"] == "done", flight
    assert flight["report"]["completed"] is True
    assert {"GUIDED", "AUTO", "RTL"} <= seen_modes
    assert max_seq >= len(mission["sorties"][0]["items"]) - 2  # progress tracked through the whole mission
    assert state["armed"] is False and state["landed_state"] == "ON_GROUND"
    assert sim_drone.armed is False
