"""Route deviation: in AUTO, further than ``deviation_m`` from the uploaded route for ``deviation_s``.

The cross-track error is the horizontal distance from the drone to the route of its latest
verified upload (home, every positioned nav item, back home on RTL), measured in the plan's local
metric frame against a prepared line. It is the distance to the nearest part of the whole route,
not only the current leg: a drone cutting a corner to the next sweep is not "off route". Only
AUTO counts; a failsafe RTL is reported as an unexpected mode change, not as a deviation.
"""

from __future__ import annotations

import math

from shapely.geometry import Point

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, EvalBound, Finding, Severity, Verdict, rounded
from app.telemetry.detectors.context import DroneView


class RouteDeviationDetector(Detector):
    types = frozenset({AlertType.ROUTE_DEVIATION})
    messages = frozenset({"GLOBAL_POSITION_INT"})

    def __init__(self) -> None:
        self._over_since_s: float | None = None
        self._worst_m = 0.0
        self._bound = EvalBound()  # judged at a bounded rate, not on every position

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name != "GLOBAL_POSITION_INT":
            return None
        t = view.tracker
        flight = view.info.flight
        here = view.position
        if flight is None or flight.line is None or here is None or t.mode != "AUTO" or not t.armed:
            self._over_since_s = None
            self._bound.reset()
            return self.none_hold_once({"mode": t.mode})
        if not self._bound.due(view, here):
            return None
        self.evaluating()
        x_m, y_m = flight.frame.xy(here[0], here[1])
        xtrack_m = float(flight.line.distance(Point(x_m, y_m)))
        now_s = view.vehicle_s
        s = view.settings
        now = {"cross_track_m": rounded(xtrack_m, 1), "mission_seq": t.mission_seq}
        if xtrack_m <= s.deviation_m or not math.isfinite(now_s):
            self._over_since_s = None
            return self.none_hold(now)
        if self._over_since_s is None or now_s < self._over_since_s:
            self._over_since_s, self._worst_m = now_s, xtrack_m
        self._worst_m = max(self._worst_m, xtrack_m)
        over_s = now_s - self._over_since_s
        if over_s < s.deviation_s:
            return None  # off route, not yet for long enough: leave any open alert as it is
        finding = Finding(
            AlertType.ROUTE_DEVIATION,
            Severity.WARNING,
            f"{xtrack_m:.0f} m off the uploaded route for {over_s:.0f} s "
            f"(limits {s.deviation_m:g} m, {s.deviation_s:g} s)",
            {
                **now,
                "max_cross_track_m": rounded(self._worst_m, 1),
                "off_route_s": rounded(over_s, 1),
                "limit_m": s.deviation_m,
                "limit_s": s.deviation_s,
                "upload_id": flight.upload_id,
                "lat_deg": here[1],
                "lon_deg": here[0],
            },
        )
        return Verdict(self.types, (finding,), now)
