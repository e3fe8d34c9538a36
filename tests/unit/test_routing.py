"""Shortest paths round obstacles: optimal where it can be worked out, always passing check_route."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.affinity import rotate, translate
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences, check_route
from geofences.frame import LocalFrame
from geofences.model import FenceSet, Zone, ZoneKind
from geofences.routing import Router, conservative_buffer, shortest_path

FRAME = LocalFrame.for_lonlat(116.40, 39.90)
OX, OY = FRAME.xy(116.40, 39.90)


def length(path: tuple[tuple[float, float], ...]) -> float:
    return float(LineString(path).length)


def fences_for(obstacles: list[Polygon], boundary: Polygon | None) -> PreparedFences:
    """The obstacles (and boundary) as real zones, given in metres relative to the origin."""
    zones = [
        Zone(f"x{k}", f"x{k}", ZoneKind.EXCLUSION, polygon=FRAME.to_wgs84(translate(o, OX, OY)))
        for k, o in enumerate(obstacles)
    ]
    if boundary is not None:
        zones.append(Zone("b", "b", ZoneKind.INCLUSION, polygon=FRAME.to_wgs84(translate(boundary, OX, OY))))
    return PreparedFences(FenceSet(tuple(zones)), FRAME)


def assert_flyable(path: tuple[tuple[float, float], ...], fences: PreparedFences, clearance_m: float) -> None:
    assert check_route([(x, y, 50.0) for x, y in path], fences, clearance_m=clearance_m) == ()


BLOCK = box(150, 150, 250, 250)


def test_clear_line_is_returned_as_is() -> None:
    assert shortest_path((0.0, 0.0), (100.0, 0.0), obstacles=[BLOCK]) == ((0.0, 0.0), (100.0, 0.0))
    assert shortest_path((5.0, 5.0), (5.0, 5.0), obstacles=[BLOCK]) == ((5.0, 5.0), (5.0, 5.0))


def test_path_round_a_box_is_the_shortest_over_its_corners() -> None:
    path = shortest_path((50.0, 200.0), (350.0, 200.0), obstacles=[BLOCK])
    assert path is not None
    assert path[0] == (50.0, 200.0) and path[-1] == (350.0, 200.0)
    assert length(path) == pytest.approx(2 * math.hypot(100, 50) + 100, abs=0.01)
    assert len(path) == 4
    with_clearance = shortest_path((50.0, 200.0), (350.0, 200.0), obstacles=[BLOCK], clearance_m=10.0)
    assert with_clearance is not None
    assert length(with_clearance) == pytest.approx(2 * math.hypot(90, 60) + 120, abs=0.02)
    assert LineString(with_clearance).distance(BLOCK) >= 10.0


def test_escapes_the_pocket_of_a_non_convex_obstacle() -> None:
    cup = Polygon(
        [(100, 100), (300, 100), (300, 300), (260, 300), (260, 140), (140, 140), (140, 300), (100, 300)]
    )
    path = shortest_path((200.0, 200.0), (200.0, 50.0), obstacles=[cup], clearance_m=5.0)
    assert path is not None
    assert max(y for _, y in path) >= 305.0  # up and out of the cup's mouth
    assert_flyable_local(path, [cup], None, 5.0)


def assert_flyable_local(
    path: tuple[tuple[float, float], ...],
    obstacles: list[Polygon],
    boundary: Polygon | None,
    clearance_m: float,
) -> None:
    line = LineString(path) if len(set(path)) > 1 else Point(path[0])
    for o in obstacles:
        assert line.distance(o) >= clearance_m - 1e-6
    if boundary is not None:
        assert boundary.buffer(1e-6).covers(line)


def test_stays_inside_an_l_shaped_boundary() -> None:
    corridor = shapely.union_all([box(0, 0, 100, 20), box(80, 0, 100, 100)])
    path = shortest_path((10.0, 10.0), (90.0, 90.0), obstacles=[], boundary=corridor)
    assert path is not None
    assert length(path) == pytest.approx(2 * math.hypot(70, 10), abs=0.01)
    assert_flyable_local(path, [], corridor, 0.0)


def test_goes_round_the_hole_of_a_boundary() -> None:
    grid = Polygon(box(0, 0, 300, 300).exterior, [box(100, 100, 200, 200).exterior])
    path = shortest_path((50.0, 150.0), (250.0, 150.0), obstacles=[], boundary=grid)
    assert path is not None
    assert length(path) == pytest.approx(2 * math.hypot(50, 50) + 100, abs=0.01)
    assert_flyable_local(path, [], grid, 0.0)


def test_obstacle_with_a_hole_traps_what_is_inside() -> None:
    ring = Polygon(box(100, 100, 300, 300).exterior, [box(150, 150, 250, 250).exterior])
    assert shortest_path((200.0, 200.0), (20.0, 20.0), obstacles=[ring]) is None
    assert shortest_path((160.0, 160.0), (240.0, 240.0), obstacles=[ring]) == ((160.0, 160.0), (240.0, 240.0))


def test_no_path_through_a_wall_across_the_boundary() -> None:
    boundary = box(0, 0, 400, 100)
    wall = box(190, -10, 210, 110)
    assert shortest_path((50.0, 50.0), (350.0, 50.0), obstacles=[wall], boundary=boundary) is None
    gap_wall = box(190, 10, 210, 110)  # leaves a 10 m gap at the bottom
    assert shortest_path((50.0, 50.0), (350.0, 50.0), obstacles=[gap_wall], boundary=boundary) is not None
    # The clearance is kept from obstacles, not from the boundary: 6 m fits under the wall, 11 m not.
    low = shortest_path((50.0, 50.0), (350.0, 50.0), obstacles=[gap_wall], boundary=boundary, clearance_m=6.0)
    assert low is not None and min(y for _, y in low) < 4.0
    assert (
        shortest_path((50.0, 50.0), (350.0, 50.0), obstacles=[gap_wall], boundary=boundary, clearance_m=11.0)
        is None
    )


def test_end_points_inside_an_obstacle_or_outside_the_boundary_have_no_path() -> None:
    assert shortest_path((200.0, 200.0), (0.0, 0.0), obstacles=[BLOCK]) is None
    assert shortest_path((0.0, 0.0), (200.0, 147.0), obstacles=[BLOCK], clearance_m=5.0) is None
    assert shortest_path((0.0, 0.0), (500.0, 0.0), obstacles=[], boundary=box(-10, -10, 400, 10)) is None


def test_end_points_exactly_on_the_clearance_line_and_the_boundary_work() -> None:
    grown = conservative_buffer(BLOCK, 5.0)
    boundary = box(0, 0, 400, 400)
    a = (145.0, 200.0)  # exactly 5 m west of the block, on the grown outline
    b = (400.0, 200.0)  # on the boundary's east edge
    for start, goal in ((a, b), (b, a), (a, (255.0, 180.0))):
        path = shortest_path(start, goal, obstacles=[BLOCK], boundary=boundary, clearance_m=5.0)
        assert path is not None, (start, goal)
        assert_flyable_local(path, [BLOCK], boundary, 5.0)
    corner = tuple(grown.exterior.coords[0])
    path = shortest_path((float(corner[0]), float(corner[1])), (0.0, 0.0), obstacles=[BLOCK], clearance_m=5.0)
    assert path is not None


def test_router_is_deterministic_and_matches_the_one_off_function() -> None:
    obstacles = [BLOCK, box(300, 100, 320, 400), Point(80, 300).buffer(30)]
    router = Router(obstacles, box(-100, -100, 500, 500), clearance_m=3.0)
    queries = [((0.0, 0.0), (450.0, 450.0)), ((200.0, 0.0), (200.0, 450.0)), ((450.0, 200.0), (0.0, 300.0))]
    first = [router.path(a, b) for a, b in queries]
    again = Router(obstacles, box(-100, -100, 500, 500), clearance_m=3.0)
    assert [again.path(a, b) for a, b in queries] == first
    one_off = [
        shortest_path(a, b, obstacles=obstacles, boundary=box(-100, -100, 500, 500), clearance_m=3.0)
        for a, b in queries
    ]
    assert one_off == first
    assert all(p is not None for p in first)


def test_reverse_query_has_the_same_length() -> None:
    obstacles = [BLOCK, rotate(box(300, 100, 320, 400), 30), Point(80, 300).buffer(30)]
    router = Router(obstacles, clearance_m=2.0)
    forward = router.path((0.0, 0.0), (450.0, 420.0))
    backward = router.path((450.0, 420.0), (0.0, 0.0))
    assert forward is not None and backward is not None
    assert length(forward) == pytest.approx(length(backward), abs=1e-6)


def test_conservative_buffer_contains_the_true_buffer_and_simplifies() -> None:
    disc = Point(0, 0).buffer(50, quad_segs=32)  # 128 vertices
    grown = conservative_buffer(disc, 5.0, simplify_m=0.5)
    outline = shapely.points(shapely.get_coordinates(shapely.segmentize(grown.exterior, 0.1)))
    assert float(shapely.distance(disc, outline).min()) >= 5.0 - 1e-9
    assert shapely.get_num_coordinates(grown) < shapely.get_num_coordinates(disc) / 2
    assert conservative_buffer(BLOCK, 5.0).equals(box(145, 145, 255, 255))


# ----------------------------------------------------------------------------------------------
# Properties


@st.composite
def obstacle(draw: st.DrawFn) -> Polygon:
    x = draw(st.floats(0, 350))
    y = draw(st.floats(0, 350))
    w = draw(st.floats(5, 80))
    h = draw(st.floats(5, 80))
    shape = draw(st.sampled_from(["box", "triangle", "ell", "ring", "disc"]))
    base: BaseGeometry
    if shape == "box":
        base = box(x, y, x + w, y + h)
    elif shape == "triangle":
        base = Polygon([(x, y), (x + w, y), (x + w / 3, y + h)])
    elif shape == "ell":
        base = Polygon([(x, y), (x + w, y), (x + w, y + 4), (x + 4, y + 4), (x + 4, y + h), (x, y + h)])
    elif shape == "ring":
        base = box(x, y, x + w, y + h).difference(box(x + 2, y + 2, x + w - 2, y + h - 2))
    else:
        base = Point(x, y).buffer(w / 3, quad_segs=8)
    angle = draw(st.floats(0, 90))
    return rotate(base, angle, origin="centroid")


endpoint = st.tuples(st.floats(-40, 440), st.floats(-40, 440))


@settings(max_examples=60, deadline=None)
@given(
    obstacles=st.lists(obstacle(), min_size=1, max_size=6),
    a=endpoint,
    b=endpoint,
    clearance=st.sampled_from([0.0, 2.5]),
    bounded=st.booleans(),
)
def test_property_every_returned_path_passes_check_route(
    obstacles: list[Polygon],
    a: tuple[float, float],
    b: tuple[float, float],
    clearance: float,
    bounded: bool,
) -> None:
    boundary = (
        Polygon(box(-50, -50, 450, 450).exterior, [box(180, -20, 220, 20).exterior]) if bounded else None
    )
    fences = fences_for(obstacles, boundary)
    local = [lz.shape for lz in fences.exclusions]
    pa, pb = (a[0] + OX, a[1] + OY), (b[0] + OX, b[1] + OY)
    ends_ok = all(check_route([(*p, 50.0)], fences, clearance_m=clearance) == () for p in (pa, pb))
    path = Router(local, fences.inclusion, clearance_m=clearance).path(pa, pb)
    if not ends_ok:
        assert path is None
        return
    if check_route([(*pa, 50.0), (*pb, 50.0)], fences, clearance_m=clearance) == ():
        assert path is not None
        assert length(path) <= math.dist(pa, pb) + 1e-6
    if path is not None:
        assert path[0] == pa and path[-1] == pb
        assert_flyable(path, fences, clearance)


@settings(max_examples=40, deadline=None)
@given(
    ob=obstacle(),
    frac_a=st.floats(0, 1),
    b=endpoint,
    clearance=st.sampled_from([0.0, 4.0]),
)
def test_property_start_on_the_grown_outline_still_routes(
    ob: Polygon, frac_a: float, b: tuple[float, float], clearance: float
) -> None:
    """A sweep end clipped exactly at the clearance line routes away round the obstacle."""
    assume(ob.is_valid)
    fences = fences_for([ob], None)
    local = fences.exclusions[0].shape
    outline = conservative_buffer(local, clearance)
    start_pt = outline.exterior.interpolate(frac_a, normalized=True)
    pa = (float(start_pt.x), float(start_pt.y))
    pb = (b[0] + OX, b[1] + OY)
    assume(check_route([(*pa, 50.0)], fences, clearance_m=clearance) == ())
    assume(check_route([(*pb, 50.0)], fences, clearance_m=clearance) == ())
    assume(not Polygon(outline.exterior).contains(Point(pb)) or local.interiors)
    path = shortest_path(pa, pb, obstacles=[local], clearance_m=clearance)
    if not local.interiors or not Polygon(local.exterior).contains(Point(pb)):
        assert path is not None
    if path is not None:
        assert_flyable(path, fences, clearance)


@st.composite
def star(draw: st.DrawFn) -> Polygon:
    """A random star-shaped (so simple, usually non-convex) polygon round the origin."""
    radii = draw(st.lists(st.floats(5.0, 60.0), min_size=3, max_size=40))
    angles = np.linspace(0.0, 2 * math.pi, len(radii), endpoint=False)
    return Polygon(np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))


@settings(max_examples=40, deadline=None)
@given(poly=star(), distance=st.floats(0.0, 20.0), simplify=st.sampled_from([0.0, 0.3, 2.0]))
def test_property_conservative_buffer_never_cuts_into_the_true_buffer(
    poly: Polygon, distance: float, simplify: float
) -> None:
    grown = conservative_buffer(poly, distance, simplify_m=simplify)
    assert grown.covers(poly)
    outline = shapely.points(shapely.get_coordinates(shapely.segmentize(grown.boundary, 0.5)))
    assert float(np.min(shapely.distance(poly, outline))) >= distance - 1e-9
