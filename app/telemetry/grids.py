"""Grid attribution of a whole batch at once: one STRtree query, no Python loop over polygons.

A point belongs to the grid whose polygon covers it (boundary included). Grids of a district do
not overlap, but a point exactly on a shared border touches two: it goes to the grid with the
smallest code, so attribution is deterministic and documented. Points in no grid get None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape


class GridIndex:
    """Prepared grid polygons in code order and their STRtree."""

    def __init__(self, grids: Sequence[tuple[str, dict[str, Any]]]) -> None:
        ordered = sorted(grids, key=lambda g: g[0])
        self.codes: list[str] = [code for code, _ in ordered]
        polygons = [shape(boundary) for _, boundary in ordered]
        shapely.prepare(polygons)
        self._tree = shapely.STRtree(polygons) if polygons else None

    def __len__(self) -> int:
        return len(self.codes)

    def attribute(self, lon_deg: np.ndarray, lat_deg: np.ndarray) -> list[str | None]:
        """The grid code of each (lon, lat) point, or None outside every grid."""
        count = len(lon_deg)
        if self._tree is None or count == 0:
            return [None] * count
        points = shapely.points(lon_deg, lat_deg)
        point_idx, grid_idx = self._tree.query(points, predicate="intersects")
        best = np.full(count, len(self.codes), dtype=np.int64)
        np.minimum.at(best, point_idx, grid_idx)
        table: list[str | None] = [*self.codes, None]
        return [table[i] for i in best.tolist()]
