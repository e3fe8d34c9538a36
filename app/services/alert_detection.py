"""Runs the telemetry detectors for every linked drone and turns their verdicts into alerts.

The runner listens to every decoded message (``LinkManager.add_listener``), keeps one set of
detectors per registered drone, ticks them for timeouts, and reloads what they read from the
database (zones, ceiling, grids, drones, latest verified uploads) every ``refresh_s``. It is here,
in app/services, because it combines the links, the storage and the planning core.

Verdicts are compared with the conditions already open (seeded from the database at start, so a
restart neither duplicates nor forgets alerts): a new condition is opened, a higher severity
updates, and a condition absent for ``clear_hold_s`` is cleared, which keeps a drone hovering on
a zone boundary from opening and closing alerts with every GPS wobble. The message listener
never awaits: alert writes go through a queue to one writer task, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from shapely.geometry import shape

from app.config import Settings
from app.db.errors import DATABASE_FAILED, DATABASE_LOST
from app.db.repos.alerts import NewAlert
from app.link.codec import MavMessage
from app.link.errors import UnknownDrone
from app.link.manager import LinkManager, VehicleLink
from app.services import district as district_service
from app.services.alerts import AlertService, Condition
from app.telemetry.detectors.base import SEVERITY_RANK, Detector, Finding, Severity, Verdict
from app.telemetry.detectors.battery import BatteryLowDetector, ReturnHomeDetector
from app.telemetry.detectors.context import (
    DetectorSettings,
    District,
    DroneInfo,
    DroneView,
    FlightRoute,
    route_line,
)
from app.telemetry.detectors.geofence import GeofenceDetector, NoPhotoZoneDetector, QuietZoneBroadcastDetector
from app.telemetry.detectors.gps import EkfDetector, GpsDetector
from app.telemetry.detectors.link import LinkDetector
from app.telemetry.detectors.mission import MissionStallDetector
from app.telemetry.detectors.mode import UnexpectedModeDetector
from app.telemetry.detectors.route import RouteDeviationDetector
from app.telemetry.detectors.statustext import AutopilotMessageDetector
from app.telemetry.grids import GridIndex
from geofences.checks import PreparedFences
from geofences.frame import LocalFrame
from geofences.model import FenceSet
from missions.serialize import plan_from_dict

log = logging.getLogger(__name__)

DETECTOR_FAMILIES: tuple[Callable[[], Detector], ...] = (
    GeofenceDetector,
    QuietZoneBroadcastDetector,
    NoPhotoZoneDetector,
    BatteryLowDetector,
    ReturnHomeDetector,
    LinkDetector,
    GpsDetector,
    EkfDetector,
    RouteDeviationDetector,
    UnexpectedModeDetector,
    AutopilotMessageDetector,
    MissionStallDetector,
)
"""One instance of each per drone; docs/alerts.md describes them."""

_QUEUE_MAX = 10_000
_WRITE_ATTEMPTS = 3
_WRITE_RETRY_S = 0.5

_DISTRICT_SIGNATURE = """
SELECT (SELECT md5(coalesce(string_agg(code || updated_at::text, ',' ORDER BY code), '')) FROM zones),
       (SELECT md5(coalesce(string_agg(code || updated_at::text, ',' ORDER BY code), '')) FROM grids),
       (SELECT ceiling_m || updated_at::text FROM district_settings)
