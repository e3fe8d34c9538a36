"""`area` in coverage plans (a part of the grid to cover) and the coverage routes of a grid never flown."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from shapely.affinity import translate
from shapely.geometry import box, mapping, shape

from app.services.sample import sample_document
from geofences.frame import LocalFrame
from tests.conftest import auth, wipe_district


@pytest.fixture
async def district(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, Any]:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    assert (
        await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    ).status_code == 200
    grid = max(sample_document("grids")["features"], key=lambda g: shape(g["geometry"]).area)
    return {"viewer": auth(role_tokens["viewer"]), "operator": auth(role_tokens["operator"]), "grid": grid}


def request(grid: dict[str, Any], **extra: Any) -> dict[str, Any]:
    c = shape(grid["geometry"]).representative_point()
    return {
        "kind": "coverage",
        "grid_codes": [grid["properties"]["code"]],
        "home": {"lon_deg": c.x, "lat_deg": c.y},
        "swath_m": 30,
        "alt_m": 50,
        **extra,
    }


def west_half(grid: dict[str, Any]) -> Any:
    g = shape(grid["geometry"])
    x0, y0, x1, y1 = g.bounds
    return g.intersection(box(x0, y0, (x0 + x1) / 2, y1))


def geojson(geom: Any) -> dict[str, Any]:
    m = mapping(geom)
    return {"type": m["type"], "coordinates": m["coordinates"]}


def area_m2(geom: Any) -> float:
    return float(LocalFrame.for_geometry(geom).to_local(geom).area)


async def test_coverage_plan_of_an_area_covers_that_part_only(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    half = west_half(district["grid"])
    whole = await client.post("/missions/plan", json=request(district["grid"]), headers=district["viewer"])
    part = await client.post(
        "/missions/plan", json=request(district["grid"], area=geojson(half)), headers=district["viewer"]
    )
    assert whole.status_code == 200 and part.status_code == 200, part.text
    assert part.json()["stats"]["area_m2"] == pytest.approx(area_m2(half), rel=1e-3)
    assert part.json()["stats"]["length_m"] < whole.json()["stats"]["length_m"]
    footprints = next(
        f for f in part.json()["geojson"]["features"] if f["properties"].get("kind") == "footprints"
    )
    frame = LocalFrame.for_geometry(half)
    covered = frame.to_local(shape(footprints["geometry"])).buffer(0)
    assert covered.intersection(frame.to_local(half)).area >= 0.99 * frame.to_local(half).area


@pytest.mark.parametrize(
    ("area", "field"),
    [
        ({"type": "Point", "coordinates": [120.5, 31.5]}, "area.type"),
        (
            {"type": "Polygon", "coordinates": [[[120.5, 31.5], [120.6, 31.5], [120.5, 31.6]]]},
            "area.coordinates.0",
        ),
        ({"type": "Polygon", "coordinates": "nope"}, "area.coordinates"),
    ],
)
async def test_malformed_area_is_422_naming_it(
    client: httpx.AsyncClient, district: dict[str, Any], area: dict[str, Any], field: str
) -> None:
    r = await client.post(
        "/missions/plan", json=request(district["grid"], area=area), headers=district["viewer"]
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["details"][0]["field"] == field


@pytest.mark.parametrize("where", ["poking-out", "whole-world"])
async def test_area_reaching_outside_the_grid_is_422_naming_area(
    client: httpx.AsyncClient, district: dict[str, Any], where: str
) -> None:
    if where == "poking-out":
        area = translate(west_half(district["grid"]), xoff=0.001)  # about 100 m east
        assert area_m2(area.difference(shape(district["grid"]["geometry"]))) > 100
    else:
        area = box(-180, -90, 180, 90)
    r = await client.post(
        "/missions/plan", json=request(district["grid"], area=geojson(area)), headers=district["viewer"]
    )
    assert r.status_code == 422, r.text
    assert r.json()["details"] == [{"field": "area", "problem": r.json()["details"][0]["problem"]}]
    assert "outside the grids" in r.json()["message"]


async def test_area_only_for_coverage(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    body = {**request(district["grid"], area=geojson(west_half(district["grid"]))), "kind": "perimeter"}
    body.pop("swath_m")
    r = await client.post("/missions/plan", json=body, headers=district["viewer"])
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == "area"


async def test_grid_never_patrolled_reports_the_whole_grid_unseen(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    code = district["grid"]["properties"]["code"]
    r = await client.get(f"/grids/{code}/coverage", headers=district["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["last_patrolled_at"] is None and body["seen_share"] is None and body["patrol"] is None
    grid = shape(district["grid"]["geometry"])
    assert shape(body["unseen"]).symmetric_difference(grid).area < 1e-10  # equal but for 7-decimal rounding
    assert (await client.get(f"/grids/{code}/patrols", headers=district["viewer"])).json() == []


async def test_coverage_of_an_unknown_grid_is_404(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    for path in ("/grids/NOPE-1/coverage", "/grids/NOPE-1/patrols"):
        r = await client.get(path, headers=district["viewer"])
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "not_found"


async def test_stored_mission_keeps_its_area_and_plans_only_that_part(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    half = west_half(district["grid"])
    body = {"name": "gap", **request(district["grid"], area=geojson(half))}
    r = await client.post("/missions", json=body, headers=district["operator"])
    assert r.status_code == 201, r.text
    assert r.json()["stats"]["area_m2"] == pytest.approx(area_m2(half), rel=1e-3)
    stored = (await client.get(f"/missions/{r.json()['id']}", headers=district["viewer"])).json()
    assert shape(stored["request"]["area"]).equals(half)


async def test_work_limits_are_estimated_on_the_area_not_the_whole_grid(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    g = shape(district["grid"]["geometry"])
    x0, y0, x1, y1 = g.bounds
    strip = g.intersection(box(x0, y0, x0 + (x1 - x0) * 0.02, y1))  # a narrow strip along the west edge
    fine = {"swath_m": 0.05}  # far more lanes than AEROGRID_PLAN_MAX_LANES over the whole grid
    r = await client.post(
        "/missions/plan", json=request(district["grid"], **fine), headers=district["viewer"]
    )
    assert r.status_code == 422 and r.json()["code"] == "plan_too_large", r.text
    r = await client.post(
        "/missions/plan",
        json=request(district["grid"], area=geojson(strip), **fine),
        headers=district["viewer"],
    )
    assert r.status_code == 200, r.text
