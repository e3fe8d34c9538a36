"""Flat-earth conversions between WGS-84 degrees and a local north/east metric frame.

The simulator flies vehicles over a few kilometres at most, so an equirectangular projection
around a fixed origin is accurate to centimetres there, costs two multiplications per call and
keeps the simulator free of pyproj (DESIGN.md: simulator/ imports only pymavlink and the stdlib).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_378_137.0
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A tangent-plane frame anchored at ``origin``; north/east in metres."""

    origin_lat_deg: float
    origin_lon_deg: float

    @property
    def _m_per_deg_lon(self) -> float:
        return _M_PER_DEG_LAT * math.cos(math.radians(self.origin_lat_deg))

    def to_ne(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Degrees to (north_m, east_m) from the origin."""
        return (
            (lat_deg - self.origin_lat_deg) * _M_PER_DEG_LAT,
            (lon_deg - self.origin_lon_deg) * self._m_per_deg_lon,
        )

    def to_latlon(self, north_m: float, east_m: float) -> tuple[float, float]:
        """(north_m, east_m) from the origin to (lat_deg, lon_deg)."""
        return (
            self.origin_lat_deg + north_m / _M_PER_DEG_LAT,
            self.origin_lon_deg + east_m / self._m_per_deg_lon,
        )


def offset_latlon(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m``/``east_m`` away from (lat_deg, lon_deg)."""
    return LocalFrame(lat_deg, lon_deg).to_latlon(north_m, east_m)


def distance_m(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Horizontal distance between two nearby points."""
    north_m, east_m = LocalFrame(lat1_deg, lon1_deg).to_ne(lat2_deg, lon2_deg)
    return math.hypot(north_m, east_m)


def bearing_deg(north_m: float, east_m: float) -> float:
    """Compass bearing of a north/east vector, 0..360."""
    return math.degrees(math.atan2(east_m, north_m)) % 360.0


def point_in_polygon(north_m: float, east_m: float, vertices: list[tuple[float, float]]) -> bool:
    """Even-odd rule containment; ``vertices`` are (north_m, east_m), ring not closed."""
    inside = False
    count = len(vertices)
    for i in range(count):
        n1, e1 = vertices[i]
        n2, e2 = vertices[(i + 1) % count]
        if (n1 > north_m) != (n2 > north_m):
            cross_e = e1 + (north_m - n1) * (e2 - e1) / (n2 - n1)
            if east_m < cross_e:
                inside = not inside
    return inside
