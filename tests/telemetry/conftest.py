"""Telemetry test fixtures: a fresh migrated database for tests that drop partitions or stop writers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from app.db.migrate import migrate
from app.db.pool import create_pool
from tests.conftest import _with_database


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_pool(server_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    name = f"aerogrid_tel_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await create_pool(_with_database(server_dsn, name), min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
