"""The drone registry on a real PostgreSQL: validation, uniqueness, the hidden signing key, scopes."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district


def drone(name: str = "HB-UAV-01", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "kind": "sim",
        "endpoint": "udpout:127.0.0.1:14550",
        "sysid": 1,
        "home": {"lon_deg": LON0, "lat_deg": LAT0, "alt_m": 4.0},
        "capabilities": {
            "camera": {
                "sensor_width_mm": 17.3,
                "sensor_height_mm": 13.0,
                "focal_length_mm": 12.3,
                "image_width_px": 5280,
                "image_height_px": 3956,
            },
            "speaker": {"level_db_at_1m": 120},
            "max_speed_mps": 15,
            "battery_wh": 77,
            "endurance_min": 42,
        },
    }
    body.update(over)
    return body


@pytest.fixture
async def admin(pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient) -> dict[str, str]:
    await wipe_district(pool)
    headers = auth(role_tokens["admin"])
    doc = collection(
        grid("G1", square(LON0, LAT0)),
        grid("G2", square(LON0 + 0.003, LAT0), community_code="C2", community_name="渔港村"),
    )
    assert (await client.post("/grids/import", json=doc, headers=headers)).status_code == 200
    return headers


async def test_register_list_update_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    key = "ab" * 32
    r = await client.post("/drones", json=drone(signing_key=key), headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["signing"] is True and "signing_key" not in created and key not in r.text
    assert created["capabilities"]["speaker"]["level_db_at_1m"] == 120
    r = await client.patch(
        f"/drones/{created['id']}", json={"sysid": 7, "clear_signing_key": True}, headers=admin
    )
    assert r.status_code == 200 and r.json()["sysid"] == 7 and r.json()["signing"] is False
    listed = (await client.get("/drones", headers=admin)).json()
    assert [d["name"] for d in listed] == ["HB-UAV-01"]
    assert (await client.delete(f"/drones/{created['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/drones/{created['id']}", headers=admin)).status_code == 404


async def test_signing_key_is_stored_but_never_returned(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    key = "0f" * 32
    created = (await client.post("/drones", json=drone(signing_key=key), headers=admin)).json()
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT signing_key FROM drones WHERE id = $1", created["id"]
        ) == bytes.fromhex(key)
    for r in (
        await client.get("/drones", headers=admin),
        await client.get(f"/drones/{created['id']}", headers=admin),
    ):
        assert key not in r.text


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"endpoint": "http://example"}, "endpoint"),
        ({"endpoint": "udpout:127.0.0.1:99999"}, "endpoint"),
        ({"sysid": 0}, "sysid"),
        ({"sysid": 256}, "sysid"),
        ({"signing_key": "zz" * 32}, "signing_key"),
        ({"signing_key": "ab" * 16}, "signing_key"),
        ({"home": {"lon_deg": 200, "lat_deg": 31}}, "home.lon_deg"),
        ({"name": ""}, "name"),
        ({"kind": "balloon"}, "kind"),
        ({"capabilities": {"max_speed_mps": -1}}, "capabilities.max_speed_mps"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_registration_is_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, over: dict[str, Any], field: str
) -> None:
    r = await client.post("/drones", json=drone(**over), headers=admin)
    assert r.status_code == 422, r.text
    assert any(d["field"].endswith(field) for d in r.json()["details"]), r.json()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM drones") == 0


async def test_duplicates_are_409(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.post("/drones", json=drone(), headers=admin)).status_code == 201
    r = await client.post("/drones", json=drone(), headers=admin)
    assert r.status_code == 409 and r.json()["message"].startswith("name")
    r = await client.post("/drones", json=drone("other"), headers=admin)
    assert r.status_code == 409 and "endpoint, sysid" in r.json()["message"]


async def test_unknown_community_is_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post("/drones", json=drone(community_code="NOPE"), headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "community_code"


async def test_scoped_token_sees_and_acts_on_its_communities_only(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    d1 = (await client.post("/drones", json=drone("d1", community_code="C1"), headers=admin)).json()
    d2 = (await client.post("/drones", json=drone("d2", sysid=2, community_code="C2"), headers=admin)).json()
    r = await client.post(
        "/tokens", json={"name": "c1 op", "role": "operator", "communities": ["C1"]}, headers=admin
    )
    scoped = auth(r.json()["token"])
    assert [d["name"] for d in (await client.get("/drones", headers=scoped)).json()] == ["d1"]
    assert (await client.get(f"/drones/{d2['id']}", headers=scoped)).status_code == 404
    assert (await client.patch(f"/drones/{d2['id']}", json={"sysid": 9}, headers=scoped)).status_code == 404
    assert (await client.delete(f"/drones/{d2['id']}", headers=scoped)).status_code == 404
    assert (await client.get(f"/drones/{d1['id']}", headers=scoped)).status_code == 200
    r = await client.post("/drones", json=drone("d3", sysid=3, community_code="C2"), headers=scoped)
    assert r.status_code == 403
    grids = (await client.get("/grids", headers=scoped)).json()["features"]
    assert [g["id"] for g in grids] == ["G1"]
    assert (await client.get("/grids/G2", headers=scoped)).status_code == 404


async def test_patch_with_explicit_nulls_changes_nothing_and_bad_endpoint_is_422(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = (await client.post("/drones", json=drone(), headers=admin)).json()
    nulls = {"endpoint": None, "signing_key": None, "home": None, "capabilities": None, "name": None}
    r = await client.patch(f"/drones/{created['id']}", json=nulls, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"] == created["endpoint"] and r.json()["name"] == created["name"]
    r = await client.patch(f"/drones/{created['id']}", json={"endpoint": "udpout:nohost"}, headers=admin)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "body.endpoint"


async def test_commands_to_an_offline_drone_fail_at_once_with_503(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Nothing listens on this port: the drone is registered and linked but never heard.
    created = (await client.post("/drones", json=drone(endpoint="udpout:127.0.0.1:9"), headers=admin)).json()
    r = await client.post(f"/drones/{created['id']}/commands/arm", headers=admin)
    assert r.status_code == 503 and r.json()["code"] == "link_not_connected"
    assert "offline (never heard)" in r.json()["message"]
