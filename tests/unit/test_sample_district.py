"""The committed sample district (湖滨街道) meets what the demo and later tests rely on."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from geofences.frame import LocalFrame
from geofences.geojson import GridFeature, ZoneFeature, find_overlaps, parse_grids, parse_zones
from geofences.model import ZoneKind
from geofences.sample import GRIDS_PATH, SITES_PATH, ZONES_PATH
from geofences.sample.make_sample import build, chinese_number

FRAME = LocalFrame.for_lonlat(120.54, 31.49)


def load(path: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


@cache
def grids() -> tuple[GridFeature, ...]:
    return parse_grids(load(GRIDS_PATH))


@cache
def zones() -> tuple[ZoneFeature, ...]:
    return parse_zones(load(ZONES_PATH))


def size_m(geom_wgs84: BaseGeometry) -> float:
    """Long side of the minimum rotated rectangle, in metres (measured independently of the generator)."""
    ring = np.asarray(shapely.oriented_envelope(FRAME.to_local(geom_wgs84)).exterior.coords)
    return float(np.max(np.hypot(*np.diff(ring, axis=0).T)))


def lake_grid_and_island() -> tuple[GridFeature, GridFeature]:
    (lakeside,) = [g for g in grids() if isinstance(g.geometry, Polygon) and g.geometry.interiors]
    lake = Polygon(lakeside.geometry.interiors[0])
    (island,) = [g for g in grids() if lake.contains(g.geometry)]
    return lakeside, island


def test_committed_files_are_what_the_generator_makes() -> None:
    grids_doc, zones_doc, sites_doc = build()
    assert load(GRIDS_PATH) == grids_doc
    assert load(ZONES_PATH) == zones_doc
    assert load(SITES_PATH) == sites_doc


def test_one_street_with_enough_communities_and_grids() -> None:
    assert {(g.street_code, g.street_name) for g in grids()} == {("HB", "湖滨街道")}
    communities = Counter((g.community_code, g.community_name) for g in grids())
    assert len(communities) >= 5
    assert all(re.fullmatch(r".+(社区|村)", name) for _, name in communities)
    assert min(communities.values()) >= 3
    assert len(grids()) >= 30


def test_grid_codes_names_and_workers_look_real() -> None:
    for g in grids():
        assert re.fullmatch(rf"{g.community_code}-\d\d", g.code), g.code
        number = int(g.code[-2:])
        assert g.name.startswith(f"第{chinese_number(number)}网格"), (g.code, g.name)
        assert g.worker_name and re.fullmatch(r"[\u4e00-\u9fff]{2,3}", g.worker_name)
        assert g.worker_phone and re.fullmatch(r"1\d{10}", g.worker_phone)


def test_district_is_on_the_taihu_lakeside() -> None:
    centre = shapely.union_all([g.geometry for g in grids()]).centroid
    assert centre.x == pytest.approx(120.54, abs=0.01)
    assert centre.y == pytest.approx(31.49, abs=0.01)


def test_grids_are_200_to_600_metres_across_except_the_island() -> None:
    _, island = lake_grid_and_island()
    sizes_m = {g.code: size_m(g.geometry) for g in grids() if g is not island}
    assert all(200.0 <= s <= 600.0 for s in sizes_m.values()), sizes_m
    assert size_m(island.geometry) < 200.0


def test_grids_do_not_overlap_and_neighbours_share_edges() -> None:
    assert find_overlaps(grids()) == ()
    shared_edges = 0
    for a in grids():
        for b in grids():
            if a.code < b.code and a.geometry.intersection(b.geometry).length > 0.0:
                shared_edges += 1
    # A planar tiling of n cells has roughly 3n shared edges; far fewer would mean gaps.
    assert shared_edges > 2 * len(grids())


def test_grids_and_lake_tile_the_street_without_gaps() -> None:
    lakeside, island = lake_grid_and_island()
    lake = Polygon(lakeside.geometry.interiors[0])
    street = shapely.union_all([*(g.geometry for g in grids()), lake])
    assert isinstance(street, Polygon)
    assert not street.interiors
    # Grids plus open water add up to the street exactly: no gaps and no double counting.
    water_area = lake.area - island.geometry.area
    assert street.area == pytest.approx(sum(g.geometry.area for g in grids()) + water_area, rel=1e-9)


def test_lakeside_grid_has_the_lake_as_a_hole_with_an_island_grid_inside() -> None:
    lakeside, island = lake_grid_and_island()
    assert lakeside.community_code == island.community_code
    assert "湖心岛" in island.name
    lake_water = [z.zone for z in zones() if z.zone.kind is ZoneKind.NO_SPRAY and z.zone.polygon is not None]
    (water,) = lake_water
    assert water.polygon is not None
    assert water.polygon.exterior.equals(lakeside.geometry.interiors[0])
    assert Polygon(water.polygon.interiors[0]).equals(island.geometry)


def test_every_zone_kind_is_present() -> None:
    kinds = Counter(z.zone.kind for z in zones())
    assert set(kinds) == set(ZoneKind)
    assert kinds[ZoneKind.EXCLUSION] >= 2
    assert kinds[ZoneKind.NO_SPRAY] >= 2


def test_exclusions_are_a_school_polygon_and_a_substation_circle_each_inside_one_grid() -> None:
    exclusions = [z.zone for z in zones() if z.zone.kind is ZoneKind.EXCLUSION]
    assert any("小学" in z.name and z.polygon is not None for z in exclusions)
    assert any("变电站" in z.name and z.circle is not None for z in exclusions)
    for z in exclusions + [z.zone for z in zones() if z.zone.kind in (ZoneKind.QUIET, ZoneKind.NO_PHOTO)]:
        footprint = z.local_shape(FRAME)
        hosts = [g.code for g in grids() if FRAME.to_local(g.geometry).contains(footprint)]
        assert len(hosts) == 1, (z.zone_id, hosts)


def test_kindergarten_is_a_no_spray_circle() -> None:
    assert any(
        z.zone.kind is ZoneKind.NO_SPRAY and z.zone.circle is not None and "幼儿园" in z.zone.name
        for z in zones()
    )


def test_inclusion_zone_is_the_street_plus_a_margin_under_120_m() -> None:
    (inclusion,) = [z.zone for z in zones() if z.zone.kind is ZoneKind.INCLUSION]
    assert inclusion.max_alt_m == 120.0
    assert inclusion.polygon is not None
    street = FRAME.to_local(shapely.union_all([g.geometry for g in grids()]))
    fence = FRAME.to_local(inclusion.polygon)
    assert fence.contains(street.buffer(80.0))
    assert not fence.contains(street.buffer(130.0))


def sites() -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = load(SITES_PATH)["features"]
    return features


def test_sites_have_the_expected_kinds_and_properties() -> None:
    kinds = Counter(f["properties"]["kind"] for f in sites())
    assert kinds["spray_target"] >= 6
    assert kinds["key_site"] >= 4
    assert kinds["checkpoint"] >= 5
    assert set(kinds) == {"spray_target", "key_site", "checkpoint"}
    codes = [f["properties"]["code"] for f in sites()]
    assert len(set(codes)) == len(codes)
    for f in sites():
        kind = f["properties"]["kind"]
        if kind == "spray_target":
            assert f["geometry"]["type"] == "Polygon"
        if kind == "checkpoint":
            assert f["geometry"]["type"] == "Point"
            assert f["properties"]["hover_s"] > 0


def test_sites_lie_in_their_grid_and_clear_of_zones_that_forbid_the_work() -> None:
    by_code = {g.code: FRAME.to_local(g.geometry) for g in grids()}
    exclusions = [z.zone.local_shape(FRAME) for z in zones() if z.zone.kind is ZoneKind.EXCLUSION]
    no_spray = [z.zone.local_shape(FRAME) for z in zones() if z.zone.kind is ZoneKind.NO_SPRAY]
    for f in sites():
        site = FRAME.to_local(shape(f["geometry"]))
        assert by_code[f["properties"]["grid_code"]].contains(site), f["properties"]["code"]
        assert not any(site.intersects(e) for e in exclusions)
        if f["properties"]["kind"] == "spray_target":
            assert not any(site.intersects(n) for n in no_spray)


def test_coordinates_are_rounded_to_seven_decimals() -> None:
    for path in (GRIDS_PATH, ZONES_PATH, SITES_PATH):
        decimals = re.findall(r"\d+\.(\d+)", path.read_text(encoding="utf-8"))
        assert decimals
        assert max(len(d) for d in decimals) <= 7, path


def test_checkpoint_points_are_not_inside_exclusions() -> None:
    points = [shape(f["geometry"]) for f in sites() if f["properties"]["kind"] == "checkpoint"]
    assert all(isinstance(p, Point) for p in points)
    exclusion = shapely.union_all(
        [z.zone.local_shape(FRAME) for z in zones() if z.zone.kind is ZoneKind.EXCLUSION]
    )
    assert not any(exclusion.contains(FRAME.to_local(p)) for p in points)
