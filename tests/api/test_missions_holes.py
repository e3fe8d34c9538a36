"""`avoid_holes` through the API: a holed grid is crossed with the camera off unless it is set."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import asyncpg
import httpx
import shapely
from shapely.affinity import translate
from shapely.geometry import LineString, Polygon, box

from app.services.sample import sample_document
from geofences.frame import LocalFrame
from missions.items import MavCmd, MissionItem
from missions.serialize import items_from_list
from tests.conftest import auth, wipe_district

FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)
HOLE_M = box(145, 145, 245, 245)
GRID_M = Polygon(box(0, 0, 390, 390).exterior.coords, [HOLE_M.exterior.coords])  # 9.75 swaths


def holed_grid_document() -> dict[str, Any]:
    feature = copy.deepcopy(sample_document("grids")["features"][0])
    feature["geometry"] = shapely.geometry.mapping(FRAME.to_wgs84(translate(GRID_M, *ORIGIN)))
    return {"type": "FeatureCollection", "features": [feature]}


def legs_m(items: Sequence[MissionItem]) -> list[LineString]:
    pts = []
    for item in items[1:]:
        if item.command == MavCmd.NAV_WAYPOINT:
            x, y = FRAME.xy(item.y / 1e7, item.x / 1e7)
            pts.append((x - ORIGIN[0], y - ORIGIN[1]))
    return [LineString([a, b]) for a, b in pairwise(pts) if a != b]


async def test_avoid_holes_is_planned_through_the_api(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> None:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    doc = holed_grid_document()
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    home = FRAME.lonlat(ORIGIN[0] - 30.0, ORIGIN[1] - 30.0)
    req = {
        "kind": "coverage",
        "grid_codes": [doc["features"][0]["properties"]["code"]],
        "home": {"lon_deg": home[0], "lat_deg": home[1]},
        "swath_m": 40,
    }
    inner_hole = HOLE_M.buffer(-1.0)
    plans = {}
    for avoid in (False, True):
        r = await client.post("/missions/plan", json={**req, "avoid_holes": avoid}, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] is True and body["stats"]["coverage_pct"] >= 99.5
        items = items_from_list([{k: v for k, v in i.items() if k != "seq"} for i in body["sorties"][0]["items"]])
        plans[avoid] = (body["stats"]["length_m"], any(leg.intersects(inner_hole) for leg in legs_m(items)))
    assert plans[False][1] and not plans[True][1]  # crossed by default, avoided when asked
    assert plans[False][0] < plans[True][0]


async def test_avoid_holes_must_be_a_boolean(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> None:
    req = {"kind": "coverage", "grid_codes": ["HB-01-01"], "swath_m": 40, "avoid_holes": "sometimes",
           "home": {"lon_deg": 120.54, "lat_deg": 31.49}}  # fmt: skip
    r = await client.post("/missions/plan", json=req, headers=auth(role_tokens["admin"]))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] and body["message"]
    assert any("avoid_holes" in str(d) for d in body["details"])
