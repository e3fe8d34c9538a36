"""Time partitions of ``telemetry_samples``: created ahead of need, dropped after retention.

The ingest writer calls ``ensure_for`` with each batch's time range before it writes (a replayed
spool may carry rows older than today's partition), and ``maintain`` runs at start and then
periodically: partitions for the current and the next intervals exist before the first row
needs them, and whole partitions older than the retention are dropped (a DROP, not a DELETE).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from app.db.conn import Conn
from app.db.repos import telemetry as repo

log = logging.getLogger(__name__)

AHEAD_INTERVALS = 2


class Partitions:
    def __init__(self, *, interval_h: int, retention_days: int) -> None:
        self.interval_h = interval_h
        self.retention = timedelta(days=retention_days)
        self._known: set[datetime] = set()

    def cutoff(self, now: datetime | None = None) -> datetime:
        """Rows older than this are past retention (not written, and their partitions dropped)."""
        return repo.partition_start((now or datetime.now(UTC)) - self.retention, self.interval_h)

    async def ensure_for(self, conn: Conn, first: datetime, last: datetime) -> None:
        step = timedelta(hours=self.interval_h)
        start = repo.partition_start(first, self.interval_h)
        while start <= last:
            if start not in self._known:
                await repo.ensure_partition(conn, start, self.interval_h)
                self._known.add(start)
            start += step

    async def maintain(self, conn: Conn, now: datetime | None = None) -> list[str]:
        """Create the partitions ahead of need and drop the expired ones; returns those dropped."""
        now = now or datetime.now(UTC)
        step = timedelta(hours=self.interval_h)
        await self.ensure_for(conn, now - step, now + AHEAD_INTERVALS * step)
        cutoff = self.cutoff(now)
        dropped = []
        for name, start, end in await repo.partitions(conn):
            if end <= cutoff:
                await repo.drop_partition(conn, name)
                self._known.discard(start)
                dropped.append(name)
        if dropped:
            log.info("telemetry retention: dropped partitions %s", ", ".join(dropped))
        await repo.delete_events_before(conn, cutoff)
        return dropped
