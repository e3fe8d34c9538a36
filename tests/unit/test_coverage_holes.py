"""Concave and holed grids: never longer than one whole-grid sweep, camera off over holes and gaps.

The baseline is computed here, independently of the planner, from its definition: at a given
angle, ``ceil(height / swath)`` lanes centred on the grid (pulled in to 5 % of a swath from the
edges when centring would put them closer), each running over the x-extent of (its swath band ∩
grid), lanes alternating, flown the best of the four ways round, with straight legs from the
launch point and to the landing point. Holes and gaps are crossed in transit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from shapely.affinity import rotate, translate
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from app.cli import main as cli_main
from geofences.frame import LocalFrame
from missions.camera import MAVIC_3E_WIDE
from missions.coverage import CoveragePath, plan_coverage_path
from missions.export import read_mission
from missions.items import MavCmd
from missions.planner import plan_coverage
from missions.profile import FlightProfile
from tests.unit.test_coverage import (
    assert_consistent,
    flyable,
    grids,
    independent_coverage_pct,
    legs_entering,
)

SWATH_M = 40.0
U_SHAPE = Polygon([(0, 0), (400, 0), (400, 300), (300, 300), (300, 100), (100, 100), (100, 300), (0, 300)])
COMB = Polygon(
    [(0, 0), (500, 0), (500, 300), (420, 300), (420, 80), (290, 80), (290, 300), (210, 300), (210, 80),
     (80, 80), (80, 300), (0, 300)]
)  # fmt: skip
SQUARE_HOLE = Polygon(box(0, 0, 400, 400).exterior.coords, [box(150, 150, 250, 250).exterior.coords])
DONUT = Point(200, 200).buffer(200, quad_segs=16).difference(Point(200, 200).buffer(90, quad_segs=16))
TWO_HOLES = Polygon(
    box(0, 0, 500, 300).exterior.coords,
    [box(80, 100, 180, 200).exterior.coords, Point(350, 150).buffer(60, quad_segs=8).exterior.coords],
)


def lake() -> Polygon:
    """The lake grid of bench/plan_quality.py: 400 x 400 m, an irregular hole about 150 m across."""
    hole = []
    for k in range(24):
        a = 2.0 * math.pi * k / 24
        r = 72.0 + 9.0 * math.sin(3.0 * a) + 6.0 * math.cos(5.0 * a + 0.7)
        hole.append((190.0 + r * math.cos(a), 215.0 + r * math.sin(a)))
    return Polygon(box(0.0, 0.0, 400.0, 400.0).exterior.coords, [hole])


def star(points: int, outer_m: float, inner_m: float) -> Polygon:
    ring = []
    for k in range(2 * points):
        r = outer_m if k % 2 == 0 else inner_m
        a = math.pi / 2.0 + k * math.pi / points
        ring.append((outer_m + r * math.cos(a), outer_m + r * math.sin(a)))
    return Polygon(ring)


CRESCENT = Point(200, 200).buffer(200, quad_segs=16).difference(Point(280, 200).buffer(150, quad_segs=16))

SHAPES = {
    "U": U_SHAPE,
    "star": star(5, 250.0, 110.0),
    "crescent": CRESCENT,
    "comb": COMB,
    "square hole": SQUARE_HOLE,
    "donut": DONUT,
    "two holes": TWO_HOLES,
    "lake": lake(),
}


def whole_grid_m(
    area: BaseGeometry,
    swath_m: float,
    angle_deg: float,
    *,
    turnaround_m: float = 0.0,
    start: tuple[float, float] | None = None,
    end: tuple[float, float] | None = None,
) -> float:
    """The whole-grid single-direction boustrophedon's length at one angle (see the module notes)."""
    turn = rotate(area, -angle_deg, origin=(0.0, 0.0))
    minx, miny, maxx, maxy = turn.bounds
    height = maxy - miny
    n = max(1, math.ceil(height / swath_m - 1e-9))
    margin, spacing = (height - (n - 1) * swath_m) / 2.0, swath_m
    least = min(0.05 * swath_m, height / 2.0)
    if margin < least and n > 1:
        margin, spacing = least, (height - 2.0 * least) / (n - 1)
    lanes = []
    for k in range(n):
        y = miny + margin + k * spacing
        x0, _, x1, _ = box(minx - 1.0, y - swath_m / 2.0, maxx + 1.0, y + swath_m / 2.0).intersection(turn).bounds
        lanes.append(((x0 - turnaround_m, y), (x1 + turnaround_m, y)))
    ends = [
        None if p is None else tuple(rotate(Point(p), -angle_deg, origin=(0.0, 0.0)).coords[0])
        for p in (start, end)
    ]
    best = math.inf
    for order in (lanes, lanes[::-1]):
        for first_forward in (True, False):
            pts: list[tuple[float, float]] = []
            for k, (a, b) in enumerate(order):
                pts += [a, b] if (k % 2 == 0) == first_forward else [b, a]
            route = [p for p in (ends[0], *pts, ends[1]) if p is not None]
            best = min(best, sum(math.dist(p, q) for p, q in pairwise(route)))
    return best


