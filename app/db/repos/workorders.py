"""Stored work orders, their history, the SLA table and the grids they are filed under.

Filters are fixed SQL with numbered parameters; nothing is built from user text. The unique index
on (channel, external_ref) is what makes inbound orders idempotent under concurrency: the insert
is ``ON CONFLICT DO NOTHING`` and the loser reads the winner's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from app.db.conn import Conn

COLUMNS: Final = """id, channel, external_ref, type, severity, title, description, state, grid_code,
    community_code, street_code, lat_deg, lon_deg, assignee_kind, assignee_name, assignee_phone,
    detection_alert_id, alert_id, drone_id, feedback, feedback_photos, cancel_reason, opened_at, due_at,
    warned_at, overdue_at, escalated_at, resolved_at, closed_at, cancelled_at, updated_at, created_by"""

OPEN_STATES: Final = ("open", "assigned", "in_progress", "reopened")
"""States in which the SLA clock runs (resolved waits for verification, closed and cancelled are done)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an order or detection is filed: its grid (None outside every grid) and that grid's people."""

    grid_code: str | None
    community_code: str | None
    street_code: str | None
    worker_name: str | None
    worker_phone: str | None


@dataclass(frozen=True, slots=True)
class NewOrder:
    channel: str
    external_ref: str | None
    type: str
    severity: str
    title: str
    description: str
    placement: Placement
    lat_deg: float | None
    lon_deg: float | None
    detection_alert_id: int | None
    alert_id: int | None
    drone_id: int | None
    opened_at: datetime
    due_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class OrderFilter:
    communities_scope: list[str] | None = None
    state: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    channel: str | None = None
    type: str | None = None
    overdue: bool | None = None


_GRID_SELECT: Final = """SELECT g.code, g.boundary, g.community_code, c.street_code, g.worker_name, g.worker_phone
    FROM grids g JOIN communities c ON c.code = g.community_code"""


async def grid_placement(conn: Conn, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_GRID_SELECT} WHERE g.code = $1", code)


async def grids_around(conn: Conn, lon_deg: float, lat_deg: float) -> list[asyncpg.Record]:
    """Grids whose bounding box holds the point (the candidates for exact attribution)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""{_GRID_SELECT} WHERE $1 BETWEEN g.min_lon_deg AND g.max_lon_deg
              AND $2 BETWEEN g.min_lat_deg AND g.max_lat_deg""",
        lon_deg,
        lat_deg,
    )
    return rows


async def district_extent(conn: Conn) -> asyncpg.Record | None:
    """The bounding box of every grid (min_lon, min_lat, max_lon, max_lat), or None without grids."""
    row = await conn.fetchrow(
        """SELECT min(min_lon_deg) AS min_lon, min(min_lat_deg) AS min_lat,
                  max(max_lon_deg) AS max_lon, max(max_lat_deg) AS max_lat FROM grids"""
    )
    return None if row is None or row["min_lon"] is None else row


async def due_s(conn: Conn, type_: str, severity: str) -> int:
    """The SLA of (type, severity), falling back to the default row of type '*'."""
    value: int | None = await conn.fetchval(
        """SELECT due_s FROM work_order_sla WHERE severity = $2 AND type IN ($1, '*')
           ORDER BY (type = '*') LIMIT 1""",
        type_,
        severity,
    )
    return value if value is not None else 24 * 3600


async def list_sla(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT type, severity, due_s FROM work_order_sla ORDER BY type, severity"
    )
    return rows


async def put_sla(conn: Conn, type_: str, severity: str, due_s_: int) -> None:
    await conn.execute(
        """INSERT INTO work_order_sla (type, severity, due_s) VALUES ($1, $2, $3)
           ON CONFLICT (type, severity) DO UPDATE SET due_s = EXCLUDED.due_s""",
        type_,
        severity,
        due_s_,
    )


async def insert(conn: Conn, o: NewOrder) -> asyncpg.Record | None:
    """The new order's row, or None when (channel, external_ref) already has one."""
    p = o.placement
    return await conn.fetchrow(
        f"""INSERT INTO work_orders (channel, external_ref, type, severity, title, description, state,
                grid_code, community_code, street_code, lat_deg, lon_deg, detection_alert_id, alert_id,
                drone_id, opened_at, due_at, updated_at, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15, $17)
            ON CONFLICT (channel, external_ref) WHERE external_ref IS NOT NULL DO NOTHING
            RETURNING {COLUMNS}""",
        o.channel,
        o.external_ref,
        o.type,
        o.severity,
        o.title,
        o.description,
        p.grid_code,
        p.community_code,
        p.street_code,
        o.lat_deg,
        o.lon_deg,
        o.detection_alert_id,
        o.alert_id,
        o.drone_id,
        o.opened_at,
        o.due_at,
        o.created_by,
    )


