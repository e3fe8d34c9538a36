"""Outbound events: the transactional outbox and the webhook delivery worker.

``record`` writes an event inside the caller's transaction, so an event exists exactly when its
change committed. The worker claims due deliveries (the oldest pending one per subscription and
work order, so each order's events arrive in order), POSTs them signed, and on failure retries
with exponential backoff until ``max_attempts``, after which the delivery is parked as ``dead``
(listed and replayable through ``/webhooks/deliveries``). Delivery is at least once: receivers
deduplicate by the ``X-AeroGrid-Event-Id`` header. Everything lives in PostgreSQL, so a restart
loses nothing and a second instance simply shares the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from app.db.conn import Conn
from app.db.repos import outbox as repo

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AeroGrid-Signature"
EVENT_ID_HEADER = "X-AeroGrid-Event-Id"
EVENT_TYPE_HEADER = "X-AeroGrid-Event-Type"
TIMESTAMP_HEADER = "X-AeroGrid-Timestamp"

WORK_ORDER_EVENTS = tuple(
    f"work_order.{e}"
    for e in (
        "opened",
        "assigned",
        "started",
        "resolved",
        "closed",
        "reopened",
        "cancelled",
        "due_warning",
        "overdue",
        "escalated",
        "reflight_planned",
    )
)
ALERT_EVENTS = ("alert.opened", "alert.cleared", "alert.acked")
EVENT_TYPES = (*WORK_ORDER_EVENTS, *ALERT_EVENTS)


async def record(
    conn: Conn, *, event_type: str, aggregate: str, community_code: str | None, payload: dict[str, Any]
) -> None:
    """Write one event in the caller's transaction (the fan-out trigger adds its deliveries)."""
    await repo.insert_event(
        conn, event_type=event_type, aggregate=aggregate, community_code=community_code, payload=payload
    )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 over ``timestamp.body``: the receiver recomputes it with the
    subscription's secret; the timestamp inside the MAC lets it refuse old replays."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 300.0
    max_attempts: int = 10

    def retry_in_s(self, attempts_so_far: int) -> float | None:
        """Seconds until the next try after the ``attempts_so_far + 1``-th failure; None: dead."""
        if attempts_so_far + 1 >= self.max_attempts:
            return None
        return float(min(self.base_s * 2**attempts_so_far, self.max_s))


def _body(row: asyncpg.Record) -> bytes:
    envelope = {
        "event_id": str(row["event_id"]),
        "type": row["event_type"],
        "aggregate": row["aggregate"],
        "created_at": row["event_created_at"].isoformat(),
        "data": row["payload"],
    }
    return json.dumps(envelope, separators=(",", ":"), default=str).encode("utf-8")


class DeliveryWorker:
    """Delivers due webhook deliveries until closed; wakes every ``poll_s`` to look for work."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        backoff: Backoff,
        timeout_s: float,
        poll_s: float,
        batch: int = 50,
    ) -> None:
        self.pool = pool
        self.backoff = backoff
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    def wake(self) -> None:
        """Look for work now (after a replay or a new event) instead of at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                try:
                    sent = await self.deliver_once(client)
                except Exception:
                    log.exception("webhook delivery round failed; retrying in %.1f s", self.poll_s)
                    sent = 0
                if sent == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                    self._wake.clear()

    async def deliver_once(self, client: httpx.AsyncClient) -> int:
        """One round: claim, send and settle the due deliveries; returns how many were tried."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.claim_due(conn, self.batch)
            for row in rows:
                error = await self._send(client, row)
                if error is None:
                    await repo.mark_delivered(conn, row["id"])
                    continue
                retry_in_s = self.backoff.retry_in_s(row["attempts"])
                await repo.mark_failed(conn, row["id"], error=error, retry_in_s=retry_in_s)
                log.warning(
                    "webhook delivery %s of event %s to subscription %s failed (%s); %s",
                    row["id"],
                    row["event_id"],
                    row["subscription_id"],
                    error,
                    "parked as dead" if retry_in_s is None else f"retry in {retry_in_s:.0f} s",
                )
        return len(rows)

    async def _send(self, client: httpx.AsyncClient, row: asyncpg.Record) -> str | None:
        """POST one delivery; None when the receiver answered 2xx, else why not."""
        body = _body(row)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(row["event_id"]),
            EVENT_TYPE_HEADER: row["event_type"],
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(row["secret"], timestamp, body),
        }
        try:
            response = await client.post(row["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
