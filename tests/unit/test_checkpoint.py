"""Checkpoint hover: each point held for its time, arrival times, time windows, order."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import Point, box

from geofences.checks import PreparedFences, check_route
from geofences.frame import LocalFrame
from geofences.geojson import GeoJSONError, parse_sites, parse_zones
from geofences.model import FenceSet, Zone, ZoneKind
from geofences.sample import SITES_PATH, ZONES_PATH
from missions.checkpoint import Checkpoint, timetable
from missions.items import MavCmd
from missions.plan import MissionPlan
from missions.planner import plan_checkpoints
from missions.profile import Battery, FlightProfile
from missions.serialize import plan_from_dict, plan_to_dict
from missions.sites import checkpoints
from missions.tour import tour_length_m

FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)
PROFILE = FlightProfile(alt_m=40.0, speed_mps=6.0, transit_speed_mps=10.0)
HOME_M = (-30.0, -30.0)
HOME = FRAME.lonlat(ORIGIN[0] + HOME_M[0], ORIGIN[1] + HOME_M[1])


def point(code: str, x_m: float, y_m: float, hover_s: float = 30.0, **kw: float | None) -> Checkpoint:
    lon, lat = FRAME.lonlat(ORIGIN[0] + x_m, ORIGIN[1] + y_m)
    return Checkpoint(code, lon, lat, hover_s, **kw)


def hovers(plan: MissionPlan) -> list[tuple[tuple[float, float], float, float]]:
    """From the mission items: each NAV_LOITER_TIME's position (local metres), hold and altitude."""
    out = []
    for sortie in plan.sorties:
        for item in sortie.items:
            if item.command == MavCmd.NAV_LOITER_TIME:
                x, y = FRAME.xy(item.lon_deg, item.lat_deg)
                out.append(((x - ORIGIN[0], y - ORIGIN[1]), item.param1, item.z))
    return out


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 600), st.floats(0, 400), st.integers(1, 120), st.one_of(st.none(), st.floats(15, 80))
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["given", "optimised"]),
    st.one_of(st.none(), st.floats(80, 150)),  # every single checkpoint fits one battery
)
def test_every_checkpoint_is_held_in_band_outside_zones_with_arrivals_in_order(
    raw: list[tuple[float, float, int, float | None]], order: str, battery_wh: float | None
) -> None:
    school_m = box(250.0, 150.0, 330.0, 230.0)
    assume(all(school_m.distance(Point(x, y)) > 10.0 for x, y, _, _ in raw))
    assume(all(math.dist(a[:2], b[:2]) > 1.0 for a, b in pairwise(raw)))
    zones = (
        Zone(
            "INC",
            "district",
            ZoneKind.INCLUSION,
            polygon=FRAME.to_wgs84(affinity.translate(box(-200, -200, 800, 600), *ORIGIN)),
            max_alt_m=120.0,
        ),
        Zone(
            "SCHOOL",
            "school",
            ZoneKind.EXCLUSION,
            polygon=FRAME.to_wgs84(affinity.translate(school_m, *ORIGIN)),
        ),
    )
    fences = FenceSet(zones)
    points = [point(f"C{k}", x, y, float(h), alt_m=alt) for k, (x, y, h, alt) in enumerate(raw)]
    battery = None if battery_wh is None else Battery(capacity_wh=battery_wh)
    plan = plan_checkpoints(points, home=HOME, profile=PROFILE, fences=fences, battery=battery, order=order)  # type: ignore[arg-type]

    prepared = PreparedFences(fences, FRAME)
    for sortie in plan.sorties:
        route = [(*FRAME.xy(p.lon_deg, p.lat_deg), p.alt_rel_m) for p in sortie.route]
        assert not check_route(route, prepared, clearance_m=5.0 - 1e-3)
    assert plan.ok, plan.violations[:3]

    # Each checkpoint held once, for its hover time, at its altitude (or the profile's).
    held = hovers(plan)
    by_code = {p.code: p for p in points}
    arrivals = plan.stats.arrivals
    assert sorted(a.code for a in arrivals) == sorted(by_code)
    assert len(held) == len(points)
    for a, (pos, hold_s, alt) in zip(arrivals, held, strict=True):
        cp = by_code[a.code]
        x, y = FRAME.xy(cp.lon_deg, cp.lat_deg)
        assert pos == pytest.approx((x - ORIGIN[0], y - ORIGIN[1]), abs=0.02)
        assert hold_s == cp.hover_s and a.wait_s == 0.0
        assert alt == pytest.approx(PROFILE.alt_m if cp.alt_m is None else cp.alt_m, abs=1e-4)
    if order == "given":
        assert [a.code for a in arrivals] == [p.code for p in points]

    # Arrival times: a later checkpoint is reached no sooner than the hover and the straight
    # flight at transit speed from the one before allow (or, after a new take-off, the turnaround).
    climb_s = PROFILE.alt_m / PROFILE.climb_mps
    assert arrivals[0].arrival_s >= climb_s
    for a, b in pairwise(arrivals):
        pa, pb = by_code[a.code], by_code[b.code]
        gap_m = math.dist(FRAME.xy(pa.lon_deg, pa.lat_deg), FRAME.xy(pb.lon_deg, pb.lat_deg))
        if a.sortie == b.sortie:
            assert b.arrival_s >= a.arrival_s + pa.hover_s + gap_m / PROFILE.transit_speed_mps - 1e-6
        else:
            assert b.sortie == a.sortie + 1 and b.arrival_s >= a.arrival_s + pa.hover_s + 300.0
    assert arrivals[-1].arrival_s <= sum(s.flight_time_s for s in plan.sorties) + 300.0 * (
        len(plan.sorties) - 1
    )


