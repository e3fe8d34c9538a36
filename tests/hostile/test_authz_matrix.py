"""The authorization matrix (issue 13, item 2): every route of the app and the live WebSocket, with no
token, a garbage, an unknown and a revoked token, and each role district-wide and scoped to community
CA acting on community CB's real objects (tests/hostile/authz_cases.py builds them and lists the routes).

The project's rules (docs/api.md): no valid token is 401 (the socket closes 1008); a role without the
permission is 403; another community's object is 404, as if it did not exist, and a change the scope
does not allow (creating in another community, district-wide settings, webhooks) is 403; a scoped
token's lists never hold another community's items. Nothing the refused calls aimed at changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.api.deps import AuthGuard
from app.api.throttle import SAFE_ACTIONS
from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.ratelimit import FailureLimiter, RequestLimits
from app.services import tokens
from tests.conftest import auth
from tests.hostile.authz_cases import (
    PUBLIC,
    ROUTES,
    WEBSOCKETS,
    Call,
    District,
    Route,
    allowed,
    app_routes,
    build_district,
    tear_down,
)
from tests.live.wsclient import Server, recv

ERROR_KEYS = {"code", "message", "details"}
SAFE = sorted(SAFE_ACTIONS - {"abort"})
"""The drone commands that make it safer (abort is a run action)."""
CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


@pytest.fixture(scope="module")
async def district(
    app: FastAPI, client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str]
) -> AsyncIterator[District]:
    built = await build_district(app, client, pool, role_tokens)
    yield built
    await tear_down(client, built)


@pytest.fixture(scope="module")
async def server(app: FastAPI) -> AsyncIterator[Server]:
    async with Server(app) as s:
        yield s


async def send(client: httpx.AsyncClient, method: str, call: Call, headers: dict[str, str]) -> httpx.Response:
    return await client.request(method, call.path, json=call.body, params=call.params, headers=headers)


def mismatch(method: str, path: str, who: str, r: httpx.Response, expected: int) -> str | None:
    """Why the answer is not ``expected`` in the one error shape with its code, or None."""
    if r.status_code != expected:
        return f"{method} {path} as {who}: {r.status_code} {r.text[:160]}, expected {expected}"
    if expected in CODES:
        body = r.json()
        if set(body) != ERROR_KEYS or body["code"] != CODES[expected]:
            return f"{method} {path} as {who}: {expected} but body {body}"
    return None


def concrete(path: str) -> str:
    """A route's path with placeholder values (authentication is refused before they matter)."""
    return re.sub(r"\{[a-z_]+\}", lambda m: "land" if m.group(0) == "{action}" else "1", path)


def swapped(d: District) -> District:
    """The district seen from the other side: ``foreign`` calls then aim at CA's objects."""
    return replace(d, own=d.foreign, foreign=d.own)


def test_every_route_of_the_app_is_in_the_matrix(app: FastAPI) -> None:
    served = app_routes(app)
    listed = set(ROUTES) | set(PUBLIC) | {("WS", p) for p in WEBSOCKETS}
    assert not served - listed, (
        f"routes without a matrix entry (add them to authz_cases.py): {sorted(served - listed)}"
    )
    assert not listed - served, f"matrix entries for routes the app does not serve: {sorted(listed - served)}"


async def test_public_routes_answer_without_a_token(client: httpx.AsyncClient) -> None:
    statuses = {route: (await client.get(url)).status_code for route, url in PUBLIC.items()}
    assert statuses == dict.fromkeys(PUBLIC, 200)


@pytest.mark.parametrize("who", ["anonymous", "garbage", "unknown", "revoked"])
async def test_no_valid_token_is_401_on_every_route(
    client: httpx.AsyncClient, district: District, who: str
) -> None:
    headers = district.revoked if who == "revoked" else district.bad[who]
    failures = []
    for (method, path), route in ROUTES.items():
        r = await send(client, method, route.foreign(district), headers)
        problem = mismatch(method, path, who, r, 401)
        if problem is None and r.headers.get("www-authenticate") != "Bearer":
            problem = f"{method} {path} as {who}: 401 without WWW-Authenticate: Bearer"
        failures.append(problem)
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)
    await assert_other_community_intact(client, district)


