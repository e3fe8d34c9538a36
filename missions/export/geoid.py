"""The EGM96 geoid undulation (geoid height N above the WGS-84 ellipsoid), when PROJ can give it.

DJI WPML's ``ellipsoidHeight`` is a WGS-84 ellipsoid height: ellipsoid height = height above mean
sea level + N. PROJ computes N from its ``us_nga_egm96_15.tif`` grid, which is not shipped with
pyproj and is never downloaded here (planning works offline). Without the grid PROJ silently falls
back to a "ballpark" transformation that returns N = 0, so the grid's presence is checked first and
None is returned when it is missing: the caller then needs the undulation from elsewhere.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

from pyproj.transformer import TransformerGroup

_WGS84_3D = "EPSG:4979"  # WGS-84 latitude, longitude, ellipsoid height
_WGS84_EGM96 = "EPSG:4326+5773"  # WGS-84 latitude, longitude + EGM96 height


@lru_cache(maxsize=1)
def _group() -> TransformerGroup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "best transformation is not available"
        return TransformerGroup(_WGS84_3D, _WGS84_EGM96, always_xy=True)


def egm96_undulation_m(lon_deg: float, lat_deg: float) -> float | None:
    """N at the point from PROJ's EGM96 grid, or None when the grid is not installed."""
    group = _group()
    if not group.best_available or not group.transformers:
        return None
    _, _, egm96_height_m = group.transformers[0].transform(lon_deg, lat_deg, 0.0, errcheck=True)
    undulation_m = -float(egm96_height_m)  # a point on the ellipsoid lies N below the geoid
    return undulation_m if math.isfinite(undulation_m) else None
