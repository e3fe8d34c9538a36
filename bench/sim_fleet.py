"""CPU cost of a simulated fleet: 50 vehicles streaming GLOBAL_POSITION_INT at 10 Hz to one GCS.

Usage: ``.venv/bin/python bench/sim_fleet.py [--vehicles 50] [--seconds 20] [--rate-hz 10]``

Three phases run in the same process, one after the other, each for ``--seconds``:

* ``idle``: the fleet with HEARTBEAT only (the cost of simply keeping the vehicles alive);
* ``one``: a single vehicle streaming at the rate (the per-vehicle cost);
* ``fleet``: every vehicle streaming at the rate to one GCS socket.

CPU use is ``time.process_time()`` over wall time (1.0 = one core busy). The GCS socket only
counts datagrams, so its own cost is negligible. Ends with a ``RESULT`` line (DESIGN.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.fleet import SimFleet

HOME_LON_DEG, HOME_LAT_DEG = 121.4737, 31.2304


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    vehicles: int
    stream: str
    wall_s: float
    cpu_s: float
    messages: int

    @property
    def cpu_cores(self) -> float:
        return self.cpu_s / self.wall_s

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.wall_s


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams += 1


async def run_phase(name: str, vehicles: int, rate_hz: float | None, seconds: float) -> PhaseResult:
    loop = asyncio.get_running_loop()
    sink = _Sink()
    transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", 0))
    gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    async with SimFleet(vehicles, 0, HOME_LON_DEG, HOME_LAT_DEG) as fleet:
        for vehicle in fleet:
            address = ("127.0.0.1", vehicle.port)
            transport.sendto(gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS, 8, 0, 0, 0).pack(gcs), address)
            if rate_hz is not None:
                request = gcs.command_long_encode(
                    vehicle.sysid,
                    1,
                    mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                    0,
                    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
                    1e6 / rate_hz,
                    0,
                    0,
                    0,
                    0,
                    0,
                )
                transport.sendto(request.pack(gcs), address)
        await asyncio.sleep(1.0)  # let streams settle before measuring
        datagrams_before = sink.datagrams
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu_s, wall_s = time.process_time() - cpu_before, time.perf_counter() - wall_before
        messages = sink.datagrams - datagrams_before
    transport.close()
    stream = "HEARTBEAT 1 Hz" if rate_hz is None else f"GLOBAL_POSITION_INT {rate_hz:g} Hz"
    return PhaseResult(name, vehicles, stream, wall_s, cpu_s, messages)


async def main(vehicles: int, seconds: float, rate_hz: float) -> list[PhaseResult]:
    return [
        await run_phase("idle", vehicles, None, seconds),
        await run_phase("one", 1, rate_hz, seconds),
        await run_phase("fleet", vehicles, rate_hz, seconds),
    ]


def report(results: list[PhaseResult], command: str) -> str:
    lines = [
        f"command: {command}",
        "",
        f"{'phase':<8}{'vehicles':>9}  {'stream':<28}{'wall_s':>8}{'cpu_s':>8}{'cpu_cores':>11}{'msgs/s':>10}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<8}{r.vehicles:>9}  {r.stream:<28}{r.wall_s:>8.1f}{r.cpu_s:>8.2f}"
            f"{r.cpu_cores:>11.3f}{r.msgs_per_s:>10.0f}"
        )
    idle, one, fleet = results
    lines += [
        "",
        f"fleet / idle cpu ratio: {fleet.cpu_cores / max(idle.cpu_cores, 1e-9):.2f}",
        f"fleet / (one x {fleet.vehicles}) cpu ratio: {fleet.cpu_cores / max(one.cpu_cores * fleet.vehicles, 1e-9):.2f}",
        f"RESULT sim{fleet.vehicles}_cpu_cores={fleet.cpu_cores:.3f} baseline_cpu_cores={idle.cpu_cores:.3f} "
        f"one_vehicle_cpu_cores={one.cpu_cores:.3f} msgs_per_s={fleet.msgs_per_s:.0f}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    phase_results = asyncio.run(main(options.vehicles, options.seconds, options.rate_hz))
    sys.stdout.write(report(phase_results, " ".join(["python", *sys.argv])))
