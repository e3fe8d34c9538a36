"""Grid attribution per batch agrees with shapely point-by-point, borders and no-grid points included."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Point, box, mapping

from app.telemetry.grids import GridIndex


def expected(grids: dict[str, object], lon: float, lat: float) -> str | None:
    covering = sorted(code for code, poly in grids.items() if poly.covers(Point(lon, lat)))  # type: ignore[attr-defined]
    return covering[0] if covering else None


def test_batch_attribution_matches_shapely_for_every_point() -> None:
    grids = {
        "B": box(120.001, 30.0, 120.002, 30.001),
        "A": box(120.0, 30.0, 120.001, 30.001),
        "C": box(120.0, 30.001, 120.002, 30.002),
    }
    index = GridIndex([(code, mapping(poly)) for code, poly in grids.items()])
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(119.999, 120.003, 2000), [120.001, 120.001, 120.0015, 120.0025]])
    lat = np.concatenate([rng.uniform(29.999, 30.003, 2000), [30.0005, 30.001, 30.001, 30.0005]])
    got = index.attribute(lon, lat)
    want = [expected(grids, float(x), float(y)) for x, y in zip(lon, lat, strict=True)]
    assert got == want
    assert got[-4:] == ["A", "A", "B", None]  # shared borders go to the smallest code
    assert {None, "A", "B", "C"} <= set(got)


def test_no_grids_attributes_nothing() -> None:
    assert GridIndex([]).attribute(np.array([120.0]), np.array([30.0])) == [None]
