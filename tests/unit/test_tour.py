"""Visiting orders: permutations, near-optimal on small sets, exact on easy ones, deterministic."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from missions.tour import order_points, tour_length_m

XY = tuple[float, float]


def _brute_force(points: list[XY], start: XY | None, end: XY | None) -> float:
    return min(
        tour_length_m(points, perm, start=start, end=end)
        for perm in itertools.permutations(range(len(points)))
    )


def test_empty_and_single() -> None:
    assert order_points([]) == ()
    assert order_points([(1.0, 2.0)], start=(0.0, 0.0), end=(0.0, 0.0)) == (0,)


def test_points_on_a_circle_are_visited_around_it() -> None:
    n = 24
    pts = [(math.cos(2 * math.pi * k / n) * 100.0, math.sin(2 * math.pi * k / n) * 100.0) for k in (range(n))]
    shuffled = [pts[(k * 7) % n] for k in range(n)]
    order = order_points(shuffled)
    perimeter = n * 2 * 100.0 * math.sin(math.pi / n)
    # an open path around the circle: perimeter less one chord
    assert tour_length_m(shuffled, order) <= perimeter - 2 * 100.0 * math.sin(math.pi / n) + 1e-6


def test_start_fixed_end_free_goes_out_along_a_line() -> None:
    pts = [(30.0, 0.0), (10.0, 0.0), (40.0, 0.0), (20.0, 0.0)]
    assert order_points(pts, start=(0.0, 0.0)) == (1, 3, 0, 2)
    assert order_points(pts, end=(0.0, 0.0)) == (2, 0, 3, 1)


def test_same_input_gives_same_order() -> None:
    pts = [((k * 37) % 101 * 1.0, (k * 53) % 97 * 1.0) for k in range(60)]
    assert order_points(pts, start=(0.0, 0.0), end=(0.0, 0.0)) == order_points(
        list(pts), start=(0.0, 0.0), end=(0.0, 0.0)
    )


coord = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False)
point = st.tuples(coord, coord)


@settings(max_examples=30, deadline=None)
@given(st.lists(point, min_size=2, max_size=7), st.sampled_from(["closed", "open", "start", "both"]))
def test_order_is_a_permutation_within_ten_percent_of_optimal(pts: list[XY], mode: str) -> None:
    home: XY = (500.0, 500.0)
    start, end = {
        "closed": (home, home),
        "open": (None, None),
        "start": (home, None),
        "both": (home, (0.0, 0.0)),
    }[mode]
    order = order_points(pts, start=start, end=end)
    assert sorted(order) == list(range(len(pts)))
    best = _brute_force(pts, start, end)
    assert tour_length_m(pts, order, start=start, end=end) <= best * 1.1 + 1e-6
