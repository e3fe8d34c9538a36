"""Which fences the vehicle breaches: maximum altitude, the circle round home, the stored fences.

AC_Fence's checks as pure functions of the parameters, the position and the stored fence, so
that the pre-arm check and the in-flight fence failsafe (both in autopilot.py) share them.
"""

from __future__ import annotations

import math

from simulator.flight_state import Location
from simulator.geo import LocalFrame, point_in_polygon
from simulator.mavenums import Cmd
from simulator.mission_store import FenceItem
from simulator.params import ParamStore
from simulator.physics import Airframe


def fence_breaches(
    params: ParamStore,
    local_frame: LocalFrame,
    airframe: Airframe,
    alt_rel_m: float,
    home: Location | None,
    fence_items: list[FenceItem],
    *,
    include_altitude: bool,
) -> frozenset[str]:
    """The breached fences: any of "altitude", "circle" (round home) and "polygon" (stored)."""
    fence_type = params.get_int("FENCE_TYPE")
    breaches: set[str] = set()
    margin_m = params["FENCE_MARGIN"]
    if include_altitude and fence_type & 1 and alt_rel_m > params["FENCE_ALT_MAX"]:
        breaches.add("altitude")
    if fence_type & 2 and home is not None:
        home_n, home_e = local_frame.to_ne(home.lat_deg, home.lon_deg)
        if (
            math.hypot(airframe.north_m - home_n, airframe.east_m - home_e)
            > params["FENCE_RADIUS"] - margin_m
        ):
            breaches.add("circle")
    if fence_type & 4 and fence_items:
        breaches |= _polyfence_breaches(local_frame, airframe, fence_items)
    return frozenset(breaches)


def _polyfence_breaches(local_frame: LocalFrame, airframe: Airframe, items: list[FenceItem]) -> set[str]:
    here = (airframe.north_m, airframe.east_m)
    breaches: set[str] = set()
    index = 0
    while index < len(items):
        item = items[index]
        center_n, center_e = local_frame.to_ne(item.x / 1e7, item.y / 1e7)
        if item.command in (
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = max(1, int(item.param1))
            ring = [local_frame.to_ne(v.x / 1e7, v.y / 1e7) for v in items[index : index + count]]
            inside = point_in_polygon(here[0], here[1], ring)
            if inside == (item.command == Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                breaches.add("polygon")
            index += count
            continue
        distance_m = math.hypot(here[0] - center_n, here[1] - center_e)
        if item.command == Cmd.NAV_FENCE_CIRCLE_INCLUSION and distance_m > item.param1:
            breaches.add("polygon")
        if item.command == Cmd.NAV_FENCE_CIRCLE_EXCLUSION and distance_m < item.param1:
            breaches.add("polygon")
        index += 1
    return breaches
