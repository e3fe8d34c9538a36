"""The values detectors exchange with the runner: alert types, severities, findings and verdicts.

Verdicts are level-triggered on purpose: a detector states which conditions hold *now* for the
types it decides, and the runner opens what is new and clears what is gone. An edge-triggered
design ("raise", "clear" messages) loses a clear across a restart and needs every detector to
track what it has said; level-triggered ones cannot drift from the stored alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from app.link.codec import MavMessage
    from app.telemetry.detectors.context import DroneView

EvidenceValue = float | int | str | bool | None | list[str] | list[float]


class AlertType(StrEnum):
    GEOFENCE_BREACH = "geofence_breach"
    BATTERY_LOW = "battery_low"
    BATTERY_RETURN_HOME = "battery_return_home"
    LINK_LOST = "link_lost"
    GPS_DEGRADED = "gps_degraded"
    EKF_UNHEALTHY = "ekf_unhealthy"
    ROUTE_DEVIATION = "route_deviation"
    UNEXPECTED_MODE = "unexpected_mode"
    AUTOPILOT_MESSAGE = "autopilot_message"
    MISSION_STALLED = "mission_stalled"
    QUIET_ZONE_BROADCAST = "quiet_zone_broadcast"
    NO_PHOTO_ZONE_PHOTO = "no_photo_zone_photo"
    RUN_SKIPPED = "run_skipped"  # raised by the run scheduler, not a detector
    RUN_FAILED = "run_failed"  # raised by the run driver, not a detector
    TELEMETRY_DROPPED = "telemetry_dropped"  # raised by ingest after a replay, not a detector


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One condition that holds now: its type, its key within the type (a zone, a text; '' when a
    drone can have only one such condition) and the values that tripped it."""

    type: AlertType
    severity: Severity
    message: str
    evidence: Mapping[str, EvidenceValue]
    key: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one evaluation decided: for each type in ``types``, exactly ``findings`` hold."""

    types: frozenset[AlertType]
    findings: tuple[Finding, ...] = ()
    now: Mapping[str, EvidenceValue] = field(default_factory=dict)
    """The current values (stored as a cleared alert's evidence when a condition ends)."""

    def __post_init__(self) -> None:
        stray = {f.type for f in self.findings} - self.types
        if stray:
            raise ValueError(f"findings of types {sorted(stray)} outside the verdict's types")


def rounded(value: float, digits: int = 2) -> float:
    """Evidence numbers rounded for people, not for bit-exact comparisons."""
    return round(value, digits)


class Detector:
    """One detector family for one drone: fed its messages and a periodic tick, answers verdicts.

    Subclasses override what they need; None means "nothing decided this time" (the open
    alerts stay as they are), an empty Verdict means "none of my conditions holds".
    """

    types: frozenset[AlertType] = frozenset()

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        return None

    def on_tick(self, view: DroneView, now_monotonic_s: float) -> Verdict | None:
        return None

    def none_hold(self, now: Mapping[str, EvidenceValue] | None = None) -> Verdict:
        """A verdict that none of this family's conditions holds."""
        return Verdict(self.types, (), now or {})
