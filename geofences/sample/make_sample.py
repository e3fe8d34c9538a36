"""Generate the fictional sample district 湖滨街道 (Hubin street) as three GeoJSON files.

Run ``python -m geofences.sample.make_sample`` to rewrite ``grids.geojson``, ``zones.geojson`` and
``sites.geojson`` beside this module; the output is committed, and the same ``SEED`` gives
byte-identical files (``random.Random`` is stable across Python versions and GEOS is deterministic;
a different GEOS release could move a vertex, which the sample test would catch).

How the district is built, all in metres in the local UTM frame and converted to WGS-84 at the end:

1. The street boundary is an irregular closed curve (an ellipse with a few seeded harmonics and
   small bank-like wiggles) around lon 120.54, lat 31.49, the Taihu lakeside between Suzhou and Wuxi.
2. Grid seeds are a jittered hexagonal lattice; their Voronoi cells, clipped to the boundary by
   noding all edges together, form a coverage in which neighbours share identical edges, as real
   grids drawn along roads do. Cells too small to be a grid are merged into the neighbour that gives
   the most compact result, then the coverage is simplified without opening gaps (GEOS coverage
   simplification).
3. Grids are grouped into communities (社区/村) by k-means on their centroids and numbered north to
   south within each community: ``HB-03-07`` is the seventh grid of community 03.
4. The roomiest inner grid gets a lake (镜湖) as a hole, with an island grid (湖心岛) in the lake.
5. Zones (school, substation, hospital, police station, kindergarten, lake water, the street's
   inclusion fence) and mission sites are placed one per grid, each well inside its grid, so every
   exclusion lies inside the district and no mission site sits in a zone that forbids its work.

The script checks its own output with ``parse_grids``/``parse_zones``/``find_overlaps`` and refuses
to write a district that does not meet those requirements.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.frame import LocalFrame
from geofences.geojson import (
    GridFeature,
    find_overlaps,
    geometry_to_geojson,
    grids_to_feature_collection,
    parse_grids,
    parse_zones,
    zones_to_feature_collection,
)
from geofences.model import Circle, Zone, ZoneKind
from geofences.sample import GRIDS_PATH, SITES_PATH, ZONES_PATH

log = logging.getLogger(__name__)

SEED = 13  # a small seed whose district meets every requirement in _check with some margin
CENTRE_LON_DEG = 120.54
CENTRE_LAT_DEG = 31.49
STREET_CODE = "HB"
STREET_NAME = "湖滨街道"
COMMUNITIES = (
    ("HB-01", "渔港社区"),
    ("HB-02", "梅园社区"),
    ("HB-03", "荷塘村"),
    ("HB-04", "柳岸社区"),
    ("HB-05", "新桥社区"),
    ("HB-06", "望湖社区"),
)
STREET_SEMI_AXES_M = (1450.0, 1100.0)
SEED_SPACING_M = 360.0
SEED_JITTER = 0.22  # fraction of the spacing
SEED_EDGE_CLEARANCE = 0.05  # fraction of the spacing between boundary and the nearest seed
MIN_ACROSS_M = 200.0
MAX_ACROSS_M = 600.0
MERGE_BELOW_M = 230.0  # merge cells smaller than this (a margin above MIN_ACROSS_M)
SIMPLIFY_TOLERANCE_M = 10.0
INCLUSION_BUFFER_M = 100.0
CEILING_M = 120.0
EDGE_MARGIN_M = 15.0  # every placed zone and site keeps this far inside its grid
COORD_DECIMALS = 7

_SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭何高林沈顾钱陆蒋"
_GIVEN = (
    "建国",
    "海燕",
    "志强",
    "丽华",
    "晓明",
    "秀英",
    "文斌",
    "雪梅",
    "国平",
    "玉兰",
    "立新",
    "春燕",
    "伟",
    "静",
    "磊",
    "敏",
)
_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True, slots=True)
class _Site:
    """A feature of sites.geojson: a mission target or waypoint, in local metres until written."""

    code: str
    name: str
    kind: str
    grid_code: str
    shape_local: BaseGeometry
    hover_s: float | None = None


@dataclass(frozen=True, slots=True)
class _Footprint:
    """Something to place in a grid: a rectangle (width x depth) or, with ``radius_m``, a circle/point."""

    width_m: float = 0.0
    depth_m: float = 0.0
    radius_m: float = 0.0

    @property
    def reach_m(self) -> float:
        """How far the footprint extends from its centre, whatever its rotation."""
        return max(self.radius_m, math.hypot(self.width_m, self.depth_m) / 2.0)


def chinese_number(n: int) -> str:
    """1..99 as Chinese numerals (七, 十二, 二十), as grid names use them: 第十二网格."""
    if not 0 < n < 100:
        raise ValueError(f"grid numbers run 1..99, got {n}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def across_m(polygon: BaseGeometry) -> float:
    """The size of a grid: the long side of its minimum rotated bounding rectangle, in metres."""
    box = shapely.oriented_envelope(polygon)
    xs, ys = np.asarray(box.exterior.coords).T
    sides = np.hypot(np.diff(xs), np.diff(ys))
    return float(np.max(sides))


def _blob(
    rng: random.Random,
    centre: tuple[float, float],
    semi_axes_m: tuple[float, float],
    n_vertices: int,
    wiggle: float,
) -> Polygon:
    """An irregular closed shape: an ellipse bent by three seeded harmonics and per-vertex wiggle."""
    phases = [rng.uniform(0.0, 2.0 * math.pi) for _ in range(3)]
    amplitudes = (0.13, 0.07, 0.04)
    points = []
    for k in range(n_vertices):
        theta = 2.0 * math.pi * k / n_vertices
        r = 1.0 + sum(
            a * math.sin((h + 2) * theta + p) for h, (a, p) in enumerate(zip(amplitudes, phases, strict=True))
        )
        r += rng.uniform(-wiggle, wiggle)
        points.append(
            (
                centre[0] + semi_axes_m[0] * r * math.cos(theta),
                centre[1] + semi_axes_m[1] * r * math.sin(theta),
            )
        )
    return Polygon(points)


def _seeds(rng: random.Random, boundary: Polygon) -> list[tuple[float, float]]:
    """A jittered hexagonal lattice over the boundary, keeping seeds clear of its edge."""
    min_x, min_y, max_x, max_y = boundary.bounds
    row_step_m = SEED_SPACING_M * math.sqrt(3.0) / 2.0
    inner = boundary.buffer(-SEED_EDGE_CLEARANCE * SEED_SPACING_M)
    seeds = []
    for row in range(int((max_y - min_y) / row_step_m) + 1):
        offset_m = SEED_SPACING_M / 2.0 if row % 2 else 0.0
        for col in range(int((max_x - min_x) / SEED_SPACING_M) + 2):
            x = (
                min_x
                + offset_m
                + col * SEED_SPACING_M
                + rng.uniform(-SEED_JITTER, SEED_JITTER) * SEED_SPACING_M
            )
            y = min_y + row * row_step_m + rng.uniform(-SEED_JITTER, SEED_JITTER) * SEED_SPACING_M
            if inner.contains(Point(x, y)):
                seeds.append((x, y))
    return seeds


def _voronoi_coverage(seeds: Sequence[tuple[float, float]], boundary: Polygon) -> list[Polygon]:
    """Voronoi cells of ``seeds`` clipped to ``boundary``, neighbours sharing identical vertices.

    Clipping each cell on its own computes the crossing points with the boundary twice, once per
    neighbour, which need not agree to the last bit. Noding every edge together and polygonizing
    the result gives each face its edges exactly once.
    """
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=boundary.buffer(SEED_SPACING_M))
    linework = shapely.union_all([*(c.exterior for c in cells.geoms), boundary.exterior])
    faces = [f for f in shapely.polygonize([linework]).geoms if boundary.contains(f.representative_point())]
    seed_points = np.asarray(seeds)
    by_seed: dict[int, list[Polygon]] = {}
    for face in faces:
        p = face.representative_point()
        nearest = int(np.argmin(np.hypot(seed_points[:, 0] - p.x, seed_points[:, 1] - p.y)))
        by_seed.setdefault(nearest, []).append(face)
    return [_single(shapely.union_all(parts)) for _, parts in sorted(by_seed.items())]


def _single(geom: BaseGeometry) -> Polygon:
    if not isinstance(geom, Polygon):
        raise RuntimeError(f"expected one polygon, got {geom.geom_type}; try another SEED")
    return geom


def _merge_small(cells: list[Polygon]) -> list[Polygon]:
    """Merge each cell smaller than MERGE_BELOW_M into the neighbour that gives the most compact result."""
    cells = list(cells)
    while True:
        small = [i for i, c in enumerate(cells) if across_m(c) < MERGE_BELOW_M]
        if not small:
            return cells
        i = min(small, key=lambda k: cells[k].area)
        neighbours = [j for j, c in enumerate(cells) if j != i and cells[i].intersection(c).length > 0.0]
        merged, j = min(
            ((_single(shapely.union_all([cells[i], cells[j]])), j) for j in neighbours),
            key=lambda pair: across_m(pair[0]),
        )
        cells = [c for k, c in enumerate(cells) if k not in (i, j)] + [merged]


def _communities(rng: random.Random, cells: Sequence[Polygon]) -> list[int]:
    """Community label of each cell: k-means on the centroids, seeded farthest-point start."""
    points = np.array([(c.centroid.x, c.centroid.y) for c in cells])
    centres = [points[rng.randrange(len(points))]]
    while len(centres) < len(COMMUNITIES):
        dist = np.min([np.hypot(*(points - c).T) for c in centres], axis=0)
        centres.append(points[int(np.argmax(dist))])
    centre_arr = np.array(centres)
    labels = np.zeros(len(points), dtype=int)
    for _ in range(50):
        dist = np.hypot(
            points[:, None, 0] - centre_arr[None, :, 0], points[:, None, 1] - centre_arr[None, :, 1]
        )
        labels = np.argmin(dist, axis=1)
        centre_arr = np.array([points[labels == k].mean(axis=0) for k in range(len(COMMUNITIES))])
    # Number communities west to east so the codes read across the map.
    order = np.argsort(centre_arr[:, 0])
    rank = {int(old): new for new, old in enumerate(order)}
    return [rank[int(label)] for label in labels]


def _inscribed(polygon: Polygon) -> tuple[float, float, float]:
    """Centre (x, y) and radius of the largest circle inside ``polygon``."""
    line = shapely.maximum_inscribed_circle(polygon, tolerance=1.0)
    (x0, y0), (x1, y1) = line.coords
    return x0, y0, math.hypot(x1 - x0, y1 - y0)


def _place(rng: random.Random, grid: Polygon, footprint: _Footprint) -> BaseGeometry | None:
    """The footprint set down well inside ``grid`` at a seeded spot and angle, or None if it won't fit."""
    cx, cy, radius_m = _inscribed(grid)
    slack_m = radius_m - footprint.reach_m - EDGE_MARGIN_M
    if slack_m < 0.0:
        return None
    angle = rng.uniform(0.0, 2.0 * math.pi)
    shift_m = rng.uniform(0.0, 0.6 * slack_m)
    x, y = cx + shift_m * math.cos(angle), cy + shift_m * math.sin(angle)
    if footprint.width_m > 0.0:
        w, d = footprint.width_m / 2.0, footprint.depth_m / 2.0
        rect = Polygon([(x - w, y - d), (x + w, y - d), (x + w, y + d), (x - w, y + d)])
        return affinity.rotate(rect, rng.uniform(0.0, 90.0), origin=(x, y))
    return Point(x, y)


