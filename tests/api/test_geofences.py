"""Geofence CRUD, import atomicity and the ceiling on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import auth, wipe_district

LON0, LAT0 = 120.54, 31.49


def polygon_zone(code: str, kind: str = "exclusion", **props: Any) -> dict[str, Any]:
    ring = [
        [LON0, LAT0],
        [LON0 + 0.001, LAT0],
        [LON0 + 0.001, LAT0 + 0.001],
        [LON0, LAT0 + 0.001],
        [LON0, LAT0],
    ]
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"zone {code}", "kind": kind, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def circle_zone(code: str, radius_m: float, kind: str = "exclusion") -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"circle {code}", "kind": kind, "radius_m": radius_m},
        "geometry": {"type": "Point", "coordinates": [LON0, LAT0]},
    }


@pytest.fixture
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str]) -> dict[str, str]:
    await wipe_district(pool)
    return auth(role_tokens["admin"])


async def test_zone_crud_cycle(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post("/geofences", json=polygon_zone("SCHOOL", min_alt_m=0, max_alt_m=60), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["max_alt_m"] == 60
    r = await client.post("/geofences", json=circle_zone("SUB", 80.0), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["geometry"] == {"type": "Point", "coordinates": [LON0, LAT0]}
    assert (await client.post("/geofences", json=circle_zone("SUB", 50.0), headers=admin)).status_code == 409
    r = await client.put("/geofences/SUB", json=circle_zone("SUB", 120.0, kind="quiet"), headers=admin)
    assert r.status_code == 200 and r.json()["properties"] == {
        "code": "SUB",
        "name": "circle SUB",
        "kind": "quiet",
        "min_alt_m": None,
        "max_alt_m": None,
        "radius_m": 120.0,
    }
    r = await client.get("/geofences", params={"kind": "quiet"}, headers=admin)
    assert [f["id"] for f in r.json()["features"]] == ["SUB"]
    assert r.json()["ceiling_m"] == 120
    assert (await client.delete("/geofences/SUB", headers=admin)).status_code == 204
    assert (await client.get("/geofences/SUB", headers=admin)).status_code == 404
    assert (await client.delete("/geofences/SUB", headers=admin)).status_code == 404


async def test_put_with_mismatched_code_is_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await client.post("/geofences", json=polygon_zone("A"), headers=admin)
    r = await client.put("/geofences/A", json=polygon_zone("B"), headers=admin)
    assert r.status_code == 422 and "properties.code" in r.json()["message"]


@pytest.mark.parametrize(
    ("feature", "needle"),
    [
        (circle_zone("C0", 0.0), "radius_m"),
        (polygon_zone("K", kind="volcano"), "kind"),
        (polygon_zone("ALT", min_alt_m=80, max_alt_m=20), "alt"),
        ({**polygon_zone("E"), "geometry": {"type": "Polygon", "coordinates": []}}, "empty"),
    ],
)
async def test_bad_zone_is_422_and_not_written(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, feature: dict[str, Any], needle: str
) -> None:
    r = await client.post("/geofences", json=feature, headers=admin)
    assert r.status_code == 422, r.text
    assert needle in r.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM zones") == 0


async def test_zone_import_is_all_or_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    doc = {"type": "FeatureCollection", "features": [polygon_zone("OK1"), circle_zone("BAD", -5)]}
    r = await client.post("/geofences/import", json=doc, headers=admin)
    assert r.status_code == 422
    assert r.json()["details"][0]["index"] == 1 and r.json()["details"][0]["code"] == "BAD"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM zones") == 0
    doc["features"][1] = circle_zone("GOOD", 30)
    r = await client.post("/geofences/import", json=doc, headers=admin)
    assert r.json() == {
        "imported": 2,
        "created": 2,
        "updated": 0,
        "overlaps": [],
        "warnings": [],
    }


async def test_ceiling_defaults_to_120_and_is_validated(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await client.get("/geofences/ceiling", headers=admin)).json() == {"ceiling_m": 120}
    r = await client.put("/geofences/ceiling", json={"ceiling_m": -3}, headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "body.ceiling_m"
    assert (await client.put("/geofences/ceiling", json={"ceiling_m": 90}, headers=admin)).json() == {
        "ceiling_m": 90
    }


async def test_scoped_admin_cannot_change_district_wide_zones(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/tokens", json={"name": "c1 admin", "role": "admin", "communities": ["C1"]}, headers=admin
    )
    scoped = auth(r.json()["token"])
    r = await client.post("/geofences", json=polygon_zone("X"), headers=scoped)
    assert r.status_code == 403 and "district-wide" in r.json()["message"]
    assert (await client.get("/geofences", headers=scoped)).status_code == 200
