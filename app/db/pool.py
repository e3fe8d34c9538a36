"""Opening the asyncpg pool on the configured or embedded PostgreSQL.

With the embedded server, a watchdog restarts it when it dies under the running service (the pool
then replaces its broken connections, and requests in between answer 503 ``database_unavailable``),
and closing stops the server running at that moment, the restarted one included.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import asyncpg

from app.config import Settings
from app.db.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns round-trip as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(slots=True)
class Database:
    """The pool plus the embedded server it may run on; ``close`` stops the watchdog, the pool and
    the server, in that order."""

    pool: asyncpg.Pool
    dsn: str
    embedded: EmbeddedPostgres | None = field(default=None)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _watchdog: asyncio.Task[None] | None = None

    def watch_embedded(self, interval_s: float) -> None:
        """Restart the embedded server whenever it is found dead, until ``close``; the interval is
        the longest extra outage after a crash."""
        if self.embedded is not None and self._watchdog is None:
            self._watchdog = asyncio.create_task(self._keep_running(self.embedded, interval_s))

    async def _keep_running(self, embedded: EmbeddedPostgres, interval_s: float) -> None:
        while True:
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=interval_s)
                return
            except TimeoutError:
                pass
            try:
                # Not cancelled by close(): a restart under way finishes before stop() looks.
                await asyncio.to_thread(embedded.ensure_running)
            except Exception:  # the old server's backends may still hold its memory: try again
                log.exception("restarting the embedded PostgreSQL failed; retrying in %.0f s", interval_s)

    async def close(self) -> None:
        self._closing.set()
        if self._watchdog is not None:
            await self._watchdog
            self._watchdog = None
        await self.pool.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


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
    db = Database(pool=pool, dsn=dsn, embedded=embedded)
    db.watch_embedded(settings.embedded_watch_interval_s)
    return db
