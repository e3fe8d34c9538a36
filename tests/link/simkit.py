"""Helpers for link tests against the simulator: mission builders and vehicle registration."""

from __future__ import annotations

import math

from app.link.connection import LinkTiming
from app.link.manager import LinkManager, VehicleLink
from missions.items import MavCmd, MavFrame, MissionItem, MissionType
from simulator.vehicle import SimVehicle

HOME_LON_DEG = 120.1690
HOME_LAT_DEG = 30.2590
SPEEDUP = 10.0
ONLINE_TIMEOUT_S = 5.0


def e7(deg: float) -> int:
    return round(deg * 1e7)


def survey_mission(count: int, *, alt_m: float = 30.0, spacing_deg: float = 0.0002) -> list[MissionItem]:
    """Home, takeoff, then waypoints on a grid: items already in the form ArduCopter stores."""
    items = [
        MissionItem(command=MavCmd.NAV_WAYPOINT, x=e7(HOME_LAT_DEG), y=e7(HOME_LON_DEG)),
        MissionItem(command=MavCmd.NAV_TAKEOFF, x=e7(HOME_LAT_DEG), y=e7(HOME_LON_DEG), z=alt_m),
    ]
    for seq in range(2, count):
        row, column = divmod(seq - 2, 20)
        items.append(
            MissionItem(
                command=MavCmd.NAV_WAYPOINT,
                x=e7(HOME_LAT_DEG + row * spacing_deg),
                y=e7(HOME_LON_DEG + (column if row % 2 == 0 else 19 - column) * spacing_deg),
                z=alt_m + (seq % 4) * 0.25,
            )
        )
    return items


def fence_polygon(vertices: int, radius_deg: float = 0.003) -> list[MissionItem]:
    return [
        MissionItem(
            command=MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            frame=MavFrame.GLOBAL,
            param1=vertices,
            x=e7(HOME_LAT_DEG + radius_deg * math.cos(2 * math.pi * i / vertices)),
            y=e7(HOME_LON_DEG + radius_deg * math.sin(2 * math.pi * i / vertices)),
            mission_type=MissionType.FENCE,
        )
        for i in range(vertices)
    ]


def rally_points(count: int) -> list[MissionItem]:
    return [
        MissionItem(
            command=MavCmd.NAV_RALLY_POINT,
            frame=MavFrame.GLOBAL_RELATIVE_ALT,
            x=e7(HOME_LAT_DEG + 0.001 * i),
            y=e7(HOME_LON_DEG - 0.001 * i),
            z=20.0 + i,
            mission_type=MissionType.RALLY,
        )
        for i in range(count)
    ]


def as_stored(items: list[MissionItem], mission_type: int) -> list[tuple[object, ...]]:
    """Items as exact tuples for identity checks: seq 0 of a mission dropped, frame 6 as 3."""
    frames: dict[int, int] = {
        MavFrame.GLOBAL_RELATIVE_ALT_INT: MavFrame.GLOBAL_RELATIVE_ALT,
        MavFrame.GLOBAL_INT: MavFrame.GLOBAL,
    }
    first = 1 if mission_type == MissionType.MISSION else 0
    return [
        (i.command, frames.get(i.frame, i.frame), i.param1, i.param2, i.param3, i.param4, i.x, i.y, i.z)
        for i in items[first:]
    ]


def link_timing() -> LinkTiming:
    """Default protocol timing, with a longer online window for a busy 2-core test machine."""
    return LinkTiming(online_timeout_s=ONLINE_TIMEOUT_S)


async def link_vehicle(
    manager: LinkManager, sim: SimVehicle, *, drone_id: str | None = None, port: int | None = None
) -> VehicleLink:
    """Register ``sim`` (or a proxy in front of it, via ``port``) and wait for its heartbeat."""
    vehicle = await manager.add_drone(
        drone_id or f"drone-{sim.sysid}", f"udpout:127.0.0.1:{port or sim.port}", sim.sysid
    )
    await vehicle.wait_online(10.0)
    return vehicle
