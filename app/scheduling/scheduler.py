"""The scheduler: turns due schedule occurrences into runs, exactly once across instances.

Each tick, every instance (1) records the occurrences that fell due within the misfire window as
pending rows (``ON CONFLICT DO NOTHING`` on the unique (schedule, due time)), then (2) claims due
pending rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in the same transaction, decides each:
the calendar (blackout, flight window, quiet hours for broadcasts), a drone (the schedule's or one
assigned), the preconditions at fire time; and either inserts the run (state ``scheduled``) or marks
the occurrence skipped with its reason. A second instance never sees a claimed row, and a committed
row is no longer pending, so an occurrence fires once. Runs are dispatched after the commit; a skip
raises a ``run_skipped`` alert on the drone concerned.

An occurrence for a drone this instance does not link is left pending for the instance that does
(link ownership), until the misfire window has passed; then whoever holds it skips it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import asyncpg

from app.config import Settings
from app.db.errors import DATABASE_FAILED
from app.db.repos import drones as drones_repo
from app.db.repos import missions as missions_repo
from app.db.repos import schedules as repo
from app.db.repos.alerts import NewAlert
from app.db.repos.runs import ACTIVE_STATES
from app.errors import DomainError
from app.scheduling import assignment, preconditions
from app.scheduling.clock import Clock
from app.scheduling.driver import RunDriver
from app.scheduling.schedules import Rule, Span, zone
from app.telemetry.detectors.base import AlertType, Severity
from missions.plan import MissionPlan
from missions.serialize import plan_from_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    tick_s: float = 5.0
    misfire_s: float = 900.0
    """Occurrences older than this when first seen (the service was down) are not flown."""
    battery_reserve_pct: float = 20.0
    claim_batch: int = 20
    """Occurrences claimed per transaction (others stay free for other instances meanwhile)."""


@dataclass(slots=True)
class TickReport:
    fired: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)


def rule_of(row: asyncpg.Record) -> Rule:
    def span(a: time | None, b: time | None) -> Span | None:
        return Span(a, b) if a is not None and b is not None else None

    return Rule(
        tz=zone(row["tz"]),
        start_at=row["start_at"],
        rrule_text=row["rrule"],
        window=span(row["window_start"], row["window_end"]),
        blackout_dates=frozenset(row["blackout_dates"]),
        quiet_hours=span(row["quiet_start"], row["quiet_end"]),
    )


@dataclass(frozen=True, slots=True)
class _Decision:
    run_id: int | None
    reason: str | None
    drone_id: int | None
    deferred: bool = False


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        driver: RunDriver,
        clock: Clock,
        *,
        instance_id: str,
        settings: SchedulerSettings | None = None,
    ) -> None:
        self.pool = pool
        self.driver = driver
        self.clock = clock
        self.instance_id = instance_id
        self.settings = settings or SchedulerSettings()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except DATABASE_FAILED as exc:
                log.warning("scheduler tick failed, retrying: %s: %s", type(exc).__name__, exc)
            except Exception:  # a bug in one tick must not stop every later schedule
                log.exception("scheduler tick failed, retrying")
            await asyncio.sleep(self.settings.tick_s)

    # --- one tick ---------------------------------------------------------------------------

    async def tick(self) -> TickReport:
        """Record what fell due, then claim and decide due occurrences until none is left to claim."""
        now = self.clock.now()
        await self._record_due(now)
        report = TickReport()
        while True:
            decided = await self._claim_batch(now, report)
            if not decided:
                return report

    async def _record_due(self, now: datetime) -> None:
        since = now - timedelta(seconds=self.settings.misfire_s)
        async with self.pool.acquire() as conn:
            for row in await repo.list_all(conn, enabled_only=True):
                due = rule_of(row).occurrences_between(
                    max(since, row["created_at"] - timedelta(seconds=1)), now
                )
                if due:
                    await repo.add_occurrences(conn, row["id"], due)

    async def _claim_batch(self, now: datetime, report: TickReport) -> int:
        decisions: list[tuple[asyncpg.Record, _Decision]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await repo.claim_due(conn, now, self.settings.claim_batch)
            for occ in claimed:
                decision = await self._decide(conn, occ, now)
                if decision.deferred:
                    continue
                state = "fired" if decision.run_id is not None else "skipped"
                await repo.finish(
                    conn,
                    occ["id"],
                    state=state,
                    run_id=decision.run_id,
                    reason=decision.reason,
                    at=now,
                    by=self.instance_id,
                )
                decisions.append((occ, decision))
        for occ, decision in decisions:
            if decision.run_id is not None:
                report.fired.append(occ["id"])
                report.runs.append(decision.run_id)
                await self._dispatch(occ, decision)
            else:
                report.skipped.append(occ["id"])
                log.info(
                    "schedule %s occurrence %s skipped: %s",
                    occ["schedule_id"],
                    occ["due_at"],
                    decision.reason,
                )
                await self._alert(occ, decision)
        return len(decisions)

    async def _decide(self, conn: Any, occ: asyncpg.Record, now: datetime) -> _Decision:
        schedule = await repo.get(conn, occ["schedule_id"])
        if schedule is None:
            return _Decision(None, "schedule deleted", None)
        mission = await missions_repo.get(conn, schedule["mission_id"])
        if mission is None:
            return _Decision(None, "mission deleted", None)
        plan = plan_from_dict(mission["plan"])
        why = rule_of(schedule).calendar_refusal(occ["due_at"], broadcast=plan.kind == "broadcast")
        if why is not None:
            return _Decision(None, why, schedule["drone_id"])
        drone_id = schedule["drone_id"]
        if drone_id is None:
            drone_id, why = await self._pick(schedule, plan)
            if drone_id is None:
                return _Decision(None, why, None)
        elif (
            str(drone_id) not in self.driver.flights.manager.drone_ids()
            and (now - occ["due_at"]).total_seconds() < self.settings.misfire_s
        ):
            return _Decision(None, None, drone_id, deferred=True)  # for the instance linking it
        drone = await drones_repo.get(conn, drone_id)
        if drone is None:
            return _Decision(None, f"drone {drone_id} was deleted", None)
        busy = await conn.fetchval(
            "SELECT id FROM mission_runs WHERE drone_id = $1 AND state = ANY($2)",
            drone_id,
            list(ACTIVE_STATES),
        )
        if busy is not None:
            return _Decision(None, f"drone {drone_id} is busy with run {busy}", drone_id)
        why = await preconditions.refusal(
            conn, self.driver.flights, drone, plan, reserve_pct=self.settings.battery_reserve_pct
        )
        if why is not None:
            return _Decision(None, why, drone_id)
        run_id = await self.driver.insert_run(
            conn,
            mission_id=schedule["mission_id"],
            drone_id=drone_id,
            sortie_count=len(plan.sorties),
            created_by=schedule["created_by"],
            sim_only=schedule["sim_only"],
            actor=f"schedule:{schedule['id']}",
            state="scheduled",
            reason=f"occurrence {occ['due_at'].isoformat()}",
            schedule_id=schedule["id"],
            occurrence_at=occ["due_at"],
        )
        return _Decision(run_id, None, drone_id)

    async def _pick(self, schedule: asyncpg.Record, plan: MissionPlan) -> tuple[int | None, str]:
        chosen, refused = assignment.pick(
            await self.driver.candidates(sim_only=schedule["sim_only"]),
            kind=plan.kind,
            energy_wh=max(s.energy_wh for s in plan.sorties),
            lon_deg=plan.home_lon_deg,
            lat_deg=plan.home_lat_deg,
        )
        if chosen is None:
            detail = (
                "; ".join(f"drone {r.drone_id}: {r.reason}" for r in refused[:5]) or "no drones registered"
            )
            return None, f"no drone can take it ({detail})"
        return chosen.drone_id, ""

    async def _dispatch(self, occ: asyncpg.Record, decision: _Decision) -> None:
        assert decision.run_id is not None
        actor = f"schedule:{occ['schedule_id']}"
        try:
            await self.driver.dispatch(decision.run_id, actor=actor)
        except DomainError as exc:
            await self.driver.store.move(decision.run_id, "skipped", actor=actor, reason=exc.message)
            await self._alert(occ, _Decision(decision.run_id, exc.message, decision.drone_id))

    async def _alert(self, occ: asyncpg.Record, decision: _Decision) -> None:
        if self.driver.alerts is None or decision.drone_id is None:
            return
        try:
            await self.driver.alerts.open(
                NewAlert(
                    drone_id=decision.drone_id,
                    type=AlertType.RUN_SKIPPED.value,
                    condition_key=f"schedule:{occ['schedule_id']}",
                    severity=Severity.WARNING.value,
                    message=f"scheduled run skipped: {decision.reason}"[:500],
                    evidence={
                        "schedule_id": occ["schedule_id"],
                        "occurrence_at": occ["due_at"].isoformat(),
                        "reason": decision.reason,
                        "run_id": decision.run_id,
                    },
                    at=self.clock.now(),
                )
            )
        except asyncpg.ForeignKeyViolationError:
            log.info("skip alert dropped: drone %s was deleted", decision.drone_id)


def scheduler_settings(settings: Settings) -> SchedulerSettings:
    return SchedulerSettings(
        tick_s=settings.schedule_tick_s,
        misfire_s=settings.schedule_misfire_s,
        battery_reserve_pct=settings.run_battery_reserve_pct,
    )
