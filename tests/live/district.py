"""A two-community district for the live tests: grid GA in community CA, GB in CB, one drone each."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import auth

LON, LAT = 120.3000, 30.4000


def box(code: str, community: str, lat0: float, lat1: float) -> dict[str, Any]:
    lon0, lon1 = LON - 0.001, LON + 0.001
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    props = {
        "code": code,
        "name": code,
        "community_code": community,
        "community_name": community,
        "street_code": "ST",
        "street_name": "ST",
    }
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


async def two_communities(client: httpx.AsyncClient, admin_token: str) -> None:
    """Streamer vehicle 1 (LAT) lies in GA, vehicle 2 (LAT + 1e-4) in GB."""
    features = [box("GA", "CA", LAT - 5e-5, LAT + 5e-5), box("GB", "CB", LAT + 5e-5, LAT + 1.5e-4)]
    r = await client.post(
        "/grids/import", json={"type": "FeatureCollection", "features": features}, headers=auth(admin_token)
    )
    assert r.status_code == 200, r.text


async def register(
    client: httpx.AsyncClient, admin_token: str, port: int, sysid: int, community: str | None, name: str
) -> int:
    r = await client.post(
        "/drones",
        headers=auth(admin_token),
        json={
            "name": name,
            "kind": "sim",
            "endpoint": f"udpin:127.0.0.1:{port}",
            "sysid": sysid,
            "community_code": community,
            "home": {"lon_deg": LON, "lat_deg": LAT},
        },
    )
    assert r.status_code == 201, r.text
    drone_id: int = r.json()["id"]
    return drone_id
