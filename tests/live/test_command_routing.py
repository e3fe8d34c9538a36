"""Commands reach a drone whichever instance they arrive at (app/api/forward.py, docs/live.md).

Instance B is a real ``aerogrid serve`` process that links a simulated drone (real MAVLink over
UDP); instance A is this process's app on the same database, holding no link. A command sent to
A is forwarded over HTTP to B and moves the vehicle. Then B is killed: while its lease is still
live A answers 503 (never 500) naming the unreachable holder, a viewer is refused 403 by A itself
(no forward was tried, or the answer would be that 503), a forged hop header buys nothing, and
once the lease moves to A the same command works locally.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.api.forward import HOP_HEADER
from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens
from app.services.sample import sample_document
from simulator.fleet import SimFleet
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.dbtools import private_database
from tests.live.test_instances import leases_held_by
from tests.procs import ServeProcess

log = logging.getLogger(__name__)

LON, LAT = 120.5000, 30.6000
CAMERA = {
    "sensor_width_mm": 13.2,
    "sensor_height_mm": 8.8,
    "focal_length_mm": 8.8,
    "image_width_px": 5472,
    "image_height_px": 3648,
}


@pytest.fixture
async def own_dsn(server_dsn: str) -> AsyncIterator[str]:
    async with private_database(server_dsn, "aerogrid_route") as db:
        yield db.dsn


async def make_tokens(dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        admin, _ = await tokens.create(conn, name="admin", role=Role.ADMIN, communities=None, created_by=None)
        viewer, _ = await tokens.create(
            conn, name="viewer", role=Role.VIEWER, communities=None, created_by=None
        )
    finally:
        await conn.close()
    return admin, viewer


async def planned_run(dsn: str, drone_id: int) -> int:
    """A stored run of a stored mission for ``drone_id``, not dispatched (so no instance drives it)."""
    conn = await asyncpg.connect(dsn)
    try:
        mission_id = await conn.fetchval(
            "INSERT INTO missions (name, kind, grid_codes, communities, request, plan, sortie_count) "
            "VALUES ('routed', 'coverage', '{G1}', '{}', '{}', '{}', 1) RETURNING id"
        )
        return int(
            await conn.fetchval(
                "INSERT INTO mission_runs (mission_id, drone_id, state, sortie_count) "
                "VALUES ($1, $2, 'planned', 1) RETURNING id",
                mission_id,
                drone_id,
            )
        )
    finally:
        await conn.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 20.0) -> None:
    """Poll ``check`` until it returns true; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_commands_through_a_non_holder_reach_the_vehicle_and_a_dead_holder_answers_503_until_the_link_moves(
    own_dsn: str, tmp_path: Path
) -> None:
    b = ServeProcess(
        own_dsn,
        tmp_path / "b",
        tmp_path / "b.log",
        {"AEROGRID_INSTANCE_ID": "B", "AEROGRID_LINK_LEASES": "true", "AEROGRID_PLAN_WORKERS": "1"},
    )
    try:
        await b.ready()  # B migrated the database
        admin, viewer = await make_tokens(own_dsn)
        as_admin = {"Authorization": f"Bearer {admin}"}
        async with SimFleet(1, 0, LON, LAT, speedup=1.0, spacing_m=20.0) as fleet:
            sim = fleet.vehicles[0]
            async with httpx.AsyncClient(base_url=b.url, headers=as_admin) as on_b:
                r = await on_b.post(
                    "/drones",
                    json={
                        "name": "routed",
                        "kind": "sim",
                        "endpoint": f"udpout:127.0.0.1:{sim.port}",
                        "sysid": sim.config.sysid,
                        "home": {"lon_deg": sim.config.home_lon_deg, "lat_deg": sim.config.home_lat_deg},
                    },
                )
                assert r.status_code == 201, r.text
                drone_id = r.json()["id"]
            await leases_held_by(own_dsn, "B", 1)
            settings = Settings(
                database_url=own_dsn,
                data_dir=tmp_path / "a",
                instance_id="A",
                link_leases=True,
                plan_workers=1,
            )
            app_a = create_app(settings)
            async with (
                app_a.router.lifespan_context(app_a),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app_a), base_url="http://a") as on_a,
            ):
                assert str(drone_id) not in app_a.state.flights.manager.drone_ids(), "B holds the link"

                async def online_through_a() -> bool:
                    r = await on_a.get(f"/drones/{drone_id}/state", headers=as_admin)
                    assert r.status_code == 200, r.text
                    return bool(r.json().get("online")) and r.json().get("lat_deg") is not None and sim.ready

                await until(online_through_a, "B's live state (with a position) read through A")
                r = await on_a.post(f"/drones/{drone_id}/commands/arm", headers=as_admin)
                assert r.status_code == 202, r.text
                assert sim.armed, "the arm sent to A armed the vehicle B links"
                r = await on_a.post(f"/drones/{drone_id}/commands/disarm", headers=as_admin)
                assert r.status_code == 202, r.text
                assert not sim.armed
                # The body goes too: without alt_m the holder would answer 422; with it the vehicle
                # itself refuses a take-off while disarmed.
                r = await on_a.post(
                    f"/drones/{drone_id}/commands/takeoff", json={"alt_m": 5}, headers=as_admin
                )
                assert r.status_code == 409 and r.json()["code"] == "command_rejected", r.text
                r = await on_a.post(f"/drones/{drone_id}/commands/return", headers=as_admin)
                assert r.status_code == 202, r.text
                assert sim.mode == "RTL", "the mode change sent to A reached the vehicle B links"

                # A hop header from a client is not a pass: no token is still 401, and an admin's
                # request carrying one is not forwarded again (503 drone_link_moving).
                forged = {HOP_HEADER: "B"}
                r = await on_a.post(f"/drones/{drone_id}/commands/arm", headers=forged)
                assert r.status_code == 401, r.text
                r = await on_a.post(f"/drones/{drone_id}/commands/arm", headers={**as_admin, **forged})
                assert r.status_code == 503 and r.json()["code"] == "drone_link_moving", r.text
                assert not sim.armed

                # A run's controls follow its drone: routed to B, whose 409 comes back as it was.
                run_id = await planned_run(own_dsn, drone_id)
                r = await on_a.post(f"/runs/{run_id}/actions/pause", headers={**as_admin, **forged})
                assert r.status_code == 503 and r.json()["code"] == "drone_link_moving", r.text
                r = await on_a.post(f"/runs/{run_id}/actions/pause", headers=as_admin)
                assert r.status_code == 409 and r.json()["code"] == "run_state", r.text

                b.proc.send_signal(signal.SIGKILL)
                b.proc.wait(10)
                # B renewed its lease (6 s) at most 2 s ago: it is still live, naming a dead holder.
                sent_s = time.monotonic()
                r = await on_a.post(f"/drones/{drone_id}/commands/arm", headers=as_admin)
                log.info("503 from A for a dead holder after %.3f s", time.monotonic() - sent_s)
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "drone_link_holder_unreachable", r.text
                assert r.headers["Retry-After"] == "2"
                assert r.json()["details"]["holder"] == "B"
                r = await on_a.post(f"/runs/{run_id}/actions/pause", headers=as_admin)
                assert r.status_code == 503 and r.json()["code"] == "drone_link_holder_unreachable", r.text
                r = await on_a.post(
                    f"/drones/{drone_id}/commands/arm", headers={"Authorization": f"Bearer {viewer}"}
                )
                assert r.status_code == 403, f"a viewer is refused by A before any forward: {r.text}"
                assert not sim.armed

                async def linked_on_a() -> bool:
                    manager = app_a.state.flights.manager
                    return str(drone_id) in manager.drone_ids() and bool(
                        manager.vehicle(str(drone_id)).tracker.online
                    )

                await until(linked_on_a, "the link moved to A")
                r = await on_a.post(f"/drones/{drone_id}/commands/pause", headers=as_admin)
                assert r.status_code == 202, r.text
                assert sim.mode == "BRAKE", "after the move A commands the vehicle itself"
    finally:
        b.kill()


