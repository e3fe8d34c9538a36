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


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a plan cannot fly: which leg (index into the sortie's route), which zone, by how much."""

    sortie: int
    leg: int
    zone_id: str
    kind: str  # "outside_inclusion", "inside_exclusion", "above_ceiling", "altitude_band", "battery", "tank", ...
    distance_m: float
    message: str


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
