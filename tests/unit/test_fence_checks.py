"""Fence checks on whole legs: exclusions between clear end points, bands, inclusion union, ceiling."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.affinity import translate
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geofences.checks import PreparedFences, check_route, zones_touching
from geofences.frame import LocalFrame
from geofences.model import Circle, FenceSet, Zone, ZoneKind

FRAME = LocalFrame.for_lonlat(116.40, 39.90)
OX, OY = FRAME.xy(116.40, 39.90)


def zone(
    zone_id: str,
    kind: ZoneKind,
    local: BaseGeometry,
    min_alt_m: float | None = None,
    max_alt_m: float | None = None,
) -> Zone:
    """A zone given in metres relative to the test origin (stored in WGS-84 like real zones)."""
    polygon = FRAME.to_wgs84(translate(local, OX, OY))
    return Zone(zone_id, zone_id, kind, polygon=polygon, min_alt_m=min_alt_m, max_alt_m=max_alt_m)


def circle_zone(zone_id: str, kind: ZoneKind, x_m: float, y_m: float, radius_m: float) -> Zone:
    lon, lat = FRAME.lonlat(OX + x_m, OY + y_m)
    return Zone(zone_id, zone_id, kind, circle=Circle(lon, lat, radius_m))


def prepared(*zones: Zone, ceiling_m: float = 120.0) -> PreparedFences:
    return PreparedFences(FenceSet(tuple(zones), ceiling_m=ceiling_m), FRAME)


def route(*pts: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    return [(OX + x, OY + y, z) for x, y, z in pts]


GRID = zone("grid", ZoneKind.INCLUSION, box(0, 0, 1000, 1000))
SCHOOL = zone("school", ZoneKind.EXCLUSION, box(400, 400, 600, 600))


def test_leg_crossing_exclusion_is_caught_although_both_ends_are_clear() -> None:
    fences = prepared(GRID, SCHOOL)
    (v,) = check_route(route((100, 500, 50), (900, 500, 50)), fences)
    assert (v.leg, v.zone_id, v.kind) == (0, "school", "inside_exclusion")
    assert v.distance_m == pytest.approx(100.0, abs=0.05)  # half the school's width
    assert check_route(route((100, 500, 50), (100, 900, 50), (900, 900, 50)), fences) == ()


def test_clearance_catches_a_near_miss_by_the_missing_distance() -> None:
    fences = prepared(GRID, SCHOOL)
    near = route((100, 397, 50), (900, 397, 50))  # 3 m south of the school
    assert check_route(near, fences) == ()
    (v,) = check_route(near, fences, clearance_m=5.0)
    assert v.kind == "inside_exclusion"
    assert v.distance_m == pytest.approx(2.0, abs=1e-6)
    (deep,) = check_route(route((100, 500, 50), (900, 500, 50)), fences, clearance_m=5.0)
    assert deep.distance_m == pytest.approx(105.0, abs=0.05)


def test_leg_along_an_exclusion_edge_is_not_a_violation() -> None:
    fences = prepared(GRID, SCHOOL)
    assert check_route(route((300, 400, 50), (700, 400, 50)), fences) == ()
    assert check_route(route((400, 300, 50), (400, 400, 50)), fences) == ()


def test_banded_exclusion_forbids_only_the_part_of_the_leg_inside_the_band() -> None:
    bridge = zone("bridge", ZoneKind.EXCLUSION, box(400, 0, 600, 1000), min_alt_m=0.0, max_alt_m=40.0)
    fences = prepared(GRID, bridge)
    assert check_route(route((100, 500, 60), (900, 500, 60)), fences) == ()  # over the top
    (low,) = check_route(route((100, 500, 30), (900, 500, 30)), fences)
    assert (low.zone_id, low.kind) == ("bridge", "inside_exclusion")
    # Descends 100 -> 20 m over 800 m: below 40 m from x = 700 on, which is past the bridge.
    assert check_route(route((100, 500, 100), (900, 500, 20)), fences) == ()
    # Descends 100 -> 0 m over 500 m: below 40 m from x = 400 on, so inside the band over all of it.
    (descent,) = check_route(route((100, 500, 100), (600, 500, 0)), fences)
    assert descent.distance_m == pytest.approx(100.0, abs=0.05)


def test_exclusion_with_only_a_lower_limit_forbids_flying_above_it() -> None:
    airspace = zone("airspace", ZoneKind.EXCLUSION, box(400, 400, 600, 600), min_alt_m=80.0)
    fences = prepared(GRID, airspace)
    assert check_route(route((100, 500, 60), (900, 500, 60)), fences) == ()
    (v,) = check_route(route((100, 500, 90), (900, 500, 90)), fences)
    assert v.zone_id == "airspace"


def test_leg_leaving_a_concave_inclusion_between_inside_ends_is_caught() -> None:
    u_shape = zone(
        "u",
        ZoneKind.INCLUSION,
        Polygon([(0, 0), (300, 0), (300, 300), (200, 300), (200, 100), (100, 100), (100, 300), (0, 300)]),
    )
    fences = prepared(u_shape)
    (v,) = check_route(route((50, 250, 50), (250, 250, 50)), fences)
    assert (v.zone_id, v.kind) == ("u", "outside_inclusion")
    assert v.distance_m == pytest.approx(50.0, abs=0.05)  # the notch is 100 m wide
    assert check_route(route((50, 250, 50), (50, 50, 50), (250, 50, 50), (250, 250, 50)), fences) == ()


def test_inclusion_is_the_union_of_inclusion_zones() -> None:
    west = zone("west", ZoneKind.INCLUSION, box(0, 0, 500, 500))
    east = zone("east", ZoneKind.INCLUSION, box(400, 0, 900, 500))
    far = zone("far", ZoneKind.INCLUSION, box(1000, 0, 1500, 500))
    fences = prepared(west, east, far)
    assert check_route(route((100, 250, 50), (800, 250, 50)), fences) == ()
    (gap,) = check_route(route((800, 250, 50), (1100, 250, 50)), fences)
    assert gap.kind == "outside_inclusion"
    assert gap.distance_m == pytest.approx(50.0, abs=0.05)
    assert isinstance(fences.inclusion, MultiPolygon)
    assert fences.inclusion.area == pytest.approx(900 * 500 + 500 * 500, rel=1e-6)


def test_altitude_must_be_in_the_band_of_an_inclusion_zone_containing_the_point() -> None:
    low = zone("low", ZoneKind.INCLUSION, box(0, 0, 600, 500), min_alt_m=20.0, max_alt_m=60.0)
    high = zone("high", ZoneKind.INCLUSION, box(400, 0, 1000, 500), min_alt_m=50.0, max_alt_m=100.0)
    fences = prepared(low, high)
    assert check_route(route((100, 250, 40), (500, 250, 40), (500, 250, 90), (900, 250, 90)), fences) == ()
    (v,) = check_route(route((100, 250, 40), (900, 250, 40)), fences)
    assert (v.kind, v.zone_id) == ("below_min_alt", "high")  # past x = 600 only "high" holds
    assert v.distance_m == pytest.approx(10.0)
    (w,) = check_route(route((100, 250, 80), (300, 250, 80)), fences)
    assert (w.kind, w.zone_id) == ("above_max_alt", "low")
    assert w.distance_m == pytest.approx(20.0)
    (b,) = check_route(route((100, 250, 40), (100, 250, 5)), fences)  # vertical descent
    assert b.kind == "below_min_alt"
    assert b.distance_m == pytest.approx(15.0)


def test_inclusion_without_band_allows_any_altitude_where_it_overlaps_a_banded_one() -> None:
    banded = zone("banded", ZoneKind.INCLUSION, box(0, 0, 600, 500), max_alt_m=60.0)
    free = zone("free", ZoneKind.INCLUSION, box(300, 0, 1000, 500))
    fences = prepared(banded, free)
    assert check_route(route((400, 250, 100), (900, 250, 100)), fences) == ()
    (v,) = check_route(route((100, 250, 100), (900, 250, 100)), fences)
    assert (v.kind, v.zone_id) == ("above_max_alt", "banded")
    assert v.distance_m == pytest.approx(40.0)


def test_band_gap_peaks_between_two_bands_inside_a_leg() -> None:
    # In the overlap the bands are [0, 10] and [50, 60]; climbing 10 -> 50 m passes 30 m, 20 m
    # from both: the worst point is in the middle of the leg, not at an end.
    a = zone("a", ZoneKind.INCLUSION, box(0, 0, 500, 500), min_alt_m=0.0, max_alt_m=10.0)
    b = zone("b", ZoneKind.INCLUSION, box(0, 0, 500, 500), min_alt_m=50.0, max_alt_m=60.0)
    (v,) = check_route(route((100, 100, 10), (200, 100, 50)), prepared(a, b))
    assert v.distance_m == pytest.approx(20.0)


def test_ceiling_applies_to_the_whole_leg() -> None:
    fences = prepared(GRID, ceiling_m=120.0)
    (v,) = check_route(route((100, 100, 50), (200, 100, 150)), fences)
    assert (v.kind, v.zone_id) == ("above_ceiling", "")
    assert v.distance_m == pytest.approx(30.0)
    assert check_route(route((100, 100, 120), (200, 100, 120)), fences) == ()


def test_single_point_route_checks_the_point() -> None:
    fences = prepared(GRID, SCHOOL)
    (v,) = check_route(route((500, 500, 50)), fences)
    assert (v.leg, v.kind) == (0, "inside_exclusion")
    assert check_route(route((100, 100, 50)), fences) == ()
    assert check_route([], fences) == ()


def test_no_inclusion_zone_means_no_inclusion_limit() -> None:
    fences = prepared(SCHOOL)
    assert fences.inclusion is None
    assert check_route(route((-5000, -5000, 50), (-4000, -5000, 50)), fences) == ()


def test_inclusion_circle_errs_inside_and_exclusion_circle_errs_outside() -> None:
    r = 100.0
    mid_edge = math.pi / 64  # half-way between two polygon vertices
    inc = prepared(circle_zone("c", ZoneKind.INCLUSION, 0, 0, r))
    just_inside = (0.9995 * r * math.cos(mid_edge), 0.9995 * r * math.sin(mid_edge), 50.0)
    assert [v.kind for v in check_route(route(just_inside), inc)] == ["outside_inclusion"]
    assert check_route(route((0.99 * r, 0.0, 50.0)), inc) == ()
    exc = prepared(circle_zone("x", ZoneKind.EXCLUSION, 0, 0, r))
    just_outside = (1.0005 * r, 0.0, 50.0)  # on a vertex ray of the circumscribed polygon
    assert [v.kind for v in check_route(route(just_outside), exc)] == ["inside_exclusion"]


def test_violations_are_ordered_by_leg_then_kind_then_zone() -> None:
    a = zone("a", ZoneKind.EXCLUSION, box(400, 400, 450, 600))
    b = zone("b", ZoneKind.EXCLUSION, box(300, 400, 350, 600))
    fences = prepared(GRID, b, a, ceiling_m=100.0)
    found = check_route(route((100, 500, 150), (900, 500, 150), (1100, 500, 50)), fences)
    assert [(v.leg, v.kind, v.zone_id) for v in found] == [
        (0, "above_ceiling", ""),
        (0, "inside_exclusion", "a"),
        (0, "inside_exclusion", "b"),
        (1, "above_ceiling", ""),
        (1, "outside_inclusion", "grid"),
    ]
    assert check_route(route((100, 500, 150), (900, 500, 150), (1100, 500, 50)), fences) == found


def test_multipolygon_zone_becomes_one_local_zone_per_part() -> None:
    parts = MultiPolygon([box(0, 0, 10, 10), box(20, 0, 30, 10)])
    fences = prepared(zone("twins", ZoneKind.NO_PHOTO, parts))
    local = fences.of_kind(ZoneKind.NO_PHOTO)
    assert [lz.zone.zone_id for lz in local] == ["twins", "twins"]
    assert sum(lz.shape.area for lz in local) == pytest.approx(200.0, rel=1e-6)
    assert fences.exclusions == ()
    assert fences.ceiling_m == 120.0


def test_zones_touching_finds_the_zones_a_line_crosses_or_comes_near() -> None:
    fences = prepared(
        zone("pond", ZoneKind.NO_SPRAY, box(100, 100, 200, 200)),
        zone("hospital", ZoneKind.QUIET, box(300, 100, 400, 200)),
        zone("kindergarten", ZoneKind.NO_SPRAY, box(500, 100, 600, 200)),
    )
    line = translate(LineString([(0, 150), (700, 150)]), OX, OY)
    hits = zones_touching(line, fences, ZoneKind.NO_SPRAY)
    assert [lz.zone.zone_id for lz in hits] == ["pond", "kindergarten"]
    beside = translate(LineString([(0, 230), (700, 230)]), OX, OY)
    assert zones_touching(beside, fences, ZoneKind.QUIET) == ()
    near = zones_touching(beside, fences, ZoneKind.QUIET, within_m=50.0)
    assert [lz.zone.zone_id for lz in near] == ["hospital"]
    footprint = translate(box(150, 150, 160, 160), OX, OY)
    assert [lz.zone.zone_id for lz in zones_touching(footprint, fences, ZoneKind.NO_SPRAY)] == ["pond"]
    assert zones_touching(line, fences, ZoneKind.NO_PHOTO) == ()


def test_invalid_zone_polygon_is_refused() -> None:
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    with pytest.raises(ValueError, match="bowtie"):
        prepared(zone("bowtie", ZoneKind.EXCLUSION, bowtie))


def test_negative_clearance_is_refused() -> None:
    with pytest.raises(ValueError):
        check_route(route((0, 0, 0)), prepared(GRID), clearance_m=-1.0)


def test_dense_route_matches_a_per_leg_reference() -> None:
    """Thousands of legs through many zones: the vectorised check agrees with a plain one."""
    rng = np.random.default_rng(7)
    exclusions = [
        zone(f"x{k}", ZoneKind.EXCLUSION, box(x, y, x + 40, y + 40))
        for k, (x, y) in enumerate(rng.uniform(50, 900, (20, 2)).tolist())
    ]
    fences = prepared(GRID, *exclusions)
    pts = rng.uniform(-50, 1050, (2000, 2))
    r = route(*[(float(x), float(y), 50.0) for x, y in pts])
    found = check_route(r, fences, clearance_m=2.0)
    assert fences.inclusion is not None
    got = {(v.leg, v.kind, v.zone_id) for v in found}
    expected = set()
    for i in range(len(pts) - 1):
        leg = LineString([r[i][:2], r[i + 1][:2]])
        if not fences.inclusion.buffer(1e-6).covers(leg):
            expected.add((i, "outside_inclusion", "grid"))
        for lz in fences.exclusions:
            if leg.distance(lz.shape) < 2.0 - 1e-6:
                expected.add((i, "inside_exclusion", lz.zone.zone_id))
    assert got == expected
    assert len(expected) > 1000  # the reference really exercises the violation paths


# ----------------------------------------------------------------------------------------------
# Properties

SCHOOL_ONLY = prepared(SCHOOL)
coord = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(x0=coord, y0=coord, x1=coord, y1=coord, clearance=st.sampled_from([0.0, 3.0]))
def test_property_exclusion_depth_matches_dense_sampling(
    x0: float, y0: float, x1: float, y1: float, clearance: float
) -> None:
    fences = SCHOOL_ONLY
    school = fences.exclusions[0].shape
    leg = LineString([(OX + x0, OY + y0), (OX + x1, OY + y1)]) if (x0, y0) != (x1, y1) else None
    assume(leg is not None and leg.length > 1.0)
    found = check_route(route((x0, y0, 50), (x1, y1, 50)), fences, clearance_m=clearance)
    samples = shapely.points(shapely.get_coordinates(shapely.segmentize(leg, 0.02)))
    inside = shapely.covers(school, samples)
    signed = np.where(
        inside,
        shapely.distance(school.boundary, samples),
        -shapely.distance(school, samples),
    )
    expected = clearance + float(signed.max())
    assume(abs(expected) > 0.05)  # away from the knife edge where sampling decides
    if expected > 0:
        (v,) = found
        assert v.kind == "inside_exclusion"
        assert v.distance_m == pytest.approx(expected, abs=0.05)
    else:
        assert found == ()


@settings(max_examples=60, deadline=None)
@given(
    z0=st.floats(0.0, 120.0),
    z1=st.floats(0.0, 120.0),
    lo=st.floats(0.0, 100.0),
    height=st.floats(1.0, 60.0),
    x0=st.floats(0.0, 350.0),
    x1=st.floats(650.0, 1000.0),
)
def test_property_banded_exclusion_catches_exactly_the_legs_in_band_over_it(
    z0: float, z1: float, lo: float, height: float, x0: float, x1: float
) -> None:
    hi = lo + height
    fences = prepared(zone("band", ZoneKind.EXCLUSION, box(400, 0, 600, 1000), min_alt_m=lo, max_alt_m=hi))
    found = check_route(route((x0, 500, z0), (x1, 500, z1)), fences)
    # Altitudes flown while over the zone (x in [400, 600]): linear, so the ends bound them.
    za = z0 + (z1 - z0) * (400 - x0) / (x1 - x0)
    zb = z0 + (z1 - z0) * (600 - x0) / (x1 - x0)
    over_lo, over_hi = min(za, zb), max(za, zb)
    gap = max(lo - over_hi, over_lo - hi)  # > 0: the band is missed by this much
    assume(abs(gap) > 1e-3)
    assert (len(found) == 1) == (gap < 0)


@settings(max_examples=40, deadline=None)
@given(
    pts=st.lists(st.tuples(coord, coord, st.floats(0.0, 150.0)), min_size=1, max_size=6),
)
def test_property_only_violations_listed_and_each_leg_is_real(
    pts: list[tuple[float, float, float]],
) -> None:
    fences = prepared(GRID, SCHOOL, ceiling_m=120.0)
    found = check_route(route(*pts), fences)
    n_legs = max(len(pts) - 1, 1)
    assert all(0 <= v.leg < n_legs and v.distance_m > 0 for v in found)
    ceiling_legs = {v.leg for v in found if v.kind == "above_ceiling"}
    legs = [(pts[0], pts[0])] if len(pts) == 1 else list(itertools.pairwise(pts))
    assert ceiling_legs == {i for i, (a, b) in enumerate(legs) if max(a[2], b[2]) > 120.0 + 1e-6}
    school = box(OX + 400, OY + 400, OX + 600, OY + 600)
    for i, (a, b) in enumerate(legs):
        g = (
            Point(OX + a[0], OY + a[1])
            if a[:2] == b[:2]
            else LineString([(OX + a[0], OY + a[1]), (OX + b[0], OY + b[1])])
        )
        crosses = g.intersection(school).length > 1e-3 or school.buffer(-1e-3).intersects(g)
        listed = any(v.leg == i and v.kind == "inside_exclusion" for v in found)
        if crosses:
            assert listed
        elif not school.intersects(g):
            assert not listed