def flown_m(path: CoveragePath, start: tuple[float, float] | None, end: tuple[float, float] | None) -> float:
    """The path with its straight launch and landing legs."""
    length = path.length_m
    if start is not None:
        length += math.dist(start, path.waypoints[0])
    if end is not None:
        length += math.dist(path.waypoints[-1], end)
    return length


def camera_on_where_no_grid(
    area: BaseGeometry,
    sweeps: Sequence[tuple[tuple[float, float], ...]],
    swath_m: float = SWATH_M,
    tolerance_m: float = 1e-6,
) -> int:
    """Sample points of camera-on legs (every metre) whose swath cross-section misses the grid."""
    shapely.prepare(area)
    misses = 0
    for start, end in sweeps:
        a, b = np.asarray(start), np.asarray(end)
        length = float(np.hypot(*(b - a)))
        if length == 0.0:
            continue
        u = (b - a) / length
        normal = np.array([-u[1], u[0]]) * (swath_m / 2.0)
        ts = np.linspace(0.0, 1.0, max(2, math.ceil(length) + 1))
        centres = a[None, :] + ts[:, None] * (b - a)[None, :]
        sections = shapely.linestrings(np.stack([centres - normal, centres + normal], axis=1))
        misses += int(np.count_nonzero(shapely.distance(area, sections) > tolerance_m))
    return misses


def holes_of(area: BaseGeometry) -> BaseGeometry:
    return shapely.union_all([Polygon(r) for p in shapely.get_parts(area) for r in p.interiors])


# ----------------------------------------------------------------------------------------------
# Never longer than the whole-grid sweep


@pytest.mark.parametrize("angle_deg", [0.0, 45.0, 90.0])
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_route_is_never_longer_than_the_whole_grid_sweep_at_the_same_angle(name: str, angle_deg: float) -> None:
    area = SHAPES[name]
    start, end = (-60.0, -40.0), (-60.0, -40.0)
    path = plan_coverage_path(area, SWATH_M, angle_deg=angle_deg, start_xy=start, end_xy=end, turnaround_m=5.0)
    baseline = whole_grid_m(area, SWATH_M, angle_deg, turnaround_m=5.0, start=start, end=end)
    assert flown_m(path, start, end) <= baseline + 1e-6
    assert independent_coverage_pct(area, path.sweeps, SWATH_M) >= 99.5
    assert camera_on_where_no_grid(area, [(s.start, s.end) for s in path.sweeps]) == 0
    assert_consistent(path)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_searched_direction_is_never_longer_than_the_whole_grid_sweep_at_any_3_degree_angle(name: str) -> None:
    area = SHAPES[name]
    path = plan_coverage_path(area, SWATH_M)
    baseline = min(whole_grid_m(area, SWATH_M, float(a)) for a in range(0, 180, 3))
    assert path.length_m <= baseline + 1e-6
    assert independent_coverage_pct(area, path.sweeps, SWATH_M) >= 99.5


def test_holed_and_concave_grids_are_shorter_than_with_the_holes_avoided() -> None:
    for name in ("square hole", "lake", "two holes", "donut"):
        area = SHAPES[name]
        crossing = plan_coverage_path(area, SWATH_M)
        avoiding = plan_coverage_path(area, SWATH_M, avoid_holes=True)
        assert crossing.length_m < avoiding.length_m, name


