"""Grid patrol rows (migration 0007) and the telemetry reads a patrol is computed from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg

from app.db.conn import Conn

PATROL_COLS: Final = """grid_code, upload_id, drone_id, mission_id, sortie, started_at, ended_at, samples,
    camera_samples, grid_m2, seen_m2, seen_share, unseen, alt_band_m, final, computed_at"""

_UPSERT: Final = f"""INSERT INTO grid_patrols ({PATROL_COLS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
    ON CONFLICT (grid_code, upload_id) DO UPDATE SET
        drone_id = EXCLUDED.drone_id, mission_id = EXCLUDED.mission_id, sortie = EXCLUDED.sortie,
        started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, samples = EXCLUDED.samples,
        camera_samples = EXCLUDED.camera_samples, grid_m2 = EXCLUDED.grid_m2, seen_m2 = EXCLUDED.seen_m2,
        seen_share = EXCLUDED.seen_share, unseen = EXCLUDED.unseen, alt_band_m = EXCLUDED.alt_band_m,
        final = EXCLUDED.final, computed_at = now()
    WHERE NOT grid_patrols.final
    RETURNING {PATROL_COLS}"""


async def uploads_over_grid(conn: Conn, grid_code: str, limit: int) -> list[asyncpg.Record]:
    """The latest uploads of missions naming the grid that flew over it, newest upload first.

    A transit across the grid on the way to another is no patrol of it. Ordered by the upload's
    start (the service's clock), not by sample time: a sample's time is the vehicle's clock, which a
    simulator running faster than real time puts ahead of the wall. Each check reads the drone's
    samples from the upload's start on (the drone/time index), not the grid's whole history.
    """
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT u.id AS upload_id FROM drone_uploads u
           JOIN missions m ON m.id = u.mission_id
           WHERE m.grid_codes @> ARRAY[$1::text] AND u.status = 'verified'
             AND EXISTS (SELECT 1 FROM telemetry_samples s
                         WHERE s.drone_id = u.drone_id AND s.time >= u.started_at
                           AND s.upload_id = u.id AND s.grid_code = $1)
           ORDER BY u.started_at DESC, u.id DESC LIMIT $2""",
        grid_code,
        limit,
    )
    return rows


async def get_upload(conn: Conn, upload_id: int) -> asyncpg.Record | None:
    """The upload with its mission's stored plan and request (None fields when the mission is gone),
    and the altitude offset of the mission run that uploaded it (0 for an upload of its own): the run
    still going when the upload started, of the same mission, holding this upload or this drone."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT u.id, u.drone_id, u.mission_id, u.sortie, u.started_at, m.plan, m.request,
                  d.capabilities,
                  COALESCE((SELECT r.alt_offset_m FROM mission_runs r
                            WHERE r.mission_id = u.mission_id AND r.created_at <= u.started_at
                              AND r.updated_at >= u.started_at
                              AND (r.upload_id = u.id OR r.drone_id = u.drone_id)
                            ORDER BY r.upload_id = u.id DESC, r.created_at DESC LIMIT 1), 0) AS alt_offset_m
           FROM drone_uploads u
           LEFT JOIN missions m ON m.id = u.mission_id
           LEFT JOIN drones d ON d.id = u.drone_id
           WHERE u.id = $1""",
        upload_id,
    )
    return row


async def upload_samples(conn: Conn, drone_id: int, upload_id: int, since: datetime) -> list[asyncpg.Record]:
    """Every sample of one upload in time order (the drone's index bounds the scan)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT time, lon_deg, lat_deg, alt_rel_m, mode, armed, mission_seq, received_at
           FROM telemetry_samples
           WHERE drone_id = $1 AND time >= $3 AND upload_id = $2
           ORDER BY time, time_boot_ms""",
        drone_id,
        upload_id,
        since,
    )
    return rows