def test_optimised_order_is_shorter_than_a_zigzag() -> None:
    zigzag = [point(f"C{k}", 100.0 * k, 300.0 if k % 2 else 0.0, 10.0) for k in range(6)]
    given_plan = plan_checkpoints(zigzag, home=HOME, profile=PROFILE)
    best = plan_checkpoints(zigzag, home=HOME, profile=PROFILE, order="optimised")
    assert [a.code for a in given_plan.stats.arrivals] == [p.code for p in zigzag]
    xy = {p.code: FRAME.xy(p.lon_deg, p.lat_deg) for p in zigzag}
    home = FRAME.xy(*HOME)

    def length(plan: MissionPlan) -> float:
        pts = [xy[a.code] for a in plan.stats.arrivals]
        return tour_length_m(pts, range(len(pts)), start=home, end=home)

    assert length(best) < 0.8 * length(given_plan)
    assert best.stats.length_m < given_plan.stats.length_m


def test_early_arrival_waits_for_the_window_and_late_arrival_is_a_violation() -> None:
    near = point("GATE", 100.0, 0.0, 20.0, earliest_s=200.0)
    plan = plan_checkpoints([near], home=HOME, profile=PROFILE)
    (a,) = plan.stats.arrivals
    assert plan.ok and a.arrival_s < 200.0 and a.wait_s == math.ceil(200.0 - a.arrival_s)
    (_, hold_s, _) = hovers(plan)[0]
    assert hold_s == 20.0 + a.wait_s  # the wait is flown as a longer hold
    assert plan.sorties[0].flight_time_s > 200.0 + 20.0

    late = point("BRIDGE", 500.0, 0.0, 20.0, latest_s=30.0)
    plan = plan_checkpoints([late], home=HOME, profile=PROFILE)
    (v,) = plan.violations
    assert v.kind == "time_window" and "BRIDGE" in v.message and v.sortie == 0
    assert plan.sorties[0].route[v.leg + 1].role == "checkpoint"


def test_later_sorties_start_after_the_turnaround() -> None:
    points = [point(f"C{k}", 150.0 * k, 200.0, 60.0) for k in range(4)]
    plan = plan_checkpoints(
        points, home=HOME, profile=PROFILE, battery=Battery(capacity_wh=40.0), turnaround_s=600.0
    )
    assert plan.ok and len(plan.sorties) >= 2
    first_of: dict[int, float] = {}
    for a in plan.stats.arrivals:
        first_of.setdefault(a.sortie, a.arrival_s)
    assert first_of[1] >= plan.sorties[0].flight_time_s + 600.0


def test_timetable_waits_and_shifts_later_arrivals() -> None:
    arrivals, waits = timetable(0.0, [10.0, 10.0, 10.0], [0.0, 5.0, 5.0, 0.0], [None, 30.0, None, None])
    assert arrivals == [0.0, 10.0, 45.0, 60.0] and waits == [0.0, 20.0, 0.0, 0.0]


def test_sample_district_checkpoints_report_arrivals() -> None:
    doc = json.loads(SITES_PATH.read_text(encoding="utf-8"))
    fences = FenceSet(tuple(z.zone for z in parse_zones(json.loads(ZONES_PATH.read_text(encoding="utf-8")))))
    points = checkpoints(doc, default_hover_s=30.0)
    assert [p.hover_s for p in points] == [60.0, 60.0, 60.0, 30.0, 60.0, 20.0]
    plan = plan_checkpoints(points, home=(120.54, 31.49), profile=PROFILE, fences=fences, order="optimised")
    assert plan.ok, plan.violations
    assert plan.stats.hover_points == 6 and len(plan.stats.arrivals) == 6


def test_bad_checkpoints_raise() -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        point("A", 0.0, 0.0, 12.5)
    with pytest.raises(ValueError, match="before earliest_s"):
        point("A", 0.0, 0.0, 10.0, earliest_s=100.0, latest_s=50.0)
    with pytest.raises(ValueError, match="hover_s"):
        point("A", 0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="order"):
        plan_checkpoints([point("A", 0.0, 0.0)], home=HOME, order="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        plan_checkpoints([point("A", 0.0, 0.0), point("A", 10.0, 0.0)], home=HOME)


def test_checkpoint_document_problems_are_all_reported() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "A", "kind": "checkpoint", "hover_s": -5},
                "geometry": {"type": "Point", "coordinates": [120.5, 31.4]},
            },
            {
                "type": "Feature",
                "properties": {"code": "B", "kind": "checkpint"},
                "geometry": {"type": "Point", "coordinates": [120.5, 31.4]},
            },
            {
                "type": "Feature",
                "properties": {"code": "C", "kind": "checkpoint"},
                "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
            },
            {
                "type": "Feature",
                "properties": {"code": "D", "kind": "spray_target"},
                "geometry": {"type": "Point", "coordinates": [120.5, 31.4]},
            },
        ],
    }
    with pytest.raises(GeoJSONError) as err:
        parse_sites(doc, kind="checkpoint")
    problems = {(p.code, p.field.rsplit("/", 1)[-1]) for p in err.value.problems}
    assert problems == {("A", "hover_s"), ("B", "kind"), ("C", "type")}  # D is another kind: skipped


def test_checkpoint_plan_survives_storage_with_its_arrivals() -> None:
    plan = plan_checkpoints([point("GATE", 100.0, 0.0, 20.0, earliest_s=200.0)], home=HOME, profile=PROFILE)
    stored = plan_from_dict(json.loads(json.dumps(plan_to_dict(plan))))
    assert stored == plan and stored.stats.arrivals[0].wait_s > 0.0
