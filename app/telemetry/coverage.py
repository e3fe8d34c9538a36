"""What a patrol's camera actually saw of a grid, from the flown track.

"Camera on" comes from what the vehicle did, not from the plan alone: every sample carries the
mission item the vehicle was flying to (MISSION_CURRENT, which ArduCopter and the simulator both
send) and the upload it was flying. ArduCopter runs the DO items that follow a NAV item when that
NAV item completes, so while the vehicle flies to NAV item ``seq`` its distance triggering is what
the last DO_SET_CAM_TRIGG_DIST before ``seq`` set (on for a distance > 0). A vehicle that leaves
AUTO (RTL, LAND after a failure, a pilot taking over) leaves the planned track, so only samples in
AUTO and armed count.

The footprint: a nadir pinhole camera (``missions.camera``) at the sample's altitude above home sees
a strip ``footprint_width_m`` wide across the track. Consecutive samples that both have the camera
on and fly within ``alt_band_m`` of the target item's altitude make a segment, buffered by half the
footprint width at the lower of its two altitudes (never overstating what was seen), with flat ends
and round joins (consecutive segments of nearly equal width are buffered together, see
``WIDTH_CHUNK_RATIO``).
Samples of different items more than ``max_gap_s`` apart break a run: the track between them is
unknown (a lost link). Everything is measured in the grid's local metric frame (``geofences.frame.LocalFrame``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.errors import GEOSException
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geofences.frame import LocalFrame
from missions.items import NAV_COMMANDS, MavCmd, MissionItem

ALT_BAND_M = 5.0
"""A sample counts when its altitude above home is within this of the target item's altitude."""
MAX_GAP_S = 5.0
"""Samples of different mission items further apart than this (vehicle time) do not join: the
track between them is unknown (a lost link). Samples flying to the same item always join: the
vehicle flew straight to it with the triggering unchanged, whatever the link did meanwhile."""
GEOJSON_GRID_DEG = 1e-7
"""The unseen part is computed on this grid (7 decimals, about a centimetre), valid."""


@dataclass(frozen=True, slots=True)
class TrackSample:
    """One stored position sample, as much of it as coverage needs."""

    time_s: float
    lon_deg: float
    lat_deg: float
    alt_rel_m: float
    mode: str | None
    armed: bool
    mission_seq: int | None


@dataclass(frozen=True, slots=True)
class CameraPlan:
    """Per mission item: whether triggering is on while flying to it, and its target altitude."""

    camera_on: tuple[bool, ...]
    target_alt_m: tuple[float | None, ...]

    @classmethod
    def from_items(cls, items: Sequence[MissionItem], alt_offset_m: float = 0.0) -> CameraPlan:
        """``alt_offset_m``: the sortie was uploaded that far above (below) its plan, as a mission run
        moved to a free altitude layer does (``app.scheduling.flying.shift_items``)."""
        on = False
        camera_on: list[bool] = []
        target_alt_m: list[float | None] = []
        for seq, item in enumerate(items):
            # Flying to ``seq`` happens after every DO item before it has run.
            camera_on.append(on and item.command in NAV_COMMANDS)
            nav = seq > 0 and item.command in NAV_COMMANDS
            target_alt_m.append(float(item.z) + alt_offset_m if nav else None)
            if item.command == MavCmd.DO_SET_CAM_TRIGG_DIST:
                on = item.param1 > 0.0
        return cls(camera_on=tuple(camera_on), target_alt_m=tuple(target_alt_m))

    def imaging(self, s: TrackSample, alt_band_m: float) -> bool:
        """The sample was taken in AUTO with triggering on and the altitude in band."""
        seq = s.mission_seq
        if not s.armed or s.mode != "AUTO" or seq is None or not 0 <= seq < len(self.camera_on):
            return False
        target = self.target_alt_m[seq]
        return self.camera_on[seq] and target is not None and abs(s.alt_rel_m - target) <= alt_band_m


@dataclass(frozen=True, slots=True)
class Coverage:
    """What was seen of one grid: areas in m², the unseen part in WGS-84."""

    grid_m2: float
    seen_m2: float
    seen_share: float
    unseen_wgs84: Polygon | MultiPolygon
    camera_samples: int


def imaging_runs(
    samples: Sequence[TrackSample],
    plan: CameraPlan,
    alt_band_m: float = ALT_BAND_M,
    max_gap_s: float = MAX_GAP_S,
) -> list[list[TrackSample]]:
    """Maximal runs of consecutive imaging samples, broken where the track between is unknown."""
    runs: list[list[TrackSample]] = []
    current: list[TrackSample] = []
    for s in samples:
        if plan.imaging(s, alt_band_m) and (not current or _joins(current[-1], s, max_gap_s)):
            current.append(s)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [s] if plan.imaging(s, alt_band_m) else []
    if len(current) >= 2:
        runs.append(current)
    return runs


def _joins(a: TrackSample, b: TrackSample, max_gap_s: float) -> bool:
    return a.mission_seq == b.mission_seq or b.time_s - a.time_s <= max_gap_s


