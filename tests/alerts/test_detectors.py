"""Each detector family on its own: real MAVLink bytes into a real VehicleTracker, verdicts out.

A verdict lists the conditions that hold now for the types it decides; these tests check that a
fault gives exactly one finding with its evidence and that the end of the fault gives none.
"""

from __future__ import annotations

import time

from shapely.geometry import Polygon

from app.link.commands import CommandedMode
from app.services.alert_detection import build_district
from app.telemetry.detectors.base import AlertType, Severity, Verdict
from app.telemetry.detectors.battery import BatteryLowDetector, ReturnHomeDetector, return_home_energy_wh
from app.telemetry.detectors.context import DetectorSettings, DroneInfo, FlightRoute, route_line
from app.telemetry.detectors.geofence import GeofenceDetector, NoPhotoZoneDetector, QuietZoneBroadcastDetector
from app.telemetry.detectors.gps import EkfDetector, GpsDetector
from app.telemetry.detectors.link import LinkDetector
from app.telemetry.detectors.mission import MissionStallDetector
from app.telemetry.detectors.mode import UnexpectedModeDetector
from app.telemetry.detectors.route import RouteDeviationDetector
from app.telemetry.detectors.statustext import AutopilotMessageDetector, text_key
from geofences.frame import LocalFrame
from geofences.model import FenceSet, Zone, ZoneKind
from missions.items import MavCmd, MissionItem
from tests.alerts.feed import HOME_LAT_DEG, HOME_LON_DEG, Feed

D = 0.001  # about 100 m of latitude


def square(lon: float, lat: float, half_deg: float) -> Polygon:
    return Polygon(
        [
            (lon - half_deg, lat - half_deg),
            (lon + half_deg, lat - half_deg),
            (lon + half_deg, lat + half_deg),
            (lon - half_deg, lat + half_deg),
        ]
    )


def district_feed(**settings: float) -> Feed:
    fences = FenceSet(
        zones=(
            Zone("AREA", "Work area", ZoneKind.INCLUSION, polygon=square(HOME_LON_DEG, HOME_LAT_DEG, 3 * D)),
            Zone(
                "SCHOOL",
                "No. 2 School",
                ZoneKind.EXCLUSION,
                polygon=square(HOME_LON_DEG + 2 * D, HOME_LAT_DEG, 0.3 * D),
            ),
            Zone(
                "WARD",
                "Hospital ward",
                ZoneKind.QUIET,
                polygon=square(HOME_LON_DEG - 2 * D, HOME_LAT_DEG, 0.3 * D),
            ),
            Zone(
                "YARD",
                "Barracks",
                ZoneKind.NO_PHOTO,
                polygon=square(HOME_LON_DEG, HOME_LAT_DEG + 2 * D, 0.3 * D),
            ),
        ),
        ceiling_m=60.0,
    )
    grid = {
        "code": "G1",
        "community_code": "C1",
        "boundary": square(HOME_LON_DEG, HOME_LAT_DEG, 3 * D).__geo_interface__,
    }
    return Feed(district=build_district(fences, [grid]), settings=DetectorSettings(**settings))  # type: ignore[arg-type]


def keys(verdict: Verdict | None) -> list[str]:
    assert verdict is not None
    return sorted(f.key for f in verdict.findings)


def test_geofence_names_each_breach_and_clears_back_inside() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "AUTO")
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, 40)) == []
    breach = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 75)
    assert keys(breach) == ["above_ceiling", "inside_exclusion:SCHOOL"]
    assert breach is not None
    school = next(f for f in breach.findings if f.key == "inside_exclusion:SCHOOL")
    assert school.severity is Severity.CRITICAL
    assert school.evidence["zone_name"] == "No. 2 School"
    assert "No. 2 School" in school.message
    ceiling = next(f for f in breach.findings if f.key == "above_ceiling")
    assert ceiling.evidence["by_m"] == 15.0
    assert keys(feed.position(det, HOME_LAT_DEG + 4 * D, HOME_LON_DEG, 40)) == ["outside_inclusion:AREA"]
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, 40)) == []


def test_geofence_is_not_judged_on_a_disarmed_drone() -> None:
    feed = district_feed()
    det = GeofenceDetector()
    feed.heartbeat(det, "STABILIZE", armed=False)
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG + 2 * D, 0)) == []