@dataclass(frozen=True, slots=True)
class _LocalGrid:
    code: str
    name: str
    community: int
    polygon: Polygon


def _number_grids(cells: Sequence[Polygon], labels: Sequence[int]) -> list[_LocalGrid]:
    grids = []
    for community in range(len(COMMUNITIES)):
        members = [c for c, label in zip(cells, labels, strict=True) if label == community]
        _single(shapely.union_all(members))  # a community is one contiguous area
        members.sort(key=lambda c: (-round(c.centroid.y / 150.0), c.centroid.x))
        for number, cell in enumerate(members, start=1):
            code = f"{COMMUNITIES[community][0]}-{number:02d}"
            grids.append(_LocalGrid(code, f"第{chinese_number(number)}网格", community, cell))
    return grids


def _add_lake(rng: random.Random, grids: list[_LocalGrid], outline: Polygon) -> tuple[Polygon, str, str]:
    """Cut a lake into the roomiest inner grid and add the island as its own grid.

    Returns the water (lake minus island) and the codes of the lakeside grid and the island grid.
    """
    inner = [g for g in grids if not g.polygon.exterior.intersects(outline.exterior)]
    host = max(inner, key=lambda g: _inscribed(g.polygon)[2])
    cx, cy, radius_m = _inscribed(host.polygon)
    lake_r_m = 0.62 * radius_m
    lake = _blob(rng, (cx, cy), (lake_r_m * 1.15, lake_r_m * 0.85), 28, 0.02)
    island = _blob(rng, (cx + 0.15 * lake_r_m, cy), (0.3 * lake_r_m, 0.2 * lake_r_m), 12, 0.03)
    if not host.polygon.buffer(-EDGE_MARGIN_M).contains(lake) or not lake.buffer(-EDGE_MARGIN_M).contains(
        island
    ):
        raise RuntimeError("the lake does not fit its grid; try another SEED")
    index = grids.index(host)
    grids[index] = _LocalGrid(
        host.code, host.name, host.community, Polygon(host.polygon.exterior, [lake.exterior])
    )
    community_code = COMMUNITIES[host.community][0]
    next_number = 1 + sum(1 for g in grids if g.community == host.community)
    island_code = f"{community_code}-{next_number:02d}"
    grids.append(
        _LocalGrid(island_code, f"第{chinese_number(next_number)}网格（湖心岛）", host.community, island)
    )
    return Polygon(lake.exterior, [island.exterior]), host.code, island_code


