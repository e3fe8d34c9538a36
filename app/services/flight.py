"""Drones on the service: links for every registered drone, uploads, commands and flights.

``FlightService`` lives in the FastAPI lifespan. It links every registered drone at start and
whenever one is registered, keeps the upload log in PostgreSQL (an upload interrupted by a crash
stays visible as 'uploading' with no end), and runs whole flights (the ArduCopter recipe) as
background tasks it owns and cancels on shutdown. Safety checks run before anything moves a drone:
the plan is violation-free (stored missions always are), each sortie's energy fits this drone's
usable battery, and the drone is where the plan starts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import asyncpg

from app.auth import Permission, Principal
from app.db.repos import drones as drones_repo
from app.db.repos import missions as missions_repo
from app.db.repos import runs as runs_repo
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.link.autopilots.ardupilot import ArduCopterFlight, FlightReport, FlightTimeouts
from app.link.codec import MavMessage
from app.link.errors import LinkError, NotConnected
from app.link.manager import LinkManager, VehicleLink
from app.link.vehicle import VehicleState
from app.services import planning
from geofences.frame import LocalFrame
from missions.items import MavCmd, MissionItem, MissionType
from missions.plan import MissionPlan
from missions.profile import Battery

log = logging.getLogger(__name__)

MAX_START_OFFSET_M = 100.0
"""A plan planned for a take-off point further than this from the drone is refused."""

STREAM_STALE_S = 5.0
STREAM_CHECK_S = 1.0

Action = Literal["arm", "disarm", "takeoff", "start", "pause", "resume", "return", "land"]


@dataclass(slots=True)
class FlightRun:
    """One background flight: its phase as it goes (``link_lost`` while the drone is silent), and
    its end: ``done``, or ``failed`` with the error's code and message and the report so far."""

    drone_id: int
    mission_id: int | None
    sortie: int
    phase: str = "starting"
    error: str | None = None
    error_code: str | None = None
    report: FlightReport | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "mission_id": self.mission_id,
            "sortie": self.sortie,
            "phase": self.phase,
            "running": self.task is not None and not self.task.done(),
            "error": self.error,
            "error_code": self.error_code,
            "report": asdict(self.report) if self.report else None,
        }


def state_json(state: VehicleState) -> dict[str, Any]:
    """A VehicleState as JSON-able values (its mappings are read-only proxies asdict cannot copy)."""
    out: dict[str, Any] = {f.name: getattr(state, f.name) for f in fields(state) if f.name != "drone_id"}
    out["events"] = [asdict(e) for e in state.events]
    out["params"] = dict(state.params)
    out["stored_items"] = dict(state.stored_items)
    return out


def _can_fly(principal: Principal, drone_kind: str) -> None:
    needed = Permission.FLY if drone_kind == "real" else Permission.FLY_SIMULATED
    if not principal.can(needed):
        what = "a real drone" if drone_kind == "real" else f"a {drone_kind} drone"
        raise Forbidden(f"role '{principal.role}' may not fly {what}")


