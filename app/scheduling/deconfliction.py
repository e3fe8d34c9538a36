"""Keeping two runs out of the same air: planned 4-D paths compared, then a layer, a delay, or no.

A run's path is its sortie's route timed along at the plan's average speed (hovers included), in one
local metric frame, starting at the run's (planned) take-off time. Two paths conflict when at some
instant both are airborne and closer than the separation horizontally *and* vertically. Resolution
tries, in order: the same path shifted to another altitude layer (kept within the ceiling and above
the lowest layer), then a later start, and otherwise reports the run it cannot clear.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from geofences.frame import LocalFrame
from missions.plan import Sortie

SAMPLE_STEP_S: Final = 1.0
GROUND_M: Final = 0.5
"""At or below this height a point is on its pad: drones on the ground are not in each other's way."""
LAYER_MARGIN_M: Final = 5.0
"""Added to the vertical separation between layers, for altitude-keeping error."""


@dataclass(frozen=True, slots=True)
class Path4D:
    """Positions (x_m, y_m, alt_m) at times t_s from the path's own start, in one frame."""

    t_s: tuple[float, ...]
    xyz_m: tuple[tuple[float, float, float], ...]

    @property
    def duration_s(self) -> float:
        return self.t_s[-1] if self.t_s else 0.0

    def at(self, t_s: float) -> tuple[float, float, float] | None:
        """Position at ``t_s`` (linear between points); None before the start or after the end."""
        if not self.t_s or t_s < 0 or t_s > self.t_s[-1]:
            return None
        i = bisect.bisect_right(self.t_s, t_s)
        if i >= len(self.t_s):
            return self.xyz_m[-1]
        t0, t1 = self.t_s[i - 1], self.t_s[i]
        a, b = self.xyz_m[i - 1], self.xyz_m[i]
        f = 0.0 if t1 <= t0 else (t_s - t0) / (t1 - t0)
        return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]))

    def shifted(self, alt_offset_m: float) -> Path4D:
        """The same path flown ``alt_offset_m`` higher; take-off and landing stay on the ground."""
        return Path4D(
            self.t_s, tuple((x, y, z + alt_offset_m if z > GROUND_M else z) for x, y, z in self.xyz_m)
        )

    @property
    def max_alt_m(self) -> float:
        return max((z for _, _, z in self.xyz_m), default=0.0)

    @property
    def min_cruise_alt_m(self) -> float:
        """The lowest altitude flown above the ground (take-off and landing points excluded)."""
        airborne = [z for _, _, z in self.xyz_m if z > GROUND_M]
        return min(airborne, default=0.0)


def sortie_path(sortie: Sortie, frame: LocalFrame) -> Path4D:
    """The sortie's route timed at its average planned speed, hovers held in place."""
    points = sortie.route
    if not points:
        return Path4D((), ())
    speed_mps = sortie.length_m / sortie.flight_time_s if sortie.flight_time_s > 0 else 10.0
    speed_mps = max(speed_mps, 0.5)
    times: list[float] = []
    xyz: list[tuple[float, float, float]] = []
    t_s = 0.0
    previous: tuple[float, float, float] | None = None
    for p in points:
        x, y = frame.xy(p.lon_deg, p.lat_deg)
        here = (x, y, p.alt_rel_m)
        if previous is not None:
            t_s += math.dist(previous, here) / speed_mps
        times.append(t_s)
        xyz.append(here)
        if p.hover_s > 0:
            t_s += p.hover_s
            times.append(t_s)
            xyz.append(here)
        previous = here
    return Path4D(tuple(times), tuple(xyz))


@dataclass(frozen=True, slots=True)
class Traffic:
    """Another run's path and when it (will have) started, in seconds on the same time axis."""

    run_id: int
    path: Path4D
    start_s: float


@dataclass(frozen=True, slots=True)
class Separation:
    horizontal_m: float = 50.0
    vertical_m: float = 20.0


@dataclass(frozen=True, slots=True)
class Encounter:
    run_id: int
    at_s: float
    horizontal_m: float
    vertical_m: float


def first_encounter(
    path: Path4D, start_s: float, others: Sequence[Traffic], sep: Separation
) -> Encounter | None:
    """The first instant ``path`` (starting at ``start_s``) is within ``sep`` of any of ``others``."""
    if not path.t_s:
        return None
    for other in others:
        begin_s = max(start_s, other.start_s)
        end_s = min(start_s + path.duration_s, other.start_s + other.path.duration_s)
        t_s = begin_s
        while t_s <= end_s:
            a, b = path.at(t_s - start_s), other.path.at(t_s - other.start_s)
            if a is not None and b is not None and a[2] > GROUND_M and b[2] > GROUND_M:
                dh, dv = math.hypot(a[0] - b[0], a[1] - b[1]), abs(a[2] - b[2])
                if dh < sep.horizontal_m and dv < sep.vertical_m:
                    return Encounter(other.run_id, t_s, dh, dv)
            t_s += SAMPLE_STEP_S
    return None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to fly: the same route ``alt_offset_m`` higher (or lower), ``delay_s`` later."""

    alt_offset_m: float
    delay_s: float


@dataclass(frozen=True, slots=True)
class Unresolved:
    encounter: Encounter


def resolve(
    path: Path4D,
    start_s: float,
    others: Sequence[Traffic],
    sep: Separation,
    *,
    layer_ok: Callable[[float], bool],
    max_layers: int,
    delay_step_s: float,
    max_delay_s: float,
) -> Resolution | Unresolved:
    """As planned if clear; else the nearest altitude layer that is and that ``layer_ok`` allows (the
    caller checks the shifted route against the fences, the ceiling and the lowest layer); else the
    shortest delay; else the first encounter."""
    first = first_encounter(path, start_s, others, sep)
    if first is None:
        return Resolution(0.0, 0.0)
    layer_m = sep.vertical_m + LAYER_MARGIN_M
    for k in range(1, max_layers + 1):
        for offset_m in (k * layer_m, -k * layer_m):
            if first_encounter(path.shifted(offset_m), start_s, others, sep) is None and layer_ok(offset_m):
                return Resolution(offset_m, 0.0)
    delay_s = delay_step_s
    while delay_s <= max_delay_s:
        if first_encounter(path, start_s + delay_s, others, sep) is None:
            return Resolution(0.0, delay_s)
        delay_s += delay_step_s
    return Unresolved(first)
