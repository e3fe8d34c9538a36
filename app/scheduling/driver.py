"""The run driver: one task per run, owned by the lifespan, taking a run from dispatch to landed.

A run's task assigns a drone when the run names none, clears its path against every other run in
the air (a layer, a delay, or 409), then for each sortie: upload (the flight service's checks and
upload log), fly (``SortieFlight``), and between sorties wait for the operator's "continue" after a
battery swap, optionally onto another drone; the next sortie starts where the last one ended (the
planner split the route there). State lives in PostgreSQL, never only here: after a restart
``adopt`` finds the runs whose drones this instance links and picks each up where the database
and the vehicle say it is; a run in the air is reattached, not uploaded again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal

import asyncpg

from app.auth import Permission, Principal
from app.config import Settings
from app.db.errors import DATABASE_FAILED
from app.db.repos import drones as drones_repo
from app.db.repos import missions as missions_repo
from app.db.repos import runs as repo
from app.db.repos.alerts import NewAlert
from app.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.link.autopilots.ardupilot import FlightReport, FlightTimeouts
from app.link.errors import LinkError
from app.scheduling import assignment, deconfliction
from app.scheduling.flying import MISSION_COMPLETE_NOTE, NOTE_PHASES, PHASE_STATE, SortieFlight, shift_items
from app.scheduling.runs import TERMINAL, RunStore
from app.services.alerts import AlertService
from app.services.district import load_fences
from app.services.flight import FlightService, _can_fly
from app.services.planning import visible
from app.telemetry.detectors.base import AlertType, Severity
from geofences.frame import LocalFrame
from missions.item_route import check_items
from missions.plan import MissionPlan
from missions.profile import Battery
from missions.serialize import plan_from_dict

log = logging.getLogger(__name__)

RunAction = Literal["start", "pause", "resume", "abort", "land", "continue"]
SYSTEM: Final = "system"
IN_AIR: Final = frozenset({"running", "paused", "returning"})
CLOCK_POLL_S: Final = 0.2


@dataclass(frozen=True, slots=True)
class RunSettings:
    separation: deconfliction.Separation = field(default_factory=deconfliction.Separation)
    min_alt_m: float = 15.0
    max_layers: int = 3
    delay_step_s: float = 60.0
    max_delay_s: float = 1800.0
    progress_s: float = 1.0
    adopt_s: float = 2.0
    drive_linked_only: bool = False
    """Several instances (link leases): a run is driven where its drone is linked, so one dispatched
    here for a drone another instance links is left to that instance's adoption round."""
    timeouts: FlightTimeouts = field(default_factory=FlightTimeouts)


def actor_of(principal: Principal) -> str:
    return f"token:{principal.token_id} ({principal.role})" if principal.token_id else str(principal.role)


@dataclass(slots=True)
class _Live:
    """What only the driving process knows about a run: its task and the operator's signals."""

    task: asyncio.Task[None]
    resume_sortie: asyncio.Event
    next_drone_id: int | None = None
    operator_end: tuple[str, str] | None = None
    """(actor, reason) of an operator's abort or land-now, recorded when the drone is down."""