def test_broadcast_near_quiet_zone_and_photo_over_no_photo_zone() -> None:
    feed = district_feed(quiet_earshot_m=50.0, photo_hold_s=10.0)
    quiet, photo = QuietZoneBroadcastDetector(), NoPhotoZoneDetector()
    feed.position(quiet, HOME_LAT_DEG, HOME_LON_DEG - 2 * D, 40)
    assert keys(feed.send(quiet, "RELAY_STATUS", time_boot_ms=feed.time_boot_ms, on=1, present=1)) == ["WARD"]
    assert keys(feed.send(quiet, "RELAY_STATUS", time_boot_ms=feed.time_boot_ms, on=0, present=1)) == []
    feed.send(quiet, "RELAY_STATUS", time_boot_ms=feed.time_boot_ms, on=1, present=1)
    assert keys(feed.position(quiet, HOME_LAT_DEG, HOME_LON_DEG, 40)) == []  # far from the ward

    shot = dict(
        time_usec=0,
        target_system=0,
        cam_idx=0,
        alt_msl=45.0,
        alt_rel=40.0,
        roll=0.0,
        pitch=0.0,
        yaw=0.0,
        foc_len=0.0,
        flags=0,
        completed_captures=1,
    )
    assert keys(
        feed.send(
            photo,
            "CAMERA_FEEDBACK",
            img_idx=3,
            lat=round((HOME_LAT_DEG + 2 * D) * 1e7),
            lng=round(HOME_LON_DEG * 1e7),
            **shot,
        )
    ) == ["YARD"]  # type: ignore[arg-type]
    verdict = feed.send(
        photo,
        "CAMERA_FEEDBACK",
        img_idx=4,
        lat=round((HOME_LAT_DEG + 2 * D) * 1e7),
        lng=round(HOME_LON_DEG * 1e7),
        **shot,
    )  # type: ignore[arg-type]
    assert verdict is not None and verdict.findings[0].evidence["photos"] == 2
    assert keys(feed.position(photo, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=5000)) == ["YARD"]
    assert keys(feed.position(photo, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=6000)) == []


def test_low_battery_warns_then_goes_critical_and_clears_only_above_the_margin() -> None:
    feed = Feed(
        settings=DetectorSettings(battery_low_pct=25, battery_critical_pct=15, battery_clear_margin_pct=5)
    )
    det = BatteryLowDetector()
    assert keys(feed.battery(det, 60)) == []
    low = feed.battery(det, 24)
    assert low is not None and low.findings[0].severity is Severity.WARNING
    critical = feed.battery(det, 12)
    assert critical is not None and critical.findings[0].severity is Severity.CRITICAL
    assert critical.findings[0].evidence["battery_pct"] == 12
    assert len(feed.battery(det, 27).findings) == 1  # type: ignore[union-attr]  # within the clear margin
    assert keys(feed.battery(det, 31)) == []


def test_return_home_alert_when_the_pack_holds_less_than_the_way_home() -> None:
    feed = Feed(
        info=DroneInfo(drone_id=1, battery_wh=100.0), settings=DetectorSettings(return_home_margin=1.3)
    )
    det = ReturnHomeDetector()
    feed.home()
    feed.heartbeat(det, "AUTO")
    feed.landed_state(2)  # in air
    feed.position(det, HOME_LAT_DEG + 10 * D, HOME_LON_DEG, 50)  # about 1.1 km out
    need_wh = return_home_energy_wh(distance_m=1109, alt_rel_m=50, battery_wh=100.0, speed_mps=10.0)
    assert keys(feed.battery(det, 90)) == []
    short = feed.battery(det, int(need_wh))  # about need_wh Wh left of 100: less than need x 1.3
    assert short is not None and [f.type for f in short.findings] == [AlertType.BATTERY_RETURN_HOME]
    evidence = short.findings[0].evidence
    assert evidence["distance_home_m"] == 1109.0  # 10 mdeg of latitude in the UTM frame
    assert evidence["return_wh"] == round(need_wh, 1)
    feed.heartbeat(det, "LAND", armed=False)
    assert keys(feed.battery(det, 5)) == []  # landed and disarmed: nothing to return from