class FlightService:
    def __init__(
        self, pool: asyncpg.Pool, manager: LinkManager, *, timeouts: FlightTimeouts | None = None
    ) -> None:
        self.pool = pool
        self.manager = manager
        self.timeouts = timeouts or FlightTimeouts()
        self._flights: dict[int, FlightRun] = {}
        self._position_seen_s: dict[str, float] = {}
        self._fs_gcs_enable: dict[str, float] = {}
        self._uploaded_items: dict[int, tuple[int, tuple[MissionItem, ...]]] = {}
        """Drone id -> (upload id, the mission items verified on it): what its flight is judged against."""
        self._remove_listener = manager.add_listener(self._on_message)
        self._keeper: asyncio.Task[None] | None = None

    # --- streams --------------------------------------------------------------------------

    def _on_message(self, drone_id: str, msg: MavMessage) -> None:
        if msg.name == "GLOBAL_POSITION_INT":
            self._position_seen_s[drone_id] = time.monotonic()

    def start(self) -> None:
        """Start keeping every linked drone's telemetry streams alive (see ``_keep_streams``)."""
        self._keeper = asyncio.create_task(self._keep_streams(), name="stream-keeper")

    async def _keep_streams(self) -> None:
        """ArduCopter streams almost nothing until asked, and forgets after a reboot: ask every
        online drone whose position has not been heard for STREAM_STALE_S."""
        while True:
            now = time.monotonic()
            stale = [
                self.manager.vehicle(d)
                for d in self.manager.drone_ids()
                if self.manager.vehicle(d).tracker.online
                and now - self._position_seen_s.get(d, -1e9) > STREAM_STALE_S
            ]
            await asyncio.gather(*(self._request_streams(v) for v in stale))
            await asyncio.sleep(STREAM_CHECK_S)

    async def _request_streams(self, vehicle: VehicleLink) -> None:
        """Ask for the streams; on first contact also read FS_GCS_ENABLE (0 is ArduCopter's default,
        under which a lost ground station does not bring the drone home) and warn when it is off."""
        try:
            await vehicle.request_streams()
            if vehicle.drone_id not in self._fs_gcs_enable:
                value = await vehicle.get_param("FS_GCS_ENABLE")
                self._fs_gcs_enable[vehicle.drone_id] = value
                if value == 0:
                    log.warning(
                        "drone %s: FS_GCS_ENABLE is 0: losing the ground station will not trigger RTL",
                        vehicle.drone_id,
                        extra={"drone_id": vehicle.drone_id},
                    )
        except LinkError as exc:
            log.info("drone %s: stream or parameter request not answered: %s", vehicle.drone_id, exc.message)

    def warnings(self, drone_id: int) -> list[str]:
        """Standing warnings about a drone's configuration, shown with its state."""
        out = []
        if self._fs_gcs_enable.get(str(drone_id)) == 0:
            out.append("FS_GCS_ENABLE is 0: losing the ground station will not trigger RTL")
        return out

    # --- links ----------------------------------------------------------------------------

    async def link_all(self) -> None:
        """Link every registered drone; one that cannot be linked is logged, not fatal."""
        async with self.pool.acquire() as conn:
            rows = await drones_repo.link_configs(conn)
        for row in rows:
            await self.link(row["id"], row["endpoint"], row["sysid"], row["signing_key"])

    async def link(self, drone_id: int, endpoint: str, sysid: int, signing_key: bytes | None) -> None:
        try:
            await self.manager.add_drone(str(drone_id), endpoint, sysid, signing_key)
        except (LinkError, ValueError) as exc:
            log.warning("drone %s: cannot link %s sysid %d: %s", drone_id, endpoint, sysid, exc)

    async def unlink(self, drone_id: int) -> None:
        if str(drone_id) in self.manager.drone_ids():
            await self.manager.remove_drone(str(drone_id))

    def vehicle(self, drone_id: int) -> VehicleLink:
        return self.manager.vehicle(str(drone_id))

    def online_vehicle(self, drone_id: int) -> VehicleLink:
        """The drone's link, failing at once (503) when it has not been heard lately rather than
        letting a command wait out its retries against silence."""
        vehicle = self.vehicle(drone_id)
        state = vehicle.state()
        if not state.online:
            heard = (
                f"last heard {state.last_heard_age_s:.0f} s ago"
                if state.last_heard_age_s is not None
                else "never heard"
            )
            raise NotConnected(f"drone {drone_id} is offline ({heard})", drone_id=str(drone_id))
        return vehicle

    async def _drone(self, drone_id: int, principal: Principal) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await drones_repo.get(conn, drone_id)
        if row is None or not principal.sees_community(row["community_code"]):
            raise NotFound(f"drone {drone_id} not found")
        return row

    # --- state ----------------------------------------------------------------------------

    async def state(self, drone_id: int, principal: Principal) -> dict[str, Any]:
        await self._drone(drone_id, principal)
        async with self.pool.acquire() as conn:
            upload = await missions_repo.latest_upload(conn, drone_id)
        linked = str(drone_id) in self.manager.drone_ids()
        out: dict[str, Any] = {"drone_id": drone_id, "linked": linked}
        if linked:
            out.update(state_json(self.manager.state(str(drone_id))))
            # The link's counters: bad, unknown, unsigned, replayed and conflicting packets it dropped.
            out["link"] = self.manager.vehicle(str(drone_id)).link.stats.as_json()
        out["warnings"] = self.warnings(drone_id)
        out["last_upload"] = dict(upload) if upload else None
        run = self._flights.get(drone_id)
        out["flight"] = run.as_json() if run else None
        return out

    # --- uploads --------------------------------------------------------------------------

    def _check_plan_for_drone(self, plan: MissionPlan, sortie: int, drone: asyncpg.Record) -> None:
        if not plan.ok:
            raise ValidationFailed("the plan has violations and cannot be uploaded", code="plan_violations")
        if not 0 <= sortie < len(plan.sorties):
            raise ValidationFailed(
                f"sortie: the mission has {len(plan.sorties)} sorties (0..{len(plan.sorties) - 1})",
                details=[{"field": "sortie", "problem": "out of range"}],
            )
        battery_wh = drone["capabilities"].get("battery_wh")
        energy_wh = plan.sorties[sortie].energy_wh
        usable_wh = Battery(capacity_wh=battery_wh).usable_wh if battery_wh else None
        if usable_wh is not None and energy_wh > usable_wh:
            raise ValidationFailed(
                f"sortie {sortie} needs {energy_wh:.0f} Wh, more than this drone's usable "
                f"{usable_wh:.0f} Wh (battery {battery_wh:.0f} Wh less its reserve): re-plan with its battery",
                code="battery_exceeded",
                details=[{"field": "sortie", "problem": "exceeds the drone's usable battery"}],
            )
        frame = LocalFrame.for_lonlat(plan.home_lon_deg, plan.home_lat_deg)
        lon, lat = drone["home_lon_deg"], drone["home_lat_deg"]
        try:
            state = self.manager.state(str(drone["id"]))
            if state.lon_deg is not None and state.lat_deg is not None:
                lon, lat = state.lon_deg, state.lat_deg
        except LinkError:
            pass
        offset_m = math.dist(frame.xy(plan.home_lon_deg, plan.home_lat_deg), frame.xy(lon, lat))
        if offset_m > MAX_START_OFFSET_M:
            raise ValidationFailed(
                f"the plan starts {offset_m:.0f} m from the drone (limit {MAX_START_OFFSET_M:.0f} m): "
                "plan it from this drone's position",
                code="wrong_start",
                details=[{"field": "mission_id", "problem": "planned for another take-off point"}],
            )

    async def upload(
        self, drone_id: int, mission_id: int, sortie: int, principal: Principal
    ) -> dict[str, Any]:
        drone = await self._drone(drone_id, principal)
        _can_fly(principal, drone["kind"])
        await self._not_in_a_run(drone_id)
        async with self.pool.acquire() as conn:
            _, plan = await planning.load(conn, mission_id, principal)
        return await self.upload_checked(drone, mission_id, plan, sortie, created_by=principal.token_id or None)

    async def _not_in_a_run(self, drone_id: int) -> None:
        """A drone a mission run holds takes no manual upload or flight (act on the run instead)."""
        async with self.pool.acquire() as conn:
            run = await runs_repo.active_on_drone(conn, drone_id)
        if run is not None:
            raise Conflict(
                f"drone {drone_id} is held by run {run['id']} ({run['state']}): act on the run instead",
                code="drone_busy",
            )

    async def upload_checked(
        self,
        drone: asyncpg.Record,
        mission_id: int,
        plan: MissionPlan,
        sortie: int,
        *,
        created_by: int | None,
        items: tuple[MissionItem, ...] | None = None,
    ) -> dict[str, Any]:
        """The upload after the caller's permission checks (the run driver calls it for each sortie):
        the plan's checks against this drone, then mission (``items`` when the run moved the sortie
        to another altitude layer), fence and rally, logged in drone_uploads."""
        drone_id = drone["id"]
        self._check_plan_for_drone(plan, sortie, drone)
        vehicle = self.online_vehicle(drone_id)
        if vehicle.state().armed:
            raise Conflict(f"drone {drone_id} is armed: land before uploading a new mission")
        items = items if items is not None else plan.sorties[sortie].items
        async with self.pool.acquire() as conn:
            upload_id = await missions_repo.start_upload(
                conn,
                drone_id=drone_id,
                mission_id=mission_id,
                sortie=sortie,
                item_count=len(items),
                created_by=created_by,
            )
        reports = []
        try:
            reports.append(await vehicle.upload_mission(items, MissionType.MISSION))
            if plan.fence_items:
                reports.append(await vehicle.upload_mission(plan.fence_items, MissionType.FENCE))
            if plan.rally_items:
                reports.append(await vehicle.upload_mission(plan.rally_items, MissionType.RALLY))
        except LinkError as exc:
            async with self.pool.acquire() as conn:
                await missions_repo.finish_upload(
                    conn,
                    upload_id,
                    status="failed",
                    verified_by=None,
                    attempts=len(reports) + 1,
                    error=exc.message,
                )
            raise
        async with self.pool.acquire() as conn:
            await missions_repo.finish_upload(
                conn,
                upload_id,
                status="verified",
                verified_by=reports[0].verified_by,
                attempts=reports[0].attempts,
                error=None,
            )
        self._uploaded_items[drone_id] = (upload_id, tuple(items))
        return {
            "upload_id": upload_id,
            "status": "verified",
            "transfers": [
                {
                    "mission_type": MissionType(r.mission_type).name.lower(),
                    "items": r.items,
                    "attempts": r.attempts,
                    "duration_s": r.duration_s,
                    "verified_by": r.verified_by,
                }
                for r in reports
            ],
        }

    # --- commands -------------------------------------------------------------------------

    async def command(self, drone_id: int, action: Action, alt_m: float | None, principal: Principal) -> None:
        drone = await self._drone(drone_id, principal)
        _can_fly(principal, drone["kind"])
        vehicle = self.online_vehicle(drone_id)
        if action == "arm":
            await vehicle.arm()
        elif action == "disarm":
            await vehicle.disarm()
        elif action == "takeoff":
            if alt_m is None:
                raise ValidationFailed(
                    "alt_m: required for takeoff", details=[{"field": "alt_m", "problem": "required"}]
                )
            await vehicle.takeoff(alt_m)
        elif action == "start":
            await vehicle.set_mode("AUTO")
            await vehicle.mission_start()
        elif action == "pause":
            await vehicle.pause()
        elif action == "resume":
            await vehicle.resume()
        elif action == "return":
            await vehicle.return_home()
        else:
            await vehicle.land()

    # --- whole flights --------------------------------------------------------------------

    async def fly(self, drone_id: int, principal: Principal) -> dict[str, Any]:
        """Fly the mission stored on the drone (upload first): take off, AUTO, complete, RTL, land."""
        drone = await self._drone(drone_id, principal)
        _can_fly(principal, drone["kind"])
        current = self._flights.get(drone_id)
        if current and current.task and not current.task.done():
            raise Conflict(f"drone {drone_id} is already flying ({current.phase})")
        await self._not_in_a_run(drone_id)
        async with self.pool.acquire() as conn:
            upload = await missions_repo.latest_upload(conn, drone_id)
        if upload is None or upload["status"] != "verified" or upload["mission_id"] is None:
            raise Conflict(f"drone {drone_id} has no verified mission: upload one first")
        async with self.pool.acquire() as conn:
            _, plan = await planning.load(conn, upload["mission_id"], principal)
        items = plan.sorties[upload["sortie"]].items
        recorded = self._uploaded_items.get(drone_id)
        if recorded is not None and recorded[0] == upload["id"]:
            items = recorded[1]  # exactly what was verified on the drone, which may differ from the plan
        takeoff_alt_m = next((i.z for i in items if i.command == MavCmd.NAV_TAKEOFF), None)
        if takeoff_alt_m is None:
            raise ValidationFailed("the uploaded mission has no NAV_TAKEOFF", code="no_takeoff")
        run = FlightRun(drone_id=drone_id, mission_id=upload["mission_id"], sortie=upload["sortie"])
        flight = ArduCopterFlight(
            self.online_vehicle(drone_id),
            timeouts=self.timeouts,
            on_phase=self._phase_setter(run),
            mission=items,
        )
        run.task = asyncio.create_task(self._fly(run, flight, takeoff_alt_m), name=f"flight-drone-{drone_id}")
        self._flights[drone_id] = run
        return run.as_json()

    @staticmethod
    def _phase_setter(run: FlightRun) -> Any:
        def set_phase(name: str) -> None:
            run.phase = name

        return set_phase

    async def _fly(self, run: FlightRun, flight: ArduCopterFlight, takeoff_alt_m: float) -> None:
        try:
            run.report = await flight.fly(takeoff_alt_m)
            run.phase = "done"
        except LinkError as exc:
            run.error = exc.message
            run.error_code = exc.code
            run.report = flight.report()
            run.phase = "failed"
            log.warning("drone %s: flight failed: %s", run.drone_id, exc.message)
        except asyncio.CancelledError:
            run.phase = "cancelled"
            raise

    async def close(self) -> None:
        self._remove_listener()
        tasks = [r.task for r in self._flights.values() if r.task and not r.task.done()]
        if self._keeper is not None:
            tasks.append(self._keeper)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.manager.close()
