"""SimFleet: N simulated vehicles in one process, one UDP port and system id each.

Vehicle ``i`` listens on ``base_port + i`` with system id ``first_sysid + i``; homes sit on a
small grid ``spacing_m`` apart so the vehicles do not start on top of each other. Used by the
``aerogrid sim`` command (through :func:`add_cli_arguments` and :func:`main_from_args`), by the
link tests and by ``bench/sim_fleet.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
from collections.abc import Iterator
from dataclasses import replace

from simulator.geo import offset_latlon
from simulator.vehicle import SimVehicle, VehicleConfig

logger = logging.getLogger(__name__)


def fleet_configs(
    count: int,
    base_port: int,
    home_lon_deg: float,
    home_lat_deg: float,
    *,
    speedup: float = 1.0,
    bind_host: str = "127.0.0.1",
    spacing_m: float = 5.0,
    first_sysid: int = 1,
    template: VehicleConfig | None = None,
) -> list[VehicleConfig]:
    """The configs :class:`SimFleet` builds; ``template`` supplies every other field."""
    if count < 1:
        raise ValueError("a fleet has at least one vehicle")
    if first_sysid < 1 or first_sysid + count - 1 > 255:
        raise ValueError("system ids must stay within 1..255")
    columns = max(1, math.ceil(math.sqrt(count)))
    configs = []
    for index in range(count):
        lat, lon = offset_latlon(
            home_lat_deg, home_lon_deg, (index // columns) * spacing_m, (index % columns) * spacing_m
        )
        base = template or VehicleConfig(sysid=1, port=0, home_lon_deg=lon, home_lat_deg=lat)
        configs.append(
            replace(
                base,
                sysid=first_sysid + index,
                port=base_port + index if base_port else 0,
                home_lon_deg=lon,
                home_lat_deg=lat,
                bind_host=bind_host,
                speedup=speedup,
                seed=base.seed + index,
            )
        )
    return configs


class SimFleet:
    """``async with SimFleet(3, 14550, lon, lat) as fleet: fleet.vehicles[0]``."""

    def __init__(
        self,
        count: int,
        base_port: int,
        home_lon_deg: float,
        home_lat_deg: float,
        *,
        speedup: float = 1.0,
        bind_host: str = "127.0.0.1",
        spacing_m: float = 5.0,
        first_sysid: int = 1,
        template: VehicleConfig | None = None,
    ) -> None:
        configs = fleet_configs(
            count,
            base_port,
            home_lon_deg,
            home_lat_deg,
            speedup=speedup,
            bind_host=bind_host,
            spacing_m=spacing_m,
            first_sysid=first_sysid,
            template=template,
        )
        self.vehicles = [SimVehicle(config) for config in configs]

    def __len__(self) -> int:
        return len(self.vehicles)

    def __iter__(self) -> Iterator[SimVehicle]:
        return iter(self.vehicles)

    async def start(self) -> None:
        started: list[SimVehicle] = []
        try:
            for vehicle in self.vehicles:
                await vehicle.start()
                started.append(vehicle)
        except BaseException:
            for vehicle in started:
                await vehicle.stop()
            raise

    async def stop(self) -> None:
        for vehicle in self.vehicles:
            await vehicle.stop()

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def run_fleet(
    count: int,
    base_port: int,
    home_lon_deg: float,
    home_lat_deg: float,
    *,
    speedup: float = 1.0,
    bind_host: str = "127.0.0.1",
    spacing_m: float = 5.0,
    first_sysid: int = 1,
    template: VehicleConfig | None = None,
) -> None:
    """Run a fleet until cancelled."""
    fleet = SimFleet(
        count,
        base_port,
        home_lon_deg,
        home_lat_deg,
        speedup=speedup,
        bind_host=bind_host,
        spacing_m=spacing_m,
        first_sysid=first_sysid,
        template=template,
    )
    async with fleet:
        logger.info(
            "fleet of %d vehicles on %s:%d-%d (sysid %d-%d), speed-up %.1f",
            count,
            bind_host,
            fleet.vehicles[0].port,
            fleet.vehicles[-1].port,
            first_sysid,
            first_sysid + count - 1,
            speedup,
        )
        await asyncio.Event().wait()


def _lon_lat(text: str) -> tuple[float, float]:
    try:
        lon_text, lat_text = text.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected LON,LAT in degrees, e.g. 121.4737,31.2304") from exc
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise argparse.ArgumentTypeError("LON must be within ±180 and LAT within ±90")
    return lon, lat


def _signing_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("signing key must be 64 hex digits") from exc
    if len(key) != 32:
        raise argparse.ArgumentTypeError("signing key must be 64 hex digits (32 bytes)")
    return key


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aerogrid sim``."""
    parser.add_argument("--count", type=int, default=1, help="number of vehicles (default 1)")
    parser.add_argument("--base-port", type=int, default=14550, help="UDP port of vehicle 0 (default 14550)")
    parser.add_argument(
        "--home", type=_lon_lat, default=(121.4737, 31.2304), metavar="LON,LAT", help="home of vehicle 0"
    )
    parser.add_argument("--home-alt", type=float, default=5.0, help="home altitude AMSL, m (default 5)")
    parser.add_argument(
        "--speedup", type=float, default=1.0, help="simulated time per wall second (default 1)"
    )
    parser.add_argument("--bind-host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--spacing", type=float, default=5.0, help="distance between homes, m (default 5)")
    parser.add_argument("--first-sysid", type=int, default=1, help="system id of vehicle 0 (default 1)")
    parser.add_argument("--wind", type=float, default=0.0, help="wind speed, m/s (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of vehicle 0 (default 0)")
    parser.add_argument("--signing-key", type=_signing_key, default=None, help="MAVLink 2 signing key, hex")


async def main_from_args(args: argparse.Namespace) -> None:
    """Run the fleet described by :func:`add_cli_arguments` options until cancelled."""
    lon, lat = args.home
    template = VehicleConfig(
        sysid=1,
        port=0,
        home_lon_deg=lon,
        home_lat_deg=lat,
        home_alt_amsl_m=args.home_alt,
        wind_mps=args.wind,
        seed=args.seed,
        signing_key=args.signing_key,
    )
    await run_fleet(
        args.count,
        args.base_port,
        lon,
        lat,
        speedup=args.speedup,
        bind_host=args.bind_host,
        spacing_m=args.spacing,
        first_sysid=args.first_sysid,
        template=template,
    )