def _worker(rng: random.Random, n: int) -> tuple[str, str]:
    """A fictional grid worker (网格员) and phone; numbers are sequential in one made-up block."""
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN), f"1390510{n:04d}"


def _zone(
    code: str,
    name: str,
    kind: ZoneKind,
    shape: BaseGeometry,
    frame: LocalFrame,
    *,
    radius_m: float | None = None,
    max_alt_m: float | None = None,
) -> Zone:
    """A Zone from a local shape; a local Point with ``radius_m`` becomes a circle zone."""
    if radius_m is not None:
        lon_deg, lat_deg = frame.lonlat(shape.x, shape.y)
        return Zone(code, name, kind, circle=Circle(lon_deg, lat_deg, radius_m), max_alt_m=max_alt_m)
    return Zone(code, name, kind, polygon=frame.to_wgs84(shape), max_alt_m=max_alt_m)


_SPRAY_TARGETS = (
    "渔港新村老旧小区",
    "梅园二村老旧小区",
    "荷塘农贸市场广场",
    "柳岸花园老旧小区",
    "新桥商业广场",
    "望湖新村老旧小区",
    "湖滨文化广场",
    "渔港老街危旧房片区",
)
_KEY_SITES = (
    ("湖滨冷链仓库", _Footprint(120.0, 60.0)),
    ("太湖生物实验室", _Footprint(80.0, 50.0)),
    ("新桥地块在建工地", _Footprint(160.0, 110.0)),
    ("危化品中转仓库", _Footprint()),
    ("湖滨物流仓储中心", _Footprint(140.0, 70.0)),
)
_CHECKPOINTS = ("梅园河闸口", "新桥桥头", "渔港码头", "垃圾中转站", "荷塘菜场入口", "望湖公交枢纽")


