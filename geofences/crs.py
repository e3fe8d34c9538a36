"""The coordinate systems of Chinese web maps, and conversion to WGS-84.

Grid boundaries drawn on Gaode/AMap or Tencent maps are in GCJ-02 (the state-mandated obfuscated
datum), those from Baidu in BD-09 (GCJ-02 with a further twist). Taken as WGS-84 they are off by
a few hundred metres, which is enough to put a drone over the wrong school. The forward transforms
are the public GCJ-02/BD-09 formulas; their inverses have no closed form, so we invert them by
fixed-point iteration (the Jacobian is within about 1e-5 of the identity, so each step gains
several digits) until the residual is below ``_TOLERANCE_DEG`` (about 0.01 mm).

All conversions work on numpy arrays; the scalar functions are thin wrappers for readability at
call sites. GCJ-02 leaves points outside the customary China bounding box untouched, as every
Chinese map provider does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

G = TypeVar("G", bound=BaseGeometry)
FloatArray = npt.NDArray[np.float64]
_Transform = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

# Krasovsky 1940 ellipsoid, which the GCJ-02 formulas are defined on.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_E2 = 0.00669342162296594323
# BD-09 works in "x_pi" units: degrees scaled by 3000 pi / 180.
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_DLON_DEG = 0.0065
_BD_DLAT_DEG = 0.006

# The bounding box Chinese providers use to decide whether to obfuscate at all.
_CHINA_LON_MIN_DEG, _CHINA_LON_MAX_DEG = 72.004, 137.8347
_CHINA_LAT_MIN_DEG, _CHINA_LAT_MAX_DEG = 0.8293, 55.8271

_TOLERANCE_DEG = 1e-10  # ~0.01 mm; well inside the promised 1 mm
_MAX_ITERATIONS = 30  # convergence takes 3-5 steps; the cap only guards pathological input


class CoordinateSystem(StrEnum):
    """Datum of incoming coordinates. Values are what a GeoJSON document's ``crs`` member may say."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


def out_of_china(lon_deg: FloatArray, lat_deg: FloatArray) -> npt.NDArray[np.bool_]:
    """True where a point lies outside the box in which GCJ-02 applies its offset."""
    return (
        (lon_deg < _CHINA_LON_MIN_DEG)
        | (lon_deg > _CHINA_LON_MAX_DEG)
        | (lat_deg < _CHINA_LAT_MIN_DEG)
        | (lat_deg > _CHINA_LAT_MAX_DEG)
    )


def _offset_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    """The GCJ-02 northing distortion (metres on the Krasovsky ellipsoid, before scaling)."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    """The GCJ-02 easting distortion (metres on the Krasovsky ellipsoid, before scaling)."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _wgs_to_gcj(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlat_m = _offset_lat(lon_deg - 105.0, lat_deg - 35.0)
    dlon_m = _offset_lon(lon_deg - 105.0, lat_deg - 35.0)
    lat_rad = np.radians(lat_deg)
    w2 = 1.0 - _KRASOVSKY_E2 * np.sin(lat_rad) ** 2
    w = np.sqrt(w2)
    meridian_radius_m = _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_E2) / (w2 * w)
    parallel_radius_m = _KRASOVSKY_A_M / w * np.cos(lat_rad)
    outside = out_of_china(lon_deg, lat_deg)
    gcj_lon = np.where(outside, lon_deg, lon_deg + np.degrees(dlon_m / parallel_radius_m))
    gcj_lat = np.where(outside, lat_deg, lat_deg + np.degrees(dlat_m / meridian_radius_m))
    return gcj_lon, gcj_lat


def _gcj_to_bd(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon_deg, lat_deg) + 0.00002 * np.sin(lat_deg * _BD_X_PI)
    theta = np.arctan2(lat_deg, lon_deg) + 0.000003 * np.cos(lon_deg * _BD_X_PI)
    return z * np.cos(theta) + _BD_DLON_DEG, z * np.sin(theta) + _BD_DLAT_DEG


