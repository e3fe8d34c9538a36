"""Perimeter patrol ring: inward offset, largest part, start vertex, direction."""

from __future__ import annotations

import pytest
from shapely.geometry import LinearRing, Polygon, box

from missions.perimeter import perimeter_ring


def test_square_offset_inward_starts_near_home_counter_clockwise() -> None:
    ring = perimeter_ring(box(0.0, 0.0, 100.0, 100.0), 10.0, start_near=(95.0, 95.0))
    assert ring[0] == ring[-1]
    assert ring[0] == pytest.approx((90.0, 90.0))
    assert sorted((round(x, 6), round(y, 6)) for x, y in ring[:-1]) == [
        (10, 10),
        (10, 90),
        (90, 10),
        (90, 90),
    ]
    assert LinearRing(ring).is_ccw


def test_clockwise_is_the_same_ring_reversed() -> None:
    area = box(0.0, 0.0, 200.0, 100.0)
    ccw = perimeter_ring(area, 5.0, start_near=(0.0, 0.0), direction="ccw")
    cw = perimeter_ring(area, 5.0, start_near=(0.0, 0.0), direction="cw")
    assert not LinearRing(cw).is_ccw
    assert ccw[0] == cw[0]
    assert [c for p in reversed(cw) for c in p] == pytest.approx([c for p in ccw for c in p])


def test_split_offset_follows_the_largest_part() -> None:
    # two rooms joined by a 10 m corridor: a 10 m margin cuts the corridor
    dumbbell = box(0, 0, 100, 100).union(box(100, 45, 150, 55)).union(box(150, 0, 400, 100))
    ring = perimeter_ring(dumbbell, 10.0)
    xs = [x for x, _ in ring]
    assert min(xs) >= 160.0 - 1e-6


def test_margin_too_large_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing"):
        perimeter_ring(box(0, 0, 30, 30), 20.0)


def test_concave_corners_stay_single_vertices() -> None:
    l_shape = Polygon([(0, 0), (300, 0), (300, 100), (100, 100), (100, 300), (0, 300)])
    ring = perimeter_ring(l_shape, 10.0)
    assert len(ring) == 7
