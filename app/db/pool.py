"""Opening the asyncpg pool on the configured or embedded PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import asyncpg

from app.config import Settings
from app.db.embedded import EmbeddedPostgres


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns round-trip as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(slots=True)
class Database:
    """The pool plus the embedded server it may run on; ``close`` stops both, in that order."""

    pool: asyncpg.Pool
    dsn: str
    embedded: EmbeddedPostgres | None = field(default=None)

    async def close(self) -> None:
        await self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def resolve_dsn(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedPostgres(settings.embedded_pgdata)
    return embedded.start(), embedded


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def open_database(settings: Settings) -> Database:
    dsn, embedded = resolve_dsn(settings)
    try:
        pool = await create_pool(dsn, min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Database(pool=pool, dsn=dsn, embedded=embedded)
