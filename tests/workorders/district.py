"""The two-grid district the work-order tests file things under, and a token scoped to one community."""

from __future__ import annotations

import asyncpg
import httpx

from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district

G1_WORKER = ("张三", "13800000001")
G2_WORKER = ("李四", "13800000002")
IN_G1 = {"lon_deg": LON0 + 0.0015, "lat_deg": LAT0 + 0.0015}
IN_G2 = {"lon_deg": LON0 + 0.0045, "lat_deg": LAT0 + 0.0015}


async def two_grids(pool: asyncpg.Pool, client: httpx.AsyncClient, admin_token: str) -> None:
    """G1 (community C1, worker 张三) and G2 beside it (community C2, worker 李四)."""
    await wipe_district(pool)
    doc = collection(
        grid("G1", square(LON0, LAT0), worker_name=G1_WORKER[0], worker_phone=G1_WORKER[1]),
        grid(
            "G2",
            square(LON0 + 0.003, LAT0),
            community_code="C2",
            community_name="渔港村",
            worker_name=G2_WORKER[0],
            worker_phone=G2_WORKER[1],
        ),
    )
    r = await client.post("/grids/import", json=doc, headers=auth(admin_token))
    assert r.status_code == 200, r.text


async def scoped_token(
    client: httpx.AsyncClient, admin_token: str, role: str, community: str
) -> dict[str, str]:
    body = {"name": f"{role} of {community}", "role": role, "communities": [community]}
    r = await client.post("/tokens", json=body, headers=auth(admin_token))
    assert r.status_code == 201, r.text
    return auth(r.json()["token"])
