"""A real `aerogrid serve` killed with SIGKILL in the middle of a run, and started again: it picks
the run up from the database and the vehicle's own state and follows it to completion, without
uploading the mission a second time (counted on the vehicle: MISSION_COUNTs it received)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from app.auth import Role
from app.db.pool import create_pool
from app.services import tokens
from app.services.sample import sample_document
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth
from tests.dbtools import private_database
from tests.drones import register_sim_vehicle
from tests.procs import ServeProcess
from tests.scheduling.kit import CAMERA, grid_point, smallest_clear_grid

SPEEDUP = 20.0
SERVER_START_S = 30.0


@pytest_asyncio.fixture(loop_scope="session")
async def service_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A database of its own: the test session's in-process app must not share the drone's lease."""
    async with private_database(server_dsn, "aerogrid_restart") as db:
        yield db.dsn


async def start_server(dsn: str, data_dir: Path, instance_id: str) -> ServeProcess:
    """`aerogrid serve` with links on, as ``instance_id``: the restarted service is a new instance
    and takes the drone's link over once the dead one's lease has run out."""
    env = {
        "AEROGRID_INSTANCE_ID": instance_id,
        "AEROGRID_LINK_LEASE_S": "3",
        "AEROGRID_LINK_RENEW_S": "1",
        "AEROGRID_PLAN_WORKERS": "1",
        "AEROGRID_RUN_ADOPT_S": "0.5",
        "AEROGRID_RUN_PROGRESS_S": "0.2",
    }
    server = ServeProcess(dsn, data_dir, data_dir / "serve.log", env)
    await server.ready(SERVER_START_S)
    return server


async def poll(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], ok: Callable[[Any], bool], within_s: float
) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        body = (await http.get(url, headers=headers)).json()
        if ok(body):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)


async def test_sigkilled_service_reattaches_to_the_run_in_flight_and_tracks_it_to_completion(
    service_dsn: str, tmp_path: Path
) -> None:
    lon, lat = grid_point()
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=81, port=0, home_lon_deg=lon, home_lat_deg=lat, speedup=SPEEDUP, battery_capacity_wh=400
        )
    )
    mission_counts: list[int] = []
    handle_count = vehicle._handlers["MISSION_COUNT"]  # instrumentation: what the vehicle was sent

    def counting(msg: Any, sender: Any, mavlink1: bool) -> None:
        if getattr(msg, "mission_type", 0) == 0:
            mission_counts.append(msg.count)
        handle_count(msg, sender, mavlink1)

    vehicle._handlers["MISSION_COUNT"] = counting
    await vehicle.start()
    server = await start_server(service_dsn, tmp_path, "before-kill")
    try:
        pool = await create_pool(service_dsn, min_size=1, max_size=2)
        async with pool.acquire() as conn:
            admin_token, _ = await tokens.create(
                conn, name="admin", role=Role.ADMIN, communities=None, created_by=None
            )
            op_token, _ = await tokens.create(
                conn, name="op", role=Role.OPERATOR, communities=None, created_by=None
            )
        await pool.close()
        admin, operator = auth(admin_token), auth(op_token)
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            for kind, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
                assert (await http.post(path, json=sample_document(kind), headers=admin)).status_code == 200
            capabilities = {"battery_wh": 400, "camera": CAMERA}
            drone_id = await register_sim_vehicle(
                http, operator, vehicle, name="restart", capabilities=capabilities
            )
            await poll(
                http,
                f"/drones/{drone_id}/state",
                operator,
                lambda s: s.get("online") and s.get("lat_deg"),
                20,
            )
            r = await http.post(
                "/missions",
                json={
                    "name": "restart",
                    "kind": "coverage",
                    "grid_codes": [smallest_clear_grid()["properties"]["code"]],
                    "drone_id": drone_id,
                    "swath_m": 60,
                    "alt_m": 40,
                    "speed_mps": 12,
                },
                headers=operator,
            )
            assert r.status_code == 201, r.text
            items = len(r.json()["sorties"][0]["items"])
            r = await http.post(
                "/runs", json={"mission_id": r.json()["id"], "drone_id": drone_id}, headers=operator
            )
            assert r.status_code == 201, r.text
            run_url = f"/runs/{r.json()['id']}"
            await poll(
                http,
                run_url,
                operator,
                lambda r: r["state"] == "running" and (r["progress"]["current_seq"] or 0) >= 3,
                30,
            )
        server.kill()  # SIGKILL: no shutdown, no goodbye
        assert vehicle.armed  # it flies on under its own autopilot meanwhile

        server = await start_server(service_dsn, tmp_path, "after-kill")
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            run = await poll(http, run_url, operator, lambda r: r["state"] in ("completed", "failed"), 40)
    finally:
        server.kill()
        await vehicle.stop()
    assert run["state"] == "completed", run
    reasons = [t["reason"] for t in run["transitions"]]
    assert "reattached after a restart: no upload" in reasons
    assert reasons.index("reattached after a restart: no upload") < reasons.index(
        "mission complete: this boot reached the last item"
    )
    assert mission_counts == [items]  # one upload of the mission, before the kill only
    assert run["progress"]["share_done_pct"] == 100.0
    assert not vehicle.armed
