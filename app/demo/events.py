"""Faults and detections the demo injects now and then, so that alerts and work orders appear.

Faults go into the simulator (``SimVehicle.faults``), never into the service: the service has to
notice them from the telemetry the way it would notice a real drone's, and its detectors raise the
alerts. They take turns: a link cut (``link_lost``), a battery sag (``battery_low``, then the
autopilot's failsafe RTL as ``unexpected_mode``), a GPS loss (``gps_degraded``/``ekf_unhealthy`` and
the EKF failsafe), and a push toward the nearest exclusion zone (``route_deviation``, then
``geofence_breach``, which opens a work order). Only a link cut makes sense for a drone on its dock, so
the others wait for a drone in the air.

Detections go through ``POST /detections`` as an onboard AI would send them, with a small PNG made
here, at the position of a drone; each opens a detection alert and a work order under its grid
(docs/workorders.md). SITL drones get detections only: their faults would need SITL's SIM_ parameters.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import math
import secrets
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from shapely.geometry import Point, shape
from shapely.ops import nearest_points

from app.demo.fleet import DemoDrone
from app.demo.patrols import checked
from app.services.sample import sample_document
from simulator.vehicle import SimVehicle

log = logging.getLogger(__name__)

LINK_CUT_S = 8.0
GPS_LOSS_S = 12.0
BATTERY_LEFT_PCT = 18.0
PUSH_SPEED_MPS = 8.0
PUSH_MAX_S = 90.0
METRES_PER_DEG_LAT = 111_320.0
DETECTION_TYPES = ("illegal_dumping", "crowd", "fallen_tree", "illegal_parking", "blocked_fire_lane")
DETECTION_CONFIDENCE = 0.92


@dataclass(frozen=True, slots=True)
class Injected:
    """What was injected on which drone, for the log."""

    drone_name: str
    what: str


def _bearing_deg(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> tuple[float, float]:
    """Bearing (0 north, 90 east) and distance in metres on a local flat approximation (short distances)."""
    north_m = (to_lat - from_lat) * METRES_PER_DEG_LAT
    east_m = (to_lon - from_lon) * METRES_PER_DEG_LAT * math.cos(math.radians(from_lat))
    return math.degrees(math.atan2(east_m, north_m)) % 360.0, math.hypot(north_m, east_m)


def _exclusion_zones() -> list[tuple[str, object]]:
    """The sample district's exclusion zones as shapely geometries (circles buffered from their radius)."""
    zones = []
    for feature in sample_document("zones")["features"]:
        props = feature["properties"]
        if props["kind"] != "exclusion":
            continue
        geometry = shape(feature["geometry"])
        if "radius_m" in props:
            geometry = geometry.buffer(props["radius_m"] / METRES_PER_DEG_LAT)
        zones.append((props["code"], geometry))
    return zones


def link_cut(vehicle: SimVehicle) -> str:
    vehicle.faults.link_loss(duration_s=LINK_CUT_S)
    return f"link cut for {LINK_CUT_S:.0f} s"


def battery_sag(vehicle: SimVehicle) -> str:
    lost_pct = max(0.0, vehicle.battery_pct - BATTERY_LEFT_PCT)
    vehicle.faults.battery_sag(lost_pct)
    return f"battery sag of {lost_pct:.0f} %"


def gps_loss(vehicle: SimVehicle) -> str:
    vehicle.faults.gps_loss(duration_s=GPS_LOSS_S)
    return f"GPS lost for {GPS_LOSS_S:.0f} s"


def push_toward_exclusion(vehicle: SimVehicle) -> str:
    """Drift the vehicle toward (and into) the nearest exclusion zone, as a gust front the controller misses."""
    here = vehicle.position
    point = Point(here.lon_deg, here.lat_deg)
    code, zone = min(_exclusion_zones(), key=lambda z: point.distance(z[1]))
    target = nearest_points(point, zone)[1]
    bearing, distance_m = _bearing_deg(point.x, point.y, target.x, target.y)
    duration_s = min(PUSH_MAX_S, distance_m / PUSH_SPEED_MPS + 10.0)
    vehicle.faults.drift(PUSH_SPEED_MPS, bearing, duration_s=duration_s)
    return f"pushed toward {code} ({distance_m:.0f} m away)"


FAULTS_IN_AIR: tuple[Callable[[SimVehicle], str], ...] = (battery_sag, gps_loss, push_toward_exclusion)


class FaultInjector:
    """Injects the next fault in turn: a link cut, then one of the in-air faults, then a link cut..."""

    def __init__(self, drones: list[DemoDrone]) -> None:
        self._drones = [d for d in drones if d.vehicle is not None]
        self._in_air: Iterator[Callable[[SimVehicle], str]] = itertools.cycle(FAULTS_IN_AIR)
        self._turn = 0

    def inject(self) -> Injected | None:
        """One fault on one drone, or None when the fleet has no simulated drone."""
        if not self._drones:
            return None
        self._turn += 1
        flying = [
            d for d in self._drones if d.vehicle is not None and d.vehicle.armed and not d.vehicle.landed
        ]
        if self._turn % 2 == 1 or not flying:
            drone = self._drones[(self._turn // 2) % len(self._drones)]
            assert drone.vehicle is not None
            return Injected(drone.name, link_cut(drone.vehicle))
        drone = flying[(self._turn // 2) % len(flying)]
        assert drone.vehicle is not None
        return Injected(drone.name, next(self._in_air)(drone.vehicle))


def demo_png(seed: int, width: int = 96, height: int = 64) -> bytes:
    """A small RGB PNG (a gradient tinted by ``seed``): a stand-in for a detection's photo."""
    tint = (seed * 67) % 256
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 255) // width, (y * 255) // height, tint))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class DetectionInjector:
    """Posts a detection of the next type at the next drone's position (its dock when not simulated)."""

    def __init__(self, drones: list[DemoDrone]) -> None:
        self._drones = drones
        self._count = 0

    def _position(self, drone: DemoDrone) -> tuple[float, float]:
        if drone.vehicle is not None:
            here = drone.vehicle.position
            return here.lon_deg, here.lat_deg
        return drone.dock.lon_deg, drone.dock.lat_deg

    async def inject(self, client: httpx.AsyncClient) -> Injected:
        drone = self._drones[self._count % len(self._drones)]
        kind = DETECTION_TYPES[self._count % len(DETECTION_TYPES)]
        self._count += 1
        lon, lat = self._position(drone)
        body = {
            "idempotency_key": f"demo-{secrets.token_hex(8)}",
            "type": kind,
            "source": "onboard_ai",
            "confidence": DETECTION_CONFIDENCE,
            "position": {"type": "Point", "coordinates": [lon, lat]},
            "drone_id": drone.drone_id,
            "note": "demo: injected detection",
            "image": {"data_base64": base64.b64encode(demo_png(self._count)).decode("ascii")},
        }
        checked(await client.post("/detections", json=body), 200, 201)
        return Injected(drone.name, f"detection {kind}")


async def inject_every(
    period_s: float, inject: Callable[[], object], *, first_after_s: float | None = None
) -> None:
    """Call ``inject`` every ``period_s`` (the first after ``first_after_s``, default one period), forever.

    ``inject`` may be a coroutine function. A failure is logged and the next turn still comes: the demo
    keeps going when one injection is refused.
    """
    await asyncio.sleep(period_s if first_after_s is None else first_after_s)
    while True:
        try:
            result = inject()
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, Injected):
                log.info("demo injected %s on %s", result.what, result.drone_name)
        except Exception:
            log.exception("a demo injection failed; the next one comes in %.0f s", period_s)
        await asyncio.sleep(period_s)
