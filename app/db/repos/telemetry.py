"""Telemetry rows: the idempotent batch write, time partitions, and the read queries.

The batch write COPYs into session-local staging tables and moves the rows over with
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` in one transaction: COPY alone cannot skip a row
whose key exists, and a replayed spool or a re-received packet must not fail or duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg

from app.db.conn import Conn
from app.telemetry.records import EVENT_COLUMNS, SAMPLE_COLUMNS, Event, Sample

PARTITION_SCHEMA: Final = "telemetry_parts"
_PART_RE: Final = re.compile(r"^telemetry_samples_p(\d{10})_(\d+)h$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PARTITION_LOCK_KEY: Final = 0x4147_5041_5254  # "AGPART": serialises partition creation across instances

_STAGE_SAMPLES: Final = """CREATE TEMP TABLE IF NOT EXISTS telemetry_samples_stage
    (LIKE telemetry_samples) ON COMMIT DELETE ROWS"""
_STAGE_EVENTS: Final = """CREATE TEMP TABLE IF NOT EXISTS telemetry_events_stage
    (LIKE telemetry_events) ON COMMIT DELETE ROWS"""
_MOVE_SAMPLES: Final = """INSERT INTO telemetry_samples SELECT * FROM telemetry_samples_stage
    ON CONFLICT DO NOTHING"""
_MOVE_EVENTS: Final = """INSERT INTO telemetry_events SELECT * FROM telemetry_events_stage
    ON CONFLICT DO NOTHING"""


async def write_batch(conn: Conn, samples: Sequence[Sample], events: Sequence[Event]) -> tuple[int, int]:
    """Store a batch once whatever was stored before; returns (samples, events) newly inserted."""
    new_samples = new_events = 0
    async with conn.transaction():
        if samples:
            await conn.execute(_STAGE_SAMPLES)
            await conn.copy_records_to_table(
                "telemetry_samples_stage", records=samples, columns=SAMPLE_COLUMNS
            )
            new_samples = _count(await conn.execute(_MOVE_SAMPLES))
        if events:
            await conn.execute(_STAGE_EVENTS)
            await conn.copy_records_to_table("telemetry_events_stage", records=events, columns=EVENT_COLUMNS)
            new_events = _count(await conn.execute(_MOVE_EVENTS))
    return new_samples, new_events


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


# --- partitions ---------------------------------------------------------------------------


def partition_start(at: datetime, interval_h: int) -> datetime:
    hours = int((at - _EPOCH).total_seconds() // 3600)
    return _EPOCH + timedelta(hours=hours - hours % interval_h)


def partition_name(start: datetime, interval_h: int) -> str:
    return f"telemetry_samples_p{start:%Y%m%d%H}_{interval_h}h"


async def ensure_partition(conn: Conn, start: datetime, interval_h: int) -> str:
    """Create the partition starting at ``start`` (aligned by ``partition_start``) if missing.

    Instances sharing a database create the same partitions at the same moments (start-up, the top of
    an interval). ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent create of the same
    table (both pass the check, one fails on the catalog's unique index), so creators queue on a
    transaction-scoped advisory lock and the second finds the table there.
    """
    name = partition_name(start, interval_h)
    end = start + timedelta(hours=interval_h)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK_KEY)
        # Identifiers come from dates and an integer, never from user input.
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}.{name} PARTITION OF telemetry_samples "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    return name


async def partitions(conn: Conn) -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of every sample partition, oldest first."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'telemetry_samples'::regclass"""
    )
    out = []
    for r in rows:
        m = _PART_RE.match(r["relname"])
        if m:
            start = datetime.strptime(m.group(1), "%Y%m%d%H").replace(tzinfo=UTC)
            out.append((r["relname"], start, start + timedelta(hours=int(m.group(2)))))
    return sorted(out, key=lambda p: p[1])


async def drop_partition(conn: Conn, name: str) -> None:
    if not _PART_RE.match(name):
        raise ValueError(f"not a telemetry partition: {name}")
    await conn.execute(f"DROP TABLE IF EXISTS {PARTITION_SCHEMA}.{name}")


async def delete_events_before(conn: Conn, cutoff: datetime) -> int:
    return _count(await conn.execute("DELETE FROM telemetry_events WHERE time < $1", cutoff))


# --- what ingest reads --------------------------------------------------------------------


