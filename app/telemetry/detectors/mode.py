"""Unexpected mode change: the vehicle entered RTL, SMART_RTL, LAND or BRAKE and nobody asked.

AeroGrid records every mode it commands (app/link/commands.py ``Commander.commanded_mode``); a
failsafe mode the vehicle enters without a matching command in the last ``commanded_window_s``
seconds is the autopilot acting on its own (battery, GCS, EKF or fence failsafe, a lost motor).
The alert stays open while the vehicle stays in that mode and armed, and clears when it leaves
the mode or disarms (the failsafe ran its course).
"""

from __future__ import annotations

import time

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, Finding, Severity, Verdict
from app.telemetry.detectors.context import DroneView

FAILSAFE_MODES = frozenset({"RTL", "SMART_RTL", "LAND", "BRAKE"})
_RECENT_TEXTS = 3
_TEXT_WINDOW_S = 10.0


class UnexpectedModeDetector(Detector):
    types = frozenset({AlertType.UNEXPECTED_MODE})
    messages = frozenset({"HEARTBEAT"})

    def __init__(self) -> None:
        self._mode: str | None = None
        self._finding: Finding | None = None

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name != "HEARTBEAT":
            return None
        t = view.tracker
        previous, self._mode = self._mode, t.mode
        if not t.armed or t.mode not in FAILSAFE_MODES:
            self._finding = None
            return self.none_hold({"mode": t.mode, "armed": t.armed})
        if previous == t.mode or previous is None:
            return None if self._finding is None else Verdict(self.types, (self._finding,))
        commanded = view.commanded
        now_s = time.monotonic()
        if (
            commanded is not None
            and commanded.mode == t.mode
            and now_s - commanded.at_monotonic_s <= view.settings.commanded_window_s
        ):
            self._finding = None
            return self.none_hold({"mode": t.mode, "commanded": True})
        texts = [
            e.text for e in t.events if e.kind == "statustext" and time.time() - e.at_unix_s <= _TEXT_WINDOW_S
        ][-_RECENT_TEXTS:]
        self._finding = Finding(
            AlertType.UNEXPECTED_MODE,
            Severity.CRITICAL if t.mode != "BRAKE" else Severity.WARNING,
            f"vehicle switched {previous} -> {t.mode} by itself (failsafe)"
            + (f": {texts[-1]}" if texts else ""),
            {
                "from_mode": previous,
                "to_mode": t.mode,
                "last_commanded_mode": commanded.mode if commanded else None,
                "last_commanded_age_s": round(now_s - commanded.at_monotonic_s, 1) if commanded else None,
                "autopilot_said": texts,
                "alt_rel_m": t.alt_rel_m,
                "battery_pct": t.battery_pct,
            },
        )
        return Verdict(self.types, (self._finding,))
