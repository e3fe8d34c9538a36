"""Geofence breach from positions, and broadcasts or photos inside quiet or no-photo zones.

The breach test is the planning core's own fence check (geofences/checks.py ``check_route``) on a
one-point route: the same inclusion union, exclusion, altitude band and ceiling rules a plan was
checked with, against prepared geometry and STRtrees built once per context refresh. Each way
the drone is outside the fences is its own condition (``outside_inclusion:ZONE``,
``inside_exclusion:ZONE``, ``above_max_alt:ZONE``, ``above_ceiling``), so leaving one zone while
still above the ceiling clears one alert and keeps the other.
"""

from __future__ import annotations

import math

import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from app.link.codec import MavMessage
from app.telemetry.detectors.base import AlertType, Detector, EvalBound, Finding, Severity, Verdict, rounded
from app.telemetry.detectors.context import DroneView
from geofences.checks import PreparedFences, check_route, zones_touching
from geofences.model import ZoneKind

_WORDS = {
    "outside_inclusion": "outside the inclusion area",
    "inside_exclusion": "inside exclusion zone",
    "above_ceiling": "above the ceiling",
    "above_max_alt": "above the altitude band of zone",
    "below_min_alt": "below the altitude band of zone",
}


_SAFE_MARGIN_M = 1.0
_SAFE_ALT_MARGIN_M = 0.5
_safe_cache: tuple[PreparedFences, BaseGeometry | None] | None = None


def safe_interior(fences: PreparedFences) -> BaseGeometry | None:
    """Where no fence can be broken below the ceiling: the inclusion area shrunk by a metre, less
    every exclusion zone and every inclusion zone with an altitude band (grown by a metre);
    None without an inclusion area. Prepared, and cached for the latest fences (they are
    rebuilt only when zones change), so a drone well inside is cleared by one ``contains_xy``
    instead of the full ``check_route`` (about 20 times the cost)."""
    global _safe_cache
    if _safe_cache is not None and _safe_cache[0] is fences:
        return _safe_cache[1]
    safe: BaseGeometry | None = None
    if fences.inclusion is not None:
        safe = fences.inclusion.buffer(-_SAFE_MARGIN_M)
        unsafe = [lz.shape for lz in fences.exclusions] + [
            lz.shape
            for lz in fences.of_kind(ZoneKind.INCLUSION)
            if lz.zone.min_alt_m is not None or lz.zone.max_alt_m is not None
        ]
        if unsafe:
            safe = safe.difference(shapely.union_all(unsafe).buffer(_SAFE_MARGIN_M))
        shapely.prepare(safe)
    _safe_cache = (fences, safe)
    return safe


class GeofenceDetector(Detector):
    """Judged at a bounded rate (``EvalBound``: 2 Hz or every 5 m by default), not on every position;
    a drone inside ``safe_interior`` and below the ceiling is cleared without the full check."""

    types = frozenset({AlertType.GEOFENCE_BREACH})
    messages = frozenset({"GLOBAL_POSITION_INT"})

    def __init__(self) -> None:
        self._bound = EvalBound()

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name != "GLOBAL_POSITION_INT":
            return None
        fences = view.district.fences
        here = view.position
        if fences is None or here is None or not view.tracker.armed:
            self._bound.reset()
            return self.none_hold_once()
        if not self._bound.due(view, here):
            return None
        self.evaluating()
        lon, lat, alt_rel_m = here
        x_m, y_m = fences.frame.xy(lon, lat)
        now = {"lat_deg": lat, "lon_deg": lon, "alt_rel_m": rounded(alt_rel_m, 1)}
        findings: list[Finding] = []
        safe = safe_interior(fences)
        if (
            safe is not None
            and alt_rel_m <= fences.ceiling_m - _SAFE_ALT_MARGIN_M
            and shapely.contains_xy(safe, x_m, y_m)
        ):
            return Verdict(self.types, (), now)
        for v in check_route([(x_m, y_m, alt_rel_m)], fences):
            name = view.district.zone_names.get(v.zone_id, v.zone_id)
            where = _WORDS[v.kind] + (f" {name} ({v.zone_id})" if v.kind != "above_ceiling" else "")
            if v.kind == "above_ceiling":
                where += f" of {fences.ceiling_m:g} m"
            findings.append(
                Finding(
                    AlertType.GEOFENCE_BREACH,
                    Severity.CRITICAL,
                    f"geofence breach: {where}, by {v.distance_m:.1f} m",
                    {
                        **now,
                        "kind": v.kind,
                        "zone": v.zone_id or None,
                        "zone_name": name or None,
                        "by_m": rounded(v.distance_m, 1),
                        "ceiling_m": fences.ceiling_m,
                    },
                    key=f"{v.kind}:{v.zone_id}" if v.zone_id else v.kind,
                )
            )
        return Verdict(self.types, tuple(findings), now)


