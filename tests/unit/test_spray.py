"""Disinfection spraying: coverage of the targets, the sprayer switched round no-spray zones, tank splits."""

from __future__ import annotations

import json
import math
from functools import cache
from itertools import pairwise

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box

from geofences.checks import PreparedFences, check_route
from geofences.frame import LocalFrame
from geofences.geojson import parse_zones
from geofences.model import FenceSet, Zone, ZoneKind
from geofences.sample import SITES_PATH, ZONES_PATH
from missions.items import MavCmd
from missions.plan import MissionPlan, Sortie
from missions.planner import plan_spray
from missions.profile import Battery, FlightProfile, Sprayer
from missions.sites import spray_targets
from missions.spray import SprayTarget, spray_alt_m

FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)
PROFILE = FlightProfile(alt_m=30.0, speed_mps=5.0, transit_speed_mps=10.0)
SPRAYER = Sprayer(tank_l=20.0, flow_l_per_min=2.0, swath_m=5.0)
HOME = FRAME.lonlat(ORIGIN[0] - 40.0, ORIGIN[1] - 40.0)


def wgs(geom_m: Polygon) -> Polygon:
    return FRAME.to_wgs84(affinity.translate(geom_m, *ORIGIN))


def local(sortie: Sortie) -> list[tuple[float, float, float]]:
    out = []
    for p in sortie.route:
        x, y = FRAME.xy(p.lon_deg, p.lat_deg)
        out.append((x - ORIGIN[0], y - ORIGIN[1], p.alt_rel_m))
    return out


def spray_legs(plan: MissionPlan) -> list[tuple[LineString, float]]:
    """Every sprayer-on leg (local metres) with its altitude, read from the routes."""
    out = []
    for sortie in plan.sorties:
        pts = local(sortie)
        for k, (a, b) in enumerate(pairwise(pts)):
            if sortie.route[k].sprayer_on:
                out.append((LineString([a[:2], b[:2]]), a[2]))
    return out


def sprayed(plan: MissionPlan, swath_m: float) -> shapely.Geometry:
    strips = [line.buffer(swath_m / 2.0, cap_style="flat") for line, _ in spray_legs(plan)]
    return shapely.union_all(strips)


ITEM_REL = 1e-4
ITEM_M = 0.03
"""Items carry positions in 1e-7 degrees (about 1 cm): a leg measured from them is within 3 cm."""


def litres_from_items(sortie: Sortie, litres_per_m: float) -> float:
    """Liquid one sortie sprays, from its mission items alone: metres flown between DO_SPRAYER 1 and 0."""
    total_m = 0.0
    on = False
    last: tuple[float, float] | None = None
    for item in sortie.items[1:]:
        if item.command == MavCmd.DO_SPRAYER:
            on = item.param1 == 1.0
        elif item.is_nav and item.command != MavCmd.NAV_RETURN_TO_LAUNCH:
            here = FRAME.xy(item.lon_deg, item.lat_deg)
            if on and last is not None:
                total_m += math.dist(last, here)
            last = here
    assert not on, "the sprayer must be off when the mission ends"
    return total_m * litres_per_m


def rect(cx: float, cy: float, w: float, h: float, angle: float) -> Polygon:
    return affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, origin=(cx, cy))


@st.composite
def scenes(draw: st.DrawFn) -> tuple[list[Polygon], Polygon | None, Polygon | None, float]:
    """One to three targets apart from each other, maybe an exclusion and a no-spray zone, a swath."""
    targets: list[Polygon] = []
    for k in range(draw(st.integers(1, 3))):
        cx = 60.0 + 160.0 * k + draw(st.floats(-20, 20))
        cy = draw(st.floats(40, 160))
        targets.append(
            rect(cx, cy, draw(st.floats(20, 90)), draw(st.floats(20, 90)), draw(st.floats(0, 180)))
        )
    exclusion = None
    if draw(st.booleans()):
        exclusion = rect(draw(st.floats(0, 450)), draw(st.floats(0, 200)), 30.0, 30.0, draw(st.floats(0, 90)))
    no_spray = None
    if draw(st.booleans()):
        no_spray = Point(draw(st.floats(0, 450)), draw(st.floats(0, 200))).buffer(draw(st.floats(8, 30)), 8)
    return targets, exclusion, no_spray, draw(st.sampled_from([3.0, 5.0, 8.0]))


@settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(scenes())
def test_spray_covers_targets_keeps_out_of_zones_and_flies_in_band(
    scene: tuple[list[Polygon], Polygon | None, Polygon | None, float],
) -> None:
    targets_m, exclusion, no_spray, swath_m = scene
    home_m = Point(-40.0, -40.0)
    assume(exclusion is None or exclusion.distance(home_m) > 20.0)
    zones = [
        Zone("INC", "district", ZoneKind.INCLUSION, polygon=wgs(box(-200, -200, 700, 400)), max_alt_m=120.0)
    ]
    if exclusion is not None:
        zones.append(Zone("EX", "school", ZoneKind.EXCLUSION, polygon=wgs(exclusion)))
    if no_spray is not None:
        zones.append(Zone("NS", "pond", ZoneKind.NO_SPRAY, polygon=wgs(no_spray)))
    fences = FenceSet(tuple(zones))
    sprayer = Sprayer(tank_l=8.0, flow_l_per_min=2.0, swath_m=swath_m)
    targets = [SprayTarget(f"T{k}", wgs(t), height_m=3.0 * k) for k, t in enumerate(targets_m)]
    plan = plan_spray(
        targets,
        home=HOME,
        sprayer=sprayer,
        profile=PROFILE,
        fences=fences,
        battery=Battery(capacity_wh=120.0),
    )

    # No leg in an exclusion zone (checked again here, independently of the plan's own check).
    prepared = PreparedFences(fences, FRAME)
    for sortie in plan.sorties:
        route = [(x + ORIGIN[0], y + ORIGIN[1], z) for x, y, z in local(sortie)]
        found = check_route(route, prepared, clearance_m=5.0 - 1e-3)
        assert not found, found[:3]
    assert plan.ok, plan.violations[:3]

    # Every altitude in its band: spraying at 5-10 m above the target's top, all under the ceiling.
    for sortie in plan.sorties:
        assert all(0.0 <= p.alt_rel_m <= 120.0 for p in sortie.route)
    wet = spray_legs(plan)
    assert wet
    tops = [3.0 * k for k in range(len(targets_m))]
    for line, alt in wet:
        k = min(range(len(targets_m)), key=lambda i: targets_m[i].distance(line))
        assert tops[k] + sprayer.min_height_m - 1e-6 <= alt <= tops[k] + sprayer.max_height_m + 1e-6

    # No spray lands in the no-spray zone; coverage of what may be sprayed is at least 99 %.
    footprint = sprayed(plan, swath_m)
    if no_spray is not None:
        assert footprint.intersection(no_spray).area < 1e-6
    blocked = []  # what cannot be sprayed
    if exclusion is not None:
        blocked.append(exclusion.buffer(5.0 + 0.5, join_style="mitre"))
    if no_spray is not None:  # the drift margin, and the lane it can cost where lanes run along it
        blocked.append(no_spray.buffer(swath_m + 0.5))
    keep_out = shapely.union_all(blocked) if blocked else None
    for t in targets_m:
        target_area = t if keep_out is None else t.difference(keep_out)
        if target_area.area < 50.0:
            continue
        covered = footprint.intersection(target_area).area / target_area.area
        assert covered >= 0.99, (covered, t.wkt)

    # The tank bounds every sortie; the litres reported are what the items spray.
    per_m = sprayer.litres_per_m(PROFILE.speed_mps)
    litres = [litres_from_items(s, per_m) for s in plan.sorties]
    slack_l = len(wet) * ITEM_M * per_m
    assert max(litres) <= sprayer.usable_l + slack_l
    assert sum(litres) == pytest.approx(plan.stats.extra["litres"], abs=slack_l)


