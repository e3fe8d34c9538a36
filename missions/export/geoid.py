"""The EGM96 geoid undulation (geoid height N above the WGS-84 ellipsoid), when PROJ can give it.

DJI WPML's ``ellipsoidHeight`` is a WGS-84 ellipsoid height: ellipsoid height = height above mean
sea level + N. PROJ computes N from its ``us_nga_egm96_15.tif`` grid, which is not shipped with
pyproj and is never downloaded here (planning works offline). Debian's ``proj-data`` package ships
the same grid as ``/usr/share/proj/egm96_15.gtx`` (PROJ maps the old name to the new one), so the
system's PROJ data directories (``PROJ_DATA``, ``PROJ_LIB``, ``/usr/share/proj``) that hold it are
added to pyproj's search path. Without the grid PROJ silently falls back to a "ballpark"
transformation that returns N = 0, so the grid's presence is checked first and None is returned
when it is missing: the caller then needs the undulation from elsewhere.
"""

from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

from pyproj.datadir import append_data_dir
from pyproj.transformer import TransformerGroup

_WGS84_3D = "EPSG:4979"  # WGS-84 latitude, longitude, ellipsoid height
_WGS84_EGM96 = "EPSG:4326+5773"  # WGS-84 latitude, longitude + EGM96 height
_GRID_NAMES = ("us_nga_egm96_15.tif", "egm96_15.gtx")
_SYSTEM_PROJ_DIRS = ("/usr/share/proj", "/usr/local/share/proj")


def _system_grid_dirs() -> list[str]:
    """System PROJ data directories that hold an EGM96 grid (pyproj searches only its own)."""
    candidates = [os.environ.get("PROJ_DATA"), os.environ.get("PROJ_LIB"), *_SYSTEM_PROJ_DIRS]
    return [
        d
        for d in dict.fromkeys(c for c in candidates if c)
        if any((Path(d) / n).is_file() for n in _GRID_NAMES)
    ]


@lru_cache(maxsize=1)
def _group() -> TransformerGroup:
    for directory in _system_grid_dirs():
        append_data_dir(directory)
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
