"""The authorization matrix's district and its table of routes.

``build_district`` makes real objects in two communities through the API (grid, drone, mission,
run, schedule, detection with its image, alert and work order, telemetry from real MAVLink
datagrams; one webhook subscription with deliveries), plus tokens: one per role scoped to CA, one
scoped to CB, one revoked. ``ROUTES`` says, for every route of the app, what it needs and what a
CA-scoped token that has that permission gets when it acts on CB's object; the test fails naming
any route of the app that is not in it.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from starlette.routing import Mount

from app.auth import Permission, Role, grants
from app.db.repos.alerts import NewAlert
from app.services import tokens
from tests.api.test_grids import LAT0, LON0, collection, grid, square
from tests.conftest import auth, wipe_district
from tests.hostile.corpus import png
from tests.telemetry.mavbytes import FakeDrone

LAT = LAT0 + 0.05
"""North of the other tests' grids: this district's detections and alerts never meet theirs."""
PNG = png(16, 16)  # a whole PNG: detections check the structure, not only the magic
FLIGHT = (Permission.FLY, Permission.FLY_SIMULATED)
"""Storing missions and moving drones: operators, testers (simulated drones), admins."""
ANY_TOKEN = ()
"""Any valid token, whatever its role."""
MISSING = 999_999
"""An id no object has: a district-wide token's harmless probe of a route that would change things."""

Needs = Permission | tuple[Permission, ...]


def allowed(role: Role, needs: Needs) -> bool:
    if isinstance(needs, Permission):
        return grants(role, needs)
    return not needs or any(grants(role, p) for p in needs)


# ---------------------------------------------------------------------------------------------------
# The district


@dataclass
class Community:
    """One community's objects: code, grid, a point inside it, and the ids made there."""

    code: str
    grid: str
    inside: dict[str, float]
    drone: int = 0
    port: int = 0
    mission: int = 0
    run: int = 0
    schedule: int = 0
    detection: int = 0
    alert: int = 0
    order: int = 0
    order_state: str = ""
    token: int = 0  # a token scoped to this community (its id)


@dataclass
class District:
    own: Community
    foreign: Community
    zone: str
    real_drone: int  # a kind "real" drone in CA: testers may not move it
    subscription: int
    delivery: int
    admin: dict[str, str]
    wide: dict[Role, dict[str, str]]
    scoped: dict[Role, dict[str, str]]
    revoked: dict[str, str]
    bad: dict[str, dict[str, str]] = field(default_factory=dict)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _created(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> Any:
    r = await client.post(path, json=body, headers=headers)
    assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
    return r.json()


def detection_body(at: dict[str, float]) -> dict[str, Any]:
    return {
        "idempotency_key": secrets.token_hex(8),
        "type": "illegal_dumping",
        "confidence": 0.9,
        "detected_at": "2029-03-03T03:03:00Z",
        "position": {"type": "Point", "coordinates": [at["lon_deg"], at["lat_deg"]]},
        "image": {"data_base64": base64.b64encode(PNG).decode()},
    }


def mission_body(c: Community) -> dict[str, Any]:
    return {
        "name": f"patrol {c.grid}",
        "kind": "coverage",
        "grid_codes": [c.grid],
        "home": {"lon_deg": c.inside["lon_deg"], "lat_deg": c.inside["lat_deg"]},
        "swath_m": 50,
    }


def plan_body(c: Community) -> dict[str, Any]:
    """``mission_body`` for ``POST /missions/plan``, which stores nothing and takes no name."""
    return {k: v for k, v in mission_body(c).items() if k != "name"}


def zone_body(code: str) -> dict[str, Any]:
    """A quiet zone well away from both grids (no plan there breaks on it)."""
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"zone {code}", "kind": "quiet", "radius_m": 30.0},
        "geometry": {"type": "Point", "coordinates": [LON0 + 0.05, LAT + 0.05]},
    }


