"""Shared pieces of the run and schedule tests: a district, simulated drones registered through the
API with a camera or a speaker, missions planned through the API, and polling of a run's state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from shapely.geometry import shape

from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import wipe_district
from tests.drones import register_sim_vehicle, wait_for_state

SPEEDUP = 60.0
CAMERA = {
    "sensor_width_mm": 13.2,
    "sensor_height_mm": 8.8,
    "focal_length_mm": 8.8,
    "image_width_px": 5472,
    "image_height_px": 3648,
}
SPEAKER = {"level_db_at_1m": 110}
Run = dict[str, Any]


def smallest_clear_grid() -> dict[str, Any]:
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    return min(grids, key=lambda g: shape(g["geometry"]).area)


def grid_point() -> tuple[float, float]:
    c = shape(smallest_clear_grid()["geometry"]).representative_point()
    return c.x, c.y


async def load_district(client: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]) -> None:
    await wipe_district(pool)
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE mission_runs CASCADE")
    for kind, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
        r = await client.post(path, json=sample_document(kind), headers=admin)
        assert r.status_code == 200, r.text


@asynccontextmanager
async def sim_vehicles(
    count: int, *, first_sysid: int, battery_wh: float = 400.0, offset_m: float = 0.0
) -> AsyncIterator[list[SimVehicle]]:
    """``count`` simulated vehicles at the test grid's point, ``offset_m`` apart east-west."""
    lon, lat = grid_point()
    vehicles = [
        SimVehicle(
            VehicleConfig(
                sysid=first_sysid + i,
                port=0,
                home_lon_deg=lon + i * offset_m / 100_000.0,
                home_lat_deg=lat,
                speedup=SPEEDUP,
                battery_capacity_wh=battery_wh,
                seed=i,
            )
        )
        for i in range(count)
    ]
    for v in vehicles:
        await v.start()
    try:
        yield vehicles
    finally:
        for v in vehicles:
            await v.stop()


async def register(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    vehicle: SimVehicle,
    *,
    battery_wh: float = 400.0,
    payload: str = "camera",
    also: tuple[str, ...] = (),
) -> int:
    capabilities: dict[str, Any] = {"battery_wh": battery_wh, "max_speed_mps": 15}
    for name in (payload, *also):
        capabilities[name] = CAMERA if name == "camera" else SPEAKER
    drone_id = await register_sim_vehicle(
        client, headers, vehicle, name=f"sim-{vehicle.config.sysid}", capabilities=capabilities
    )
    await wait_for_state(
        client,
        drone_id,
        headers,
        lambda s: bool(s.get("online")) and s.get("lat_deg") is not None,
        within_s=20,
    )
    return drone_id


async def plan_mission(
    client: httpx.AsyncClient, headers: dict[str, str], drone_id: int, *, kind: str = "coverage", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"run test {kind}",
        "kind": kind,
        "grid_codes": [smallest_clear_grid()["properties"]["code"]],
        "drone_id": drone_id,
        "alt_m": 40,
        "speed_mps": 12,
    }
    if kind == "coverage":
        body["swath_m"] = 60
    body.update(extra)
    r = await client.post("/missions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    mission: dict[str, Any] = r.json()
    return mission


async def wait_run(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    run_id: int,
    condition: Callable[[Run], bool],
    *,
    within_s: float,
    seen: list[Run] | None = None,
) -> Run:
    deadline = time.monotonic() + within_s
    while True:
        r = await client.get(f"/runs/{run_id}", headers=headers)
        assert r.status_code == 200, r.text
        run: Run = r.json()
        if seen is not None:
            seen.append(run)
        if condition(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} stuck: {run['state']} {run['reason']} {run['transitions'][-5:]}"
            )
        await asyncio.sleep(0.2)


def states_of(run: Run) -> list[str]:
    return [t["to_state"] for t in run["transitions"]]