class RunDriver:
    def __init__(
        self,
        store: RunStore,
        flights: FlightService,
        alerts: AlertService | None,
        settings: RunSettings | None = None,
    ) -> None:
        self.store = store
        self.pool = store.pool
        self.clock = store.clock
        self.flights = flights
        self.alerts = alerts
        self.settings = settings or RunSettings()
        self._live: dict[int, _Live] = {}
        self._adopter: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt the runs left active by a previous process, then keep adopting (a drone's link may
        come to this instance later)."""
        await self.adopt()
        self._adopter = asyncio.create_task(self._keep_adopting(), name="run-adopter")

    async def _keep_adopting(self) -> None:
        while True:
            await asyncio.sleep(self.settings.adopt_s)
            try:
                await self.adopt()
            except DATABASE_FAILED as exc:
                log.warning("run adoption failed, retrying: %s: %s", type(exc).__name__, exc)
            except Exception:  # a bug in one round must not stop adopting for good
                log.exception("run adoption failed, retrying")

    async def adopt(self) -> list[int]:
        """Drive every active run whose drone this instance links and that no task here drives."""
        linked = {int(d) for d in self.flights.manager.drone_ids()}
        async with self.pool.acquire() as conn:
            rows = await repo.list_recent(
                conn, states=list(repo.ACTIVE_STATES), schedule_id=None, limit=10_000
            )
        adopted = []
        for row in rows:
            if row["drone_id"] in linked and row["id"] not in self._live:
                log.info("run %s: adopted in state %s (drone %s)", row["id"], row["state"], row["drone_id"])
                self.launch(row["id"])
                adopted.append(row["id"])
        return adopted

    async def close(self) -> None:
        tasks = [live.task for live in self._live.values()]
        if self._adopter is not None:
            tasks.append(self._adopter)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def driving(self, run_id: int) -> bool:
        live = self._live.get(run_id)
        return live is not None and not live.task.done()

    # --- creating and acting --------------------------------------------------------------

    async def create(
        self, mission_id: int, drone_id: int | None, principal: Principal, *, start: bool
    ) -> dict[str, Any]:
        """Store a run of a mission (checked: visible, violation-free, a drone this role may fly)."""
        async with self.pool.acquire() as conn:
            mission = await missions_repo.get(conn, mission_id)
            if mission is None or not visible(principal, mission["communities"]):
                raise NotFound(
                    f"mission {mission_id} not found",
                    details=[{"field": "mission_id", "problem": "not found"}],
                )
            plan = plan_from_dict(mission["plan"])
            if not plan.ok:
                raise ValidationFailed(
                    "mission_id: the mission has violations and cannot run",
                    code="plan_violations",
                    details=[{"field": "mission_id", "problem": "plan has violations"}],
                )
            if drone_id is not None:
                drone = await drones_repo.get(conn, drone_id)
                if drone is None or not principal.sees_community(drone["community_code"]):
                    raise NotFound(
                        f"drone {drone_id} not found", details=[{"field": "drone_id", "problem": "not found"}]
                    )
                _can_fly(principal, drone["kind"])
                busy = await repo.active_on_drone(conn, drone_id)
                if busy is not None:
                    raise Conflict(
                        f"drone {drone_id} is busy with run {busy['id']} ({busy['state']})",
                        code="drone_busy",
                        details=[{"field": "drone_id", "problem": f"busy with run {busy['id']}"}],
                    )
            run_id = await self.insert_run(
                conn,
                mission_id=mission_id,
                drone_id=drone_id,
                sortie_count=len(plan.sorties),
                created_by=principal.token_id or None,
                sim_only=not principal.can(Permission.FLY),
                actor=actor_of(principal),
            )
        if start:
            await self.dispatch(run_id, actor=actor_of(principal))
        return await self.store.json(run_id)

    async def insert_run(
        self,
        conn: Any,
        *,
        mission_id: int,
        drone_id: int | None,
        sortie_count: int,
        created_by: int | None,
        sim_only: bool,
        actor: str,
        state: str = "planned",
        reason: str | None = None,
        schedule_id: int | None = None,
        occurrence_at: Any = None,
    ) -> int:
        """Insert a run with its first history row (the caller may hold a transaction)."""
        at = self.clock.now()
        async with conn.transaction():
            run_id = await repo.insert(
                conn,
                mission_id=mission_id,
                drone_id=drone_id,
                state=state,
                sortie_count=sortie_count,
                created_by=created_by,
                at=at,
                schedule_id=schedule_id,
                occurrence_at=occurrence_at,
                sim_only=sim_only,
            )
            await repo.set_state(
                conn, run_id, from_state=None, to_state=state, sortie=0, actor=actor, reason=reason, at=at
            )
        return run_id

    async def dispatch(self, run_id: int, *, actor: str) -> None:
        """planned/scheduled -> dispatching: assign, deconflict (409 naming the run it cannot clear)."""
        row = await self.store.get(run_id)
        plan = await self._plan(row["mission_id"])
        drone_id = row["drone_id"] or await self._assign(row, plan)
        resolution = await self._deconflict(run_id, plan, drone_id, row["sortie"])
        not_before = self.clock.now() + timedelta(seconds=resolution.delay_s) if resolution.delay_s else None
        try:
            async with self.pool.acquire() as conn:
                await repo.assign(
                    conn,
                    run_id,
                    drone_id=drone_id,
                    alt_offset_m=resolution.alt_offset_m,
                    not_before=not_before,
                )
                await self.store.move(
                    run_id,
                    "dispatching",
                    actor=actor,
                    reason=_resolution_text(resolution),
                    only_from=frozenset({"planned", "scheduled"}),
                )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                f"drone {drone_id} is busy with another run",
                code="drone_busy",
                details=[{"field": "drone_id", "problem": "busy with another run"}],
            ) from exc
        if self.settings.drive_linked_only and str(drone_id) not in self.flights.manager.drone_ids():
            log.info("run %s: drone %s is linked by another instance, which adopts the run", run_id, drone_id)
            return
        self.launch(run_id)

    async def act(
        self, run_id: int, action: RunAction, principal: Principal, *, drone_id: int | None = None
    ) -> dict[str, Any]:
        """The operator's start, pause, resume, abort (RTL), land now, or continue (next sortie)."""
        row = await self.store.get(run_id)
        mission = await self._mission_row(row["mission_id"])
        if not visible(principal, mission["communities"]):
            raise NotFound(f"run {run_id} not found")
        await self._check_may_fly(row["drone_id"], principal)
        actor = actor_of(principal)
        state = row["state"]
        if action == "start":
            await self.dispatch(run_id, actor=actor)
        elif action == "continue":
            await self._continue(row, drone_id, principal)
        elif action in ("pause", "resume"):
            await self._pause_resume(row, action, actor)
        elif state in IN_AIR:
            await self._end_in_air(row, action, actor)
        elif state in TERMINAL:
            raise Conflict(f"run {run_id} is already {state}", code="run_state")
        else:
            live = self._live.pop(run_id, None)
            if live is not None:
                live.task.cancel()
                await asyncio.gather(live.task, return_exceptions=True)
            await self.store.move(run_id, "aborted", actor=actor, reason=f"{action} before take-off")
            await self._safe_on_ground(row["drone_id"])
        return await self.store.json(run_id)

    async def _check_may_fly(self, drone_id: int | None, principal: Principal) -> None:
        if drone_id is None:
            return  # the route's dependency already required a flight permission
        async with self.pool.acquire() as conn:
            drone = await drones_repo.get(conn, drone_id)
        if drone is None or not principal.sees_community(drone["community_code"]):
            raise NotFound(
                f"drone {drone_id} not found", details=[{"field": "drone_id", "problem": "not found"}]
            )
        _can_fly(principal, drone["kind"])

    async def _continue(self, row: asyncpg.Record, drone_id: int | None, principal: Principal) -> None:
        live = self._live.get(row["id"])
        if row["state"] != "waiting" or live is None:
            raise Conflict(
                f"run {row['id']} is {row['state']}: continue is for a run waiting between sorties",
                code="run_state",
            )
        if drone_id is not None and drone_id != row["drone_id"]:
            await self._check_may_fly(drone_id, principal)
            async with self.pool.acquire() as conn:
                busy = await repo.active_on_drone(conn, drone_id)
            if busy is not None:
                raise Conflict(
                    f"drone {drone_id} is busy with run {busy['id']}",
                    code="drone_busy",
                    details=[{"field": "drone_id", "problem": f"busy with run {busy['id']}"}],
                )
            live.next_drone_id = drone_id
        live.resume_sortie.set()

    async def _pause_resume(self, row: asyncpg.Record, action: str, actor: str) -> None:
        want_from = "running" if action == "pause" else "paused"
        if row["state"] != want_from:
            raise Conflict(f"run {row['id']} is {row['state']}: cannot {action}", code="run_state")
        vehicle = self.flights.online_vehicle(row["drone_id"])
        if action == "pause":
            await vehicle.pause()
            await self.store.move(row["id"], "paused", actor=actor, reason="paused by operator")
        else:
            await vehicle.resume()
            await self.store.move(row["id"], "running", actor=actor, reason="resumed by operator")

    async def _end_in_air(self, row: asyncpg.Record, action: str, actor: str) -> None:
        live = self._live.get(row["id"])
        if live is None:
            raise Conflict(f"run {row['id']} is driven by another instance", code="run_elsewhere")
        vehicle = self.flights.online_vehicle(row["drone_id"])
        if action == "abort":
            live.operator_end = (actor, f"aborted by {actor}: returning home")
            await vehicle.return_home()
        elif action == "land":
            live.operator_end = (actor, f"landed where it was by {actor}")
            await vehicle.land()
        else:
            raise Conflict(f"run {row['id']} is {row['state']}: cannot {action}", code="run_state")

    async def _safe_on_ground(self, drone_id: int | None) -> None:
        """After cancelling a run before take-off: a drone left armed on the ground is disarmed."""
        if drone_id is None or str(drone_id) not in self.flights.manager.drone_ids():
            return
        vehicle = self.flights.vehicle(drone_id)
        if vehicle.tracker.armed:
            try:
                await vehicle.land()
            except LinkError as exc:
                log.warning("drone %s: land after abort not confirmed: %s", drone_id, exc.message)

    # --- the run's task -------------------------------------------------------------------

    def launch(self, run_id: int) -> None:
        if self.driving(run_id):
            return
        task = asyncio.create_task(self._drive(run_id), name=f"run-{run_id}")
        self._live[run_id] = _Live(task=task, resume_sortie=asyncio.Event())

    async def _drive(self, run_id: int) -> None:
        try:
            await self._drive_run(run_id)
        except asyncio.CancelledError:
            raise
        except (DomainError, LinkError, ValueError) as exc:
            message = getattr(exc, "message", str(exc))
            await self._fail(run_id, message)
        except Exception as exc:  # a bug must still end the run visibly, not leave it 'running'
            log.exception("run %s: driver failed", run_id)
            await self._fail(run_id, f"internal error: {type(exc).__name__}")

    async def _fail(self, run_id: int, reason: str) -> None:
        try:
            row = await self.store.move(run_id, "failed", actor=SYSTEM, reason=reason)
        except DomainError:
            return  # already ended (an operator abort raced the failure)
        if self.alerts is not None and row["drone_id"] is not None:
            await self.alerts.open(
                NewAlert(
                    drone_id=row["drone_id"],
                    type=AlertType.RUN_FAILED.value,
                    condition_key=f"run:{run_id}",
                    severity=Severity.WARNING.value,
                    message=f"run {run_id} failed: {reason}"[:500],
                    evidence={"run_id": run_id, "sortie": row["sortie"]},
                    at=self.clock.now(),
                    mission_id=row["mission_id"],
                    sortie=row["sortie"],
                )
            )

    async def _drive_run(self, run_id: int) -> None:
        row = await self.store.get(run_id)
        plan = await self._plan(row["mission_id"])
        await self._wait_not_before(row)
        sortie = row["sortie"]
        state = row["state"]
        while True:
            if state in IN_AIR:
                report = await self._reattach(run_id, plan, sortie)
            elif state == "landed":
                report = None
            else:
                if state == "waiting":
                    await self._wait_continue(run_id)
                report = await self._upload_and_fly(run_id, plan, sortie)
            if report is not None and not await self._after_flight(run_id, report):
                return
            if sortie + 1 >= len(plan.sorties):
                await self.store.move(
                    run_id, "completed", actor=SYSTEM, reason=f"all {len(plan.sorties)} sorties flown"
                )
                return
            await self.store.move(
                run_id,
                "waiting",
                actor=SYSTEM,
                reason=f"sortie {sortie + 1} of {len(plan.sorties)} landed: swap the battery or name "
                "another drone, then continue",
            )
            await self._wait_continue(run_id)
            sortie += 1
            state = "uploading_next"

    async def _wait_not_before(self, row: asyncpg.Record) -> None:
        not_before = row["not_before"]
        if not_before is None or row["state"] != "dispatching":
            return
        # The clock may be simulated (tests move it): poll it rather than sleep a computed span.
        while self.clock.now() < not_before:  # noqa: ASYNC110
            await asyncio.sleep(CLOCK_POLL_S)

    async def _wait_continue(self, run_id: int) -> None:
        live = self._live[run_id]
        await live.resume_sortie.wait()
        live.resume_sortie.clear()
        if live.next_drone_id is not None:
            async with self.pool.acquire() as conn:
                row = await repo.get(conn, run_id)
                assert row is not None
                await repo.assign(
                    conn,
                    run_id,
                    drone_id=live.next_drone_id,
                    alt_offset_m=row["alt_offset_m"],
                    not_before=None,
                )
            live.next_drone_id = None

    async def _upload_and_fly(self, run_id: int, plan: MissionPlan, sortie: int) -> FlightReport:
        row = await self.store.get(run_id)
        drone_id = row["drone_id"]
        async with self.pool.acquire() as conn:
            drone = await drones_repo.get(conn, drone_id)
        if drone is None:
            raise ValueError(f"drone {drone_id} was deleted")
        items = shift_items(plan.sorties[sortie].items, row["alt_offset_m"])
        await self.store.move(run_id, "uploading", actor=SYSTEM, sortie=sortie)
        upload = await self.flights.upload_checked(
            drone, row["mission_id"], plan, sortie, created_by=row["created_by"], items=items
        )
        async with self.pool.acquire() as conn:
            await repo.set_upload(conn, run_id, upload_id=upload["upload_id"], item_count=len(items))
        await self.store.move(run_id, "ready", actor=SYSTEM, reason=f"upload {upload['upload_id']} verified")
        return await self._sortie_flight(run_id, plan, sortie, drone_id, items).fly()

    async def _reattach(self, run_id: int, plan: MissionPlan, sortie: int) -> FlightReport:
        row = await self.store.get(run_id)
        items = shift_items(plan.sorties[sortie].items, row["alt_offset_m"])
        async with self.pool.acquire() as conn:
            history = await repo.transitions(conn, run_id)
        completed = any(t["sortie"] == sortie and t["reason"] == MISSION_COMPLETE_NOTE for t in history)
        await self.store.move(
            run_id, row["state"], actor=SYSTEM, reason="reattached after a restart: no upload"
        )
        vehicle = self.flights.vehicle(row["drone_id"])
        await vehicle.wait_online(self.settings.timeouts.link_lost_s)
        flight = self._sortie_flight(run_id, plan, sortie, row["drone_id"], items)
        return await flight.reattach(mission_completed=completed)

    def _sortie_flight(
        self, run_id: int, plan: MissionPlan, sortie: int, drone_id: int, items: tuple[Any, ...]
    ) -> SortieFlight:
        later_s = sum(s.flight_time_s for s in plan.sorties[sortie + 1 :])
        this_s = plan.sorties[sortie].flight_time_s

        async def on_phase(name: str) -> None:
            target = PHASE_STATE.get(name)
            row = await self.store.get(run_id)
            if row["state"] in TERMINAL:
                return
            if (
                target is not None
                and target != row["state"]
                and not (row["state"] == "paused" and name == "auto")
            ):
                await self.store.move(run_id, target, actor="vehicle", reason=f"flight phase {name}")
            elif name in NOTE_PHASES:
                reason = MISSION_COMPLETE_NOTE if name == "mission_complete" else name.replace("_", " ")
                await self.store.move(run_id, row["state"], actor="vehicle", reason=reason)

        async def on_progress(seq: int, total: int) -> None:
            share = min(seq, total) / total
            async with self.pool.acquire() as conn:
                await repo.set_progress(
                    conn,
                    run_id,
                    current_seq=seq,
                    progress_pct=round(100.0 * share, 1),
                    eta_s=round((1.0 - share) * this_s + later_s, 1),
                )

        return SortieFlight(
            vehicle=self.flights.online_vehicle(drone_id),
            items=items,
            timeouts=self.settings.timeouts,
            on_phase=on_phase,
            on_progress=on_progress,
            progress_s=self.settings.progress_s,
        )

    async def _after_flight(self, run_id: int, report: FlightReport) -> bool:
        """Record how the sortie ended; True when the run goes on to its next sortie."""
        live = self._live.get(run_id)
        row = await self.store.get(run_id)
        if row["state"] in TERMINAL:
            return False
        if live is not None and live.operator_end is not None:
            actor, reason = live.operator_end
            await self.store.move(run_id, "aborted", actor=actor, reason=reason)
            return False
        if not report.completed:
            await self._fail(
                run_id, "the sortie ended before its last item: " + "; ".join(report.warnings[-2:])
            )
            return False
        async with self.pool.acquire() as conn:
            await repo.set_progress(
                conn, run_id, current_seq=row["item_count"] or 0, progress_pct=100.0, eta_s=None
            )
        await self.store.move(run_id, "landed", actor="vehicle", reason=f"sortie {row['sortie'] + 1} landed")
        return True

    # --- assignment and deconfliction -----------------------------------------------------

    async def _mission_row(self, mission_id: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await missions_repo.get(conn, mission_id)
        if row is None:
            raise NotFound(f"mission {mission_id} not found")
        return row

    async def _plan(self, mission_id: int) -> MissionPlan:
        return plan_from_dict((await self._mission_row(mission_id))["plan"])

    async def candidates(self, *, sim_only: bool) -> list[assignment.Candidate]:
        async with self.pool.acquire() as conn:
            drones = await drones_repo.list_all(conn)
            busy = await repo.busy_drone_ids(conn)
        linked = set(self.flights.manager.drone_ids())
        out = []
        for d in drones:
            if sim_only and d["kind"] == "real":
                continue
            caps = d["capabilities"] or {}
            online, armed, lon, lat = False, False, d["home_lon_deg"], d["home_lat_deg"]
            if str(d["id"]) in linked:
                state = self.flights.manager.state(str(d["id"]))
                online, armed = state.online, state.armed
                if state.lon_deg is not None and state.lat_deg is not None:
                    lon, lat = state.lon_deg, state.lat_deg
            battery_wh = caps.get("battery_wh")
            out.append(
                assignment.Candidate(
                    drone_id=d["id"],
                    online=online,
                    busy=d["id"] in busy,
                    manual=armed and d["id"] not in busy,
                    capabilities=frozenset(k for k in ("camera", "speaker", "sprayer") if caps.get(k)),
                    usable_wh=Battery(capacity_wh=battery_wh).usable_wh if battery_wh else None,
                    lon_deg=lon,
                    lat_deg=lat,
                )
            )
        return out

    async def _assign(self, row: asyncpg.Record, plan: MissionPlan) -> int:
        energy_wh = max(s.energy_wh for s in plan.sorties)
        chosen, refused = assignment.pick(
            await self.candidates(sim_only=row["sim_only"]),
            kind=plan.kind,
            energy_wh=energy_wh,
            lon_deg=plan.home_lon_deg,
            lat_deg=plan.home_lat_deg,
        )
        if chosen is None:
            raise Conflict(
                f"run {row['id']}: no drone can take it",
                code="no_drone",
                details=[
                    {"field": "drone_id", "problem": f"drone {r.drone_id}: {r.reason}"} for r in refused
                ][:20],
            )
        return chosen.drone_id

    async def _traffic(self, run_id: int, frame: LocalFrame) -> list[deconfliction.Traffic]:
        """Every other run dispatching or in the air, timed from when its current sortie took off."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT r.id, r.mission_id, r.sortie, r.alt_offset_m, r.not_before, r.state,
                          (SELECT max(t.at) FROM run_transitions t WHERE t.run_id = r.id AND t.to_state = 'running'
                             AND t.sortie = r.sortie) AS running_at
                   FROM mission_runs r
                   WHERE r.id <> $1 AND r.state IN ('dispatching', 'uploading', 'ready', 'running', 'paused', 'returning')""",
                run_id,
            )
            out = []
            for r in rows:
                mission = await missions_repo.get(conn, r["mission_id"])
                if mission is None:
                    continue
                other = plan_from_dict(mission["plan"])
                started = r["running_at"] or r["not_before"] or now
                path = deconfliction.sortie_path(other.sorties[r["sortie"]], frame).shifted(r["alt_offset_m"])
                out.append(deconfliction.Traffic(r["id"], path, (started - now).total_seconds()))
        return out

    async def _deconflict(
        self, run_id: int, plan: MissionPlan, drone_id: int, sortie: int
    ) -> deconfliction.Resolution:
        frame = LocalFrame.for_lonlat(plan.home_lon_deg, plan.home_lat_deg)
        traffic = await self._traffic(run_id, frame)
        async with self.pool.acquire() as conn:
            fences = await load_fences(conn)
        path = deconfliction.sortie_path(plan.sorties[sortie], frame)

        def layer_ok(offset_m: float) -> bool:
            """The shifted sortie stays above the lowest layer and passes the fences and ceiling."""
            if path.shifted(offset_m).min_cruise_alt_m < self.settings.min_alt_m:
                return False
            items = shift_items(plan.sorties[sortie].items, offset_m)
            return not check_items(items, fences, plan.home_lon_deg, plan.home_lat_deg)

        result = deconfliction.resolve(
            path,
            0.0,
            traffic,
            self.settings.separation,
            layer_ok=layer_ok,
            max_layers=self.settings.max_layers,
            delay_step_s=self.settings.delay_step_s,
            max_delay_s=self.settings.max_delay_s,
        )
        if isinstance(result, deconfliction.Unresolved):
            e = result.encounter
            raise Conflict(
                f"run {run_id} would pass {e.horizontal_m:.0f} m / {e.vertical_m:.0f} m from run {e.run_id} "
                f"{e.at_s:.0f} s after take-off, and no free layer or delay within "
                f"{self.settings.max_delay_s:.0f} s clears it",
                code="airspace_conflict",
                details=[
                    {"field": "mission_id", "problem": f"conflicts with run {e.run_id}", "run_id": e.run_id}
                ],
            )
        return result


def _resolution_text(r: deconfliction.Resolution) -> str | None:
    if r.alt_offset_m:
        return f"moved {r.alt_offset_m:+.0f} m to a free altitude layer"
    if r.delay_s:
        return f"delayed {r.delay_s:.0f} s to keep clear of other runs"
    return None


def run_settings(settings: Settings) -> RunSettings:
    return RunSettings(
        separation=deconfliction.Separation(
            horizontal_m=settings.run_separation_horizontal_m, vertical_m=settings.run_separation_vertical_m
        ),
        min_alt_m=settings.run_min_alt_m,
        max_layers=settings.run_max_layers,
        delay_step_s=settings.run_delay_step_s,
        max_delay_s=settings.run_max_delay_s,
        progress_s=settings.run_progress_s,
        adopt_s=settings.run_adopt_s,
        drive_linked_only=settings.link_leases,
    )
