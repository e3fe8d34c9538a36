"""Which drone flies a run that names none: idle, online, capable, enough battery, nearest the work.

Pure: the driver gathers the candidates (registry rows, live link state, the runs holding drones)
and this module only decides, so the rules are tested without a fleet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

CAPABILITY_FOR_KIND: Final[dict[str, str]] = {
    "coverage": "camera",
    "perimeter": "camera",
    "inspect": "camera",
    "checkpoint": "camera",
    "broadcast": "speaker",
    "spray": "sprayer",
}
"""The payload a mission kind needs on the drone."""

EARTH_RADIUS_M: Final = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Candidate:
    drone_id: int
    online: bool
    busy: bool
    """Holds an active run already."""
    manual: bool
    """Armed with no run of ours: someone is flying it by hand."""
    capabilities: frozenset[str]
    usable_wh: float | None
    lon_deg: float
    lat_deg: float


@dataclass(frozen=True, slots=True)
class Refusal:
    drone_id: int
    reason: str


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine): ranking only, metres are plenty accurate."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def refusal(c: Candidate, capability: str | None, energy_wh: float) -> str | None:
    """Why ``c`` cannot take the run, or None when it can."""
    if not c.online:
        return "offline"
    if c.busy:
        return "already flying a run"
    if c.manual:
        return "under manual control (armed outside any run)"
    if capability is not None and capability not in c.capabilities:
        return f"no {capability}"
    if c.usable_wh is not None and energy_wh > c.usable_wh:
        return f"needs {energy_wh:.0f} Wh, usable {c.usable_wh:.0f} Wh"
    return None


def pick(
    candidates: Sequence[Candidate], *, kind: str, energy_wh: float, lon_deg: float, lat_deg: float
) -> tuple[Candidate | None, list[Refusal]]:
    """The nearest able candidate to (lon_deg, lat_deg), and why each other one was passed over."""
    capability = CAPABILITY_FOR_KIND.get(kind)
    able: list[Candidate] = []
    refused: list[Refusal] = []
    for c in candidates:
        why = refusal(c, capability, energy_wh)
        if why is None:
            able.append(c)
        else:
            refused.append(Refusal(c.drone_id, why))
    if not able:
        return None, refused
    best = min(able, key=lambda c: (distance_m(c.lon_deg, c.lat_deg, lon_deg, lat_deg), c.drone_id))
    return best, refused
