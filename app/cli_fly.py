"""`aerogrid fly`: a tester flies a mission file on a registered simulated or SITL drone.

The file (.plan or .waypoints) is fence-checked against the district's zones and ceiling from the
database before upload, as planned missions are; a route that breaks them is refused (exit 3).
Real drones are flown through the API by an operator, not from this tool.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import asyncpg

from app.db.repos import drones as drones_repo
from app.link.autopilots.ardupilot import ArduCopterFlight
from app.link.errors import LinkError
from app.link.manager import LinkManager
from app.services.district import load_fences
from missions.export import read_mission
from missions.item_route import check_items
from missions.items import MavCmd, MissionType

log = logging.getLogger(__name__)

EXIT_REFUSED = 3
EXIT_FAILED = 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drone", type=int, required=True, help="registered drone id (kind sim or sitl)")
    p.add_argument("--plan", required=True, help="mission file: .plan or .waypoints")
    p.add_argument("--online-timeout-s", type=float, default=30.0)
    p.add_argument("--hold", action="store_true", help="do not RTL after the mission (hold in AUTO)")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


async def run(args: argparse.Namespace, pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        drone = await drones_repo.link_config(conn, args.drone)
        row = await drones_repo.get(conn, args.drone)
        fences = await load_fences(conn)
    if drone is None or row is None:
        _out(f"error: no drone {args.drone}")
        return 2
    if drone["kind"] == "real":
        _out("error: aerogrid fly flies simulated and SITL drones only; fly real drones through the API")
        return 2
    try:
        mission = read_mission(Path(args.plan))
    except (ValueError, OSError) as exc:
        _out(f"error: {args.plan}: {exc}")
        return 2
    violations = check_items(mission.items, fences, row["home_lon_deg"], row["home_lat_deg"])
    if violations:
        for v in violations:
            _out(f"REFUSED leg {v.leg} zone {v.zone_id or '-'} {v.kind} {v.distance_m:.1f} m: {v.message}")
        return EXIT_REFUSED
    takeoff_alt_m = next((i.z for i in mission.items if i.command == MavCmd.NAV_TAKEOFF), None)
    if takeoff_alt_m is None:
        _out("error: the mission has no NAV_TAKEOFF item")
        return 2
    async with LinkManager() as manager:
        try:
            vehicle = await manager.add_drone(
                str(args.drone), drone["endpoint"], drone["sysid"], drone["signing_key"]
            )
            await vehicle.wait_online(args.online_timeout_s)
            for items, kind in (
                (mission.items, MissionType.MISSION),
                (mission.fence_items, MissionType.FENCE),
                (mission.rally_items, MissionType.RALLY),
            ):
                if items:
                    report = await vehicle.upload_mission(items, kind)
                    _out(
                        f"uploaded {report.items} {kind.name.lower()} items, verified by {report.verified_by}"
                    )
            flight = ArduCopterFlight(
                vehicle, on_phase=lambda phase: _out(f"phase: {phase}"), mission=mission.items
            )
            result = await flight.fly(takeoff_alt_m, return_home=not args.hold)
        except LinkError as exc:
            _out(f"error: {exc.message}")
            return EXIT_FAILED
    for warning in result.warnings:
        _out(f"warning: {warning}")
    _out(f"{'completed' if result.completed else 'interrupted'} in {result.duration_s:.1f} s")
    return 0 if result.completed else EXIT_FAILED
