"""The fault campaign's simulator process: a SimFleet that keeps its own account of what it sent.

Run by ``bench/faults.py`` (inside the campaign's network namespace when there is one), one
process per simulator incarnation, so that a crash is a real process dying. Every 0.25 s and at
SIGTERM it rewrites a JSON stats file (atomically, by rename) with, per system id, the
``time_boot_ms`` of every GLOBAL_POSITION_INT that left its socket, the mission items it reached
and whether its mission completed. The campaign compares these against what the service received
and stored: the vehicle's own word on what was sent and what was flown, not the service's.

Usage: ``python bench/faults_sim.py --count 3 --base-port 40000 --stats sim.json [--bind-host IP]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from faults_net import position_ms

from simulator.fleet import SimFleet
from simulator.mavenums import MissionState
from simulator.vehicle import SimVehicle, VehicleConfig

STATS_PERIOD_S = 0.25
DISARM_DELAY_MAX_S = 127  # the parameter is an int8


class VehicleAccount:
    """What one vehicle put on the wire and how far its mission got."""

    def __init__(self) -> None:
        self.positions_ms: list[int] = []
        self.reached: list[int] = []
        self.items = 0
        self.completed = False
        self.armed = False

    def on_datagram(self, data: bytes) -> None:
        """Note a GLOBAL_POSITION_INT once, however many peers it is sent to."""
        time_boot_ms = position_ms(bytes(data))
        if time_boot_ms is None:
            return
        if not self.positions_ms or self.positions_ms[-1] != time_boot_ms:
            self.positions_ms.append(time_boot_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "positions_ms": self.positions_ms,
            "reached": self.reached,
            "items": self.items,
            "completed": self.completed,
            "armed": self.armed,
        }


class CountingTransport(asyncio.DatagramTransport):
    """The vehicle's socket, noting each datagram it sends before sending it."""

    def __init__(self, inner: asyncio.DatagramTransport, account: VehicleAccount) -> None:
        super().__init__()
        self._inner = inner
        self._account = account

    def sendto(self, data: Any, addr: Any = None) -> None:
        self._account.on_datagram(bytes(data))
        self._inner.sendto(data, addr)

    def close(self) -> None:
        self._inner.close()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)


def instrument(vehicle: SimVehicle, account: VehicleAccount) -> None:
    """Hook the account into a started vehicle: its socket and its mission progress."""
    link = vehicle._link  # instrumentation of the simulator from outside, as the tests do
    assert link._transport is not None, "instrument a started vehicle"
    link._transport = CountingTransport(link._transport, account)
    reached = vehicle.mission_item_reached

    def on_reached(seq: int) -> None:
        account.reached.append(seq)
        reached(seq)

    vehicle.mission_item_reached = on_reached  # type: ignore[method-assign]


def write_stats(path: Path, accounts: dict[int, VehicleAccount], fleet: SimFleet) -> None:
    for vehicle in fleet.vehicles:
        account = accounts[vehicle.sysid]
        account.items = len(vehicle.mission_items)
        account.armed = vehicle.armed
        if vehicle.mission_state is MissionState.COMPLETE and account.items > 1:
            account.completed = True
    doc = {"pid": os.getpid(), "vehicles": {str(s): a.as_json() for s, a in accounts.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


async def run(args: argparse.Namespace) -> None:
    lon, lat = (float(v) for v in args.home.split(","))
    template = VehicleConfig(
        sysid=1, port=0, home_lon_deg=lon, home_lat_deg=lat, battery_capacity_wh=400, seed=args.seed
    )
    fleet = SimFleet(
        args.count,
        args.base_port,
        lon,
        lat,
        speedup=args.speedup,
        bind_host=args.bind_host,
        template=template,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    accounts = {v.sysid: VehicleAccount() for v in fleet.vehicles}
    async with fleet:
        for vehicle in fleet.vehicles:
            instrument(vehicle, accounts[vehicle.sysid])
            # ArduCopter disarms 10 s after arming on the ground without a take-off: 10 s of
            # vehicle time, under a second of wall time at a speed-up, which a take-off command
            # retried on wall time after a lost packet cannot meet. Keep it near 10 wall seconds.
            vehicle.set_param("DISARM_DELAY", min(DISARM_DELAY_MAX_S, round(10 * args.speedup)))
        stats = Path(args.stats)
        while not stop.is_set():
            write_stats(stats, accounts, fleet)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATS_PERIOD_S)
        write_stats(stats, accounts, fleet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--bind-host", default="127.0.0.1")
    parser.add_argument("--home", required=True, help="LON,LAT of vehicle 0")
    parser.add_argument("--speedup", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stats", required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
