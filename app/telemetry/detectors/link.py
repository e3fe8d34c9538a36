"""Link lost / restored: the vehicle's HEARTBEAT (any message, in fact) stopped arriving.

Measured on the ground station's monotonic clock, since it is the ground station that stops
hearing; the vehicle clock cannot advance for a silent vehicle. Decided on the runner's tick
(every ``AEROGRID_ALERT_TICK_S``), cleared by the first message after the gap.
"""

from __future__ import annotations

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, Finding, Severity, Verdict, rounded
from app.telemetry.detectors.context import DroneView


class LinkDetector(Detector):
    types = frozenset({AlertType.LINK_LOST})

    def __init__(self) -> None:
        self._lost_heard_s: float | None = None  # last_heard when the loss was declared

    def on_tick(self, view: DroneView, now_monotonic_s: float) -> Verdict | None:
        t = view.tracker
        heard = t.last_heard_monotonic_s
        if heard is None:
            return None  # never heard: not linked yet, nothing was lost
        gap_s = now_monotonic_s - heard
        limit_s = view.settings.link_lost_s
        if gap_s <= limit_s:
            return None
        self._lost_heard_s = heard
        finding = Finding(
            AlertType.LINK_LOST,
            Severity.CRITICAL if t.armed else Severity.WARNING,
            f"no message from the drone for {gap_s:.0f} s (limit {limit_s:g} s)"
            + (" while armed" if t.armed else ""),
            {
                "gap_s": rounded(gap_s, 1),
                "limit_s": limit_s,
                "armed": t.armed,
                "mode": t.mode,
                "last_heard_unix_s": t.last_heard_unix_s,
            },
        )
        return Verdict(self.types, (finding,))

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if self._lost_heard_s is None:
            return None
        received_s = msg.received_monotonic_s or view.tracker.last_heard_monotonic_s or 0.0
        outage_s = received_s - self._lost_heard_s
        self._lost_heard_s = None
        return self.none_hold({"outage_s": rounded(outage_s, 1), "restored_by": msg.name})