@pytest.mark.parametrize("scope", ["district", "CA"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.TESTER, Role.OPERATOR])
async def test_a_role_without_the_permission_is_403_on_every_route_it_lacks(
    client: httpx.AsyncClient, district: District, role: Role, scope: str
) -> None:
    headers = district.wide[role] if scope == "district" else district.scoped[role]
    refused = [(key, route) for key, route in ROUTES.items() if not allowed(role, route.needs)]
    assert refused, f"{role} lacks no permission: the test would prove nothing"
    failures = [
        mismatch(
            method, path, f"{scope} {role}", await send(client, method, route.foreign(district), headers), 403
        )
        for (method, path), route in refused
    ]
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)
    await assert_other_community_intact(client, district)


@pytest.mark.parametrize("role", list(Role))
async def test_a_scoped_token_cannot_reach_another_communitys_objects(
    client: httpx.AsyncClient, district: District, role: Role
) -> None:
    headers = district.scoped[role]
    failures = []
    for (method, path), route in ROUTES.items():
        if not allowed(role, route.needs) or route.listed is not None:
            continue
        r = await send(client, method, route.foreign(district), headers)
        failures.append(mismatch(method, path, f"CA {role}", r, route.scoped))
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)
    await assert_other_community_intact(client, district)


@pytest.mark.parametrize("role", list(Role))
async def test_a_scoped_token_reads_its_own_communitys_objects(
    client: httpx.AsyncClient, district: District, role: Role
) -> None:
    """The other side of the 404s above: the same reads of CA's objects succeed for a CA token."""
    mine = swapped(district)
    failures = []
    for (method, path), route in ROUTES.items():
        if method == "GET" and route.scoped == 404 and allowed(role, route.needs):
            r = await send(client, method, route.foreign(mine), district.scoped[role])
            failures.append(mismatch(method, path, f"CA {role} on CA", r, 200))
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)


def listed_ids(route: Route, r: httpx.Response) -> set[Any]:
    assert route.listed is not None
    return route.listed(r.json())


@pytest.mark.parametrize("role", list(Role))
async def test_a_scoped_tokens_lists_hold_its_communitys_items_and_never_another_communitys(
    client: httpx.AsyncClient, district: District, role: Role
) -> None:
    failures = []
    for (method, path), route in ROUTES.items():
        if route.listed is None or not allowed(role, route.needs):
            continue
        assert route.own_key is not None
        own, foreign = route.own_key(district.own), route.own_key(district.foreign)
        everything = listed_ids(route, await send(client, method, route.probe(district), district.admin))
        if foreign not in everything:  # the check below would pass vacuously
            failures.append(f"{method} {path}: the district-wide admin does not list CB's {foreign}")
        r = await send(client, method, route.foreign(district), district.scoped[role])
        if r.status_code != 200:
            failures.append(f"{method} {path} as CA {role}: {r.status_code} {r.text[:160]}")
            continue
        ids = listed_ids(route, r)
        if own not in ids:
            failures.append(
                f"{method} {path} as CA {role}: its own {own} is missing from {sorted(map(str, ids))}"
            )
        if foreign in ids:
            failures.append(f"{method} {path} as CA {role}: lists CB's {foreign}")
    assert not failures, "\n".join(failures)


def _group_codes(body: Any) -> set[Any]:
    """The grid codes of ``/alerts/counts`` (``counts``) or ``/stats/work-orders`` (``groups``)."""
    rows = body["counts"] if "counts" in body else body["groups"]
    return {row["code"] if "code" in row else row["key"] for row in rows}