def test_link_lost_after_the_gap_and_restored_by_the_next_message() -> None:
    feed = Feed(settings=DetectorSettings(link_lost_s=5.0))
    det = LinkDetector()
    feed.heartbeat(det, "AUTO")
    heard = feed.tracker.last_heard_monotonic_s
    assert heard is not None
    assert det.on_tick(feed.view, heard + 4.0) is None
    lost = det.on_tick(feed.view, heard + 6.0)
    assert lost is not None and lost.findings[0].severity is Severity.CRITICAL  # armed
    assert lost.findings[0].evidence["gap_s"] == 6.0
    restored = feed.heartbeat(det, "AUTO")
    assert restored is not None and restored.findings == () and restored.types == {AlertType.LINK_LOST}
    assert feed.heartbeat(det, "AUTO") is None


def gps_raw(feed: Feed, det: GpsDetector, fix: int, sats: int, eph: int) -> Verdict | None:
    return feed.send(
        det,
        "GPS_RAW_INT",
        time_usec=0,
        fix_type=fix,
        lat=0,
        lon=0,
        alt=0,
        eph=eph,
        epv=100,
        vel=0,
        cog=0,
        satellites_visible=sats,
    )


def test_gps_degraded_by_fix_satellites_or_hdop_while_armed() -> None:
    feed = Feed(settings=DetectorSettings(gps_min_satellites=6, gps_max_hdop=2.5))
    det = GpsDetector()
    feed.heartbeat(det, "GUIDED", armed=False)
    assert keys(gps_raw(feed, det, 0, 0, 9999)) == []  # on the ground, unarmed: not judged
    feed.heartbeat(det, "GUIDED")
    assert keys(gps_raw(feed, det, 3, 12, 70)) == []
    lost = gps_raw(feed, det, 0, 0, 9999)
    assert lost is not None and lost.findings[0].severity is Severity.CRITICAL
    assert lost.findings[0].evidence["problems"] == [
        "fix is no GPS",
        "0 satellites (minimum 6)",
        "HDOP 100.0 (maximum 2.5)",
    ]
    weak = gps_raw(feed, det, 3, 5, 310)
    assert weak is not None and weak.findings[0].severity is Severity.WARNING
    assert keys(gps_raw(feed, det, 3, 12, 70)) == []


def test_ekf_unhealthy_on_missing_position_or_high_variance() -> None:
    feed = Feed()
    det = EkfDetector()
    feed.heartbeat(det, "GUIDED")
    good = dict(
        velocity_variance=0.1,
        pos_horiz_variance=0.1,
        pos_vert_variance=0.1,
        compass_variance=0.1,
        terrain_alt_variance=0.0,
    )
    assert keys(feed.send(det, "EKF_STATUS_REPORT", flags=0x1FF & ~0x80, **good)) == []  # type: ignore[arg-type]
    no_pos = feed.send(det, "EKF_STATUS_REPORT", flags=0x03, **good)  # type: ignore[arg-type]
    assert no_pos is not None and no_pos.findings[0].evidence["problems"] == [
        "no pos_horiz_abs",
        "no pos_vert_abs",
    ]
    high = feed.send(det, "EKF_STATUS_REPORT", flags=0x37, **{**good, "velocity_variance": 0.95})  # type: ignore[arg-type]
    assert high is not None and high.findings[0].evidence["problems"] == ["velocity_variance 0.95 > 0.8"]


def test_route_deviation_needs_the_distance_for_the_duration_in_auto() -> None:
    frame = LocalFrame.for_lonlat(HOME_LON_DEG, HOME_LAT_DEG)
    items = [
        MissionItem(command=MavCmd.NAV_WAYPOINT, x=round(HOME_LAT_DEG * 1e7), y=round(HOME_LON_DEG * 1e7)),
        MissionItem(command=MavCmd.NAV_TAKEOFF, z=30.0),
        MissionItem(
            command=MavCmd.NAV_WAYPOINT,
            x=round((HOME_LAT_DEG + 5 * D) * 1e7),
            y=round(HOME_LON_DEG * 1e7),
            z=30.0,
        ),
        MissionItem(command=MavCmd.NAV_RETURN_TO_LAUNCH),
    ]
    line = route_line(items, frame, HOME_LON_DEG, HOME_LAT_DEG)
    assert line is not None and 1100 < line.length < 1120  # out 555 m and back home
    info = DroneInfo(
        drone_id=1, flight=FlightRoute(upload_id=9, mission_id=3, sortie=0, frame=frame, line=line)
    )
    feed = Feed(info=info, settings=DetectorSettings(deviation_m=20.0, deviation_s=5.0))
    det = RouteDeviationDetector()
    feed.heartbeat(det, "AUTO")
    east_30m = HOME_LON_DEG + 30 / (111_320 * 0.8642)
    assert keys(feed.position(det, HOME_LAT_DEG + 2 * D, HOME_LON_DEG + 0.00005)) == []  # 5 m off: on route
    assert feed.position(det, HOME_LAT_DEG + 2 * D, east_30m, advance_ms=1000) is None  # off, not for 5 s yet
    for _ in range(4):
        assert feed.position(det, HOME_LAT_DEG + 2 * D, east_30m, advance_ms=1000) is None
    off = feed.position(det, HOME_LAT_DEG + 2 * D, east_30m, advance_ms=1000)
    assert off is not None and [f.type for f in off.findings] == [AlertType.ROUTE_DEVIATION]
    assert 29.0 < float(off.findings[0].evidence["cross_track_m"]) < 31.0  # type: ignore[arg-type]
    assert off.findings[0].evidence["off_route_s"] == 5.0
    assert keys(feed.position(det, HOME_LAT_DEG + 3 * D, HOME_LON_DEG)) == []