async def by_ref(conn: Conn, channel: str, external_ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM work_orders WHERE channel = $1 AND external_ref = $2", channel, external_ref
    )


async def get(conn: Conn, order_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM work_orders WHERE id = $1{lock}", order_id)


# Columns a transition may set; the service passes only names from this set.
UPDATABLE: Final = frozenset(
    {
        "state",
        "assignee_kind",
        "assignee_name",
        "assignee_phone",
        "feedback",
        "feedback_photos",
        "cancel_reason",
        "resolved_at",
        "closed_at",
        "cancelled_at",
        "warned_at",
        "overdue_at",
        "escalated_at",
    }
)


async def update(conn: Conn, order_id: int, at: datetime, values: dict[str, Any]) -> asyncpg.Record:
    unknown = set(values) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    names = sorted(values)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    row = await conn.fetchrow(
        f"UPDATE work_orders SET {sets}, updated_at = $2 WHERE id = $1 RETURNING {COLUMNS}",
        order_id,
        at,
        *(values[n] for n in names),
    )
    assert row is not None
    return row


async def add_history(
    conn: Conn,
    order_id: int,
    *,
    action: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    reason: str | None,
    details: dict[str, Any],
    at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO work_order_history (work_order_id, action, from_state, to_state, actor, reason, details, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, action, from_state, to_state, actor, reason, details, at""",
        order_id,
        action,
        from_state,
        to_state,
        actor,
        reason,
        details,
        at,
    )
    assert row is not None
    return row


async def history(conn: Conn, order_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, action, from_state, to_state, actor, reason, details, at FROM work_order_history
           WHERE work_order_id = $1 ORDER BY id""",
        order_id,
    )
    return rows


async def list_filtered(
    conn: Conn, f: OrderFilter, *, now: datetime, limit: int, before_id: int | None
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {COLUMNS} FROM work_orders
            WHERE ($1::text[] IS NULL OR community_code = ANY($1))
              AND ($2::text IS NULL OR state = $2)
              AND ($3::text IS NULL OR grid_code = $3)
              AND ($4::text IS NULL OR community_code = $4)
              AND ($5::text IS NULL OR channel = $5)
              AND ($6::text IS NULL OR type = $6)
              AND ($7::boolean IS NULL OR (state = ANY($10::text[]) AND due_at <= $8) = $7)
              AND ($9::bigint IS NULL OR id < $9)
            ORDER BY id DESC LIMIT $11""",
        f.communities_scope,
        f.state,
        f.grid_code,
        f.community_code,
        f.channel,
        f.type,
        f.overdue,
        now,
        before_id,
        list(OPEN_STATES),
        limit,
    )
    return rows


async def due_marks(conn: Conn, column: str, share: float, now: datetime) -> list[asyncpg.Record]:
    """Running orders past ``share`` of their SLA whose ``column`` mark is not yet set, locked."""
    if column not in ("warned_at", "overdue_at", "escalated_at"):
        raise ValueError(column)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {COLUMNS} FROM work_orders
            WHERE state = ANY($1::text[]) AND {column} IS NULL
              AND opened_at + (due_at - opened_at) * $2::float8 <= $3
            ORDER BY id FOR UPDATE SKIP LOCKED""",
        list(OPEN_STATES),
        share,
        now,
    )
    return rows


async def nearest_camera_drone(
    conn: Conn, lon_deg: float, lat_deg: float, scope: list[str] | None
) -> asyncpg.Record | None:
    """The registered drone with a camera whose home is nearest the point, within ``scope``."""
    return await conn.fetchrow(
        """SELECT id, name, community_code, home_lon_deg, home_lat_deg FROM drones
           WHERE jsonb_typeof(capabilities -> 'camera') = 'object' AND ($3::text[] IS NULL OR community_code = ANY($3))
           ORDER BY power((home_lon_deg - $1) * cos(radians($2)), 2) + power(home_lat_deg - $2, 2), id
           LIMIT 1""",
        lon_deg,
        lat_deg,
        scope,
    )
