"""Private databases on the session's PostgreSQL server, for tests whose state is global to a
database (link leases, partitions, the outbox, a second service instance) and so must not share
the session's ``aerogrid_test_*`` database.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from app.db.migrate import migrate
from app.db.pool import create_pool
from tests.conftest import _with_database


@dataclass(frozen=True, slots=True)
class PrivateDatabase:
    """A database of a test's own: its name, a DSN to it, and the server connection that made it."""

    name: str
    dsn: str
    admin: asyncpg.Connection

    async def drop(self) -> None:
        """Drop it now, under the connections still open to it (a test of a database that vanishes)."""
        await self.admin.execute(f'DROP DATABASE "{self.name}" WITH (FORCE)')


@asynccontextmanager
async def private_database(server_dsn: str, prefix: str) -> AsyncIterator[PrivateDatabase]:
    """An empty database ``<prefix>_<random>`` on ``server_dsn``'s server, dropped on exit (unless
    the test dropped it already) even while connections to it are still open: a killed service's may be."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PrivateDatabase(name, _with_database(server_dsn, name), admin)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def private_pool(server_dsn: str, prefix: str, max_size: int = 4) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a migrated :func:`private_database`, closed before the database is dropped."""
    async with private_database(server_dsn, prefix) as db:
        pool = await create_pool(db.dsn, min_size=1, max_size=max_size)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            yield pool
        finally:
            await pool.close()
