"""Filing a position under a grid: the grid that holds it, or "outside the district".

The same attribution the telemetry uses (``GridIndex``: boundary included, a shared border goes to
the smallest code), run on the few grids whose bounding box holds the point. A position far from
every grid is refused rather than filed nowhere: it is almost always a swapped lon/lat or a
wrong coordinate system, and an order no grid worker will ever see helps nobody.
"""

from __future__ import annotations

import math

import numpy as np

from app.db.conn import Conn
from app.db.repos import workorders as repo
from app.db.repos.workorders import Placement
from app.errors import ValidationFailed
from app.telemetry.grids import GridIndex

OUTSIDE = Placement(None, None, None, None, None)
_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON_EQUATOR = 111_320.0


async def place(conn: Conn, lon_deg: float, lat_deg: float, *, field: str, max_outside_m: float) -> Placement:
    """The grid holding (lon, lat); OUTSIDE when none does but the district is within
    ``max_outside_m``; 422 naming ``field`` when the point is farther than that from every grid."""
    candidates = await repo.grids_around(conn, lon_deg, lat_deg)
    if candidates:
        index = GridIndex([(r["code"], r["boundary"]) for r in candidates])
        code = index.attribute(np.array([lon_deg]), np.array([lat_deg]))[0]
        if code is not None:
            r = next(c for c in candidates if c["code"] == code)
            return Placement(code, r["community_code"], r["street_code"], r["worker_name"], r["worker_phone"])
    extent = await repo.district_extent(conn)
    distance_m = (
        math.inf
        if extent is None
        else _distance_to_box_m(
            lon_deg, lat_deg, extent["min_lon"], extent["min_lat"], extent["max_lon"], extent["max_lat"]
        )
    )
    if distance_m > max_outside_m:
        where = "the district has no grids" if extent is None else f"{distance_m:.0f} m from the district"
        raise ValidationFailed(
            f"{field}: outside the district ({where}; at most {max_outside_m:.0f} m is accepted)",
            details=[{"field": field, "problem": f"outside the district: {where}"}],
        )
    return OUTSIDE


async def grid_by_code(conn: Conn, code: str, *, field: str) -> Placement:
    r = await repo.grid_placement(conn, code)
    if r is None:
        raise ValidationFailed(
            f"{field}: no grid '{code}'", details=[{"field": field, "problem": f"no grid '{code}'"}]
        )
    return Placement(r["code"], r["community_code"], r["street_code"], r["worker_name"], r["worker_phone"])


def _distance_to_box_m(
    lon_deg: float, lat_deg: float, min_lon: float, min_lat: float, max_lon: float, max_lat: float
) -> float:
    """Metres from the point to a lon/lat box (0 inside); equirectangular, fine at district scale."""
    dlon = max(min_lon - lon_deg, 0.0, lon_deg - max_lon)
    dlat = max(min_lat - lat_deg, 0.0, lat_deg - max_lat)
    dx = dlon * _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat_deg))
    return math.hypot(dx, dlat * _M_PER_DEG_LAT)
