"""Plans over their work limits are refused before planning, for every kind and both entry points.

Each refusal is a 422 ``plan_too_large`` naming the request field to change and the limit
(``max_lanes``, ``max_hover_points``, ``max_vertices``, ``max_items``, ``max_items_per_sortie``).
The per-plan limits are only ever checked on the estimate from the inputs, so a refusal with one
of them shows that no worker planned anything.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.services.sample import sample_document
from tests.conftest import auth, wipe_district

SPRAYER = {"tank_l": 10, "flow_l_per_min": 1.5, "swath_m": 5}


@pytest.fixture
async def district(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, Any]:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    for name, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
        assert (await client.post(path, json=sample_document(name), headers=admin)).status_code == 200
    grids = {g["properties"]["code"]: g for g in sample_document("grids")["features"]}
    return {"operator": auth(role_tokens["operator"]), "viewer": auth(role_tokens["viewer"]), "grids": grids}


def sites_of(kind: str, code: str) -> tuple[dict[str, Any], str]:
    feature = next(f for f in sample_document("sites")["features"] if f["properties"]["code"] == code)
    assert feature["properties"]["kind"] == kind
    return {"type": "FeatureCollection", "features": [feature]}, feature["properties"]["grid_code"]


def home_of(grid: dict[str, Any]) -> dict[str, float]:
    c = shape(grid["geometry"]).representative_point()
    return {"lon_deg": c.x, "lat_deg": c.y}


def refusal(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "plan_too_large", body
    assert set(body) == {"code", "message", "details"}
    detail: dict[str, Any] = body["details"][0]
    assert detail["estimate"] > detail["limit_value"]
    assert detail["field"] in body["message"] and str(detail["limit_value"]) in body["message"]
    return detail


async def test_coverage_with_a_2cm_swath_is_refused_for_its_lanes(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    code, grid = next(iter(district["grids"].items()))
    req = {"kind": "coverage", "grid_codes": [code], "home": home_of(grid), "swath_m": 0.02}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"], detail["limit_value"]) == ("swath_m", "max_lanes", 4000)


async def test_coverage_with_a_tiny_camera_footprint_is_refused_naming_the_camera(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    code, grid = next(iter(district["grids"].items()))
    camera = {
        "sensor_width_mm": 13.2,
        "sensor_height_mm": 8.8,
        "focal_length_mm": 800,
        "image_width_px": 5472,
        "image_height_px": 3648,
    }
    req = {"kind": "coverage", "grid_codes": [code], "home": home_of(grid), "camera": camera, "alt_m": 5}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"]) == ("camera", "max_lanes")


async def test_a_route_too_long_for_one_arducopter_mission_needs_a_battery_split(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    codes = sorted(district["grids"])[:20]
    home = home_of(district["grids"][codes[0]])
    req: dict[str, Any] = {"kind": "coverage", "grid_codes": codes, "home": home, "swath_m": 10}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"], detail["limit_value"]) == ("swath_m", "max_items_per_sortie", 700)


async def test_broadcast_with_a_tiny_audible_radius_is_refused_for_its_hover_points(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    code, grid = next(iter(district["grids"].items()))
    req = {"kind": "broadcast", "grid_codes": [code], "home": home_of(grid)}
    req["broadcast"] = {"audible_radius_m": 5}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"], detail["limit_value"]) == ("broadcast", "max_hover_points", 300)


async def test_spray_with_a_1cm_swath_is_refused_naming_the_sprayer(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    targets, grid_code = sites_of("spray_target", "HB-ST-02")
    req = {"kind": "spray", "grid_codes": [grid_code], "home": home_of(district["grids"][grid_code])}
    req |= {"targets": targets, "sprayer": {**SPRAYER, "swath_m": 0.01}}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"]) == ("sprayer", "max_lanes")


async def test_inspection_photographing_every_thousandth_degree_is_refused(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    sites, grid_code = sites_of("key_site", "HB-KS-04")
    req = {"kind": "inspect", "grid_codes": [grid_code], "home": home_of(district["grids"][grid_code])}
    req |= {"sites": sites, "inspection": {"photo_step_deg": 0.001}}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"]) == ("inspection.photo_step_deg", "max_items")


async def test_more_checkpoints_than_hover_points_allowed_are_refused(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    doc, grid_code = sites_of("checkpoint", "HB-CP-01")
    template = doc["features"][0]
    lon, lat = template["geometry"]["coordinates"]
    doc["features"] = [
        {
            **template,
            "properties": {**template["properties"], "code": f"CP-{n}"},
            "geometry": {"type": "Point", "coordinates": [lon + 1e-5 * (n % 20), lat + 1e-5 * (n // 20)]},
        }
        for n in range(301)
    ]
    req = {"kind": "checkpoint", "grid_codes": [grid_code], "home": home_of(district["grids"][grid_code])}
    req |= {"checkpoints": doc, "battery": {"capacity_wh": 500}}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"], detail["limit_value"]) == ("checkpoints", "max_hover_points", 300)


async def test_perimeter_is_bounded_by_the_vertices_of_its_grids(
    client: httpx.AsyncClient, district: dict[str, Any], pool: asyncpg.Pool
) -> None:
    code, grid = next(iter(district["grids"].items()))
    ring = shape(grid["geometry"]).exterior
    dense = [ring.interpolate(k / 20_001, normalized=True) for k in range(20_001)]
    boundary = {"type": "Polygon", "coordinates": [[(p.x, p.y) for p in [*dense, dense[0]]]]}
    async with pool.acquire() as conn:
        await conn.execute("UPDATE grids SET boundary = $1::jsonb WHERE code = $2", boundary, code)
    req = {"kind": "perimeter", "grid_codes": [code], "home": home_of(grid)}
    detail = refusal(await client.post("/missions/plan", json=req, headers=district["viewer"]))
    assert (detail["field"], detail["limit"], detail["limit_value"]) == ("grid_codes", "max_vertices", 20_000)


async def test_creating_an_over_limit_mission_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, district: dict[str, Any], pool: asyncpg.Pool
) -> None:
    code, grid = next(iter(district["grids"].items()))
    req = {"name": "too fine", "kind": "coverage", "grid_codes": [code], "home": home_of(grid), "swath_m": 0.02}
    detail = refusal(await client.post("/missions", json=req, headers=district["operator"]))
    assert detail["limit"] == "max_lanes"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM missions") == 0


async def test_a_grid_named_twice_in_one_plan_is_refused(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    code, grid = next(iter(district["grids"].items()))
    req = {"kind": "coverage", "grid_codes": [code, code, code], "home": home_of(grid), "swath_m": 40}
    for path, headers in (("/missions/plan", district["viewer"]), ("/missions", district["operator"])):
        body_in = req if path.endswith("/plan") else {**req, "name": "thrice"}
        r = await client.post(path, json=body_in, headers=headers)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "validation_failed"
        assert [d["field"] for d in body["details"]] == ["body.grid_codes"]
        assert code in body["details"][0]["problem"]
    req["grid_codes"] = [code]
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 200, r.text
