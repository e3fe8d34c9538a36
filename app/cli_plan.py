"""`aerogrid plan`: plan a route from GeoJSON files, print its statistics, export it.

Works offline (no database, no service): the same planning core the API uses, on files. Exit
status 0 for a clean plan, 3 when the plan has violations (it is still exported, for review),
2 for bad input or an export that cannot be made; then no export file is written at all, because
every ``--export`` is rendered and checked before the first is written.
The grid kinds (coverage, perimeter, broadcast) take a file of polygons and ``--grid``: any
FeatureCollection of Polygons/MultiPolygons, each picked by its ``code`` property or, without one,
by its index (``app.plan_areas``). The field kinds (spray, inspect, checkpoint) take ``--sites``
(spray targets, key sites, checkpoints), all of their kind or those picked by ``--site`` or by
``--grid`` (a site's ``grid_code``). ``--home`` is read in ``--home-crs``, by default the ``--crs``
of the files, since both are usually copied from the same map.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry

from app.plan_areas import parse_plan_areas
from geofences.crs import CoordinateSystem, bd09_to_wgs84, gcj02_to_wgs84
from geofences.geojson import GeoJSONError, SiteKind, parse_sites, parse_zones
from geofences.model import FenceSet
from missions import sites
from missions.export import ExportOptions, RenderedFile, render_export, write_rendered
from missions.export.geoid import egm96_undulation_m
from missions.limits import PlanLimits, check_estimate, estimate_work
from missions.plan import MissionPlan
from missions.planner import plan_checkpoints, plan_inspection, plan_multi_grid, plan_spray
from missions.profile import Battery, FlightProfile, Speaker, Sprayer

EXIT_VIOLATIONS = 3
GRID_KINDS = ("coverage", "perimeter", "broadcast")
SITE_KIND: dict[str, SiteKind] = {"spray": "spray_target", "inspect": "key_site", "checkpoint": "checkpoint"}


def _lonlat(text: str) -> tuple[float, float]:
    try:
        lon_text, lat_text = text.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LON,LAT, got {text!r}") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise argparse.ArgumentTypeError(f"LON,LAT out of range: {text!r}")
    return lon, lat


def _sprayer(text: str) -> Sprayer:
    try:
        tank_l, flow_l_per_min, swath_m = (float(v) for v in text.split(","))
        return Sprayer(tank_l=tank_l, flow_l_per_min=flow_l_per_min, swath_m=swath_m)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected TANK_L,FLOW_L_PER_MIN,SWATH_M: {exc}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("grids_file", nargs="?", help="GeoJSON FeatureCollection of grids (grid kinds)")
    p.add_argument("--grid", action="append", default=[], dest="grids", help="grid code (repeat for several)")
    p.add_argument("--kind", choices=[*GRID_KINDS, *SITE_KIND], required=True)
    p.add_argument("--sites", help="GeoJSON FeatureCollection of spray targets, key sites, checkpoints")
    p.add_argument("--site", action="append", default=[], dest="site_codes", help="site code (repeat)")
    crs_choices = [c.value for c in CoordinateSystem]
    p.add_argument("--home", type=_lonlat, required=True, help="take-off point LON,LAT (in --home-crs)")
    p.add_argument("--crs", choices=crs_choices, help="coordinate system of the files (and of --home)")
    p.add_argument("--home-crs", choices=crs_choices, help="coordinate system of --home (default: --crs)")
    p.add_argument("--home-alt-m", type=float, help="take-off altitude above mean sea level (.kmz heights)")
    p.add_argument(
        "--geoid-undulation-m",
        type=float,
        help="EGM96 geoid height at take-off (.kmz ellipsoid heights; default: PROJ's EGM96 grid if installed)",
    )
    p.add_argument("--fences", help="GeoJSON FeatureCollection of zones")
    p.add_argument("--ceiling-m", type=float, default=120.0)
    p.add_argument("--alt-m", type=float, default=60.0)
    p.add_argument("--speed-mps", type=float, default=8.0)
    p.add_argument("--transit-speed-mps", type=float, default=12.0)
    p.add_argument("--swath-m", type=float, default=40.0, help="coverage lane spacing")
    p.add_argument("--turnaround-m", type=float, default=0.0)
    p.add_argument(
        "--avoid-holes", action="store_true", help="coverage: never fly over a grid's holes (default: may, camera off)"
    )
    p.add_argument("--margin-m", type=float, default=10.0, help="perimeter: inset from the boundary")
    p.add_argument("--audible-radius-m", type=float, help="broadcast: measured radius (default: from levels)")
    p.add_argument("--speaker-db", type=float, default=125.0, help="broadcast: level at 1 m")
    p.add_argument("--message-s", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--sprayer", type=_sprayer, default="10,1.5,5", help="spray: TANK_L,FLOW_L_PER_MIN,SWATH_M"
    )
    p.add_argument("--standoff-m", type=float, default=20.0, help="inspect: orbit distance beyond the site")
    p.add_argument("--min-standoff-m", type=float, default=5.0, help="inspect: least distance when shrunk")
    p.add_argument("--photo-step-deg", type=float, default=30.0, help="inspect: a photo every N degrees")
    p.add_argument("--direction", choices=["cw", "ccw"], default="ccw", help="perimeter and orbit direction")
    p.add_argument("--order", choices=["given", "optimised"], default="given", help="checkpoint order")
    p.add_argument("--hover-s", type=int, default=30, help="checkpoint: hover where the file gives none")
    p.add_argument(
        "--turnaround-s", type=float, default=300.0, help="checkpoint: ground time between sorties"
    )
    p.add_argument("--battery-wh", type=float, help="split into sorties beyond this battery (25%% reserve)")
    p.add_argument("--end", choices=["rtl", "land"], default="rtl")
    p.add_argument(
        "--export", action="append", default=[], help="output file: .plan .waypoints .geojson .kmz"
    )


CLI_LIMITS = PlanLimits(max_lanes=40_000, max_hover_points=1_000, max_vertices=200_000, max_items=100_000)
"""Larger than the service's defaults (ten times, and three times the hover points, whose placement
grows fastest: 600 points take about a minute): a planner's own machine may take on more work, not
unbounded work."""


def bounded(kind: str, areas: list[BaseGeometry], **options: Any) -> None:
    """Refuse (``PlanTooLarge``, a ValueError) a plan whose estimated work is over ``CLI_LIMITS``."""
    check_estimate(estimate_work(kind, areas, options), CLI_LIMITS, one_sortie=False)


def _load(path: str) -> object:
    return json.loads(Path(path).read_text(encoding="utf-8"))


_TO_WGS84 = {
    CoordinateSystem.WGS84: lambda lon, lat: (lon, lat),
    CoordinateSystem.GCJ02: gcj02_to_wgs84,
    CoordinateSystem.BD09: bd09_to_wgs84,
}


def home_wgs84(args: argparse.Namespace) -> tuple[float, float]:
    """``--home`` in WGS-84: a user copies it from the same map as the files, so ``--crs`` applies."""
    crs_name = args.home_crs or args.crs
    lon, lat = args.home
    return _TO_WGS84[CoordinateSystem(crs_name)](lon, lat) if crs_name else (lon, lat)


def build_plan(args: argparse.Namespace) -> MissionPlan:
    crs = CoordinateSystem(args.crs) if args.crs else None
    home = home_wgs84(args)
    zones = tuple(z.zone for z in parse_zones(_load(args.fences), crs=crs)) if args.fences else ()
    profile = FlightProfile(
        alt_m=args.alt_m,
        speed_mps=args.speed_mps,
        transit_speed_mps=args.transit_speed_mps,
        turnaround_m=args.turnaround_m,
        end_action=args.end,
    )
    fences = FenceSet(zones=zones, ceiling_m=args.ceiling_m)
    battery = Battery(capacity_wh=args.battery_wh) if args.battery_wh else None
    if args.kind in SITE_KIND:
        return _field_plan(args, crs, home, profile, fences, battery)
    if not args.grids_file or not args.grids:
        raise ValueError(f"--kind {args.kind} needs a grids file and --grid")
    grids = {g.code: g for g in parse_plan_areas(_load(args.grids_file), crs=crs)}
    missing = [c for c in args.grids if c not in grids]
    if missing:
        raise ValueError(f"--grid: no grid {', '.join(missing)} in {args.grids_file}")
    speaker = Speaker(level_db_at_1m=args.speaker_db, audible_radius_m=args.audible_radius_m)
    areas = [grids[c].geometry for c in args.grids]
    bounded(args.kind, areas, profile=profile, fences=fences, swath_m=args.swath_m, speaker=speaker)
    return plan_multi_grid(
        [(c, grids[c].geometry) for c in args.grids],
        args.kind,
        home=home,
        profile=profile,
        fences=fences,
        battery=battery,
        swath_m=args.swath_m if args.kind == "coverage" else None,
        avoid_holes=args.avoid_holes,
        margin_m=args.margin_m,
        direction=args.direction,
        speaker=speaker,
        message_s=args.message_s,
        repeats=args.repeats,
    )


def _field_plan(
    args: argparse.Namespace,
    crs: CoordinateSystem | None,
    home: tuple[float, float],
    profile: FlightProfile,
    fences: FenceSet,
    battery: Battery | None,
) -> MissionPlan:
    if not args.sites:
        raise ValueError(f"--kind {args.kind} needs --sites FILE")
    doc = _load(args.sites)
    codes: set[str] | None = None
    if args.site_codes or args.grids:
        in_grids = {
            f.code for f in parse_sites(doc, kind=SITE_KIND[args.kind], crs=crs) if f.grid_code in args.grids
        }
        codes = set(args.site_codes) | in_grids
    common: dict[str, Any] = {"home": home, "profile": profile, "fences": fences, "battery": battery}
    if args.kind == "spray":
        targets = sites.spray_targets(doc, crs=crs, codes=codes)
        bounded("spray", [], targets=targets, sprayer=args.sprayer, profile=profile, fences=fences)
        return plan_spray(targets, sprayer=args.sprayer, **common)
    if args.kind == "inspect":
        key_sites = sites.inspection_sites(doc, crs=crs, codes=codes)
        bounded("inspect", [], sites=key_sites, photo_step_deg=args.photo_step_deg, fences=fences)
        return plan_inspection(
            key_sites,
            standoff_m=args.standoff_m,
            min_standoff_m=args.min_standoff_m,
            photo_step_deg=args.photo_step_deg,
            direction=args.direction,
            **common,
        )
    points = sites.checkpoints(doc, crs=crs, codes=codes, default_hover_s=args.hover_s)
    bounded("checkpoint", [], points=points, fences=fences)
    return plan_checkpoints(points, order=args.order, turnaround_s=args.turnaround_s, **common)


def report(plan: MissionPlan) -> str:
    s = plan.stats
    lines = [
        f"{plan.kind} plan: {s.sorties} sortie(s), {sum(len(x.items) for x in plan.sorties)} mission items",
        f"  length      {s.length_m:10.0f} m",
        f"  flight time {s.flight_time_s / 60:10.1f} min",
        f"  energy      {s.energy_wh:10.1f} Wh",
        f"  turns       {s.turns:10d}",
        f"  photos      {s.photos:10d}",
    ]
    if s.area_m2 > 0.0:
        lines.append(f"  coverage    {s.coverage_pct:10.2f} %")
    if s.hover_points:
        lines.append(f"  hover points{s.hover_points:10d}")
    lines += [f"  {k:<12}{v:10.3f}" for k, v in sorted(s.extra.items())]
    lines += [
        f"  arrival {a.code} sortie {a.sortie} at {a.arrival_s:.0f} s"
        + (f" (waits {a.wait_s:.0f} s)" if a.wait_s else "")
        for a in s.arrivals
    ]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines += [
        f"VIOLATION sortie {v.sortie} leg {v.leg} zone {v.zone_id or '-'} {v.kind} {v.distance_m:.1f} m: {v.message}"
        for v in plan.violations
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        plan = build_plan(args)
    except GeoJSONError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(report(plan) + "\n")
    rendered = render_exports(plan, args)
    if rendered is None:
        return 2
    try:
        written = write_rendered(rendered)
    except OSError as exc:
        sys.stderr.write(f"error: --export: {exc}\n")
        return 2
    sys.stdout.write("".join(f"wrote {p}\n" for p in written))
    return 0 if plan.ok else EXIT_VIOLATIONS


def render_exports(plan: MissionPlan, args: argparse.Namespace) -> list[RenderedFile] | None:
    """Every ``--export`` rendered in memory; None (after reporting each refusal) if any fails.

    Rendering all of them first means a refused KMZ does not leave the other formats written.
    """
    options = ExportOptions(home_alt_amsl_m=args.home_alt_m, geoid_undulation_m=args.geoid_undulation_m)
    if (
        any(Path(target).suffix.lower() == ".kmz" for target in args.export)
        and args.geoid_undulation_m is None
        and egm96_undulation_m(plan.home_lon_deg, plan.home_lat_deg) is None
    ):
        sys.stderr.write(
            "warning: .kmz ellipsoidHeight uses a geoid undulation of 0 m: PROJ has no EGM96 grid here "
            "(give --geoid-undulation-m)\n"
        )
    rendered: list[RenderedFile] = []
    failed = False
    for target in args.export:
        try:
            rendered.extend(render_export(plan, target, options))
        except ValueError as exc:
            sys.stderr.write(f"error: --export {target}: {exc}\n")
            failed = True
    paths = [file.path for file in rendered]
    clashes = sorted({str(path) for path in paths if paths.count(path) > 1})
    if clashes:
        sys.stderr.write(f"error: --export: {', '.join(clashes)} would be written twice\n")
        failed = True
    return None if failed else rendered
