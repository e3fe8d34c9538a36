"""The value every planner returns: a checked, flyable plan split into sorties.

Shared by the planners (coverage, perimeter, broadcast, spray, inspect, checkpoint), the
exporters (.plan, WPL, GeoJSON, KMZ), the API preview and the uploader. A plan with
``violations`` must never be uploaded; ``app/services`` refuses it with the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from missions.items import MissionItem


@dataclass(frozen=True, slots=True)
class RoutePoint:
    """A point of the flown path in WGS-84 with its role, for previews and GeoJSON export."""

    lon_deg: float
    lat_deg: float
    alt_rel_m: float
    role: str  # "takeoff", "transit", "sweep_start", "sweep_end", "waypoint", "hover", "orbit", "land", ...
    hover_s: float = 0.0
    camera_on: bool = False
    speaker_on: bool = False
    sprayer_on: bool = False
    photo: bool = False  # one photo on reaching the point (orbits: every N degrees)
    roi: tuple[float, float, float] | None = (
        None  # (lon_deg, lat_deg, alt_rel_m) the camera faces on the leg leaving it
    )


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a plan cannot fly: which leg (index into the sortie's route), which zone, by how much.

    Work refused before any route was made (an orbit no radius or centre can fit) has sortie and
    leg -1: it is in no sortie, and the message names the site and the zone.
    """

    sortie: int
    leg: int
    zone_id: str
    kind: str  # "outside_inclusion", "inside_exclusion", "above_ceiling", "altitude_band", "battery", "tank", ...
    distance_m: float
    message: str


@dataclass(frozen=True, slots=True)
class Arrival:
    """When the drone reaches a checkpoint, in seconds from the plan's first take-off.

    Later sorties start ``turnaround_s`` after the previous one lands (battery swap). ``wait_s`` is
    the extra hover at the checkpoint when the drone would arrive before its window opens; the
    checkpoint's own hover starts at ``arrival_s + wait_s``.
    """

    code: str
    sortie: int
    arrival_s: float
    wait_s: float = 0.0
    earliest_s: float | None = None
    latest_s: float | None = None


@dataclass(frozen=True, slots=True)
class PlanStats:
    length_m: float
    flight_time_s: float
    turns: int
    photos: int
    energy_wh: float
    sorties: int
    coverage_pct: float  # area of the target under the footprints / target area, from the geometry
    area_m2: float = 0.0
    hover_points: int = 0
    extra: dict[str, float] = field(
        default_factory=dict
    )  # kind-specific figures (litres, broadcast ratio, ...)
    arrivals: tuple[Arrival, ...] = ()  # checkpoint plans: one per checkpoint, in flight order


@dataclass(frozen=True, slots=True)
class Sortie:
    """One take-off to landing: what one mission upload flies."""

    items: tuple[MissionItem, ...]  # seq 0 is home
    route: tuple[RoutePoint, ...]
    length_m: float
    flight_time_s: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class MissionPlan:
    kind: str  # "coverage", "perimeter", "broadcast", "spray", "inspect", "checkpoint"
    home_lon_deg: float
    home_lat_deg: float
    sorties: tuple[Sortie, ...]
    fence_items: tuple[MissionItem, ...]
    rally_items: tuple[MissionItem, ...]
    stats: PlanStats
    violations: tuple[Violation, ...] = ()
    warnings: tuple[str, ...] = ()
    footprints_wkt: str = ""  # covered area (WGS-84 WKT) for previews; empty when not meaningful

    @property
    def ok(self) -> bool:
        return not self.violations
