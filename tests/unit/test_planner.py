"""The planners end to end: geometry and a profile in, a checked, compiled MissionPlan out."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from itertools import pairwise

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from geofences.frame import LocalFrame
from geofences.geojson import parse_grids, parse_zones
from geofences.model import Circle, FenceSet, Zone, ZoneKind
from geofences.sample import GRIDS_PATH, ZONES_PATH
from missions.camera import MAVIC_3E_WIDE
from missions.items import MavCmd
from missions.plan import MissionPlan, Sortie
from missions.planner import plan_broadcast, plan_coverage, plan_multi_grid, plan_perimeter
from missions.profile import Battery, FlightProfile, Speaker

FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)
PROFILE = FlightProfile(alt_m=60.0, speed_mps=8.0, transit_speed_mps=12.0)


def wgs(geom_m: Polygon) -> Polygon:
    """A shape given in metres around the test origin, as WGS-84."""
    return FRAME.to_wgs84(shapely.affinity.translate(geom_m, *ORIGIN))


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return FRAME.lonlat(ORIGIN[0] + x_m, ORIGIN[1] + y_m)


def local(sortie: Sortie) -> list[tuple[float, float, float]]:
    out = []
    for p in sortie.route:
        x, y = FRAME.xy(p.lon_deg, p.lat_deg)
        out.append((x - ORIGIN[0], y - ORIGIN[1], p.alt_rel_m))
    return out


def legs(plan: MissionPlan) -> list[LineString]:
    lines: list[LineString] = []
    for sortie in plan.sorties:
        pts = local(sortie)
        lines.extend(LineString([a[:2], b[:2]]) for a, b in pairwise(pts) if a[:2] != b[:2])
    return lines


GRID = wgs(box(0.0, 0.0, 400.0, 300.0))
HOME = lonlat(-30.0, -30.0)
SCHOOL_M = box(150.0, 100.0, 250.0, 200.0)
SCHOOL = Zone("school", "school", ZoneKind.EXCLUSION, polygon=wgs(SCHOOL_M))


def test_coverage_plan_is_compiled_checked_and_covers_the_grid() -> None:
    plan = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE)
    assert plan.ok and plan.kind == "coverage"
    assert plan.stats.sorties == len(plan.sorties) == 1
    assert plan.stats.coverage_pct >= 99.0
    assert plan.stats.photos > 0 and plan.stats.turns > 0
    assert plan.stats.area_m2 == pytest.approx(120000.0, rel=1e-3)
    items = plan.sorties[0].items
    assert [it.command for it in items[:3]] == [
        MavCmd.NAV_WAYPOINT,
        MavCmd.NAV_TAKEOFF,
        MavCmd.DO_CHANGE_SPEED,
    ]
    assert items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    commands = [it.command for it in items]
    assert commands.count(MavCmd.DO_SET_CAM_TRIGG_DIST) % 2 == 0
    assert plan.stats.extra["trigger_distance_m"] > 0
    footprints = shapely.from_wkt(plan.footprints_wkt)
    assert footprints.intersection(GRID).area / GRID.area >= 0.99
    est = plan.sorties[0]
    assert est.flight_time_s > est.length_m / PROFILE.transit_speed_mps


def test_swath_only_compiles_no_camera_commands_and_warns() -> None:
    plan = plan_coverage(GRID, home=HOME, profile=PROFILE, swath_m=40.0)
    assert MavCmd.DO_SET_CAM_TRIGG_DIST not in [it.command for it in plan.sorties[0].items]
    assert plan.stats.photos == 0
    assert any("no camera" in w for w in plan.warnings)


def test_identical_input_gives_identical_plan() -> None:
    fences = FenceSet((SCHOOL,))
    battery = Battery(capacity_wh=40.0)
    a = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE, fences=fences, battery=battery)
    b = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE, fences=fences, battery=battery)
    assert a == b


def test_transits_go_round_an_exclusion_zone() -> None:
    # home on the far side of the school from most of the grid
    plan = plan_broadcast(
        GRID,
        home=lonlat(200.0, 150.0 - 200.0),
        profile=PROFILE,
        speaker=Speaker(audible_radius_m=60.0),
        fences=FenceSet((SCHOOL,)),
    )
    assert plan.ok, plan.violations
    for leg in legs(plan):
        assert leg.distance(SCHOOL_M) >= 5.0 - 1e-3


def test_coverage_skips_the_exclusion_zone_and_reports_nothing() -> None:
    plan = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE, fences=FenceSet((SCHOOL,)))
    assert plan.ok, plan.violations
    for leg in legs(plan):
        assert leg.distance(SCHOOL_M) >= 5.0 - 1e-3


def test_home_inside_an_exclusion_zone_is_a_violation_not_an_error() -> None:
    plan = plan_coverage(
        GRID, home=lonlat(200.0, 150.0), profile=PROFILE, swath_m=40.0, fences=FenceSet((SCHOOL,))
    )
    assert not plan.ok
    assert {v.kind for v in plan.violations} == {"inside_exclusion"}
    assert all(v.zone_id == "school" for v in plan.violations)


def test_altitude_above_the_ceiling_is_a_violation() -> None:
    plan = plan_coverage(
        GRID, home=HOME, profile=FlightProfile(alt_m=150.0), swath_m=50.0, fences=FenceSet(ceiling_m=120.0)
    )
    assert "above_ceiling" in {v.kind for v in plan.violations}


def test_camera_is_off_over_a_no_photo_zone() -> None:
    police_m = box(180.0, 0.0, 220.0, 300.0)
    police = Zone("police", "police", ZoneKind.NO_PHOTO, polygon=wgs(police_m))
    plan = plan_coverage(
        GRID, home=HOME, profile=PROFILE, swath_m=30.0, fences=FenceSet((police,)), no_photo_margin_m=0.0
    )
    pts = local(plan.sorties[0])
    for k, (a, b) in enumerate(pairwise(pts)):
        if plan.sorties[0].route[k].camera_on:
            assert LineString([a[:2], b[:2]]).intersection(police_m).length < 1e-6
    assert 80.0 < plan.stats.coverage_pct < 95.0
    assert any("no-photo" in w for w in plan.warnings)


def test_battery_split_keeps_every_sortie_within_usable_energy() -> None:
    battery = Battery(capacity_wh=60.0, reserve_frac=0.25)
    whole = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE)
    split = plan_coverage(GRID, home=HOME, profile=PROFILE, camera=MAVIC_3E_WIDE, battery=battery)
    assert split.ok, split.violations
    assert split.stats.sorties > 1
    assert all(s.energy_wh <= battery.usable_wh for s in split.sorties)
    assert split.stats.photos == pytest.approx(whole.stats.photos, abs=split.stats.sorties)
    assert split.stats.coverage_pct == pytest.approx(whole.stats.coverage_pct)
    for sortie in split.sorties:
        assert sortie.route[0].role == "home" and sortie.route[1].role == "takeoff"
        assert sortie.items[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity_wh=st.floats(min_value=45.0, max_value=150.0),
    reserve_frac=st.floats(min_value=0.1, max_value=0.4),
)
def test_any_battery_split_gives_sorties_within_usable_energy(
    capacity_wh: float, reserve_frac: float
) -> None:
    battery = Battery(capacity_wh=capacity_wh, reserve_frac=reserve_frac)
    plan = plan_coverage(GRID, home=HOME, profile=PROFILE, swath_m=25.0, battery=battery)
    assert plan.ok, plan.violations
    assert all(s.energy_wh <= battery.usable_wh for s in plan.sorties)
    assert plan.stats.coverage_pct >= 99.0


def test_a_unit_beyond_one_battery_is_a_battery_violation() -> None:
    plan = plan_broadcast(
        GRID,
        home=HOME,
        profile=PROFILE,
        speaker=Speaker(audible_radius_m=80.0),
        message_s=600.0,
        repeats=3,
        battery=Battery(capacity_wh=50.0),
    )
    assert "battery" in {v.kind for v in plan.violations}


def test_broadcast_hovers_with_the_speaker_on_and_avoids_quiet_zones() -> None:
    hospital_m = Point(380.0, 280.0).buffer(20.0)
    hospital = Zone("hospital", "hospital", ZoneKind.QUIET, polygon=wgs(hospital_m))
    speaker = Speaker(audible_radius_m=70.0, relay=3)
    plan = plan_broadcast(
        GRID,
        home=HOME,
        profile=PROFILE,
        speaker=speaker,
        message_s=20.0,
        repeats=3,
        fences=FenceSet((hospital,)),
    )
    assert plan.ok
    hovers = [p for s in plan.sorties for p in s.route if p.role == "hover"]
    assert len(hovers) == plan.stats.hover_points > 0
    for p in hovers:
        x, y = FRAME.xy(p.lon_deg, p.lat_deg)
        assert Point(x - ORIGIN[0], y - ORIGIN[1]).distance(hospital_m) > 70.0
        assert p.hover_s == 60.0 and p.speaker_on
    items = plan.sorties[0].items
    loiters = [k for k, it in enumerate(items) if it.command == MavCmd.NAV_LOITER_TIME]
    for k in loiters:
        assert items[k].param1 == 60.0
        assert items[k - 1].command == MavCmd.DO_SET_RELAY and (items[k - 1].param1, items[k - 1].param2) == (
            3,
            1,
        )
        assert items[k + 1].command == MavCmd.DO_SET_RELAY and items[k + 1].param2 == 0
    extra = plan.stats.extra
    assert extra["uncovered_quiet_pct"] > 0.0
    assert extra["broadcast_points_ratio"] > 0.0
    assert plan.stats.coverage_pct >= 99.0 - extra["uncovered_quiet_pct"]


def test_perimeter_runs_inside_the_boundary() -> None:
    plan = plan_perimeter(GRID, home=HOME, profile=PROFILE, margin_m=15.0, direction="cw")
    assert plan.ok
    ring = [p for p in local(plan.sorties[0]) if p[2] > 0][1:-1]
    inner = box(15.0, 15.0, 385.0, 285.0)
    assert all(inner.exterior.distance(Point(p[:2])) < 1e-3 for p in ring)
    assert plan.stats.length_m > inner.length


def test_landing_elsewhere_ends_with_nav_land_there() -> None:
    spot = lonlat(420.0, 320.0)
    plan = plan_coverage(GRID, home=HOME, profile=PROFILE, swath_m=50.0, landing=spot)
    last = plan.sorties[-1].items[-1]
    assert last.command == MavCmd.NAV_LAND
    assert (last.lon_deg, last.lat_deg) == pytest.approx(spot, abs=2e-7)


def test_multi_grid_flies_grids_in_a_short_order() -> None:
    grids = [(f"G{k}", wgs(box(k * 300.0, 0.0, k * 300.0 + 200.0, 200.0))) for k in (3, 0, 2, 1)]
    plan = plan_multi_grid(grids, "perimeter", home=HOME, profile=PROFILE, margin_m=10.0)
    assert plan.ok
    xs = [
        FRAME.xy(p.lon_deg, p.lat_deg)[0] - ORIGIN[0]
        for p in plan.sorties[0].route
        if p.role == "perimeter_start"
    ]
    assert len(xs) == 4
    assert xs == sorted(xs) or xs == sorted(xs, reverse=True)
    assert plan.stats.extra["grids"] == 4.0


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="swath_m and camera"):
        plan_coverage(GRID, home=HOME)
    with pytest.raises(ValueError, match="message_s"):
        plan_broadcast(GRID, home=HOME, message_s=0.0)
    with pytest.raises(ValueError, match="inaudible"):
        plan_broadcast(GRID, home=HOME, speaker=Speaker(level_db_at_1m=80.0, ambient_db=60.0))
    with pytest.raises(ValueError, match="home"):
        plan_coverage(GRID, home=(500.0, 0.0), swath_m=20.0)
    with pytest.raises(ValueError, match="grids"):
        plan_multi_grid([], "coverage", home=HOME)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cx=st.floats(min_value=60.0, max_value=340.0),
    cy=st.floats(min_value=60.0, max_value=240.0),
    radius_m=st.floats(min_value=10.0, max_value=50.0),
    home_angle=st.floats(min_value=0.0, max_value=2 * math.pi),
)
def test_no_leg_enters_an_exclusion_zone_and_all_under_the_ceiling(
    cx: float, cy: float, radius_m: float, home_angle: float
) -> None:
    centre = lonlat(cx, cy)
    zone = Zone("tower", "tower", ZoneKind.EXCLUSION, circle=Circle(centre[0], centre[1], radius_m))
    home = lonlat(200.0 + 300.0 * math.cos(home_angle), 150.0 + 250.0 * math.sin(home_angle))
    fences = FenceSet((zone,), ceiling_m=100.0)
    disc = Point(cx, cy).buffer(radius_m)
    for plan in (
        plan_coverage(GRID, home=home, profile=PROFILE, swath_m=40.0, fences=fences),
        plan_broadcast(
            GRID, home=home, profile=PROFILE, speaker=Speaker(audible_radius_m=90.0), fences=fences
        ),
    ):
        assert plan.ok, plan.violations
        for leg in legs(plan):
            assert leg.distance(disc) > 4.9
        assert all(p.alt_rel_m <= 100.0 for s in plan.sorties for p in s.route)


def _sample_district() -> tuple[list[tuple[str, Polygon | MultiPolygon]], FenceSet]:
    grids = parse_grids(json.loads(GRIDS_PATH.read_text(encoding="utf-8")))
    zones = parse_zones(json.loads(ZONES_PATH.read_text(encoding="utf-8")))
    return [(g.code, g.geometry) for g in grids], FenceSet(tuple(z.zone for z in zones))


def _safe_home(grid: Polygon | MultiPolygon, fences: FenceSet) -> tuple[float, float]:
    blocked: Sequence[Polygon] = [
        z.polygon for z in fences.of_kind(ZoneKind.EXCLUSION) if z.polygon is not None
    ]
    free = grid.difference(shapely.union_all(blocked).buffer(3e-4)) if blocked else grid
    p = free.representative_point()
    return p.x, p.y


def test_whole_sample_district_plans_cleanly_and_fast() -> None:
    grids, fences = _sample_district()
    homes = [_safe_home(g, fences) for _, g in grids]
    started = time.process_time()
    plans = []
    for (_, grid), home in zip(grids, homes, strict=True):
        plans.append(plan_coverage(grid, home=home, camera=MAVIC_3E_WIDE, fences=fences))
        plans.append(plan_broadcast(grid, home=home, fences=fences))
    cpu_s = time.process_time() - started
    assert cpu_s < 5.0
    for plan in plans:
        assert plan.ok, plan.violations[:3]
        assert plan.sorties
