"""A flown track as a GeoJSON Feature, simplified to a point budget.

Douglas-Peucker in metres (the UTM frame of the track's start), with the tolerance found by
bisection: the smallest tolerance whose line fits ``max_points`` keeps the most shape. The kept
vertices are original samples (DP only drops vertices), so each keeps its altitude and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import LineString

from geofences.frame import LocalFrame

BISECTION_STEPS: Final = 30


def _kept_indices(xy: np.ndarray, max_points: int) -> list[int]:
    count = len(xy)
    if count <= max_points:
        return list(range(count))
    line = LineString(xy)
    lo, hi = 0.0, float(np.ptp(xy[:, 0]) + np.ptp(xy[:, 1])) + 1.0
    best = None
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        simplified = shapely.get_coordinates(shapely.simplify(line, mid, preserve_topology=False))
        if len(simplified) <= max_points:
            best, hi = simplified, mid
        else:
            lo = mid
    if best is None:  # not reachable: the upper bound collapses any line to its two ends
        return [round(i) for i in np.linspace(0, count - 1, max_points)]
    kept, j = [], 0
    for x, y in best:
        while j < count and (xy[j, 0] != x or xy[j, 1] != y):
            j += 1
        kept.append(min(j, count - 1))
    return kept


def simplify_track(
    drone_id: int,
    coords: Sequence[tuple[float, float, float]],
    times: Sequence[datetime],
    max_points: int,
    *,
    truncated: bool = False,
) -> dict[str, Any]:
    """Feature with a LineString of [lon, lat, alt_amsl_m] (Point for one sample, null for none)."""
    properties: dict[str, Any] = {
        "drone_id": drone_id,
        "samples": len(coords),
        "points": 0,
        "start": times[0].isoformat() if times else None,
        "end": times[-1].isoformat() if times else None,
        "truncated": truncated,
    }
    geometry: dict[str, Any] | None = None
    if len(coords) == 1:
        geometry = {"type": "Point", "coordinates": list(coords[0])}
        properties["points"] = 1
    elif coords:
        lonlat = np.asarray([(c[0], c[1]) for c in coords], dtype=np.float64)
        frame = LocalFrame.for_lonlat(float(lonlat[0, 0]), float(lonlat[0, 1]))
        local = shapely.get_coordinates(frame.to_local(LineString(lonlat)))
        kept = _kept_indices(local, max_points)
        geometry = {"type": "LineString", "coordinates": [list(coords[i]) for i in kept]}
        properties["points"] = len(kept)
    return {"type": "Feature", "geometry": geometry, "properties": properties}
