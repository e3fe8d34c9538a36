"""A grid or zone code that its URL could not reach (a fixed segment, a dot segment) is refused.

``/grids/import`` and ``/geofences/ceiling`` are routes of their own, and clients resolve ``.`` and
``..`` away, so a grid coded ``import`` or a zone coded ``ceiling`` would be stored but never read
back at its URL. Every way in (grid import, zone import, zone create) refuses them with a 422 naming
the feature, and writes nothing.
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.api.test_geofences import circle_zone
from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district


@pytest.fixture
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str]) -> dict[str, str]:
    await wipe_district(pool)
    return auth(role_tokens["admin"])


async def _count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n


@pytest.mark.parametrize("code", ["import", "ceiling", ".", ".."])
async def test_grid_import_refuses_a_code_its_url_cannot_reach(
    client: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str], code: str
) -> None:
    doc = collection(grid("G-1", square(LON0, LAT0)), grid(code, square(LON0 + 0.01, LAT0)))
    r = await client.post("/grids/import", json=doc, headers=admin)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    assert body["details"] == [
        {
            "index": 1,
            "code": code,
            "field": "properties.code",
            "problem": "reserved: not one of ., .., ceiling, import (its URL would not reach it)",
        }
    ]
    assert await _count(pool, "grids") == 0


@pytest.mark.parametrize("code", ["import", "ceiling", ".."])
async def test_zone_import_and_create_refuse_a_code_their_url_cannot_reach(
    client: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str], code: str
) -> None:
    doc = collection(circle_zone("Z-1", 50.0), circle_zone(code, 50.0))
    r = await client.post("/geofences/import", json=doc, headers=admin)
    assert r.status_code == 422, r.text
    assert [(d["index"], d["field"]) for d in r.json()["details"]] == [(1, "properties.code")]
    r = await client.post("/geofences", json=circle_zone(code, 50.0), headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == "properties.code"
    assert await _count(pool, "zones") == 0


async def test_an_ordinary_code_still_imports_and_reads_back(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.post(
        "/grids/import", json=collection(grid("imports", square(LON0, LAT0))), headers=admin
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/grids/imports", headers=admin)).status_code == 200
