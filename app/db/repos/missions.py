"""Stored missions and the upload log."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.db.conn import Conn

_COLS = "id, name, kind, grid_codes, communities, request, plan, sortie_count, created_by, created_at"
_SUMMARY = (
    "id, name, kind, grid_codes, communities, sortie_count, plan->'stats' AS stats, created_by, created_at"
)


async def insert(
    conn: Conn,
    *,
    name: str,
    kind: str,
    grid_codes: list[str],
    communities: list[str],
    request: dict[str, Any],
    plan: dict[str, Any],
    sortie_count: int,
    created_by: int | None,
) -> int:
    mission_id: int = await conn.fetchval(
        """INSERT INTO missions (name, kind, grid_codes, communities, request, plan, sortie_count, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        name,
        kind,
        grid_codes,
        communities,
        request,
        plan,
        sortie_count,
        created_by,
    )
    return mission_id


async def get(conn: Conn, mission_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLS} FROM missions WHERE id = $1", mission_id)


async def list_recent(conn: Conn, *, communities_scope: list[str] | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_SUMMARY} FROM missions
            WHERE $1::text[] IS NULL OR communities <@ $1
            ORDER BY id DESC LIMIT $2""",
        communities_scope,
        limit,
    )


async def start_upload(
    conn: Conn, *, drone_id: int, mission_id: int | None, sortie: int, item_count: int, created_by: int | None
) -> int:
    upload_id: int = await conn.fetchval(
        """INSERT INTO drone_uploads (drone_id, mission_id, sortie, item_count, status, created_by)
           VALUES ($1, $2, $3, $4, 'uploading', $5) RETURNING id""",
        drone_id,
        mission_id,
        sortie,
        item_count,
        created_by,
    )
    return upload_id


async def finish_upload(
    conn: Conn, upload_id: int, *, status: str, verified_by: str | None, attempts: int, error: str | None
) -> None:
    await conn.execute(
        """UPDATE drone_uploads SET status = $2, verified_by = $3, attempts = $4, error = $5, finished_at = now()
           WHERE id = $1""",
        upload_id,
        status,
        verified_by,
        attempts,
        error,
    )


async def latest_upload(conn: Conn, drone_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT id, mission_id, sortie, item_count, status, verified_by, attempts, error, started_at, finished_at
           FROM drone_uploads WHERE drone_id = $1 ORDER BY id DESC LIMIT 1""",
        drone_id,
    )
