"""Broadcast hover points: audible radius, coverage, point count against the hexagonal bound."""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, box

from missions.broadcast import audible_radius_m, lower_bound_points, place_broadcast_points
from missions.profile import Speaker


def _star() -> Polygon:
    return Polygon(
        [
            (
                300.0 * (1.0 if k % 2 == 0 else 0.45) * math.cos(math.pi / 2 + k * math.pi / 5),
                300.0 * (1.0 if k % 2 == 0 else 0.45) * math.sin(math.pi / 2 + k * math.pi / 5),
            )
            for k in range(10)
        ]
    )


STANDARD_SHAPES: dict[str, Polygon | MultiPolygon] = {
    "rectangle_500x300": box(0.0, 0.0, 500.0, 300.0),
    "l_shape": Polygon([(0, 0), (600, 0), (600, 200), (200, 200), (200, 500), (0, 500)]),
    "star": _star(),
    "lake_grid": box(0.0, 0.0, 600.0, 400.0).difference(
        Polygon([(200, 120), (420, 100), (450, 260), (260, 300)])
    ),
    "thin_strip": affinity.rotate(box(0.0, 0.0, 1200.0, 60.0), 20.0),
}
RADIUS_M = 40.0


def test_audible_radius_from_spherical_spreading() -> None:
    # 100 dB at 1 m falls to 60 dB (50 ambient + 10 margin) at 100 m slant range
    speaker = Speaker(level_db_at_1m=100.0, ambient_db=50.0, min_margin_db=10.0)
    assert audible_radius_m(speaker, 60.0) == pytest.approx(80.0)
    assert audible_radius_m(speaker, 0.0) == pytest.approx(100.0)


def test_inaudible_from_the_hover_altitude_is_an_error() -> None:
    speaker = Speaker(level_db_at_1m=100.0, ambient_db=50.0, min_margin_db=10.0)
    with pytest.raises(ValueError, match="inaudible"):
        audible_radius_m(speaker, 100.0)


def test_measured_radius_overrides_the_model() -> None:
    assert audible_radius_m(Speaker(audible_radius_m=75.0), 500.0) == 75.0


def test_lower_bound_is_area_over_hexagon() -> None:
    assert lower_bound_points(2.598 * 100.0, 10.0) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("name", sorted(STANDARD_SHAPES))
def test_standard_shapes_are_covered_with_few_points(name: str) -> None:
    area = STANDARD_SHAPES[name]
    layout = place_broadcast_points(area, RADIUS_M, home_xy=(0.0, 0.0))
    assert layout.coverage_pct >= 99.0
    assert layout.points_ratio <= 1.3
    assert layout.uncovered_quiet_pct == pytest.approx(0.0, abs=1e-9)
    assert layout.points_ratio == pytest.approx(len(layout.points) / lower_bound_points(area.area, RADIUS_M))
    discs = shapely.union_all([Point(p).buffer(RADIUS_M) for p in layout.points])
    assert discs.intersection(area).area / area.area >= 0.99


def _lake_400() -> Polygon:
    """The public lake-hole grid of bench/plan_quality.py: 400 x 400 m, irregular hole ~150 m across."""
    hole = []
    for k in range(24):
        a = 2.0 * math.pi * k / 24
        r = 72.0 + 9.0 * math.sin(3.0 * a) + 6.0 * math.cos(5.0 * a + 0.7)
        hole.append((190.0 + r * math.cos(a), 215.0 + r * math.sin(a)))
    return Polygon(box(0.0, 0.0, 400.0, 400.0).exterior.coords, [hole])


@pytest.mark.parametrize(
    ("area", "most"),
    [
        (Polygon([(0, 0), (500, 0), (500, 250), (250, 250), (250, 500), (0, 500)]), 7),
        (_lake_400(), 5),
    ],
    ids=["l_500_bite_250", "lake_400"],
)
def test_local_search_drops_a_point_the_lattice_wastes_at_a_large_radius(area: Polygon, most: int) -> None:
    # Public shapes of the benchmark at r = 120 m: the lattice, removal and repair leave 8 and 6
    # points; layouts of 7 and 5 reach 99 %, and the last local search finds them.
    layout = place_broadcast_points(area, 120.0)
    assert len(layout.points) <= most
    assert layout.coverage_pct >= 99.0
    discs = shapely.union_all([Point(p).buffer(120.0) for p in layout.points])
    assert discs.intersection(area).area / area.area >= 0.99