async def test_filters_naming_another_community_give_none_of_its_items(
    client: httpx.AsyncClient, district: District
) -> None:
    """A scoped viewer that filters by CB's community, grid or drone gets an empty answer (404 where
    docs/api.md says so: telemetry of another community's grid); grouped and unfiltered answers hold
    CA and never CB."""
    f, own = district.foreign, district.own
    viewer = district.scoped[Role.VIEWER]
    empty: list[tuple[str, dict[str, str | int]]] = [
        ("/grids", {"community": f.code}),
        ("/alerts", {"community": f.code}),
        ("/alerts", {"grid": f.grid}),
        ("/alerts", {"drone_id": f.drone}),
        ("/work-orders", {"community": f.code}),
        ("/work-orders", {"grid": f.grid}),
        ("/runs", {"schedule_id": f.schedule}),
    ]
    failures: list[str | None] = []
    for path, params in empty:
        r = await client.get(path, params=params, headers=viewer)
        if r.status_code != 200 or r.json() not in ([], {"type": "FeatureCollection", "features": []}):
            failures.append(f"{path} {params}: {r.status_code} {r.text[:160]}, expected 200 and nothing")
    grouped: list[tuple[str, dict[str, str | int]]] = [
        ("/alerts/counts", {"by": "grid"}),
        ("/stats/work-orders", {"by": "grid", "from": "2026-01-01T00:00:00Z", "to": "2040-01-01T00:00:00Z"}),
    ]
    for path, params in grouped:
        r = await client.get(path, params=params, headers=viewer)
        codes = _group_codes(r.json()) if r.status_code == 200 else set()
        if own.grid not in codes or f.grid in codes:
            failures.append(f"{path} {params}: {r.status_code} {r.text[:160]}, expected {own.grid} only")
    r = await client.get("/telemetry/samples", params={"grid": f.grid}, headers=viewer)
    failures.append(mismatch("GET", f"/telemetry/samples?grid={f.grid}", "CA viewer", r, 404))
    for kind in ("samples", "events"):
        r = await client.get(f"/telemetry/{kind}", headers=viewer)
        drones = {item["drone_id"] for item in r.json()["items"]} if r.status_code == 200 else set()
        if own.drone not in drones or f.drone in drones:
            failures.append(f"/telemetry/{kind} as CA viewer: {r.status_code}, drones {sorted(drones)}")
    assert not [x for x in failures if x], "\n".join(x for x in failures if x)


@pytest.mark.parametrize("role", list(Role))
async def test_a_district_wide_token_with_the_permission_reaches_every_route(
    client: httpx.AsyncClient, district: District, role: Role
) -> None:
    """Harmless calls (a missing id, an empty body, a read) get past authentication and permission."""
    failures = []
    for (method, path), route in ROUTES.items():
        if allowed(role, route.needs):
            r = await send(client, method, route.probe(district), district.wide[role])
            failures.append(mismatch(method, path, f"district {role}", r, route.probe_status))
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)


async def assert_other_community_intact(client: httpx.AsyncClient, district: District) -> None:
    """Every object of CB (and every district-wide setting) the refused calls aimed at is as it was."""
    c, admin = district.foreign, district.admin

    async def get(path: str) -> Any:
        r = await client.get(path, headers=admin)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    assert (await get(f"/drones/{c.drone}"))["name"] == "authz CB"
    assert (await get(f"/runs/{c.run}"))["state"] == "planned"
    assert (await get(f"/work-orders/{c.order}"))["state"] == c.order_state
    assert (await get(f"/alerts/{c.alert}"))["ack"] is None
    assert (await get(f"/tokens/{c.token}"))["revoked_at"] is None
    assert (await get("/geofences/ceiling"))["ceiling_m"] == 120
    assert (await get(f"/schedules/{c.schedule}"))["enabled"]
    await get(f"/geofences/{district.zone}")
    await get(f"/grids/{c.grid}")
    assert district.subscription in {s["id"] for s in await get("/webhooks")}
    assert [d for d in await get("/drones") if d["name"] == "intruder"] == []
    assert [t for t in await get("/tokens") if t["name"] == "x"] == [], "a token was minted for CB"
    hooks = await get("/webhooks")
    assert [h for h in hooks if h["url"] == "http://127.0.0.1:9/x"] == [], "a refused webhook was stored"


