"""The work of the field kinds as units: spray sweeps, inspection orbits, checkpoint hovers.

Their work comes as sites rather than grids, and each unit may work at its own altitude.
``missions.spray``, ``missions.inspect`` and ``missions.checkpoint`` hold the decisions (the
spray height, the orbit that fits, the timetable); this module turns the sites into the
pipeline's ``Unit``s, visited in a short tour, with the warnings and refusals the plan reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.checks import LocalZone
from geofences.model import ZoneKind
from geofences.routing import conservative_buffer
from missions.checkpoint import Checkpoint
from missions.coverage import plan_coverage_path
from missions.grid_work import sweep_units
from missions.inspect import InspectionSite, orbit_points, photo_layout, place_orbit, reach_m, roi_xy
from missions.perimeter import Direction
from missions.plan import Violation
from missions.profile import Sprayer
from missions.spray import SprayTarget, spray_alt_m
from missions.tour import order_points
from missions.units import (
    Area,
    Setting,
    Unit,
    Waypoint,
    Work,
    final_xy,
    local_area,
    obstacles_at,
    relink,
    representative,
    route_corners,
    unit_litres,
)

CheckpointOrder = Literal["given", "optimised"]


def spray_work(
    s: Setting,
    targets: Sequence[SprayTarget],
    sprayer: Sprayer,
    angle_deg: float | None,
    no_spray_margin_m: float | None,
) -> Work:
    """Sweeps over each target at its spray altitude, sprayer off within the margin of no-spray zones."""
    margin_m = sprayer.swath_m / 2.0 if no_spray_margin_m is None else no_spray_margin_m
    no_spray = s.fences.of_kind(ZoneKind.NO_SPRAY)
    no_spray_union = shapely.union_all([lz.shape for lz in no_spray]) if no_spray else None
    blackout = (
        shapely.union_all([conservative_buffer(lz.shape, margin_m) for lz in no_spray]) if no_spray else None
    )
    local = [(t, local_area(s.frame, t.code, t.area)) for t in targets]
    order = order_points([representative(a) for _, a in local], start=s.home_xy, end=final_xy(s))
    ordered = [local[i] for i in order]
    units: list[Unit] = []
    covered: list[BaseGeometry] = []
    sprayable_parts: list[BaseGeometry] = []
    warnings: list[str] = []
    removed_m2 = 0.0
    dry_m = 0.0
    position = s.home_xy
    for n, (target, area) in enumerate(ordered):
        sprayable: BaseGeometry = area if no_spray_union is None else area.difference(no_spray_union)
        polys = [p for p in shapely.get_parts(sprayable) if isinstance(p, Polygon) and p.area > 0.0]
        lost_m2 = float(area.area) - sum(p.area for p in polys)
        if lost_m2 > 0.5:
            removed_m2 += lost_m2
            names = ", ".join(lz.zone.zone_id for lz in no_spray if lz.shape.intersects(area))
            warnings.append(
                f"target {target.code}: {lost_m2:.0f} m² inside no-spray zone(s) {names} left out"
            )
        if not polys:
            continue
        part: Area = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        alt_m = _spray_alt(s, part, target, sprayer, warnings)
        obstacles = obstacles_at(s.fences, alt_m)
        nxt = representative(ordered[n + 1][1]) if n + 1 < len(ordered) else final_xy(s)
        path = plan_coverage_path(
            part,
            sprayer.swath_m,
            turnaround_m=s.profile.turnaround_m,
            obstacles=tuple(obstacles),
            clearance_m=s.clearance_m,
            start_xy=position,
            end_xy=nxt,
            angle_deg=angle_deg,
            avoid_holes=True,  # spray keeps the cell decomposition (the whole-grid sweep is for surveys)
        )
        target_units, wet, dry = sweep_units(
            path.waypoints, path.sweeps, blackout, target.code, payload="sprayer", alt_m=alt_m
        )
        if not target_units:
            continue
        target_units[0] = relink(s, target_units[0], position)
        units.extend(target_units)
        position = target_units[-1].body[-1].xy
        dry_m += dry
        sprayable_parts.append(part)
        if wet:
            strips = shapely.buffer(shapely.linestrings(wet), sprayer.swath_m / 2.0, cap_style="flat")
            covered.append(shapely.union_all(strips).intersection(part))
    if not units:
        raise ValueError("nothing to spray: every target lies inside no-spray zones")
    if dry_m > 0.0:
        names = ", ".join(lz.zone.zone_id for lz in no_spray)
        warnings.append(f"sprayer off for {dry_m:.0f} m of sweeps near no-spray zone(s) {names}")
    litres_per_m = sprayer.litres_per_m(s.profile.speed_mps)
    litres = sum(unit_litres(u, litres_per_m) for u in units)
    sprayed = shapely.union_all(covered) if covered else Polygon()
    area_m2 = float(shapely.union_all(sprayable_parts).area) if sprayable_parts else 0.0
    extra = {
        "litres": litres,
        "sprayed_area_m2": float(sprayed.area),
        "litres_per_ha": litres_per_m / sprayer.swath_m * 10_000.0,
        "swath_m": sprayer.swath_m,
        "no_spray_removed_m2": removed_m2,
        "targets": float(len(targets)),
    }
    return Work(
        units=tuple(units),
        covered_local=sprayed,
        area_m2=area_m2,
        extra=extra,
        warnings=tuple(warnings),
        tank_l=sprayer.usable_l,
        litres_per_m=litres_per_m,
    )


def _spray_alt(s: Setting, area: Area, target: SprayTarget, sprayer: Sprayer, warnings: list[str]) -> float:
    """The target's spray altitude within the bands of the zones over it (``spray_alt_m``).

    Exclusion zones without a band are left to the coverage path, which goes round them.
    """
    allowed = [(-math.inf, s.fences.ceiling_m)]
    allowed += [_zone_band(lz) for lz in s.fences.of_kind(ZoneKind.INCLUSION) if lz.shape.intersects(area)]
    forbidden = [
        _zone_band(lz)
        for lz in s.fences.exclusions
        if lz.shape.intersects(area) and (lz.zone.min_alt_m is not None or lz.zone.max_alt_m is not None)
    ]
    alt_m, fits = spray_alt_m(target.height_m, sprayer, allowed=allowed, forbidden=forbidden)
    if not fits:
        warnings.append(
            f"target {target.code}: no height in {sprayer.min_height_m:g}-{sprayer.max_height_m:g} m above "
            f"it suits the fence bands; planned at {alt_m:g} m (see the violations)"
        )
    return alt_m


def _zone_band(lz: LocalZone) -> tuple[float, float]:
    lo = -math.inf if lz.zone.min_alt_m is None else lz.zone.min_alt_m
    hi = math.inf if lz.zone.max_alt_m is None else lz.zone.max_alt_m
    return lo, hi


def inspection_work(
    s: Setting,
    sites: Sequence[InspectionSite],
    standoff_m: float,
    min_standoff_m: float,
    photo_step_deg: float,
    direction: Direction,
) -> Work:
    """An orbit about each site that fits the fences, or an ``orbit_blocked`` violation."""
    layout = photo_layout(photo_step_deg)
    # place_orbit calls the inclusion boundary "": name the inclusion zones instead.
    inclusion_ids = [lz.zone.zone_id for lz in s.fences.of_kind(ZoneKind.INCLUSION)]
    edge = f"the edge of inclusion zone(s) {', '.join(dict.fromkeys(inclusion_ids))}"
    local = [(site, s.frame.to_local(site.footprint)) for site in sites]
    rois = [roi_xy(fp) for _, fp in local]
    order = order_points(rois, start=s.home_xy, end=final_xy(s))
    units: list[Unit] = []
    warnings: list[str] = []
    violations: list[Violation] = []
    position = s.home_xy
    for i in order:
        site, footprint = local[i]
        roi = rois[i]
        alt_m = s.profile.alt_m if site.alt_m is None else site.alt_m
        requested_m = reach_m(footprint, roi) + standoff_m if site.radius_m is None else site.radius_m
        blockers = [
            (lz.zone.zone_id, conservative_buffer(lz.shape, s.clearance_m))
            for lz in s.fences.exclusions
            if _zone_band(lz)[0] <= alt_m <= _zone_band(lz)[1]
        ]
        try:
            choice = place_orbit(
                footprint,
                roi,
                requested_m,
                min_standoff_m=min_standoff_m,
                vertices=layout.vertices,
                blockers=blockers,
                inclusion=s.fences.inclusion,
            )
        except ValueError as exc:
            raise ValueError(f"key site {site.code!r}: {exc}") from None
        zones = ", ".join(z or edge for z in choice.blocked_by)
        orbit = choice.orbit
        if orbit is None:
            violations.append(
                Violation(
                    sortie=-1,
                    leg=-1,
                    zone_id=choice.blocked_by[0] or inclusion_ids[0],
                    kind="orbit_blocked",
                    distance_m=0.0,
                    message=f"key site {site.code}: its {requested_m:.0f} m orbit at {alt_m:g} m crosses {zones}, "
                    f"and no smaller orbit (down to {min_standoff_m:g} m off the site) or moved centre clears it",
                )
            )
            continue
        if choice.blocked_by:
            moved = f", centre moved {orbit.offset_m:.0f} m" if orbit.offset_m > 0.0 else ""
            warnings.append(
                f"key site {site.code}: orbit {requested_m:.0f} m -> {orbit.radius_m:.0f} m{moved} to keep clear of {zones}"
            )
        points = orbit_points(orbit, position, layout.vertices, direction)
        aim = (roi[0], roi[1], site.height_m / 2.0)
        last = len(points) - 1
        body = tuple(
            Waypoint(
                xy,
                "orbit_start" if k == 0 else "orbit_end" if k == last else "orbit",
                photo=k > 0 and k % layout.vertices_per_photo == 0,
                roi=aim if k < last else None,
            )
            for k, xy in enumerate(points)
        )
        units.append(Unit(body=body, link=route_corners(s, position, points[0]), grid=site.code, alt_m=alt_m))
        position = points[-1]
    extra = {
        "sites": float(len(sites)),
        "orbits": float(len(units)),
        "photos_per_orbit": float(layout.photos),
        "photo_step_deg": layout.step_deg,
    }
    return Work(
        units=tuple(units),
        covered_local=Polygon(),
        area_m2=0.0,
        extra=extra,
        warnings=tuple(warnings),
        violations=tuple(violations),
    )


def checkpoint_work(
    s: Setting, points: Sequence[Checkpoint], order: CheckpointOrder, turnaround_s: float
) -> Work:
    """A hover over each checkpoint, in the given order or a short tour."""
    xy = [s.frame.xy(p.lon_deg, p.lat_deg) for p in points]
    visit = range(len(points)) if order == "given" else order_points(xy, start=s.home_xy, end=final_xy(s))
    units: list[Unit] = []
    position = s.home_xy
    for i in visit:
        cp = points[i]
        wp = Waypoint(xy[i], "checkpoint", hover_s=cp.hover_s, checkpoint=cp)
        units.append(Unit(body=(wp,), link=route_corners(s, position, xy[i]), grid=cp.code, alt_m=cp.alt_m))
        position = xy[i]
    extra = {"checkpoints": float(len(points)), "hover_s_total": sum(p.hover_s for p in points)}
    return Work(
        units=tuple(units), covered_local=Polygon(), area_m2=0.0, extra=extra, turnaround_s=turnaround_s
    )