async def _stream_telemetry(client: httpx.AsyncClient, district: District) -> None:
    """Real MAVLink datagrams from each community's drone until both have stored samples and events."""
    drones = [(c, FakeDrone(1)) for c in (district.own, district.foreign)]
    deadline = time.monotonic() + 30
    tbm = 1000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while True:
            for c, drone in drones:
                data = drone.heartbeat() + drone.position(tbm, c.inside["lat_deg"], c.inside["lon_deg"])
                sock.sendto(data, ("127.0.0.1", c.port))
            tbm += 200
            await asyncio.sleep(0.2)
            seen = set()
            for kind in ("samples", "events"):
                r = await client.get(f"/telemetry/{kind}", headers=district.admin)
                seen |= {(kind, item["drone_id"]) for item in r.json()["items"]}
            wanted = {(k, c.drone) for k in ("samples", "events") for c in (district.own, district.foreign)}
            if wanted <= seen:
                return
            assert time.monotonic() < deadline, f"telemetry not stored: {sorted(wanted - seen)}"


async def build_district(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> District:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    own = Community("CA", "GA", {"lon_deg": LON0 + 0.0015, "lat_deg": LAT + 0.0015})
    foreign = Community("CB", "GB", {"lon_deg": LON0 + 0.0045, "lat_deg": LAT + 0.0015})
    doc = collection(
        grid("GA", square(LON0, LAT), community_code="CA", community_name="CA"),
        grid("GB", square(LON0 + 0.003, LAT), community_code="CB", community_name="CB"),
    )
    await _created(client, "/grids/import", doc, admin)
    zone = f"Z{secrets.token_hex(3)}"
    await _created(client, "/geofences", zone_body(zone), admin)
    hook = await _created(
        client,
        "/webhooks",
        {"url": "http://127.0.0.1:9/authz", "event_types": ["*"], "secret": secrets.token_hex(16)},
        admin,
    )
    scoped: dict[Role, dict[str, str]] = {}
    async with pool.acquire() as conn:
        for role in Role:
            token, _ = await tokens.create(
                conn, name=f"authz {role} of CA", role=role, communities=["CA"], created_by=None
            )
            scoped[role] = auth(token)
        for c in (own, foreign):
            _, row = await tokens.create(
                conn,
                name=f"authz viewer of {c.code}",
                role=Role.VIEWER,
                communities=[c.code],
                created_by=None,
            )
            c.token = row["id"]
    revoked = await _created(client, "/tokens", {"name": "authz revoked", "role": "admin"}, admin)
    assert (await client.delete(f"/tokens/{revoked['id']}", headers=admin)).status_code == 204
    for c in (own, foreign):
        c.port = _free_udp_port()
        drone = await _created(
            client,
            "/drones",
            {
                "name": f"authz {c.code}",
                "kind": "sim",
                "endpoint": f"udpin:127.0.0.1:{c.port}",
                "sysid": 1,
                "community_code": c.code,
                "home": c.inside,
            },
            admin,
        )
        c.drone = drone["id"]
        c.mission = (await _created(client, "/missions", mission_body(c), admin))["id"]
        run = {"mission_id": c.mission, "drone_id": c.drone, "start": False}
        c.run = (await _created(client, "/runs", run, admin))["id"]
        schedule = {"name": f"authz {c.code}", "mission_id": c.mission, "start_at": "2031-01-01T08:00:00"}
        c.schedule = (await _created(client, "/schedules", schedule, admin))["id"]
        detection = await _created(client, "/detections", detection_body(c.inside), admin)
        c.detection, c.order = detection["id"], detection["work_order_id"]
        assert c.order is not None, detection
        c.order_state = (await client.get(f"/work-orders/{c.order}", headers=admin)).json()["state"]
        alert = NewAlert(
            drone_id=c.drone,
            type="battery_low",
            condition_key="authz",
            severity="warning",
            message="battery 20 %",
            evidence={"battery_pct": 20},
            at=datetime.now(UTC),
            grid_code=c.grid,
            community_code=c.code,
        )
        c.alert = (await app.state.alerts.open(alert)).alert["id"]
    real = await _created(
        client,
        "/drones",
        {
            "name": "authz CA real",
            "kind": "real",
            "endpoint": f"udpin:127.0.0.1:{_free_udp_port()}",
            "sysid": 1,
            "community_code": "CA",
            "home": own.inside,
        },
        admin,
    )
    wide = {role: auth(role_tokens[role.value]) for role in Role}
    district = District(
        own=own,
        foreign=foreign,
        zone=zone,
        real_drone=real["id"],
        subscription=hook["id"],
        delivery=0,
        admin=admin,
        wide=wide,
        scoped=scoped,
        revoked=auth(revoked["token"]),
        bad={"anonymous": {}, "garbage": auth("garbage"), "unknown": auth("ag_AAAAAAAA_" + "A" * 32)},
    )
    deliveries = (await client.get("/webhooks/deliveries", headers=admin)).json()
    assert deliveries, "the detections' events made no webhook delivery"
    district.delivery = deliveries[0]["id"]
    await _stream_telemetry(client, district)
    return district


async def tear_down(client: httpx.AsyncClient, district: District) -> None:
    """Unlink the drones (their UDP ports) and stop the webhook worker's retries."""
    for drone_id in (district.own.drone, district.foreign.drone, district.real_drone):
        await client.delete(f"/drones/{drone_id}", headers=district.admin)
    await client.delete(f"/webhooks/{district.subscription}", headers=district.admin)


# ---------------------------------------------------------------------------------------------------
# The routes


@dataclass(frozen=True)
class Call:
    path: str
    body: Any = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    """One route: what it needs, the call acting on CB's object, what a scoped token with the
    permission gets there, and a district-wide token's harmless call with its expected status.

    ``scoped`` is 404 (CB's object does not exist for it), 403 (the scope forbids the change) or 200
    for a list, whose ``listed`` extracts the identifiers that must hold CA's and never CB's.
    """

    needs: Needs
    foreign: Callable[[District], Call]
    scoped: int
    probe: Callable[[District], Call]
    probe_status: int
    listed: Callable[[Any], set[Any]] | None = None
    own_key: Callable[[Community], Any] | None = None


def _ids(body: Any) -> set[Any]:
    return {item["id"] for item in body}


def _items_drones(body: Any) -> set[Any]:
    return {item["drone_id"] for item in body["items"]}


def _grid_codes(body: Any) -> set[Any]:
    return {f["properties"]["code"] for f in body["features"]}


def _state_codes(body: Any) -> set[Any]:
    return {item["grid_code"] for item in body["grids"]}


def _community_codes(body: Any) -> set[Any]:
    return {item["code"] for item in body}


def _group_keys(body: Any) -> set[Any]:
    return {item["key"] for item in body["groups"]}


def _count_codes(body: Any) -> set[Any]:
    return {item["code"] for item in body["counts"]}


def _f(d: District) -> Community:
    return d.foreign


NO_ID = str(MISSING)
STATS_SPAN = {"by": "community", "from": "2026-01-01T00:00:00Z", "to": "2040-01-01T00:00:00Z"}

ROUTES: dict[tuple[str, str], Route] = {
    # tokens
    ("GET", "/tokens/me"): Route(
        ANY_TOKEN, lambda d: Call("/tokens/me"), 200, lambda d: Call("/tokens/me"), 200
    ),
    ("POST", "/tokens"): Route(
        Permission.MANAGE_TOKENS,
        lambda d: Call("/tokens", {"name": "x", "role": "viewer", "communities": ["CB"]}),
        403,
        lambda d: Call("/tokens", {}),
        422,
    ),
    ("GET", "/tokens"): Route(
        Permission.MANAGE_TOKENS,
        lambda d: Call("/tokens"),
        200,
        lambda d: Call("/tokens"),
        200,
        _ids,
        lambda c: c.token,
    ),
    ("GET", "/tokens/{token_id}"): Route(
        Permission.MANAGE_TOKENS,
        lambda d: Call(f"/tokens/{_f(d).token}"),
        404,
        lambda d: Call(f"/tokens/{_f(d).token}"),
        200,
    ),
    ("DELETE", "/tokens/{token_id}"): Route(
        Permission.MANAGE_TOKENS,
        lambda d: Call(f"/tokens/{_f(d).token}"),
        404,
        lambda d: Call(f"/tokens/{NO_ID}"),
        404,
    ),
    # grids
    ("POST", "/grids/import"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(
            "/grids/import",
            collection(grid("GB", square(LON0 + 0.003, LAT), community_code="CB", community_name="CB")),
        ),
        403,
        lambda d: Call("/grids/import", {}),
        422,
    ),
    ("GET", "/grids"): Route(
        Permission.READ,
        lambda d: Call("/grids"),
        200,
        lambda d: Call("/grids"),
        200,
        _grid_codes,
        lambda c: c.grid,
    ),
    ("GET", "/grids/{code}"): Route(
        Permission.READ,
        lambda d: Call(f"/grids/{_f(d).grid}"),
        404,
        lambda d: Call(f"/grids/{_f(d).grid}"),
        200,
    ),
    ("GET", "/grids/{code}/coverage"): Route(
        Permission.READ,
        lambda d: Call(f"/grids/{_f(d).grid}/coverage"),
        404,
        lambda d: Call(f"/grids/{_f(d).grid}/coverage"),
        200,
    ),
    ("GET", "/grids/{code}/patrols"): Route(
        Permission.READ,
        lambda d: Call(f"/grids/{_f(d).grid}/patrols"),
        404,
        lambda d: Call(f"/grids/{_f(d).grid}/patrols"),
        200,
    ),
    ("GET", "/patrols/grid-states"): Route(
        Permission.READ,
        lambda d: Call("/patrols/grid-states"),
        200,
        lambda d: Call("/patrols/grid-states"),
        200,
        _state_codes,
        lambda c: c.grid,
    ),
    ("DELETE", "/grids/{code}"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(f"/grids/{_f(d).grid}"),
        404,
        lambda d: Call("/grids/NOPE"),
        404,
    ),
    ("GET", "/communities"): Route(
        Permission.READ,
        lambda d: Call("/communities"),
        200,
        lambda d: Call("/communities"),
        200,
        _community_codes,
        lambda c: c.code,
    ),
    # geofences: district-wide, no community; a scoped token reads them and changes none
    ("POST", "/geofences/import"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call("/geofences/import", {"type": "FeatureCollection", "features": [zone_body("ZNEW")]}),
        403,
        lambda d: Call("/geofences/import", {}),
        422,
    ),
    ("GET", "/geofences"): Route(
        Permission.READ, lambda d: Call("/geofences"), 200, lambda d: Call("/geofences"), 200
    ),
    ("POST", "/geofences"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call("/geofences", zone_body("ZNEW")),
        403,
        lambda d: Call("/geofences", {}),
        422,
    ),
    ("GET", "/geofences/ceiling"): Route(
        Permission.READ, lambda d: Call("/geofences/ceiling"), 200, lambda d: Call("/geofences/ceiling"), 200
    ),
    ("PUT", "/geofences/ceiling"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call("/geofences/ceiling", {"ceiling_m": 60}),
        403,
        lambda d: Call("/geofences/ceiling", {}),
        422,
    ),
    ("GET", "/geofences/{code}"): Route(
        Permission.READ,
        lambda d: Call(f"/geofences/{d.zone}"),
        200,
        lambda d: Call(f"/geofences/{d.zone}"),
        200,
    ),
    ("PUT", "/geofences/{code}"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(f"/geofences/{d.zone}", zone_body(d.zone)),
        403,
        lambda d: Call(f"/geofences/{d.zone}", {}),
        422,
    ),
    ("DELETE", "/geofences/{code}"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(f"/geofences/{d.zone}"),
        403,
        lambda d: Call("/geofences/NOPE"),
        404,
    ),
    # drones
    ("POST", "/drones"): Route(
        Permission.MANAGE_DRONES,
        lambda d: Call(
            "/drones",
            {
                "name": "intruder",
                "kind": "sim",
                "endpoint": "udpout:127.0.0.1:9",
                "sysid": 200,
                "community_code": "CB",
                "home": d.foreign.inside,
            },
        ),
        403,
        lambda d: Call("/drones", {}),
        422,
    ),
    ("GET", "/drones"): Route(
        Permission.READ,
        lambda d: Call("/drones"),
        200,
        lambda d: Call("/drones"),
        200,
        _ids,
        lambda c: c.drone,
    ),
    ("GET", "/drones/{drone_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/drones/{_f(d).drone}"),
        404,
        lambda d: Call(f"/drones/{_f(d).drone}"),
        200,
    ),
    ("PATCH", "/drones/{drone_id}"): Route(
        Permission.MANAGE_DRONES,
        lambda d: Call(f"/drones/{_f(d).drone}", {"name": "renamed"}),
        404,
        lambda d: Call(f"/drones/{_f(d).drone}", {}),  # nothing to change: answers the drone
        200,
    ),
    ("DELETE", "/drones/{drone_id}"): Route(
        Permission.MANAGE_DRONES,
        lambda d: Call(f"/drones/{_f(d).drone}"),
        404,
        lambda d: Call(f"/drones/{NO_ID}"),
        404,
    ),
    # missions
    ("POST", "/missions/plan"): Route(
        Permission.READ,
        lambda d: Call("/missions/plan", plan_body(d.foreign)),
        404,
        lambda d: Call("/missions/plan", plan_body(d.foreign)),  # plans, stores nothing
        200,
    ),
    ("POST", "/missions"): Route(
        FLIGHT,
        lambda d: Call("/missions", mission_body(d.foreign)),
        404,
        lambda d: Call("/missions", {}),
        422,
    ),
    ("GET", "/missions"): Route(
        Permission.READ,
        lambda d: Call("/missions"),
        200,
        lambda d: Call("/missions"),
        200,
        _ids,
        lambda c: c.mission,
    ),
    ("GET", "/missions/{mission_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/missions/{_f(d).mission}"),
        404,
        lambda d: Call(f"/missions/{_f(d).mission}"),
        200,
    ),
    ("GET", "/missions/{mission_id}/export"): Route(
        Permission.READ,
        lambda d: Call(f"/missions/{_f(d).mission}/export", params={"format": "geojson"}),
        404,
        lambda d: Call(f"/missions/{_f(d).mission}/export", params={"format": "geojson"}),
        200,
    ),
    # flying
    ("GET", "/drones/{drone_id}/state"): Route(
        Permission.READ,
        lambda d: Call(f"/drones/{_f(d).drone}/state"),
        404,
        lambda d: Call(f"/drones/{_f(d).drone}/state"),
        200,
    ),
    ("POST", "/drones/{drone_id}/upload"): Route(
        FLIGHT,
        lambda d: Call(f"/drones/{_f(d).drone}/upload", {"mission_id": _f(d).mission}),
        404,
        lambda d: Call(f"/drones/{_f(d).drone}/upload", {}),
        422,
    ),
    ("POST", "/drones/{drone_id}/commands/{action}"): Route(
        FLIGHT,
        lambda d: Call(f"/drones/{_f(d).drone}/commands/arm"),
        404,
        lambda d: Call(f"/drones/{NO_ID}/commands/arm"),
        404,
    ),
    ("POST", "/drones/{drone_id}/flight"): Route(
        FLIGHT,
        lambda d: Call(f"/drones/{_f(d).drone}/flight"),
        404,
        lambda d: Call(f"/drones/{NO_ID}/flight"),
        404,
    ),
    # telemetry
    ("GET", "/telemetry/samples"): Route(
        Permission.READ,
        lambda d: Call("/telemetry/samples", params={"drone_id": _f(d).drone}),
        404,
        lambda d: Call("/telemetry/samples", params={"drone_id": _f(d).drone}),
        200,
    ),
    ("GET", "/telemetry/events"): Route(
        Permission.READ,
        lambda d: Call("/telemetry/events", params={"drone_id": _f(d).drone}),
        404,
        lambda d: Call("/telemetry/events", params={"drone_id": _f(d).drone}),
        200,
    ),
    ("GET", "/drones/{drone_id}/track"): Route(
        Permission.READ,
        lambda d: Call(f"/drones/{_f(d).drone}/track"),
        404,
        lambda d: Call(f"/drones/{_f(d).drone}/track"),
        200,
    ),
    # alerts
    ("GET", "/alerts"): Route(
        Permission.READ,
        lambda d: Call("/alerts"),
        200,
        lambda d: Call("/alerts"),
        200,
        _ids,
        lambda c: c.alert,
    ),
    ("GET", "/alerts/counts"): Route(
        Permission.READ,
        lambda d: Call("/alerts/counts", params={"by": "community"}),
        200,
        lambda d: Call("/alerts/counts", params={"by": "community"}),
        200,
        _count_codes,
        lambda c: c.code,
    ),
    ("GET", "/alerts/{alert_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/alerts/{_f(d).alert}"),
        404,
        lambda d: Call(f"/alerts/{_f(d).alert}"),
        200,
    ),
    ("POST", "/alerts/{alert_id}/ack"): Route(
        FLIGHT, lambda d: Call(f"/alerts/{_f(d).alert}/ack"), 404, lambda d: Call(f"/alerts/{NO_ID}/ack"), 404
    ),
    # work orders
    ("POST", "/work-orders"): Route(
        FLIGHT,
        lambda d: Call(
            "/work-orders", {"channel": "hotline_12345", "type": "noise", "title": "in CB", "grid_code": "GB"}
        ),
        403,
        lambda d: Call("/work-orders", {}),
        422,
    ),
    ("GET", "/work-orders"): Route(
        Permission.READ,
        lambda d: Call("/work-orders"),
        200,
        lambda d: Call("/work-orders"),
        200,
        _ids,
        lambda c: c.order,
    ),
    ("GET", "/work-orders/sla"): Route(
        Permission.READ, lambda d: Call("/work-orders/sla"), 200, lambda d: Call("/work-orders/sla"), 200
    ),
    ("PUT", "/work-orders/sla"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call("/work-orders/sla", {"type": "*", "severity": "critical", "due_s": 600}),
        403,
        lambda d: Call("/work-orders/sla", {}),
        422,
    ),
    ("GET", "/work-orders/{order_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/work-orders/{_f(d).order}"),
        404,
        lambda d: Call(f"/work-orders/{_f(d).order}"),
        200,
    ),
    ("POST", "/work-orders/{order_id}/reflight"): Route(
        FLIGHT,
        lambda d: Call(f"/work-orders/{_f(d).order}/reflight"),
        404,
        lambda d: Call(f"/work-orders/{NO_ID}/reflight"),
        404,
    ),
    ("POST", "/work-orders/{order_id}/{action}"): Route(
        FLIGHT,
        lambda d: Call(f"/work-orders/{_f(d).order}/cancel", {"reason": "not yours"}),
        404,
        lambda d: Call(f"/work-orders/{NO_ID}/cancel", {"reason": "probe"}),
        404,
    ),
    # detections
    ("POST", "/detections"): Route(
        FLIGHT,
        lambda d: Call("/detections", detection_body(d.foreign.inside)),
        403,
        lambda d: Call("/detections", {}),
        422,
    ),
    ("GET", "/detections"): Route(
        Permission.READ,
        lambda d: Call("/detections"),
        200,
        lambda d: Call("/detections"),
        200,
        _ids,
        lambda c: c.detection,
    ),
    ("GET", "/detections/{detection_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/detections/{_f(d).detection}"),
        404,
        lambda d: Call(f"/detections/{_f(d).detection}"),
        200,
    ),
    ("GET", "/detections/{detection_id}/image"): Route(
        Permission.READ,
        lambda d: Call(f"/detections/{_f(d).detection}/image"),
        404,
        lambda d: Call(f"/detections/{_f(d).detection}/image"),
        200,
    ),
    # webhooks: every community's events, so district-wide admins only
    ("POST", "/webhooks"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(
            "/webhooks", {"url": "http://127.0.0.1:9/x", "event_types": ["*"], "secret": "s" * 16}
        ),
        403,
        lambda d: Call("/webhooks", {}),
        422,
    ),
    ("GET", "/webhooks"): Route(
        Permission.MANAGE_DISTRICT, lambda d: Call("/webhooks"), 403, lambda d: Call("/webhooks"), 200
    ),
    ("DELETE", "/webhooks/{subscription_id}"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(f"/webhooks/{d.subscription}"),
        403,
        lambda d: Call(f"/webhooks/{NO_ID}"),
        404,
    ),
    ("GET", "/webhooks/deliveries"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call("/webhooks/deliveries"),
        403,
        lambda d: Call("/webhooks/deliveries"),
        200,
    ),
    ("POST", "/webhooks/deliveries/{delivery_id}/replay"): Route(
        Permission.MANAGE_DISTRICT,
        lambda d: Call(f"/webhooks/deliveries/{d.delivery}/replay"),
        403,
        lambda d: Call(f"/webhooks/deliveries/{NO_ID}/replay"),
        404,
    ),
    # stats
    ("GET", "/stats/work-orders"): Route(
        Permission.READ,
        lambda d: Call("/stats/work-orders", params=STATS_SPAN),
        200,
        lambda d: Call("/stats/work-orders", params=STATS_SPAN),
        200,
        _group_keys,
        lambda c: c.code,
    ),
    # runs and schedules
    ("POST", "/runs"): Route(
        FLIGHT,
        lambda d: Call("/runs", {"mission_id": _f(d).mission, "drone_id": _f(d).drone, "start": False}),
        404,
        lambda d: Call("/runs", {}),
        422,
    ),
    ("GET", "/runs"): Route(
        Permission.READ, lambda d: Call("/runs"), 200, lambda d: Call("/runs"), 200, _ids, lambda c: c.run
    ),
    ("GET", "/runs/{run_id}"): Route(
        Permission.READ, lambda d: Call(f"/runs/{_f(d).run}"), 404, lambda d: Call(f"/runs/{_f(d).run}"), 200
    ),
    ("POST", "/runs/{run_id}/actions/{action}"): Route(
        FLIGHT,
        lambda d: Call(f"/runs/{_f(d).run}/actions/start"),
        404,
        lambda d: Call(f"/runs/{NO_ID}/actions/start"),
        404,
    ),
    ("POST", "/schedules"): Route(
        FLIGHT,
        lambda d: Call(
            "/schedules", {"name": "x", "mission_id": _f(d).mission, "start_at": "2031-01-01T08:00:00"}
        ),
        404,
        lambda d: Call("/schedules", {}),
        422,
    ),
    ("GET", "/schedules"): Route(
        Permission.READ,
        lambda d: Call("/schedules"),
        200,
        lambda d: Call("/schedules"),
        200,
        _ids,
        lambda c: c.schedule,
    ),
    ("GET", "/schedules/{schedule_id}"): Route(
        Permission.READ,
        lambda d: Call(f"/schedules/{_f(d).schedule}"),
        404,
        lambda d: Call(f"/schedules/{_f(d).schedule}"),
        200,
    ),
    ("DELETE", "/schedules/{schedule_id}"): Route(
        FLIGHT,
        lambda d: Call(f"/schedules/{_f(d).schedule}"),
        404,
        lambda d: Call(f"/schedules/{NO_ID}"),
        404,
    ),
}

PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "/healthz",
    ("GET", "/readyz"): "/readyz",
    ("GET", "/openapi.json"): "/openapi.json",
    ("GET", "/docs"): "/docs",
    ("GET", "/docs/oauth2-redirect"): "/docs/oauth2-redirect",
    ("GET", "/redoc"): "/redoc",
    ("GET", "/"): "/",
    ("GET", "/favicon.ico"): "/favicon.ico",
    ("GET", "/ui/config"): "/ui/config",
    ("MOUNT", "/static"): "/static/index.html",
}
"""Routes that need no token (the page, its files and config, health, the API's own docs)."""

WEBSOCKETS = {"/ws/live"}
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, WebSockets as ("WS", path) and mounts as ("MOUNT", path).

    Walked from the router itself (FastAPI 0.165 keeps included routers as ``original_router``), so
    routes left out of the OpenAPI description count too.
    """
    out: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                out.add(("MOUNT", prefix + route.path))
            elif getattr(route, "methods", None):
                out.update((m, prefix + route.path) for m in route.methods if m != "HEAD")
            else:
                out.add(("WS", prefix + route.path))

    walk(app.router.routes, "")
    return {(m, _CONVERTOR.sub(r"{\1}", p)) for m, p in out}