def test_sprayer_is_on_over_the_target_and_off_in_turns_and_transit() -> None:
    target = SprayTarget("YARD", wgs(box(100.0, 0.0, 160.0, 40.0)))
    plan = plan_spray([target], home=HOME, sprayer=SPRAYER, profile=PROFILE)
    assert plan.ok and plan.kind == "spray" and plan.stats.sorties == 1
    commands = [(i.command, i.param1) for i in plan.sorties[0].items if i.command == MavCmd.DO_SPRAYER]
    assert commands[0] == (MavCmd.DO_SPRAYER, 1.0) and commands[-1] == (MavCmd.DO_SPRAYER, 0.0)
    assert all(a[1] != b[1] for a, b in pairwise(commands))  # strictly on, off, on, off ...
    route = plan.sorties[0].route
    assert all(not p.sprayer_on for p in route if p.alt_rel_m == PROFILE.alt_m)  # never spraying in transit
    assert {p.alt_rel_m for p in route if p.sprayer_on} == {SPRAYER.min_height_m}
    assert plan.stats.coverage_pct >= 99.0
    assert plan.stats.extra["sprayed_area_m2"] == pytest.approx(2400.0, rel=0.02)
    assert plan.stats.extra["litres_per_ha"] == pytest.approx(2.0 / 60.0 / 5.0 / 5.0 * 10_000.0)


def test_part_of_a_target_in_a_no_spray_zone_is_left_out_and_reported() -> None:
    pond = Zone("POND", "pond", ZoneKind.NO_SPRAY, polygon=wgs(box(140.0, -10.0, 200.0, 60.0)))
    target = SprayTarget("YARD", wgs(box(100.0, 0.0, 160.0, 40.0)))
    plan = plan_spray([target], home=HOME, sprayer=SPRAYER, profile=PROFILE, fences=FenceSet((pond,)))
    assert plan.ok
    assert plan.stats.extra["no_spray_removed_m2"] == pytest.approx(800.0, rel=1e-3)
    assert plan.stats.area_m2 == pytest.approx(1600.0, rel=1e-3)
    assert any("POND" in w and "left out" in w for w in plan.warnings)
    assert sprayed(plan, SPRAYER.swath_m).intersection(box(140.0, -10.0, 200.0, 60.0)).area < 1e-6


def test_tank_splits_sorties_and_the_next_resumes_where_it_ran_dry() -> None:
    target = SprayTarget("SQUARE", wgs(box(100.0, 0.0, 200.0, 100.0)))
    small = Sprayer(tank_l=2.3, flow_l_per_min=2.0, swath_m=5.0)  # 345 m of sweep: cuts fall mid-sweep
    plan = plan_spray([target], home=HOME, sprayer=small, profile=PROFILE)
    per_m = small.litres_per_m(PROFILE.speed_mps)
    litres = [litres_from_items(s, per_m) for s in plan.sorties]
    assert plan.ok and len(plan.sorties) == math.ceil(sum(litres) / small.usable_l - ITEM_REL) >= 3
    assert all(
        v == pytest.approx(small.usable_l, abs=10 * ITEM_M * per_m) for v in litres[:-1]
    )  # <= 10 sprayed legs each
    for before, after in pairwise(plan.sorties):
        pause = next(p for p in reversed(before.route) if p.role == "spray_pause")
        resume = next(p for p in after.route if p.role == "spray_resume")
        assert (pause.lon_deg, pause.lat_deg) == pytest.approx((resume.lon_deg, resume.lat_deg), abs=1e-9)
    assert plan.stats.coverage_pct >= 99.0


def test_spray_height_follows_the_fence_bands() -> None:
    sprayer = Sprayer(tank_l=10.0, flow_l_per_min=1.0, swath_m=4.0)
    assert spray_alt_m(0.0, sprayer) == (5.0, True)
    assert spray_alt_m(12.0, sprayer) == (17.0, True)
    assert spray_alt_m(0.0, sprayer, allowed=[(8.0, 120.0)]) == (8.0, True)
    assert spray_alt_m(0.0, sprayer, forbidden=[(0.0, 6.0)]) == (6.5, True)
    assert spray_alt_m(0.0, sprayer, allowed=[(15.0, 120.0)]) == (5.0, False)
    low_band = Zone(
        "LOW", "low wires", ZoneKind.EXCLUSION, polygon=wgs(box(90.0, -10.0, 170.0, 50.0)), max_alt_m=6.0
    )
    plan = plan_spray(
        [SprayTarget("YARD", wgs(box(100.0, 0.0, 160.0, 40.0)))],
        home=HOME,
        sprayer=sprayer,
        profile=PROFILE,
        fences=FenceSet((low_band,)),
    )
    assert plan.ok, plan.violations[:2]
    assert {p.alt_rel_m for p in plan.sorties[0].route if p.sprayer_on} == {6.5}


