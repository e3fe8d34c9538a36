"""Watching a drone through the API (GET /drones/{id}/state), the way an operator's page does.

One polling loop for the tests that wait for a drone to come online, take off, land or lose its
link, so that each says only what it waits for and a timeout always shows the last state seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from simulator.fleet import SimFleet
from simulator.vehicle import SimVehicle

State = dict[str, Any]

_POLL_S = 0.1


async def state_of(client: httpx.AsyncClient, drone_id: int, headers: dict[str, str]) -> State:
    r = await client.get(f"/drones/{drone_id}/state", headers=headers)
    assert r.status_code == 200, r.text
    body: State = r.json()
    return body


async def wait_for_state(
    client: httpx.AsyncClient,
    drone_id: int,
    headers: dict[str, str],
    condition: Callable[[State], bool],
    *,
    within_s: float,
    seen: list[State] | None = None,
) -> State:
    """Poll the state until ``condition`` holds and return that state; every state polled is
    appended to ``seen`` (for tests about what happened on the way)."""
    deadline = time.monotonic() + within_s
    while True:
        state = await state_of(client, drone_id, headers)
        if seen is not None:
            seen.append(state)
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"condition not met within {within_s} s; last state: {state}"
        await asyncio.sleep(_POLL_S)


async def register_sim_drone(
    client: httpx.AsyncClient,
    headers: dict[str, str] | None,
    *,
    name: str,
    port: int,
    sysid: int,
    lon_deg: float,
    lat_deg: float,
    capabilities: dict[str, Any] | None = None,
) -> int:
    """POST /drones for a simulated vehicle listening on UDP ``port`` of 127.0.0.1; its id."""
    body: dict[str, Any] = {
        "name": name,
        "kind": "sim",
        "endpoint": f"udpout:127.0.0.1:{port}",
        "sysid": sysid,
        "home": {"lon_deg": lon_deg, "lat_deg": lat_deg},
    }
    if capabilities is not None:
        body["capabilities"] = capabilities
    r = await client.post("/drones", json=body, headers=headers)
    assert r.status_code == 201, r.text
    drone_id: int = r.json()["id"]
    return drone_id


async def register_sim_vehicle(
    client: httpx.AsyncClient,
    headers: dict[str, str] | None,
    vehicle: SimVehicle,
    *,
    name: str,
    capabilities: dict[str, Any] | None = None,
) -> int:
    """:func:`register_sim_drone` for an in-process simulated vehicle, at its own port, id and home."""
    cfg = vehicle.config
    return await register_sim_drone(
        client,
        headers,
        name=name,
        port=vehicle.port,
        sysid=cfg.sysid,
        lon_deg=cfg.home_lon_deg,
        lat_deg=cfg.home_lat_deg,
        capabilities=capabilities,
    )


async def register_fleet(
    client: httpx.AsyncClient, headers: dict[str, str] | None, fleet: SimFleet, name_prefix: str
) -> list[int]:
    """:func:`register_sim_vehicle` for every vehicle of ``fleet``, named ``<prefix>-<sysid>``; their ids."""
    return [
        await register_sim_vehicle(client, headers, v, name=f"{name_prefix}-{v.config.sysid}")
        for v in fleet.vehicles
    ]
