"""Disinfection spraying: the targets, the height the sprayer flies at, and where it must be off.

The route itself is a coverage (lawnmower) path over each target at the sprayer's swath, built by
``missions.planner.plan_spray`` with the shared pipeline; this module holds the decisions that
are particular to liquid:

* **No-spray zones** (water, kindergartens) are cut out of every target before planning and the
  area left out is reported. The drone may *fly over* a no-spray zone with the sprayer off: it is
  not an obstacle (a zone that must not be overflown is an exclusion zone too). The sprayer is
  also off wherever the track comes within ``margin`` of a no-spray zone, by default half the
  swath, the distance the spray reaches sideways, so that no liquid lands in one.
* **Height.** Spraying is done low, between the sprayer's ``min_height_m`` and ``max_height_m``
  above the target's top (``height_m``: a roof, a canopy), at the lowest height in that range
  that every fence band over the target allows; transits fly at the profile altitude.
* **Liquid.** ArduCopter's pump runs in proportion to ground speed, so a sweep needs
  ``length * flow / speed`` litres (``Sprayer.litres_per_m``), and the tank, like the battery,
  bounds each sortie: the pipeline splits a sweep where the tank runs dry and the next sortie
  resumes there after the refill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon

from missions.profile import Sprayer

Band = tuple[float, float]

_BAND_STEP_M = 0.5
"""How far above a forbidden band's top the sprayer climbs to clear it (bands are inclusive)."""


@dataclass(frozen=True, slots=True)
class SprayTarget:
    """A polygon to spray (a compound, a yard, a square) in WGS-84, with the height of its top."""

    code: str
    area: Polygon | MultiPolygon
    height_m: float = 0.0

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("SprayTarget.code must not be empty")
        if not isinstance(self.area, Polygon | MultiPolygon) or self.area.is_empty or not self.area.is_valid:
            raise ValueError(f"spray target {self.code!r}: need a valid, non-empty (Multi)Polygon in WGS-84")
        if not math.isfinite(self.height_m) or self.height_m < 0.0:
            raise ValueError(
                f"spray target {self.code!r}: height_m must be finite and >= 0, got {self.height_m!r}"
            )


def spray_alt_m(
    height_m: float, sprayer: Sprayer, *, allowed: Sequence[Band] = (), forbidden: Sequence[Band] = ()
) -> tuple[float, bool]:
    """The altitude to spray a target whose top is ``height_m`` above take-off, and whether it fits.

    The candidates are the sprayer's height range above the top; the lowest one inside every
    ``allowed`` band (inclusion zones over the target, the ceiling) and outside every
    ``forbidden`` band (banded exclusion zones over it) wins. When none fits, the lowest of the
    range comes back with False, and the fence check reports where the plan breaks.
    """
    lo, hi = height_m + sprayer.min_height_m, height_m + sprayer.max_height_m
    edges = [a for a, _ in allowed] + [b for _, b in allowed] + [b + _BAND_STEP_M for _, b in forbidden]
    candidates = sorted({lo, hi, *(e for e in edges if lo <= e <= hi)})
    for alt in candidates:
        inside = all(a <= alt <= b for a, b in allowed)
        clear = not any(a <= alt <= b for a, b in forbidden)
        if inside and clear:
            return alt, True
    return lo, False
