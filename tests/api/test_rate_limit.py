"""Bad tokens are cheap to refuse and cannot starve real users (issue 8, 0c).

Malformed tokens are refused without the database, lookups are cached briefly (revocation in this
process takes effect at once), and a client address that keeps failing gets 429 with Retry-After
while other addresses, and tokens it already proved good, carry on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.auth import Principal, Role, hash_token, is_well_formed, new_token
from app.config import Settings
from app.main import create_app
from app.ratelimit import FailureLimiter, Tarpit, client_key
from app.services import tokens
from app.services.tokens import PrincipalCache
from tests.conftest import auth
from tests.dbtools import private_database


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def well_formed_unknown() -> str:
    return new_token()[0]


@pytest.fixture
async def limited_app(database_dsn: str) -> AsyncIterator[FastAPI]:
    """The app on the test database with a small failure budget: 3 at once, one back per 100 s
    (answers to a limited client are not held here: the tarpit has its own test)."""
    settings = Settings(
        database_url=database_dsn,
        links_enabled=False,
        auth_fail_burst=3,
        auth_fail_refill_per_s=0.01,
        auth_fail_hold_max_s=0,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def client_from(app: FastAPI, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test")


async def test_an_address_that_keeps_failing_gets_429_and_other_addresses_do_not(
    limited_app: FastAPI, role_tokens: dict[str, str]
) -> None:
    good = auth(role_tokens["viewer"])
    async with (
        client_from(limited_app, "10.0.0.5") as attacker,
        client_from(limited_app, "10.0.0.6") as other,
    ):
        assert (await attacker.get("/tokens/me", headers=good)).status_code == 200  # proven good, cached
        bad = [auth("garbage"), auth(well_formed_unknown()), auth("ag_not_a_real_token")]
        assert [(await attacker.get("/grids", headers=h)).status_code for h in bad] == [401, 401, 401]
        r = await attacker.get("/grids", headers=auth(well_formed_unknown()))
        assert r.status_code == 429
        body = r.json()
        assert set(body) == {"code", "message", "details"} and body["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) == body["details"]["retry_after_s"] >= 1
        assert (await attacker.get("/tokens/me", headers=good)).status_code == 200
        assert (await other.get("/grids", headers=auth("garbage"))).status_code == 401
        assert (await other.get("/tokens/me", headers=good)).status_code == 200


async def test_missing_token_is_401_and_does_not_count_as_a_failed_attempt(limited_app: FastAPI) -> None:
    async with client_from(limited_app, "10.0.0.7") as c:
        statuses = [(await c.get("/grids")).status_code for _ in range(5)]
        assert statuses == [401] * 5
        assert (await c.get("/grids", headers=auth("garbage"))).status_code == 401


async def test_malformed_tokens_are_refused_without_the_database_and_lookups_are_cached(
    server_dsn: str, role_tokens: dict[str, str]
) -> None:
    async with private_database(server_dsn, "aerogrid_auth") as db:
        # A TTL longer than the test, however loaded the machine: the cached entries must outlive the drop.
        settings = Settings(database_url=db.dsn, links_enabled=False, auth_cache_ttl_s=60)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pool: asyncpg.Pool = app.state.db.pool
            async with pool.acquire() as conn:
                good, _ = await tokens.create(
                    conn, name="t", role=Role.VIEWER, communities=None, created_by=None
                )
            unknown = well_formed_unknown()
            async with client_from(app, "10.0.1.1") as c:
                assert (await c.get("/tokens/me", headers=auth(good))).status_code == 200
                assert (await c.get("/tokens/me", headers=auth(unknown))).status_code == 401
                await db.drop()
                # The database is gone: whatever still answers did not need it.
                r = await c.get("/tokens/me", headers=auth("ag_short_token"))
                assert r.status_code == 401 and r.json()["message"].startswith("malformed token")
                assert (await c.get("/tokens/me", headers=auth(good))).status_code == 200
                assert (await c.get("/tokens/me", headers=auth(unknown))).status_code == 401
                assert (await c.get("/tokens/me", headers=auth(well_formed_unknown()))).status_code == 503


async def test_revoking_a_cached_token_refuses_it_at_once(
    client: httpx.AsyncClient, role_tokens: dict[str, str]
) -> None:
    admin = auth(role_tokens["admin"])
    created = (await client.post("/tokens", json={"name": "short", "role": "viewer"}, headers=admin)).json()
    for _ in range(3):
        assert (await client.get("/tokens/me", headers=auth(created["token"]))).status_code == 200
    assert (await client.delete(f"/tokens/{created['id']}", headers=admin)).status_code == 204
    r = await client.get("/tokens/me", headers=auth(created["token"]))
    assert r.status_code == 401 and r.json()["message"] == "unknown or revoked token"


def test_well_formed_tokens_are_exactly_the_ones_new_token_makes() -> None:
    assert all(is_well_formed(new_token()[0]) for _ in range(200))
    token = new_token()[0]
    for bad in ("", "ag_", token + "x", token[:-1], token.replace("ag_", "AG_"), token + "\n", "x" * 10_000):
        assert not is_well_formed(bad), bad


def test_bucket_refills_at_its_rate_and_never_beyond_the_burst() -> None:
    clock = Clock()
    limiter = FailureLimiter(burst=2, refill_per_s=0.5, max_clients=10, clock=clock)
    limiter.record_failure("a")
    assert limiter.retry_after_s("a") is None
    limiter.record_failure("a")
    assert limiter.retry_after_s("a") == 2
    clock.now_s += 1.0
    assert limiter.retry_after_s("a") == 1
    clock.now_s += 1.0
    assert limiter.retry_after_s("a") is None
    clock.now_s += 3600
    assert limiter.retry_after_s("a") is None and len(limiter) == 0  # full again: forgotten


def test_limiter_memory_is_bounded_by_evicting_the_stalest_address() -> None:
    clock = Clock()
    limiter = FailureLimiter(burst=1, refill_per_s=0.001, max_clients=100, clock=clock)
    for i in range(10_000):
        limiter.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) == 100
    assert limiter.retry_after_s("10.0.39.15") is not None  # the newest is still limited
    assert limiter.retry_after_s("10.0.0.0") is None  # the oldest was evicted


def test_ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:10.0.0.5") == client_key("10.0.0.5") == "10.0.0.5"


def test_principal_cache_expires_and_stays_bounded() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl_s=5.0, max_entries=3, clock=clock)
    principal = Principal(token_id=7, name="n", role=Role.VIEWER, communities=None)
    cache.put(hash_token("a"), principal)
    cache.put(hash_token("b"), None)
    assert cache.get(hash_token("a")) == (True, principal)
    assert cache.get(hash_token("b")) == (True, None)
    clock.now_s += 5.0
    assert cache.get(hash_token("a")) == (False, None)
    for i in range(50):
        cache.put(hash_token(str(i)), None)
    assert len(cache) == 3
    cache.put(hash_token("c"), principal)
    cache.forget_token(7)
    assert cache.get(hash_token("c")) == (False, None)


async def test_tarpit_holds_at_most_max_waiting_answers_at_once() -> None:
    tarpit = Tarpit(max_delay_s=3600, max_waiting=2)
    held = [asyncio.create_task(tarpit.hold(3600)) for _ in range(2)]
    await asyncio.sleep(0)
    assert tarpit.waiting == 2
    await asyncio.wait_for(tarpit.hold(3600), 5)  # full: answered at once, not held for an hour
    for task in held:
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    assert tarpit.waiting == 0
    await asyncio.wait_for(Tarpit(max_delay_s=0, max_waiting=10).hold(3600), 5)  # off