"""
_DRONES = "SELECT id, community_code, capabilities FROM drones"
_LATEST_VERIFIED = """
SELECT DISTINCT ON (drone_id) id, drone_id, mission_id, sortie FROM drone_uploads
WHERE status = 'verified' ORDER BY drone_id, id DESC
"""


@dataclass(slots=True)
class _DroneRun:
    view: DroneView
    detectors: list[Detector]
    vehicle: VehicleLink
    by_message: dict[str, tuple[Detector, ...]] = field(default_factory=dict)
    """The detectors that read each message name (``Detector.messages``), built as names arrive."""

    def for_message(self, name: str) -> tuple[Detector, ...]:
        found = self.by_message.get(name)
        if found is None:
            found = tuple(d for d in self.detectors if d.messages is None or name in d.messages)
            self.by_message[name] = found
        return found


@dataclass(slots=True)
class _Open:
    """One open condition as the runner knows it: its severity (None when seeded from the database)
    and, while a verdict says it no longer holds, since when and the values then."""

    severity: Severity | None
    absent_since_s: float | None = None
    absent_now: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Write:
    open: NewAlert | None = None
    clear: Condition | None = None
    at: datetime | None = None
    evidence: dict[str, Any] | None = None


class DetectorRunner:
    """Detectors for every drone of one LinkManager; ``start()`` and ``close()`` from the lifespan."""

    def __init__(
        self,
        manager: LinkManager,
        alerts: AlertService,
        pool: asyncpg.Pool,
        *,
        settings: DetectorSettings | None = None,
        tick_s: float = 0.5,
        refresh_s: float = 5.0,
        clear_hold_s: float = 1.0,
    ) -> None:
        self.manager = manager
        self.alerts = alerts
        self.pool = pool
        self.settings = settings or DetectorSettings()
        self.tick_s = tick_s
        self.refresh_s = refresh_s
        self.clear_hold_s = clear_hold_s
        self._district = District()
        self._district_signature: tuple[str, ...] | None = None
        self._drones: dict[int, DroneInfo] = {}
        self._routes: dict[int, FlightRoute] = {}
        self._runs: dict[str, _DroneRun] = {}
        self._open: dict[int, dict[tuple[str, str], _Open]] = {}
        self._queue: asyncio.Queue[_Write] = asyncio.Queue(_QUEUE_MAX)
        self._tasks: list[asyncio.Task[None]] = []
        self._remove_listener: Callable[[], None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        for drone_id, alert_type, key in await self.alerts.open_conditions():
            self._open.setdefault(drone_id, {})[(alert_type, key)] = _Open(severity=None)
        await self.refresh()
        self._remove_listener = self.manager.add_listener(self._on_message)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="alerts-writer"),
            asyncio.create_task(self._tick_loop(), name="alerts-tick"),
            asyncio.create_task(self._refresh_loop(), name="alerts-refresh"),
        ]

    async def close(self, *, drain_timeout_s: float = 5.0) -> None:
        """Stop listening, write what is queued (up to ``drain_timeout_s``), stop the tasks."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for task in self._tasks[1:]:  # the tick and refresh loops; the writer drains first
            task.cancel()
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_timeout_s)
            self._tasks[0].cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def flush(self) -> None:
        """Wait until every alert change decided so far is written (tests, shutdown)."""
        await self._queue.join()

    # --- context --------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload the district (only when zones, grids or the ceiling changed), drones and uploads."""
        async with self.pool.acquire() as conn:
            signature = tuple(str(v) for v in await conn.fetchrow(_DISTRICT_SIGNATURE) or ())
            if signature != self._district_signature:
                fences = await district_service.load_fences(conn)
                rows = await conn.fetch("SELECT code, community_code, boundary FROM grids")
                grids = [dict(r) for r in rows]
                self._district = await asyncio.to_thread(build_district, fences, grids)
                self._district_signature = signature
            drones = await conn.fetch(_DRONES)
            uploads = await conn.fetch(_LATEST_VERIFIED)
            routes: dict[int, FlightRoute] = {}
            for up in uploads:
                known = self._routes.get(up["drone_id"])
                if known is not None and known.upload_id == up["id"]:
                    routes[up["drone_id"]] = known
                    continue
                routes[up["drone_id"]] = await self._load_route(conn, up)
        self._routes = routes
        self._drones = {
            r["id"]: DroneInfo(
                drone_id=r["id"],
                community_code=r["community_code"],
                battery_wh=_battery_wh(r["capabilities"]),
                flight=routes.get(r["id"]),
            )
            for r in drones
        }
        for drone_id in [d for d in self._open if d not in self._drones]:
            del self._open[drone_id]  # deleted drones: their alerts went with them
        for key in list(self._runs):
            info = self._drones.get(int(key))
            if info is None:
                del self._runs[key]
            else:
                self._runs[key].view.info = info
                self._runs[key].view.district = self._district

    async def _load_route(self, conn: Any, upload: asyncpg.Record) -> FlightRoute:
        frame = LocalFrame.for_lonlat(0.0, 0.0)
        line = None
        if upload["mission_id"] is not None:
            row = await conn.fetchrow("SELECT plan FROM missions WHERE id = $1", upload["mission_id"])
            try:
                plan = None if row is None else await asyncio.to_thread(plan_from_dict, row["plan"])
            except (KeyError, TypeError, ValueError) as exc:
                log.warning(
                    "mission %s: stored plan unreadable, no route check: %s", upload["mission_id"], exc
                )
                plan = None
            if plan is not None and 0 <= upload["sortie"] < len(plan.sorties):
                frame = LocalFrame.for_lonlat(plan.home_lon_deg, plan.home_lat_deg)
                line = route_line(
                    plan.sorties[upload["sortie"]].items, frame, plan.home_lon_deg, plan.home_lat_deg
                )
        return FlightRoute(
            upload_id=upload["id"],
            mission_id=upload["mission_id"],
            sortie=upload["sortie"],
            frame=frame,
            line=line,
        )

    # --- evaluation -----------------------------------------------------------------------

    def _run_for(self, drone_key: str) -> _DroneRun | None:
        run = self._runs.get(drone_key)
        if run is not None:
            return run
        try:
            info = self._drones.get(int(drone_key))
            vehicle = self.manager.vehicle(drone_key)
        except (ValueError, UnknownDrone):
            return None
        if info is None:
            return None
        view = DroneView(info=info, district=self._district, tracker=vehicle.tracker, settings=self.settings)
        run = _DroneRun(view, [make() for make in DETECTOR_FAMILIES], vehicle)
        self._runs[drone_key] = run
        return run

    def _still_linked(self, drone_key: str, run: _DroneRun) -> bool:
        try:
            return self.manager.vehicle(drone_key).tracker is run.view.tracker
        except UnknownDrone:
            return False

    def _on_message(self, drone_key: str, msg: MavMessage) -> None:
        run = self._run_for(drone_key)
        if run is None:
            return
        view = run.view
        if "time_boot_ms" in msg.fields:
            view.vehicle_s = msg.get_int("time_boot_ms") / 1000.0
        # The run's own vehicle: a relinked drone gets a new run at the next tick (_still_linked).
        view.commanded = run.vehicle.commands.commanded_mode
        for detector in run.for_message(msg.name):
            try:
                verdict = detector.on_message(view, msg)
            except Exception:  # one detector's bug must not silence the others
                log.exception("drone %s: %s failed on %s", drone_key, type(detector).__name__, msg.name)
                continue
            if verdict is not None:
                self._apply(view, verdict)

    def tick(self) -> None:
        """Give every detector its tick and finish clears whose hold has passed."""
        now_s = time.monotonic()
        for key in list(self._runs):
            run = self._runs[key]
            if not self._still_linked(key, run):
                # Unlinked (or relinked with a new tracker): a stale tracker must not read as a lost link.
                del self._runs[key]
                continue
            for detector in run.detectors:
                verdict = detector.on_tick(run.view, now_s)
                if verdict is not None:
                    self._apply(run.view, verdict)
        for drone_id, conditions in self._open.items():
            for cond_key, cond in list(conditions.items()):
                if cond.absent_since_s is not None and now_s - cond.absent_since_s >= self.clear_hold_s:
                    self._clear(drone_id, cond_key, cond)

    def _apply(self, view: DroneView, verdict: Verdict) -> None:
        drone_id = view.info.drone_id
        conditions = self._open.setdefault(drone_id, {})
        present: set[tuple[str, str]] = set()
        for finding in verdict.findings:
            cond_key = (finding.type.value, finding.key)
            present.add(cond_key)
            cond = conditions.get(cond_key)
            if cond is None:
                conditions[cond_key] = _Open(finding.severity)
                self._enqueue(_Write(open=self._new_alert(view, finding)))
                continue
            cond.absent_since_s = None
            if cond.severity is None or SEVERITY_RANK[finding.severity] > SEVERITY_RANK[cond.severity]:
                cond.severity = finding.severity
                self._enqueue(_Write(open=self._new_alert(view, finding)))
        if not conditions:
            return
        types = {t.value for t in verdict.types}
        now_s = time.monotonic()
        for cond_key, cond in list(conditions.items()):
            if cond_key[0] not in types or cond_key in present:
                continue
            if cond.absent_since_s is None:
                cond.absent_since_s = now_s
                cond.absent_now = _json_safe(dict(verdict.now))
            if now_s - cond.absent_since_s >= self.clear_hold_s:
                self._clear(drone_id, cond_key, cond)

    def _clear(self, drone_id: int, cond_key: tuple[str, str], cond: _Open) -> None:
        del self._open[drone_id][cond_key]
        self._enqueue(_Write(clear=(drone_id, *cond_key), at=datetime.now(UTC), evidence=cond.absent_now))

    def _new_alert(self, view: DroneView, finding: Finding) -> NewAlert:
        info = view.info
        here = view.position
        evidence = _json_safe({**finding.evidence, "vehicle_time_s": view.vehicle_s})
        lon, lat = evidence.get("lon_deg"), evidence.get("lat_deg")
        if not isinstance(lon, float) or not isinstance(lat, float):
            lon, lat = (here[0], here[1]) if here is not None else (None, None)
        grid = view.district.grid_at(lon, lat) if lon is not None and lat is not None else None
        community = view.district.grid_communities.get(grid) if grid else info.community_code
        flight = info.flight
        return NewAlert(
            drone_id=info.drone_id,
            type=finding.type.value,
            condition_key=finding.key,
            severity=finding.severity.value,
            message=finding.message[:500],
            evidence=evidence,
            at=datetime.now(UTC),
            grid_code=grid,
            community_code=community,
            upload_id=flight.upload_id if flight else None,
            mission_id=flight.mission_id if flight else None,
            sortie=flight.sortie if flight else None,
            lat_deg=lat,
            lon_deg=lon,
            alt_rel_m=here[2] if here is not None else None,
        )

    def _enqueue(self, write: _Write) -> None:
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            log.error("alert queue full: dropping %s", write.open.type if write.open else write.clear)

    # --- background tasks -----------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                await self._write(write)
            except Exception:  # one bad change must not stop every later alert
                log.exception("alert change dropped: %s", write)
            finally:
                self._queue.task_done()

    async def _write(self, write: _Write) -> None:
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                if write.open is not None:
                    await self.alerts.open(write.open)
                elif write.clear is not None and write.at is not None:
                    await self.alerts.clear(write.clear, at=write.at, evidence=write.evidence or {})
                return
            except DATABASE_LOST as exc:
                log.warning(
                    "alert write failed (try %d of %d): %s: %s", attempt, _WRITE_ATTEMPTS, type(exc).__name__, exc
                )
                await asyncio.sleep(_WRITE_RETRY_S * attempt)
            except asyncpg.PostgresError as exc:
                # Not transient (the drone was deleted meanwhile, a constraint): retrying cannot help.
                log.warning("alert change dropped: %s: %s", exc, write)
                return
        log.error("alert change lost after %d tries: %s", _WRITE_ATTEMPTS, write)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick()
            except Exception:
                log.exception("alert detector tick failed")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except DATABASE_FAILED as exc:
                log.warning("alert context refresh failed: %s: %s", type(exc).__name__, exc)
            except Exception:  # a bad stored zone or plan must not stop later refreshes
                log.exception("alert context refresh failed")


