"""GET /telemetry/samples, /telemetry/events and /drones/{id}/track on stored rows (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.repos import telemetry as repo
from app.telemetry.partitions import Partitions
from tests.conftest import auth, wipe_district
from tests.telemetry.rows import event, sample

G1_LON, G2_LON, LAT = 120.30, 120.40, 30.10


def square(code: str, community: str, lon: float) -> dict[str, Any]:
    ring = [[lon, LAT], [lon + 0.01, LAT], [lon + 0.01, LAT + 0.01], [lon, LAT + 0.01], [lon, LAT]]
    props = {
        "code": code,
        "name": code,
        "community_code": community,
        "community_name": community,
        "street_code": "ST",
        "street_name": "street",
    }
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


@pytest.fixture
async def district(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> dict[str, Any]:
    """Grids G1 (community C1) and G2 (C2); drone d1 (C1) flew a zigzag in G1, d2 (C2) hovered in G2."""
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    r = await client.post(
        "/grids/import",
        json={
            "type": "FeatureCollection",
            "features": [square("G1", "C1", G1_LON), square("G2", "C2", G2_LON)],
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    ids = []
    for name, community, lon in (("tel-d1", "C1", G1_LON), ("tel-d2", "C2", G2_LON)):
        r = await client.post(
            "/drones",
            headers=admin,
            json={
                "name": name,
                "kind": "sim",
                "endpoint": "udpout:127.0.0.1:9",
                "sysid": 1 + len(ids),
                "community_code": community,
                "home": {"lon_deg": lon + 0.005, "lat_deg": LAT + 0.005},
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    d1 = [
        sample(
            ids[0],
            i * 1000,
            G1_LON + 0.001 + 0.0002 * i,
            LAT + 0.002 + 0.001 * (i % 2),
            base=base,
            grid_code="G1",
        )
        for i in range(20)
    ]
    d2 = [sample(ids[1], i * 1000, G2_LON + 0.005, LAT + 0.005, base=base, grid_code="G2") for i in range(10)]
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE telemetry_samples, telemetry_events")
        await Partitions(interval_h=24, retention_days=90).ensure_for(conn, base, base + timedelta(minutes=1))
        await repo.write_batch(conn, d1 + d2, [event(ids[0], k, base=base) for k in range(1, 4)])
    return {"d1": ids[0], "d2": ids[1], "base": base, "d1_rows": d1, "admin": admin}


def window(base: datetime) -> dict[str, str]:
    return {"from": base.isoformat(), "to": (base + timedelta(minutes=1)).isoformat()}


async def test_pages_cover_the_range_in_order_without_repeats(
    client: httpx.AsyncClient, district: dict[str, Any], role_tokens: dict[str, str]
) -> None:
    params: dict[str, Any] = {"drone_id": district["d1"], "limit": 7, **window(district["base"])}
    seen, pages = [], 0
    while True:
        r = await client.get("/telemetry/samples", params=params, headers=auth(role_tokens["viewer"]))
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [item["time_boot_ms"] for item in body["items"]]
        pages += 1
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == [i * 1000 for i in range(20)] and pages == 3
    first = (
        await client.get(
            "/telemetry/samples",
            params={"drone_id": district["d1"], "limit": 1, **window(district["base"])},
            headers=auth(role_tokens["viewer"]),
        )
    ).json()["items"][0]
    assert first["grid_code"] == "G1" and first["lat_deg"] == district["d1_rows"][0].lat_deg


async def test_a_scoped_token_sees_only_its_communities_drones_and_grids(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    r = await client.post(
        "/tokens",
        json={"name": "c1 viewer", "role": "viewer", "communities": ["C1"]},
        headers=district["admin"],
    )
    scoped = auth(r.json()["token"])
    span = window(district["base"])
    everything = await client.get("/telemetry/samples", params=span, headers=scoped)
    assert {item["drone_id"] for item in everything.json()["items"]} == {district["d1"]}
    by_grid = await client.get("/telemetry/samples", params={"grid": "G1", **span}, headers=scoped)
    assert len(by_grid.json()["items"]) == 20
    assert (
        await client.get("/telemetry/samples", params={"grid": "G2", **span}, headers=scoped)
    ).status_code == 404
    other = {"drone_id": district["d2"], **span}
    assert (await client.get("/telemetry/samples", params=other, headers=scoped)).status_code == 404
    assert (
        await client.get(f"/drones/{district['d2']}/track", params=span, headers=scoped)
    ).status_code == 404
    events = await client.get("/telemetry/events", params=span, headers=scoped)
    assert {e["drone_id"] for e in events.json()["items"]} == {district["d1"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-12-07T12:00:00Z", "to": "2026-12-07T11:00:00Z"}, "query.from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-12-07T00:00:00Z"}, "query.to"),
        ({"limit": 10_001}, "query.limit"),
        ({"limit": 0}, "query.limit"),
        ({"after": "not-a-cursor"}, "query.after"),
        ({"from": "yesterday"}, "query.from"),
        ({"drone_id": 0}, "query.drone_id"),
        ({"grid": "bad code!"}, "query.grid"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, role_tokens: dict[str, str], params: dict[str, Any], field: str
) -> None:
    r = await client.get("/telemetry/samples", params=params, headers=auth(role_tokens["viewer"]))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed" and body["details"][0]["field"] == field


async def test_events_filter_by_kind(client: httpx.AsyncClient, district: dict[str, Any]) -> None:
    span = window(district["base"])
    r = await client.get(
        "/telemetry/events", params={"kind": "statustext", **span}, headers=district["admin"]
    )
    assert [e["seq"] for e in r.json()["items"]] == [1, 2, 3]
    r = await client.get("/telemetry/events", params={"kind": "mode", **span}, headers=district["admin"])
    assert r.json()["items"] == []
    r = await client.get("/telemetry/events", params={"kind": "nonsense"}, headers=district["admin"])
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "query.kind"


async def test_track_is_simplified_to_the_point_budget_keeping_its_ends(
    client: httpx.AsyncClient, district: dict[str, Any]
) -> None:
    span = window(district["base"])
    rows = district["d1_rows"]
    full = (
        await client.get(f"/drones/{district['d1']}/track", params=span, headers=district["admin"])
    ).json()
    assert full["geometry"]["type"] == "LineString"
    assert full["geometry"]["coordinates"] == [[s.lon_deg, s.lat_deg, s.alt_amsl_m] for s in rows]
    small = (
        await client.get(
            f"/drones/{district['d1']}/track", params={"max_points": 5, **span}, headers=district["admin"]
        )
    ).json()
    coords = small["geometry"]["coordinates"]
    assert 2 <= len(coords) <= 5 and small["properties"]["samples"] == 20
    assert (
        coords[0] == full["geometry"]["coordinates"][0] and coords[-1] == full["geometry"]["coordinates"][-1]
    )
    assert all(c in full["geometry"]["coordinates"] for c in coords)
    r = await client.get(
        f"/drones/{district['d1']}/track", params={"max_points": 1}, headers=district["admin"]
    )
    assert r.status_code == 422
    empty = (
        await client.get(
            f"/drones/{district['d2']}/track",
            params={"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
            headers=district["admin"],
        )
    ).json()
    assert empty["geometry"] is None and empty["properties"]["samples"] == 0
