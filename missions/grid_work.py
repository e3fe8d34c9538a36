"""The work of the grid kinds as units: coverage sweeps, perimeter edges, broadcast hover points.

``missions.coverage``, ``missions.perimeter`` and ``missions.broadcast`` decide the geometry (the
lawnmower path, the ring inside the boundary, the hover points); this module turns it into the
pipeline's ``Unit``s with their links and payload switching (camera off near no-photo zones,
speaker on at each hover) and the coverage the statistics report. The spray planner reuses the
sweep units (``sweep_units``) with the sprayer as payload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.model import ZoneKind
from geofences.routing import conservative_buffer
from missions.broadcast import audible_radius_m, place_broadcast_points
from missions.camera import Camera, camera_footprint
from missions.coverage import Sweep, plan_coverage_path
from missions.perimeter import Direction, perimeter_ring
from missions.profile import Speaker
from missions.units import (
    XY,
    Area,
    Setting,
    Unit,
    Waypoint,
    Work,
    close_xy,
    final_xy,
    relink,
    representative,
    route_corners,
    union_area,
)

Payload = Literal["camera", "sprayer"]


def coverage_work(
    s: Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    swath_m: float | None,
    camera: Camera | None,
    side_overlap_pct: float,
    front_overlap_pct: float,
    angle_deg: float | None,
    no_photo_margin_m: float | None,
    avoid_holes: bool = False,
) -> Work:
    """A lawnmower survey of each grid in turn, one unit per sweep, camera off near no-photo zones.

    The camera is also off where the path crosses a hole or gap of a grid (each camera-on stretch
    is a sweep of its own); ``avoid_holes`` keeps the path out of the grids' holes instead.
    """
    if (swath_m is None) == (camera is None):
        raise ValueError("give exactly one of swath_m and camera")
    if no_photo_margin_m is not None and (not math.isfinite(no_photo_margin_m) or no_photo_margin_m < 0):
        raise ValueError(f"no_photo_margin_m must be finite and >= 0, got {no_photo_margin_m!r}")
    warnings: list[str] = []
    extra: dict[str, float] = {}
    trigger_m: float | None = None
    if camera is not None:
        fp = camera_footprint(camera, s.profile.alt_m, side_overlap_pct, front_overlap_pct)
        swath = fp.swath_m
        trigger_m = fp.trigger_distance_m
        # A photo shows its whole footprint: keep it out of no-photo zones, not just the track.
        photo_reach_m = math.hypot(fp.footprint_width_m, fp.footprint_height_m) / 2.0
        extra["gsd_cm_per_px"] = fp.gsd_cm_per_px
        extra["trigger_distance_m"] = trigger_m
    else:
        assert swath_m is not None
        if not math.isfinite(swath_m) or swath_m <= 0.0:
            raise ValueError(f"swath_m must be finite and > 0, got {swath_m!r}")
        swath = swath_m
        photo_reach_m = swath / 2.0
        warnings.append("no camera given: lanes are spaced by swath_m but no trigger commands are compiled")
    extra["swath_m"] = swath
    if no_photo_margin_m is not None:
        photo_reach_m = no_photo_margin_m

    no_photo = [lz.shape for lz in s.fences.of_kind(ZoneKind.NO_PHOTO)]
    blackout = (
        shapely.union_all([conservative_buffer(z, photo_reach_m) for z in no_photo]) if no_photo else None
    )
    units: list[Unit] = []
    covered: list[BaseGeometry] = []
    position = s.home_xy
    dark_m = 0.0
    for n, (code, area) in enumerate(areas):
        nxt = representative(areas[n + 1][1]) if n + 1 < len(areas) else final_xy(s)
        path = plan_coverage_path(
            area,
            swath,
            turnaround_m=s.profile.turnaround_m,
            obstacles=tuple(obstacles),
            clearance_m=s.clearance_m,
            start_xy=position,
            end_xy=nxt,
            angle_deg=angle_deg,
            avoid_holes=avoid_holes,
        )
        grid_units, lit, dark = sweep_units(path.waypoints, path.sweeps, blackout, code)
        if grid_units:
            grid_units[0] = relink(s, grid_units[0], position)
            units.extend(grid_units)
            position = grid_units[-1].body[-1].xy
        dark_m += dark
        if lit:
            strips = shapely.buffer(shapely.linestrings(lit), swath / 2.0, cap_style="flat")
            covered.append(shapely.union_all(strips).intersection(area))
    if dark_m > 0.0:
        names = ", ".join(lz.zone.zone_id for lz in s.fences.of_kind(ZoneKind.NO_PHOTO))
        warnings.append(f"camera off for {dark_m:.0f} m of sweeps near no-photo zone(s) {names}")
    return Work(
        units=tuple(units),
        covered_local=shapely.union_all(covered) if covered else Polygon(),
        area_m2=float(union_area(areas).area),
        trigger_distance_m=trigger_m,
        extra=extra,
        warnings=tuple(warnings),
    )


def sweep_units(
    waypoints: Sequence[XY],
    sweeps: Sequence[Sweep],
    blackout: BaseGeometry | None,
    code: str,
    payload: Payload = "camera",
    alt_m: float | None = None,
) -> tuple[list[Unit], list[tuple[XY, XY]], float]:
    """One unit per sweep: its link is the path's turn from the previous sweep.

    ``waypoints`` holds every sweep's start and end in flight order, with turnaround and
    detour points between them; those between one sweep's end and the next one's start are
    the next sweep's link. Returns the units, the segments with the payload (camera or
    sprayer) on and the metres of sweep flown with it off (no-photo, no-spray).
    """
    units: list[Unit] = []
    lit: list[tuple[XY, XY]] = []
    dark_m = 0.0
    wp = [(float(x), float(y)) for x, y in waypoints]
    k = 0
    for sweep in sweeps:
        start, end = sweep.start, sweep.end
        found = next((m for m in range(k, len(wp)) if close_xy(wp[m], start)), None)
        link: list[XY] = []
        if found is not None:
            link = wp[k:found]
            k = found + 1
            if k < len(wp) and close_xy(wp[k], end):
                k += 1
        body, on, dark = _split_sweep(start, end, blackout, payload)
        lit.extend(on)
        dark_m += dark
        units.append(Unit(body=body, link=tuple(link), link_speed="work", grid=code, alt_m=alt_m))
    return units, lit, dark_m


def _split_sweep(
    start: XY, end: XY, blackout: BaseGeometry | None, payload: Payload = "camera"
) -> tuple[tuple[Waypoint, ...], list[tuple[XY, XY]], float]:
    """A sweep as waypoints with the payload switched off over ``blackout`` (photos that would
    show a no-photo zone, spray that would land in a no-spray zone)."""
    line = LineString([start, end])
    length = float(line.length)
    dark_parts: list[tuple[float, float]] = []
    if blackout is not None and length > 0.0 and line.intersects(blackout):
        inter = line.intersection(blackout)
        for part in shapely.get_parts(inter):
            if part.length <= 0.0:
                continue
            ends = [line.project(Point(c)) for c in part.coords]
            dark_parts.append((min(ends), max(ends)))
    dark_parts.sort()
    merged: list[tuple[float, float]] = []
    for a, b in dark_parts:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    cuts: list[tuple[float, bool]] = [(0.0, True)]  # (distance along, camera on from here)
    for a, b in merged:
        cuts.append((a, False))
        cuts.append((b, True))
    cuts.append((length, False))
    points: list[Waypoint] = []
    lit: list[tuple[XY, XY]] = []
    dark_m = sum(b - a for a, b in merged)

    def at(d: float) -> XY:
        t = 0.0 if length == 0.0 else d / length
        return start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t

    toggle = "camera_toggle" if payload == "camera" else "sprayer_toggle"

    def point(xy: XY, role: str, on: bool) -> Waypoint:
        return Waypoint(
            xy, role, camera_on=on and payload == "camera", sprayer_on=on and payload == "sprayer"
        )

    for n, (d, on) in enumerate(cuts):
        if points and abs(d - cuts[n - 1][0]) < 1e-6:
            points[-1] = point(points[-1].xy, points[-1].role, on)
            continue
        role = "sweep_start" if n == 0 else "sweep_end" if n == len(cuts) - 1 else toggle
        points.append(point(at(d), role, on))
        if n + 1 < len(cuts) and on:
            lit.append((at(d), at(cuts[n + 1][0])))
    return tuple(points), lit, dark_m


def perimeter_work(
    s: Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    margin_m: float,
    direction: Direction,
    camera: Camera | None,
    front_overlap_pct: float,
) -> Work:
    """A patrol ``margin_m`` inside each grid's boundary clear of exclusion zones, a unit per edge."""
    trigger_m: float | None = None
    reach_m = 0.0
    extra: dict[str, float] = {"margin_m": margin_m}
    if camera is not None:
        fp = camera_footprint(camera, s.profile.alt_m, 0.0, front_overlap_pct)
        trigger_m = fp.trigger_distance_m
        reach_m = fp.footprint_width_m / 2.0
        extra["trigger_distance_m"] = trigger_m
    keep_out = (
        shapely.union_all([conservative_buffer(o, s.clearance_m) for o in obstacles]) if obstacles else None
    )
    units: list[Unit] = []
    covered: list[BaseGeometry] = []
    position = s.home_xy
    for code, area in areas:
        flyable = area if keep_out is None else _largest(area.difference(keep_out))
        ring = perimeter_ring(flyable, margin_m, start_near=position, direction=direction)
        cam = camera is not None
        for k, xy in enumerate(ring):
            role = "perimeter_start" if k == 0 else "perimeter_end" if k == len(ring) - 1 else "vertex"
            wp = Waypoint(xy, role, camera_on=cam and k < len(ring) - 1)
            if k == 0:
                units.append(relink(s, Unit(body=(wp,), grid=code), position))
            else:
                link = route_corners(s, ring[k - 1], xy)
                units.append(Unit(body=(wp,), link=link, link_speed="work", grid=code))
        position = ring[-1]
        if cam:
            covered.append(LineString(ring).buffer(reach_m, cap_style="flat").intersection(area))
    return Work(
        units=tuple(units),
        covered_local=shapely.union_all(covered) if covered else Polygon(),
        area_m2=float(union_area(areas).area),
        trigger_distance_m=trigger_m,
        extra=extra,
    )


