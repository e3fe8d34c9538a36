"""The shared end of every planner: a kind's work in, a checked and compiled ``MissionPlan`` out.

``finish_plan`` splits the work into sorties (``missions.sorties``), assembles and estimates
each (``missions.assemble``), times checkpoint arrivals, checks every leg against the fences
(``geofences.checks.check_route``), the battery and the tank, maps what breaks to
``Violation``s, compiles the mission and fence items and gathers the plan statistics. Every kind
goes through it, so checks and compilation are done one way for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

import numpy as np
import shapely

from geofences.checks import check_route
from geofences.compile import compile_fence
from geofences.frame import LocalFrame
from missions.assemble import assemble, estimate_draft
from missions.checkpoint import timetable
from missions.compile import compile_mission
from missions.energy import RouteEstimate
from missions.items import MissionItem
from missions.plan import Arrival, MissionPlan, PlanStats, RoutePoint, Sortie, Violation
from missions.sorties import split_sorties
from missions.units import LITRES_TOLERANCE, XYZ, Draft, LonLat, Setting, Unit, Work, unit_litres

TURN_THRESHOLD_DEG = 30.0
"""A heading change above this counts as a turn in the plan statistics."""


def finish_plan(kind: str, home: LonLat, s: Setting, work: Work, *, grids: int) -> MissionPlan:
    """The ``MissionPlan`` of a kind's work: sorties checked, compiled and counted."""
    violations: list[Violation] = list(work.violations)
    if not work.units and violations:  # every piece of work was refused: say why, fly nothing
        units: list[Unit] = []
        ranges: list[tuple[int, int]] = []
    else:
        units, ranges = split_sorties(s, work)
    sorties: list[Sortie] = []
    arrivals: list[Arrival] = []
    photos = 0
    turns = 0
    clock_s = 0.0
    for n, (i, j) in enumerate(ranges):
        last = n == len(ranges) - 1
        draft = assemble(s, units, i, j, last=last)
        est = estimate_draft(s, draft)
        if any(c is not None for c in draft.checkpoints):
            draft, est = _schedule(s, n, draft, est, clock_s, arrivals, violations)
        clock_s += est.duration_s + work.turnaround_s
        for fv in check_route(draft.points, s.fences, clearance_m=s.clearance_m):
            violations.append(Violation(n, fv.leg, fv.zone_id, fv.kind, fv.distance_m, fv.message))
        if s.battery is not None and est.energy_wh > s.battery.usable_wh:
            violations.append(
                Violation(
                    sortie=n,
                    leg=0,
                    zone_id="",
                    kind="battery",
                    distance_m=0.0,
                    message=f"sortie {n} needs {est.energy_wh:.1f} Wh but the battery allows "
                    f"{s.battery.usable_wh:.1f} Wh (capacity less {s.battery.reserve_frac:.0%} reserve)",
                )
            )
        litres = sum(unit_litres(units[k], work.litres_per_m) for k in range(i, j + 1))
        if work.tank_l is not None and litres > work.tank_l + LITRES_TOLERANCE:
            violations.append(
                Violation(
                    sortie=n,
                    leg=0,
                    zone_id="",
                    kind="tank",
                    distance_m=0.0,
                    message=f"sortie {n} sprays {litres:.2f} L but the tank holds {work.tank_l:.2f} L usable",
                )
            )
        route = _route_points(s.frame, draft)
        items = compile_mission(
            route,
            leg_speeds_mps=draft.speeds_mps,
            profile=s.profile,
            trigger_distance_m=work.trigger_distance_m,
            relay=work.relay,
        )
        sorties.append(Sortie(items, route, est.length_m, est.duration_s, est.energy_wh))
        photos += _photos(draft, work.trigger_distance_m)
        turns += _turns(draft.points)
    area_m2 = work.area_m2
    covered_m2 = float(work.covered_local.area) if not work.covered_local.is_empty else 0.0
    stats = PlanStats(
        length_m=sum(x.length_m for x in sorties),
        flight_time_s=sum(x.flight_time_s for x in sorties),
        turns=turns,
        photos=photos,
        energy_wh=sum(x.energy_wh for x in sorties),
        sorties=len(sorties),
        coverage_pct=min(100.0, 100.0 * covered_m2 / area_m2) if area_m2 > 0 else 0.0,
        area_m2=area_m2,
        hover_points=sum(1 for u in units for w in u.body if w.hover_s > 0.0),
        extra={**work.extra, "grids": float(grids)} if grids > 1 else dict(work.extra),
        arrivals=tuple(arrivals),
    )
    warnings = list(work.warnings)
    if len(sorties) > 1:
        budget = "the battery" if work.tank_l is None else "the battery and the tank"
        warnings.append(f"split into {len(sorties)} sorties to keep each within {budget}")
    footprints = ""
    if not work.covered_local.is_empty:
        footprints = shapely.to_wkt(s.frame.to_wgs84(work.covered_local), rounding_precision=7)
    fence_items: tuple[MissionItem, ...] = ()
    if s.fences.fences.zones:
        try:
            fence_items = compile_fence(s.fences.fences)
        except ValueError as exc:  # the plan stands; the vehicle fence has to be set up by hand
            warnings.append(f"fence not compiled for upload: {exc}")
    return MissionPlan(
        kind=kind,
        home_lon_deg=home[0],
        home_lat_deg=home[1],
        sorties=tuple(sorties),
        fence_items=fence_items,
        rally_items=(),
        stats=stats,
        violations=tuple(violations),
        warnings=tuple(warnings),
        footprints_wkt=footprints,
    )


