"""Losing the database: killed backends are replaced without an error; a database that is gone
gives 503 `database_unavailable` (never a 500), and readiness says so; backends killed again and
again under requests and background workers give only 200s and 503s and stop no worker."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI

from app.auth import new_token
from app.config import Settings
from app.main import create_app
from tests.conftest import auth
from tests.dbtools import private_database


async def test_killed_backends_are_replaced_without_errors(
    client: httpx.AsyncClient, pool: asyncpg.Pool, role_tokens: dict[str, str], database_dsn: str
) -> None:
    headers = auth(role_tokens["viewer"])
    assert (await client.get("/grids", headers=headers)).status_code == 200
    # pg_terminate_backend only signals: the backends are dead (and the pool can see it) once they
    # have left pg_stat_activity. Before that a request may still borrow a live one that dies under it.
    outside = await asyncpg.connect(database_dsn)
    try:
        killed = await outside.fetchval(
            "SELECT array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = any($1)"
        async with asyncio.timeout(10):
            while True:
                if await outside.fetchval(gone, killed):
                    break
                await asyncio.sleep(0.02)
    finally:
        await outside.close()
    assert len(killed) >= 1
    statuses = [
        (await client.get("/grids", headers=headers)).status_code for _ in range(pool.get_max_size() + 2)
    ]
    assert statuses == [200] * len(statuses)


async def test_database_gone_gives_503_not_500(server_dsn: str) -> None:
    async with private_database(server_dsn, "aerogrid_gone") as db:
        app = create_app(Settings(database_url=db.dsn, links_enabled=False))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                assert (await c.get("/readyz")).status_code == 200
                await db.drop()
                # A well-formed token: only it needs the database (a malformed one is refused without it).
                r = await c.get("/grids", headers=auth(new_token()[0]))
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "database_unavailable" and r.headers["Retry-After"] == "2"
                assert (await c.get("/readyz")).status_code == 503


# The session app's workers that poll the database (links on, leases off: no link-ownership task).
DB_WORKERS = frozenset(
    {
        "alerts-writer",
        "alerts-refresh",
        "scheduler",
        "run-adopter",
        "webhook-delivery",
        "workorder-due-check",
        "telemetry-writer",
    }
)


async def _kill_backends(dsn: str) -> int:
    outside = await asyncpg.connect(dsn)
    try:
        killed: int = await outside.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return killed
    finally:
        await outside.close()


async def test_backends_killed_mid_work_give_503_or_200_and_stop_no_worker(
    app: FastAPI, client: httpx.AsyncClient, role_tokens: dict[str, str], database_dsn: str
) -> None:
    workers = {t.get_name(): t for t in asyncio.all_tasks() if t.get_name() in DB_WORKERS}
    assert set(workers) == DB_WORKERS
    headers = auth(role_tokens["viewer"])
    statuses: list[int] = []
    killed = 0
    for _ in range(15):
        requests = [client.get(path, headers=headers) for path in ("/grids", "/alerts", "/work-orders") * 3]
        # The kill lands while the requests are between acquiring, querying and releasing connections.
        *responses, n = await asyncio.gather(*requests, _kill_backends(database_dsn))
        statuses += [r.status_code for r in responses]
        killed += n
        await asyncio.sleep(0.05)  # let the workers' rounds run into the next kill
    assert killed >= 15
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert {name for name, task in workers.items() if task.done()} == set()
    after = [(await client.get("/grids", headers=headers)).status_code for _ in range(3)]
    assert after == [200, 200, 200]
