"""A community-scoped token changes nothing outside its communities (issue 8, 0b), and one import
document cannot put one community under two streets (issue 8, item 5)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district

C2 = {"community_code": "C2", "community_name": "渔港村"}
LONE_STREET = {
    "street_code": "ST9",
    "street_name": "北街道",
    "community_code": "C9",
    "community_name": "北村",
}


@pytest.fixture
async def tokens(
    pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient
) -> dict[str, dict[str, str]]:
    """Street ST holds C1 and C2; street ST9 holds only C9. Admins: district-wide, scoped to C1, to C9."""
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    doc = collection(
        grid("G1", square(LON0, LAT0)),
        grid("G2", square(LON0 + 0.003, LAT0), **C2),
        grid("G9", square(LON0 + 0.006, LAT0), **LONE_STREET),
    )
    assert (await client.post("/grids/import", json=doc, headers=admin)).status_code == 200
    out = {"admin": admin}
    for community in ("C1", "C9"):
        body = {"name": f"{community} admin", "role": "admin", "communities": [community]}
        out[community] = auth((await client.post("/tokens", json=body, headers=admin)).json()["token"])
    return out


async def hierarchy(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT c.code, c.name, c.street_code, s.name AS street_name
               FROM communities c JOIN streets s ON s.code = c.street_code ORDER BY c.code"""
        )
    return [tuple(r) for r in rows]


async def test_scoped_admin_cannot_rename_a_street_other_communities_share(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    before = await hierarchy(pool)
    doc = collection(grid("G1", square(LON0, LAT0), street_name="被改名的街道"))
    r = await client.post("/grids/import", json=doc, headers=tokens["C1"])
    assert r.status_code == 403, r.text
    error = r.json()
    assert error["code"] == "forbidden" and error["message"].startswith("street_name:")
    assert error["details"][0]["field"] == "street_name" and "C2" not in r.text
    assert await hierarchy(pool) == before


async def test_scoped_admin_cannot_move_its_community_to_another_street(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    before = await hierarchy(pool)
    for street in (
        {"street_code": "ST9", "street_name": "北街道"},
        {"street_code": "NEW", "street_name": "新"},
    ):
        r = await client.post(
            "/grids/import", json=collection(grid("G1", square(LON0, LAT0), **street)), headers=tokens["C1"]
        )
        assert r.status_code == 403 and r.json()["details"][0]["field"] == "street_code", r.text
    assert await hierarchy(pool) == before


async def test_scoped_admin_changes_what_is_only_its_own(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    renamed = {**LONE_STREET, "street_name": "北街道（新）", "community_name": "北村（新）"}
    r = await client.post(
        "/grids/import",
        json=collection(grid("G9", square(LON0 + 0.006, LAT0), **renamed)),
        headers=tokens["C9"],
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/grids/import",
        json=collection(grid("G1", square(LON0, LAT0), community_name="湖滨")),
        headers=tokens["C1"],
    )
    assert r.status_code == 200, r.text
    assert await hierarchy(pool) == [
        ("C1", "湖滨", "ST", "湖滨街道"),
        ("C2", "渔港村", "ST", "湖滨街道"),
        ("C9", "北村（新）", "ST9", "北街道（新）"),
    ]


async def test_district_wide_admin_may_rename_shared_streets_and_move_communities(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    doc = collection(
        grid("G1", square(LON0, LAT0), street_name="湖滨街道（新）"),
        grid("G2", square(LON0 + 0.003, LAT0), **{**C2, "street_code": "ST9", "street_name": "北街道"}),
    )
    r = await client.post("/grids/import", json=doc, headers=tokens["admin"])
    assert r.status_code == 200, r.text
    assert await hierarchy(pool) == [
        ("C1", "湖滨社区", "ST", "湖滨街道（新）"),
        ("C2", "渔港村", "ST9", "北街道"),
        ("C9", "北村", "ST9", "北街道"),
    ]


async def test_one_community_under_two_streets_in_one_document_is_422_naming_both_features(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], pool: asyncpg.Pool
) -> None:
    before = await hierarchy(pool)
    doc = collection(
        grid("GA", square(LON0, LAT0 + 0.01)),
        grid("GB", square(LON0 + 0.003, LAT0 + 0.01)),
        grid("GC", square(LON0 + 0.006, LAT0 + 0.01), street_code="ST9", street_name="北街道"),
    )
    r = await client.post("/grids/import", json=doc, headers=tokens["admin"])
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["code"] == "validation_failed"
    assert [(d["index"], d["code"], d["field"], d["conflicts_with"]) for d in error["details"]] == [
        (2, "GC", "street_code", {"index": 0, "code": "GA"})
    ]
    assert "feature 0 (grid GA)" in error["message"] and "feature 2 (grid GC)" in error["message"]
    assert await hierarchy(pool) == before
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM grids WHERE code IN ('GA', 'GB', 'GC')") == 0


async def test_two_names_for_one_street_or_community_in_one_document_are_422(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    doc = collection(
        grid("GA", square(LON0, LAT0 + 0.01)),
        grid("GB", square(LON0 + 0.003, LAT0 + 0.01), street_name="别名", community_name="别名村"),
    )
    r = await client.post("/grids/import", json=doc, headers=tokens["admin"])
    assert r.status_code == 422
    assert [(d["index"], d["field"]) for d in r.json()["details"]] == [
        (1, "street_name"),
        (1, "community_name"),
    ]


async def test_an_overlap_with_another_communitys_grid_is_reported_without_naming_it(
    client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    over_g2 = grid("G1B", square(LON0 + 0.004, LAT0, 0.001))  # inside C2's grid G2
    r = await client.post("/grids/import", json=collection(over_g2), headers=tokens["C1"])
    assert r.status_code == 200, r.text
    overlaps = r.json()["overlaps"]
    assert [(o["code_a"], o["code_b"]) for o in overlaps] == [("G1B", "(a grid outside this token's scope)")]
    assert overlaps[0]["area_m2"] > 0 and "G2" not in r.text
    r = await client.post("/grids/import", json=collection(over_g2), headers=tokens["admin"])
    assert [(o["code_a"], o["code_b"]) for o in r.json()["overlaps"]] == [("G1B", "G2")]
