"""Camera footprint maths against hand-computed values (QGroundControl's CameraCalc conventions)."""

from __future__ import annotations

import math

import pytest

from missions.camera import MAVIC_3E_WIDE, PHANTOM_4_RTK, ZENMUSE_H20_WIDE, Camera, camera_footprint

# A camera with round numbers: 10 x 5 mm sensor, 10 mm lens, 1000 x 500 px.
ROUND = Camera(
    sensor_width_mm=10.0, sensor_height_mm=5.0, focal_length_mm=10.0, image_width_px=1000, image_height_px=500
)


def test_landscape_footprint_matches_hand_computation() -> None:
    # GSD = 100 m * 10 mm * 100 / (1000 px * 10 mm) = 10 cm/px; footprint 1000 px x 10 cm = 100 m
    # across, 500 px x 10 cm = 50 m along; 20 % side overlap -> 80 m lanes; 60 % front -> 20 m.
    fp = camera_footprint(ROUND, 100.0, 20.0, 60.0)
    assert fp.gsd_cm_per_px == pytest.approx(10.0)
    assert fp.footprint_width_m == pytest.approx(100.0)
    assert fp.footprint_height_m == pytest.approx(50.0)
    assert fp.swath_m == pytest.approx(80.0)
    assert fp.trigger_distance_m == pytest.approx(20.0)


def test_portrait_swaps_across_and_along_track() -> None:
    fp = camera_footprint(ROUND, 100.0, 20.0, 60.0, landscape=False)
    assert fp.gsd_cm_per_px == pytest.approx(10.0)  # QGroundControl keeps the width-based GSD
    assert fp.footprint_width_m == pytest.approx(50.0)
    assert fp.footprint_height_m == pytest.approx(100.0)
    assert fp.swath_m == pytest.approx(40.0)
    assert fp.trigger_distance_m == pytest.approx(40.0)


def test_footprint_scales_linearly_with_altitude() -> None:
    low = camera_footprint(MAVIC_3E_WIDE, 50.0, 70.0, 80.0)
    high = camera_footprint(MAVIC_3E_WIDE, 100.0, 70.0, 80.0)
    assert high.gsd_cm_per_px == pytest.approx(2 * low.gsd_cm_per_px)
    assert high.swath_m == pytest.approx(2 * low.swath_m)
    assert high.trigger_distance_m == pytest.approx(2 * low.trigger_distance_m)


def test_mavic_3e_at_100_m_matches_the_pinhole_model() -> None:
    fp = camera_footprint(MAVIC_3E_WIDE, 100.0, 70.0, 80.0)
    across_m = 100.0 * 17.3 / 12.29  # alt x sensor width / focal length = 140.76 m
    assert fp.footprint_width_m == pytest.approx(across_m)
    assert fp.gsd_cm_per_px == pytest.approx(across_m * 100.0 / 5280)  # ~2.67 cm/px
    assert fp.footprint_height_m == pytest.approx(across_m * 3956 / 5280)
    assert fp.swath_m == pytest.approx(0.3 * across_m)
    assert fp.trigger_distance_m == pytest.approx(0.2 * across_m * 3956 / 5280)


def test_presets_give_plausible_patrol_figures() -> None:
    for cam in (MAVIC_3E_WIDE, ZENMUSE_H20_WIDE, PHANTOM_4_RTK):
        fp = camera_footprint(cam, 100.0, 70.0, 80.0)
        assert 1.0 < fp.gsd_cm_per_px < 5.0
        assert 20.0 < fp.swath_m < 60.0


def test_zero_overlap_spaces_lanes_by_the_whole_footprint() -> None:
    fp = camera_footprint(ROUND, 60.0, 0.0, 0.0)
    assert fp.swath_m == fp.footprint_width_m
    assert fp.trigger_distance_m == fp.footprint_height_m


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sensor_width_mm", 0.0),
        ("sensor_height_mm", -1.0),
        ("focal_length_mm", math.nan),
        ("image_width_px", 0),
        ("image_height_px", 12.5),
    ],
)
def test_camera_rejects_bad_specs_naming_the_field(field: str, value: float) -> None:
    spec: dict[str, float] = {
        "sensor_width_mm": 10.0,
        "sensor_height_mm": 5.0,
        "focal_length_mm": 10.0,
        "image_width_px": 1000,
        "image_height_px": 500,
    }
    spec[field] = value
    with pytest.raises(ValueError, match=field):
        Camera(**spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("alt_m", (0.0, 70.0, 80.0)),
        ("alt_m", (math.inf, 70.0, 80.0)),
        ("side_overlap_pct", (100.0, 100.0, 80.0)),
        ("side_overlap_pct", (100.0, -5.0, 80.0)),
        ("front_overlap_pct", (100.0, 70.0, 100.0)),
    ],
)
def test_footprint_rejects_bad_flight_settings_naming_the_field(
    field: str, args: tuple[float, float, float]
) -> None:
    with pytest.raises(ValueError, match=field):
        camera_footprint(ROUND, *args)
