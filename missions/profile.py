"""Flight, speaker, sprayer and battery parameters the planners take, validated once at construction.

Defaults are those of a mid-size survey quadcopter flying ArduCopter with its stock navigation
parameters (WPNAV_SPEED_UP 2.5 m/s, WPNAV_SPEED_DN 1.5 m/s, WPNAV_ACCEL 2.5 m/s²), so a plan
estimated here matches what the autopilot will actually fly. Every check raises ``ValueError``
naming the field, because these values come from operators and API payloads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

EndAction = Literal["rtl", "land"]


def _require_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value <= 0.0:
            raise ValueError(f"{owner}.{name} must be a finite number > 0, got {value!r}")


def _require_non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"{owner}.{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class FlightProfile:
    """How the drone flies a mission.

    ``speed_mps`` is the working (survey, patrol) ground speed; ``transit_speed_mps`` is used on
    legs that only move the drone (home to the work, between grids, between hover points).
    ``turnaround_m`` is how far a sweep is extended past the area so the drone is straight and
    level when the camera starts. ``acceptance_radius_m`` is also the corner cut the energy model
    assumes when it works out how fast the copter can take a turn.
    """

    alt_m: float = 60.0
    speed_mps: float = 8.0
    transit_speed_mps: float = 12.0
    climb_mps: float = 2.5
    descent_mps: float = 1.5
    accel_mps2: float = 2.5
    turnaround_m: float = 0.0
    acceptance_radius_m: float = 2.0
    end_action: EndAction = "rtl"

    def __post_init__(self) -> None:
        _require_positive(
            "FlightProfile",
            alt_m=self.alt_m,
            speed_mps=self.speed_mps,
            transit_speed_mps=self.transit_speed_mps,
            climb_mps=self.climb_mps,
            descent_mps=self.descent_mps,
            accel_mps2=self.accel_mps2,
            acceptance_radius_m=self.acceptance_radius_m,
        )
        _require_non_negative("FlightProfile", turnaround_m=self.turnaround_m)
        if self.end_action not in ("rtl", "land"):
            raise ValueError(f"FlightProfile.end_action must be 'rtl' or 'land', got {self.end_action!r}")


@dataclass(frozen=True, slots=True)
class Speaker:
    """An airborne loudspeaker.

    The audible radius follows from spherical spreading (see ``missions.broadcast``): the message
    counts as heard where its level is at least ``min_margin_db`` above ``ambient_db``.
    ``audible_radius_m``, when given, is the horizontal radius on the ground measured in the field
    and overrides the model. ``relay`` is the ArduPilot relay number (RELAYn) that powers it.
    """

    level_db_at_1m: float = 125.0
    ambient_db: float = 60.0
    min_margin_db: float = 10.0
    audible_radius_m: float | None = None
    relay: int = 0

    def __post_init__(self) -> None:
        for name in ("level_db_at_1m", "ambient_db"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"Speaker.{name} must be finite, got {value!r}")
        _require_non_negative("Speaker", min_margin_db=self.min_margin_db)
        if self.audible_radius_m is not None:
            _require_positive("Speaker", audible_radius_m=self.audible_radius_m)
        if not 0 <= self.relay <= 15:
            raise ValueError(f"Speaker.relay must be an ArduPilot relay number 0..15, got {self.relay!r}")


@dataclass(frozen=True, slots=True)
class Battery:
    """Battery capacity and the power draw the energy model multiplies by time.

    ``climb_power_w`` is the power *added* to the base draw while climbing at the profile's climb
    rate; the extra energy is therefore proportional to the height gained. ``reserve_frac`` of the
    capacity is never planned: a sortie must finish with it still in the pack.
    """

    capacity_wh: float = 180.0
    reserve_frac: float = 0.25
    cruise_power_w: float = 450.0
    hover_power_w: float = 500.0
    climb_power_w: float = 250.0

    def __post_init__(self) -> None:
        _require_positive(
            "Battery",
            capacity_wh=self.capacity_wh,
            cruise_power_w=self.cruise_power_w,
            hover_power_w=self.hover_power_w,
        )
        _require_non_negative("Battery", climb_power_w=self.climb_power_w)
        if not math.isfinite(self.reserve_frac) or not 0.0 <= self.reserve_frac < 1.0:
            raise ValueError(f"Battery.reserve_frac must be in [0, 1), got {self.reserve_frac!r}")

    @property
    def usable_wh(self) -> float:
        """Energy a sortie may use: the capacity less the reserve."""
        return self.capacity_wh * (1.0 - self.reserve_frac)


@dataclass(frozen=True, slots=True)
class Sprayer:
    """A liquid sprayer as ArduCopter drives it (AC_Sprayer, switched by MAV_CMD_DO_SPRAYER).

    ``flow_l_per_min`` is the pump's flow at the profile's working speed. ArduCopter scales the
    pump with ground speed (``SPRAY_PUMP_RATE`` is per 1 m/s) and stops it below
    ``SPRAY_SPEED_MIN``, so the dose per square metre is constant and the litres a sweep needs are
    its length times ``flow / speed``: braking at sweep ends saves liquid, it does not pool it.
    ``swath_m`` is the sprayed width from ``min_height_m`` to ``max_height_m`` above the target,
    the heights the planner may choose between. ``reserve_frac`` of the tank is never planned
    (a pump near empty draws air), as the battery keeps its reserve.
    """

    tank_l: float
    flow_l_per_min: float
    swath_m: float
    min_height_m: float = 5.0
    max_height_m: float = 10.0
    reserve_frac: float = 0.0

    def __post_init__(self) -> None:
        _require_positive(
            "Sprayer",
            tank_l=self.tank_l,
            flow_l_per_min=self.flow_l_per_min,
            swath_m=self.swath_m,
            min_height_m=self.min_height_m,
            max_height_m=self.max_height_m,
        )
        if self.max_height_m < self.min_height_m:
            raise ValueError(
                f"Sprayer.max_height_m {self.max_height_m!r} must be >= min_height_m {self.min_height_m!r}"
            )
        if not math.isfinite(self.reserve_frac) or not 0.0 <= self.reserve_frac < 1.0:
            raise ValueError(f"Sprayer.reserve_frac must be in [0, 1), got {self.reserve_frac!r}")

    @property
    def usable_l(self) -> float:
        """Liquid a sortie may spray: the tank less the reserve."""
        return self.tank_l * (1.0 - self.reserve_frac)

    def litres_per_m(self, speed_mps: float) -> float:
        """Litres sprayed per metre of track at the working speed ``speed_mps``."""
        _require_positive("Sprayer", speed_mps=speed_mps)
        return self.flow_l_per_min / 60.0 / speed_mps


DEFAULT_BATTERY = Battery()
"""Used for the energy estimate when a caller gives no battery (no sortie splitting then)."""
