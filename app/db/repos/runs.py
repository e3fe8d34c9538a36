"""Mission runs and their transition history. The service owns the transactions."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from app.db.conn import Conn

_COLS = """id, mission_id, drone_id, schedule_id, occurrence_at, state, sortie, sortie_count, upload_id,
    current_seq, item_count, progress_pct, eta_s, alt_offset_m, sim_only, not_before, reason, created_by,
    created_at, updated_at"""

ACTIVE_STATES = ("dispatching", "uploading", "ready", "running", "paused", "returning", "landed", "waiting")
"""States in which a run holds its drone (the partial unique index of migration 0010)."""


async def insert(
    conn: Conn,
    *,
    mission_id: int,
    drone_id: int | None,
    state: str,
    sortie_count: int,
    created_by: int | None,
    at: datetime,
    schedule_id: int | None = None,
    occurrence_at: datetime | None = None,
    not_before: datetime | None = None,
    sim_only: bool = False,
) -> int:
    run_id: int = await conn.fetchval(
        """INSERT INTO mission_runs (mission_id, drone_id, schedule_id, occurrence_at, state, sortie_count,
                                     not_before, created_by, created_at, updated_at, sim_only)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id""",
        mission_id,
        drone_id,
        schedule_id,
        occurrence_at,
        state,
        sortie_count,
        not_before,
        created_by,
        at,
        sim_only,
    )
    return run_id


async def get(conn: Conn, run_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_COLS} FROM mission_runs WHERE id = $1{lock}", run_id)


async def list_recent(
    conn: Conn, *, states: list[str] | None, schedule_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_COLS} FROM mission_runs
            WHERE ($1::text[] IS NULL OR state = ANY($1)) AND ($2::bigint IS NULL OR schedule_id = $2)
            ORDER BY id DESC LIMIT $3""",
        states,
        schedule_id,
        limit,
    )


async def active_on_drone(conn: Conn, drone_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLS} FROM mission_runs WHERE drone_id = $1 AND state = ANY($2)", drone_id, ACTIVE_STATES
    )


async def busy_drone_ids(conn: Conn) -> set[int]:
    rows = await conn.fetch(
        "SELECT drone_id FROM mission_runs WHERE drone_id IS NOT NULL AND state = ANY($1)", ACTIVE_STATES
    )
    return {r["drone_id"] for r in rows}


async def set_state(
    conn: Conn,
    run_id: int,
    *,
    from_state: str | None,
    to_state: str,
    sortie: int,
    actor: str,
    reason: str | None,
    at: datetime,
) -> None:
    """Move the run to ``to_state`` and append the transition (call inside a transaction)."""
    await conn.execute(
        "UPDATE mission_runs SET state = $2, sortie = $3, reason = $4, updated_at = $5 WHERE id = $1",
        run_id,
        to_state,
        sortie,
        reason,
        at,
    )
    await conn.execute(
        """INSERT INTO run_transitions (run_id, at, from_state, to_state, sortie, actor, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        run_id,
        at,
        from_state,
        to_state,
        sortie,
        actor,
        reason,
    )


async def assign(
    conn: Conn, run_id: int, *, drone_id: int, alt_offset_m: float, not_before: datetime | None
) -> None:
    await conn.execute(
        "UPDATE mission_runs SET drone_id = $2, alt_offset_m = $3, not_before = $4 WHERE id = $1",
        run_id,
        drone_id,
        alt_offset_m,
        not_before,
    )


async def set_upload(conn: Conn, run_id: int, *, upload_id: int, item_count: int) -> None:
    await conn.execute(
        "UPDATE mission_runs SET upload_id = $2, item_count = $3, current_seq = 0, progress_pct = 0 WHERE id = $1",
        run_id,
        upload_id,
        item_count,
    )


async def set_progress(
    conn: Conn, run_id: int, *, current_seq: int, progress_pct: float, eta_s: float | None
) -> None:
    await conn.execute(
        "UPDATE mission_runs SET current_seq = $2, progress_pct = $3, eta_s = $4 WHERE id = $1",
        run_id,
        current_seq,
        progress_pct,
        eta_s,
    )


async def transitions(conn: Conn, run_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT at, from_state, to_state, sortie, actor, reason FROM run_transitions
           WHERE run_id = $1 ORDER BY id""",
        run_id,
    )
