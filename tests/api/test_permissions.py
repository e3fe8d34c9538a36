"""Every route with no token and with each role: 401, 403 or allowed, as the role table says."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from app.auth import Permission, Role, grants
from tests.conftest import auth

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
AUTHENTICATED = None  # any valid token
FLIGHT = (Permission.FLY, Permission.FLY_SIMULATED)  # operators and testers (simulated drones only)

# Every route of the API and what it needs. A route missing here fails the test: new routes must be placed.
REQUIRED: dict[tuple[str, str], Permission | tuple[Permission, ...] | None] = {
    ("GET", "/tokens/me"): AUTHENTICATED,
    ("POST", "/tokens"): Permission.MANAGE_TOKENS,
    ("GET", "/tokens"): Permission.MANAGE_TOKENS,
    ("GET", "/tokens/{token_id}"): Permission.MANAGE_TOKENS,
    ("DELETE", "/tokens/{token_id}"): Permission.MANAGE_TOKENS,
    ("POST", "/grids/import"): Permission.MANAGE_DISTRICT,
    ("GET", "/grids"): Permission.READ,
    ("GET", "/grids/{code}"): Permission.READ,
    ("GET", "/grids/{code}/coverage"): Permission.READ,
    ("GET", "/grids/{code}/patrols"): Permission.READ,
    ("GET", "/patrols/grid-states"): Permission.READ,
    ("DELETE", "/grids/{code}"): Permission.MANAGE_DISTRICT,
    ("GET", "/communities"): Permission.READ,
    ("POST", "/geofences/import"): Permission.MANAGE_DISTRICT,
    ("GET", "/geofences"): Permission.READ,
    ("POST", "/geofences"): Permission.MANAGE_DISTRICT,
    ("GET", "/geofences/ceiling"): Permission.READ,
    ("PUT", "/geofences/ceiling"): Permission.MANAGE_DISTRICT,
    ("GET", "/geofences/{code}"): Permission.READ,
    ("PUT", "/geofences/{code}"): Permission.MANAGE_DISTRICT,
    ("DELETE", "/geofences/{code}"): Permission.MANAGE_DISTRICT,
    ("POST", "/drones"): Permission.MANAGE_DRONES,
    ("GET", "/drones"): Permission.READ,
    ("GET", "/drones/{drone_id}"): Permission.READ,
    ("PATCH", "/drones/{drone_id}"): Permission.MANAGE_DRONES,
    ("DELETE", "/drones/{drone_id}"): Permission.MANAGE_DRONES,
    ("POST", "/missions/plan"): Permission.READ,
    ("POST", "/missions"): FLIGHT,
    ("GET", "/missions"): Permission.READ,
    ("GET", "/missions/{mission_id}"): Permission.READ,
    ("GET", "/missions/{mission_id}/export"): Permission.READ,
    ("GET", "/drones/{drone_id}/state"): Permission.READ,
    ("POST", "/drones/{drone_id}/upload"): FLIGHT,
    ("POST", "/drones/{drone_id}/commands/{action}"): FLIGHT,
    ("POST", "/drones/{drone_id}/flight"): FLIGHT,
    ("GET", "/telemetry/samples"): Permission.READ,
    ("GET", "/telemetry/events"): Permission.READ,
    ("GET", "/drones/{drone_id}/track"): Permission.READ,
    ("GET", "/alerts"): Permission.READ,
    ("GET", "/alerts/counts"): Permission.READ,
    ("GET", "/alerts/{alert_id}"): Permission.READ,
    ("POST", "/alerts/{alert_id}/ack"): FLIGHT,
    ("POST", "/work-orders"): FLIGHT,
    ("GET", "/work-orders"): Permission.READ,
    ("GET", "/work-orders/sla"): Permission.READ,
    ("PUT", "/work-orders/sla"): Permission.MANAGE_DISTRICT,
    ("GET", "/work-orders/{order_id}"): Permission.READ,
    ("POST", "/work-orders/{order_id}/{action}"): FLIGHT,
    ("POST", "/work-orders/{order_id}/reflight"): FLIGHT,
    ("POST", "/detections"): FLIGHT,
    ("GET", "/detections"): Permission.READ,
    ("GET", "/detections/{detection_id}"): Permission.READ,
    ("GET", "/detections/{detection_id}/image"): Permission.READ,
    ("POST", "/webhooks"): Permission.MANAGE_DISTRICT,
    ("GET", "/webhooks"): Permission.MANAGE_DISTRICT,
    ("DELETE", "/webhooks/{subscription_id}"): Permission.MANAGE_DISTRICT,
    ("GET", "/webhooks/deliveries"): Permission.MANAGE_DISTRICT,
    ("POST", "/webhooks/deliveries/{delivery_id}/replay"): Permission.MANAGE_DISTRICT,
    ("GET", "/stats/work-orders"): Permission.READ,
    ("POST", "/runs"): FLIGHT,
    ("GET", "/runs"): Permission.READ,
    ("GET", "/runs/{run_id}"): Permission.READ,
    ("POST", "/runs/{run_id}/actions/{action}"): FLIGHT,
    ("POST", "/schedules"): FLIGHT,
    ("GET", "/schedules"): Permission.READ,
    ("GET", "/schedules/{schedule_id}"): Permission.READ,
    ("DELETE", "/schedules/{schedule_id}"): FLIGHT,
}


def allowed(role: Role, needed: Permission | tuple[Permission, ...] | None) -> bool:
    if needed is None:
        return True
    if isinstance(needed, Permission):
        return grants(role, needed)
    return any(grants(role, p) for p in needed)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its OpenAPI description."""
    return sorted((method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops)


def concrete(path: str) -> str:
    """A path with dummy values for its parameters (ids that do not exist: 404 is fine for allowed roles)."""
    values = {"{action}": "land"}
    return re.sub(
        r"\{[a-z_]+\}",
        lambda m: values.get(m.group(0), "999999" if m.group(0).endswith("id}") else "NOPE"),
        path,
    )


def test_every_route_is_in_the_permission_table(app: FastAPI) -> None:
    routes = set(api_routes(app))
    assert routes - PUBLIC == set(REQUIRED), "place new routes in REQUIRED"


async def test_permission_matrix(
    client: httpx.AsyncClient, app: FastAPI, role_tokens: dict[str, str]
) -> None:
    failures = []
    for method, path in api_routes(app):
        url = concrete(path)
        if (method, path) in PUBLIC:
            r = await client.request(method, url)
            if r.status_code in (401, 403):
                failures.append(f"{method} {path} public but got {r.status_code}")
            continue
        r = await client.request(method, url, json={})
        if r.status_code != 401 or r.json()["code"] != "unauthorized":
            failures.append(f"{method} {path} without token: {r.status_code}")
        r = await client.request(method, url, json={}, headers=auth("ag_not_a_real_token"))
        if r.status_code != 401:
            failures.append(f"{method} {path} with unknown token: {r.status_code}")
        needed = REQUIRED[(method, path)]
        for role in Role:
            ok = allowed(role, needed)
            r = await client.request(method, url, json={}, headers=auth(role_tokens[role.value]))
            if ok and r.status_code in (401, 403):
                failures.append(f"{method} {path} as {role}: {r.status_code}, expected allowed")
            if not ok and r.status_code != 403:
                failures.append(f"{method} {path} as {role}: {r.status_code}, expected 403")
            if r.status_code >= 500:
                failures.append(f"{method} {path} as {role}: server error {r.status_code}")
    assert not failures, "\n".join(failures)


async def test_docs_and_health_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["database"] == "ok"
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200


async def test_revoked_token_is_refused(client: httpx.AsyncClient, role_tokens: dict[str, str]) -> None:
    admin = auth(role_tokens["admin"])
    r = await client.post("/tokens", json={"name": "temp", "role": "viewer"}, headers=admin)
    assert r.status_code == 201
    created = r.json()
    assert (await client.get("/grids", headers=auth(created["token"]))).status_code == 200
    assert (await client.delete(f"/tokens/{created['id']}", headers=admin)).status_code == 204
    r = await client.get("/grids", headers=auth(created["token"]))
    assert r.status_code == 401 and r.json()["message"] == "unknown or revoked token"
    listed = (await client.get("/tokens", headers=admin)).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
