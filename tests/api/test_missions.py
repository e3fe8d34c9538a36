"""Planning through the API on the sample district: preview, store, export, refusal of violations."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import asyncpg
import httpx
import pytest

from app.services.sample import sample_document
from missions.export import read_mission
from missions.serialize import items_from_list
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
    assert (
        await client.post("/geofences/import", json=sample_document("zones"), headers=admin)
    ).status_code == 200
    grids = sample_document("grids")["features"]
    return {
        "admin": admin,
        "operator": auth(role_tokens["operator"]),
        "viewer": auth(role_tokens["viewer"]),
        "grids": grids,
    }


def home_of(grid: dict[str, Any]) -> dict[str, float]:
    ring = grid["geometry"]["coordinates"][0]
    return {"lon_deg": ring[0][0], "lat_deg": ring[0][1]}


async def test_coverage_preview_reports_stats_items_and_geojson(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    g = district["grids"][0]
    req = {
        "kind": "coverage",
        "grid_codes": [g["properties"]["code"]],
        "home": home_of(g),
        "swath_m": 40,
        "alt_m": 60,
    }
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["violations"] == []
    assert body["stats"]["coverage_pct"] >= 99.5
    items = body["sorties"][0]["items"]
    assert items[0]["seq"] == 0 and items[1]["command"] == 22  # home, then NAV_TAKEOFF
    assert items[-1]["command"] == 20  # RETURN_TO_LAUNCH
    assert max(i["z"] for i in items) <= 120
    assert body["geojson"]["type"] == "FeatureCollection"


async def test_broadcast_preview_counts_hover_points(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    g = district["grids"][1]
    req = {
        "kind": "broadcast",
        "grid_codes": [g["properties"]["code"]],
        "home": home_of(g),
        "alt_m": 40,
        "broadcast": {"message_s": 20, "repeats": 2, "audible_radius_m": 150},
    }
    body = (await client.post("/missions/plan", json=req, headers=district["viewer"])).json()
    assert body["stats"]["hover_points"] >= 1
    loiters = [i for i in body["sorties"][0]["items"] if i["command"] == 19]
    assert loiters and all(i["param1"] == 40 for i in loiters)


async def test_store_then_export_round_trips(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    g = district["grids"][2]
    req = {
        "name": "patrol",
        "kind": "coverage",
        "grid_codes": [g["properties"]["code"]],
        "home": home_of(g),
        "swath_m": 50,
    }
    r = await client.post("/missions", json=req, headers=district["operator"])
    assert r.status_code == 201, r.text
    mission_id = r.json()["id"]
    stored = (await client.get(f"/missions/{mission_id}", headers=district["viewer"])).json()
    items = items_from_list(
        [{k: v for k, v in i.items() if k != "seq"} for i in stored["sorties"][0]["items"]]
    )
    r = await client.get(
        f"/missions/{mission_id}/export", params={"format": "waypoints"}, headers=district["viewer"]
    )
    assert r.status_code == 200
    assert read_mission(r.text, ".waypoints").items == items
    r = await client.get(
        f"/missions/{mission_id}/export", params={"format": "plan"}, headers=district["viewer"]
    )
    assert read_mission(r.text, ".plan").items[1:] == items[1:]
    r = await client.get(
        f"/missions/{mission_id}/export", params={"format": "kmz"}, headers=district["viewer"]
    )
    assert zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    r = await client.get(f"/missions/{mission_id}/export", params={"sortie": 5}, headers=district["viewer"])
    assert r.status_code == 422 and "sortie" in r.json()["message"]
    listed = (await client.get("/missions", headers=district["viewer"])).json()
    assert [m["id"] for m in listed] == [mission_id]


async def test_plan_above_the_ceiling_is_refused_with_violations(
    client: httpx.AsyncClient, district: dict[str, Any], pool: asyncpg.Pool
) -> None:
    g = district["grids"][0]
    req = {
        "name": "too high",
        "kind": "coverage",
        "grid_codes": [g["properties"]["code"]],
        "home": home_of(g),
        "swath_m": 40,
        "alt_m": 150,
    }
    plan_req = {k: v for k, v in req.items() if k != "name"}
    preview = (await client.post("/missions/plan", json=plan_req, headers=district["viewer"])).json()
    assert preview["ok"] is False
    assert {v["kind"] for v in preview["violations"]} >= {"above_ceiling"}
    r = await client.post("/missions", json=req, headers=district["operator"])
    assert r.status_code == 422 and r.json()["code"] == "plan_violations"
    assert r.json()["details"][0]["kind"] in {"above_ceiling", "outside_inclusion", "above_max_alt"}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM missions") == 0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"grid_codes": []}, "grid_codes"),
        ({"alt_m": -5}, "alt_m"),
        ({"kind": "teleport"}, "kind"),
        (
            {
                "swath_m": 40,
                "camera": {
                    "sensor_width_mm": 13.2,
                    "sensor_height_mm": 8.8,
                    "focal_length_mm": 8.8,
                    "image_width_px": 5472,
                    "image_height_px": 3648,
                },
            },
            "body",
        ),
    ],
)
async def test_bad_plan_request_is_422(
    client: httpx.AsyncClient, district: dict[str, Any], over: dict[str, Any], field: str
) -> None:
    g = district["grids"][0]
    req = {"kind": "coverage", "grid_codes": [g["properties"]["code"]], "home": home_of(g), **over}
    if "swath_m" not in req and "camera" not in req:
        req["swath_m"] = 40
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 422, r.text
    assert any(field in d["field"] for d in r.json()["details"]), r.json()


async def test_unknown_grid_is_404(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    req = {
        "kind": "coverage",
        "grid_codes": ["NOPE"],
        "home": {"lon_deg": 120.54, "lat_deg": 31.49},
        "swath_m": 40,
    }
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 404 and "NOPE" in r.json()["message"]


async def test_missing_home_without_drone_is_422(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    g = district["grids"][0]
    req = {"kind": "coverage", "grid_codes": [g["properties"]["code"]], "swath_m": 40}
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "home"
    assert json.loads(r.text)["code"] == "validation_failed"