def test_quiet_zone_keeps_every_disc_away_and_reports_the_loss() -> None:
    area = box(0.0, 0.0, 500.0, 300.0)
    quiet = Point(250.0, 150.0).buffer(30.0)
    layout = place_broadcast_points(area, 50.0, quiet=quiet)
    assert all(Point(p).distance(quiet) > 50.0 for p in layout.points)
    assert layout.uncovered_quiet_pct > 1.0
    assert layout.coverage_pct / layout.coverable_pct >= 0.99


def test_points_stay_where_allowed() -> None:
    area = box(0.0, 0.0, 500.0, 300.0)
    school = box(150.0, 100.0, 300.0, 200.0)
    allowed = box(-200.0, -200.0, 700.0, 500.0).difference(school)
    layout = place_broadcast_points(area, 50.0, allowed=allowed)
    assert not any(school.contains(Point(p)) for p in layout.points)
    assert layout.coverage_pct >= 99.0


def test_same_input_gives_same_points() -> None:
    area = STANDARD_SHAPES["l_shape"]
    assert place_broadcast_points(area, 45.0, home_xy=(0.0, 0.0)).points == (
        place_broadcast_points(area, 45.0, home_xy=(0.0, 0.0)).points
    )


def test_bad_radius_is_refused() -> None:
    with pytest.raises(ValueError, match="radius_m"):
        place_broadcast_points(box(0, 0, 10, 10), 0.0)


@pytest.mark.parametrize(
    ("width_m", "height_m", "angle_deg", "radius_m"),
    [
        (500.0, 250.0, 45.0, 30.0),
        (500.0, 500.0, 0.0, 45.0),
        (500.0, 499.0, 1.0, 30.0),
        (500.0, 499.0, 45.0, 30.0),
        (699.0, 499.0, 1.0, 45.0),
    ],
)
def test_slivers_finer_than_the_raster_are_repaired_until_the_geometry_meets_the_target(
    width_m: float, height_m: float, angle_deg: float, radius_m: float
) -> None:
    # Rectangles whose layout covered every raster sample but 98.73 to 98.99 % of the area: the
    # slivers between discs and along the edges were finer than the raster's step.
    area = affinity.rotate(box(0.0, 0.0, width_m, height_m), angle_deg)
    layout = place_broadcast_points(area, radius_m)
    discs = shapely.union_all([Point(p).buffer(radius_m, quad_segs=16) for p in layout.points])
    assert discs.intersection(area).area / area.area >= 0.99
    assert layout.coverage_pct >= 99.0
    assert layout.points_ratio <= 1.3


def test_shortfall_the_allowed_positions_cannot_close_is_reported_not_hidden() -> None:
    # Hover points only far west of the area: the east of it is out of earshot of every permitted
    # position, so it is excluded from the target and reported as lost rather than claimed.
    area = box(0.0, 0.0, 400.0, 100.0)
    allowed = box(-500.0, -100.0, 50.0, 200.0)
    layout = place_broadcast_points(area, 60.0, allowed=allowed)
    assert all(allowed.contains(Point(p)) for p in layout.points)
    assert layout.coverable_pct < 40.0
    assert layout.coverage_pct <= layout.coverable_pct + 1e-9
    assert layout.coverage_pct / layout.coverable_pct >= 0.99


@settings(max_examples=12, deadline=None)
@given(
    width_m=st.floats(min_value=80.0, max_value=700.0),
    height_m=st.floats(min_value=80.0, max_value=500.0),
    angle_deg=st.floats(min_value=0.0, max_value=180.0),
    radius_m=st.floats(min_value=30.0, max_value=120.0),
)
def test_any_rectangle_is_covered(width_m: float, height_m: float, angle_deg: float, radius_m: float) -> None:
    area = affinity.rotate(box(0.0, 0.0, width_m, height_m), angle_deg)
    layout = place_broadcast_points(area, radius_m)
    assert layout.coverage_pct >= 99.0