def test_bad_sprayers_and_targets_raise() -> None:
    with pytest.raises(ValueError, match="tank_l"):
        Sprayer(tank_l=0.0, flow_l_per_min=1.0, swath_m=4.0)
    with pytest.raises(ValueError, match="max_height_m"):
        Sprayer(tank_l=10.0, flow_l_per_min=1.0, swath_m=4.0, min_height_m=8.0, max_height_m=6.0)
    with pytest.raises(ValueError, match="reserve_frac"):
        Sprayer(tank_l=10.0, flow_l_per_min=1.0, swath_m=4.0, reserve_frac=1.0)
    with pytest.raises(ValueError, match="height_m"):
        SprayTarget("X", wgs(box(0, 0, 10, 10)), height_m=-1.0)
    with pytest.raises(ValueError, match="twice"):
        t = SprayTarget("X", wgs(box(0, 0, 10, 10)))
        plan_spray([t, t], home=HOME, sprayer=SPRAYER)
    whole_pond = Zone("POND", "pond", ZoneKind.NO_SPRAY, polygon=wgs(box(-10, -10, 20, 20)))
    with pytest.raises(ValueError, match="no-spray"):
        plan_spray(
            [SprayTarget("X", wgs(box(0, 0, 10, 10)))],
            home=HOME,
            sprayer=SPRAYER,
            fences=FenceSet((whole_pond,)),
        )


# --------------------------------------------------------------------------------------------
# The sample district (湖滨街道): sortie counts against the tank and the battery


@cache
def sample() -> tuple[tuple[SprayTarget, ...], FenceSet]:
    targets = spray_targets(json.loads(SITES_PATH.read_text(encoding="utf-8")))
    zones = parse_zones(json.loads(ZONES_PATH.read_text(encoding="utf-8")))
    return targets, FenceSet(tuple(z.zone for z in zones))


SAMPLE_HOME = (120.54, 31.49)
SAMPLE_PROFILE = FlightProfile(alt_m=30.0, speed_mps=5.0, transit_speed_mps=12.0)


@pytest.mark.parametrize(
    ("tank_l", "capacity_wh", "bound"),
    [(10.0, 500.0, "tank"), (200.0, 90.0, "battery"), (16.0, 130.0, "mixed")],
)
def test_sample_district_sorties_match_the_tank_and_battery_limits(
    tank_l: float, capacity_wh: float, bound: str
) -> None:
    """What is asserted, with L the litres sprayed (measured from the sorties' mission items: the
    metres flown between DO_SPRAYER on and off, times flow / speed), E the energy of the sorties
    and n the number of sorties:

    * every sortie sprays at most the usable tank and needs at most the usable battery;
    * ``n == max(n_tank, n_batt)`` with ``n_tank = ceil(L / usable tank)`` and
      ``n_batt = ceil(E / usable battery)``, the fewest sorties either budget allows. The tank
      split is exact (a sweep is cut where the tank runs dry), the battery split keeps whole
      sweeps, so in general it could need one sortie more than ``n_batt``; on the sample district
      it does not, for a tank-bound, a battery-bound and a mixed configuration.
    """
    targets, fences = sample()
    sprayer = Sprayer(tank_l=tank_l, flow_l_per_min=1.5, swath_m=5.0)
    battery = Battery(capacity_wh=capacity_wh)
    plan = plan_spray(
        targets, home=SAMPLE_HOME, sprayer=sprayer, profile=SAMPLE_PROFILE, fences=fences, battery=battery
    )
    assert plan.ok, plan.violations[:3]
    per_m = sprayer.litres_per_m(SAMPLE_PROFILE.speed_mps)
    litres = [litres_from_items(s, per_m) for s in plan.sorties]
    assert max(litres) <= sprayer.usable_l * (1.0 + ITEM_REL)
    assert max(s.energy_wh for s in plan.sorties) <= battery.usable_wh
    n_tank = math.ceil(sum(litres) / sprayer.usable_l - ITEM_REL)
    n_batt = math.ceil(sum(s.energy_wh for s in plan.sorties) / battery.usable_wh)
    assert len(plan.sorties) == plan.stats.sorties == max(n_tank, n_batt)
    assert (n_tank > n_batt) if bound == "tank" else (n_batt > n_tank)
    assert plan.stats.coverage_pct >= 99.0
    assert plan.stats.extra["litres"] == pytest.approx(sum(litres), rel=ITEM_REL)
