"""Work estimates from a plan's inputs (missions.limits): low enough never to refuse a plan that fits,
and what `aerogrid plan` does with them.

The estimates must stay at or below what the planner really lays out, so that a refusal is never
wrong; each test plans for real and compares.
"""

from __future__ import annotations

import argparse
import pickle

import pytest
from shapely.geometry import Polygon, shape

from app import cli_plan
from app.services.sample import sample_document
from geofences.sample import GRIDS_PATH
from missions import sites
from missions.checkpoint import Checkpoint
from missions.job import PlanJob, run_job
from missions.limits import (
    ARDUCOPTER_MAX_ITEMS,
    PlanLimits,
    PlanTooLarge,
    check_estimate,
    check_sorties,
    estimate_work,
)
from missions.plan import MissionPlan
from missions.planner import plan_checkpoints, plan_inspection, plan_multi_grid, plan_spray
from missions.profile import Battery, Speaker, Sprayer

SITES_HOME = (120.54, 31.49)
GRIDS = [(g["properties"]["code"], shape(g["geometry"])) for g in sample_document("grids")["features"][:3]]


def home_of(area: Polygon) -> tuple[float, float]:
    c = area.representative_point()
    return c.x, c.y


def sweeps(plan: MissionPlan) -> int:
    return sum(1 for s in plan.sorties for p in s.route if p.role == "sweep_start")


@pytest.mark.parametrize("swath_m", [40.0, 10.0, 3.0])
def test_coverage_estimate_is_at_most_the_lanes_and_items_planned(swath_m: float) -> None:
    for code, area in GRIDS:
        plan = plan_multi_grid([(code, area)], "coverage", home=home_of(area), swath_m=swath_m)
        est = estimate_work("coverage", [area], {"swath_m": swath_m})
        assert 0 < est.lanes <= sweeps(plan)
        assert est.items <= sum(len(s.items) for s in plan.sorties)


@pytest.mark.parametrize("radius_m", [150.0, 60.0, 30.0])
def test_broadcast_estimate_is_at_most_the_hover_points_planned(radius_m: float) -> None:
    code, area = GRIDS[0]
    speaker = Speaker(audible_radius_m=radius_m)
    plan = plan_multi_grid([(code, area)], "broadcast", home=home_of(area), speaker=speaker)
    est = estimate_work("broadcast", [area], {"speaker": speaker})
    assert 0 < est.hover_points <= plan.stats.hover_points


def test_inspection_estimate_is_at_most_the_items_planned() -> None:
    key_sites = sites.inspection_sites(sample_document("sites"))
    for step_deg in (45.0, 10.0):
        plan = plan_inspection(key_sites, home=SITES_HOME, photo_step_deg=step_deg, battery=Battery(capacity_wh=2000))
        est = estimate_work("inspect", [], {"sites": key_sites, "photo_step_deg": step_deg})
        assert 0 < est.items <= sum(len(s.items) for s in plan.sorties)


def test_spray_estimate_is_at_most_the_lanes_and_items_planned() -> None:
    targets = sites.spray_targets(sample_document("sites"))
    sprayer = Sprayer(tank_l=1000, flow_l_per_min=1.5, swath_m=5.0)
    plan = plan_spray(targets, home=SITES_HOME, sprayer=sprayer, battery=Battery(capacity_wh=5000))
    est = estimate_work("spray", [], {"targets": targets, "sprayer": sprayer})
    assert 0 < est.lanes <= sweeps(plan)
    assert est.items <= sum(len(s.items) for s in plan.sorties)


def test_checkpoint_estimate_counts_each_point_as_a_hover_point() -> None:
    _, area = GRIDS[0]
    lon, lat = home_of(area)
    points = [Checkpoint(f"CP-{n}", lon + 1e-4 * n, lat, hover_s=10) for n in range(5)]
    plan = plan_checkpoints(points, home=(lon, lat))
    est = estimate_work("checkpoint", [], {"points": points})
    assert est.hover_points == 5 == plan.stats.hover_points
    assert est.items <= len(plan.sorties[0].items)


def test_a_refusal_names_the_field_and_the_limit() -> None:
    _, area = GRIDS[0]
    est = estimate_work("coverage", [area], {"swath_m": 0.02})
    with pytest.raises(PlanTooLarge) as refused:
        check_estimate(est, PlanLimits(), one_sortie=False)
    assert (refused.value.field, refused.value.limit, refused.value.value) == ("swath_m", "max_lanes", 4000)
    assert str(refused.value).startswith("swath_m:") and "4000" in str(refused.value)


def test_one_sortie_must_fit_arducopters_mission_but_a_battery_split_may_not() -> None:
    areas = [a for _, a in GRIDS]
    est = estimate_work("coverage", areas, {"swath_m": 2.0})
    assert est.items > ARDUCOPTER_MAX_ITEMS
    check_estimate(est, PlanLimits(), one_sortie=False)
    with pytest.raises(PlanTooLarge) as refused:
        check_estimate(est, PlanLimits(), one_sortie=True)
    assert refused.value.limit == "max_items_per_sortie"


def test_a_planned_sortie_over_the_item_limit_is_refused() -> None:
    code, area = GRIDS[0]
    plan = plan_multi_grid([(code, area)], "coverage", home=home_of(area), swath_m=10.0)
    items = len(plan.sorties[0].items)
    check_sorties(plan, PlanLimits(max_items_per_sortie=items), "swath_m")
    with pytest.raises(PlanTooLarge) as refused:
        check_sorties(plan, PlanLimits(max_items_per_sortie=items - 1), "swath_m")
    assert refused.value.estimate == items and "sortie 0" in str(refused.value)


def test_no_limit_may_let_a_sortie_exceed_arducopters_storage() -> None:
    with pytest.raises(ValueError, match="max_items_per_sortie"):
        PlanLimits(max_items_per_sortie=ARDUCOPTER_MAX_ITEMS + 1)


def test_a_grid_given_twice_is_refused_by_the_planner() -> None:
    code, area = GRIDS[0]
    with pytest.raises(ValueError, match="appears twice"):
        plan_multi_grid([(code, area), (code, area)], "coverage", home=home_of(area), swath_m=40.0)


def test_a_plan_job_and_its_plan_survive_pickling_to_a_worker() -> None:
    code, area = GRIDS[0]
    job = PlanJob("coverage", ((code, area),), home_of(area), {"swath_m": 40.0})
    plan = run_job(pickle.loads(pickle.dumps(job)))
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_cli_refuses_a_plan_over_its_own_limits(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="aerogrid plan")
    cli_plan.add_arguments(parser)
    argv = [str(GRIDS_PATH), "--grid", GRIDS[0][0], "--home", "120.54,31.49", "--kind", "coverage"]
    rc = cli_plan.run(parser.parse_args([*argv, "--swath-m", "0.002"]))
    assert rc == 2
    err = capsys.readouterr().err
    assert "swath_m" in err and str(cli_plan.CLI_LIMITS.max_lanes) in err
