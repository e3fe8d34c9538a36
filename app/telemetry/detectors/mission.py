"""Mission stalled: in AUTO and armed, the current mission item has not changed for ``stall_s``.

Measured on the vehicle clock from MISSION_CURRENT (and positions, so the clock keeps moving
between MISSION_CURRENTs). Counting starts when AUTO starts; leaving AUTO or the next item
clears it, and so does MISSION_CURRENT reporting the mission complete (ArduCopter holds position in
AUTO after a last item that is not RTL or LAND). A long NAV_LOITER_TIME or a broadcast hover longer than ``stall_s`` would trip it,
so ``stall_s`` should exceed the longest planned hover.
"""

from __future__ import annotations

import math

from app.link.codec import MavMessage
from app.link.constants import MissionState
from app.telemetry.detectors.base import AlertType, Detector, EvalBound, Finding, Severity, Verdict, rounded
from app.telemetry.detectors.context import DroneView


class MissionStallDetector(Detector):
    """Positions keep its clock moving at a bounded rate (``EvalBound``); MISSION_CURRENT is judged
    at once, and so is a position after the item or the mission's state changed."""

    types = frozenset({AlertType.MISSION_STALLED})
    messages = frozenset({"MISSION_CURRENT", "GLOBAL_POSITION_INT"})

    def __init__(self) -> None:
        self._seq: int | None = None
        self._since_s: float | None = None
        self._bound = EvalBound()

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name not in ("MISSION_CURRENT", "GLOBAL_POSITION_INT"):
            return None
        t = view.tracker
        now_s = view.vehicle_s
        finished = t.mission_state == MissionState.COMPLETE  # holding after the last item is not a stall
        if t.mode != "AUTO" or not t.armed or t.mission_seq is None or finished or not math.isfinite(now_s):
            self._seq = self._since_s = None
            self._bound.reset()
            return self.none_hold({"mode": t.mode})
        here = view.position
        if (
            msg.name == "GLOBAL_POSITION_INT"
            and here is not None
            and not self._bound.due(view, here, (t.mission_seq, t.mission_state))
        ):
            return None
        if t.mission_seq != self._seq or self._since_s is None or now_s < self._since_s:
            self._seq, self._since_s = t.mission_seq, now_s
        stalled_s = now_s - self._since_s
        now = {"mission_seq": t.mission_seq, "mission_total": t.mission_total}
        if stalled_s < view.settings.stall_s:
            return self.none_hold(now)
        finding = Finding(
            AlertType.MISSION_STALLED,
            Severity.WARNING,
            f"mission item {t.mission_seq} of {t.mission_total} unchanged for {stalled_s:.0f} s in AUTO",
            {
                **now,
                "stalled_s": rounded(stalled_s, 1),
                "limit_s": view.settings.stall_s,
                "groundspeed_mps": t.groundspeed_mps,
            },
        )
        return Verdict(self.types, (finding,), now)