def detector_settings(settings: Settings) -> DetectorSettings:
    """The detectors' thresholds from the service settings (``AEROGRID_ALERT_*``)."""
    return DetectorSettings(
        battery_low_pct=settings.alert_battery_low_pct,
        battery_critical_pct=settings.alert_battery_critical_pct,
        return_home_margin=settings.alert_return_home_margin,
        return_speed_mps=settings.alert_return_speed_mps,
        link_lost_s=settings.alert_link_lost_s,
        gps_min_satellites=settings.alert_gps_min_satellites,
        gps_max_hdop=settings.alert_gps_max_hdop,
        ekf_max_variance=settings.alert_ekf_max_variance,
        deviation_m=settings.alert_deviation_m,
        deviation_s=settings.alert_deviation_s,
        stall_s=settings.alert_stall_s,
        statustext_hold_s=settings.alert_statustext_hold_s,
        photo_hold_s=settings.alert_photo_hold_s,
        commanded_window_s=settings.alert_commanded_window_s,
        quiet_earshot_m=settings.alert_quiet_earshot_m,
    )


def build_district(fences: FenceSet, grids: Sequence[Mapping[str, Any]]) -> District:
    """Prepare the fences and the grid index (off the event loop: projection and indexing)."""
    shapes = [shape(g["boundary"]) for g in grids] + [
        z.polygon for z in fences.zones if z.polygon is not None
    ]
    if shapes:
        centre = shapes[0].envelope.centroid
        frame = LocalFrame.for_lonlat(centre.x, centre.y)
    elif fences.zones and fences.zones[0].circle is not None:
        frame = LocalFrame.for_lonlat(fences.zones[0].circle.lon_deg, fences.zones[0].circle.lat_deg)
    else:
        frame = LocalFrame.for_lonlat(0.0, 0.0)
    return District(
        fences=PreparedFences(fences, frame),
        grids=GridIndex([(g["code"], g["boundary"]) for g in grids]),
        grid_communities={g["code"]: g["community_code"] for g in grids},
        zone_names={z.zone_id: z.name for z in fences.zones},
    )


def _battery_wh(capabilities: Any) -> float | None:
    value = capabilities.get("battery_wh") if isinstance(capabilities, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """Evidence for jsonb: NaN and infinities (a clock not started yet) become null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()}
