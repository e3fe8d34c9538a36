"""Telemetry partitions created by several instances at the same moment, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from fastapi import FastAPI

from app.db.repos.telemetry import ensure_partition, partitions

INTERVAL_H = 24
CREATORS = 6
ROUNDS = 8


async def test_concurrent_creators_of_the_same_partition_all_succeed_and_one_table_results(
    app: FastAPI, database_dsn: str
) -> None:
    del app  # migrated the test database
    conns = [await asyncpg.connect(database_dsn) for _ in range(CREATORS)]
    try:
        # Far future days: no other test's partitions, each round a partition nobody has made yet.
        first = datetime(2091, 1, 1, tzinfo=UTC)
        starts = [first + timedelta(hours=INTERVAL_H * i) for i in range(ROUNDS)]
        for start in starts:
            names = await asyncio.gather(*(ensure_partition(c, start, INTERVAL_H) for c in conns))
            assert len(set(names)) == 1
        made = [p for p in await partitions(conns[0]) if p[1] in starts]
        assert [p[1] for p in made] == starts
    finally:
        for start in starts:
            name = f"telemetry_samples_p{start:%Y%m%d%H}_{INTERVAL_H}h"
            await conns[0].execute(f"DROP TABLE IF EXISTS telemetry_parts.{name}")
        for c in conns:
            await c.close()
