"""Flight time and energy along a 3D route, with the copter's acceleration and cornering.

Why not length / speed: a survey of short sweeps spends a large share of its time braking and
accelerating, and a battery split made on length / speed runs the pack flat. The model:

* Each leg is flown with a trapezoidal speed profile (accelerate at ``accel_mps2`` up to the leg's
  speed, cruise, brake) between an entry and an exit speed.
* The leg's speed is capped so its vertical component stays within ``climb_mps`` / ``descent_mps``,
  as ArduCopter's WPNAV_SPEED_UP / WPNAV_SPEED_DN do.
* At a corner the copter cuts the turn by ``acceptance_radius_m`` (at most half of either leg) and
  flies the arc tangent to both legs at that distance, whose radius is ``cut / tan(turn / 2)``. The
  corner speed is the speed at which that arc needs no more than ``accel_mps2`` of lateral
  acceleration: ``sqrt(accel · radius)``. A shallow turn is taken at (nearly) full speed, a right
  angle at a few m/s and a reversal (a boustrophedon turn with no turnaround) at a full stop.
  The arc's shorter length is ignored: the route length stays the sum of straight legs.
* The copter stops at the first and last point, at every point with a hover time and at any point
  marked as a stop. Corner speeds are then made reachable by a forward and a backward pass
  (no leg may need more than ``accel_mps2`` to meet its neighbours' speeds).

Energy: the base power is interpolated between ``hover_power_w`` (vertical flight) and
``cruise_power_w`` (level flight) by the leg's horizontal share and multiplied by the leg's time;
climbing adds ``climb_power_w`` for the time a climb at ``climb_mps`` would take, i.e. energy
proportional to the height gained; descending is not credited; hovering draws ``hover_power_w``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from missions.profile import Battery, FlightProfile

XYZ = tuple[float, float, float]

_S_PER_H = 3600.0


@dataclass(frozen=True, slots=True)
class LegEstimate:
    """One leg, from route point ``index`` to ``index + 1``; hover is the hover at its end point."""

    index: int
    length_m: float
    horizontal_m: float
    climb_m: float
    descent_m: float
    entry_speed_mps: float
    exit_speed_mps: float
    max_speed_mps: float
    moving_s: float
    hover_s: float
    energy_wh: float

    @property
    def duration_s(self) -> float:
        return self.moving_s + self.hover_s


@dataclass(frozen=True, slots=True)
class RouteEstimate:
    """Per-leg and total figures; ``start_hover_s`` is any hover at the first point."""

    legs: tuple[LegEstimate, ...]
    length_m: float
    moving_s: float
    hover_s: float
    energy_wh: float
    start_hover_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.moving_s + self.hover_s


def trapezoid_time_s(
    length_m: float, entry_mps: float, exit_mps: float, max_mps: float, accel_mps2: float
) -> float:
    """Time to fly ``length_m`` from ``entry_mps`` to ``exit_mps`` without exceeding ``max_mps``.

    The entry and exit speeds must be reachable from each other within the length (the corner
    passes in ``estimate_route`` guarantee it); if they are not, the faster one is lowered.
    """
    if length_m <= 0.0:
        return 0.0
    a = accel_mps2
    u = min(entry_mps, max_mps)
    w = min(exit_mps, max_mps)
    u = min(u, math.sqrt(w * w + 2.0 * a * length_m))
    w = min(w, math.sqrt(u * u + 2.0 * a * length_m))
    accel_m = (max_mps * max_mps - u * u) / (2.0 * a)
    brake_m = (max_mps * max_mps - w * w) / (2.0 * a)
    if accel_m + brake_m <= length_m:
        return (max_mps - u) / a + (max_mps - w) / a + (length_m - accel_m - brake_m) / max_mps
    peak = math.sqrt(max(0.0, (2.0 * a * length_m + u * u + w * w) / 2.0))
    peak = max(peak, u, w)
    return (peak - u) / a + (peak - w) / a


def _turn_angle_rad(a: XYZ, b: XYZ, c: XYZ) -> float:
    """Angle between the directions a->b and b->c: 0 for straight on, pi for a reversal."""
    ux, uy, uz = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    vx, vy, vz = c[0] - b[0], c[1] - b[1], c[2] - b[2]
    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
    nv = math.sqrt(vx * vx + vy * vy + vz * vz)
    if nu == 0.0 or nv == 0.0:
        return math.pi
    cos_t = max(-1.0, min(1.0, (ux * vx + uy * vy + uz * vz) / (nu * nv)))
    return math.acos(cos_t)


def corner_speed_mps(turn_rad: float, cut_m: float, accel_mps2: float) -> float:
    """Highest speed at which a copter can round a corner of ``turn_rad`` cutting it by ``cut_m``."""
    if turn_rad <= 1e-9:
        return math.inf
    half = turn_rad / 2.0
    if half >= math.pi / 2.0 - 1e-9:
        return 0.0
    radius_m = cut_m / math.tan(half)
    return math.sqrt(accel_mps2 * radius_m)


def estimate_route(
    points_xyz: Sequence[XYZ],
    profile: FlightProfile,
    battery: Battery,
    *,
    leg_speeds_mps: Sequence[float] | None = None,
    hover_s: Sequence[float] | None = None,
    stops: Sequence[bool] | None = None,
) -> RouteEstimate:
    """Time and energy to fly ``points_xyz`` (local metres, z above take-off) in order.

    ``leg_speeds_mps`` (one per leg) defaults to the profile's working speed; ``hover_s`` and
    ``stops`` (one per point) default to none.
    """
    n = len(points_xyz)
    n_legs = max(0, n - 1)
    speeds = list(leg_speeds_mps) if leg_speeds_mps is not None else [profile.speed_mps] * n_legs
    hovers = list(hover_s) if hover_s is not None else [0.0] * n
    stop_at = list(stops) if stops is not None else [False] * n
    if len(speeds) != n_legs:
        raise ValueError(f"leg_speeds_mps has {len(speeds)} values for {n_legs} legs")
    if len(hovers) != n or len(stop_at) != n:
        raise ValueError("hover_s and stops need one value per route point")
    for s in speeds:
        if not math.isfinite(s) or s <= 0.0:
            raise ValueError(f"leg speeds must be finite and > 0, got {s!r}")
    for h in hovers:
        if not math.isfinite(h) or h < 0.0:
            raise ValueError(f"hover times must be finite and >= 0, got {h!r}")
    if n == 0:
        return RouteEstimate((), 0.0, 0.0, 0.0, 0.0)

    a = profile.accel_mps2
    lengths: list[float] = []
    horizontals: list[float] = []
    vmax: list[float] = []
    for i in range(n_legs):
        p, q = points_xyz[i], points_xyz[i + 1]
        h = math.hypot(q[0] - p[0], q[1] - p[1])
        dz = q[2] - p[2]
        length = math.hypot(h, dz)
        v = speeds[i]
        if dz > 0.0:
            v = min(v, profile.climb_mps * length / dz)
        elif dz < 0.0:
            v = min(v, profile.descent_mps * length / -dz)
        lengths.append(length)
        horizontals.append(h)
        vmax.append(v)

    corner = [0.0] * n
    for j in range(1, n - 1):
        if hovers[j] > 0.0 or stop_at[j] or lengths[j - 1] == 0.0 or lengths[j] == 0.0:
            continue
        turn = _turn_angle_rad(points_xyz[j - 1], points_xyz[j], points_xyz[j + 1])
        cut = min(profile.acceptance_radius_m, lengths[j - 1] / 2.0, lengths[j] / 2.0)
        corner[j] = min(corner_speed_mps(turn, cut, a), vmax[j - 1], vmax[j])
    for j in range(1, n):
        corner[j] = min(corner[j], math.sqrt(corner[j - 1] ** 2 + 2.0 * a * lengths[j - 1]))
    for j in range(n - 2, -1, -1):
        corner[j] = min(corner[j], math.sqrt(corner[j + 1] ** 2 + 2.0 * a * lengths[j]))

    legs: list[LegEstimate] = []
    for i in range(n_legs):
        p, q = points_xyz[i], points_xyz[i + 1]
        dz = q[2] - p[2]
        moving = trapezoid_time_s(lengths[i], corner[i], corner[i + 1], vmax[i], a)
        share = horizontals[i] / lengths[i] if lengths[i] > 0.0 else 0.0
        base_w = battery.hover_power_w + (battery.cruise_power_w - battery.hover_power_w) * share
        climb = max(0.0, dz)
        energy_j = base_w * moving + battery.climb_power_w * climb / profile.climb_mps
        energy_j += battery.hover_power_w * hovers[i + 1]
        legs.append(
            LegEstimate(
                index=i,
                length_m=lengths[i],
                horizontal_m=horizontals[i],
                climb_m=climb,
                descent_m=max(0.0, -dz),
                entry_speed_mps=corner[i],
                exit_speed_mps=corner[i + 1],
                max_speed_mps=vmax[i],
                moving_s=moving,
                hover_s=hovers[i + 1],
                energy_wh=energy_j / _S_PER_H,
            )
        )
    start_hover = hovers[0]
    return RouteEstimate(
        legs=tuple(legs),
        length_m=sum(lengths),
        moving_s=sum(leg.moving_s for leg in legs),
        hover_s=start_hover + sum(leg.hover_s for leg in legs),
        energy_wh=(battery.hover_power_w * start_hover) / _S_PER_H + sum(leg.energy_wh for leg in legs),
        start_hover_s=start_hover,
    )