@pytest.mark.parametrize("scope", ["district", "CA"])
async def test_a_tester_may_not_move_a_real_drone_and_an_operator_may(
    client: httpx.AsyncClient, district: District, scope: str
) -> None:
    tester = district.wide[Role.TESTER] if scope == "district" else district.scoped[Role.TESTER]
    real, mission = district.real_drone, district.own.mission
    calls = [
        Call(f"/drones/{real}/commands/arm"),
        Call(f"/drones/{real}/commands/takeoff", {"alt_m": 10}),
        Call(f"/drones/{real}/upload", {"mission_id": mission}),
        Call(f"/drones/{real}/flight"),
        Call("/runs", {"mission_id": mission, "drone_id": real, "start": False}),
        Call(
            "/schedules",
            {"name": "x", "mission_id": mission, "drone_id": real, "start_at": "2031-01-01T08:00:00"},
        ),
    ]
    failures = [
        mismatch("POST", call.path, f"{scope} tester", await send(client, "POST", call, tester), 403)
        for call in calls
    ]
    assert not [f for f in failures if f], "\n".join(f for f in failures if f)
    r = await client.post(f"/drones/{real}/commands/arm", headers=district.scoped[Role.OPERATOR])
    assert (r.status_code, r.json()["code"]) == (503, "link_not_connected"), r.text


# --- the live WebSocket ------------------------------------------------------------------------


async def closed_with(url: str, first: str | None) -> int | None:
    async with connect(url) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosed):
            for _ in range(5):
                await recv(ws, 10)
        return ws.close_code


@pytest.mark.parametrize("who", ["no-auth-first", "garbage", "unknown", "revoked"])
async def test_the_live_socket_closes_1008_without_a_valid_token(
    server: Server, district: District, who: str
) -> None:
    tokens = {
        "garbage": district.bad["garbage"],
        "unknown": district.bad["unknown"],
        "revoked": district.revoked,
    }
    if who == "no-auth-first":
        first = json.dumps({"type": "subscribe", "drones": [district.foreign.drone]})
    else:
        first = json.dumps({"type": "auth", "token": tokens[who]["Authorization"].removeprefix("Bearer ")})
    assert await closed_with(server.ws_url, first) == 1008


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("role", list(Role))
async def test_a_scoped_live_subscription_cannot_reach_another_community(
    server: Server, district: District, role: Role
) -> None:
    own, foreign = district.own, district.foreign
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": bearer(district.scoped[role])}))
        assert await recv(ws) == {"type": "ready", "role": role.value, "communities": ["CA"]}
        answers = []
        for target in (
            {"drones": [foreign.drone]},
            {"grids": [foreign.grid]},
            {"communities": [foreign.code]},
        ):
            await ws.send(json.dumps({"type": "subscribe", **target}))
            while (msg := await recv(ws))["type"] == "state":
                pass
            answers.append((msg["type"], msg.get("code"), [d["field"] for d in msg.get("details") or []]))
        await ws.send(json.dumps({"type": "subscribe", "drones": [own.drone], "communities": [own.code]}))
        while (msg := await recv(ws))["type"] == "state":
            pass
    assert answers == [
        ("error", "not_found", ["drones"]),
        ("error", "not_found", ["grids"]),
        ("error", "forbidden", ["communities"]),
    ]
    assert msg["type"] == "subscribed" and own.drone in msg["drones"], msg


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_district_wide_may_subscribe_to_both_communities(
    server: Server, district: District, role: Role
) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": bearer(district.wide[role])}))
        assert (await recv(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "subscribe", "communities": ["CA", "CB"]}))
        while (msg := await recv(ws))["type"] == "state":
            pass
    assert msg["type"] == "subscribed" and sorted(msg["communities"]) == ["CA", "CB"], msg


# --- rate limits ---------------------------------------------------------------------------------
# An app of its own on the same database with tiny budgets (2 or 3 at once, one back per 100 s) whose
# limiters read a clock the test moves: a test sees the 429 after a few calls and the same call
# succeed once the clock has moved by Retry-After, however slowly the machine runs. Links are off: a
# command that gets past its budget is answered 503 (no links on this instance), never 429.

