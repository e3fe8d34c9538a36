"""Storing batches in PostgreSQL: idempotent by key, partitions ahead of need, retention by DROP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from app.db.repos import telemetry as repo
from app.telemetry.partitions import AHEAD_INTERVALS, Partitions
from tests.telemetry.rows import BASE, event, sample


async def test_a_batch_stored_twice_is_stored_once(fresh_pool: asyncpg.Pool) -> None:
    samples = [sample(7, i * 100) for i in range(50)]
    events = [event(7, i) for i in range(5)]
    async with fresh_pool.acquire() as conn:
        await Partitions(interval_h=24, retention_days=3650).ensure_for(conn, BASE, BASE + timedelta(hours=1))
        assert await repo.write_batch(conn, samples, events) == (50, 5)
        assert await repo.write_batch(conn, [*samples[25:], sample(7, 99_999)], events) == (1, 0)
        stored = await conn.fetch("SELECT * FROM telemetry_samples ORDER BY time")
        assert len(stored) == 51
        assert tuple(stored[0]) == tuple(samples[0])
        assert await conn.fetchval("SELECT count(*) FROM telemetry_events") == 5


async def test_partitions_are_created_ahead_and_dropped_after_retention(fresh_pool: asyncpg.Pool) -> None:
    now = datetime(2031, 3, 10, 15, 30, tzinfo=UTC)
    parts = Partitions(interval_h=6, retention_days=2)
    async with fresh_pool.acquire() as conn:
        old_start = repo.partition_start(now - timedelta(days=3), 6)
        await repo.ensure_partition(conn, old_start, 6)
        await repo.write_batch(conn, [sample(1, 0, base=old_start)], [event(1, 1, base=old_start)])
        dropped = await parts.maintain(conn, now)
        assert dropped == [repo.partition_name(old_start, 6)]
        starts = [p[1] for p in await repo.partitions(conn)]
        current = repo.partition_start(now, 6)
        assert starts == [current + timedelta(hours=6 * k) for k in range(-1, AHEAD_INTERVALS + 1)]
        assert await conn.fetchval("SELECT count(*) FROM telemetry_samples") == 0
        assert await conn.fetchval("SELECT count(*) FROM telemetry_events") == 0
        # The partitions live outside the reviewed public schema.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'telemetry_samples_p%'"
            )
            == 0
        )