class QuietZoneBroadcastDetector(Detector):
    """A speaker relay on within earshot (``quiet_earshot_m``) of a quiet zone; positions are
    judged at a bounded rate (``EvalBound``), a relay change at once."""

    types = frozenset({AlertType.QUIET_ZONE_BROADCAST})
    messages = frozenset({"GLOBAL_POSITION_INT", "RELAY_STATUS"})

    def __init__(self) -> None:
        self._bound = EvalBound()

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        if msg.name not in ("GLOBAL_POSITION_INT", "RELAY_STATUS"):
            return None
        relays = view.tracker.relay_on_bits
        fences = view.district.fences
        here = view.position
        if not relays or fences is None or here is None:
            self._bound.reset()
            return self.none_hold_once({"relays_on": relays or 0})
        if not self._bound.due(view, here, relays):
            return None
        self.evaluating()
        earshot_m = view.settings.quiet_earshot_m
        point = Point(fences.frame.xy(here[0], here[1]))
        zones = zones_touching(point, fences, ZoneKind.QUIET, within_m=earshot_m)
        findings = tuple(
            Finding(
                AlertType.QUIET_ZONE_BROADCAST,
                Severity.WARNING,
                f"broadcasting within {earshot_m:g} m of quiet zone {lz.zone.name} ({lz.zone.zone_id})",
                {
                    "zone": lz.zone.zone_id,
                    "zone_name": lz.zone.name,
                    "relays_on": f"{relays:#06x}",
                    "distance_m": rounded(float(lz.shape.distance(point)), 1),
                    "earshot_m": earshot_m,
                    "lat_deg": here[1],
                    "lon_deg": here[0],
                },
                key=lz.zone.zone_id,
            )
            for lz in zones
        )
        return Verdict(self.types, findings, {"relays_on": relays})


class NoPhotoZoneDetector(Detector):
    """A photo (CAMERA_FEEDBACK) taken over a no-photo zone; holds ``photo_hold_s`` of vehicle
    time after the last such photo, so a sweep of photos over one zone is one alert."""

    types = frozenset({AlertType.NO_PHOTO_ZONE_PHOTO})

    def __init__(self) -> None:
        self._last_photo_s: dict[str, float] = {}
        self._latest: dict[str, Finding] = {}
        self._photos: dict[str, int] = {}

    def on_message(self, view: DroneView, msg: MavMessage) -> Verdict | None:
        now_s = view.vehicle_s
        if msg.name == "CAMERA_FEEDBACK" and view.district.fences is not None:
            fences = view.district.fences
            lon, lat = msg.get_int("lng") / 1e7, msg.get_int("lat") / 1e7
            point = Point(fences.frame.xy(lon, lat))
            for lz in zones_touching(point, fences, ZoneKind.NO_PHOTO):
                zone_id = lz.zone.zone_id
                count = self._photos.get(zone_id, 0) + 1
                self._photos[zone_id] = count
                self._last_photo_s[zone_id] = now_s
                self._latest[zone_id] = Finding(
                    AlertType.NO_PHOTO_ZONE_PHOTO,
                    Severity.WARNING,
                    f"photo taken over no-photo zone {lz.zone.name} ({zone_id})",
                    {
                        "zone": zone_id,
                        "zone_name": lz.zone.name,
                        "image_index": msg.get_int("img_idx"),
                        "photos": count,
                        "lat_deg": lat,
                        "lon_deg": lon,
                        "alt_rel_m": rounded(msg.get_float("alt_rel"), 1),
                    },
                    key=zone_id,
                )
        elif not self._latest:
            return None
        hold_s = view.settings.photo_hold_s
        for zone_id, at_s in list(self._last_photo_s.items()):
            if math.isfinite(now_s) and math.isfinite(at_s) and not 0.0 <= now_s - at_s <= hold_s:
                del self._last_photo_s[zone_id]
                del self._latest[zone_id]
                del self._photos[zone_id]
        return Verdict(self.types, tuple(self._latest.values()))
