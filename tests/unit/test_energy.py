"""Time and energy along a route: trapezoidal legs, corner speeds, climb limits, power x time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from missions.energy import corner_speed_mps, estimate_route, trapezoid_time_s
from missions.profile import Battery, FlightProfile

PROFILE = FlightProfile(alt_m=50.0, speed_mps=10.0, transit_speed_mps=10.0, accel_mps2=2.0)
BATTERY = Battery(capacity_wh=200.0, cruise_power_w=400.0, hover_power_w=500.0, climb_power_w=300.0)


def test_long_level_leg_takes_cruise_time_plus_accel_and_brake() -> None:
    est = estimate_route([(0.0, 0.0, 50.0), (1000.0, 0.0, 50.0)], PROFILE, BATTERY)
    # accelerating and braking each take v/a seconds over v²/2a metres
    expected_s = 1000.0 / 10.0 + 10.0 / 2.0
    assert est.moving_s == pytest.approx(expected_s)
    assert est.energy_wh == pytest.approx(400.0 * expected_s / 3600.0)


def test_short_leg_never_reaches_cruise_speed() -> None:
    assert trapezoid_time_s(16.0, 0.0, 0.0, 10.0, 2.0) == pytest.approx(2.0 * math.sqrt(16.0 / 2.0))


def test_reversal_stops_the_copter() -> None:
    out_and_back = estimate_route([(0.0, 0.0, 50.0), (200.0, 0.0, 50.0), (0.0, 0.0, 50.0)], PROFILE, BATTERY)
    single = estimate_route([(0.0, 0.0, 50.0), (200.0, 0.0, 50.0)], PROFILE, BATTERY)
    assert out_and_back.legs[0].exit_speed_mps == 0.0
    assert out_and_back.moving_s == pytest.approx(2.0 * single.moving_s)


def test_waypoint_on_a_straight_line_costs_nothing() -> None:
    split = estimate_route([(0.0, 0.0, 50.0), (300.0, 0.0, 50.0), (700.0, 0.0, 50.0)], PROFILE, BATTERY)
    whole = estimate_route([(0.0, 0.0, 50.0), (700.0, 0.0, 50.0)], PROFILE, BATTERY)
    assert split.moving_s == pytest.approx(whole.moving_s)


def test_shallow_turn_is_faster_than_a_right_angle() -> None:
    def time_for(turn_deg: float) -> float:
        a = math.radians(turn_deg)
        pts = [(0.0, 0.0, 50.0), (200.0, 0.0, 50.0), (200.0 + 200.0 * math.cos(a), 200.0 * math.sin(a), 50.0)]
        return estimate_route(pts, PROFILE, BATTERY).moving_s

    assert time_for(10.0) < time_for(45.0) < time_for(90.0) < time_for(179.0)


def test_corner_speed_follows_the_arc_radius() -> None:
    # 90 degree turn cut by 2 m: arc radius 2 m, lateral accel 2 m/s²
    assert corner_speed_mps(math.pi / 2.0, 2.0, 2.0) == pytest.approx(2.0)
    assert corner_speed_mps(0.0, 2.0, 2.0) == math.inf
    assert corner_speed_mps(math.pi, 2.0, 2.0) == 0.0


def test_climb_is_limited_by_climb_rate_and_adds_climb_power() -> None:
    est = estimate_route([(0.0, 0.0, 0.0), (0.0, 0.0, 50.0)], PROFILE, BATTERY)
    leg = est.legs[0]
    assert leg.max_speed_mps == pytest.approx(PROFILE.climb_mps)
    assert est.moving_s >= 50.0 / PROFILE.climb_mps
    expected_j = 500.0 * leg.moving_s + 300.0 * 50.0 / PROFILE.climb_mps
    assert est.energy_wh == pytest.approx(expected_j / 3600.0)


def test_descent_is_limited_by_descent_rate() -> None:
    est = estimate_route([(0.0, 0.0, 50.0), (0.0, 0.0, 0.0)], PROFILE, BATTERY)
    assert est.legs[0].max_speed_mps == pytest.approx(PROFILE.descent_mps)
    assert est.legs[0].descent_m == pytest.approx(50.0)


def test_hover_adds_its_time_at_hover_power() -> None:
    pts = [(0.0, 0.0, 50.0), (100.0, 0.0, 50.0), (200.0, 0.0, 50.0)]
    base = estimate_route(pts, PROFILE, BATTERY, stops=[False, True, False])
    hovering = estimate_route(pts, PROFILE, BATTERY, hover_s=[0.0, 60.0, 0.0])
    assert hovering.duration_s == pytest.approx(base.duration_s + 60.0)
    assert hovering.energy_wh == pytest.approx(base.energy_wh + 500.0 * 60.0 / 3600.0)


def test_bad_inputs_are_refused() -> None:
    pts = [(0.0, 0.0, 50.0), (100.0, 0.0, 50.0)]
    with pytest.raises(ValueError, match="leg_speeds_mps"):
        estimate_route(pts, PROFILE, BATTERY, leg_speeds_mps=[1.0, 2.0])
    with pytest.raises(ValueError, match="speeds"):
        estimate_route(pts, PROFILE, BATTERY, leg_speeds_mps=[0.0])
    with pytest.raises(ValueError, match="hover"):
        estimate_route(pts, PROFILE, BATTERY, hover_s=[0.0, -1.0])


def test_profile_and_battery_name_the_bad_field() -> None:
    with pytest.raises(ValueError, match="speed_mps"):
        FlightProfile(speed_mps=0.0)
    with pytest.raises(ValueError, match="end_action"):
        FlightProfile(end_action="hover")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reserve_frac"):
        Battery(reserve_frac=1.0)
    with pytest.raises(ValueError, match="capacity_wh"):
        Battery(capacity_wh=float("nan"))
    assert Battery(capacity_wh=100.0, reserve_frac=0.25).usable_wh == pytest.approx(75.0)


coords = st.floats(min_value=-2000.0, max_value=2000.0, allow_nan=False)
alts = st.floats(min_value=0.0, max_value=120.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(coords, coords, alts), min_size=2, max_size=12))
def test_time_is_at_least_length_over_speed_and_energy_is_positive(
    pts: list[tuple[float, float, float]],
) -> None:
    est = estimate_route(pts, PROFILE, BATTERY)
    assert est.moving_s >= est.length_m / PROFILE.speed_mps - 1e-9
    assert est.energy_wh >= 0.0
    for leg in est.legs:
        assert leg.entry_speed_mps <= leg.max_speed_mps + 1e-9
        assert leg.exit_speed_mps <= leg.max_speed_mps + 1e-9
        assert math.isfinite(leg.moving_s)
