"""Boot sessions of one vehicle, told apart by its time since boot.

A flight, a mission's progress and a telemetry sample only mean something within one boot of the
autopilot: after a reboot the vehicle is disarmed on the ground (or fell), its streams are off and
its mission may be gone. The link cannot see a reboot directly, so ``BootClock`` infers it from the
``time_boot_ms`` that ArduPilot stamps on GLOBAL_POSITION_INT, ATTITUDE, SYSTEM_TIME and others:

- the time since boot going back (by more than the spread between streams) is a new boot;
- after a silence (nothing heard, or no time-stamped sample while HEARTBEATs went on: a vehicle
  that rebooted quickly streams nothing until asked), a time since boot that advanced much less
  than the silence lasted (at the vehicle's own clock rate, which is the speed-up for a simulator)
  is a new boot that has already run past the old uptime, provided that uptime fits in the
  silence: a clock older than the silence is the same boot whose first packets after it were held
  back on the way (a network queue flushing stale packets when a cut link comes back);
- after a silence the session is *unconfirmed* until the next sample says which of the two it is.

``(drone, boot_id, time_boot_ms)`` is therefore a key that identifies one sample of one vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BACKSTEP_TOLERANCE_MS: Final = 1000
"""Streams are stamped when sampled, not when sent: a step back smaller than this is reordering."""
RATE_WINDOW_S: Final = 2.0
"""Wall time a session must be heard for before its clock rate is measured (1.0 is assumed before)."""
GAP_TOLERANCE_S: Final = 1.0
GAP_TOLERANCE_FRACTION: Final = 0.1
"""After a silence, uptime may fall short of the prediction by 1 s plus 10 % of the silence."""
_UINT32_SPAN_MS: Final = 1 << 32
_WRAP_GUARD_MS: Final = 10 * 60 * 1000
"""time_boot_ms is a uint32 and wraps after 49.7 days: a step from its top to its bottom is a wrap."""


@dataclass(frozen=True, slots=True)
class BootChange:
    """A new boot session was detected; ``reason`` says from what, for logs and flight errors."""

    boot_id: int
    reason: str


class BootClock:
    """The vehicle's time since boot and the boot session it belongs to (``boot_id``, from 1)."""

    def __init__(self, *, gap_s: float = 3.0) -> None:
        self.gap_s = gap_s
        """Samples further apart than this are a silence (the link's online timeout)."""
        self.boot_id = 0
        self.time_boot_ms: int | None = None
        self.awaiting_sample = False
        """True after a silence until the next sample says whether the vehicle rebooted meanwhile."""
        self.last_change: BootChange | None = None
        self.last_sample_s: float | None = None
        """Monotonic time the last time-since-boot sample was received."""
        self._session_start: tuple[float, int] | None = None

    @property
    def confirmed(self) -> bool:
        """A sample has placed the vehicle in ``boot_id`` and no silence has happened since."""
        return self.time_boot_ms is not None and not self.awaiting_sample

    def silence_ended(self) -> None:
        """The vehicle is heard again after being offline: its session needs a new sample."""
        self.awaiting_sample = True

    def rate(self, now_s: float) -> float:
        """Vehicle seconds per wall second in this session (the speed-up of a simulator)."""
        start = self._session_start
        if start is None or self.time_boot_ms is None or self.last_sample_s is None:
            return 1.0
        window_s = self.last_sample_s - start[0]
        if window_s < RATE_WINDOW_S:
            return 1.0
        return max(0.0, (self.time_boot_ms - start[1]) / 1000.0 / window_s)

    def observe(self, time_boot_ms: int, now_s: float) -> BootChange | None:
        """Fold in one sample received at monotonic ``now_s``; a BootChange when a new boot began."""
        change: BootChange | None = None
        last = self.time_boot_ms
        if last is None:
            self.boot_id += 1
        else:
            reason = self._reboot_reason(last, time_boot_ms, now_s)
            if reason is not None:
                self.boot_id += 1
                change = self.last_change = BootChange(self.boot_id, reason)
        if change is not None or self._session_start is None:
            self._session_start = (now_s, time_boot_ms)
        self.time_boot_ms = time_boot_ms
        self.last_sample_s = now_s
        self.awaiting_sample = False
        return change

    def _reboot_reason(self, last_ms: int, new_ms: int, now_s: float) -> str | None:
        if new_ms + BACKSTEP_TOLERANCE_MS < last_ms:
            if last_ms > _UINT32_SPAN_MS - _WRAP_GUARD_MS and new_ms < _WRAP_GUARD_MS:
                return None
            return f"time since boot went back from {last_ms / 1000:.1f} s to {new_ms / 1000:.1f} s"
        if self.last_sample_s is None:
            return None
        silence_s = now_s - self.last_sample_s
        if not self.awaiting_sample and silence_s <= self.gap_s:
            return None
        rate = self.rate(now_s)
        expected_ms = silence_s * rate * 1000.0
        tolerance_ms = rate * 1000.0 * (GAP_TOLERANCE_S + GAP_TOLERANCE_FRACTION * silence_s)
        advanced_ms = new_ms - last_ms
        if advanced_ms < 0:
            # Within the reordering tolerance, but after a silence: a new boot whose clock is just behind.
            return (
                f"time since boot went back from {last_ms / 1000:.1f} s to {new_ms / 1000:.1f} s "
                f"over a {silence_s:.1f} s silence"
            )
        if advanced_ms < expected_ms - tolerance_ms and new_ms <= expected_ms + tolerance_ms:
            # Only a boot that fits in the silence: a clock older than the silence is the same boot,
            # its first packets after it held back on the way (a link's queue flushed after an outage).
            return (
                f"time since boot advanced {advanced_ms / 1000:.1f} s over a {silence_s:.1f} s silence "
                f"(expected about {expected_ms / 1000:.1f} s)"
            )
        return None
