"""Schedules and their occurrences. The scheduler owns the claiming transaction."""

from __future__ import annotations

from datetime import date, datetime, time

import asyncpg

from app.db.conn import Conn

_COLS = """id, name, mission_id, drone_id, start_at, rrule, tz, window_start, window_end, blackout_dates,
    quiet_start, quiet_end, enabled, sim_only, created_by, created_at"""


async def insert(
    conn: Conn,
    *,
    name: str,
    mission_id: int,
    drone_id: int | None,
    start_at: datetime,
    rrule: str | None,
    tz: str,
    window: tuple[time, time] | None,
    blackout_dates: list[date],
    quiet_hours: tuple[time, time] | None,
    sim_only: bool,
    created_by: int | None,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO schedules (name, mission_id, drone_id, start_at, rrule, tz, window_start, window_end,
                                   blackout_dates, quiet_start, quiet_end, sim_only, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {_COLS}""",
        name,
        mission_id,
        drone_id,
        start_at,
        rrule,
        tz,
        window[0] if window else None,
        window[1] if window else None,
        blackout_dates,
        quiet_hours[0] if quiet_hours else None,
        quiet_hours[1] if quiet_hours else None,
        sim_only,
        created_by,
    )
    assert row is not None  # INSERT ... RETURNING always yields the row
    return row


async def get(conn: Conn, schedule_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLS} FROM schedules WHERE id = $1", schedule_id)


async def list_all(conn: Conn, *, enabled_only: bool = False) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_COLS} FROM schedules WHERE NOT $1 OR enabled ORDER BY id", enabled_only
    )
    return rows


async def delete(conn: Conn, schedule_id: int) -> bool:
    result: str = await conn.execute("DELETE FROM schedules WHERE id = $1", schedule_id)
    return result.endswith(" 1")


async def add_occurrences(conn: Conn, schedule_id: int, due: list[datetime]) -> None:
    """Record occurrences as pending; one already recorded (by any instance) is left as it is."""
    await conn.executemany(
        """INSERT INTO schedule_occurrences (schedule_id, due_at) VALUES ($1, $2)
           ON CONFLICT (schedule_id, due_at) DO NOTHING""",
        [(schedule_id, d) for d in due],
    )


async def claim_due(conn: Conn, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Lock pending occurrences due by ``now`` that no other transaction holds (inside a transaction)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, schedule_id, due_at FROM schedule_occurrences
           WHERE state = 'pending' AND due_at <= $1
           ORDER BY due_at, id LIMIT $2
           FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return rows


async def finish(
    conn: Conn,
    occurrence_id: int,
    *,
    state: str,
    run_id: int | None,
    reason: str | None,
    at: datetime,
    by: str,
) -> None:
    await conn.execute(
        """UPDATE schedule_occurrences SET state = $2, run_id = $3, reason = $4, handled_at = $5, handled_by = $6
           WHERE id = $1 AND state = 'pending'""",
        occurrence_id,
        state,
        run_id,
        reason,
        at,
        by,
    )


async def occurrences(conn: Conn, schedule_id: int, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, due_at, state, run_id, reason, handled_at, handled_by FROM schedule_occurrences
           WHERE schedule_id = $1 ORDER BY due_at DESC LIMIT $2""",
        schedule_id,
        limit,
    )
    return rows
