"""Fence and rally items as ArduCopter 4.x takes them, and conservative vertex reduction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geofences.compile import compile_fence, compile_rally, fence_from_items
from geofences.model import Circle, FenceSet, Zone, ZoneKind
from missions.items import MavCmd, MavFrame, MissionItem, MissionType

LON, LAT = 116.40, 39.90
D = 0.001  # about 85 m east-west, 111 m north-south here


def square(x0: float, y0: float, size: float = D) -> Polygon:
    return box(LON + x0, LAT + y0, LON + x0 + size, LAT + y0 + size)


def inclusion(zone_id: str, poly: Polygon | MultiPolygon, max_alt_m: float | None = None) -> Zone:
    return Zone(zone_id, zone_id, ZoneKind.INCLUSION, polygon=poly, max_alt_m=max_alt_m)


def exclusion(zone_id: str, poly: Polygon | MultiPolygon, max_alt_m: float | None = None) -> Zone:
    return Zone(zone_id, zone_id, ZoneKind.EXCLUSION, polygon=poly, max_alt_m=max_alt_m)


def same(a: Polygon | None, b: Polygon) -> bool:
    """Equal up to float noise (decoded vertices are k / 1e7, test squares LON + D)."""
    return a is not None and a.symmetric_difference(b).area < 1e-16


def commands(items: tuple[MissionItem, ...]) -> list[int]:
    return [it.command for it in items]


def test_inclusion_polygon_becomes_vertex_items_without_the_closing_vertex() -> None:
    items = compile_fence(FenceSet((inclusion("grid", square(0, 0)),)))
    assert commands(items) == [MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION] * 4
    assert all(it.param1 == 4.0 and it.param2 == 0.0 for it in items)
    assert all(it.frame == MavFrame.GLOBAL and it.mission_type == MissionType.FENCE for it in items)
    assert all(it.z == 0.0 and it.autocontinue == 0 for it in items)  # as ArduPilot reads back
    corners = {(it.y, it.x) for it in items}  # y is longitude, x latitude, both 1e-7 degrees
    assert corners == {
        (1164000000, 399000000),
        (1164010000, 399000000),
        (1164010000, 399010000),
        (1164000000, 399010000),
    }
    ring = Polygon([(it.y, it.x) for it in items])
    assert ring.exterior.is_ccw


def test_return_point_comes_first() -> None:
    items = compile_fence(
        FenceSet((inclusion("grid", square(0, 0)),)), return_point=(LON + 0.0005, LAT + 0.0002)
    )
    first = items[0]
    assert first.command == MavCmd.NAV_FENCE_RETURN_POINT
    assert (first.x, first.y) == (399002000, 1164005000)
    assert commands(items[1:]) == [MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION] * 4


def test_circles_carry_their_radius() -> None:
    fences = FenceSet(
        (
            Zone("area", "area", ZoneKind.INCLUSION, circle=Circle(LON, LAT, 500.0)),
            Zone("mast", "mast", ZoneKind.EXCLUSION, circle=Circle(LON + 0.001, LAT, 25.5)),
        )
    )
    inc, exc = compile_fence(fences)
    assert (inc.command, inc.param1, inc.x, inc.y) == (
        MavCmd.NAV_FENCE_CIRCLE_INCLUSION,
        500.0,
        399000000,
        1164000000,
    )
    assert (exc.command, exc.param1) == (MavCmd.NAV_FENCE_CIRCLE_EXCLUSION, 25.5)


def test_zero_radius_circle_is_refused() -> None:
    fences = FenceSet((Zone("mast", "mast", ZoneKind.EXCLUSION, circle=Circle(LON, LAT, 0.0)),))
    with pytest.raises(ValueError, match="radius"):
        compile_fence(fences)


def test_inclusion_hole_becomes_an_exclusion_polygon() -> None:
    grid = Polygon(square(0, 0, 3 * D).exterior, [square(D, D).exterior])
    items = compile_fence(FenceSet((inclusion("grid", grid),)))
    shapes = fence_from_items(items)
    assert [s.inclusion for s in shapes] == [True, False]
    assert same(shapes[0].polygon, square(0, 0, 3 * D))
    assert same(shapes[1].polygon, square(D, D))


def test_exclusion_with_a_hole_is_cut_into_hole_free_pieces_covering_exactly_it() -> None:
    donut = Polygon(square(0, 0, 3 * D).exterior, [square(D, D).exterior])
    shapes = fence_from_items(compile_fence(FenceSet((exclusion("donut", donut),))))
    assert len(shapes) >= 2
    assert all(not s.inclusion and s.polygon is not None and not s.polygon.interiors for s in shapes)
    union = shapely.union_all([s.polygon for s in shapes])
    assert union.symmetric_difference(donut).area < 1e-16
    assert not union.contains(Point(LON + 1.5 * D, LAT + 1.5 * D))  # the hole stays flyable


def test_multipolygon_exclusion_gives_one_fence_per_part() -> None:
    parts = MultiPolygon([square(0, 0), square(2 * D, 0)])
    shapes = fence_from_items(compile_fence(FenceSet((exclusion("twins", parts),))))
    assert [same(s.polygon, p) for s, p in zip(shapes, parts.geoms, strict=True)] == [True, True]


def test_overlapping_inclusion_zones_are_unioned_into_one_fence() -> None:
    # ArduPilot keeps the vehicle inside *every* inclusion fence, AeroGrid inside *any* zone.
    fences = FenceSet((inclusion("a", square(0, 0, 2 * D)), inclusion("b", square(D, D, 2 * D))))
    (shape,) = fence_from_items(compile_fence(fences))
    assert shape.inclusion
    assert same(shape.polygon, shapely.union_all([square(0, 0, 2 * D), square(D, D, 2 * D)]))


def test_disjoint_inclusion_zones_need_the_inclusion_union_option() -> None:
    fences = FenceSet((inclusion("a", square(0, 0)), inclusion("b", square(3 * D, 0))))
    with pytest.raises(ValueError, match="FENCE_OPTIONS"):
        compile_fence(fences)
    shapes = fence_from_items(compile_fence(fences, inclusion_union=True))
    assert [s.inclusion for s in shapes] == [True, True]


def test_planning_only_zones_and_banded_exclusions_do_not_compile() -> None:
    fences = FenceSet(
        (
            Zone("q", "q", ZoneKind.QUIET, polygon=square(0, 0)),
            Zone("p", "p", ZoneKind.NO_PHOTO, polygon=square(0, 0)),
            Zone("s", "s", ZoneKind.NO_SPRAY, polygon=square(0, 0)),
            exclusion("bridge", square(2 * D, 0), max_alt_m=40.0),
            exclusion("school", square(4 * D, 0)),
        )
    )
    (school,) = fence_from_items(compile_fence(fences))
    assert same(school.polygon, square(4 * D, 0))


def test_self_intersecting_polygon_is_refused() -> None:
    bowtie = Polygon([(LON, LAT), (LON + D, LAT + D), (LON + D, LAT), (LON, LAT + D)])
    with pytest.raises(ValueError, match="bowtie"):
        compile_fence(FenceSet((exclusion("bowtie", bowtie),)))


def test_polygon_with_fewer_than_three_distinct_vertices_is_refused() -> None:
    sliver = Polygon([(LON, LAT), (LON + D, LAT + D), (LON + D, LAT + D), (LON, LAT)])
    with pytest.raises(ValueError, match="3 distinct"):
        compile_fence(FenceSet((inclusion("sliver", sliver),)))


def test_inclusion_too_small_for_wire_resolution_is_refused_but_exclusion_grows() -> None:
    tiny = Polygon([(LON, LAT), (LON + 3.3e-8, LAT), (LON, LAT + 3.3e-8)])  # ~3 mm, off the grid
    with pytest.raises(ValueError, match="erases"):
        compile_fence(FenceSet((inclusion("tiny", tiny),)))
    (grown,) = fence_from_items(compile_fence(FenceSet((exclusion("tiny", tiny),))))
    assert grown.polygon is not None and grown.polygon.covers(tiny)


def disc(lon: float, lat: float, radius_deg: float, n: int) -> Polygon:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return Polygon(np.column_stack([lon + radius_deg * np.cos(a), lat + radius_deg * np.sin(a)]))


def test_large_polygons_are_reduced_conservatively() -> None:
    big = disc(LON, LAT, 0.01, 400)
    (inc,) = fence_from_items(compile_fence(FenceSet((inclusion("area", big),)), max_vertices=40))
    assert inc.polygon is not None
    assert len(inc.polygon.exterior.coords) - 1 <= 40
    assert big.covers(inc.polygon)  # inclusion only shrinks
    assert inc.polygon.area > 0.98 * big.area  # ... and not by much
    (exc,) = fence_from_items(compile_fence(FenceSet((exclusion("school", big),)), max_vertices=40))
    assert exc.polygon is not None
    assert len(exc.polygon.exterior.coords) - 1 <= 40
    assert exc.polygon.covers(big)  # exclusion only grows
    assert exc.polygon.area < 1.02 * big.area


def test_polygons_on_the_wire_grid_within_the_limit_are_kept_exactly() -> None:
    poly = Polygon(np.round(np.array(disc(LON, LAT, 0.01, 100).exterior.coords) * 1e7) / 1e7)
    (shape,) = fence_from_items(compile_fence(FenceSet((exclusion("x", poly),))))
    assert shape.polygon is not None
    got = np.array(shape.polygon.exterior.coords)[:-1]
    assert np.abs(got - np.array(poly.exterior.coords)[:-1]).max() < 1e-12


def test_off_grid_vertices_are_rounded_conservatively() -> None:
    poly = disc(LON + 1.234e-8, LAT + 5.678e-8, 0.01, 100)
    (inc,) = fence_from_items(compile_fence(FenceSet((inclusion("a", poly),))))
    (exc,) = fence_from_items(compile_fence(FenceSet((exclusion("x", poly),))))
    assert inc.polygon is not None and poly.covers(inc.polygon)
    assert exc.polygon is not None and exc.polygon.covers(poly)
    assert inc.polygon.area > 0.999 * poly.area and exc.polygon.area < 1.001 * poly.area


def test_max_vertices_must_fit_arducopters_one_byte_count() -> None:
    with pytest.raises(ValueError):
        compile_fence(FenceSet(), max_vertices=256)
    with pytest.raises(ValueError):
        compile_fence(FenceSet(), max_vertices=2)
    assert compile_fence(FenceSet()) == ()


def test_fence_from_items_refuses_a_vertex_run_shorter_than_its_count() -> None:
    items = compile_fence(FenceSet((inclusion("grid", square(0, 0)),)))
    with pytest.raises(ValueError, match="malformed"):
        fence_from_items(items[:3])
    with pytest.raises(ValueError, match="not a fence command"):
        fence_from_items((MissionItem(command=MavCmd.NAV_WAYPOINT),))


def test_round_trip_of_a_mixed_fence() -> None:
    fences = FenceSet(
        (
            inclusion("grid", square(0, 0, 5 * D)),
            exclusion("school", square(D, D)),
            Zone("mast", "mast", ZoneKind.EXCLUSION, circle=Circle(LON + 3 * D, LAT + 3 * D, 30.0)),
        )
    )
    items = compile_fence(fences, return_point=(LON + 0.0001, LAT + 0.0001))
    shapes = fence_from_items(items)
    assert [(s.inclusion, s.circle is not None) for s in shapes] == [
        (True, False),
        (False, False),
        (False, True),
    ]
    assert shapes[2].circle == Circle(LON + 3 * D, LAT + 3 * D, 30.0)


def test_rally_points_are_relative_altitude_whole_metres() -> None:
    items = compile_rally([(LON, LAT, 30.6), (LON + D, LAT, 45.0)])
    assert [it.command for it in items] == [MavCmd.NAV_RALLY_POINT] * 2
    assert all(
        it.frame == MavFrame.GLOBAL_RELATIVE_ALT_INT and it.mission_type == MissionType.RALLY for it in items
    )
    assert [(it.x, it.y, it.z) for it in items] == [
        (399000000, 1164000000, 31.0),
        (399000000, 1164010000, 45.0),
    ]
    assert compile_rally([]) == ()


def test_rally_point_off_the_globe_or_too_high_is_refused() -> None:
    with pytest.raises(ValueError):
        compile_rally([(LAT, 116.4, 30.0)])  # lon/lat swapped: latitude 116
    with pytest.raises(ValueError):
        compile_rally([(LON, LAT, 40000.0)])
    with pytest.raises(ValueError):
        compile_rally([(LON, LAT, math.nan)])


@st.composite
def star(draw: st.DrawFn) -> Polygon:
    """A random star-shaped polygon (simple, usually non-convex) of up to 300 vertices."""
    n = draw(st.integers(3, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    radii = np.random.default_rng(seed).uniform(0.002, 0.01, n)
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return Polygon(np.column_stack([LON + radii * np.cos(a), LAT + radii * np.sin(a)]))


@settings(max_examples=25, deadline=None)
@given(
    poly=star(),
    max_vertices=st.integers(8, 60),
    kind=st.sampled_from([ZoneKind.INCLUSION, ZoneKind.EXCLUSION]),
)
def test_property_reduction_is_conservative_and_within_the_limit(
    poly: Polygon, max_vertices: int, kind: ZoneKind
) -> None:
    fences = FenceSet((Zone("z", "z", kind, polygon=poly),))
    try:
        shapes = fence_from_items(compile_fence(fences, max_vertices=max_vertices))
    except ValueError as err:  # a spiky inclusion may split when shrunk: refused, never wrong
        assert kind == ZoneKind.INCLUSION and "splits" in str(err)
        return
    (shape,) = shapes
    assert shape.polygon is not None and shape.polygon.is_valid
    assert len(shape.polygon.exterior.coords) - 1 <= max_vertices
    if kind == ZoneKind.INCLUSION:
        assert poly.covers(shape.polygon)
    else:
        assert shape.polygon.covers(poly)
