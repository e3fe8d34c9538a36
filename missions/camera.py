"""Camera geometry for survey patrols: ground sample distance, image footprint, lane and trigger spacing.

The maths follows QGroundControl's ``CameraCalc`` so a plan made here and the same survey drawn in
QGroundControl agree on lane spacing and trigger distance (operators compare the two):

* ground sample distance (cm/px) = alt x sensor width x 100 / (image width x focal length);
  QGroundControl derives it from the sensor *width* in both orientations, and so do we;
* landscape: the image width lies across the track (side), the image height along it (front);
  portrait swaps them;
* lane spacing (swath) = footprint across track x (1 - side overlap), trigger distance = footprint
  along track x (1 - front overlap).

The flat-ground pinhole model is deliberate: grids are city blocks, a few hundred metres wide,
where terrain relief is small against a 60-120 m flight altitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Camera:
    """A nadir camera: sensor size, lens focal length and image size (pixels)."""

    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int

    def __post_init__(self) -> None:
        # Validate on construction so a bad profile fails where it is loaded, not mid-planning.
        _require_positive("sensor_width_mm", self.sensor_width_mm)
        _require_positive("sensor_height_mm", self.sensor_height_mm)
        _require_positive("focal_length_mm", self.focal_length_mm)
        for name in ("image_width_px", "image_height_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one photo covers at a given altitude, and the spacing that gives the requested overlaps.

    ``footprint_width_m`` is across the flight track and ``footprint_height_m`` along it (after the
    orientation is applied), so ``swath_m`` is the lane spacing and ``trigger_distance_m`` the
    distance between photos along a lane.
    """

    gsd_cm_per_px: float
    footprint_width_m: float
    footprint_height_m: float
    swath_m: float
    trigger_distance_m: float


def _require_overlap(name: str, value_pct: float) -> None:
    # 100 % overlap would mean zero spacing (infinitely many lanes or photos), so it is refused.
    if not math.isfinite(value_pct) or not 0.0 <= value_pct < 100.0:
        raise ValueError(f"{name} must be in [0, 100), got {value_pct!r}")


def camera_footprint(
    camera: Camera,
    alt_m: float,
    side_overlap_pct: float,
    front_overlap_pct: float,
    *,
    landscape: bool = True,
) -> Footprint:
    """Ground sample distance, footprint, lane spacing and trigger distance at ``alt_m`` above ground."""
    _require_positive("alt_m", alt_m)
    _require_overlap("side_overlap_pct", side_overlap_pct)
    _require_overlap("front_overlap_pct", front_overlap_pct)
    gsd_cm_per_px = (alt_m * camera.sensor_width_mm * 100.0) / (
        camera.image_width_px * camera.focal_length_mm
    )
    if landscape:
        across_px, along_px = camera.image_width_px, camera.image_height_px
    else:
        across_px, along_px = camera.image_height_px, camera.image_width_px
    width_m = across_px * gsd_cm_per_px / 100.0
    height_m = along_px * gsd_cm_per_px / 100.0
    return Footprint(
        gsd_cm_per_px=gsd_cm_per_px,
        footprint_width_m=width_m,
        footprint_height_m=height_m,
        swath_m=width_m * (1.0 - side_overlap_pct / 100.0),
        trigger_distance_m=height_m * (1.0 - front_overlap_pct / 100.0),
    )


# Common patrol cameras (wide lens), from the makers' published specifications.
MAVIC_3E_WIDE = Camera(
    sensor_width_mm=17.3,
    sensor_height_mm=13.0,
    focal_length_mm=12.29,
    image_width_px=5280,
    image_height_px=3956,
)
"""DJI Mavic 3 Enterprise (3E) wide camera: 4/3" CMOS, 20 MP, 24 mm equivalent."""

ZENMUSE_H20_WIDE = Camera(
    sensor_width_mm=6.17,
    sensor_height_mm=4.55,
    focal_length_mm=4.5,
    image_width_px=4056,
    image_height_px=3040,
)
"""DJI Zenmuse H20 / H20T wide camera: 1/2.3" CMOS, 12 MP, 24 mm equivalent."""

PHANTOM_4_RTK = Camera(
    sensor_width_mm=13.2,
    sensor_height_mm=8.8,
    focal_length_mm=8.8,
    image_width_px=5472,
    image_height_px=3648,
)
"""DJI Phantom 4 RTK: 1" CMOS, 20 MP, 24 mm equivalent."""
