"""A patrol along a grid's boundary, kept ``margin_m`` inside it.

The margin keeps the drone over its own grid (and off the neighbour's fence line) while the
camera still sees the boundary. Offsetting a concave grid inward can split it where it is
narrower than twice the margin; the patrol then follows the largest part, since flying the
slivers would mean crossing outside the offset anyway. Mitred joins keep the corners as single
vertices (round joins would add a waypoint every few degrees).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

XY = tuple[float, float]
Direction = Literal["cw", "ccw"]

_SIMPLIFY_M = 0.05  # drop offset artefacts (near-collinear vertices) smaller than this
_MITRE_LIMIT = 5.0


def perimeter_ring(
    area: Polygon | MultiPolygon,
    margin_m: float,
    *,
    start_near: XY | None = None,
    direction: Direction = "ccw",
) -> tuple[XY, ...]:
    """The closed patrol ring (first point repeated last) in local metres.

    Starts at the ring vertex nearest ``start_near`` (home) and runs ``direction``.
    Raises ``ValueError`` if nothing is left after the inward offset.
    """
    if not math.isfinite(margin_m) or margin_m < 0.0:
        raise ValueError(f"margin_m must be finite and >= 0, got {margin_m!r}")
    if direction not in ("cw", "ccw"):
        raise ValueError(f"direction must be 'cw' or 'ccw', got {direction!r}")
    if area.is_empty:
        raise ValueError("area is empty")
    inner = area.buffer(-margin_m, join_style="mitre", mitre_limit=_MITRE_LIMIT) if margin_m > 0 else area
    part = _largest_polygon(inner)
    if part is None:
        raise ValueError(f"nothing of the area is left {margin_m:g} m inside its boundary")
    part = orient(part.simplify(_SIMPLIFY_M), sign=1.0 if direction == "ccw" else -1.0)
    coords = np.asarray(part.exterior.coords)[:-1, :2]
    if start_near is not None:
        d2 = (coords[:, 0] - start_near[0]) ** 2 + (coords[:, 1] - start_near[1]) ** 2
        coords = np.roll(coords, -int(np.argmin(d2)), axis=0)
    ring = [(float(x), float(y)) for x, y in coords]
    ring.append(ring[0])
    return tuple(ring)


def _largest_polygon(geom: shapely.Geometry) -> Polygon | None:
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty and g.area > 0.0]
    if not polys:
        return None
    return max(polys, key=lambda p: (p.area, p.bounds))