REFILL_PER_S = 0.01


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
async def limited_app(
    database_dsn: str, tmp_path_factory: pytest.TempPathFactory, clock: Clock
) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=database_dsn,
        data_dir=tmp_path_factory.mktemp("limited-data"),
        links_enabled=False,
        telemetry_enabled=False,
        auth_fail_burst=3,
        auth_fail_refill_per_s=REFILL_PER_S,
        auth_fail_hold_max_s=0,
        token_create_burst=2,
        token_create_refill_per_s=REFILL_PER_S,
        token_create_address_burst=3,
        token_create_address_refill_per_s=REFILL_PER_S,
        flight_command_burst=2,
        flight_command_refill_per_s=REFILL_PER_S,
    )
    application = create_app(settings)
    application.state.request_limits = RequestLimits.from_settings(settings, clock=clock)
    guard: AuthGuard = application.state.auth_guard
    application.state.auth_guard = replace(
        guard, limiter=FailureLimiter(burst=3, refill_per_s=REFILL_PER_S, max_clients=1000, clock=clock)
    )
    async with application.router.lifespan_context(application):
        yield application


def client_from(app: FastAPI, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url="http://t"
    )


async def new_token(pool: asyncpg.Pool, role: Role) -> dict[str, str]:
    async with pool.acquire() as conn:
        token, _ = await tokens.create(
            conn, name=f"limits {role}", role=role, communities=None, created_by=None
        )
    return auth(token)


def retry_after_s(r: httpx.Response, what: str) -> float:
    """The 429's Retry-After, checked against the one error shape; else the assertion names ``what``."""
    assert r.status_code == 429, f"{what}: {r.status_code} {r.text}, expected 429"
    body = r.json()
    assert set(body) == ERROR_KEYS and body["code"] == "rate_limited", body
    assert int(r.headers["Retry-After"]) == body["details"]["retry_after_s"] >= 1
    return float(r.headers["Retry-After"])


def new_token_body() -> dict[str, str]:
    return {"name": "limited", "role": "viewer"}


async def test_token_creation_is_limited_per_admin_token_and_recovers_after_retry_after(
    limited_app: FastAPI, pool: asyncpg.Pool, clock: Clock
) -> None:
    first, second = await new_token(pool, Role.ADMIN), await new_token(pool, Role.ADMIN)
    async with client_from(limited_app, "10.13.0.1") as a, client_from(limited_app, "10.13.0.2") as b:
        statuses = [
            (await a.post("/tokens", json=new_token_body(), headers=first)).status_code for _ in range(2)
        ]
        assert statuses == [201, 201]
        limited = await a.post("/tokens", json=new_token_body(), headers=first)
        wait_s = retry_after_s(limited, "a third token from one admin token")
        assert (await b.post("/tokens", json=new_token_body(), headers=second)).status_code == 201
        clock.now_s += wait_s
        assert (await a.post("/tokens", json=new_token_body(), headers=first)).status_code == 201


async def test_token_creation_is_limited_per_address_whatever_the_token(
    limited_app: FastAPI, pool: asyncpg.Pool, clock: Clock
) -> None:
    admins = [await new_token(pool, Role.ADMIN) for _ in range(3)]
    async with client_from(limited_app, "10.13.1.1") as here, client_from(limited_app, "10.13.1.2") as there:
        statuses = [
            (await here.post("/tokens", json=new_token_body(), headers=h)).status_code for h in admins
        ]
        assert statuses == [201, 201, 201]
        fourth = await here.post("/tokens", json=new_token_body(), headers=admins[0])
        wait_s = retry_after_s(fourth, "a fourth token from one address")
        assert (await there.post("/tokens", json=new_token_body(), headers=admins[1])).status_code == 201
        assert (await here.post("/tokens", json={}, headers=admins[2])).status_code == 422  # not counted
        clock.now_s += wait_s
        assert (await here.post("/tokens", json=new_token_body(), headers=admins[2])).status_code == 201


