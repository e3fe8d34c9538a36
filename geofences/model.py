"""The fence model: zones with a kind, a shape (polygon or circle) and an optional altitude band.

Geometry is WGS-84 (lon, lat) here, as stored and exchanged; checks project it into a
``LocalFrame`` (metres). Altitudes are metres above take-off (ArduPilot's relative altitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.frame import LocalFrame

DEFAULT_CEILING_M = 120.0  # China's light-UAV limit above take-off


class ZoneKind(StrEnum):
    INCLUSION = "inclusion"  # the drone must stay inside (union of all inclusion zones)
    EXCLUSION = "exclusion"  # never enter (school, substation)
    QUIET = "quiet"  # no broadcast within earshot (hospital, school)
    NO_PHOTO = "no_photo"  # camera off overhead
    NO_SPRAY = "no_spray"  # sprayer off and no spray route over it (water, kindergarten)


@dataclass(frozen=True, slots=True)
class Circle:
    lon_deg: float
    lat_deg: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone. Exactly one of ``polygon`` (WGS-84, holes allowed) and ``circle`` is set."""

    zone_id: str
    name: str
    kind: ZoneKind
    polygon: Polygon | MultiPolygon | None = None
    circle: Circle | None = None
    min_alt_m: float | None = None
    max_alt_m: float | None = None

    def __post_init__(self) -> None:
        if (self.polygon is None) == (self.circle is None):
            raise ValueError(f"zone {self.zone_id}: exactly one of polygon and circle must be set")

    def local_shape(self, frame: LocalFrame, circle_segments: int = 64) -> BaseGeometry:
        """The zone as a shapely geometry in ``frame`` metres (a circle becomes a polygon).

        The circle polygon is circumscribed (vertices pushed out by 1/cos(pi/n)) so it always
        contains the true circle: an exclusion check on it errs on the safe side.
        """
        if self.polygon is not None:
            return frame.to_local(self.polygon)
        assert self.circle is not None
        cx, cy = frame.xy(self.circle.lon_deg, self.circle.lat_deg)
        r = self.circle.radius_m / math.cos(math.pi / circle_segments)
        return Point(cx, cy).buffer(r, quad_segs=circle_segments // 4)


@dataclass(frozen=True, slots=True)
class FenceSet:
    """All zones that apply to a plan plus the district ceiling (metres above take-off)."""

    zones: tuple[Zone, ...] = ()
    ceiling_m: float = DEFAULT_CEILING_M

    def of_kind(self, kind: ZoneKind) -> tuple[Zone, ...]:
        return tuple(z for z in self.zones if z.kind == kind)
