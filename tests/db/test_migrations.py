"""Migrations against a real PostgreSQL: they apply once, and give exactly the checked-in schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio

from app.db.migrate import describe_schema, load_migrations, migrate
from tests.dbtools import private_database

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "app" / "db" / "schema.sql"


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_conn(server_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    async with private_database(server_dsn, "aerogrid_mig") as db:
        conn = await asyncpg.connect(db.dsn)
        try:
            yield conn
        finally:
            await conn.close()


async def test_migrations_apply_once_and_record_versions(fresh_conn: asyncpg.Connection) -> None:
    versions = [m.version for m in load_migrations()]
    assert await migrate(fresh_conn) == versions
    assert await migrate(fresh_conn) == []
    recorded = [
        r["version"] for r in await fresh_conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
    ]
    assert recorded == versions


async def test_migrated_schema_matches_checked_in_schema(fresh_conn: asyncpg.Connection) -> None:
    await migrate(fresh_conn)
    actual = await describe_schema(fresh_conn)
    assert actual == SCHEMA_SQL.read_text(encoding="utf-8"), (
        "schema drifted: regenerate app/db/schema.sql with `aerogrid migrate --dump-schema` and review it"
    )


async def test_failed_migration_leaves_nothing_behind(fresh_conn: asyncpg.Connection) -> None:
    await fresh_conn.execute("CREATE TABLE streets (code text)")  # collides with migration 1
    try:
        await migrate(fresh_conn)
    except asyncpg.DuplicateTableError:
        pass
    else:
        raise AssertionError("migration over a colliding table must fail")
    assert await fresh_conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    assert await fresh_conn.fetchval("SELECT to_regclass('grids')") is None