async def test_flight_commands_are_limited_per_token_and_drone_and_stopping_a_drone_never_is(
    limited_app: FastAPI, pool: asyncpg.Pool, clock: Clock
) -> None:
    operator, other = await new_token(pool, Role.OPERATOR), await new_token(pool, Role.OPERATOR)
    async with client_from(limited_app, "10.13.2.1") as c:
        before = [(await c.post("/drones/5/commands/arm", headers=operator)).status_code for _ in range(2)]
        assert before == [503, 503], "past the budget a command reaches the (absent) links"
        moves = {
            "arm": await c.post("/drones/5/commands/arm", headers=operator),
            "takeoff": await c.post("/drones/5/commands/takeoff", json={"alt_m": 20}, headers=operator),
            "upload": await c.post("/drones/5/upload", json={"mission_id": 1}, headers=operator),
            "flight": await c.post("/drones/5/flight", headers=operator),
            "run on the drone": await c.post(
                "/runs", json={"mission_id": 1, "drone_id": 5}, headers=operator
            ),
        }
        wait_s = max(retry_after_s(r, what) for what, r in moves.items())
        stops = {a: (await c.post(f"/drones/5/commands/{a}", headers=operator)).status_code for a in SAFE}
        assert stops == dict.fromkeys(SAFE, 503), "disarm, pause, return and land are never limited"
        assert (await c.post("/drones/6/commands/arm", headers=operator)).status_code == 503
        assert (await c.post("/drones/5/commands/arm", headers=other)).status_code == 503
        clock.now_s += wait_s
        assert (await c.post("/drones/5/commands/arm", headers=operator)).status_code == 503


async def test_run_controls_are_limited_per_token_and_run_and_abort_and_land_never_are(
    limited_app: FastAPI, pool: asyncpg.Pool, clock: Clock
) -> None:
    operator = await new_token(pool, Role.OPERATOR)
    async with client_from(limited_app, "10.13.3.1") as c:
        before = [(await c.post("/runs/7/actions/start", headers=operator)).status_code for _ in range(2)]
        assert before == [503, 503]
        wait_s = retry_after_s(
            await c.post("/runs/7/actions/resume", headers=operator), "a third run control"
        )
        for action in ("abort", "land", "pause"):
            assert (await c.post(f"/runs/7/actions/{action}", headers=operator)).status_code == 503, action
        assert (await c.post("/runs/8/actions/start", headers=operator)).status_code == 503
        clock.now_s += wait_s
        assert (await c.post("/runs/7/actions/continue", headers=operator)).status_code == 503


async def test_failed_sign_ins_are_limited_per_address_on_every_route(
    limited_app: FastAPI, clock: Clock
) -> None:
    """Garbage tokens over the whole matrix from one address: 401 for the burst, then 429 on every
    route, in the one shape with Retry-After; another address still gets its 401; then 401 again."""
    garbage = auth("garbage")
    routes = sorted(ROUTES)
    async with client_from(limited_app, "10.13.4.1") as c, client_from(limited_app, "10.13.4.2") as other:
        statuses = []
        for method, path in routes:
            statuses.append((await c.request(method, concrete(path), json={}, headers=garbage)).status_code)
        assert statuses[:3] == [401, 401, 401] and set(statuses[3:]) == {429}, statuses
        r = await c.request(routes[-1][0], concrete(routes[-1][1]), json={}, headers=garbage)
        wait_s = retry_after_s(r, "a bad token past the burst")
        assert (await other.get("/grids", headers=garbage)).status_code == 401
        clock.now_s += wait_s
        assert (await c.get("/grids", headers=garbage)).status_code == 401


async def test_the_live_socket_shares_the_failed_sign_in_limit(
    limited_app: FastAPI, pool: asyncpg.Pool, clock: Clock
) -> None:
    """From an address the limiter holds, even a valid (not yet seen) token is closed 1008; after
    Retry-After the same token is accepted."""
    viewer = bearer(await new_token(pool, Role.VIEWER))
    async with Server(limited_app) as server:
        for _ in range(3):
            assert await closed_with(server.ws_url, json.dumps({"type": "auth", "token": "garbage"})) == 1008
        assert await closed_with(server.ws_url, json.dumps({"type": "auth", "token": viewer})) == 1008
        clock.now_s += 1 / REFILL_PER_S
        async with connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": viewer}))
            assert (await recv(ws))["type"] == "ready"
