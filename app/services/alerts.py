"""The alert lifecycle: open (or update) one alert per condition, clear it, acknowledge it, query.

Detectors decide; this service stores and announces. Every change is written first and then
published to the ``AlertSink`` subscribers (the live hub, tests) as an ``AlertEvent``, so a
subscriber never hears of an alert the database does not have. The database's partial unique index
(one open alert per drone, type and condition key) is what makes "no floods" hold even across
service instances and restarts; the upsert here relies on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import asyncpg

from app.auth import Principal
from app.db.repos import alerts as repo
from app.db.repos.alerts import AlertFilter, NewAlert
from app.errors import NotFound

log = logging.getLogger(__name__)

AlertEventKind = Literal["opened", "updated", "cleared", "acked"]
Condition = tuple[int, str, str]
"""(drone_id, alert type, condition key): what one open alert stands for."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change to one alert, with the alert as the API shows it after the change."""

    kind: AlertEventKind
    alert: dict[str, Any]


AlertListener = Callable[[AlertEvent], None]


class AlertSink:
    """In-process publish/subscribe of alert changes (the live hub subscribes here).

    Listeners run on the event loop inside the service's write path: keep them quick (put the
    event on a queue). One failing listener is logged and does not stop the others.
    """

    def __init__(self) -> None:
        self._listeners: list[AlertListener] = []

    def subscribe(self, listener: AlertListener) -> Callable[[], None]:
        """Call ``listener`` for every alert change from now on; returns the unsubscriber."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def publish(self, event: AlertEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("alert listener failed on %s of alert %s", event.kind, event.alert.get("id"))


def alert_json(r: asyncpg.Record) -> dict[str, Any]:
    """An alert row as the API and the sink show it."""
    position = (
        None
        if r["lat_deg"] is None or r["lon_deg"] is None
        else {"lat_deg": r["lat_deg"], "lon_deg": r["lon_deg"], "alt_rel_m": r["alt_rel_m"]}
    )
    return {
        "id": r["id"],
        "type": r["type"],
        "condition_key": r["condition_key"],
        "severity": r["severity"],
        "state": r["state"],
        "message": r["message"],
        "drone_id": r["drone_id"],
        "flight": {"upload_id": r["upload_id"], "mission_id": r["mission_id"], "sortie": r["sortie"]},
        "grid_code": r["grid_code"],
        "community_code": r["community_code"],
        "position": position,
        "evidence": r["evidence"],
        "clear_evidence": r["clear_evidence"],
        "opened_at": r["opened_at"],
        "updated_at": r["updated_at"],
        "update_count": r["update_count"],
        "cleared_at": r["cleared_at"],
        "ack": None
        if r["acked_at"] is None
        else {"at": r["acked_at"], "by_token_id": r["acked_by"], "by": r["acked_by_name"]},
    }


class AlertService:
    """Stores alert changes in PostgreSQL and announces them on ``sink``."""

    def __init__(self, pool: asyncpg.Pool, sink: AlertSink | None = None) -> None:
        self.pool = pool
        self.sink = sink or AlertSink()

    # --- lifecycle (called by the detector runner) ----------------------------------------

    async def open(self, alert: NewAlert) -> AlertEvent:
        """Open the condition's alert, or update the one already open (severity only rises)."""
        async with self.pool.acquire() as conn:
            row, inserted = await repo.open_or_update(conn, alert)
        event = AlertEvent("opened" if inserted else "updated", alert_json(row))
        if inserted:
            log.info(
                "alert %s opened: drone %s %s %s: %s",
                row["id"],
                alert.drone_id,
                alert.type,
                alert.condition_key,
                alert.message,
                extra={"drone_id": alert.drone_id, "grid_code": alert.grid_code},
            )
        self.sink.publish(event)
        return event

    async def clear(
        self, condition: Condition, *, at: datetime, evidence: dict[str, Any]
    ) -> AlertEvent | None:
        """Close the condition's open alert with its clearing time; None when none was open."""
        drone_id, alert_type, key = condition
        async with self.pool.acquire() as conn:
            row = await repo.clear(
                conn, drone_id=drone_id, type=alert_type, condition_key=key, at=at, evidence=evidence
            )
        if row is None:
            return None
        log.info("alert %s cleared: drone %s %s %s", row["id"], drone_id, alert_type, key)
        event = AlertEvent("cleared", alert_json(row))
        self.sink.publish(event)
        return event

    async def open_conditions(self) -> set[Condition]:
        async with self.pool.acquire() as conn:
            rows = await repo.open_conditions(conn)
        return {(r["drone_id"], r["type"], r["condition_key"]) for r in rows}

    # --- API use cases --------------------------------------------------------------------

    async def get(self, alert_id: int, principal: Principal) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, alert_id)
        if row is None or not principal.sees_community(row["community_code"]):
            raise NotFound(f"alert {alert_id} not found")
        return alert_json(row)

    async def ack(self, alert_id: int, principal: Principal) -> dict[str, Any]:
        """Acknowledge (who and when); acknowledging again keeps the first acknowledgement."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.get(conn, alert_id)
            if row is None or not principal.sees_community(row["community_code"]):
                raise NotFound(f"alert {alert_id} not found")
            first = row["acked_at"] is None
            acked = await repo.ack(conn, alert_id, token_id=principal.token_id or None, name=principal.name)
        assert acked is not None
        out = alert_json(acked)
        if first:
            self.sink.publish(AlertEvent("acked", out))
        return out

    async def search(
        self, f: AlertFilter, *, limit: int, before_id: int | None, principal: Principal
    ) -> list[dict[str, Any]]:
        scoped = replace(f, communities_scope=principal.community_scope)
        async with self.pool.acquire() as conn:
            rows = await repo.list_filtered(conn, scoped, limit=limit, before_id=before_id)
        return [alert_json(r) for r in rows]

    async def counts(
        self, f: AlertFilter, *, by: Literal["grid", "community"], principal: Principal
    ) -> list[dict[str, Any]]:
        scoped = replace(f, communities_scope=principal.community_scope)
        async with self.pool.acquire() as conn:
            rows = await repo.counts(conn, scoped, by=by)
        return [dict(r) for r in rows]