def serve_b(dsn: str, tmp_path: Path) -> ServeProcess:
    env = {"AEROGRID_INSTANCE_ID": "B", "AEROGRID_LINK_LEASES": "true", "AEROGRID_PLAN_WORKERS": "1"}
    return ServeProcess(dsn, tmp_path / "b", tmp_path / "b.log", env)


async def run_state(client: httpx.AsyncClient, headers: dict[str, str], run_id: int, want: set[str]) -> str:
    """Poll the run until its state is one of ``want``; fail with its last transitions."""
    deadline = time.monotonic() + 60
    while True:
        r = await client.get(f"/runs/{run_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] in want:
            return str(r.json()["state"])
        assert time.monotonic() < deadline, (
            f"run {run_id}: {r.json()['state']} {r.json()['transitions'][-4:]}"
        )
        await asyncio.sleep(0.2)


async def test_a_run_created_on_a_non_holder_is_flown_by_the_holder_and_aborted_through_the_non_holder(
    own_dsn: str, tmp_path: Path
) -> None:
    grid = min(
        (g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6),
        key=lambda g: shape(g["geometry"]).area,
    )
    home = shape(grid["geometry"]).representative_point()
    b = serve_b(own_dsn, tmp_path)
    sim = SimVehicle(
        VehicleConfig(
            sysid=7, port=0, home_lon_deg=home.x, home_lat_deg=home.y, speedup=10.0, battery_capacity_wh=400.0
        )
    )
    await sim.start()
    try:
        await b.ready()
        admin, _ = await make_tokens(own_dsn)
        as_admin = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=b.url, headers=as_admin) as on_b:
            for kind, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
                assert (await on_b.post(path, json=sample_document(kind))).status_code == 200
            r = await on_b.post(
                "/drones",
                json={
                    "name": "run-routed",
                    "kind": "sim",
                    "endpoint": f"udpout:127.0.0.1:{sim.port}",
                    "sysid": 7,
                    "home": {"lon_deg": home.x, "lat_deg": home.y},
                    "capabilities": {"battery_wh": 400, "max_speed_mps": 15, "camera": CAMERA},
                },
            )
            assert r.status_code == 201, r.text
            drone_id = r.json()["id"]
        await leases_held_by(own_dsn, "B", 1)
        settings = Settings(
            database_url=own_dsn, data_dir=tmp_path / "a", instance_id="A", link_leases=True, plan_workers=1
        )
        app_a = create_app(settings)
        async with (
            app_a.router.lifespan_context(app_a),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app_a), base_url="http://a") as on_a,
        ):

            async def ready_through_a() -> bool:
                r = await on_a.get(f"/drones/{drone_id}/state", headers=as_admin)
                return bool(r.json().get("online")) and r.json().get("lat_deg") is not None

            await until(ready_through_a, "B's drone online, read through A")
            body = {
                "name": "routed run",
                "kind": "coverage",
                "grid_codes": [grid["properties"]["code"]],
                "drone_id": drone_id,
                "alt_m": 40,
                "speed_mps": 12,
                "swath_m": 60,
            }
            r = await on_a.post("/missions", json=body, headers=as_admin)
            assert r.status_code == 201, r.text
            r = await on_a.post(
                "/runs", json={"mission_id": r.json()["id"], "drone_id": drone_id}, headers=as_admin
            )
            assert r.status_code == 201, r.text
            run_id = r.json()["id"]
            assert not app_a.state.runs.driving(run_id), "A does not drive a run for a drone it does not link"
            assert await run_state(on_a, as_admin, run_id, {"running", "failed"}) == "running"
            assert sim.mission_items, "B uploaded the mission"

            async def flying_the_mission() -> bool:
                return sim.mode == "AUTO"

            await until(flying_the_mission, "B flies the run's mission (AUTO)")
            r = await on_a.post(f"/runs/{run_id}/actions/abort", headers=as_admin)
            assert r.status_code == 202, r.text
            assert sim.mode == "RTL", "the abort sent to A sent the vehicle home through B"
            end = await run_state(on_a, as_admin, run_id, {"aborted", "failed"})
            r = await on_a.get(f"/runs/{run_id}", headers=as_admin)
            assert end == "aborted", [(t["to_state"], t["reason"]) for t in r.json()["transitions"]]
    finally:
        b.stop()
        await sim.stop()


async def test_leases_on_and_bound_beyond_loopback_without_an_advertised_url_refuses_to_build(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, link_leases=True, host="0.0.0.0", instance_id="X")
    with pytest.raises(RuntimeError, match="AEROGRID_ADVERTISE_URL"):
        create_app(settings)
    ok = create_app(settings.model_copy(update={"advertise_url": "http://10.0.0.5:8000"}))
    assert ok.state.settings.advertise_url == "http://10.0.0.5:8000"
