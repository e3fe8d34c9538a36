"""Grid and zone GeoJSON import: every bad-input class is reported precisely; output is normalised."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geofences.crs import CoordinateSystem, from_wgs84_geometry
from geofences.frame import LocalFrame
from geofences.geojson import (
    MAX_PROBLEMS_PER_FEATURE,
    GeoJSONError,
    GridFeature,
    Problem,
    find_overlaps,
    geometry_to_geojson,
    grids_to_feature_collection,
    parse_grids,
    parse_zones,
    zone_to_feature,
    zones_to_feature_collection,
)
from geofences.model import ZoneKind

LON0, LAT0 = 120.54, 31.49
Ring = list[list[float]]


def square_ring(lon: float = LON0, lat: float = LAT0, size_deg: float = 0.004, *, ccw: bool = True) -> Ring:
    ring = [
        [lon, lat],
        [lon + size_deg, lat],
        [lon + size_deg, lat + size_deg],
        [lon, lat + size_deg],
        [lon, lat],
    ]
    return ring if ccw else ring[::-1]


def grid(code: str = "HB-01-01", rings: list[Ring] | None = None, **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": code,
        "name": "第一网格",
        "community_code": "HB-01",
        "community_name": "渔港社区",
        "street_code": "HB",
        "street_name": "湖滨街道",
    }
    properties.update(props)
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "Polygon", "coordinates": rings if rings is not None else [square_ring()]},
    }


def zone(code: str = "Z1", geometry: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"code": code, "name": "实验小学", "kind": "exclusion"}
    properties.update(props)
    geom = geometry if geometry is not None else {"type": "Polygon", "coordinates": [square_ring()]}
    return {"type": "Feature", "properties": properties, "geometry": geom}


def collection(*features: object, **members: object) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **members}


def problems_of(doc: object, *, zones: bool = False, **kwargs: Any) -> tuple[Problem, ...]:
    with pytest.raises(GeoJSONError) as info:
        if zones:
            parse_zones(doc, **kwargs)
        else:
            parse_grids(doc, **kwargs)
    return info.value.problems


def only_problem(doc: object, *, zones: bool = False, **kwargs: Any) -> Problem:
    problems = problems_of(doc, zones=zones, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def bad_grid_problem(feature: dict[str, Any], *, index: int = 1) -> Problem:
    """Put ``feature`` after a good one, so the problem must name index 1, not 0."""
    return only_problem(collection(grid("HB-00-01", [square_ring(LON0 - 0.01)]), feature))


# ---------------------------------------------------------------------------------------------
# Good input


def test_valid_grid_parses_with_properties_and_geometry() -> None:
    (parsed,) = parse_grids(collection(grid(worker_name="张建国", worker_phone="139 0510 0001")))
    assert parsed.index == 0
    assert parsed.code == "HB-01-01"
    assert parsed.community_name == "渔港社区"
    assert parsed.worker_name == "张建国"
    assert parsed.worker_phone == "139 0510 0001"
    assert isinstance(parsed.geometry, Polygon)
    assert parsed.geometry.equals(Polygon(square_ring()))


def test_optional_worker_fields_may_be_absent_or_null() -> None:
    (parsed,) = parse_grids(collection(grid(worker_name=None)))
    assert parsed.worker_name is None
    assert parsed.worker_phone is None


def test_altitude_is_dropped() -> None:
    ring = [[*p, 12.5] for p in square_ring()]
    (parsed,) = parse_grids(collection(grid(rings=[ring])))
    assert not parsed.geometry.has_z


def test_clockwise_exterior_is_stored_counter_clockwise_and_holes_clockwise() -> None:
    shell = square_ring(size_deg=0.004, ccw=False)
    hole = square_ring(LON0 + 0.001, LAT0 + 0.001, 0.001, ccw=True)  # wrong way round too
    (parsed,) = parse_grids(collection(grid(rings=[shell, hole])))
    assert parsed.geometry.exterior.is_ccw
    assert not parsed.geometry.interiors[0].is_ccw
    assert parsed.geometry.area == pytest.approx(0.004**2 - 0.001**2)


def test_multipolygon_parts_are_each_oriented() -> None:
    feature = grid()
    feature["geometry"] = {
        "type": "MultiPolygon",
        "coordinates": [[square_ring(ccw=False)], [square_ring(LON0 + 0.01, ccw=False)]],
    }
    (parsed,) = parse_grids(collection(feature))
    assert isinstance(parsed.geometry, MultiPolygon)
    assert all(part.exterior.is_ccw for part in parsed.geometry.geoms)


def test_gcj02_document_lands_within_half_a_metre_of_the_wgs84_truth() -> None:
    truth = Polygon(square_ring())
    gcj = from_wgs84_geometry(truth, CoordinateSystem.GCJ02)
    doc = collection(grid(rings=[[list(c) for c in gcj.exterior.coords]]), crs="GCJ02")
    (parsed,) = parse_grids(doc)
    frame = LocalFrame.for_lonlat(LON0, LAT0)
    for (lon_a, lat_a), (lon_b, lat_b) in zip(
        parsed.geometry.exterior.coords, truth.exterior.coords, strict=True
    ):
        (xa, ya), (xb, yb) = frame.xy(lon_a, lat_a), frame.xy(lon_b, lat_b)
        assert math.hypot(xa - xb, ya - yb) < 0.5
    # Read as WGS-84 the same document is hundreds of metres off: the conversion really happened.
    gcj_corner = frame.xy(*gcj.exterior.coords[0])
    assert (
        math.hypot(gcj_corner[0] - frame.xy(LON0, LAT0)[0], gcj_corner[1] - frame.xy(LON0, LAT0)[1]) > 100.0
    )


def test_crs_argument_overrides_the_document_member() -> None:
    truth = Polygon(square_ring())
    bd = from_wgs84_geometry(truth, CoordinateSystem.BD09)
    doc = collection(grid(rings=[[list(c) for c in bd.exterior.coords]]), crs="GCJ02")
    (parsed,) = parse_grids(doc, crs=CoordinateSystem.BD09)
    assert parsed.geometry.exterior.coords[0] == pytest.approx((LON0, LAT0), abs=1e-8)


def test_legacy_named_wgs84_crs_from_qgis_is_accepted() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    (parsed,) = parse_grids(collection(grid(), crs=crs))
    assert parsed.geometry.equals(Polygon(square_ring()))


def test_unknown_crs_is_a_document_problem() -> None:
    problem = only_problem(collection(grid(), crs="EPSG:3857"))
    assert (problem.index, problem.code, problem.field) == (None, None, "crs")
    assert "GCJ02" in problem.message


# ---------------------------------------------------------------------------------------------
# Document and feature structure


@pytest.mark.parametrize("doc", [[], "FeatureCollection", None])
def test_non_object_document_is_rejected(doc: object) -> None:
    problem = only_problem(doc)
    assert problem.index is None
    assert "FeatureCollection" in problem.message


def test_wrong_document_type_is_reported() -> None:
    problem = only_problem({"type": "Feature", "features": [grid()]})
    assert (problem.index, problem.field) == (None, "type")


def test_missing_features_array_is_reported() -> None:
    problem = only_problem({"type": "FeatureCollection"})
    assert (problem.index, problem.field) == (None, "features")


def test_feature_that_is_not_an_object_is_reported() -> None:
    problem = bad_grid_problem("not a feature")  # type: ignore[arg-type]
    assert (problem.index, problem.code, problem.field) == (1, None, "features/1")


def test_feature_with_wrong_type_is_reported() -> None:
    feature = grid("HB-01-02")
    feature["type"] = "Polygon"
    problem = bad_grid_problem(feature)
    assert (problem.index, problem.code, problem.field) == (1, "HB-01-02", "features/1/type")


# ---------------------------------------------------------------------------------------------
# Geometry problems: each names index, code and the path of the bad part


def test_missing_geometry_is_reported() -> None:
    feature = grid("HB-01-02")
    feature["geometry"] = None
    problem = bad_grid_problem(feature)
    assert (problem.index, problem.code, problem.field) == (1, "HB-01-02", "features/1/geometry")
    assert "missing geometry" in problem.message


def test_disallowed_geometry_type_is_reported() -> None:
    feature = grid("HB-01-02")
    feature["geometry"] = {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0 + 0.01, LAT0]]}
    problem = bad_grid_problem(feature)
    assert (problem.index, problem.code, problem.field) == (1, "HB-01-02", "features/1/geometry/type")
    assert "'LineString'" in problem.message


def test_point_is_not_a_grid_geometry_but_is_a_zone_geometry() -> None:
    feature = grid("HB-01-02")
    feature["geometry"] = {"type": "Point", "coordinates": [LON0, LAT0]}
    assert bad_grid_problem(feature).field == "features/1/geometry/type"
    (parsed,) = parse_zones(collection(zone(geometry=feature["geometry"], radius_m=50)))
    assert parsed.zone.circle is not None


@pytest.mark.parametrize(
    ("geometry", "field"),
    [
        ({"type": "Polygon", "coordinates": []}, "features/1/geometry/coordinates"),
        ({"type": "MultiPolygon", "coordinates": []}, "features/1/geometry/coordinates"),
        ({"type": "MultiPolygon", "coordinates": [[square_ring()], []]}, "features/1/geometry/coordinates/1"),
    ],
)
def test_empty_geometry_is_reported(geometry: dict[str, Any], field: str) -> None:
    feature = grid("HB-01-02")
    feature["geometry"] = geometry
    problem = bad_grid_problem(feature)
    assert (problem.index, problem.code, problem.field) == (1, "HB-01-02", field)
    assert "empty geometry" in problem.message


def test_unclosed_ring_is_reported() -> None:
    problem = bad_grid_problem(grid("HB-01-02", [[*square_ring()[:-1], [LON0 + 0.001, LAT0]]]))
    assert (problem.index, problem.code, problem.field) == (
        1,
        "HB-01-02",
        "features/1/geometry/coordinates/0",
    )
    assert "not closed" in problem.message


def test_ring_with_fewer_than_four_positions_is_reported() -> None:
    triangle_open = [[LON0, LAT0], [LON0 + 0.001, LAT0], [LON0, LAT0]]
    problem = bad_grid_problem(grid("HB-01-02", [triangle_open]))
    assert (problem.index, problem.code, problem.field) == (
        1,
        "HB-01-02",
        "features/1/geometry/coordinates/0",
    )
    assert "at least 4 positions" in problem.message


@pytest.mark.parametrize("position", [[LON0], [LON0, LAT0, 1.0, 2.0], "120.54,31.49", {"lon": LON0}])
def test_position_that_is_not_two_or_three_numbers_is_reported(position: object) -> None:
    ring: list[Any] = square_ring()
    ring[2] = position
    problem = bad_grid_problem(grid("HB-01-02", [ring]))
    assert (problem.index, problem.code, problem.field) == (
        1,
        "HB-01-02",
        "features/1/geometry/coordinates/0/2",
    )
    assert "[lon, lat]" in problem.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        (10**400, "finite"),
        ("31.49", "number"),
        (True, "number"),
    ],
)
def test_non_finite_or_non_numeric_coordinate_is_reported(value: object, words: str) -> None:
    ring: list[Any] = square_ring()
    ring[1] = [LON0 + 0.004, value]
    problem = bad_grid_problem(grid("HB-01-02", [ring]))
    assert (problem.index, problem.code, problem.field) == (
        1,
        "HB-01-02",
        "features/1/geometry/coordinates/0/1/1",
    )
    assert words in problem.message


def test_longitude_out_of_range_is_reported() -> None:
    ring = square_ring()
    ring[1] = [200.0, LAT0]
    problem = bad_grid_problem(grid("HB-01-02", [ring]))
    assert problem.field == "features/1/geometry/coordinates/0/1/0"
    assert "longitude 200.0" in problem.message


def test_latitude_out_of_range_is_reported() -> None:
    ring = square_ring()
    ring[1] = [LON0, -91.0]
    problem = bad_grid_problem(grid("HB-01-02", [ring]))
    assert problem.field == "features/1/geometry/coordinates/0/1/1"
    assert "latitude -91.0" in problem.message


def test_swapped_lat_lon_is_recognised() -> None:
    swapped = [[lat, lon] for lon, lat in square_ring()]
    problems = problems_of(collection(grid("HB-01-02", [swapped])))
    assert len(problems) == 5  # one per position, each saying what is wrong
    first = problems[0]
    assert (first.index, first.code, first.field) == (0, "HB-01-02", "features/0/geometry/coordinates/0/0")
    assert "looks like [lat, lon]; GeoJSON wants [lon, lat]" in first.message


def test_self_intersecting_ring_is_reported_with_its_location() -> None:
    bow_tie = [
        [LON0, LAT0],
        [LON0 + 0.004, LAT0 + 0.004],
        [LON0 + 0.004, LAT0],
        [LON0, LAT0 + 0.004],
        [LON0, LAT0],
    ]
    problem = bad_grid_problem(grid("HB-01-02", [bow_tie]))
    assert (problem.index, problem.code, problem.field) == (1, "HB-01-02", "features/1/geometry/coordinates")
    assert "Self-intersection at [120.542, 31.492]" in problem.message


def test_hole_outside_its_shell_is_reported() -> None:
    hole = square_ring(LON0 + 0.01, LAT0, 0.001, ccw=False)
    problem = bad_grid_problem(grid("HB-01-02", [square_ring(), hole]))
    assert problem.field == "features/1/geometry/coordinates"
    assert "Hole lies outside shell" in problem.message


def test_multipolygon_with_overlapping_parts_is_reported() -> None:
    feature = grid("HB-01-02")
    feature["geometry"] = {
        "type": "MultiPolygon",
        "coordinates": [[square_ring()], [square_ring(LON0 + 0.002)]],
    }
    problem = bad_grid_problem(feature)
    assert problem.field == "features/1/geometry/coordinates"
    assert "overlap" in problem.message


def test_too_many_vertices_is_reported_without_checking_each_one() -> None:
    ring = [[LON0 + 0.004 * math.cos(t / 10), LAT0 + 0.004 * math.sin(t / 10)] for t in range(63)]
    ring.append(ring[0])
    problem = only_problem(collection(grid("HB-01-02", [ring])), max_vertices=50)
    assert (problem.index, problem.code, problem.field) == (0, "HB-01-02", "features/0/geometry/coordinates")
    assert "64 vertices exceed the limit of 50" in problem.message
    assert parse_grids(collection(grid("HB-01-02", [ring])), max_vertices=64)


def test_problems_in_one_feature_are_capped_and_summarised() -> None:
    ring = [[31.49, 120.54 + k * 1e-4] for k in range(200)]
    problems = problems_of(collection(grid("HB-01-02", [ring])))
    assert len(problems) == MAX_PROBLEMS_PER_FEATURE + 1
    assert problems[-1].message.endswith("more problems in this feature not listed")


# ---------------------------------------------------------------------------------------------
# Property problems


def test_duplicate_code_names_the_first_feature() -> None:
    doc = collection(grid("HB-01-01"), grid("HB-01-02", [square_ring(LON0 + 0.01)]), grid("HB-01-01"))
    problem = only_problem(doc)
    assert (problem.index, problem.code, problem.field) == (2, "HB-01-01", "features/2/properties/code")
    assert "feature 0" in problem.message


@pytest.mark.parametrize("code", ["HB 01", "", "x" * 65, 17, "网格1"])
def test_invalid_code_is_reported(code: object) -> None:
    problem = bad_grid_problem(grid(code))  # type: ignore[arg-type]
    assert (problem.index, problem.field) == (1, "features/1/properties/code")
    assert "1-64 letters" in problem.message


def test_missing_required_properties_are_each_reported() -> None:
    feature = grid("HB-01-02")
    del feature["properties"]["community_name"]
    feature["properties"]["street_name"] = "  "
    problems = problems_of(collection(feature))
    assert {(p.code, p.field) for p in problems} == {
        ("HB-01-02", "features/0/properties/community_name"),
        ("HB-01-02", "features/0/properties/street_name"),
    }


def test_null_properties_report_each_missing_field() -> None:
    feature = grid()
    feature["properties"] = None
    fields = {p.field for p in problems_of(collection(feature))}
    assert "features/0/properties/code" in fields
    assert "features/0/properties/street_code" in fields
    assert "features/0/properties" not in fields


def test_invalid_worker_phone_is_reported() -> None:
    problem = bad_grid_problem(grid("HB-01-02", worker_phone="call me"))
    assert problem.field == "features/1/properties/worker_phone"


def test_all_problems_in_the_document_are_collected() -> None:
    unclosed = [*square_ring()[:-1], [LON0 + 0.001, LAT0]]
    doc = collection(grid("A", [unclosed]), 42, grid("B", name=""), grid("A", [square_ring(LON0 + 0.01)]))
    problems = problems_of(doc)
    assert [(p.index, p.code) for p in problems] == [(0, "A"), (1, None), (2, "B"), (3, "A")]
    assert "A" in str(GeoJSONError(problems))


# ---------------------------------------------------------------------------------------------
# Zones


def test_polygon_and_circle_zones_parse() -> None:
    circle = {"type": "Point", "coordinates": [LON0, LAT0, 5.0]}
    doc = collection(
        zone("SCH", min_alt_m=0, max_alt_m=120),
        zone("SUB", circle, name="变电站", radius_m=60),
        zone("LAKE", kind="no_spray"),
    )
    school, substation, lake = (z.zone for z in parse_zones(doc))
    assert (school.zone_id, school.kind, school.min_alt_m, school.max_alt_m) == (
        "SCH",
        ZoneKind.EXCLUSION,
        0.0,
        120.0,
    )
    assert school.polygon is not None and school.polygon.exterior.is_ccw
    assert substation.circle is not None
    assert (substation.circle.lon_deg, substation.circle.lat_deg, substation.circle.radius_m) == (
        LON0,
        LAT0,
        60.0,
    )
    assert lake.kind is ZoneKind.NO_SPRAY


def test_circle_centre_is_converted_from_gcj02() -> None:
    gcj = from_wgs84_geometry(shapely.Point(LON0, LAT0), CoordinateSystem.GCJ02)
    doc = collection(
        zone(geometry={"type": "Point", "coordinates": [gcj.x, gcj.y]}, radius_m=30), crs="GCJ02"
    )
    (parsed,) = parse_zones(doc)
    assert parsed.zone.circle is not None
    assert (parsed.zone.circle.lon_deg, parsed.zone.circle.lat_deg) == pytest.approx((LON0, LAT0), abs=1e-8)


@pytest.mark.parametrize(
    ("props", "field", "words"),
    [
        ({"kind": "forbidden"}, "kind", "not one of inclusion, exclusion, quiet, no_photo, no_spray"),
        ({"kind": None}, "kind", "missing"),
        ({"min_alt_m": -1}, "min_alt_m", "outside [0, 1000]"),
        ({"max_alt_m": 1200}, "max_alt_m", "outside [0, 1000]"),
        ({"max_alt_m": "high"}, "max_alt_m", "finite number"),
        ({"max_alt_m": 10**400}, "max_alt_m", "finite number"),
        ({"min_alt_m": 50, "max_alt_m": 50}, "max_alt_m", "must be above min_alt_m"),
        ({"name": 7}, "name", "non-empty string"),
    ],
)
def test_invalid_zone_properties_are_reported(props: dict[str, Any], field: str, words: str) -> None:
    problem = only_problem(collection(zone("Z9", **props)), zones=True)
    assert (problem.index, problem.code, problem.field) == (0, "Z9", f"features/0/properties/{field}")
    assert words in problem.message


@pytest.mark.parametrize(
    ("radius", "words"), [(None, "needs radius_m"), (0, "outside (0, 50000]"), (60_000, "outside")]
)
def test_circle_zone_needs_a_sensible_radius(radius: object, words: str) -> None:
    feature = zone("Z9", {"type": "Point", "coordinates": [LON0, LAT0]}, radius_m=radius)
    problem = only_problem(collection(feature), zones=True)
    assert (problem.code, problem.field) == ("Z9", "features/0/properties/radius_m")
    assert words in problem.message


def test_empty_point_is_reported() -> None:
    problem = only_problem(
        collection(zone("Z9", {"type": "Point", "coordinates": []}, radius_m=5)), zones=True
    )
    assert problem.field == "features/0/geometry/coordinates"
    assert "empty geometry" in problem.message


# ---------------------------------------------------------------------------------------------
# Overlaps


def local_square(frame: LocalFrame, x0_m: float, y0_m: float, size_m: float) -> Polygon:
    return frame.to_wgs84(box(x0_m, y0_m, x0_m + size_m, y0_m + size_m))


def grid_feature(code: str, geometry: Polygon) -> GridFeature:
    return GridFeature(0, code, code, "C", "C", "S", "S", None, None, geometry)


def test_overlap_is_found_with_its_area() -> None:
    frame = LocalFrame.for_lonlat(LON0, LAT0)
    x0, y0 = frame.xy(LON0, LAT0)
    a = grid_feature("A", local_square(frame, x0, y0, 300.0))
    b = grid_feature("B", local_square(frame, x0 + 250.0, y0 + 100.0, 300.0))  # 50 m x 200 m shared
    far = grid_feature("C", local_square(frame, x0 + 2000.0, y0, 300.0))
    (overlap,) = find_overlaps([a, far, b])
    assert (overlap.code_a, overlap.code_b) == ("A", "B")
    assert overlap.area_m2 == pytest.approx(50.0 * 200.0, rel=1e-3)


def test_neighbours_sharing_an_edge_do_not_overlap() -> None:
    frame = LocalFrame.for_lonlat(LON0, LAT0)
    x0, y0 = frame.xy(LON0, LAT0)
    a = grid_feature("A", local_square(frame, x0, y0, 300.0))
    b = grid_feature("B", local_square(frame, x0 + 300.0, y0, 300.0))
    corner = grid_feature("C", local_square(frame, x0 + 300.0, y0 + 300.0, 300.0))
    assert find_overlaps([a, b, corner]) == ()


def test_grid_inside_another_is_an_overlap_and_threshold_drops_slivers() -> None:
    frame = LocalFrame.for_lonlat(LON0, LAT0)
    x0, y0 = frame.xy(LON0, LAT0)
    outer = grid_feature("OUT", local_square(frame, x0, y0, 300.0))
    inner = grid_feature("IN", local_square(frame, x0 + 100.0, y0 + 100.0, 10.0))
    (overlap,) = find_overlaps([outer, inner])
    assert overlap.area_m2 == pytest.approx(100.0, rel=1e-3)
    assert find_overlaps([outer, inner], min_area_m2=150.0) == ()


# ---------------------------------------------------------------------------------------------
# Export


def test_grids_round_trip_through_export() -> None:
    hole = square_ring(LON0 + 0.001, LAT0 + 0.001, 0.001, ccw=False)
    doc = collection(
        grid(rings=[square_ring(), hole], worker_name="李敏"), grid("HB-01-02", [square_ring(LON0 + 0.01)])
    )
    parsed = parse_grids(doc)
    exported = grids_to_feature_collection(parsed)
    assert exported["features"][0]["properties"] == {**doc["features"][0]["properties"]}
    assert "worker_phone" not in exported["features"][0]["properties"]
    again = parse_grids(copy.deepcopy(exported))
    assert [g.code for g in again] == ["HB-01-01", "HB-01-02"]
    # Export rounds to 7 decimals (about a centimetre); nothing else changes.
    assert all(a.geometry.equals_exact(b.geometry, 1e-7) for a, b in zip(parsed, again, strict=True))


def test_zones_round_trip_through_export_including_circles() -> None:
    doc = collection(
        zone("SCH", max_alt_m=80),
        zone("SUB", {"type": "Point", "coordinates": [LON0, LAT0]}, radius_m=45.5),
    )
    zones = [z.zone for z in parse_zones(doc)]
    assert zone_to_feature(zones[1])["geometry"] == {"type": "Point", "coordinates": [LON0, LAT0]}
    again = [z.zone for z in parse_zones(zones_to_feature_collection(zones))]
    assert again[1].circle == zones[1].circle
    assert again[0].max_alt_m == 80.0
    assert again[0].polygon is not None and again[0].polygon.equals_exact(zones[0].polygon, 1e-7)


def test_exported_geometry_is_rounded_and_right_handed() -> None:
    clockwise = Polygon([(LON0, LAT0), (LON0, LAT0 + 0.0012345678), (LON0 + 0.001, LAT0), (LON0, LAT0)])
    out = geometry_to_geojson(clockwise)
    ring = out["coordinates"][0]
    assert ring[1] == pytest.approx([LON0 + 0.001, LAT0], abs=1e-12)  # counter-clockwise now
    assert ring[2][1] == round(LAT0 + 0.0012345678, 7)
    assert ring[2][1] != LAT0 + 0.0012345678
