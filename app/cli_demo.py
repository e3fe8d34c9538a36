"""`aerogrid demo`: the command's arguments; the demo itself lives in the ``app.demo`` package."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from types import FrameType

from app.config import Settings


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {value}")
    return number


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, not {value}")
        return number

    return parse


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as a Ctrl-C while the demo loads: the database already starting is stopped again."""
    raise KeyboardInterrupt


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address the service listens on (default AEROGRID_HOST, 127.0.0.1)")
    p.add_argument(
        "--port", type=int, help="port of the (first) service instance (default AEROGRID_PORT, 8000)"
    )
    p.add_argument("--drones", type=_count(1, 20), default=4, help="drones in the fleet (default 4)")
    p.add_argument(
        "--sim-base-port",
        type=_count(0, 65535),
        default=14650,
        help="UDP port of the first simulated drone, the others follow (0: any free port each)",
    )
    p.add_argument(
        "--speedup", type=_positive, default=1.0, help="simulated time per wall second (default 1)"
    )
    p.add_argument(
        "--sitl", action="store_true", help="fly ArduPilot SITL (AEROGRID_SITL_BINARY or arducopter on PATH)"
    )
    p.add_argument(
        "--instances",
        type=_count(1, 4),
        default=1,
        help="service instances on the one database, on consecutive ports, drones linked by lease (default 1)",
    )
    p.add_argument(
        "--fault-every-s", type=_positive, default=60.0, help="inject a fault this often (default 60)"
    )
    p.add_argument(
        "--detection-every-s", type=_positive, default=60.0, help="inject a detection this often (default 60)"
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Say so at once, start the database, then load and run the rest of the demo.

    Importing the service takes seconds on a busy machine, and so does a fresh PostgreSQL: the
    database starts in a thread first (logging already in the log file, so pgserver's output never
    reaches the console). A Ctrl-C before the demo's own signal handling is in place stops the
    database again and ends quietly. ``--sitl`` without a binary is refused before anything starts.
    """
    from app.demo.console import announce, log_to_file

    announce("AeroGrid demo: starting")
    log_to_file(settings.data_dir / "demo.log")
    if args.sitl:
        from simulator.sitl import SITL_BINARY_ENV, find_sitl_binary

        if find_sitl_binary() is None:
            announce(
                f"demo stopped: --sitl: no ArduPilot SITL binary (set {SITL_BINARY_ENV} or put arducopter on PATH)"
            )
            return 1
    from app.demo.database import DemoDatabase

    signal.signal(signal.SIGTERM, _interrupt)  # until the demo's loop takes the signals over
    database = DemoDatabase(settings)
    try:
        from app.demo.run import run
    except KeyboardInterrupt:
        database.stop()
        announce("stopped.")
        return 130
    return run(args, settings, database)
