"""A two-sortie mission flown through a run on real ArduPilot SITL (opt-in: `-m sitl` with
AEROGRID_SITL_BINARY set or arducopter on PATH; skipped with the reason otherwise)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from simulator.sitl import SITL_BINARY_ENV, SitlInstance, find_sitl_binary
from tests.conftest import auth
from tests.drones import wait_for_state
from tests.scheduling.kit import CAMERA, grid_point, load_district, plan_mission, states_of, wait_run

pytestmark = pytest.mark.sitl


@pytest.fixture
async def sitl() -> AsyncIterator[SitlInstance]:
    binary = find_sitl_binary()
    if binary is None:
        pytest.skip(f"no ArduPilot SITL: set {SITL_BINARY_ENV} or put arducopter on PATH")
    lon, lat = grid_point()
    speedup = float(os.environ.get("AEROGRID_SITL_SPEEDUP", "5"))
    async with SitlInstance(binary, instance=3, home=(lat, lon, 5.0, 0.0), speedup=speedup) as instance:
        await instance.wait_ready(timeout_s=180.0)
        yield instance


async def test_two_sortie_run_on_sitl_flies_both_sorties_with_a_battery_swap_between(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], sitl: SitlInstance
) -> None:
    admin, operator = auth(role_tokens["admin"]), auth(role_tokens["operator"])
    await load_district(client, pool, admin)
    lon, lat = grid_point()
    r = await client.post(
        "/drones",
        json={
            "name": "sitl-run",
            "kind": "sitl",
            "endpoint": sitl.connection_url,
            "sysid": 1,
            "home": {"lon_deg": lon, "lat_deg": lat},
            "capabilities": {"battery_wh": 400, "camera": CAMERA},
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    drone_id = r.json()["id"]
    await wait_for_state(client, drone_id, operator, lambda s: bool(s.get("lat_deg")), within_s=60)
    mission = await plan_mission(client, operator, drone_id, swath_m=40, battery={"capacity_wh": 40})
    assert len(mission["sorties"]) == 2
    r = await client.post("/runs", json={"mission_id": mission["id"], "drone_id": drone_id}, headers=operator)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    run = await wait_run(
        client, operator, run_id, lambda r: r["state"] in ("waiting", "failed"), within_s=900
    )
    assert run["state"] == "waiting", run
    assert (await client.post(f"/runs/{run_id}/actions/continue", headers=operator)).status_code == 202
    run = await wait_run(
        client, operator, run_id, lambda r: r["state"] in ("completed", "failed"), within_s=900
    )
    assert run["state"] == "completed", run
    assert states_of(run).count("landed") == 2
