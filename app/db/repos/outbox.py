"""Outbox events, webhook subscriptions and their deliveries.

An event is inserted inside the caller's transaction (the change it announces commits with it);
the fan-out to deliveries is the ``outbox_events_fan_out`` trigger. Claiming takes only the oldest
pending delivery of each (subscription, aggregate), so one work order's events go out in order
even with several workers or instances claiming at once (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg

from app.db.conn import Conn

SUBSCRIPTION_COLS: Final = "id, url, event_types, created_by, created_at"
DELIVERY_COLS: Final = """d.id, d.subscription_id, d.state, d.attempts, d.next_attempt_at, d.last_error,
    d.delivered_at, e.event_id, e.event_type, e.aggregate, e.community_code, e.created_at AS event_created_at"""


async def insert_event(
    conn: Conn, *, event_type: str, aggregate: str, community_code: str | None, payload: dict[str, Any]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO outbox_events (event_type, aggregate, community_code, payload)
           VALUES ($1, $2, $3, $4) RETURNING id, event_id, created_at""",
        event_type,
        aggregate,
        community_code,
        payload,
    )
    assert row is not None
    return row


async def events_after(conn: Conn, after_id: int, limit: int) -> list[asyncpg.Record]:
    """Events in id order after ``after_id`` (the MQTT publisher tails the outbox with this)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, event_id, event_type, aggregate, community_code, payload, created_at
           FROM outbox_events WHERE id > $1 ORDER BY id LIMIT $2""",
        after_id,
        limit,
    )
    return rows


async def last_event_id(conn: Conn) -> int:
    value: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox_events")
    return value


async def create_subscription(
    conn: Conn, *, url: str, event_types: list[str], secret: str, created_by: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_subscriptions (url, event_types, secret, created_by)
            VALUES ($1, $2, $3, $4) RETURNING {SUBSCRIPTION_COLS}""",
        url,
        event_types,
        secret,
        created_by,
    )
    assert row is not None
    return row


async def list_subscriptions(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {SUBSCRIPTION_COLS} FROM webhook_subscriptions ORDER BY id"
    )
    return rows


async def delete_subscription(conn: Conn, subscription_id: int) -> bool:
    done = await conn.fetchval(
        "DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING id", subscription_id
    )
    return done is not None


_CLAIM: Final = f"""
SELECT {DELIVERY_COLS}, e.payload, s.url, s.secret
FROM webhook_deliveries d
JOIN outbox_events e ON e.id = d.event_row
JOIN webhook_subscriptions s ON s.id = d.subscription_id
WHERE d.state = 'pending' AND d.next_attempt_at <= now()
  AND NOT EXISTS (
      SELECT 1 FROM webhook_deliveries p
      WHERE p.subscription_id = d.subscription_id AND p.aggregate = d.aggregate
        AND p.state = 'pending' AND p.event_row < d.event_row)
ORDER BY d.event_row
LIMIT $1
FOR UPDATE OF d SKIP LOCKED
"""


async def claim_due(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Due deliveries, each the oldest pending one of its (subscription, aggregate); locked until
    the caller's transaction ends."""
    rows: list[asyncpg.Record] = await conn.fetch(_CLAIM, limit)
    return rows


async def mark_delivered(conn: Conn, delivery_id: int) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = now(),
               last_error = NULL WHERE id = $1""",
        delivery_id,
    )


async def mark_failed(conn: Conn, delivery_id: int, *, error: str, retry_in_s: float | None) -> None:
    """One more failed attempt: retry after ``retry_in_s``, or park as dead when it is None."""
    await conn.execute(
        """UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2,
               state = CASE WHEN $3::float8 IS NULL THEN 'dead' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => coalesce($3::float8, 0))
           WHERE id = $1""",
        delivery_id,
        error[:500],
        retry_in_s,
    )


async def list_deliveries(
    conn: Conn, *, state: str | None, subscription_id: int | None, limit: int, before_id: int | None
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {DELIVERY_COLS} FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_row
            WHERE ($1::text IS NULL OR d.state = $1) AND ($2::bigint IS NULL OR d.subscription_id = $2)
              AND ($4::bigint IS NULL OR d.id < $4)
            ORDER BY d.id DESC LIMIT $3""",
        state,
        subscription_id,
        limit,
        before_id,
    )
    return rows


async def replay(conn: Conn, delivery_id: int) -> asyncpg.Record | None:
    """A dead (or delivered) delivery back to pending, due now, with a fresh attempt budget."""
    row = await conn.fetchrow(
        """UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(),
               delivered_at = NULL WHERE id = $1 RETURNING id""",
        delivery_id,
    )
    if row is None:
        return None
    return await conn.fetchrow(
        f"""SELECT {DELIVERY_COLS} FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_row
            WHERE d.id = $1""",
        delivery_id,
    )


async def next_due_at(conn: Conn) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'"
    )
    return value
