"""What every wait of a flight also watches: the link, the vehicle's boot and its mission.

A flight waits a long time on conditions that only telemetry can satisfy (ready, climbed, mission
complete, landed). Waiting on the condition alone hangs silently when the vehicle goes quiet and,
worse, can be satisfied by a vehicle that rebooted (disarmed on the ground looks like "landed").
``FlightWatch.wait`` therefore also ends, or pauses, the wait when:

- the vehicle, or its time-stamped telemetry, is silent for ``LinkTiming.online_timeout_s`` (3 s by
  default): the flight's phase becomes ``link_lost`` at once and the streams are asked for again; it returns to the previous phase when the vehicle is heard again
  *in the same boot*, and fails with LinkLost ``link_lost_s`` after the vehicle was last heard;
- the vehicle rebooted (a new ``boot_id``): VehicleRebooted at once, with the evidence;
- the vehicle reports a mission item count other than the uploaded mission's: MissionMismatch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from app.link.errors import LinkError, LinkLost, LinkTimeout, MissionMismatch, VehicleRebooted
from app.link.manager import VehicleLink
from app.link.vehicle import VehicleTracker

log = logging.getLogger(__name__)

LINK_CHECK_S: Final = 0.25
"""How often a wait looks at the link when no message arrives (silence sends no message)."""
LINK_LOST_PHASE: Final = "link_lost"
REBOOT_REASON: Final = "vehicle rebooted during the flight"


class FlightWatch:
    """Guards one flight's waits; ``phase`` and ``set_phase`` are the flight's own phase record."""

    def __init__(
        self,
        vehicle: VehicleLink,
        *,
        link_lost_s: float,
        expected_total: int | None,
        phase: Callable[[], str],
        set_phase: Callable[[str], None],
    ) -> None:
        self.vehicle = vehicle
        self.link_lost_s = link_lost_s
        self.expected_total = expected_total
        """MISSION_CURRENT.total of the uploaded mission (items less home), when the caller knows it."""
        self._phase = phase
        self._set_phase = set_phase
        self.boot_id: int | None = None
        """The boot session the flight started in, taken from the first time-since-boot heard."""
        self.reports_at_start = vehicle.tracker.mission_reports
        """MISSION_CURRENTs received before the flight: their item count may predate the upload."""

    @property
    def tracker(self) -> VehicleTracker:
        return self.vehicle.tracker

    def check(self) -> None:
        """Raise if the vehicle rebooted or holds another mission; otherwise note the boot."""
        tracker = self.tracker
        if tracker.boot_id > 0 and self.boot_id is None:
            self.boot_id = tracker.boot_id
        if self.rebooted(tracker):
            change = tracker.boot.last_change
            evidence = f": {change.reason}" if change is not None else ""
            raise VehicleRebooted(REBOOT_REASON + evidence, drone_id=self.vehicle.drone_id)
        if self.mission_mismatch(tracker):
            raise MissionMismatch(
                f"the vehicle reports {tracker.mission_total} mission items, the uploaded mission has "
                f"{self.expected_total}: its mission was replaced or lost",
                drone_id=self.vehicle.drone_id,
            )

    @staticmethod
    def linked(t: VehicleTracker) -> bool:
        """Heard lately, (after any silence) known to be in the same boot, and its time-stamped
        telemetry still flowing: a vehicle that rebooted within the online timeout sends only
        HEARTBEAT (its streams are off), which must not pass for a working link."""
        last_sample_s = t.boot.last_sample_s
        samples_flow = last_sample_s is None or time.monotonic() - last_sample_s <= t.online_timeout_s
        return t.online and not t.boot.awaiting_sample and samples_flow

    @classmethod
    def link_down(cls, t: VehicleTracker) -> bool:
        """Heard once, and not ``linked`` now (a vehicle never heard is a wait's timeout instead)."""
        return t.last_heard_monotonic_s is not None and not cls.linked(t)

    @staticmethod
    def sampled_since_heartbeat(t: VehicleTracker) -> bool:
        """A time-stamped sample arrived after the last HEARTBEAT (or the vehicle sends none).

        A HEARTBEAT carries no time since boot: "disarmed" or "not in AUTO" from a vehicle that
        has just rebooted looks like a landing or an interrupted mission. A condition is believed
        only once a later sample has placed the vehicle in this boot (streams run at 5 Hz).
        """
        sample_s, heartbeat_s = t.boot.last_sample_s, t.last_heartbeat_monotonic_s
        return sample_s is None or heartbeat_s is None or sample_s >= heartbeat_s

    def rebooted(self, t: VehicleTracker) -> bool:
        return self.boot_id is not None and t.boot_id != self.boot_id

    def mission_mismatch(self, t: VehicleTracker) -> bool:
        """A MISSION_CURRENT received during the flight reports another item count than expected.

        Not judged while the vehicle, heard again after a silence, has not yet been placed in a boot
        by a time-stamped sample: a restarted vehicle's first MISSION_CURRENT (no mission on board)
        can arrive before its first sample, and the flight then ends as what it is, a reboot.
        """
        fresh = t.mission_reports > self.reports_at_start
        total = t.mission_total
        return (
            fresh
            and not t.boot.awaiting_sample
            and self.expected_total is not None
            and total is not None
            and total != self.expected_total
        )

    def _disturbed(self, t: VehicleTracker) -> bool:
        return self.rebooted(t) or self.mission_mismatch(t) or self.link_down(t)

    async def wait(self, condition: Callable[[VehicleTracker], bool], *, timeout_s: float, what: str) -> None:
        """Return once ``condition`` holds in this boot; LinkTimeout naming ``what`` after ``timeout_s``.

        The deadline keeps running while the link is lost: the vehicle flies on meanwhile.
        """
        tracker = self.tracker
        deadline_s = time.monotonic() + timeout_s
        while True:
            self.check()
            if self.link_down(tracker):
                await self._ride_out_link_loss()
                continue
            if condition(tracker) and self.sampled_since_heartbeat(tracker):
                return
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                raise LinkTimeout(f"{what} not seen within {timeout_s:.1f} s", drone_id=self.vehicle.drone_id)
            try:
                await tracker.wait_until(
                    lambda t: (condition(t) and self.sampled_since_heartbeat(t)) or self._disturbed(t),
                    timeout_s=min(remaining_s, LINK_CHECK_S),
                    what=what,
                )
            except LinkTimeout:
                continue

    async def settled(self) -> None:
        """Return once the vehicle is linked in this boot (riding out a loss as ``wait`` does):
        called before a command, so that none goes to a vehicle that rebooted meanwhile."""
        await self.wait(
            lambda t: True, timeout_s=self.link_lost_s + self.tracker.online_timeout_s, what="link"
        )

    async def _ride_out_link_loss(self) -> None:
        """Phase ``link_lost`` until the vehicle is back in this boot (previous phase again) or
        ``link_lost_s`` after it was last heard (LinkLost). Streams are asked for again when it is
        heard, since a rebooted ArduCopter sends only HEARTBEAT until asked."""
        tracker = self.tracker
        previous = self._phase()
        heard_s = tracker.last_heard_monotonic_s or time.monotonic()
        self._set_phase(LINK_LOST_PHASE)
        log.warning(
            "drone %s: link lost during %s (silent %.1f s); failing after %.0f s",
            self.vehicle.drone_id,
            previous,
            time.monotonic() - heard_s,
            self.link_lost_s,
        )
        asked_streams = False
        while True:
            self.check()
            if self.linked(tracker):
                log.info("drone %s: link back in the same boot; resuming %s", self.vehicle.drone_id, previous)
                self._set_phase(previous)
                return
            last_heard_s = tracker.last_heard_monotonic_s or heard_s
            if tracker.online and not asked_streams:
                asked_streams = True
                await self._ask_streams()
                continue
            remaining_s = last_heard_s + self.link_lost_s - time.monotonic()
            if not tracker.online and remaining_s <= 0:
                raise LinkLost(
                    f"link lost during {previous}: nothing heard from the vehicle for "
                    f"{self.link_lost_s:.0f} s (the limit); it flies on under its own failsafes",
                    drone_id=self.vehicle.drone_id,
                )
            if tracker.online and time.monotonic() - heard_s > self.link_lost_s:
                raise LinkLost(
                    f"link lost during {previous}: heard again, but no time since boot within "
                    f"{self.link_lost_s:.0f} s to tell whether it rebooted",
                    drone_id=self.vehicle.drone_id,
                )
            try:
                await tracker.wait_until(
                    lambda t: self.linked(t) or self.rebooted(t),
                    timeout_s=LINK_CHECK_S,
                    what="link back",
                )
            except LinkTimeout:
                continue

    async def _ask_streams(self) -> None:
        try:
            await self.vehicle.request_streams()
        except LinkError as exc:
            log.info("drone %s: stream request after link loss not answered: %s", self.vehicle.drone_id, exc)
