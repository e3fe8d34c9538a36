"""Stored detections and the detection alerts they join.

Joining is decided under a per-type transaction advisory lock, so two detections of the same
thing arriving together never open two alerts. Distances are equirectangular metres computed in
SQL (exact enough within a join radius of metres to a few kilometres).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from app.db.conn import Conn

COLUMNS: Final = """d.id, d.idempotency_key, d.type, d.source, d.confidence, d.detected_at, d.position,
    d.lat_deg, d.lon_deg, d.grid_code, d.community_code, d.drone_id, d.upload_id, d.image_url, d.image_file,
    d.image_sha256, d.image_type, d.note, d.alert_id, d.created_by, d.created_at, a.detection_count,
    a.state AS alert_state,
    (SELECT w.id FROM work_orders w WHERE w.detection_alert_id = d.alert_id ORDER BY w.id LIMIT 1)
        AS work_order_id"""
FROM: Final = "detections d JOIN detection_alerts a ON a.id = d.alert_id"


@dataclass(frozen=True, slots=True)
class NewDetection:
    idempotency_key: str
    type: str
    source: str
    confidence: float
    detected_at: datetime
    position: dict[str, Any]
    lat_deg: float
    lon_deg: float
    grid_code: str | None
    community_code: str | None
    drone_id: int | None
    upload_id: int | None
    image_url: str | None
    image_sha256: str | None
    image_type: str | None
    note: str | None
    created_by: str


async def by_key(conn: Conn, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE d.idempotency_key = $1", key)


async def get(conn: Conn, detection_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE d.id = $1", detection_id)


async def lock_type(conn: Conn, type_: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('aerogrid.detection.' || $1))", type_)


async def join_open_alert(
    conn: Conn, *, type_: str, lon_deg: float, lat_deg: float, at: datetime, radius_m: float, window_s: float
) -> asyncpg.Record | None:
    """Count the detection into the nearest open alert of its type seen within the window and
    radius; None when there is none (the caller opens one)."""
    return await conn.fetchrow(
        """WITH near AS (
               SELECT id FROM detection_alerts
               WHERE state = 'open' AND type = $1::text
                 AND last_seen_at >= $4::timestamptz - make_interval(secs => $6::float8)
                 AND first_seen_at <= $4::timestamptz + make_interval(secs => $6::float8)
                 AND sqrt(power((lon_deg - $2) * 111320 * cos(radians($3)), 2)
                          + power((lat_deg - $3) * 110540, 2)) <= $5::float8
               ORDER BY power((lon_deg - $2) * cos(radians($3)), 2) + power(lat_deg - $3, 2)
               LIMIT 1)
           UPDATE detection_alerts a SET detection_count = a.detection_count + 1,
               last_seen_at = greatest(a.last_seen_at, $4::timestamptz), first_seen_at = least(a.first_seen_at, $4::timestamptz)
           FROM near WHERE a.id = near.id
           RETURNING a.id, a.detection_count""",
        type_,
        lon_deg,
        lat_deg,
        at,
        radius_m,
        window_s,
    )


async def open_alert(
    conn: Conn,
    *,
    type_: str,
    severity: str,
    grid_code: str | None,
    community_code: str | None,
    lon_deg: float,
    lat_deg: float,
    at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO detection_alerts (type, severity, grid_code, community_code, lat_deg, lon_deg,
                                         first_seen_at, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id, detection_count""",
        type_,
        severity,
        grid_code,
        community_code,
        lat_deg,
        lon_deg,
        at,
    )
    assert row is not None
    return row


async def insert(conn: Conn, d: NewDetection, alert_id: int) -> int:
    value: int = await conn.fetchval(
        """INSERT INTO detections (idempotency_key, type, source, confidence, detected_at, position, lat_deg,
               lon_deg, grid_code, community_code, drone_id, upload_id, image_url, image_sha256, image_type,
               note, alert_id, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
           RETURNING id""",
        d.idempotency_key,
        d.type,
        d.source,
        d.confidence,
        d.detected_at,
        d.position,
        d.lat_deg,
        d.lon_deg,
        d.grid_code,
        d.community_code,
        d.drone_id,
        d.upload_id,
        d.image_url,
        d.image_sha256,
        d.image_type,
        d.note,
        alert_id,
        d.created_by,
    )
    return value


async def drone_community(conn: Conn, drone_id: int) -> tuple[bool, str | None]:
    """(the drone exists, its community)."""
    row = await conn.fetchrow("SELECT community_code FROM drones WHERE id = $1", drone_id)
    return (False, None) if row is None else (True, row["community_code"])


async def list_scoped(
    conn: Conn,
    *,
    scope: list[str] | None,
    type_: str | None,
    alert_id: int | None,
    limit: int,
    before_id: int | None,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {COLUMNS} FROM {FROM}
            WHERE ($1::text[] IS NULL OR d.community_code = ANY($1)) AND ($2::text IS NULL OR d.type = $2)
              AND ($3::bigint IS NULL OR d.alert_id = $3) AND ($5::bigint IS NULL OR d.id < $5)
            ORDER BY d.id DESC LIMIT $4""",
        scope,
        type_,
        alert_id,
        limit,
        before_id,
    )
    return rows
