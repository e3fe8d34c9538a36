"""What detectors read besides the message: thresholds, the district, the drone and its flight.

Everything here is built off the hot path (when the runner refreshes its context from the
database) and is immutable afterwards, so per-message work is a few attribute reads and, for the
geometric detectors, one vectorised shapely call against prepared geometry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString

from app.link.commands import CommandedMode
from app.link.vehicle import VehicleTracker
from app.telemetry.grids import GridIndex
from geofences.checks import PreparedFences
from geofences.frame import LocalFrame
from missions.items import MavCmd, MavFrame, MissionItem

_ROUTE_COMMANDS = frozenset(
    {
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_LOITER_UNLIM,
        MavCmd.NAV_LOITER_TURNS,
        MavCmd.NAV_LOITER_TIME,
        MavCmd.NAV_LAND,
        MavCmd.NAV_TAKEOFF,
    }
)
_GLOBAL_FRAMES = frozenset(
    {
        MavFrame.GLOBAL,
        MavFrame.GLOBAL_RELATIVE_ALT,
        MavFrame.GLOBAL_INT,
        MavFrame.GLOBAL_RELATIVE_ALT_INT,
        MavFrame.GLOBAL_TERRAIN_ALT_INT,
    }
)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Thresholds, from app/config.py Settings (``AEROGRID_ALERT_*``); documented in docs/alerts.md."""

    battery_low_pct: float = 25.0
    battery_critical_pct: float = 15.0
    battery_clear_margin_pct: float = 5.0
    return_home_margin: float = 1.3
    return_speed_mps: float = 10.0
    link_lost_s: float = 5.0
    gps_min_satellites: int = 6
    gps_max_hdop: float = 2.5
    ekf_max_variance: float = 0.8
    deviation_m: float = 20.0
    deviation_s: float = 5.0
    stall_s: float = 120.0
    statustext_hold_s: float = 30.0
    photo_hold_s: float = 30.0
    commanded_window_s: float = 10.0
    quiet_earshot_m: float = 50.0
    eval_max_hz: float = 2.0
    """Position-driven detectors evaluate a drone at most this often (0: every position) ..."""
    eval_move_m: float = 5.0
    """... unless it moved this far since the last evaluation (base.EvalBound)."""


@dataclass(frozen=True, slots=True)
class FlightRoute:
    """The drone's latest verified upload: its ids and the route it should fly, in local metres."""

    upload_id: int
    mission_id: int | None
    sortie: int
    frame: LocalFrame
    line: LineString | None


@dataclass(frozen=True, slots=True)
class DroneInfo:
    """The registered drone as detectors need it."""

    drone_id: int
    community_code: str | None = None
    battery_wh: float | None = None
    flight: FlightRoute | None = None


@dataclass(frozen=True, slots=True)
class District:
    """The fences (None without zones or ceiling data) and the grids, prepared once per refresh."""

    fences: PreparedFences | None = None
    grids: GridIndex = field(default_factory=lambda: GridIndex([]))
    grid_communities: Mapping[str, str] = field(default_factory=dict)
    zone_names: Mapping[str, str] = field(default_factory=dict)

    def grid_at(self, lon_deg: float, lat_deg: float) -> str | None:
        return self.grids.attribute(np.array([lon_deg]), np.array([lat_deg]))[0]


@dataclass(slots=True)
class DroneView:
    """One drone as a detector sees it at one message: live state, vehicle clock, context.

    ``vehicle_s`` is the vehicle's own clock (``time_boot_ms`` of its latest message that has
    one). Durations are measured on it, so a simulator's speed-up or a late link does not change
    what "5 s" means; NaN until the first such message.
    """

    info: DroneInfo
    district: District
    tracker: VehicleTracker
    commanded: CommandedMode | None = None
    vehicle_s: float = math.nan
    settings: DetectorSettings = field(default_factory=DetectorSettings)

    @property
    def position(self) -> tuple[float, float, float] | None:
        """(lon_deg, lat_deg, alt_rel_m), or None before the first position."""
        t = self.tracker
        if t.lat_deg is None or t.lon_deg is None:
            return None
        return t.lon_deg, t.lat_deg, t.alt_rel_m or 0.0


def route_line(
    items: Sequence[MissionItem], frame: LocalFrame, home_lon_deg: float, home_lat_deg: float
) -> LineString | None:
    """The horizontal path of a mission: home, then every positioned nav item, RTL back home.

    Items without a position (a NAV_TAKEOFF at 0, 0 climbs where the drone is) add no vertex.
    """
    home = frame.xy(home_lon_deg, home_lat_deg)
    points: list[tuple[float, float]] = [home]
    for item in items[1:]:  # seq 0 is home
        if item.command == MavCmd.NAV_RETURN_TO_LAUNCH:
            points.append(home)
        elif item.command in _ROUTE_COMMANDS and item.frame in _GLOBAL_FRAMES and (item.x or item.y):
            points.append(frame.xy(item.y / 1e7, item.x / 1e7))
    if len(points) < 2:
        return None
    line = LineString(points)
    shapely.prepare(line)
    return line
