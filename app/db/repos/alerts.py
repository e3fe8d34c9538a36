"""Stored alerts: open-or-update against the one-open-per-condition index, clear, ack, queries.

Filters are fixed SQL fragments with numbered parameters; nothing here is built from user text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import asyncpg

from app.db.conn import Conn

COLUMNS: Final = (
    "id, drone_id, type, condition_key, severity, state, message, evidence, clear_evidence, grid_code, "
    "community_code, upload_id, mission_id, sortie, lat_deg, lon_deg, alt_rel_m, opened_at, updated_at, "
    "update_count, cleared_at, acked_at, acked_by, acked_by_name"
)

_RANK = "array_position(ARRAY['info', 'warning', 'critical'], {})"


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to open (or, when its condition is already open, to update)."""

    drone_id: int
    type: str
    condition_key: str
    severity: str
    message: str
    evidence: dict[str, Any]
    at: datetime
    grid_code: str | None = None
    community_code: str | None = None
    upload_id: int | None = None
    mission_id: int | None = None
    sortie: int | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_rel_m: float | None = None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What ``GET /alerts`` and the counts narrow by; None means any."""

    communities_scope: list[str] | None = None
    grid_code: str | None = None
    community_code: str | None = None
    drone_id: int | None = None
    types: list[str] | None = None
    severities: list[str] | None = None
    state: str | None = None
    acked: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


_OPEN_OR_UPDATE: Final = f"""
INSERT INTO alerts (drone_id, type, condition_key, severity, message, evidence, grid_code, community_code,
                    upload_id, mission_id, sortie, lat_deg, lon_deg, alt_rel_m, opened_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
ON CONFLICT (drone_id, type, condition_key) WHERE state = 'open' DO UPDATE SET
    severity = CASE WHEN {_RANK.format("EXCLUDED.severity")} > {_RANK.format("alerts.severity")}
                    THEN EXCLUDED.severity ELSE alerts.severity END,
    message = EXCLUDED.message,
    evidence = EXCLUDED.evidence,
    updated_at = greatest(alerts.updated_at, EXCLUDED.updated_at),
    update_count = alerts.update_count + 1
RETURNING {COLUMNS}, (xmax = 0) AS inserted
"""


async def open_or_update(conn: Conn, alert: NewAlert) -> tuple[asyncpg.Record, bool]:
    """Open the alert, or update the open one of the same condition; (row, True when opened)."""
    row = await conn.fetchrow(
        _OPEN_OR_UPDATE,
        alert.drone_id,
        alert.type,
        alert.condition_key,
        alert.severity,
        alert.message,
        alert.evidence,
        alert.grid_code,
        alert.community_code,
        alert.upload_id,
        alert.mission_id,
        alert.sortie,
        alert.lat_deg,
        alert.lon_deg,
        alert.alt_rel_m,
        alert.at,
    )
    assert row is not None
    return row, bool(row["inserted"])


async def clear(
    conn: Conn, *, drone_id: int, type: str, condition_key: str, at: datetime, evidence: dict[str, Any]
) -> asyncpg.Record | None:
    """Close the open alert of a condition at ``at``; None when none is open."""
    return await conn.fetchrow(
        f"""UPDATE alerts SET state = 'cleared', cleared_at = greatest($4, opened_at), clear_evidence = $5,
                   updated_at = greatest($4, updated_at)
            WHERE drone_id = $1 AND type = $2 AND condition_key = $3 AND state = 'open'
            RETURNING {COLUMNS}""",
        drone_id,
        type,
        condition_key,
        at,
        evidence,
    )


async def open_conditions(conn: Conn) -> list[asyncpg.Record]:
    """Every open condition (drone_id, type, condition_key): what detectors start from."""
    return await conn.fetch("SELECT drone_id, type, condition_key FROM alerts WHERE state = 'open'")


async def get(conn: Conn, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM alerts WHERE id = $1", alert_id)


async def ack(conn: Conn, alert_id: int, *, token_id: int | None, name: str) -> asyncpg.Record | None:
    """Acknowledge once: a second ack keeps the first one's who and when."""
    return await conn.fetchrow(
        f"""UPDATE alerts SET acked_at = coalesce(acked_at, now()),
                   acked_by = CASE WHEN acked_at IS NULL THEN $2 ELSE acked_by END,
                   acked_by_name = coalesce(acked_by_name, $3)
            WHERE id = $1 RETURNING {COLUMNS}""",
        alert_id,
        token_id,
        name,
    )


def _where(f: AlertFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(f"${len(args)}"))

    if f.communities_scope is not None:
        add("community_code = ANY({}::text[])", f.communities_scope)
    if f.grid_code is not None:
        add("grid_code = {}", f.grid_code)
    if f.community_code is not None:
        add("community_code = {}", f.community_code)
    if f.drone_id is not None:
        add("drone_id = {}", f.drone_id)
    if f.types is not None:
        add("type = ANY({}::text[])", f.types)
    if f.severities is not None:
        add("severity = ANY({}::text[])", f.severities)
    if f.state is not None:
        add("state = {}", f.state)
    if f.acked is not None:
        add("(acked_at IS NOT NULL) = {}", f.acked)
    if f.since is not None:
        add("opened_at >= {}", f.since)
    if f.until is not None:
        add("opened_at < {}", f.until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_filtered(
    conn: Conn, f: AlertFilter, *, limit: int, before_id: int | None
) -> list[asyncpg.Record]:
    """Newest first; ``before_id`` pages on from the last id of the previous page."""
    where, args = _where(f)
    if before_id is not None:
        args.append(before_id)
        where += (" AND " if where else " WHERE ") + f"id < ${len(args)}"
    args.append(limit)
    return await conn.fetch(f"SELECT {COLUMNS} FROM alerts{where} ORDER BY id DESC LIMIT ${len(args)}", *args)


async def counts(conn: Conn, f: AlertFilter, *, by: Literal["grid", "community"]) -> list[asyncpg.Record]:
    """Per grid or community: total, open, unacknowledged open, and open by severity."""
    column = "grid_code" if by == "grid" else "community_code"
    where, args = _where(f)
    return await conn.fetch(
        f"""SELECT {column} AS code, count(*) AS total,
                   count(*) FILTER (WHERE state = 'open') AS open,
                   count(*) FILTER (WHERE state = 'open' AND acked_at IS NULL) AS open_unacked,
                   count(*) FILTER (WHERE state = 'open' AND severity = 'critical') AS open_critical,
                   count(*) FILTER (WHERE state = 'open' AND severity = 'warning') AS open_warning,
                   count(*) FILTER (WHERE state = 'open' AND severity = 'info') AS open_info
            FROM alerts{where} GROUP BY {column} ORDER BY {column} NULLS LAST""",
        *args,
    )
