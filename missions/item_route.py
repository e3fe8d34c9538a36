"""The path a list of ArduCopter mission items flies, so items from a file can be fence-checked.

Missions that AeroGrid plans are checked while planning; a mission read from a .plan or
.waypoints file (a tester's hand-made route) is checked here before upload, on the same rules.
The path: vertical take-off at home, each positional NAV item in order (a loiter-turns orbit as
its circle), and for RETURN_TO_LAUNCH the straight leg home and the descent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from geofences.checks import FenceViolation, PreparedFences, check_route
from geofences.frame import LocalFrame
from geofences.model import FenceSet
from missions.items import MavCmd, MavFrame, MissionItem

_ORBIT_POINTS = 16
_RELATIVE_FRAMES = {MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.GLOBAL_RELATIVE_ALT_INT}


def route_from_items(
    items: Sequence[MissionItem], frame: LocalFrame, home_lon_deg: float, home_lat_deg: float
) -> list[tuple[float, float, float]]:
    """(x_m, y_m, alt_rel_m) points in ``frame``; items[0] (home) is skipped as ArduCopter does."""
    hx, hy = frame.xy(home_lon_deg, home_lat_deg)
    route = [(hx, hy, 0.0)]
    alt = 0.0
    for item in items[1:]:
        has_position = item.x != 0 or item.y != 0
        if item.command == MavCmd.NAV_TAKEOFF:
            alt = item.z
            route.append((route[-1][0], route[-1][1], alt))
        elif item.command == MavCmd.NAV_RETURN_TO_LAUNCH:
            route += [(hx, hy, alt), (hx, hy, 0.0)]
        elif item.command == MavCmd.NAV_LAND:
            x, y = frame.xy(item.lon_deg, item.lat_deg) if has_position else route[-1][:2]
            route += [(x, y, alt), (x, y, 0.0)]
        elif item.is_nav and has_position:
            if item.frame not in _RELATIVE_FRAMES:
                raise ValueError(f"{MavCmd(item.command).name}: only relative-altitude frames can be checked")
            alt = item.z
            x, y = frame.xy(item.lon_deg, item.lat_deg)
            route.append((x, y, alt))
            if item.command == MavCmd.NAV_LOITER_TURNS and item.param3 != 0:
                r = abs(item.param3)
                route += [
                    (
                        x + r * math.cos(2 * math.pi * k / _ORBIT_POINTS),
                        y + r * math.sin(2 * math.pi * k / _ORBIT_POINTS),
                        alt,
                    )
                    for k in range(_ORBIT_POINTS + 1)
                ]
                route.append((x, y, alt))
    return route


def check_items(
    items: Sequence[MissionItem],
    fences: FenceSet,
    home_lon_deg: float,
    home_lat_deg: float,
    *,
    clearance_m: float = 0.0,
) -> tuple[FenceViolation, ...]:
    """Every fence, ceiling and altitude-band violation of the path the items fly."""
    frame = LocalFrame.for_lonlat(home_lon_deg, home_lat_deg)
    route = route_from_items(items, frame, home_lon_deg, home_lat_deg)
    return check_route(route, PreparedFences(fences, frame), clearance_m=clearance_m)
