"""MAVLink links to vehicles: transports, codec, routing, per-vehicle state, commands, missions.

The service uses ``LinkManager`` (one per process, opened in the lifespan) and the
``VehicleLink`` it returns per drone; everything else is the machinery behind them.
"""

from app.link.connection import LinkStats, LinkTiming
from app.link.manager import LinkManager, TelemetryListener, VehicleLink
from app.link.mission_protocol import UploadReport
from app.link.transport import Endpoint, parse_endpoint
from app.link.vehicle import VehicleEvent, VehicleState

__all__ = [
    "Endpoint",
    "LinkManager",
    "LinkStats",
    "LinkTiming",
    "TelemetryListener",
    "UploadReport",
    "VehicleEvent",
    "VehicleLink",
    "VehicleState",
    "parse_endpoint",
]
