"""Work orders (工单): open from any channel, assign, handle, resolve, verify, and watch the SLA.

Every change happens in one transaction with its history row and its outbox event, so the
history, the webhooks and the MQTT feed can never disagree with the order itself. The clock is
injectable (``clock``): due times, history times and the periodic SLA check all read it, which is
how the tests walk an order through its warning, overdue and escalation marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import asyncpg

from app.auth import Principal
from app.db.conn import Conn
from app.db.repos import workorders as repo
from app.db.repos.workorders import NewOrder, OrderFilter, Placement
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services import outbox
from app.services.placement import grid_by_code, place

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Action = Literal["assign", "start", "resolve", "close", "reopen", "cancel"]

TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "assign": (frozenset({"open", "assigned", "reopened"}), "assigned"),
    "start": (frozenset({"assigned", "reopened"}), "in_progress"),
    "resolve": (frozenset({"in_progress"}), "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved"}), "reopened"),
    "cancel": (frozenset({"open", "assigned", "in_progress", "reopened"}), "cancelled"),
}
"""action -> (states it is legal from, state it leads to)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order as a person or another system sends it (validated shapes; the service checks
    the channel, the grid and the scope)."""

    channel: str
    type: str
    severity: str
    title: str
    description: str = ""
    external_ref: str | None = None
    grid_code: str | None = None
    lon_deg: float | None = None
    lat_deg: float | None = None
    department: str | None = None
    drone_id: int | None = None
    alert_id: int | None = None
    detection_alert_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    reason: str | None = None
    feedback: str | None = None
    photos: tuple[str, ...] = ()
    assignee_kind: Literal["worker", "department"] | None = None
    assignee_name: str | None = None
    assignee_phone: str | None = None


@dataclass(frozen=True, slots=True)
class DueMarks:
    """Shares of the SLA at which the periodic check warns, marks overdue (1.0) and escalates."""

    warn_share: float = 0.8
    escalate_share: float = 1.5


def order_json(r: asyncpg.Record) -> dict[str, Any]:
    """A work-order row as the API, the webhooks and MQTT show it."""
    return {
        "id": r["id"],
        "channel": r["channel"],
        "external_ref": r["external_ref"],
        "type": r["type"],
        "severity": r["severity"],
        "title": r["title"],
        "description": r["description"],
        "state": r["state"],
        "grid_code": r["grid_code"],
        "community_code": r["community_code"],
        "street_code": r["street_code"],
        "position": None if r["lat_deg"] is None else {"lon_deg": r["lon_deg"], "lat_deg": r["lat_deg"]},
        "assignee": None
        if r["assignee_kind"] is None
        else {"kind": r["assignee_kind"], "name": r["assignee_name"], "phone": r["assignee_phone"]},
        "detection_alert_id": r["detection_alert_id"],
        "alert_id": r["alert_id"],
        "drone_id": r["drone_id"],
        "feedback": r["feedback"],
        "feedback_photos": r["feedback_photos"],
        "cancel_reason": r["cancel_reason"],
        "opened_at": r["opened_at"].isoformat(),
        "due_at": r["due_at"].isoformat(),
        "warned_at": _iso(r["warned_at"]),
        "overdue_at": _iso(r["overdue_at"]),
        "escalated_at": _iso(r["escalated_at"]),
        "resolved_at": _iso(r["resolved_at"]),
        "closed_at": _iso(r["closed_at"]),
        "cancelled_at": _iso(r["cancelled_at"]),
        "updated_at": r["updated_at"].isoformat(),
        "created_by": r["created_by"],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def history_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "action": r["action"],
        "from_state": r["from_state"],
        "to_state": r["to_state"],
        "by": r["actor"],
        "reason": r["reason"],
        "details": r["details"],
        "at": r["at"].isoformat(),
    }


class WorkOrderService:
    """The work-order use cases over one pool; ``clock`` is read for every time it stores."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channels: list[str],
        max_outside_m: float,
        marks: DueMarks | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.pool = pool
        self.channels = frozenset(channels)
        self.max_outside_m = max_outside_m
        self.marks = marks or DueMarks()
        self.clock = clock

    # --- opening --------------------------------------------------------------------------

    async def open(self, req: OrderRequest, principal: Principal) -> tuple[dict[str, Any], bool]:
        """Open the order, or return the one already opened for (channel, external_ref): (order, new)."""
        if req.channel not in self.channels:
            raise ValidationFailed(
                f"channel: unknown channel '{req.channel}'",
                details=[{"field": "channel", "problem": f"not one of {sorted(self.channels)}"}],
            )
        async with self.pool.acquire() as conn, conn.transaction():
            row, created = await self.open_in(conn, req, actor=principal.name, principal=principal)
        return order_json(row), created

    async def open_in(
        self, conn: Conn, req: OrderRequest, *, actor: str, principal: Principal | None
    ) -> tuple[asyncpg.Record, bool]:
        """Open inside the caller's transaction (detections open their order with the detection)."""
        if req.external_ref is not None:
            existing = await repo.by_ref(conn, req.channel, req.external_ref)
            if existing is not None:
                return self._seen(existing, principal), False
        placement = await self._placement(conn, req)
        if principal is not None and not principal.sees_community(placement.community_code):
            raise Forbidden("a community-scoped token may only open work orders in its own communities")
        now = self.clock()
        due_s = await repo.due_s(conn, req.type, req.severity)
        row = await repo.insert(
            conn,
            NewOrder(
                channel=req.channel,
                external_ref=req.external_ref,
                type=req.type,
                severity=req.severity,
                title=req.title,
                description=req.description,
                placement=placement,
                lat_deg=req.lat_deg,
                lon_deg=req.lon_deg,
                detection_alert_id=req.detection_alert_id,
                alert_id=req.alert_id,
                drone_id=req.drone_id,
                opened_at=now,
                due_at=now + timedelta(seconds=due_s),
                created_by=actor,
            ),
        )
        if row is None:  # a concurrent request with the same reference won the insert
            assert req.external_ref is not None
            existing = await repo.by_ref(conn, req.channel, req.external_ref)
            assert existing is not None
            return self._seen(existing, principal), False
        await self._record(conn, row, action="open", from_state=None, actor=actor, reason=None, at=now)
        assignee = _default_assignee(req.department, placement)
        if assignee is not None:
            kind, name, phone = assignee
            before = row
            row = await repo.update(
                conn,
                row["id"],
                now,
                {"state": "assigned", "assignee_kind": kind, "assignee_name": name, "assignee_phone": phone},
            )
            await self._record(
                conn,
                row,
                action="assign",
                from_state=before["state"],
                actor="system",
                reason="default",
                at=now,
            )
        return row, True

    def _seen(self, row: asyncpg.Record, principal: Principal | None) -> asyncpg.Record:
        if principal is not None and not principal.sees_community(row["community_code"]):
            raise Conflict("this channel and external_ref already name a work order outside your communities")
        return row

    async def _placement(self, conn: Conn, req: OrderRequest) -> Placement:
        if req.grid_code is not None:
            return await grid_by_code(conn, req.grid_code, field="grid_code")
        if req.lon_deg is not None and req.lat_deg is not None:
            return await place(
                conn, req.lon_deg, req.lat_deg, field="position", max_outside_m=self.max_outside_m
            )
        return Placement(None, None, None, None, None)

    # --- transitions ----------------------------------------------------------------------

    async def transition(
        self, order_id: int, action: Action, req: TransitionRequest, principal: Principal
    ) -> dict[str, Any]:
        """Apply ``action``; 409 naming the current state when it is not legal from there."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.get(conn, order_id, for_update=True)
            if row is None or not principal.sees_community(row["community_code"]):
                raise NotFound(f"work order {order_id} not found")
            legal_from, to_state = TRANSITIONS[action]
            if row["state"] not in legal_from:
                raise Conflict(
                    f"cannot {action} a work order that is {row['state']}",
                    code="illegal_transition",
                    details={"field": "state", "current_state": row["state"], "action": action},
                )
            now = self.clock()
            values = _transition_values(action, to_state, req, row, now)
            updated = await repo.update(conn, order_id, now, values)
            details: dict[str, Any] = {}
            if action == "assign":
                details = {"assignee": {"kind": values["assignee_kind"], "name": values["assignee_name"]}}
            elif action == "resolve":
                details = {"photos": list(req.photos)}
            await self._record(
                conn,
                updated,
                action=action,
                from_state=row["state"],
                actor=principal.name,
                reason=req.reason or req.feedback,
                at=now,
                details=details,
            )
        return order_json(updated)

    async def _record(
        self,
        conn: Conn,
        row: asyncpg.Record,
        *,
        action: str,
        from_state: str | None,
        actor: str,
        reason: str | None,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        """The history row and the outbox event of one change, in the change's transaction."""
        await repo.add_history(
            conn,
            row["id"],
            action=action,
            from_state=from_state,
            to_state=row["state"],
            actor=actor,
            reason=reason,
            details=details or {},
            at=at,
        )
        event = "opened" if action == "open" else _EVENT_NAMES.get(action, action)
        await outbox.record(
            conn,
            event_type=f"work_order.{event}",
            aggregate=f"work_order:{row['id']}",
            community_code=row["community_code"],
            payload={
                "action": action,
                "by": actor,
                "reason": reason,
                "at": at.isoformat(),
                "work_order": order_json(row),
            },
        )

    # --- the SLA check --------------------------------------------------------------------

    async def check_due(self, now: datetime | None = None) -> list[tuple[int, str]]:
        """Record every mark passed by ``now`` (default: the clock) once: (order id, event) pairs."""
        now = now or self.clock()
        fired: list[tuple[int, str]] = []
        marks = (
            ("warned_at", self.marks.warn_share, "due_warning"),
            ("overdue_at", 1.0, "overdue"),
            ("escalated_at", self.marks.escalate_share, "escalated"),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            for column, share, action in marks:
                for row in await repo.due_marks(conn, column, share, now):
                    updated = await repo.update(conn, row["id"], now, {column: now})
                    details = {"share_of_sla": share, "due_at": row["due_at"].isoformat()}
                    if action == "escalated":
                        details["escalated_to"] = {"community_code": row["community_code"]}
                    await self._record(
                        conn,
                        updated,
                        action=action,
                        from_state=row["state"],
                        actor="system",
                        reason=None,
                        at=now,
                        details=details,
                    )
                    fired.append((row["id"], action))
        for order_id, action in fired:
            log.info("work order %s: %s", order_id, action, extra={"work_order_id": order_id})
        return fired

    # --- verification by re-flight ---------------------------------------------------------

    async def reflight_target(self, order_id: int, principal: Principal) -> tuple[dict[str, Any], int]:
        """The order to verify and the nearest drone with a camera to fly there: (order, drone id).
        422 when the order has no position in a grid, 409 when no capable drone is registered."""
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, order_id)
            if row is None or not principal.sees_community(row["community_code"]):
                raise NotFound(f"work order {order_id} not found")
            if row["lat_deg"] is None or row["grid_code"] is None:
                raise ValidationFailed(
                    "position: the work order has no position inside a grid to inspect",
                    details=[{"field": "position", "problem": "no position inside a grid"}],
                )
            if row["state"] in ("closed", "cancelled"):
                raise Conflict(
                    f"cannot verify a work order that is {row['state']}",
                    code="illegal_transition",
                    details={"field": "state", "current_state": row["state"], "action": "reflight"},
                )
            drone = await repo.nearest_camera_drone(
                conn, row["lon_deg"], row["lat_deg"], principal.community_scope
            )
        if drone is None:
            raise Conflict(
                "no registered drone with a camera to verify the work order", code="no_capable_drone"
            )
        return order_json(row), int(drone["id"])

    async def record_reflight(
        self, order_id: int, *, mission_id: int, drone_id: int, principal: Principal
    ) -> None:
        """The planned verification flight in the history and the outbox (the state does not change)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.get(conn, order_id, for_update=True)
            assert row is not None
            await self._record(
                conn,
                row,
                action="reflight_planned",
                from_state=row["state"],
                actor=principal.name,
                reason=None,
                at=self.clock(),
                details={"mission_id": mission_id, "drone_id": drone_id},
            )

    # --- reading --------------------------------------------------------------------------

    async def get(self, order_id: int, principal: Principal) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await repo.get(conn, order_id)
            if row is None or not principal.sees_community(row["community_code"]):
                raise NotFound(f"work order {order_id} not found")
            history = await repo.history(conn, order_id)
        return {**order_json(row), "history": [history_json(h) for h in history]}

    async def search(
        self, f: OrderFilter, *, limit: int, before_id: int | None, principal: Principal
    ) -> list[dict[str, Any]]:
        scoped = replace(f, communities_scope=principal.community_scope)
        async with self.pool.acquire() as conn:
            rows = await repo.list_filtered(conn, scoped, now=self.clock(), limit=limit, before_id=before_id)
        return [order_json(r) for r in rows]


_EVENT_NAMES: Final = {
    "assign": "assigned",
    "start": "started",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "reopened",
    "cancel": "cancelled",
    "reflight_planned": "reflight_planned",
}


def _default_assignee(department: str | None, p: Placement) -> tuple[str, str, str | None] | None:
    if department is not None:
        return "department", department, None
    if p.worker_name:
        return "worker", p.worker_name, p.worker_phone
    return None


def _required(value: str | None, field: str, action: str) -> str:
    if not value:
        raise ValidationFailed(
            f"{field}: required to {action}", details=[{"field": field, "problem": f"required to {action}"}]
        )
    return value


def _transition_values(
    action: str, to_state: str, req: TransitionRequest, row: asyncpg.Record, now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {"state": to_state}
    if action == "assign":
        if req.assignee_name is None:  # back to the grid's worker
            raise ValidationFailed(
                "assignee: required to assign",
                details=[{"field": "assignee", "problem": "required to assign (kind, name, phone)"}],
            )
        values |= {
            "assignee_kind": req.assignee_kind or "worker",
            "assignee_name": req.assignee_name,
            "assignee_phone": req.assignee_phone,
        }
    elif action == "resolve":
        values |= {
            "feedback": _required(req.feedback, "feedback", action),
            "feedback_photos": list(req.photos),
            "resolved_at": now,
        }
    elif action == "close":
        values["closed_at"] = now
    elif action == "reopen":
        _required(req.reason, "reason", action)
        values["resolved_at"] = None
    elif action == "cancel":
        values |= {"cancel_reason": _required(req.reason, "reason", action), "cancelled_at": now}
    return values


class DueChecker:
    """The periodic SLA check: ``check_due`` every ``interval_s`` until closed; a failing round is
    logged and the next one runs anyway (a database restart must not stop the warnings)."""

    def __init__(self, service: WorkOrderService, interval_s: float) -> None:
        self.service = service
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="workorder-due-check")

    async def _run(self) -> None:
        while True:
            try:
                await self.service.check_due()
            except Exception:
                log.exception("work-order due check failed; retrying in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
