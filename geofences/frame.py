"""Local metric frame for planning: the UTM zone of a point, via pyproj.

Everything in the planning core is measured in metres in this frame; WGS-84 (lon, lat) appears
only at the edges (import, export, MAVLink). It lives in ``geofences`` (the lowest layer) because
fence checks need metres too, and ``missions`` builds on ``geofences``, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

G = TypeVar("G", bound=BaseGeometry)


@lru_cache(maxsize=64)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    fwd = Transformer.from_crs(4326, epsg, always_xy=True)
    inv = Transformer.from_crs(epsg, 4326, always_xy=True)
    return fwd, inv


def utm_epsg(lon_deg: float, lat_deg: float) -> int:
    """EPSG code of the WGS-84 UTM zone containing (lon, lat)."""
    zone = min(int((lon_deg + 180.0) // 6.0) + 1, 60)
    return (32600 if lat_deg >= 0 else 32700) + zone


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A UTM projection; ``to_local`` maps (lon, lat) to metres east/north, ``to_wgs84`` back."""

    epsg: int

    @classmethod
    def for_lonlat(cls, lon_deg: float, lat_deg: float) -> LocalFrame:
        return cls(utm_epsg(lon_deg, lat_deg))

    @classmethod
    def for_geometry(cls, geom_wgs84: BaseGeometry) -> LocalFrame:
        c = geom_wgs84.centroid if not geom_wgs84.is_empty else None
        if c is None:
            raise ValueError("cannot choose a frame for an empty geometry")
        return cls.for_lonlat(c.x, c.y)

    def xy(self, lon_deg: float, lat_deg: float) -> tuple[float, float]:
        x, y = _transformers(self.epsg)[0].transform(lon_deg, lat_deg)
        return float(x), float(y)

    def lonlat(self, x_m: float, y_m: float) -> tuple[float, float]:
        lon, lat = _transformers(self.epsg)[1].transform(x_m, y_m)
        return float(lon), float(lat)

    def to_local(self, geom_wgs84: G) -> G:
        fwd = _transformers(self.epsg)[0]
        return cast(G, shapely.transform(geom_wgs84, lambda c: _apply(fwd, c)))

    def to_wgs84(self, geom_local: G) -> G:
        inv = _transformers(self.epsg)[1]
        return cast(G, shapely.transform(geom_local, lambda c: _apply(inv, c)))


def _apply(tr: Transformer, coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x, y = tr.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])
