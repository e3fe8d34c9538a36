"""Field kinds through the API on the sample district: spray, inspect and checkpoint plans, stored and exported."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import asyncpg
import httpx
import pytest

from app.services.sample import sample_document
from missions.export import read_mission
from missions.items import MavCmd
from missions.serialize import items_from_list
from tests.conftest import auth, wipe_district

HOME = {"lon_deg": 120.54, "lat_deg": 31.49}
SPRAYER = {"tank_l": 10, "flow_l_per_min": 1.5, "swath_m": 5}


@pytest.fixture
async def district(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, Any]:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    for name, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
        assert (await client.post(path, json=sample_document(name), headers=admin)).status_code == 200
    return {"admin": admin, "operator": auth(role_tokens["operator"]), "viewer": auth(role_tokens["viewer"])}


def sites_of(kind: str, *codes: str) -> tuple[dict[str, Any], list[str]]:
    """A FeatureCollection of the sample sites of ``kind`` (those in ``codes``, or all) and their grids."""
    features = [
        f
        for f in sample_document("sites")["features"]
        if f["properties"]["kind"] == kind and (not codes or f["properties"]["code"] in codes)
    ]
    grids = sorted({f["properties"]["grid_code"] for f in features})
    return {"type": "FeatureCollection", "features": features}, grids


def items_of(body: dict[str, Any], sortie: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body["sorties"][sortie]["items"]
    return items


async def test_spray_preview_reports_litres_area_and_sorties(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    targets, grids = sites_of("spray_target", "HB-ST-02", "HB-ST-06")
    req = {"kind": "spray", "grid_codes": grids, "home": HOME, "alt_m": 30, "speed_mps": 5}
    req |= {"targets": targets, "sprayer": SPRAYER, "battery": {"capacity_wh": 180}}
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["kind"] == "spray"
    stats = body["stats"]
    assert stats["litres"] > 0 and stats["sprayed_area_m2"] > 10_000 and stats["coverage_pct"] >= 99
    assert stats["sorties"] == len(body["sorties"]) >= 2  # ~15 L of liquid, a 10 L tank
    sprayer = [i["param1"] for s in range(stats["sorties"]) for i in items_of(body, s) if i["command"] == 216]
    assert sprayer[:2] == [1.0, 0.0] and sprayer.count(1.0) == sprayer.count(0.0)


async def test_spray_takes_the_drones_sprayer_and_needs_one(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    targets, grids = sites_of("spray_target", "HB-ST-05")
    req = {"kind": "spray", "grid_codes": grids, "home": HOME, "targets": targets}
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "sprayer"
    drone = {
        "name": "HB-SPRAY-01",
        "kind": "sim",
        "endpoint": "udpout:127.0.0.1:14551",
        "sysid": 3,
        "home": {**HOME, "alt_m": 3.0},
        "capabilities": {"sprayer": {"tank_l": 30, "flow_l_per_min": 2, "swath_m": 6}, "battery_wh": 500},
    }
    r = await client.post("/drones", json=drone, headers=district["admin"])
    assert r.status_code == 201, r.text
    req = {"kind": "spray", "grid_codes": grids, "drone_id": r.json()["id"], "targets": targets}
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 200, r.text
    assert r.json()["stats"]["swath_m"] == 6 and r.json()["stats"]["sorties"] == 1


async def test_inspect_store_and_export_keep_the_roi_on_each_site(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    sites, grids = sites_of("key_site", "HB-KS-04", "HB-KS-05")
    req = {
        "name": "key sites",
        "kind": "inspect",
        "grid_codes": grids,
        "home": HOME,
        "alt_m": 40,
        "sites": sites,
    }
    req["inspection"] = {"photo_step_deg": 45}
    r = await client.post("/missions", json=req, headers=district["operator"])
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["stats"]["photos"] == 16 and created["stats"]["orbits"] == 2
    items = items_from_list([{k: v for k, v in i.items() if k != "seq"} for i in items_of(created)])
    commands = [i.command for i in items]
    assert commands.count(MavCmd.DO_SET_ROI_LOCATION) == commands.count(MavCmd.DO_SET_ROI_NONE) == 2
    mission = f"/missions/{created['id']}/export"
    r = await client.get(mission, params={"format": "waypoints"}, headers=district["viewer"])
    assert read_mission(r.text, ".waypoints").items == items
    r = await client.get(mission, params={"format": "plan"}, headers=district["viewer"])
    assert read_mission(r.text, ".plan").items[1:] == items[1:]
    r = await client.get(mission, params={"format": "kmz"}, headers=district["viewer"])
    assert "wpmz/waylines.wpml" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    r = await client.get(mission, params={"format": "geojson"}, headers=district["viewer"])
    assert r.json()["type"] == "FeatureCollection"


async def test_checkpoint_preview_reports_arrival_times(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    points, grids = sites_of("checkpoint", "HB-CP-01", "HB-CP-02", "HB-CP-06")
    points["features"][1]["properties"]["latest_s"] = 10  # cannot be reached that soon
    req = {"kind": "checkpoint", "grid_codes": grids, "home": HOME, "alt_m": 40, "checkpoints": points}
    req["checkpoint"] = {"order": "given", "hover_s": 15}
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 200, r.text
    body = r.json()
    arrivals = body["stats"]["arrivals"]
    assert [a["code"] for a in arrivals] == ["HB-CP-01", "HB-CP-02", "HB-CP-06"]
    assert 0 < arrivals[0]["arrival_s"] < arrivals[1]["arrival_s"] < arrivals[2]["arrival_s"]
    assert body["ok"] is False and [v["kind"] for v in body["violations"]] == ["time_window"]
    holds = [i["param1"] for i in items_of(body) if i["command"] == MavCmd.NAV_LOITER_TIME]
    assert holds == [60, 60, 20]


@pytest.mark.parametrize(
    ("kind", "document", "field"),
    [
        ("spray", None, "targets"),
        ("inspect", {"type": "FeatureCollection", "features": [{"type": "Feature"}]}, "sites.features/0"),
        ("checkpoint", {"type": "FeatureCollection", "features": []}, "checkpoints"),
        ("spray", "outside", "targets"),
    ],
)
async def test_bad_field_requests_are_422_naming_the_field(
    client: httpx.AsyncClient, district: dict[str, Any], kind: str, document: Any, field: str
) -> None:
    name = {"spray": "targets", "inspect": "sites", "checkpoint": "checkpoints"}[kind]
    req: dict[str, Any] = {"kind": kind, "grid_codes": ["HB-01-01"], "home": HOME, "sprayer": SPRAYER}
    if document == "outside":  # a target in another grid than those named
        document, _ = sites_of("spray_target", "HB-ST-01")
    if document is not None:
        req[name] = document
    r = await client.post("/missions/plan", json=req, headers=district["viewer"])
    assert r.status_code == 422, r.text
    assert any(d["field"].startswith(field) for d in r.json()["details"]), r.json()