async def flown_on(conn: Conn, drone_id: int, upload_id: int, after: datetime) -> bool:
    """The drone sent a sample after ``after`` that is not this upload's: landed, or flying another."""
    value: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM telemetry_samples
           WHERE drone_id = $1 AND time > $3 AND upload_id IS DISTINCT FROM $2)""",
        drone_id,
        upload_id,
        after,
    )
    return value


async def get_patrol(conn: Conn, grid_code: str, upload_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {PATROL_COLS} FROM grid_patrols WHERE grid_code = $1 AND upload_id = $2",
        grid_code,
        upload_id,
    )
    return row


async def upsert(conn: Conn, values: dict[str, Any]) -> asyncpg.Record | None:
    """Store a patrol; a final row is never replaced (None then: read it with ``get_patrol``)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        _UPSERT,
        values["grid_code"],
        values["upload_id"],
        values["drone_id"],
        values["mission_id"],
        values["sortie"],
        values["started_at"],
        values["ended_at"],
        values["samples"],
        values["camera_samples"],
        values["grid_m2"],
        values["seen_m2"],
        values["seen_share"],
        values["unseen"],
        values["alt_band_m"],
        values["final"],
    )
    return row


_GRID_SCOPE: Final = """($1::text IS NULL OR g.community_code = $1)
    AND ($2::text IS NULL OR c.street_code = $2)
    AND ($3::text[] IS NULL OR g.community_code = ANY($3))"""
"""The grids a bulk read covers: the request's community and street filters within the token's scope."""

_PENDING: Final = f"""SELECT g.code AS grid_code, u.id AS upload_id
    FROM drone_uploads u
    JOIN missions m ON m.id = u.mission_id
    JOIN grids g ON g.code = ANY (m.grid_codes)
    JOIN communities c ON c.code = g.community_code
    WHERE u.status = 'verified' AND {_GRID_SCOPE}
      AND NOT EXISTS (SELECT 1 FROM grid_patrols p
                      WHERE p.grid_code = g.code AND p.upload_id = u.id AND p.final)
      AND EXISTS (SELECT 1 FROM telemetry_samples s
                  WHERE s.drone_id = u.drone_id AND s.time >= u.started_at
                    AND s.upload_id = u.id AND s.grid_code = g.code)
    ORDER BY u.started_at DESC, u.id DESC"""

_GRID_STATES: Final = f"""WITH scoped AS (
        SELECT g.code, g.community_code, c.street_code FROM grids g
        JOIN communities c ON c.code = g.community_code
        WHERE {_GRID_SCOPE}),
    latest AS (
        SELECT DISTINCT ON (p.grid_code) p.grid_code, p.ended_at, p.seen_share, p.final
        FROM grid_patrols p JOIN drone_uploads u ON u.id = p.upload_id
        WHERE p.grid_code IN (SELECT code FROM scoped)
        ORDER BY p.grid_code, u.started_at DESC, u.id DESC),
    alert_counts AS (
        SELECT grid_code, count(*) AS n FROM alerts
        WHERE state = 'open' AND grid_code IN (SELECT code FROM scoped) GROUP BY grid_code),
    order_counts AS (
        SELECT grid_code, count(*) AS n FROM work_orders
        WHERE state <> ALL ($4::text[]) AND grid_code IN (SELECT code FROM scoped) GROUP BY grid_code)
    SELECT s.code AS grid_code, s.community_code, s.street_code,
           l.ended_at AS last_patrolled_at, l.seen_share, l.final AS patrol_final,
           COALESCE(a.n, 0)::int AS open_alerts, COALESCE(o.n, 0)::int AS active_work_orders
    FROM scoped s
    LEFT JOIN latest l ON l.grid_code = s.code
    LEFT JOIN alert_counts a ON a.grid_code = s.code
    LEFT JOIN order_counts o ON o.grid_code = s.code
    ORDER BY s.code"""

ENDED_ORDER_STATES: Final = ("closed", "cancelled")
"""Work orders in these states are done with; every other state keeps a grid in `workorder`."""


async def pending_patrols(
    conn: Conn, community: str | None, street: str | None, scope: Sequence[str] | None
) -> list[asyncpg.Record]:
    """(grid, upload) pairs flown over a grid whose patrol is not stored as final, newest upload first:
    the patrols a bulk read must compute before it can report every grid's latest one."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _PENDING, community, street, None if scope is None else list(scope)
    )
    return rows


async def grid_states(
    conn: Conn, community: str | None, street: str | None, scope: Sequence[str] | None
) -> list[asyncpg.Record]:
    """Per grid in one query: the latest stored patrol (by upload start, as ``uploads_over_grid``
    orders them), open alerts and active work orders."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _GRID_STATES, community, street, None if scope is None else list(scope), list(ENDED_ORDER_STATES)
    )
    return rows
