"""GPS degraded (fix below 3D, few satellites, high HDOP) and EKF unhealthy, while armed.

On the ground before arming these are normal (a GPS acquiring, an EKF converging) and the
autopilot's own pre-arm checks hold the drone; the alerts are about a drone that is flying or
about to. Disarming clears them.
"""

from __future__ import annotations

from app.link.codec import MavMessage
from app.link.constants import EkfFlags
from app.telemetry.detectors.base import (
    AlertType,
    Detector,
    EvidenceValue,
    Finding,
    Severity,
    Verdict,
    rounded,
)
from app.telemetry.detectors.context import DroneView

_FIX_NAMES = {0: "no GPS", 1: "no fix", 2: "2D fix", 3: "3D fix", 4: "DGPS", 5: "RTK float", 6: "RTK fixed"}
_UNKNOWN_EPH = 65535
_UNKNOWN_SATS = 255
_EKF_REQUIRED = EkfFlags.ATTITUDE | EkfFlags.VELOCITY_HORIZ | EkfFlags.POS_HORIZ_ABS | EkfFlags.POS_VERT_ABS
_EKF_FORBIDDEN = EkfFlags.CONST_POS_MODE | EkfFlags.UNINITIALIZED
# Plain (name, bit) pairs: Flag arithmetic per message cost more than the rest of the check.
_REQUIRED_BITS = tuple((str(f.name).lower(), int(f)) for f in EkfFlags if f & _EKF_REQUIRED)
_FORBIDDEN_BITS = tuple((str(f.name).lower(), int(f)) for f in EkfFlags if f & _EKF_FORBIDDEN)
_EKF_VARIANCES = ("velocity_variance", "pos_horiz_variance", "pos_vert_variance", "compass_variance")


class GpsDetector(Detector):
    types = frozenset({AlertType.GPS_DEGRADED})
    messages = frozenset({"GPS_RAW_INT"})

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name != "GPS_RAW_INT":
            return None
        fix = msg.get_int("fix_type")
        sats = msg.get_int("satellites_visible")
        eph = msg.get_int("eph")
        hdop = None if eph == _UNKNOWN_EPH else eph / 100.0
        now: dict[str, EvidenceValue] = {
            "fix_type": fix,
            "satellites": None if sats == _UNKNOWN_SATS else sats,
            "hdop": hdop,
        }
        if not view.tracker.armed:
            return self.none_hold(now)
        s = view.settings
        problems: list[str] = []
        if fix < 3:
            problems.append(f"fix is {_FIX_NAMES.get(fix, str(fix))}")
        if sats != _UNKNOWN_SATS and sats < s.gps_min_satellites:
            problems.append(f"{sats} satellites (minimum {s.gps_min_satellites})")
        if hdop is not None and hdop > s.gps_max_hdop:
            problems.append(f"HDOP {hdop:.1f} (maximum {s.gps_max_hdop:g})")
        if not problems:
            return self.none_hold(now)
        finding = Finding(
            AlertType.GPS_DEGRADED,
            Severity.CRITICAL if fix < 2 else Severity.WARNING,
            "GPS degraded: " + "; ".join(problems),
            {**now, "problems": problems, "min_satellites": s.gps_min_satellites, "max_hdop": s.gps_max_hdop},
        )
        return Verdict(self.types, (finding,), now)


class EkfDetector(Detector):
    types = frozenset({AlertType.EKF_UNHEALTHY})
    messages = frozenset({"EKF_STATUS_REPORT"})

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name != "EKF_STATUS_REPORT":
            return None
        flags = msg.get_int("flags")
        variances = {name: rounded(msg.get_float(name), 3) for name in _EKF_VARIANCES}
        now: dict[str, EvidenceValue] = {"flags": f"{flags:#06x}", **variances}
        if not view.tracker.armed:
            return self.none_hold(now)
        problems = [f"no {name}" for name, bit in _REQUIRED_BITS if not flags & bit]
        problems += [name for name, bit in _FORBIDDEN_BITS if flags & bit]
        limit = view.settings.ekf_max_variance
        problems += [f"{name} {value:g} > {limit:g}" for name, value in variances.items() if value > limit]
        if not problems:
            return self.none_hold(now)
        finding = Finding(
            AlertType.EKF_UNHEALTHY,
            Severity.CRITICAL,
            "EKF unhealthy: " + "; ".join(problems),
            {**now, "problems": problems, "max_variance": limit},
        )
        return Verdict(self.types, (finding,), now)
