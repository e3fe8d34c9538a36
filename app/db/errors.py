"""What a lost database looks like from asyncpg, in one place.

A restart, failover, dropped database or killed backend surfaces as any of these, depending on the
moment it hits: while connecting (OSError, CannotConnectNowError), between statements
(ConnectionDoesNotExistError, InterfaceError) or in the middle of one, when asyncpg's own pool and
protocol bookkeeping can give up with an ``InternalClientError`` ("release() called on a free
connection holder"). API requests answer all of them with 503 ``database_unavailable`` and the
background workers retry on their next round instead of dying.
"""

from __future__ import annotations

from typing import Final

import asyncpg

DATABASE_LOST: Final[tuple[type[Exception], ...]] = (
    OSError,  # TimeoutError included
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.DatabaseDroppedError,
    asyncpg.IdleSessionTimeoutError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

DATABASE_FAILED: Final[tuple[type[Exception], ...]] = (*DATABASE_LOST, asyncpg.PostgresError)
"""Any failure of a background worker's database round (lost, or refused by PostgreSQL): logged and
tried again on the next round."""