def _gcj_to_bd_approx_inverse(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Baidu's published BD-09 -> GCJ-02 formula: good to about a metre, used as the first guess."""
    x = lon_deg - _BD_DLON_DEG
    y = lat_deg - _BD_DLAT_DEG
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: _Transform,
    target_lon_deg: FloatArray,
    target_lat_deg: FloatArray,
    guess_lon_deg: FloatArray,
    guess_lat_deg: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(p) == target`` by fixed-point iteration from ``guess``.

    Each step moves ``p`` by the residual; that converges because ``forward`` is the identity
    plus a slowly varying offset. Stops when every point's residual is below tolerance.
    """
    lon, lat = guess_lon_deg.copy(), guess_lat_deg.copy()
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = forward(lon, lat)
        err_lon = fwd_lon - target_lon_deg
        err_lat = fwd_lat - target_lat_deg
        lon -= err_lon
        lat -= err_lat
        if err_lon.size == 0 or max(np.max(np.abs(err_lon)), np.max(np.abs(err_lat))) < _TOLERANCE_DEG:
            break
    return lon, lat


def _gcj_to_wgs(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    fwd_lon, fwd_lat = _wgs_to_gcj(lon_deg, lat_deg)
    return _invert(_wgs_to_gcj, lon_deg, lat_deg, 2.0 * lon_deg - fwd_lon, 2.0 * lat_deg - fwd_lat)


def _bd_to_gcj(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    guess_lon, guess_lat = _gcj_to_bd_approx_inverse(lon_deg, lat_deg)
    return _invert(_gcj_to_bd, lon_deg, lat_deg, guess_lon, guess_lat)


def _wgs_to_bd(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_bd(*_wgs_to_gcj(lon_deg, lat_deg))


def _bd_to_wgs(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_wgs(*_bd_to_gcj(lon_deg, lat_deg))


def _identity(lon_deg: FloatArray, lat_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    return lon_deg, lat_deg


_TO_WGS84: dict[CoordinateSystem, _Transform] = {
    CoordinateSystem.WGS84: _identity,
    CoordinateSystem.GCJ02: _gcj_to_wgs,
    CoordinateSystem.BD09: _bd_to_wgs,
}
_FROM_WGS84: dict[CoordinateSystem, _Transform] = {
    CoordinateSystem.WGS84: _identity,
    CoordinateSystem.GCJ02: _wgs_to_gcj,
    CoordinateSystem.BD09: _wgs_to_bd,
}


def _scalar(transform: _Transform, lon_deg: float, lat_deg: float) -> tuple[float, float]:
    lon, lat = transform(np.array([lon_deg], dtype=np.float64), np.array([lat_deg], dtype=np.float64))
    return float(lon[0]), float(lat[0])


def wgs84_to_gcj02(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """WGS-84 (GPS) to GCJ-02 (AMap, Tencent): the forward obfuscation."""
    return _scalar(_wgs_to_gcj, lon_deg, lat_deg)


def gcj02_to_wgs84(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """GCJ-02 to WGS-84 by iteration; ``wgs84_to_gcj02`` of the result is within 0.01 mm of the input."""
    return _scalar(_gcj_to_wgs, lon_deg, lat_deg)


def gcj02_to_bd09(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """GCJ-02 to BD-09 (Baidu)."""
    return _scalar(_gcj_to_bd, lon_deg, lat_deg)


def bd09_to_gcj02(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """BD-09 to GCJ-02, refined by iteration beyond Baidu's approximate inverse."""
    return _scalar(_bd_to_gcj, lon_deg, lat_deg)


def wgs84_to_bd09(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """WGS-84 to BD-09, through GCJ-02."""
    return _scalar(_wgs_to_bd, lon_deg, lat_deg)


def bd09_to_wgs84(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """BD-09 to WGS-84, through GCJ-02."""
    return _scalar(_bd_to_wgs, lon_deg, lat_deg)


def to_wgs84_arrays(
    lon_deg: npt.ArrayLike, lat_deg: npt.ArrayLike, crs: CoordinateSystem
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of (lon, lat) in ``crs`` to WGS-84 in one vectorised pass."""
    return _TO_WGS84[crs](np.asarray(lon_deg, dtype=np.float64), np.asarray(lat_deg, dtype=np.float64))


def from_wgs84_arrays(
    lon_deg: npt.ArrayLike, lat_deg: npt.ArrayLike, crs: CoordinateSystem
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of WGS-84 (lon, lat) to ``crs``, e.g. to draw them on an AMap or Baidu base map."""
    return _FROM_WGS84[crs](np.asarray(lon_deg, dtype=np.float64), np.asarray(lat_deg, dtype=np.float64))


def _transform_geometry(geom: G, transform: _Transform) -> G:
    def apply(coords: FloatArray) -> FloatArray:
        lon, lat = transform(coords[:, 0].copy(), coords[:, 1].copy())
        return np.column_stack([lon, lat])

    return cast(G, shapely.transform(geom, apply))


def to_wgs84_geometry(geom: G, crs: CoordinateSystem) -> G:
    """``geom`` (any shapely geometry, 2-D) with every vertex converted from ``crs`` to WGS-84."""
    if crs is CoordinateSystem.WGS84:
        return geom
    return _transform_geometry(geom, _TO_WGS84[crs])


def from_wgs84_geometry(geom: G, crs: CoordinateSystem) -> G:
    """``geom`` with every vertex converted from WGS-84 to ``crs`` (the inverse of ``to_wgs84_geometry``)."""
    if crs is CoordinateSystem.WGS84:
        return geom
    return _transform_geometry(geom, _FROM_WGS84[crs])
