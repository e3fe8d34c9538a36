"""Telemetry test fixtures: a fresh migrated database for tests that drop partitions or stop writers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from tests.dbtools import private_pool


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_pool(server_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with private_pool(server_dsn, "aerogrid_tel") as pool:
        yield pool
