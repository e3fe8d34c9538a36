"""Autopilot STATUSTEXT at WARNING or worse (MAV_SEVERITY 0-4).

One alert per distinct text: digits are folded (``Battery 1 is low 14.21V`` and ``... 14.05V`` are
one condition), and the alert holds until ``statustext_hold_s`` of vehicle time pass without the
text repeating. EMERGENCY, ALERT and CRITICAL are critical alerts; ERROR and WARNING warnings.
Pre-arm and arming refusals (``PreArm:``, ``Arm:``) are not alerts.
"""

from __future__ import annotations

import math
import re

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, Finding, Severity, Verdict
from app.telemetry.detectors.context import DroneView

MAV_SEVERITY_WARNING = 4
MAV_SEVERITY_CRITICAL = 2
_SEVERITY_NAMES = ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
KEY_MAX_CHARS = 200
ARMING_FEEDBACK_PREFIXES = ("PreArm:", "Arm:")
"""Pre-arm and arming refusals are CRITICAL on ArduPilot and repeat every 30 s on the ground; they are
the answer to an arm command (the API reports them with the refusal), not an alert."""


def text_key(text: str) -> str:
    """The condition key of a text: numbers folded to '#', whitespace collapsed."""
    return " ".join(_NUMBER.sub("#", text).split())[:KEY_MAX_CHARS]


class AutopilotMessageDetector(Detector):
    types = frozenset({AlertType.AUTOPILOT_MESSAGE})

    def __init__(self) -> None:
        self._seen_s: dict[str, float] = {}
        self._findings: dict[str, Finding] = {}
        self._repeats: dict[str, int] = {}

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        now_s = view.vehicle_s
        if msg.name == "STATUSTEXT":
            severity = msg.get_int("severity")
            if severity > MAV_SEVERITY_WARNING:
                return None
            text = msg.get_str("text")
            key = text_key(text)
            if not key or text.startswith(ARMING_FEEDBACK_PREFIXES):
                return None
            repeats = self._repeats.get(key, 0) + 1
            self._repeats[key] = repeats
            self._seen_s[key] = now_s
            self._findings[key] = Finding(
                AlertType.AUTOPILOT_MESSAGE,
                Severity.CRITICAL if severity <= MAV_SEVERITY_CRITICAL else Severity.WARNING,
                f"autopilot {_SEVERITY_NAMES[severity]}: {text}",
                {"text": text, "mav_severity": _SEVERITY_NAMES[severity], "repeats": repeats},
                key=key,
            )
        elif not self._findings:
            return None
        hold_s = view.settings.statustext_hold_s
        for key, at_s in list(self._seen_s.items()):
            if math.isfinite(now_s) and math.isfinite(at_s) and not 0.0 <= now_s - at_s <= hold_s:
                del self._seen_s[key]
                del self._findings[key]
                del self._repeats[key]
        return Verdict(self.types, tuple(self._findings.values()))
