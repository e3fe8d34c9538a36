"""Shared fixtures: a real PostgreSQL per test run and the app on it.

Without DATABASE_URL an embedded server (pgserver, PostgreSQL 16) is started in a temporary
directory; with it (CI also runs Debian's PostgreSQL 15) that server is used. Either way the run
creates its own database ``aerogrid_test_<random>`` and drops it at the end, so runs never see
each other's rows.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.auth import Role
from app.config import Settings
from app.main import create_app
from app.services import tokens


def _private_runtime_dir() -> None:
    """Give this test run its own runtime directory, before pgserver is imported.

    pgserver serialises every embedded server's start and stop through one lock file (and puts
    socket directories whose path is too long) under the user's runtime directory, which every test
    run, demo and CI job on the machine shares as the same user (/tmp/runtime-0 without
    XDG_RUNTIME_DIR): the per-test servers then queued behind, and tripped over, other runs' servers.
    Subprocesses inherit the variable, so a test's own helper processes still share its lock.
    Removed at exit, after pgserver's own exit handlers (registered later, so run earlier).
    """
    if "pgserver" in sys.modules:
        return
    runtime = tempfile.mkdtemp(prefix="aerogrid-run-")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    atexit.register(shutil.rmtree, runtime, ignore_errors=True)


_private_runtime_dir()


def _with_database(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from app.db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="aerogrid-pg-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver runs the server as its own user when we are root
        embedded = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_dsn(server_dsn: str) -> AsyncIterator[str]:
    dbname = f"aerogrid_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_dsn, dbname)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(database_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    # Its own data directory: the telemetry spool must never replay another run's rows.
    data_dir = tmp_path_factory.mktemp("app-data")
    # Every request comes from one ASGI client address and many tests send bad tokens on purpose
    # (the permission matrix one per route): a failure budget far above the production default keeps
    # the limiter out of their way; tests/api/test_rate_limit.py tests it with small budgets. The
    # request budgets likewise (the hostile corpus creates tokens and commands drones by the hundred);
    # tests/hostile/test_authz_matrix.py tests them.
    settings = Settings(
        database_url=database_dsn,
        data_dir=data_dir,
        auth_fail_burst=10_000,
        token_create_burst=100_000,
        token_create_address_burst=100_000,
        flight_command_burst=100_000,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def pool(app: FastAPI) -> asyncpg.Pool:
    p: asyncpg.Pool = app.state.db.pool
    return p


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test") as c:
        yield c


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def role_tokens(pool: asyncpg.Pool) -> dict[str, str]:
    """One district-wide token per role, keyed by role name."""
    out = {}
    async with pool.acquire() as conn:
        for role in Role:
            token, _ = await tokens.create(
                conn, name=f"test {role}", role=role, communities=None, created_by=None
            )
            out[role.value] = token
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TABLES_WITH_DATA = ("drone_uploads", "missions", "drones", "grids", "communities", "streets", "zones")


async def wipe_district(pool: asyncpg.Pool) -> None:
    """Empty the district tables (tokens stay) so a test starts from a known state.

    The app's background workers (ingest, alert detection, SLA checks) keep writing while a test
    wipes; TRUNCATE ... CASCADE takes its locks in another order than they do, and PostgreSQL may
    pick the wipe as a deadlock's victim. Its answer to a deadlock is to run the transaction again.
    """
    for attempt in range(5):
        try:
            async with pool.acquire() as conn:
                await conn.execute(f"TRUNCATE {', '.join(TABLES_WITH_DATA)} CASCADE")
                await conn.execute("UPDATE district_settings SET ceiling_m = 120")
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that reaches PostgreSQL as `db`, so CI can rerun exactly those on PG 15."""
    for item in items:
        if "server_dsn" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
