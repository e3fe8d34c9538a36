"""Through the API alone: register a simulated drone, plan a coverage route for a sample-district grid,
upload it, fly it, and watch GET /drones/{id}/state follow it to completion and landing.

The simulator is a real MAVLink peer on a UDP port of 127.0.0.1; the service links to it exactly as it
would to a drone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district
from tests.drones import State, register_sim_vehicle, wait_for_state

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
    capabilities = {"battery_wh": BATTERY_WH, "max_speed_mps": 15}
    drone_id = await register_sim_vehicle(
        client, operator, sim_drone, name="sim-17", capabilities=capabilities
    )

    state = await wait_for_state(
        client, drone_id, operator, lambda s: bool(s.get("online") and s.get("warnings")), within_s=20
    )
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

    seen: list[State] = []
    state = await wait_for_state(
        client,
        drone_id,
        operator,
        lambda s: s["flight"]["phase"] in ("done", "failed"),
        within_s=240,
        seen=seen,
    )
    seen_modes = {s.get("mode") or "" for s in seen}
    max_seq = max(s.get("mission_seq") or 0 for s in seen)
    flight = state["flight"]
    assert flight["phase"] == "done", flight
    assert flight["report"]["completed"] is True
    assert {"GUIDED", "AUTO", "RTL"} <= seen_modes
    assert max_seq >= len(mission["sorties"][0]["items"]) - 2  # progress tracked through the whole mission
    assert state["armed"] is False and state["landed_state"] == "ON_GROUND"
    assert sim_drone.armed is False
