"""Point-mass multicopter kinematics, wind and battery for the simulator.

The model is deliberately simple: acceleration-limited motion toward a target at the speeds the
WPNAV_* parameters give, a constant wind plus a seeded gust process that the position controller
mostly rejects, an airspeed limit that lets strong headwinds slow the vehicle, and an electrical
power model feeding a LiPo pack with a realistic voltage curve. It is enough for link, mission and
failsafe behaviour; it is not a flight dynamics model.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from enum import Enum

GRAVITY_MPS2 = 9.80665

# LiPo open-circuit voltage per cell against state of charge (fraction, volts).
_LIPO_OCV_CURVE: tuple[tuple[float, float], ...] = (
    (0.00, 3.27),
    (0.05, 3.61),
    (0.10, 3.69),
    (0.20, 3.74),
    (0.30, 3.77),
    (0.40, 3.79),
    (0.50, 3.82),
    (0.60, 3.87),
    (0.70, 3.92),
    (0.80, 3.97),
    (0.90, 4.10),
    (1.00, 4.20),
)


_OCV_SOC_POINTS = tuple(soc for soc, _ in _LIPO_OCV_CURVE)


def lipo_cell_ocv_v(state_of_charge: float) -> float:
    """Open-circuit cell voltage for a state of charge in 0..1 (linear between table points)."""
    soc = min(1.0, max(0.0, state_of_charge))
    upper = max(1, bisect.bisect_left(_OCV_SOC_POINTS, soc))
    soc_lo, v_lo = _LIPO_OCV_CURVE[upper - 1]
    soc_hi, v_hi = _LIPO_OCV_CURVE[upper]
    return v_lo + (v_hi - v_lo) * (soc - soc_lo) / (soc_hi - soc_lo)


class MotionKind(Enum):
    """How the airframe should move this step."""

    GROUNDED = "grounded"  # motors off or idle on the ground
    POSITION = "position"  # fly to north/east/alt at the given speeds
    DRIFT = "drift"  # hold altitude, no horizontal position control (ALT_HOLD without sticks)
    DESCEND = "descend"  # hold north/east, descend at descent_mps until touchdown


@dataclass(slots=True)
class MotionCommand:
    kind: MotionKind = MotionKind.GROUNDED
    north_m: float = 0.0
    east_m: float = 0.0
    alt_amsl_m: float = 0.0
    speed_mps: float = 10.0
    accel_mps2: float = 2.5
    climb_mps: float = 2.5
    descent_mps: float = 1.5
    yaw_deg: float | None = None


@dataclass(frozen=True, slots=True)
class PowerProfile:
    """Electrical power draw of the simulated airframe (a ~1.5 kg quad on 4S)."""

    avionics_w: float = 3.0
    idle_armed_w: float = 25.0
    hover_w: float = 180.0
    drag_w_per_mps2: float = 0.45  # extra watts per (airspeed m/s)^2
    climb_w_per_mps: float = 40.0
    descent_saving_w_per_mps: float = 15.0


class Wind:
    """Constant wind plus an Ornstein-Uhlenbeck gust per axis, seeded."""

    GUST_TIME_CONSTANT_S = 4.0

    def __init__(self, speed_mps: float, from_deg: float, rng: random.Random) -> None:
        self.speed_mps = speed_mps
        self.from_deg = from_deg
        self._rng = rng
        self.gust_n_mps = 0.0
        self.gust_e_mps = 0.0

    @property
    def steady_ne_mps(self) -> tuple[float, float]:
        """Air mass velocity (where the wind blows to), north/east."""
        to_rad = math.radians(self.from_deg + 180.0)
        return self.speed_mps * math.cos(to_rad), self.speed_mps * math.sin(to_rad)

    def step(self, dt_s: float) -> None:
        sigma = 0.25 * self.speed_mps
        if sigma <= 0.0:
            self.gust_n_mps = self.gust_e_mps = 0.0
            return
        tau = self.GUST_TIME_CONSTANT_S
        decay = dt_s / tau
        noise = sigma * math.sqrt(2.0 * dt_s / tau)
        self.gust_n_mps += -self.gust_n_mps * decay + noise * self._rng.gauss(0.0, 1.0)
        self.gust_e_mps += -self.gust_e_mps * decay + noise * self._rng.gauss(0.0, 1.0)


def _limit(vec_n: float, vec_e: float, max_norm: float) -> tuple[float, float]:
    norm = math.hypot(vec_n, vec_e)
    if norm <= max_norm or norm == 0.0:
        return vec_n, vec_e
    scale = max_norm / norm
    return vec_n * scale, vec_e * scale


class Airframe:
    """Position, velocity and attitude of one vehicle in a local north/east/up frame."""

    MAX_AIRSPEED_MPS = 18.0
    VERTICAL_ACCEL_MPS2 = 2.5
    YAW_RATE_DPS = 90.0
    GUST_REJECTION = 0.85  # share of the gust the position controller cancels

    def __init__(self, ground_amsl_m: float, wind: Wind) -> None:
        self.north_m = 0.0
        self.east_m = 0.0
        self.ground_amsl_m = ground_amsl_m
        self.alt_amsl_m = ground_amsl_m
        self.vel_n_mps = 0.0
        self.vel_e_mps = 0.0
        self._ctrl_n_mps = 0.0  # the position controller's own (gust-free) velocity
        self._ctrl_e_mps = 0.0
        self.vel_up_mps = 0.0
        self.accel_n_mps2 = 0.0
        self.accel_e_mps2 = 0.0
        self.yaw_deg = 0.0
        self.yaw_rate_dps = 0.0
        self.wind = wind
        self.drift_ne_mps = (0.0, 0.0)  # an uncorrected push (faults.drift): moves the vehicle off track

    @property
    def on_ground(self) -> bool:
        return self.alt_amsl_m <= self.ground_amsl_m + 0.01

    @property
    def height_m(self) -> float:
        """Height above the (flat) ground."""
        return self.alt_amsl_m - self.ground_amsl_m

    @property
    def groundspeed_mps(self) -> float:
        return math.hypot(self.vel_n_mps, self.vel_e_mps)

    @property
    def airspeed_mps(self) -> float:
        wind_n, wind_e = self._wind_ne()
        return math.hypot(self.vel_n_mps - wind_n, self.vel_e_mps - wind_e)

    def _wind_ne(self) -> tuple[float, float]:
        steady_n, steady_e = self.wind.steady_ne_mps
        return steady_n + self.wind.gust_n_mps, steady_e + self.wind.gust_e_mps

    def attitude_rad(self) -> tuple[float, float]:
        """(roll, pitch) that would produce the current acceleration against air drag."""
        wind_n, wind_e = self._wind_ne()
        air_n, air_e = self.vel_n_mps - wind_n, self.vel_e_mps - wind_e
        drag = 0.03 * math.hypot(air_n, air_e)
        tilt_n = (self.accel_n_mps2 + drag * air_n) / GRAVITY_MPS2
        tilt_e = (self.accel_e_mps2 + drag * air_e) / GRAVITY_MPS2
        yaw_rad = math.radians(self.yaw_deg)
        forward = tilt_n * math.cos(yaw_rad) + tilt_e * math.sin(yaw_rad)
        right = -tilt_n * math.sin(yaw_rad) + tilt_e * math.cos(yaw_rad)
        return math.atan(right), -math.atan(forward)

    def step(self, command: MotionCommand, dt_s: float) -> None:
        """Advance ``dt_s`` simulated seconds under ``command``."""
        old_n, old_e = self.vel_n_mps, self.vel_e_mps
        if command.kind is MotionKind.GROUNDED:
            self.vel_n_mps = self.vel_e_mps = self.vel_up_mps = 0.0
            self._ctrl_n_mps = self._ctrl_e_mps = 0.0
            self.accel_n_mps2 = self.accel_e_mps2 = 0.0
            self.alt_amsl_m = max(self.alt_amsl_m, self.ground_amsl_m)
            self.yaw_rate_dps = 0.0
            return
        # Gusts only matter in the air; skipping them on the ground keeps idle fleets cheap.
        self.wind.step(dt_s)
        self._step_horizontal(command, dt_s)
        self._step_vertical(command, dt_s)
        self.accel_n_mps2 = (self.vel_n_mps - old_n) / dt_s
        self.accel_e_mps2 = (self.vel_e_mps - old_e) / dt_s
        self._step_yaw(command, dt_s)

    def _step_horizontal(self, command: MotionCommand, dt_s: float) -> None:
        wind_n, wind_e = self._wind_ne()
        steady_n, steady_e = self.wind.steady_ne_mps
        if command.kind is MotionKind.DRIFT:
            want_n, want_e = steady_n, steady_e
            accel = 1.0
        else:
            target_n, target_e = command.north_m, command.east_m
            delta_n, delta_e = target_n - self.north_m, target_e - self.east_m
            dist = math.hypot(delta_n, delta_e)
            accel = max(0.1, command.accel_mps2)
            if dist < 1e-3:
                want_n = want_e = 0.0
            else:
                # Brake so as to stop at the target: v^2 = 2 a d, and never step past it.
                speed = min(command.speed_mps, math.sqrt(2.0 * accel * dist), dist / dt_s)
                want_n, want_e = delta_n / dist * speed, delta_e / dist * speed
        change_n, change_e = _limit(want_n - self._ctrl_n_mps, want_e - self._ctrl_e_mps, accel * dt_s)
        cmd_n, cmd_e = self._ctrl_n_mps + change_n, self._ctrl_e_mps + change_e
        # The airframe cannot exceed its airspeed: a strong headwind costs groundspeed.
        air_n, air_e = _limit(cmd_n - steady_n, cmd_e - steady_e, self.MAX_AIRSPEED_MPS)
        self._ctrl_n_mps, self._ctrl_e_mps = air_n + steady_n, air_e + steady_e
        # Gusts the controller has not cancelled yet push the vehicle off its track a little; they
        # are not part of the controller's own velocity, so they do not accumulate.
        residual = 1.0 - self.GUST_REJECTION
        drift_n, drift_e = self.drift_ne_mps
        self.vel_n_mps = self._ctrl_n_mps + (wind_n - steady_n) * residual + drift_n
        self.vel_e_mps = self._ctrl_e_mps + (wind_e - steady_e) * residual + drift_e
        self.north_m += self.vel_n_mps * dt_s
        self.east_m += self.vel_e_mps * dt_s

    def _step_vertical(self, command: MotionCommand, dt_s: float) -> None:
        if command.kind is MotionKind.DESCEND:
            want_up = -command.descent_mps
        else:
            delta = command.alt_amsl_m - self.alt_amsl_m
            profile = math.sqrt(2.0 * self.VERTICAL_ACCEL_MPS2 * abs(delta))
            want_up = math.copysign(min(profile, abs(delta) / dt_s), delta)
            want_up = min(command.climb_mps, max(-command.descent_mps, want_up))
        step = self.VERTICAL_ACCEL_MPS2 * dt_s
        self.vel_up_mps += min(step, max(-step, want_up - self.vel_up_mps))
        self.alt_amsl_m += self.vel_up_mps * dt_s
        if self.alt_amsl_m <= self.ground_amsl_m:
            self.alt_amsl_m = self.ground_amsl_m
            self.vel_up_mps = max(0.0, self.vel_up_mps)
            self.vel_n_mps = self.vel_e_mps = 0.0
            self._ctrl_n_mps = self._ctrl_e_mps = 0.0

    def _step_yaw(self, command: MotionCommand, dt_s: float) -> None:
        if command.yaw_deg is None:
            self.yaw_rate_dps = 0.0
            return
        error = (command.yaw_deg - self.yaw_deg + 180.0) % 360.0 - 180.0
        max_step = self.YAW_RATE_DPS * dt_s
        turn = min(max_step, max(-max_step, error))
        self.yaw_deg = (self.yaw_deg + turn) % 360.0
        self.yaw_rate_dps = turn / dt_s


def electrical_power_w(
    profile: PowerProfile, *, armed: bool, airborne: bool, airspeed_mps: float, climb_mps: float
) -> float:
    """Battery draw for the current flight condition."""
    if not armed:
        return profile.avionics_w
    if not airborne:
        return profile.avionics_w + profile.idle_armed_w
    power = profile.hover_w + profile.drag_w_per_mps2 * airspeed_mps**2
    if climb_mps >= 0.0:
        power += profile.climb_w_per_mps * climb_mps
    else:
        power += profile.descent_saving_w_per_mps * climb_mps
    return profile.avionics_w + max(0.6 * profile.hover_w, power)


class Battery:
    """A LiPo pack: energy bookkeeping, loaded voltage and the numbers BATTERY_STATUS reports."""

    def __init__(self, cells: int, capacity_wh: float, internal_resistance_ohm: float) -> None:
        self.cells = cells
        self.capacity_wh = capacity_wh
        self.internal_resistance_ohm = internal_resistance_ohm
        self.remaining_wh = capacity_wh
        self.consumed_mah = 0.0
        self.consumed_wh = 0.0
        self.current_a = 0.0
        self.voltage_v = self.open_circuit_v

    @property
    def state_of_charge(self) -> float:
        return max(0.0, self.remaining_wh / self.capacity_wh)

    @property
    def remaining_pct(self) -> float:
        return 100.0 * self.state_of_charge

    @property
    def open_circuit_v(self) -> float:
        return self.cells * lipo_cell_ocv_v(self.state_of_charge)

    def step(self, power_w: float, dt_s: float) -> None:
        ocv = self.open_circuit_v
        current = power_w / max(ocv, 1.0)
        loaded_v = ocv - current * self.internal_resistance_ohm
        current = power_w / max(loaded_v, 1.0)
        self.current_a = current
        self.voltage_v = ocv - current * self.internal_resistance_ohm
        energy_wh = power_w * dt_s / 3600.0
        self.remaining_wh = max(0.0, self.remaining_wh - energy_wh)
        self.consumed_wh += energy_wh
        self.consumed_mah += current * dt_s / 3.6

    def sag(self, pct: float) -> None:
        """Lose ``pct`` percent of capacity at once."""
        lost_wh = self.capacity_wh * pct / 100.0
        self.remaining_wh = max(0.0, self.remaining_wh - lost_wh)
        self.consumed_wh += lost_wh
        self.voltage_v = self.open_circuit_v - self.current_a * self.internal_resistance_ohm