def _schedule(
    s: Setting,
    sortie: int,
    draft: Draft,
    est: RouteEstimate,
    start_s: float,
    arrivals: list[Arrival],
    violations: list[Violation],
) -> tuple[Draft, RouteEstimate]:
    """Arrival times at the sortie's checkpoints, waits for windows not yet open, late arrivals.

    A wait lengthens the checkpoint's hover, so the sortie is estimated again with it.
    """
    windows = [None if c is None else c.earliest_s for c in draft.checkpoints]
    times, waits = timetable(start_s, [leg.moving_s for leg in est.legs], draft.hover_s, windows)
    if any(waits):
        draft = replace(draft, hover_s=tuple(h + w for h, w in zip(draft.hover_s, waits, strict=True)))
        est = estimate_draft(s, draft)
    for p, cp in enumerate(draft.checkpoints):
        if cp is None:
            continue
        arrivals.append(Arrival(cp.code, sortie, times[p], waits[p], cp.earliest_s, cp.latest_s))
        starts_s = times[p] + waits[p]
        if cp.latest_s is not None and starts_s > cp.latest_s:
            violations.append(
                Violation(
                    sortie=sortie,
                    leg=p - 1,
                    zone_id="",
                    kind="time_window",
                    distance_m=0.0,
                    message=f"checkpoint {cp.code} is reached at {starts_s:.0f} s, "
                    f"{starts_s - cp.latest_s:.0f} s after its window closes at {cp.latest_s:g} s",
                )
            )
    return draft, est


def _route_points(frame: LocalFrame, d: Draft) -> tuple[RoutePoint, ...]:
    xy = np.asarray([(p[0], p[1]) for p in d.points], dtype=np.float64)
    ll = shapely.get_coordinates(frame.to_wgs84(shapely.multipoints(xy)))
    return tuple(
        RoutePoint(
            lon_deg=float(ll[k, 0]),
            lat_deg=float(ll[k, 1]),
            alt_rel_m=d.points[k][2],
            role=d.roles[k],
            hover_s=d.hover_s[k],
            camera_on=d.camera_on[k],
            speaker_on=d.speaker_on[k],
            sprayer_on=d.sprayer_on[k],
            photo=d.photo[k],
            roi=_roi_wgs84(frame, d.roi[k]),
        )
        for k in range(len(d.points))
    )


def _roi_wgs84(frame: LocalFrame, roi: XYZ | None) -> tuple[float, float, float] | None:
    if roi is None:
        return None
    lon, lat = frame.lonlat(roi[0], roi[1])
    return lon, lat, roi[2]


def _photos(d: Draft, trigger_m: float | None) -> int:
    """Single photos (orbits), plus per camera-on run one at its start and one every trigger distance."""
    total = sum(d.photo)
    if trigger_m is None:
        return total
    run_m = -1.0
    for k in range(len(d.points) - 1):
        if d.camera_on[k]:
            p, q = d.points[k], d.points[k + 1]
            run_m = max(run_m, 0.0) + math.hypot(q[0] - p[0], q[1] - p[1])
        elif run_m >= 0.0:
            total += int(run_m // trigger_m) + 1
            run_m = -1.0
    if run_m >= 0.0:
        total += int(run_m // trigger_m) + 1
    return total


def _turns(points: Sequence[XYZ]) -> int:
    """Heading changes above ``TURN_THRESHOLD_DEG`` along the horizontal path."""
    headings: list[float] = []
    for p, q in pairwise(points):
        dx, dy = q[0] - p[0], q[1] - p[1]
        if math.hypot(dx, dy) > 1e-6:
            headings.append(math.atan2(dy, dx))
    count = 0
    for a, b in pairwise(headings):
        change = abs((b - a + math.pi) % (2.0 * math.pi) - math.pi)
        if math.degrees(change) > TURN_THRESHOLD_DEG:
            count += 1
    return count