async def grids_version(conn: Conn) -> tuple[Any, ...]:
    """Changes whenever a grid is imported, updated or deleted (cheap: one aggregate)."""
    row = await conn.fetchrow(
        "SELECT count(*), max(updated_at), coalesce(sum(hashtext(code)::bigint), 0) FROM grids"
    )
    assert row is not None
    return tuple(row)


async def grid_boundaries(conn: Conn) -> list[tuple[str, dict[str, Any]]]:
    return [(r["code"], r["boundary"]) for r in await conn.fetch("SELECT code, boundary FROM grids")]


async def flight_contexts(conn: Conn) -> dict[int, tuple[int, int | None, int]]:
    """Each drone's latest verified upload: (upload_id, mission_id, sortie)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (drone_id) drone_id, id, mission_id, sortie FROM drone_uploads
           WHERE status = 'verified' ORDER BY drone_id, started_at DESC, id DESC"""
    )
    return {r["drone_id"]: (r["id"], r["mission_id"], r["sortie"]) for r in rows}


# --- queries ------------------------------------------------------------------------------

SAMPLE_OUT_COLS: Final = ", ".join(c for c in SAMPLE_COLUMNS)

_SCOPE: Final = """($SCOPE::text[] IS NULL
    OR s.drone_id IN (SELECT id FROM drones WHERE community_code = ANY($SCOPE::text[]))
    OR s.grid_code IN (SELECT code FROM grids WHERE community_code = ANY($SCOPE::text[])))"""

_SAMPLES_PAGE: Final = f"""
SELECT {SAMPLE_OUT_COLS} FROM telemetry_samples s
WHERE s.time >= $1 AND s.time < $2
  AND ($3::bigint IS NULL OR s.drone_id = $3)
  AND ($4::text IS NULL OR s.grid_code = $4)
  AND ($5::timestamptz IS NULL OR (s.time, s.drone_id, s.boot_id, s.time_boot_ms) > ($5, $6::bigint, $7::bigint, $8::bigint))
  AND {_SCOPE.replace("$SCOPE", "$9")}
ORDER BY s.time, s.drone_id, s.boot_id, s.time_boot_ms
LIMIT $10"""


async def samples_page(
    conn: Conn,
    *,
    from_time: datetime,
    to_time: datetime,
    drone_id: int | None,
    grid_code: str | None,
    after: tuple[datetime, int, int, int] | None,
    scope: Sequence[str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    a = after or (None, None, None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        _SAMPLES_PAGE,
        from_time,
        to_time,
        drone_id,
        grid_code,
        *a,
        None if scope is None else list(scope),
        limit,
    )
    return rows


_EVENTS_PAGE: Final = f"""
SELECT {", ".join(EVENT_COLUMNS)} FROM telemetry_events e
WHERE e.time >= $1 AND e.time < $2
  AND ($3::bigint IS NULL OR e.drone_id = $3)
  AND ($4::text IS NULL OR e.kind = $4)
  AND ($5::timestamptz IS NULL OR (e.time, e.drone_id, e.boot_id, e.seq) > ($5, $6::bigint, $7::bigint, $8::bigint))
  AND ($9::text[] IS NULL
       OR e.drone_id IN (SELECT id FROM drones WHERE community_code = ANY($9::text[])))
ORDER BY e.time, e.drone_id, e.boot_id, e.seq
LIMIT $10"""


async def events_page(
    conn: Conn,
    *,
    from_time: datetime,
    to_time: datetime,
    drone_id: int | None,
    kind: str | None,
    after: tuple[datetime, int, int, int] | None,
    scope: Sequence[str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    a = after or (None, None, None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        _EVENTS_PAGE, from_time, to_time, drone_id, kind, *a, None if scope is None else list(scope), limit
    )
    return rows


async def track_points(
    conn: Conn, drone_id: int, from_time: datetime, to_time: datetime, max_rows: int
) -> list[asyncpg.Record]:
    """The drone's positions in time order (at most ``max_rows``, the earliest)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT time, lon_deg, lat_deg, alt_amsl_m FROM telemetry_samples
           WHERE drone_id = $1 AND time >= $2 AND time < $3
           ORDER BY time, boot_id, time_boot_ms LIMIT $4""",
        drone_id,
        from_time,
        to_time,
        max_rows,
    )
    return rows
