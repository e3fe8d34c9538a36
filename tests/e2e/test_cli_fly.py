"""`aerogrid fly`: a tester's mission file, fence-checked against the district, flown on a simulated drone."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app import cli_fly
from app.cli import main as cli_main
from app.services.sample import load_sample_district
from geofences.sample import GRIDS_PATH, ZONES_PATH
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import wipe_district
from tests.e2e.test_api_flight import smallest_clear_grid

SPEEDUP = 25.0


@pytest.fixture
async def registered(pool: asyncpg.Pool) -> AsyncIterator[tuple[int, SimVehicle]]:
    await wipe_district(pool)
    await load_sample_district(pool)
    from shapely.geometry import shape

    c = shape(smallest_clear_grid()["geometry"]).representative_point()
    vehicle = SimVehicle(
        VehicleConfig(
            sysid=33, port=0, home_lon_deg=c.x, home_lat_deg=c.y, speedup=SPEEDUP, battery_capacity_wh=400
        )
    )
    await vehicle.start()
    async with pool.acquire() as conn:
        drone_id = await conn.fetchval(
            """INSERT INTO drones (name, kind, endpoint, sysid, home_lon_deg, home_lat_deg)
               VALUES ('tester sim', 'sim', $1, 33, $2, $3) RETURNING id""",
            f"udpout:127.0.0.1:{vehicle.port}",
            c.x,
            c.y,
        )
    try:
        yield drone_id, vehicle
    finally:
        await vehicle.stop()


def write_plan(tmp_path: Path, home: tuple[float, float], alt_m: float) -> Path:
    out = tmp_path / "route.waypoints"
    code = smallest_clear_grid()["properties"]["code"]
    rc = cli_main(
        [
            "plan",
            str(GRIDS_PATH),
            "--grid",
            code,
            "--kind",
            "perimeter",
            "--home",
            f"{home[0]},{home[1]}",
            "--alt-m",
            str(alt_m),
            "--ceiling-m",
            "200",
            "--export",
            str(out),
        ]
    )
    assert rc == 0
    return out


async def test_fly_a_waypoints_file_to_landing(
    registered: tuple[int, SimVehicle], pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drone_id, vehicle = registered
    plan = write_plan(tmp_path, (vehicle.config.home_lon_deg, vehicle.config.home_lat_deg), 40)
    args = argparse.Namespace(drone=drone_id, plan=str(plan), online_timeout_s=10.0, hold=False)
    rc = await cli_fly.run(args, pool)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "verified by" in out and "phase: mission_complete" in out and "phase: landed" in out
    assert vehicle.armed is False and vehicle.landed


async def test_route_above_the_ceiling_is_refused_before_upload(
    registered: tuple[int, SimVehicle], pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drone_id, vehicle = registered
    plan = write_plan(tmp_path, (vehicle.config.home_lon_deg, vehicle.config.home_lat_deg), 150)
    args = argparse.Namespace(drone=drone_id, plan=str(plan), online_timeout_s=10.0, hold=False)
    rc = await cli_fly.run(args, pool)
    out = capsys.readouterr().out
    assert rc == cli_fly.EXIT_REFUSED
    assert "above_ceiling" in out
    assert len(vehicle.mission_items) <= 1  # nothing uploaded: only home


async def test_real_drones_are_not_flown_from_the_cli(
    registered: tuple[int, SimVehicle], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    drone_id, _ = registered
    async with pool.acquire() as conn:
        await conn.execute("UPDATE drones SET kind = 'real' WHERE id = $1", drone_id)
    args = argparse.Namespace(drone=drone_id, plan=str(ZONES_PATH), online_timeout_s=1.0, hold=False)
    assert await cli_fly.run(args, pool) == 2