def test_utm_sized_coordinates_cross_holes_like_local_ones() -> None:
    far = translate(SHAPES["lake"], 500_000.0, 3_500_000.0)
    near = plan_coverage_path(SHAPES["lake"], SWATH_M)
    assert plan_coverage_path(far, SWATH_M).length_m == pytest.approx(near.length_m, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# Camera off over holes and gaps; avoid_holes; exclusion zones


def test_holes_are_crossed_with_the_camera_off() -> None:
    area = SQUARE_HOLE
    path = plan_coverage_path(area, SWATH_M, angle_deg=0.0)
    hole = holes_of(area)
    assert legs_entering(path, hole) > 0  # the path does fly over the hole ...
    assert camera_on_where_no_grid(area, [(s.start, s.end) for s in path.sweeps]) == 0  # ... camera off
    # Lanes whose swath lies wholly across the hole are split into two camera-on stretches there.
    split = [s for s in path.sweeps if 150.0 + 20.0 <= s.start[1] <= 250.0 - 20.0]
    assert split
    assert all(max(s.start[0], s.end[0]) <= 150.0 + 1e-6 or min(s.start[0], s.end[0]) >= 250.0 - 1e-6 for s in split)


def test_avoid_holes_never_enters_a_hole() -> None:
    for name, area in SHAPES.items():
        path = plan_coverage_path(area, SWATH_M, avoid_holes=True, start_xy=(-50.0, -50.0))
        assert legs_entering(path, holes_of(area)) == 0, name
        assert independent_coverage_pct(area, path.sweeps, SWATH_M) >= 99.5, name


def test_whole_grid_sweep_never_crosses_an_exclusion_zone_in_a_gap() -> None:
    school = box(150, 180, 250, 260)  # in the U's gap, where lanes across the whole grid would pass
    for angle in (None, 0.0):
        path = plan_coverage_path(U_SHAPE, SWATH_M, obstacles=[school], clearance_m=5.0, angle_deg=angle)
        assert legs_entering(path, school.buffer(5.0)) == 0
        assert independent_coverage_pct(flyable(U_SHAPE, [school], 5.0), path.sweeps, SWATH_M) >= 99.5
        avoiding = plan_coverage_path(
            U_SHAPE, SWATH_M, obstacles=[school], clearance_m=5.0, angle_deg=angle, avoid_holes=True
        )
        assert path.length_m <= avoiding.length_m + 1e-6


def test_exclusion_zone_inside_a_hole_is_still_avoided() -> None:
    area = SQUARE_HOLE
    tower = box(185, 185, 215, 215)  # inside the hole: crossing the hole is allowed, the tower is not
    path = plan_coverage_path(area, SWATH_M, obstacles=[tower], clearance_m=5.0, start_xy=(0.0, 0.0))
    assert legs_entering(path, tower.buffer(5.0)) == 0
    assert independent_coverage_pct(area, path.sweeps, SWATH_M) >= 99.5
    assert_consistent(path)


@settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(grids())
def test_random_grids_crossing_holes_stay_out_of_obstacles_and_are_never_longer(
    grid: tuple[Polygon, list[Polygon], float, float, float],
) -> None:
    area, obstacles, swath, clearance, turnaround = grid
    region = flyable(area, obstacles, clearance)
    assume(region.area > 500.0)
    kwargs = {"obstacles": obstacles, "clearance_m": clearance, "turnaround_m": turnaround}
    start = (-400.0, -400.0)
    path = plan_coverage_path(area, swath, start_xy=start, **kwargs)  # type: ignore[arg-type]
    avoiding = plan_coverage_path(area, swath, start_xy=start, avoid_holes=True, **kwargs)  # type: ignore[arg-type]
    assert independent_coverage_pct(region, path.sweeps, swath) >= 99.5
    blocked = shapely.union_all([o.buffer(clearance) for o in obstacles]) if obstacles else Polygon()
    assert legs_entering(path, blocked) == 0
    assert flown_m(path, start, None) <= flown_m(avoiding, start, None) + 1e-6
    assert_consistent(path)


# ----------------------------------------------------------------------------------------------
# The compiled mission: the camera trigger brackets the work, never a hole


FRAME = LocalFrame.for_lonlat(120.54, 31.49)
ORIGIN = FRAME.xy(120.54, 31.49)


def camera_legs(items: Sequence[object]) -> tuple[list[tuple[tuple[float, float], ...]], list[LineString]]:
    """(camera-on legs, camera-off legs) between NAV waypoints, in local metres around the origin."""
    on_legs: list[tuple[tuple[float, float], ...]] = []
    off_legs: list[LineString] = []
    camera = False
    prev: tuple[float, float] | None = None
    for item in items[1:]:
        command = item.command  # type: ignore[attr-defined]
        if command == MavCmd.DO_SET_CAM_TRIGG_DIST:
            camera = item.param1 > 0.0  # type: ignore[attr-defined]
        elif command == MavCmd.NAV_WAYPOINT:
            x, y = FRAME.xy(item.y / 1e7, item.x / 1e7)  # type: ignore[attr-defined]
            here = (x - ORIGIN[0], y - ORIGIN[1])
            if prev is not None and here != prev:
                if camera:
                    on_legs.append((prev, here))
                else:
                    off_legs.append(LineString([prev, here]))
            prev = here
        elif command in (MavCmd.NAV_TAKEOFF, MavCmd.NAV_RETURN_TO_LAUNCH, MavCmd.NAV_LAND):
            prev = None
    return on_legs, off_legs


def test_compiled_mission_triggers_the_camera_only_where_the_swath_sees_the_grid() -> None:
    area_m = SQUARE_HOLE
    grid = FRAME.to_wgs84(translate(area_m, *ORIGIN))
    home = FRAME.lonlat(ORIGIN[0] - 30.0, ORIGIN[1] - 30.0)
    profile = FlightProfile(alt_m=60.0)
    crossing = plan_coverage(grid, home=home, profile=profile, camera=MAVIC_3E_WIDE, side_overlap_pct=50.0)
    avoiding = plan_coverage(
        grid, home=home, profile=profile, camera=MAVIC_3E_WIDE, side_overlap_pct=50.0, avoid_holes=True
    )
    assert crossing.ok and avoiding.ok
    assert crossing.stats.coverage_pct >= 99.5
    assert crossing.stats.length_m < avoiding.stats.length_m
    swath = crossing.stats.extra["swath_m"]
    inner_hole = holes_of(area_m).buffer(-1.0)
    (sortie,) = crossing.sorties
    on_legs, off_legs = camera_legs(sortie.items)
    assert on_legs
    # Every camera-on leg: the swath touches the grid all along it (so no photo of the hole alone),
    # to within the items' 1e-7 degree resolution.
    assert camera_on_where_no_grid(area_m, on_legs, swath, tolerance_m=0.05) == 0
    assert any(leg.intersects(inner_hole) for leg in off_legs)  # the hole is crossed, camera off
    avoid_on, avoid_off = camera_legs(avoiding.sorties[0].items)
    assert not any(LineString(leg).intersects(inner_hole) for leg in avoid_on)
    assert not any(leg.intersects(inner_hole) for leg in avoid_off)


# ----------------------------------------------------------------------------------------------
# aerogrid plan --avoid-holes


def holed_grid_file(tmp_path: Path) -> tuple[Path, Polygon]:
    """A one-grid FeatureCollection: the square with a square hole, at the test origin."""
    grid = FRAME.to_wgs84(translate(SQUARE_HOLE, *ORIGIN))
    feature = {
        "type": "Feature",
        "properties": {"code": "HB-09-01", "name": "湖心网格", "community_code": "HB-09", "street_code": "HB"},
        "geometry": shapely.geometry.mapping(grid),
    }
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path, grid


def waypoint_legs(path: Path) -> list[LineString]:
    """The NAV_WAYPOINT legs of an exported mission, in local metres around the origin."""
    pts = []
    for item in read_mission(path).items[1:]:
        if item.command == MavCmd.NAV_WAYPOINT:
            x, y = FRAME.xy(item.y / 1e7, item.x / 1e7)
            pts.append((x - ORIGIN[0], y - ORIGIN[1]))
    return [LineString([a, b]) for a, b in pairwise(pts) if a != b]


def test_cli_avoid_holes_keeps_the_route_out_of_the_hole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grids_file, _ = holed_grid_file(tmp_path)
    home = "{:.7f},{:.7f}".format(*FRAME.lonlat(ORIGIN[0] - 30.0, ORIGIN[1] - 30.0))
    args = ["plan", str(grids_file), "--grid", "HB-09-01", "--home", home, "--kind", "coverage"]
    inner_hole = holes_of(SQUARE_HOLE).buffer(-1.0)
    crossing, avoiding = tmp_path / "crossing.waypoints", tmp_path / "avoiding.waypoints"
    assert cli_main([*args, "--export", str(crossing)]) == 0, capsys.readouterr()
    assert cli_main([*args, "--avoid-holes", "--export", str(avoiding)]) == 0, capsys.readouterr()
    assert any(leg.intersects(inner_hole) for leg in waypoint_legs(crossing))
    assert not any(leg.intersects(inner_hole) for leg in waypoint_legs(avoiding))
