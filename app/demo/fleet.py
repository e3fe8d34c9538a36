"""The demo's fleet: simulated ArduCopters (or ArduPilot SITL) docked in the sample district.

Each drone gets a dock inside its own sample grid, spread over the district, carries a camera and a
speaker (so the scheduler can give it coverage and broadcast patrols), and is registered in the
database before the service starts, so the service links it at once. A simulated drone back on its
dock with a drained pack gets a fresh one after a short wait, the way a docking station swaps
batteries: without that, the second patrol of each drone would be skipped for a low battery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from shapely.geometry import shape

from app.services.sample import sample_document
from simulator.physics import Battery
from simulator.sitl import SitlInstance
from simulator.vehicle import SimVehicle, VehicleConfig

log = logging.getLogger(__name__)

DEMO_BATTERY_WH = 180.0
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
    "max_speed_mps": 15,
    "battery_wh": DEMO_BATTERY_WH,
    "endurance_min": 40,
}
DOCK_SWAP_BELOW_PCT = 90.0
DOCK_SWAP_AFTER_S = 5.0
"""A landed, disarmed drone below this charge gets a fresh pack after this long on its dock."""
SITL_READY_TIMEOUT_S = 240.0


@dataclass(frozen=True, slots=True)
class Dock:
    grid_code: str
    lon_deg: float
    lat_deg: float


@dataclass(slots=True)
class DemoDrone:
    """One drone of the demo: its registration and, when simulated, the vehicle itself."""

    name: str
    kind: str
    endpoint: str
    sysid: int
    dock: Dock
    vehicle: SimVehicle | None = None
    drone_id: int | None = None


@dataclass(slots=True)
class Fleet:
    drones: list[DemoDrone]
    sitl: list[SitlInstance] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop every vehicle and SITL process (each one's failure is logged, the rest still stop)."""
        for drone in self.drones:
            if drone.vehicle is not None:
                try:
                    await drone.vehicle.stop()
                except Exception:
                    log.exception("stopping simulated drone %s failed", drone.name)
        for instance in self.sitl:
            try:
                await instance.stop()
            except Exception:
                log.exception("stopping SITL instance %d failed", instance.instance)


def docks(count: int) -> list[Dock]:
    """One dock per drone, each inside a different sample grid, spread over the district."""
    grids = sorted(sample_document("grids")["features"], key=lambda f: f["properties"]["code"])
    step = max(1, len(grids) // max(count, 1))
    out = []
    for feature in grids[::step][:count]:
        point = shape(feature["geometry"]).representative_point()
        out.append(Dock(feature["properties"]["code"], round(point.x, 7), round(point.y, 7)))
    return out


async def start_simulated(count: int, *, base_port: int, speedup: float) -> Fleet:
    """``count`` simulated ArduCopters, drone i on UDP ``base_port + i`` (an ephemeral port each when 0)."""
    fleet = Fleet([])
    try:
        for i, dock in enumerate(docks(count)):
            vehicle = SimVehicle(
                VehicleConfig(
                    sysid=i + 1,
                    port=base_port + i if base_port else 0,
                    home_lon_deg=dock.lon_deg,
                    home_lat_deg=dock.lat_deg,
                    speedup=speedup,
                    battery_capacity_wh=DEMO_BATTERY_WH,
                    seed=i,
                )
            )
            await vehicle.start()
            fleet.drones.append(
                DemoDrone(f"sim-{i + 1}", "sim", f"udpout:127.0.0.1:{vehicle.port}", i + 1, dock, vehicle)
            )
    except BaseException:
        await fleet.stop()
        raise
    return fleet


async def start_sitl(binary: Path, count: int, *, speedup: float) -> Fleet:
    """``count`` ArduPilot SITL instances (instance i on TCP 5760 + 10 i), waited for until ready to arm."""
    fleet = Fleet([])
    try:
        for i, dock in enumerate(docks(count)):
            instance = SitlInstance(
                binary, instance=i, home=(dock.lat_deg, dock.lon_deg, 5.0, 0.0), speedup=speedup, sysid=i + 1
            )
            fleet.sitl.append(instance)
            await instance.start()
            fleet.drones.append(DemoDrone(f"sitl-{i + 1}", "sitl", instance.connection_url, i + 1, dock))
        await asyncio.gather(*(s.wait_ready(timeout_s=SITL_READY_TIMEOUT_S) for s in fleet.sitl))
    except BaseException:
        await fleet.stop()
        raise
    return fleet


_REGISTER = """
INSERT INTO drones (name, kind, endpoint, sysid, community_code, home_lon_deg, home_lat_deg, home_alt_m,
                    capabilities)
VALUES ($1, $2, $3, $4, (SELECT community_code FROM grids WHERE code = $5), $6, $7, 5.0, $8)
ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, endpoint = EXCLUDED.endpoint, sysid = EXCLUDED.sysid,
    community_code = EXCLUDED.community_code, home_lon_deg = EXCLUDED.home_lon_deg,
    home_lat_deg = EXCLUDED.home_lat_deg, capabilities = EXCLUDED.capabilities
RETURNING id
"""


async def register(pool: asyncpg.Pool, fleet: Fleet) -> None:
    """Register (or re-point, on a later demo in the same data directory) every drone of the fleet."""
    async with pool.acquire() as conn, conn.transaction():
        for drone in fleet.drones:
            drone.drone_id = await conn.fetchval(
                _REGISTER,
                drone.name,
                drone.kind,
                drone.endpoint,
                drone.sysid,
                drone.dock.grid_code,
                drone.dock.lon_deg,
                drone.dock.lat_deg,
                DEMO_CAPABILITIES,
            )


def swap_battery(vehicle: SimVehicle) -> None:
    """Put a full pack in a simulated drone (on its dock), clearing the pack's failsafe latches."""
    autopilot = vehicle.autopilot
    old = autopilot.battery
    autopilot.battery = Battery(old.cells, old.capacity_wh, old.internal_resistance_ohm)
    autopilot.battery_low = False
    autopilot.battery_critical = False


async def dock_charging(fleet: Fleet, *, check_s: float = 1.0) -> None:
    """Swap the pack of each simulated drone that sits disarmed on its dock below the threshold."""
    landed_since: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for drone in fleet.drones:
            vehicle = drone.vehicle
            if vehicle is None:
                continue
            if vehicle.armed or not vehicle.landed or vehicle.battery_pct >= DOCK_SWAP_BELOW_PCT:
                landed_since.pop(drone.name, None)
                continue
            since = landed_since.setdefault(drone.name, now)
            if now - since >= DOCK_SWAP_AFTER_S:
                swap_battery(vehicle)
                log.info("dock swapped the battery of %s", drone.name)
                landed_since.pop(drone.name, None)
        await asyncio.sleep(check_s)


_ASSIGN_LEASE = """
INSERT INTO link_leases (drone_id, instance_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (drone_id) DO UPDATE SET instance_id = EXCLUDED.instance_id, expires_at = EXCLUDED.expires_at,
    acquired_at = now()
"""


async def spread_leases(pool: asyncpg.Pool, fleet: Fleet, instance_ids: list[str], *, hold_s: float) -> None:
    """Give the drones' link leases to the instances in turn, held ``hold_s`` for an instance to start.

    Instances claim every free lease, so the first to start would link the whole fleet; handing them
    out first shows drones linked by each instance on one page. Each instance renews its own at start.
    """
    async with pool.acquire() as conn, conn.transaction():
        for index, drone in enumerate(fleet.drones):
            await conn.execute(_ASSIGN_LEASE, drone.drone_id, instance_ids[index % len(instance_ids)], hold_s)