def test_failsafe_rtl_is_unexpected_but_a_commanded_rtl_is_not() -> None:
    feed = Feed()
    det = UnexpectedModeDetector()
    feed.heartbeat(det, "AUTO")
    feed.send(det, "STATUSTEXT", severity=2, text="Battery 1 is low 13.90V used 5000 mAh")
    rtl = feed.heartbeat(det, "RTL")
    assert rtl is not None and len(rtl.findings) == 1
    finding = rtl.findings[0]
    assert finding.evidence["from_mode"] == "AUTO" and finding.evidence["to_mode"] == "RTL"
    assert finding.evidence["autopilot_said"] == ["Battery 1 is low 13.90V used 5000 mAh"]
    assert len(feed.heartbeat(det, "RTL").findings) == 1  # type: ignore[union-attr]  # still in it: still holds
    assert keys(feed.heartbeat(det, "RTL", armed=False)) == []  # landed and disarmed: over

    feed.heartbeat(det, "AUTO")
    feed.view.commanded = CommandedMode("RTL", time.monotonic())
    assert keys(feed.heartbeat(det, "RTL")) == []
    feed.view.commanded = CommandedMode("RTL", time.monotonic() - 60.0)  # an old command does not cover it
    feed.heartbeat(det, "AUTO")
    assert len(feed.heartbeat(det, "LAND").findings) == 1  # type: ignore[union-attr]


def test_statustext_warnings_fold_numbers_and_expire_after_the_hold() -> None:
    feed = Feed(settings=DetectorSettings(statustext_hold_s=10.0))
    det = AutopilotMessageDetector()
    feed.position(det, HOME_LAT_DEG, HOME_LON_DEG)
    assert feed.send(det, "STATUSTEXT", severity=6, text="Mission: 3 WP") is None  # INFO: not an alert
    assert feed.send(det, "STATUSTEXT", severity=2, text="PreArm: Need Position Estimate") is None
    first = feed.send(det, "STATUSTEXT", severity=2, text="Battery 1 is low 14.21V used 4100 mAh")
    second = feed.send(det, "STATUSTEXT", severity=2, text="Battery 1 is low 14.05V used 4200 mAh")
    assert keys(first) == keys(second) == [text_key("Battery 1 is low #V used # mAh")]
    assert second is not None and second.findings[0].evidence["repeats"] == 2
    assert second.findings[0].severity is Severity.CRITICAL
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=9000)) != []
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=2000)) == []


def test_mission_stalled_when_the_item_does_not_change_in_auto() -> None:
    feed = Feed(settings=DetectorSettings(stall_s=30.0))
    det = MissionStallDetector()
    feed.heartbeat(det, "AUTO")
    feed.position(det, HOME_LAT_DEG, HOME_LON_DEG)
    feed.send(det, "MISSION_CURRENT", seq=4, total=20, mission_state=3, mission_mode=1)
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=20_000)) == []
    stalled = feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=11_000)
    assert stalled is not None and stalled.findings[0].evidence["stalled_s"] == 31.0
    feed.send(det, "MISSION_CURRENT", seq=5, total=20, mission_state=3, mission_mode=1)
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG)) == []
    feed.send(det, "MISSION_CURRENT", seq=20, total=21, mission_state=5, mission_mode=1)  # complete
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=60_000)) == []
    feed.heartbeat(det, "LOITER")
    assert keys(feed.position(det, HOME_LAT_DEG, HOME_LON_DEG, advance_ms=60_000)) == []
