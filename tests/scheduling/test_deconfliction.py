"""Planned 4-D paths: when two runs would share the air, and how a run is moved out of the way."""

from __future__ import annotations

from app.scheduling.deconfliction import (
    Path4D,
    Resolution,
    Separation,
    Traffic,
    Unresolved,
    first_encounter,
    resolve,
)

SEP = Separation(horizontal_m=50, vertical_m=20)


def line(
    y_m: float, alt_m: float, length_m: float = 1000, speed_mps: float = 10, *, west: bool = False
) -> Path4D:
    """Take off at one end, fly along y at alt_m (east, or west), land at the other end."""
    duration_s = length_m / speed_mps
    a, b = (length_m, 0.0) if west else (0.0, length_m)
    return Path4D(
        (0.0, 5.0, 5.0 + duration_s, 10.0 + duration_s),
        ((a, y_m, 0.0), (a, y_m, alt_m), (b, y_m, alt_m), (b, y_m, 0.0)),
    )


HEAD_ON = [Traffic(7, line(0, 40, west=True), 0.0)]
"""Run 7 flies the same lane the other way: the two meet halfway, far from both pads."""


def test_same_route_at_the_same_time_is_an_encounter_and_a_parallel_lane_100_m_away_is_not() -> None:
    other = [Traffic(7, line(0, 40), 0.0)]
    hit = first_encounter(line(0, 40), 0.0, other, SEP)
    assert hit is not None and hit.run_id == 7 and hit.horizontal_m < 1
    assert first_encounter(line(100, 40), 0.0, other, SEP) is None


def test_the_same_route_after_the_other_has_landed_is_clear() -> None:
    other = [Traffic(7, line(0, 40), 0.0)]
    assert first_encounter(line(0, 40), other[0].path.duration_s + 1, other, SEP) is None


def test_drones_on_their_pads_side_by_side_are_not_in_conflict() -> None:
    on_pad = Path4D((0.0, 100.0), ((10.0, 0.0, 0.0), (10.0, 0.0, 0.0)))
    assert (
        first_encounter(on_pad, 0.0, [Traffic(1, Path4D((0.0, 100.0), ((0.0, 0.0, 0.0),) * 2), 0.0)], SEP)
        is None
    )


def test_conflict_is_moved_to_the_nearest_allowed_layer_keeping_take_off_on_the_ground() -> None:
    other = HEAD_ON
    result = resolve(
        line(0, 40), 0.0, other, SEP, layer_ok=lambda _: True, max_layers=3, delay_step_s=60, max_delay_s=600
    )
    assert result == Resolution(alt_offset_m=25.0, delay_s=0.0)
    assert line(0, 40).shifted(25).xyz_m[0][2] == 0.0
    below_ceiling = resolve(
        line(0, 40),
        0.0,
        other,
        SEP,
        layer_ok=lambda off: off < 0,
        max_layers=3,
        delay_step_s=60,
        max_delay_s=600,
    )
    assert below_ceiling == Resolution(alt_offset_m=-25.0, delay_s=0.0)


def test_without_a_free_layer_the_run_is_delayed_until_the_air_is_clear_or_refused() -> None:
    other = HEAD_ON
    delayed = resolve(
        line(0, 40), 0.0, other, SEP, layer_ok=lambda _: False, max_layers=3, delay_step_s=30, max_delay_s=600
    )
    assert isinstance(delayed, Resolution) and delayed.alt_offset_m == 0
    assert first_encounter(line(0, 40), delayed.delay_s, other, SEP) is None
    assert first_encounter(line(0, 40), delayed.delay_s - 30, other, SEP) is not None
    refused = resolve(
        line(0, 40), 0.0, other, SEP, layer_ok=lambda _: False, max_layers=3, delay_step_s=30, max_delay_s=60
    )
    assert isinstance(refused, Unresolved) and refused.encounter.run_id == 7