def _largest(geom: BaseGeometry) -> Polygon:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0.0]
    if not polys:
        raise ValueError("nothing of the grid is left outside the exclusion zones")
    return max(polys, key=lambda p: (p.area, p.bounds))


def broadcast_work(
    s: Setting,
    areas: Sequence[tuple[str, Area]],
    obstacles: Sequence[Polygon],
    speaker: Speaker,
    message_s: float,
    repeats: int,
) -> Work:
    """Hover points whose speaker discs cover the grids, each playing ``message_s`` x ``repeats``."""
    if not math.isfinite(message_s) or message_s <= 0.0:
        raise ValueError(f"message_s must be finite and > 0, got {message_s!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    radius_m = audible_radius_m(speaker, s.profile.alt_m)
    hover_s = message_s * repeats
    quiet_zones = s.fences.of_kind(ZoneKind.QUIET)
    quiet = shapely.union_all([lz.shape for lz in quiet_zones]) if quiet_zones else None
    # All grids are covered as one area: per-grid layouts would each waste points on their
    # shared boundaries. Each point is then credited to the grid it serves (nearest).
    union = union_area(areas)
    allowed: BaseGeometry | None = s.fences.inclusion
    if obstacles:
        keep_out = shapely.union_all([conservative_buffer(o, s.clearance_m) for o in obstacles])
        base = allowed if allowed is not None else union.buffer(2.0 * radius_m)
        allowed = base.difference(keep_out)
    layout = place_broadcast_points(union, radius_m, quiet=quiet, allowed=allowed, home_xy=s.home_xy)
    units: list[Unit] = []
    position = s.home_xy
    for xy in layout.points:
        code = areas[int(np.argmin(shapely.distance([a for _, a in areas], Point(xy))))][0]
        wp = Waypoint(xy, "hover", hover_s=hover_s, speaker_on=True)
        units.append(Unit(body=(wp,), link=route_corners(s, position, xy), link_speed="transit", grid=code))
        position = xy
    uncovered_quiet_pct = layout.uncovered_quiet_pct
    warnings: list[str] = []
    if uncovered_quiet_pct > 0.05:
        names = ", ".join(lz.zone.zone_id for lz in quiet_zones)
        warnings.append(
            f"{uncovered_quiet_pct:.1f}% of the grid is out of earshot: no hover point may be "
            f"within {radius_m:.0f} m of quiet zone(s) {names}"
        )
    extra = {
        "broadcast_points_ratio": layout.points_ratio,
        "uncovered_quiet_pct": uncovered_quiet_pct,
        "audible_radius_m": radius_m,
        "hover_s_per_point": hover_s,
    }
    return Work(
        units=tuple(units),
        covered_local=layout.covered,
        area_m2=float(union.area),
        relay=speaker.relay,
        extra=extra,
        warnings=tuple(warnings),
    )
