"""`aerogrid demo`: the service, the sample district and a simulated fleet in one process.

Starts simulated ArduCopters (each docked in its own sample grid, on its own UDP port of
127.0.0.1), registers them as drones (kind "sim") if they are not registered yet, creates an admin
token for the session, and serves the API. Everything runs on one event loop and stops together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from typing import Any

import asyncpg
import uvicorn
from shapely.geometry import shape

from app.auth import Role
from app.config import Settings
from app.db.migrate import migrate
from app.db.pool import open_database
from app.main import create_app
from app.services import tokens
from app.services.sample import load_sample_district, sample_document
from simulator.vehicle import SimVehicle, VehicleConfig

log = logging.getLogger(__name__)

DEMO_CAPABILITIES: dict[str, Any] = {
    "camera": {
        "sensor_width_mm": 17.3,
        "sensor_height_mm": 13.0,
        "focal_length_mm": 12.3,
        "image_width_px": 5280,
        "image_height_px": 3956,
        "model": "4/3 CMOS wide",
    },
    "speaker": {"level_db_at_1m": 120, "model": "airborne loudspeaker"},
    "sprayer": {"tank_l": 10, "flow_l_per_min": 1.5, "swath_m": 4},
    "max_speed_mps": 15,
    "battery_wh": 180,
    "endurance_min": 40,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--drones", type=int, default=3, help="simulated drones (default 3)")
    p.add_argument("--sim-base-port", type=int, default=14650, help="UDP port of the first simulated drone")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated time per wall second")


def docks(count: int) -> list[tuple[str, float, float]]:
    """One dock per drone, inside a sample grid each (grid code, lon, lat), spread over the district."""
    grids = sorted(sample_document("grids")["features"], key=lambda f: f["properties"]["code"])
    step = max(1, len(grids) // max(count, 1))
    out = []
    for feature in grids[::step][:count]:
        p = shape(feature["geometry"]).representative_point()
        out.append((feature["properties"]["code"], round(p.x, 7), round(p.y, 7)))
    return out


async def _register(pool: asyncpg.Pool, vehicles: list[SimVehicle], grid_codes: list[str]) -> None:
    async with pool.acquire() as conn:
        for vehicle, code in zip(vehicles, grid_codes, strict=True):
            cfg = vehicle.config
            community = await conn.fetchval("SELECT community_code FROM grids WHERE code = $1", code)
            await conn.execute(
                """INSERT INTO drones (name, kind, endpoint, sysid, community_code, home_lon_deg, home_lat_deg,
                                       home_alt_m, capabilities)
                   VALUES ($1, 'sim', $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (name) DO UPDATE SET endpoint = EXCLUDED.endpoint, sysid = EXCLUDED.sysid,
                       home_lon_deg = EXCLUDED.home_lon_deg, home_lat_deg = EXCLUDED.home_lat_deg""",
                f"sim-{cfg.sysid}",
                f"udpout:127.0.0.1:{vehicle.port}",
                cfg.sysid,
                community,
                cfg.home_lon_deg,
                cfg.home_lat_deg,
                cfg.home_alt_amsl_m,
                DEMO_CAPABILITIES,
            )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    host, port = args.host or settings.host, args.port or settings.port
    placements = docks(args.drones)
    vehicles = [
        SimVehicle(
            VehicleConfig(
                sysid=i + 1,
                port=args.sim_base_port + i,
                home_lon_deg=lon,
                home_lat_deg=lat,
                speedup=args.speedup,
                battery_capacity_wh=DEMO_CAPABILITIES["battery_wh"],
                seed=i,
            )
        )
        for i, (_, lon, lat) in enumerate(placements)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for vehicle in vehicles:
            await vehicle.start()
            stack.push_async_callback(vehicle.stop)
        db = await open_database(settings)
        try:
            async with db.pool.acquire() as conn:
                await migrate(conn)
            await load_sample_district(db.pool)
            await _register(db.pool, vehicles, [code for code, _, _ in placements])
            async with db.pool.acquire() as conn:
                token, _ = await tokens.create(
                    conn, name="demo admin", role=Role.ADMIN, communities=None, created_by=None
                )
        finally:
            await db.close()
        sys.stdout.write(
            f"AeroGrid demo: http://{host}:{port}  (API docs: http://{host}:{port}/docs)\n"
            f"admin token for this demo: {token}\n"
            f"simulated drones: {', '.join(f'sim-{v.config.sysid} on udp 127.0.0.1:{v.port}' for v in vehicles)}\n"
        )
        sys.stdout.flush()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_config=None))
        await server.serve()
    return 0


def main(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run(args, settings))