WIDTH_CHUNK_RATIO = 1.002
"""Consecutive segments whose half-widths agree within this ratio are buffered as one line at the
narrowest of them: a constant-altitude lane is one buffer, not one per sample (a 0.2 % narrower strip
at most where the altitude wanders)."""


def _chunks(
    seg_half_m: npt.NDArray[np.float64], usable: npt.NDArray[np.bool_]
) -> list[tuple[int, int, float]]:
    """(first segment, last segment, half-width) of each run of usable segments of similar width."""
    out: list[tuple[int, int, float]] = []
    first, lo, hi = -1, 0.0, 0.0
    for k, (h, ok) in enumerate(zip(seg_half_m.tolist(), usable.tolist(), strict=True)):
        if first >= 0 and ok and max(hi, h) <= min(lo, h) * WIDTH_CHUNK_RATIO:
            lo, hi = min(lo, h), max(hi, h)
            continue
        if first >= 0:
            out.append((first, k - 1, lo))
        first, lo, hi = (k, h, h) if ok else (-1, 0.0, 0.0)
    if first >= 0:
        out.append((first, len(seg_half_m) - 1, lo))
    return out


def seen_local(
    runs: Sequence[Sequence[TrackSample]], frame: LocalFrame, width_at_m: Callable[[float], float]
) -> BaseGeometry:
    """The ground strips the runs imaged, in ``frame`` (metres)."""
    strips: list[BaseGeometry] = []
    for run in runs:
        xy = shapely.get_coordinates(frame.to_local(LineString([(s.lon_deg, s.lat_deg) for s in run])))
        half_m = np.array([width_at_m(max(0.0, s.alt_rel_m)) for s in run]) / 2.0
        seg_half_m = np.minimum(half_m[:-1], half_m[1:])
        seg_len_m = np.hypot(*(xy[1:] - xy[:-1]).T)
        chunks = _chunks(seg_half_m, (seg_len_m > 0.0) & (seg_half_m > 0.0))
        for first, last, radius_m in chunks:
            line = LineString(xy[first : last + 2]).simplify(0.01)
            strips.append(line.buffer(radius_m, cap_style="flat", join_style="round"))
        for (_, last_a, radius_a), (first_b, _, radius_b) in itertools.pairwise(chunks):
            if last_a + 1 == first_b:  # adjacent chunks: the round join their flat ends lack
                bend = LineString(xy[first_b - 1 : first_b + 2])
                strips.append(bend.buffer(min(radius_a, radius_b), cap_style="flat", join_style="round"))
    return shapely.union_all(strips) if strips else Polygon()


def _polygons(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """The areal part of an overlay result (lines and points from touching edges dropped)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    polys: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty:
            polys.append(part)
        elif isinstance(part, MultiPolygon):
            polys.extend(part.geoms)
    return MultiPolygon(polys) if polys else MultiPolygon()


def unseen_wgs84(grid_wgs84: Polygon | MultiPolygon, seen_wgs84: BaseGeometry) -> Polygon | MultiPolygon:
    """grid − seen on the 7-decimal grid, valid: an overlay with snap-rounding (GEOS OverlayNG).

    Rounding the difference afterwards (``set_precision``) fails now and then on a seen island
    inside the unseen part ("unable to assign free hole to a shell"), so the overlay itself works on
    the grid; the later steps are fallbacks should GEOS still refuse.
    """
    try:
        grid = shapely.set_precision(grid_wgs84, GEOJSON_GRID_DEG)
        return _polygons(shapely.difference(grid, seen_wgs84, grid_size=GEOJSON_GRID_DEG))
    except GEOSException:
        pass
    exact = shapely.difference(grid_wgs84, seen_wgs84)
    try:
        return _polygons(shapely.set_precision(exact, GEOJSON_GRID_DEG))
    except GEOSException:
        rounded = shapely.set_precision(exact, GEOJSON_GRID_DEG, mode="pointwise")
        return _polygons(shapely.make_valid(rounded))


def grid_coverage(
    grid_wgs84: Polygon | MultiPolygon,
    samples: Sequence[TrackSample],
    plan: CameraPlan,
    width_at_m: Callable[[float], float],
    *,
    alt_band_m: float = ALT_BAND_M,
    max_gap_s: float = MAX_GAP_S,
) -> Coverage:
    """Seen share of ``grid_wgs84`` (area seen / grid area) and the unseen part, from the track."""
    frame = LocalFrame.for_geometry(grid_wgs84)
    grid = frame.to_local(grid_wgs84)
    grid_m2 = float(grid.area)
    if not math.isfinite(grid_m2) or grid_m2 <= 0.0:
        raise ValueError("the grid has no area")
    runs = imaging_runs(samples, plan, alt_band_m, max_gap_s)
    seen = shapely.intersection(seen_local(runs, frame, width_at_m), grid)
    seen_m2 = min(grid_m2, float(seen.area))
    unseen = unseen_wgs84(grid_wgs84, frame.to_wgs84(seen))
    return Coverage(
        grid_m2=grid_m2,
        seen_m2=seen_m2,
        seen_share=seen_m2 / grid_m2,
        unseen_wgs84=unseen,
        camera_samples=sum(len(r) for r in runs),
    )
