"""The ArduCopter flight recipe: from a stored mission on the ground to landed and disarmed.

The sequence follows what a real ArduCopter accepts (ARDUCOPTER-BEHAVIOUR.md):

1. ask for the telemetry streams (ArduCopter sends almost nothing until asked);
2. check FS_GCS_ENABLE and warn when losing the ground station would not bring it home;
3. wait until ready: the pre-arm bit of SYS_STATUS and EKF_STATUS_REPORT's absolute position,
   not a single lucky arm (SITL accepts an arm ~20 s in and then refuses it until ~40 s);
4. GUIDED (arming in AUTO is refused), arm, and NAV_TAKEOFF to the mission altitude at once
   (the copter disarms itself ~10 s after arming on the ground);
5. AUTO once climbing; MISSION_START only if the mission does not start by itself;
6. follow MISSION_CURRENT, believing COMPLETE only after progress on this mission was seen
   (it can still show the previous mission's COMPLETE), never MISSION_ITEM_REACHED;
7. RTL and wait until landed and disarmed.

Every wait goes through ``FlightWatch`` (flight_watch.py): a silent link shows as the phase
``link_lost`` and fails the flight after ``FlightTimeouts.link_lost_s``; a reboot or a mission on
board with another item count fails it at once. ``FlightReport.completed`` is true only when the
vehicle, in the boot it took off in, reached the last item of the mission uploaded for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from app.link.autopilots.flight_watch import FlightWatch
from app.link.constants import MissionState
from app.link.errors import FlightAborted, LinkError, LinkTimeout, MissionMismatch, VehicleNotReady
from app.link.manager import VehicleLink
from app.link.mission_protocol import item_differences
from app.link.vehicle import VehicleTracker
from missions.items import MissionItem, MissionType

log = logging.getLogger(__name__)

MISSION_MODES: Final = frozenset({"AUTO", "AUTO_RTL"})
PAUSED_MODES: Final = frozenset({"BRAKE", "LOITER"})
_TAKEOFF_REACHED_FRACTION: Final = 0.9
_MISSION_START_GRACE_S: Final = 3.0
MISSION_REPORT_WAIT_S: Final = 5.0
"""Before arming, how long to wait for a MISSION_CURRENT to compare the vehicle's item count."""

PhaseCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class FlightReport:
    """How a flight went: ``completed`` is true when the vehicle reached the mission's last item in
    the boot session ``boot_id`` it took off in (a reboot or another mission never counts)."""

    drone_id: str
    completed: bool
    boot_id: int | None
    duration_s: float
    phases: tuple[tuple[str, float], ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FlightTimeouts:
    """Wall-clock limits per phase; a simulator at speed-up needs less, a long survey more."""

    ready_s: float = 120.0
    takeoff_s: float = 60.0
    mission_s: float = 3600.0
    landing_s: float = 600.0
    link_lost_s: float = 30.0
    """How long after the vehicle was last heard a flight in ``link_lost`` fails."""


@dataclass(slots=True)
class _Progress:
    """MISSION_CURRENT as seen since AUTO: COMPLETE counts only after this mission was seen active."""

    seen_active: bool = False


class ArduCopterFlight:
    """Flies the mission already stored on one ArduCopter (upload it first with VehicleLink).

    ``mission`` is the mission uploaded for this flight (home at seq 0): before arming the vehicle's
    copy is downloaded and compared with it, and its item count is watched throughout. Without it
    the item count the vehicle reports when the flight starts is taken as the mission's.
    """

    def __init__(
        self,
        vehicle: VehicleLink,
        *,
        timeouts: FlightTimeouts | None = None,
        on_phase: PhaseCallback | None = None,
        mission: Sequence[MissionItem] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.timeouts = timeouts or FlightTimeouts()
        self._on_phase = on_phase
        self._started_s = time.monotonic()
        self._phases: list[tuple[str, float]] = []
        self.warnings: list[str] = []
        self.completed = False
        self.mission = None if mission is None else list(mission)
        self.watch = FlightWatch(
            vehicle,
            link_lost_s=self.timeouts.link_lost_s,
            expected_total=None if mission is None else len(mission) - 1,
            phase=lambda: self._phases[-1][0] if self._phases else "starting",
            set_phase=self._phase,
        )

    def _phase(self, name: str) -> None:
        elapsed_s = round(time.monotonic() - self._started_s, 3)
        self._phases.append((name, elapsed_s))
        log.info("drone %s: flight phase %s at %.1f s", self.vehicle.drone_id, name, elapsed_s)
        if self._on_phase is not None:
            self._on_phase(name)

    def _warn(self, text: str) -> None:
        log.warning("drone %s: %s", self.vehicle.drone_id, text)
        self.warnings.append(text)

    def report(self) -> FlightReport:
        """The flight so far: what ``fly`` returns, and what a failed flight leaves behind."""
        return FlightReport(
            drone_id=self.vehicle.drone_id,
            completed=self.completed,
            boot_id=self.watch.boot_id,
            duration_s=round(time.monotonic() - self._started_s, 3),
            phases=tuple(self._phases),
            warnings=tuple(self.warnings),
        )

    # --- preflight ------------------------------------------------------------------------

    async def preflight(self) -> list[str]:
        """Streams, failsafe check and readiness; returns the warnings (also kept on ``warnings``)."""
        self._phase("streams")
        refused = {name: result for name, result in (await self.vehicle.request_streams()).items() if result}
        if refused:
            self._warn(f"streams refused by the vehicle: {sorted(refused)}")
        await self.check_gcs_failsafe()
        await self.wait_ready()
        await self.check_mission()
        return list(self.warnings)

    async def check_gcs_failsafe(self) -> None:
        """Warn when FS_GCS_ENABLE is 0: ArduCopter's default, under which a lost link does not RTL."""
        try:
            enabled = await self.vehicle.get_param("FS_GCS_ENABLE")
        except LinkTimeout:
            self._warn("could not read FS_GCS_ENABLE: GCS failsafe state unknown")
            return
        if enabled == 0:
            self._warn("FS_GCS_ENABLE is 0: losing the ground station will not trigger RTL")

    async def wait_ready(self) -> None:
        """Wait for pre-arm checks passing, an EKF absolute position and a time since boot (the
        boot session the flight is judged in); VehicleNotReady otherwise."""
        self._phase("wait_ready")
        tracker = self.vehicle.tracker
        try:
            await self.watch.wait(
                lambda t: t.ready_to_arm and t.boot.confirmed,
                timeout_s=self.timeouts.ready_s,
                what="ready to arm",
            )
        except LinkTimeout as exc:
            texts = [e.text for e in tracker.events if e.kind == "statustext"][-3:]
            raise VehicleNotReady(
                f"not ready after {self.timeouts.ready_s:.0f} s: prearm_ok={tracker.prearm_ok}, "
                f"ekf_ok={tracker.ekf_ok}, time since boot heard={tracker.boot.confirmed}"
                + (f"; vehicle said: {'; '.join(texts)}" if texts else ""),
                drone_id=self.vehicle.drone_id,
            ) from exc
        self.watch.check()

    async def check_mission(self) -> None:
        """Before arming, compare the vehicle's mission with the uploaded one: the item count its
        MISSION_CURRENT reports, then the items themselves (MissionMismatch). Without an uploaded
        mission, take the vehicle's count as the mission's."""
        start = self.watch.reports_at_start
        try:
            await self.watch.wait(
                lambda t: t.mission_reports > start and t.mission_total is not None,
                timeout_s=MISSION_REPORT_WAIT_S,
                what="MISSION_CURRENT",
            )
        except LinkTimeout:
            self._warn("no MISSION_CURRENT before take-off: the mission on board could not be checked")
            return
        if self.watch.expected_total is None:
            self.watch.expected_total = self.vehicle.tracker.mission_total
        self.watch.check()
        if self.mission is not None:
            await self._compare_stored_mission(self.mission)

    async def _compare_stored_mission(self, mission: list[MissionItem]) -> None:
        """Download the stored mission: another ground station may have replaced it since the upload
        with one of the same length (pymavlink's MISSION_CURRENT has no mission checksum to tell)."""
        try:
            stored = await self.vehicle.download_mission()
        except LinkError as exc:
            self._warn(f"could not download the mission to compare it before take-off: {exc.message}")
            return
        differences = item_differences(mission, stored, MissionType.MISSION)
        if differences:
            raise MissionMismatch(
                f"the mission on board differs from the uploaded one: {'; '.join(differences[:3])}",
                drone_id=self.vehicle.drone_id,
            )

    # --- flight ---------------------------------------------------------------------------

    async def fly(self, takeoff_alt_m: float, *, return_home: bool = True) -> FlightReport:
        """Preflight, take off, fly the stored mission, and (by default) RTL to landed and disarmed."""
        self._started_s = time.monotonic()
        await self.preflight()
        await self.take_off(takeoff_alt_m)
        self.completed = await self.run_mission()
        if return_home and self.vehicle.tracker.armed:
            await self.return_and_land()
        elif self.vehicle.tracker.armed:
            self._phase("holding")
        return self.report()

    async def take_off(self, alt_m: float) -> None:
        """GUIDED, arm, NAV_TAKEOFF at once, and wait for the climb to ~90 % of ``alt_m``."""
        tracker = self.vehicle.tracker
        if tracker.armed:
            raise FlightAborted(
                "vehicle is already armed; refusing to start a flight", drone_id=self.vehicle.drone_id
            )
        self._phase("guided")
        await self.vehicle.set_mode("GUIDED")
        self._phase("arm")
        await self.vehicle.arm()
        self._phase("takeoff")
        try:
            await self.vehicle.takeoff(alt_m)
        except Exception:
            await self._disarm_on_ground()
            raise
        await self._wait_or_abort(
            lambda t: (t.alt_rel_m or 0.0) >= _TAKEOFF_REACHED_FRACTION * alt_m,
            timeout_s=self.timeouts.takeoff_s,
            what=f"climb to {alt_m:.0f} m",
        )

    async def run_mission(self) -> bool:
        """AUTO and follow MISSION_CURRENT; True when the mission completed, False if interrupted.

        Pauses (BRAKE, LOITER from the operator) are waited out; any other mode change (an RTL
        or LAND failsafe, the operator sending it home) ends the mission early and is warned.
        Completed means, in this boot: COMPLETE after this mission was seen active, or disarmed
        (a mission ending in LAND) at its last item; never merely disarmed.
        """
        tracker = self.vehicle.tracker
        progress = _Progress()
        self._phase("auto")
        await self.vehicle.set_mode("AUTO")

        def watch(t: VehicleTracker) -> bool:
            if t.mode in MISSION_MODES and t.mission_state == MissionState.ACTIVE:
                progress.seen_active = True
            return progress.seen_active

        try:
            await self.watch.wait(watch, timeout_s=_MISSION_START_GRACE_S, what="mission start")
        except LinkTimeout:
            self._phase("mission_start")
            await self.watch.settled()
            await self.vehicle.mission_start()

        def completed(t: VehicleTracker) -> bool:
            last_seq = self.watch.expected_total
            if not progress.seen_active or t.mission_total is None or t.mission_total != last_seq:
                return False
            # A mission ending in LAND lands and disarms in AUTO at its last item and may never
            # report COMPLETE.
            return t.mission_state == MissionState.COMPLETE or (not t.armed and t.mission_seq == last_seq)

        def finished(t: VehicleTracker) -> bool:
            watch(t)
            left_mission = t.mode not in MISSION_MODES and t.mode not in PAUSED_MODES
            return completed(t) or left_mission or not t.armed

        await self.watch.wait(finished, timeout_s=self.timeouts.mission_s, what="mission complete")
        if completed(tracker):
            self._phase("mission_complete")
            return True
        self._warn(f"mission interrupted: vehicle in {tracker.mode}, armed={tracker.armed}")
        self._phase("mission_interrupted")
        return False

    async def return_and_land(self) -> None:
        """RTL (unless already landing) and wait until landed and disarmed."""
        tracker = self.vehicle.tracker
        if tracker.mode not in ("RTL", "LAND", "SMART_RTL"):
            self._phase("rtl")
            await self.watch.settled()
            await self.vehicle.return_home()
        self._phase("landing")
        await self.watch.wait(
            lambda t: not t.armed and t.on_ground is not False,
            timeout_s=self.timeouts.landing_s,
            what="landed and disarmed",
        )
        self._phase("landed")

    async def _wait_or_abort(
        self, condition: Callable[[VehicleTracker], bool], *, timeout_s: float, what: str
    ) -> None:
        """Wait for ``condition``, failing fast with FlightAborted if the vehicle disarms meanwhile."""
        tracker = self.vehicle.tracker
        await self.watch.wait(lambda t: condition(t) or not t.armed, timeout_s=timeout_s, what=what)
        if not tracker.armed:
            said = [e.text for e in tracker.events if e.kind == "statustext"][-2:]
            raise FlightAborted(
                f"vehicle disarmed during {what}" + (f"; vehicle said: {'; '.join(said)}" if said else ""),
                drone_id=self.vehicle.drone_id,
            )

    async def _disarm_on_ground(self) -> None:
        try:
            await self.vehicle.disarm()
        except LinkError as exc:
            log.warning("drone %s: disarm after failed takeoff not confirmed: %s", self.vehicle.drone_id, exc)
