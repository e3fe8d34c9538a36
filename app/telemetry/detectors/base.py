"""The values detectors exchange with the runner: alert types, severities, findings and verdicts.

Verdicts are level-triggered on purpose: a detector states which conditions hold *now* for the
types it decides, and the runner opens what is new and clears what is gone. An edge-triggered
design ("raise", "clear" messages) loses a clear across a restart and needs every detector to
track what it has said; level-triggered ones cannot drift from the stored alerts.
"""

from __future__ import annotations

import math
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
        if not self.findings:  # the common verdict, made for many messages: nothing to check
            return
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
    messages: frozenset[str] | None = None
    """The message names ``on_message`` can decide anything on (None: any message); the runner
    does not call it for others, which saves a dozen calls per message at fleet rates."""
    _said_none = False

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        return None

    def on_tick(self, view: DroneView, now_monotonic_s: float) -> Verdict | None:
        return None

    def none_hold(self, now: Mapping[str, EvidenceValue] | None = None) -> Verdict:
        """A verdict that none of this family's conditions holds."""
        return Verdict(self.types, (), now or {})

    def none_hold_once(self, now: Mapping[str, EvidenceValue] | None = None) -> Verdict | None:
        """``none_hold`` unless the last thing this detector said was already that, then None.

        For the paths taken on nearly every position (not armed, no route, no relay on): one
        such verdict starts the clear of whatever was open, repeating it decides nothing new.
        A detector that evaluates calls ``evaluating()`` so its next idle verdict is said again.
        """
        if self._said_none:
            return None
        self._said_none = True
        return self.none_hold(now)

    def evaluating(self) -> None:
        """The detector is judging the drone again (see ``none_hold_once``)."""
        self._said_none = False


_M_PER_DEG_LAT: Final = 110_574.0
_M_PER_DEG_LON_EQUATOR: Final = 111_320.0


class EvalBound:
    """How often a position-driven detector really evaluates: at most ``eval_max_hz`` per drone
    (vehicle time) unless the drone moved ``eval_move_m`` or something else it judges on changed.

    A drone streams positions at 10 Hz; a geofence or route check on every one costs more than
    all the rest of ingest, yet a breach judged 0.5 s (or 5 m) later is still far inside the
    issue's "within 3 s of the condition". A skipped message decides nothing (the detector
    returns None and the open alerts stay as they are), so no alert opens or clears on it; a
    change of the district, the flight, arming, mode or the detector's own ``inputs`` (relays, battery)
    is evaluated at once, and so is a clock that went back (a reboot).
    """

    __slots__ = ("_alt_m", "_at_s", "_context", "_lat_deg", "_lon_deg")

    def __init__(self) -> None:
        self._at_s = math.nan
        self._lon_deg = self._lat_deg = self._alt_m = math.nan
        self._context: tuple[object, ...] = ()

    def reset(self) -> None:
        """Judge the next position whatever its time: the detector decided without evaluating
        (disarmed, no fences), so the last evaluation no longer stands for the state."""
        self._at_s = math.nan

    def due(self, view: DroneView, here: tuple[float, float, float], inputs: object = None) -> bool:
        """Whether to evaluate now; when it is, the evaluation is recorded as done now."""
        s = view.settings
        now_s = view.vehicle_s
        t = view.tracker
        context = (view.district, view.info, t.armed, t.mode, inputs)
        lon, lat, alt_m = here
        if (
            s.eval_max_hz > 0
            and 0.0 <= now_s - self._at_s < 1.0 / s.eval_max_hz  # False when either is NaN
            and context == self._context  # element identity first: the district is one object per refresh
        ):
            dx_m = (lon - self._lon_deg) * _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
            dy_m = (lat - self._lat_deg) * _M_PER_DEG_LAT
            if math.hypot(dx_m, dy_m, alt_m - self._alt_m) < s.eval_move_m:
                return False
        self._at_s, self._context = now_s, context
        self._lon_deg, self._lat_deg, self._alt_m = lon, lat, alt_m
        return True
