"""A mission run's states, the transitions allowed between them, and their persistence.

Every state change goes through ``RunStore.move``: the row is locked, the transition checked against
``ALLOWED``, the new state and a history row (time, actor, reason) written in one transaction, and
only then announced on ``RunEvents`` (the live hub's hook), so a listener never hears of a state the
database does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from app.db.repos import runs as repo
from app.errors import Conflict, NotFound
from app.scheduling.clock import Clock

log = logging.getLogger(__name__)

TERMINAL: Final = frozenset({"completed", "aborted", "failed", "skipped"})
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "planned": frozenset({"scheduled", "dispatching", "aborted", "skipped"}),
    "scheduled": frozenset({"dispatching", "aborted", "skipped"}),
    "dispatching": frozenset({"uploading", "aborted", "failed", "skipped"}),
    "uploading": frozenset({"ready", "aborted", "failed"}),
    "ready": frozenset({"running", "aborted", "failed"}),
    "running": frozenset({"paused", "returning", "landed", "aborted", "failed"}),
    "paused": frozenset({"running", "returning", "landed", "aborted", "failed"}),
    "returning": frozenset({"landed", "aborted", "failed"}),
    "landed": frozenset({"waiting", "completed", "aborted", "failed"}),
    "waiting": frozenset({"dispatching", "uploading", "aborted", "failed"}),
}
"""Where each live state may go; a state may also 'move' to itself to record a note (link lost)."""


@dataclass(frozen=True, slots=True)
class RunEvent:
    run_id: int
    drone_id: int | None
    from_state: str | None
    to_state: str
    sortie: int
    actor: str
    reason: str | None
    at: datetime


RunListener = Callable[[RunEvent], None]


class RunEvents:
    """In-process publish/subscribe of run transitions: the live hub subscribes here to stream them."""

    def __init__(self) -> None:
        self._listeners: list[RunListener] = []

    def subscribe(self, listener: RunListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def publish(self, event: RunEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("run listener failed on run %s -> %s", event.run_id, event.to_state)


def run_json(row: asyncpg.Record, transitions: list[asyncpg.Record] | None = None) -> dict[str, Any]:
    """A run as the API shows it: state, sortie k of n, progress from the vehicle, history."""
    out: dict[str, Any] = {
        "id": row["id"],
        "mission_id": row["mission_id"],
        "drone_id": row["drone_id"],
        "schedule_id": row["schedule_id"],
        "occurrence_at": row["occurrence_at"],
        "state": row["state"],
        "sortie": row["sortie"],
        "sortie_count": row["sortie_count"],
        "reason": row["reason"],
        "alt_offset_m": row["alt_offset_m"],
        "not_before": row["not_before"],
        "upload_id": row["upload_id"],
        "progress": {
            "current_seq": row["current_seq"],
            "item_count": row["item_count"],
            "share_done_pct": row["progress_pct"],
            "eta_s": row["eta_s"],
        },
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if transitions is not None:
        out["transitions"] = [dict(t) for t in transitions]
    return out


class RunStore:
    """Runs in PostgreSQL, every change stamped by ``clock`` and announced on ``events``."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, events: RunEvents | None = None) -> None:
        self.pool = pool
        self.clock = clock
        self.events = events or RunEvents()

    async def get(self, run_id: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, run_id)
        if row is None:
            raise NotFound(f"run {run_id} not found")
        return row

    async def json(self, run_id: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, run_id)
            if row is None:
                raise NotFound(f"run {run_id} not found")
            return run_json(row, await repo.transitions(conn, run_id))

    async def move(
        self,
        run_id: int,
        to_state: str,
        *,
        actor: str,
        reason: str | None = None,
        sortie: int | None = None,
        only_from: frozenset[str] | None = None,
    ) -> asyncpg.Record:
        """Move the run to ``to_state`` (409 when its current state does not allow it)."""
        at = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.get(conn, run_id, for_update=True)
            if row is None:
                raise NotFound(f"run {run_id} not found")
            current = row["state"]
            allowed = to_state == current or to_state in ALLOWED.get(current, frozenset())
            if not allowed or (only_from is not None and current not in only_from):
                raise Conflict(
                    f"run {run_id} is {current}: it cannot become {to_state}",
                    code="run_state",
                    details=[{"field": "state", "problem": f"{current} -> {to_state} not allowed"}],
                )
            new_sortie = row["sortie"] if sortie is None else sortie
            await repo.set_state(
                conn,
                run_id,
                from_state=current,
                to_state=to_state,
                sortie=new_sortie,
                actor=actor,
                reason=reason,
                at=at,
            )
            updated = await repo.get(conn, run_id)
        assert updated is not None  # locked above in the same transaction
        event = RunEvent(run_id, updated["drone_id"], current, to_state, new_sortie, actor, reason, at)
        log.info("run %s: %s -> %s (%s)%s", run_id, current, to_state, actor, f": {reason}" if reason else "")
        self.events.publish(event)
        return updated


def event_json(event: RunEvent) -> dict[str, Any]:
    return asdict(event)
