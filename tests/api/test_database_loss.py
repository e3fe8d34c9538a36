"""Losing the database: killed backends are replaced without an error; a database that is gone
gives 503 `database_unavailable` (never a 500), and readiness says so."""

from __future__ import annotations

import secrets

import asyncpg
import httpx

from app.auth import new_token
from app.config import Settings
from app.main import create_app
from tests.conftest import _with_database, auth


async def test_killed_backends_are_replaced_without_errors(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], database_dsn: str
) -> None:
    headers = auth(role_tokens["viewer"])
    assert (await client.get("/grids", headers=headers)).status_code == 200
    outside = await asyncpg.connect(database_dsn)
    try:
        killed = await outside.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await outside.close()
    assert killed >= 1
    statuses = [
        (await client.get("/grids", headers=headers)).status_code for _ in range(pool.get_max_size() + 2)
    ]
    assert statuses == [200] * len(statuses)


async def test_database_gone_gives_503_not_500(server_dsn: str) -> None:
    name = f"aerogrid_gone_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        app = create_app(Settings(database_url=_with_database(server_dsn, name), links_enabled=False))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                assert (await c.get("/readyz")).status_code == 200
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                # A well-formed token: only it needs the database (a malformed one is refused without it).
                r = await c.get("/grids", headers=auth(new_token()[0]))
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "database_unavailable" and r.headers["Retry-After"] == "2"
                assert (await c.get("/readyz")).status_code == 503
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
