"""Low battery, and not enough battery left to fly home.

``battery_low``: the reported remaining charge below ``battery_low_pct`` (critical below
``battery_critical_pct``); it clears ``battery_clear_margin_pct`` above the threshold, so a pack
hovering at the threshold does not open and close alerts.

``battery_return_home``: while flying, the energy to fly home and land, from the planning core's
energy model (missions/energy.py, the drone's ``battery_wh`` capability and the planning core's
power figures), times ``return_home_margin``, is more than the pack still holds. It clears when
the drone has landed (disarmed) or the margin is back.
"""

from __future__ import annotations

import math

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, EvalBound, Finding, Severity, Verdict, rounded
from app.telemetry.detectors.context import DroneView
from geofences.frame import LocalFrame
from missions.energy import estimate_route
from missions.profile import Battery, FlightProfile

_BATTERY_MESSAGES = frozenset({"SYS_STATUS", "BATTERY_STATUS"})


class BatteryLowDetector(Detector):
    types = frozenset({AlertType.BATTERY_LOW})
    messages = _BATTERY_MESSAGES

    def __init__(self) -> None:
        self._low = False

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name not in _BATTERY_MESSAGES:
            return None
        pct = view.tracker.battery_pct
        if pct is None:
            return None
        s = view.settings
        limit = s.battery_low_pct + (s.battery_clear_margin_pct if self._low else 0.0)
        self._low = pct < limit
        now = {"battery_pct": pct, "voltage_v": view.tracker.battery_voltage_v}
        if not self._low:
            return self.none_hold(now)
        critical = pct < s.battery_critical_pct
        finding = Finding(
            AlertType.BATTERY_LOW,
            Severity.CRITICAL if critical else Severity.WARNING,
            f"battery at {pct}% (below {s.battery_critical_pct if critical else s.battery_low_pct:g}%)",
            {**now, "threshold_pct": s.battery_low_pct, "critical_pct": s.battery_critical_pct},
        )
        return Verdict(self.types, (finding,), now)


def return_home_energy_wh(
    *, distance_m: float, alt_rel_m: float, battery_wh: float, speed_mps: float
) -> float:
    """Energy to fly ``distance_m`` home at the current height and descend, by the planning model."""
    profile = FlightProfile(speed_mps=speed_mps, transit_speed_mps=speed_mps)
    height_m = max(alt_rel_m, 0.0)
    route = [(distance_m, 0.0, height_m), (0.0, 0.0, height_m), (0.0, 0.0, 0.0)]
    return estimate_route(route, profile, Battery(capacity_wh=battery_wh)).energy_wh


class ReturnHomeDetector(Detector):
    """Judged at a bounded rate (``EvalBound``), and at once when the battery or home changes."""

    types = frozenset({AlertType.BATTERY_RETURN_HOME})
    messages = _BATTERY_MESSAGES

    def __init__(self) -> None:
        self._short = False
        self._bound = EvalBound()

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name not in _BATTERY_MESSAGES:
            return None
        t = view.tracker
        if not t.armed or t.on_ground:
            self._short = False
            self._bound.reset()
            return self.none_hold_once({"armed": t.armed})
        battery_wh = view.info.battery_wh
        here = view.position
        if battery_wh is None or t.battery_pct is None or here is None or t.home_lat_deg is None:
            return None
        assert t.home_lon_deg is not None
        if not self._bound.due(view, here, (t.battery_pct, t.home_lon_deg, t.home_lat_deg)):
            return None
        self.evaluating()
        frame = LocalFrame.for_lonlat(t.home_lon_deg, t.home_lat_deg)
        distance_m = math.dist(frame.xy(here[0], here[1]), frame.xy(t.home_lon_deg, t.home_lat_deg))
        s = view.settings
        need_wh = return_home_energy_wh(
            distance_m=distance_m, alt_rel_m=here[2], battery_wh=battery_wh, speed_mps=s.return_speed_mps
        )
        have_wh = battery_wh * t.battery_pct / 100.0
        margin = s.return_home_margin * (1.1 if self._short else 1.0)
        self._short = have_wh < need_wh * margin
        now = {
            "battery_pct": t.battery_pct,
            "remaining_wh": rounded(have_wh, 1),
            "return_wh": rounded(need_wh, 1),
            "distance_home_m": rounded(distance_m, 0),
            "alt_rel_m": rounded(here[2], 1),
        }
        if not self._short:
            return self.none_hold(now)
        finding = Finding(
            AlertType.BATTERY_RETURN_HOME,
            Severity.CRITICAL,
            f"{have_wh:.1f} Wh left, {need_wh:.1f} Wh needed to fly {distance_m:.0f} m home and land "
            f"(margin {s.return_home_margin:g}x)",
            {**now, "margin": s.return_home_margin, "battery_wh": battery_wh},
        )
        return Verdict(self.types, (finding,), now)
