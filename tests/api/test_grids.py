"""Grid import and export through the API on a real PostgreSQL."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import asyncpg
import httpx
import pytest

from geofences.crs import wgs84_to_gcj02
from geofences.frame import LocalFrame
from tests.conftest import auth, wipe_district

LON0, LAT0 = 120.540, 31.490


def square(lon: float, lat: float, size_deg: float = 0.003, *, clockwise: bool = False) -> list[list[float]]:
    ring = [
        [lon, lat],
        [lon + size_deg, lat],
        [lon + size_deg, lat + size_deg],
        [lon, lat + size_deg],
        [lon, lat],
    ]
    return ring[::-1] if clockwise else ring


def grid(code: str, ring: list[list[float]], **props: Any) -> dict[str, Any]:
    base = {
        "code": code,
        "name": f"网格 {code}",
        "community_code": "C1",
        "community_name": "湖滨社区",
        "street_code": "ST",
        "street_name": "湖滨街道",
    }
    base.update(props)
    return {"type": "Feature", "properties": base, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def collection(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **extra}


async def grid_count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval("SELECT count(*) FROM grids")
        return n


@pytest.fixture
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str]) -> dict[str, str]:
    await wipe_district(pool)
    return auth(role_tokens["admin"])


async def test_import_then_export_round_trips_and_filters(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    doc = collection(
        grid("G1", square(LON0, LAT0)),
        grid("G2", square(LON0 + 0.003, LAT0)),
        grid("G3", square(LON0, LAT0 + 0.003), community_code="C2", community_name="渔港村"),
    )
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "imported": 3,
        "created": 3,
        "updated": 0,
        "overlaps": [],
        "warnings": [],
    }
    r = await client.get("/grids", headers=admin)
    codes = [f["properties"]["code"] for f in r.json()["features"]]
    assert codes == ["G1", "G2", "G3"]
    r = await client.get("/grids", params={"community": "C2"}, headers=admin)
    assert [f["properties"]["code"] for f in r.json()["features"]] == ["G3"]
    one = (await client.get("/grids/G1", headers=admin)).json()
    assert one["properties"]["street_name"] == "湖滨街道"
    assert one["geometry"]["coordinates"][0][0] == [LON0, LAT0]
    area = one["properties"]["area_m2"]
    assert 90_000 < area < 110_000  # 0.003 deg square at 31.5 N: ~285 m x 333 m


async def test_reimport_is_idempotent(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    doc = collection(grid("G1", square(LON0, LAT0)), grid("G2", square(LON0 + 0.003, LAT0)))
    assert (await client.post("/grids/import", json=doc, headers=admin)).status_code == 200
    async with pool.acquire() as conn:
        before = [dict(r) for r in await conn.fetch("SELECT * FROM grids ORDER BY code")]
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.json()["created"] == 0 and r.json()["updated"] == 2
    async with pool.acquire() as conn:
        after = [dict(r) for r in await conn.fetch("SELECT * FROM grids ORDER BY code")]
    assert after == before  # same rows, same updated_at: nothing rewritten


async def test_reimport_with_changes_updates_in_place(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post("/grids/import", json=collection(grid("G1", square(LON0, LAT0))), headers=admin)
    changed = collection(grid("G1", square(LON0, LAT0, 0.004), name="新名字", worker_name="王芳"))
    r = await client.post("/grids/import", json=changed, headers=admin)
    assert r.json()["updated"] == 1
    got = (await client.get("/grids/G1", headers=admin)).json()
    assert got["properties"]["name"] == "新名字" and got["properties"]["worker_name"] == "王芳"
    assert got["geometry"]["coordinates"][0][2] == pytest.approx([LON0 + 0.004, LAT0 + 0.004], abs=1e-9)


async def test_clockwise_ring_is_stored_counter_clockwise(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/grids/import", json=collection(grid("CW", square(LON0, LAT0, clockwise=True))), headers=admin
    )
    assert r.status_code == 200, r.text
    ring = (await client.get("/grids/CW", headers=admin)).json()["geometry"]["coordinates"][0]
    signed = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    assert signed > 0  # counter-clockwise exterior (RFC 7946 right-hand rule)


async def test_gcj02_import_lands_within_half_a_metre(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    wgs = square(LON0, LAT0)
    gcj = [list(wgs84_to_gcj02(lon, lat)) for lon, lat in wgs]
    shift_m = math.dist(*(LocalFrame.for_lonlat(LON0, LAT0).xy(*p) for p in (wgs[0], gcj[0])))
    assert shift_m > 100  # the GCJ-02 offset here is hundreds of metres: the test would notice no conversion
    r = await client.post(
        "/grids/import", json=collection(grid("GCJ", gcj)), params={"crs": "GCJ02"}, headers=admin
    )
    assert r.status_code == 200, r.text
    stored = (await client.get("/grids/GCJ", headers=admin)).json()["geometry"]["coordinates"][0]
    frame = LocalFrame.for_lonlat(LON0, LAT0)
    for got, want in zip(sorted(map(tuple, stored)), sorted(map(tuple, wgs)), strict=True):
        assert math.dist(frame.xy(*got), frame.xy(*want)) < 0.5


async def test_overlapping_grids_are_reported(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await client.post("/grids/import", json=collection(grid("A", square(LON0, LAT0))), headers=admin)
    r = await client.post(
        "/grids/import", json=collection(grid("B", square(LON0 + 0.0015, LAT0))), headers=admin
    )
    body = r.json()
    assert [(o["code_a"], o["code_b"]) for o in body["overlaps"]] in ([("A", "B")], [("B", "A")])
    assert 40_000 < body["overlaps"][0]["area_m2"] < 55_000  # half of the ~95,000 m² square
    assert "overlap" in body["warnings"][0]


def _bad_documents() -> dict[str, tuple[object, str]]:
    good = grid("OK", square(LON0, LAT0))
    unclosed = square(LON0 + 0.01, LAT0)[:-1]
    bowtie = [
        [LON0, LAT0],
        [LON0 + 0.003, LAT0 + 0.003],
        [LON0 + 0.003, LAT0],
        [LON0, LAT0 + 0.003],
        [LON0, LAT0],
    ]
    many = [
        [LON0 + 0.002 * math.cos(2 * math.pi * i / 10_001), LAT0 + 0.002 * math.sin(2 * math.pi * i / 10_001)]
        for i in range(10_001)
    ]
    many.append(many[0])
    return {
        "unclosed ring": (collection(good, grid("BAD", unclosed)), "closed"),
        "too few points": (
            collection(good, grid("BAD", [[LON0, LAT0], [LON0 + 0.01, LAT0], [LON0, LAT0]])),
            "4",
        ),
        "longitude out of range": (collection(good, grid("BAD", square(190.0, LAT0))), "longitude"),
        "apparently swapped": (
            collection(good, grid("BAD", [[lat, lon] for lon, lat in square(LON0, LAT0)])),
            "looks like [lat lon]",
        ),
        "self-intersection": (collection(good, grid("BAD", bowtie)), "intersect"),
        "empty geometry": (
            collection(good, {**grid("BAD", []), "geometry": {"type": "Polygon", "coordinates": []}}),
            "empty",
        ),
        "duplicate codes": (collection(good, grid("OK", square(LON0 + 0.01, LAT0))), "duplicate"),
        "too many vertices": (collection(good, grid("BAD", many)), "10000"),
    }


@pytest.mark.parametrize("case", list(_bad_documents()))
async def test_bad_input_is_422_naming_feature_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, case: str
) -> None:
    doc, needle = _bad_documents()[case]
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    problem = body["details"][0]
    assert problem["index"] == 1, body
    assert problem["code"] in ("BAD", "OK")
    text = (body["message"] + " ".join(d["problem"] for d in body["details"])).lower().replace(",", "")
    assert needle.lower() in text, body
    assert await grid_count(pool) == 0


async def test_nan_coordinate_is_422_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    doc = json.dumps(collection(grid("OK", square(LON0, LAT0)), grid("NAN", square(LON0 + 0.01, LAT0))))
    doc = doc.replace(str(LAT0 + 0.003), "NaN", 1)
    r = await client.post("/grids/import", content=doc, headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["index"] == 0
    assert await grid_count(pool) == 0


async def test_body_over_size_limit_is_rejected_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, app: Any
) -> None:
    limit = app.state.settings.max_body_bytes
    padding = "x" * (limit + 1)
    doc = collection(grid("OK", square(LON0, LAT0), name="big"), padding=padding)
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large" and str(limit) in r.json()["message"]
    assert await grid_count(pool) == 0


async def test_not_a_feature_collection_is_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post("/grids/import", json={"type": "Feature"}, headers=admin)
    assert r.status_code == 422
    assert "FeatureCollection" in r.json()["message"]


async def test_sample_district_imports_cleanly(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    from app.services.sample import sample_document

    r = await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] >= 30 and r.json()["overlaps"] == []
    r = await client.post("/geofences/import", json=sample_document("zones"), headers=admin)
    assert r.status_code == 200, r.text
    communities = (await client.get("/communities", headers=admin)).json()
    assert len(communities) >= 5 and all(c["grid_count"] > 0 for c in communities)


async def test_scoped_admin_cannot_take_over_another_communitys_grid(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    other = grid("G9", square(LON0, LAT0), community_code="C2", community_name="渔港村")
    assert (await client.post("/grids/import", json=collection(other), headers=admin)).status_code == 200
    r = await client.post(
        "/tokens", json={"name": "c1", "role": "admin", "communities": ["C1"]}, headers=admin
    )
    scoped = auth(r.json()["token"])
    takeover = grid("G9", square(LON0 + 0.01, LAT0), name="mine now")  # community C1, code of C2's grid
    r = await client.post("/grids/import", json=collection(takeover), headers=scoped)
    assert r.status_code == 403 and "G9" in r.json()["message"]
    got = (await client.get("/grids/G9", headers=admin)).json()
    assert got["properties"]["community_code"] == "C2" and got["properties"]["name"] == "网格 G9"
    r = await client.post(
        "/grids/import", json=collection(grid("G1", square(LON0, LAT0 + 0.01))), headers=scoped
    )
    assert r.status_code == 200