def build(seed: int = SEED) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The three FeatureCollections (grids, zones, sites) for ``seed``; raises if requirements fail."""
    rng = random.Random(seed)
    frame = LocalFrame.for_lonlat(CENTRE_LON_DEG, CENTRE_LAT_DEG)
    centre = frame.xy(CENTRE_LON_DEG, CENTRE_LAT_DEG)
    rough_boundary = _blob(rng, centre, STREET_SEMI_AXES_M, 180, 0.006)

    cells = _merge_small(_voronoi_coverage(_seeds(rng, rough_boundary), rough_boundary))
    simplified = shapely.coverage_simplify(np.array(cells, dtype=object), SIMPLIFY_TOLERANCE_M)
    cells = [_single(c) for c in simplified]
    outline = _single(shapely.union_all(cells))
    grids = _number_grids(cells, _communities(rng, cells))
    water, lake_grid_code, island_code = _add_lake(rng, grids, outline)

    grid_features = []
    for index, g in enumerate(sorted(grids, key=lambda g: g.code)):
        community_code, community_name = COMMUNITIES[g.community]
        worker_name, worker_phone = _worker(rng, index + 1)
        grid_features.append(
            GridFeature(
                index=index,
                code=g.code,
                name=g.name,
                community_code=community_code,
                community_name=community_name,
                street_code=STREET_CODE,
                street_name=STREET_NAME,
                worker_name=worker_name,
                worker_phone=worker_phone,
                geometry=frame.to_wgs84(g.polygon),
            )
        )

    # One zone or site per grid, grids in a seeded order: spreads them out and keeps them apart.
    free = [g for g in grids if g.code not in (lake_grid_code, island_code)]
    rng.shuffle(free)
    slots = iter(free)

    def put(footprint: _Footprint) -> tuple[_LocalGrid, BaseGeometry]:
        for grid in slots:
            shape = _place(rng, grid.polygon, footprint)
            if shape is not None:
                return grid, shape
        raise RuntimeError("ran out of grids to place zones and sites in; try another SEED")

    inclusion = outline.buffer(INCLUSION_BUFFER_M, quad_segs=4).simplify(SIMPLIFY_TOLERANCE_M)
    zones = [
        _zone("HB-INC", "湖滨街道适飞空域", ZoneKind.INCLUSION, inclusion, frame, max_alt_m=CEILING_M),
        _zone("HB-NS-LAKE", "镜湖水域", ZoneKind.NO_SPRAY, water, frame),
    ]
    zone_specs = (
        ("HB-EX-SCH", "湖滨实验小学", ZoneKind.EXCLUSION, _Footprint(170.0, 110.0)),
        ("HB-EX-SUB", "湖滨110千伏变电站", ZoneKind.EXCLUSION, _Footprint(radius_m=45.0)),
        ("HB-QT-HOSP", "湖滨人民医院", ZoneKind.QUIET, _Footprint(150.0, 100.0)),
        ("HB-NP-POL", "湖滨派出所", ZoneKind.NO_PHOTO, _Footprint(70.0, 50.0)),
        ("HB-NS-KG", "梅园幼儿园", ZoneKind.NO_SPRAY, _Footprint(radius_m=40.0)),
    )
    for code, name, kind, footprint in zone_specs:
        _, shape = put(footprint)
        radius_m = footprint.radius_m or None
        zones.append(_zone(code, name, kind, shape, frame, radius_m=radius_m))

    site_specs = (
        *(("HB-ST", "spray_target", name, _Footprint(110.0, 70.0)) for name in _SPRAY_TARGETS),
        *(("HB-KS", "key_site", name, fp) for name, fp in _KEY_SITES),
        *(("HB-CP", "checkpoint", name, _Footprint()) for name in _CHECKPOINTS),
    )
    sites = []
    counters: dict[str, int] = {}
    for prefix, site_kind, name, footprint in site_specs:
        grid, shape = put(footprint)
        counters[prefix] = counters.get(prefix, 0) + 1
        hover_s = float(rng.choice((20, 30, 45, 60))) if site_kind == "checkpoint" else None
        sites.append(_Site(f"{prefix}-{counters[prefix]:02d}", name, site_kind, grid.code, shape, hover_s))

    grids_doc = grids_to_feature_collection(grid_features)
    zones_doc = zones_to_feature_collection(zones)
    sites_doc = {"type": "FeatureCollection", "features": [_site_feature(s, frame) for s in sites]}
    _check(grids_doc, zones_doc)
    return grids_doc, zones_doc, sites_doc


def _site_feature(site: _Site, frame: LocalFrame) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": site.code,
        "name": site.name,
        "kind": site.kind,
        "grid_code": site.grid_code,
    }
    if site.hover_s is not None:
        properties["hover_s"] = site.hover_s
    geometry = geometry_to_geojson(frame.to_wgs84(site.shape_local), precision=COORD_DECIMALS)
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _check(grids_doc: dict[str, Any], zones_doc: dict[str, Any]) -> None:
    """Refuse to write a district our own importer rejects or whose grids overlap."""
    grids = parse_grids(grids_doc)
    parse_zones(zones_doc)
    overlaps = find_overlaps(grids)
    if overlaps:
        raise RuntimeError(f"sample grids overlap: {overlaps}")
    communities = {g.community_code for g in grids}
    if len(grids) < 30 or len(communities) < 5:
        raise RuntimeError(f"only {len(grids)} grids in {len(communities)} communities; try another SEED")
    frame = LocalFrame.for_lonlat(CENTRE_LON_DEG, CENTRE_LAT_DEG)
    sizes_m = {g.code: across_m(frame.to_local(g.geometry)) for g in grids if "湖心岛" not in g.name}
    misfits = {
        code: round(size) for code, size in sizes_m.items() if not MIN_ACROSS_M <= size <= MAX_ACROSS_M
    }
    if misfits:
        raise RuntimeError(
            f"grids outside {MIN_ACROSS_M:g}-{MAX_ACROSS_M:g} m across: {misfits}; tune the lattice"
        )


def write_collection(path: Path, collection: dict[str, Any]) -> None:
    """Write one feature per line: small diffs when the generator changes, still valid JSON."""
    features = ",\n".join(
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in collection["features"]
    )
    head = {k: v for k, v in collection.items() if k != "features"}
    opening = json.dumps(head, ensure_ascii=False)[:-1]
    path.write_text(f'{opening}, "features": [\n{features}\n]}}\n', encoding="utf-8")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    grids_doc, zones_doc, sites_doc = build()
    for path, doc in ((GRIDS_PATH, grids_doc), (ZONES_PATH, zones_doc), (SITES_PATH, sites_doc)):
        write_collection(path, doc)
        log.info("wrote %s (%d features)", path, len(doc["features"]))


if __name__ == "__main__":
    main()
