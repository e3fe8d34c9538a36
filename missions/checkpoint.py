"""Checkpoint hover: points visited in turn, each with a hover time and an optional time window.

A checkpoint is flown as one NAV_LOITER_TIME at the point (ArduCopter flies to it
and holds for ``hover_s``). ArduCopter stores the hold time as whole seconds (uint16), so hover
times must be whole seconds: a fractional one would read back different from what was planned.

Time windows are arrival windows in seconds from the plan's first take-off. A drone that would
arrive before ``earliest_s`` waits at the checkpoint (its hold grows by the wait, rounded up to a
whole second), so the hover it is there for starts inside the window; one that would arrive after
``latest_s`` is a violation: the operator must reorder, split or drop checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_HOVER_S = 65_535.0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A point to hover over (WGS-84), for ``hover_s`` whole seconds, optionally at ``alt_m``."""

    code: str
    lon_deg: float
    lat_deg: float
    hover_s: float
    alt_m: float | None = None
    earliest_s: float | None = None
    latest_s: float | None = None

    def __post_init__(self) -> None:
        where = f"checkpoint {self.code!r}"
        if not self.code:
            raise ValueError("Checkpoint.code must not be empty")
        if not (
            math.isfinite(self.lon_deg)
            and math.isfinite(self.lat_deg)
            and -180.0 <= self.lon_deg <= 180.0
            and -90.0 <= self.lat_deg <= 90.0
        ):
            raise ValueError(f"{where}: (lon_deg, lat_deg) out of range: {(self.lon_deg, self.lat_deg)!r}")
        if not math.isfinite(self.hover_s) or not 0.0 <= self.hover_s <= MAX_HOVER_S:
            raise ValueError(f"{where}: hover_s must be in [0, {MAX_HOVER_S:g}], got {self.hover_s!r}")
        if self.hover_s != math.floor(self.hover_s):
            raise ValueError(
                f"{where}: hover_s must be whole seconds (ArduCopter stores it so), got {self.hover_s!r}"
            )
        if self.alt_m is not None and (not math.isfinite(self.alt_m) or self.alt_m <= 0.0):
            raise ValueError(f"{where}: alt_m must be finite and > 0, got {self.alt_m!r}")
        for name in ("earliest_s", "latest_s"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0.0):
                raise ValueError(f"{where}: {name} must be finite and >= 0, got {value!r}")
        if self.earliest_s is not None and self.latest_s is not None and self.latest_s < self.earliest_s:
            raise ValueError(f"{where}: latest_s {self.latest_s!r} is before earliest_s {self.earliest_s!r}")


def timetable(
    start_s: float, moving_s: Sequence[float], hover_s: Sequence[float], earliest_s: Sequence[float | None]
) -> tuple[list[float], list[float]]:
    """Arrival time and wait at each route point, for a sortie taking off at ``start_s``.

    ``moving_s[i]`` is the time to fly leg i (point i to i + 1), ``hover_s[p]`` the planned hover
    at point p and ``earliest_s[p]`` its window's opening (None: no window). A point reached
    early waits until the window opens, rounded up to a whole second (the hold is stored in whole
    seconds), and every later arrival moves by that wait: one forward pass gives the schedule.
    """
    if len(moving_s) != len(hover_s) - 1 or len(earliest_s) != len(hover_s):
        raise ValueError("timetable needs one leg time per leg and one hover and window per point")
    arrivals: list[float] = []
    waits: list[float] = []
    clock = start_s
    for p, hover in enumerate(hover_s):
        if p > 0:
            clock += moving_s[p - 1]
        opens = earliest_s[p]
        wait = float(math.ceil(opens - clock)) if opens is not None and opens > clock else 0.0
        arrivals.append(clock)
        waits.append(wait)
        clock += wait + hover
    return arrivals, waits
