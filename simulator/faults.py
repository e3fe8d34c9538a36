"""Scriptable faults for one simulated vehicle.

Link faults (link loss windows, packet loss) run on wall time, because the ground station that
notices them runs on wall time whatever the simulation speed-up. Vehicle faults (GPS loss, drift)
run on simulated time, like the flight they disturb. Random drops use RNGs seeded from the vehicle
seed, so a scenario loses the same packets every run given the same traffic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    start_s: float
    end_s: float

    def contains(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


class Faults:
    """Fault switches read by the vehicle's link and autopilot.

    ``packet_loss_in_pct`` / ``packet_loss_out_pct`` are plain attributes (0..100) that tests may
    set at any time; the other faults are methods so they can be scheduled.
    """

    def __init__(self, seed: int, wall_clock: Callable[[], float], sim_clock: Callable[[], float]) -> None:
        self._wall_clock = wall_clock
        self._sim_clock = sim_clock
        self._rng_in = random.Random(f"{seed}-in")
        self._rng_out = random.Random(f"{seed}-out")
        self.packet_loss_in_pct = 0.0
        self.packet_loss_out_pct = 0.0
        self._link_windows: list[Window] = []
        self._gps_windows: list[Window] = []
        self._drifts: list[tuple[Window, float, float]] = []
        self._pending_sag_pct = 0.0
        self._motor_failure_pending = False
        self.dropped_in = 0
        self.dropped_out = 0

    # -- link (wall time) -------------------------------------------------------------------
    def link_loss(self, start_s: float = 0.0, duration_s: float = math.inf) -> None:
        """Drop every packet in both directions from ``start_s`` wall seconds from now, for ``duration_s``."""
        begin = self._wall_clock() + start_s
        self._link_windows.append(Window(begin, begin + duration_s))

    def restore_link(self) -> None:
        """End every link loss window, current and scheduled."""
        self._link_windows.clear()

    @property
    def link_down(self) -> bool:
        if not self._link_windows:
            return False
        now = self._wall_clock()
        self._link_windows = [w for w in self._link_windows if w.end_s > now]
        return any(w.contains(now) for w in self._link_windows)

    def drop_inbound(self) -> bool:
        """Decide the fate of one received datagram."""
        drop = self.link_down or (
            self.packet_loss_in_pct > 0 and self._rng_in.random() * 100.0 < self.packet_loss_in_pct
        )
        if drop:
            self.dropped_in += 1
        return drop

    def drop_outbound(self) -> bool:
        """Decide the fate of one datagram about to be sent to one peer."""
        drop = self.link_down or (
            self.packet_loss_out_pct > 0 and self._rng_out.random() * 100.0 < self.packet_loss_out_pct
        )
        if drop:
            self.dropped_out += 1
        return drop

    # -- vehicle (simulated time) ----------------------------------------------------------------
    def gps_loss(self, duration_s: float, start_s: float = 0.0) -> None:
        """No GPS fix from ``start_s`` simulated seconds from now, for ``duration_s`` simulated seconds."""
        begin = self._sim_clock() + start_s
        self._gps_windows.append(Window(begin, begin + duration_s))

    def gps_lost(self) -> bool:
        if not self._gps_windows:
            return False
        now = self._sim_clock()
        self._gps_windows = [w for w in self._gps_windows if w.end_s > now]
        return any(w.contains(now) for w in self._gps_windows)

    def drift(self, speed_mps: float, toward_deg: float, duration_s: float, start_s: float = 0.0) -> None:
        """Push the vehicle at ``speed_mps`` toward ``toward_deg`` (0 north, 90 east) from ``start_s``
        simulated seconds from now, for ``duration_s``: a gust front or a faulty compass that the
        position controller does not notice, so the vehicle drifts off its track."""
        if speed_mps < 0 or duration_s < 0:
            raise ValueError("drift speed and duration must not be negative")
        begin = self._sim_clock() + start_s
        rad = math.radians(toward_deg)
        self._drifts.append(
            (Window(begin, begin + duration_s), speed_mps * math.cos(rad), speed_mps * math.sin(rad))
        )

    def drift_ne_mps(self) -> tuple[float, float]:
        """The uncorrected push (north, east) in m/s at this simulated instant."""
        if not self._drifts:
            return 0.0, 0.0
        now = self._sim_clock()
        self._drifts = [d for d in self._drifts if d[0].end_s > now]
        active = [(n, e) for window, n, e in self._drifts if window.contains(now)]
        return sum(n for n, _ in active), sum(e for _, e in active)

    def battery_sag(self, pct: float) -> None:
        """Remove ``pct`` percent of the pack's capacity at once (a damaged or cold cell)."""
        self._pending_sag_pct += pct

    def motor_failure(self) -> None:
        """Lose a motor: the vehicle is forced into LAND and cannot leave it or re-arm."""
        self._motor_failure_pending = True

    def take_battery_sag_pct(self) -> float:
        pct, self._pending_sag_pct = self._pending_sag_pct, 0.0
        return pct

    def take_motor_failure(self) -> bool:
        pending, self._motor_failure_pending = self._motor_failure_pending, False
        return pending
