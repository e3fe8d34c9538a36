"""Position-driven detectors judge a 10 Hz stream at a bounded rate, yet still within the deadline.

Real MAVLink bytes into a real VehicleTracker (tests/alerts/feed.py); the bound is measured on the
vehicle's clock (time_boot_ms), so these tests do not depend on how fast they run.
"""

from __future__ import annotations

import shapely

from app.telemetry.detectors.base import AlertType, Verdict
from app.telemetry.detectors.geofence import GeofenceDetector, safe_interior
from geofences.checks import check_route
from tests.alerts.feed import HOME_LAT_DEG, HOME_LON_DEG
from tests.alerts.test_detectors import D, district_feed

M_DEG_LON = 1 / (111_320 * 0.8642)  # one metre of longitude at the test latitude
SCHOOL_WEST_EDGE_LON = HOME_LON_DEG + 1.7 * D


def judged(verdicts: list[Verdict | None]) -> int:
    return sum(v is not None for v in verdicts)


def test_a_hovering_drone_is_judged_at_two_hz_not_on_every_position() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    verdicts = [feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, 40, advance_ms=100) for _ in range(50)]
    assert verdicts[0] is not None and verdicts[0].findings == ()
    assert 9 <= judged(verdicts) <= 11  # 5 s of vehicle time at 10 Hz: every fifth position


def test_the_bound_off_judges_every_position() -> None:
    feed = district_feed(eval_max_hz=0.0)
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    verdicts = [feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, 40, advance_ms=100) for _ in range(20)]
    assert judged(verdicts) == 20


def test_a_breach_entered_slowly_is_raised_within_half_a_second_of_vehicle_time() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    lon = SCHOOL_WEST_EDGE_LON - 10 * M_DEG_LON
    entered_ms = None
    raised_ms = None
    for _ in range(60):  # 1 m per 100 ms: the bound's 5 m never trips, only its 0.5 s
        lon += M_DEG_LON
        verdict = feed.position(det, HOME_LAT_DEG, lon, 40, advance_ms=100)
        if entered_ms is None and lon > SCHOOL_WEST_EDGE_LON:
            entered_ms = feed.time_boot_ms
        if verdict is not None and any(f.key == "inside_exclusion:SCHOOL" for f in verdict.findings):
            raised_ms = feed.time_boot_ms
            break
    assert entered_ms is not None and raised_ms is not None
    assert 0 <= raised_ms - entered_ms <= 500


def test_a_jump_of_more_than_five_metres_is_judged_at_once() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    assert feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, 40, advance_ms=100) is not None
    assert feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + M_DEG_LON, 40, advance_ms=100) is None
    inside = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 40, advance_ms=100)
    assert inside is not None and [f.type for f in inside.findings] == [AlertType.GEOFENCE_BREACH]
    climbed = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 70, advance_ms=100)  # 30 m up
    assert climbed is not None and {f.key for f in climbed.findings} == {
        "inside_exclusion:SCHOOL",
        "above_ceiling",
    }


def test_rearming_is_judged_at_once_and_a_skipped_position_decides_nothing() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    breach = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 40, advance_ms=100)
    assert breach is not None and breach.findings
    assert (
        feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 40, advance_ms=100) is None
    )  # open alert stays
    feed.heartbeat(det, "AUTO", armed=False)
    disarmed = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 40, advance_ms=100)
    assert disarmed is not None and disarmed.findings == ()  # not judged while disarmed: cleared at once
    feed.heartbeat(det, "AUTO")
    rearmed = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 40, advance_ms=100)
    assert rearmed is not None and rearmed.findings


def test_the_safe_interior_never_clears_a_point_the_full_fence_check_refuses() -> None:
    feed = district_feed()
    fences = feed.view.district.fences
    assert fences is not None
    safe = safe_interior(fences)
    assert safe is not None
    cleared = refused = 0
    for i in range(-40, 41):
        for j in range(-40, 41):
            x_m, y_m = fences.frame.xy(HOME_LON_DEG + i * 0.1 * D, HOME_LAT_DEG + j * 0.1 * D)
            if not shapely.contains_xy(safe, x_m, y_m):
                continue
            for alt_m in (0.0, 40.0, fences.ceiling_m - 0.5):
                cleared += 1
                refused += bool(check_route([(x_m, y_m, alt_m)], fences))
    assert cleared > 10_000 and refused == 0
    school = fences.frame.xy(HOME_LON_DEG + 2 * D, HOME_LAT_DEG)
    outside = fences.frame.xy(HOME_LON_DEG + 4 * D, HOME_LAT_DEG)
    assert not shapely.contains_xy(safe, *school) and not shapely.contains_xy(safe, *outside)
