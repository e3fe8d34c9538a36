"""Key-site inspection: an orbit about each site with the camera held on it, in local metres.

How an orbit is flown, and why not NAV_LOITER_TURNS: ArduCopter stores LOITER_TURNS' radius as
a whole number of metres up to 255, flies its own entry to the circle, and photos every N degrees
would need distance triggering, which ArduCopter measures as the straight line from the last
photo; DJI WPML (the .kmz export) has no equivalent at all. So an orbit is waypoints on the
circle, at most ``MAX_ARC_STEP_DEG`` apart (the chords stay within 3.5 % of the radius inside
it), and each photo is a DO_DIGICAM_CONTROL "shoot" right after its vertex's NAV item: exactly one
photo every N degrees, and the route the fence check sees is the route that is flown.

The camera: DO_SET_ROI_LOCATION on the site as the orbit starts (ArduCopter then yaws the copter,
and points a mount, at it), DO_SET_ROI_NONE as it ends. The first photo is one photo step into the
orbit and the last one back at the start, so the copter has turned to the site before it shoots.

An orbit that would come within the clearance of an exclusion zone (at its altitude) or leave the
inclusion area is first **shrunk**, down to the site's reach plus ``min_standoff_m``; if no radius
clears, its centre is **moved** (up to the distance that still keeps the whole site inside the
orbit by ``min_standoff_m``): the ROI stays on the site, which the copter still circles, only
off-centre. If nothing fits, the site is **refused**, naming the zone, rather than flown badly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

XY = tuple[float, float]
Direction = Literal["cw", "ccw"]
F64 = npt.NDArray[np.float64]

MAX_ARC_STEP_DEG = 30.0
"""Largest angle between orbit waypoints: chords then stay within r(1 - cos 15°) of the circle."""

_QUAD_SEGS = 16  # buffer resolution of the annulus tested for clearance
_RADIUS_STEPS = 40  # radii tried between the requested and the smallest radius
_OFFSET_STEPS = 10  # centre offsets tried ...
_DIRECTIONS = 16  # ... in this many directions


@dataclass(frozen=True, slots=True)
class InspectionSite:
    """A key site: a point or footprint (WGS-84) to orbit, optionally at its own radius and altitude.

    ``radius_m`` None means the site's reach (the farthest point of the footprint from its
    centre) plus the plan's standoff; ``alt_m`` None means the profile's altitude. ``height_m``
    is the site's height: the camera aims at half of it.
    """

    code: str
    footprint: Point | Polygon | MultiPolygon
    radius_m: float | None = None
    alt_m: float | None = None
    height_m: float = 0.0

    def __post_init__(self) -> None:
        where = f"key site {self.code!r}"
        if not self.code:
            raise ValueError("InspectionSite.code must not be empty")
        fp = self.footprint
        if not isinstance(fp, Point | Polygon | MultiPolygon) or fp.is_empty or not fp.is_valid:
            raise ValueError(f"{where}: need a valid, non-empty Point or (Multi)Polygon in WGS-84")
        for name in ("radius_m", "alt_m"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value <= 0.0):
                raise ValueError(f"{where}: {name} must be finite and > 0, got {value!r}")
        if not math.isfinite(self.height_m) or self.height_m < 0.0:
            raise ValueError(f"{where}: height_m must be finite and >= 0, got {self.height_m!r}")


@dataclass(frozen=True, slots=True)
class Orbit:
    """Where an orbit goes: ``offset_m`` is how far its centre moved from the site's ROI."""

    centre_xy: XY
    radius_m: float
    offset_m: float


@dataclass(frozen=True, slots=True)
class OrbitChoice:
    """The orbit chosen (None: refused) and the zones the requested orbit would have crossed.

    ``blocked_by`` holds zone ids, and "" for the inclusion boundary; it is empty when the
    requested orbit was clear.
    """

    orbit: Orbit | None
    blocked_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PhotoLayout:
    """``photos`` per orbit, one every ``vertices_per_photo`` waypoints of ``vertices`` in all."""

    photos: int
    vertices_per_photo: int

    @property
    def vertices(self) -> int:
        return self.photos * self.vertices_per_photo

    @property
    def step_deg(self) -> float:
        return 360.0 / self.photos


def photo_layout(photo_step_deg: float) -> PhotoLayout:
    """Photos evenly round the circle, as close to ``photo_step_deg`` apart as a whole number allows."""
    if not math.isfinite(photo_step_deg) or not 0.0 < photo_step_deg <= 360.0:
        raise ValueError(f"photo_step_deg must be in (0, 360], got {photo_step_deg!r}")
    photos = max(1, round(360.0 / photo_step_deg))
    return PhotoLayout(photos, math.ceil(360.0 / photos / MAX_ARC_STEP_DEG - 1e-9))


def roi_xy(footprint_local: BaseGeometry) -> XY:
    """Where the camera aims: the centroid, or the footprint's point nearest it when outside (an L)."""
    c = footprint_local.centroid
    if not footprint_local.covers(c):
        c = nearest_points(footprint_local, c)[0]
    return float(c.x), float(c.y)


def reach_m(footprint_local: BaseGeometry, centre: XY) -> float:
    """The farthest point of the footprint from ``centre`` (0 for a point site at it)."""
    coords = shapely.get_coordinates(footprint_local)
    return float(np.max(np.hypot(coords[:, 0] - centre[0], coords[:, 1] - centre[1])))


def _annuli(centres: F64, radii: F64, vertices: int) -> npt.NDArray[np.object_]:
    """Where the chords of each orbit can be: between r cos(pi/n) and r, both erring outward."""
    points = shapely.points(centres)
    outer = shapely.buffer(points, radii / math.cos(math.pi / (4 * _QUAD_SEGS)), quad_segs=_QUAD_SEGS)
    inner = shapely.buffer(points, radii * math.cos(math.pi / vertices), quad_segs=_QUAD_SEGS)
    result: npt.NDArray[np.object_] = shapely.difference(outer, inner)
    return result


def _clear(
    annuli: npt.NDArray[np.object_], keep_out: BaseGeometry | None, inclusion: BaseGeometry | None
) -> npt.NDArray[np.bool_]:
    ok = np.ones(len(annuli), dtype=bool)
    if keep_out is not None:
        ok &= ~shapely.intersects(keep_out, annuli)
    if inclusion is not None:
        ok &= shapely.covers(inclusion, annuli)
    return ok


def place_orbit(
    footprint_local: BaseGeometry,
    roi: XY,
    radius_m: float,
    *,
    min_standoff_m: float,
    vertices: int,
    blockers: Sequence[tuple[str, BaseGeometry]] = (),
    inclusion: BaseGeometry | None = None,
) -> OrbitChoice:
    """The orbit closest to the requested one that keeps clear of ``blockers`` and in ``inclusion``.

    ``blockers`` are (zone id, shape already grown by the clearance). Preference: the requested
    radius about the ROI; else the largest radius down to the site's reach plus
    ``min_standoff_m``; else the smallest centre offset (then the largest radius) that still
    keeps the whole site ``min_standoff_m`` inside the orbit.
    """
    floor_m = reach_m(footprint_local, roi) + min_standoff_m
    if radius_m < floor_m - 1e-9:
        raise ValueError(
            f"orbit radius {radius_m:.1f} m would cross the site: it needs at least {floor_m:.1f} m "
            f"(the site's reach plus {min_standoff_m:g} m)"
        )
    shapes = [shape for _, shape in blockers]
    keep_out = shapely.union_all(shapes) if shapes else None
    if keep_out is not None:
        shapely.prepare(keep_out)
    requested = _annuli(np.array([roi]), np.array([radius_m]), vertices)
    blocked_by = tuple(zone for zone, shape in blockers if shape.intersects(requested[0]))
    if inclusion is not None and not inclusion.covers(requested[0]):
        blocked_by = (*blocked_by, "")
    if not blocked_by:
        return OrbitChoice(Orbit(roi, radius_m, 0.0), ())

    radii = np.linspace(radius_m, floor_m, _RADIUS_STEPS + 1)
    shrunk = _clear(_annuli(np.tile(roi, (len(radii), 1)), radii, vertices), keep_out, inclusion)
    if shrunk.any():
        return OrbitChoice(Orbit(roi, float(radii[int(np.argmax(shrunk))]), 0.0), blocked_by)

    coords = shapely.get_coordinates(footprint_local)
    angles = np.arange(_DIRECTIONS) * (2.0 * math.pi / _DIRECTIONS)
    unit = np.column_stack([np.cos(angles), np.sin(angles)])
    for offset_m in np.linspace(0.0, radius_m - min_standoff_m, _OFFSET_STEPS + 1)[1:]:
        centres = np.asarray(roi) + offset_m * unit
        reach = np.max(
            np.hypot(coords[None, :, 0] - centres[:, None, 0], coords[None, :, 1] - centres[:, None, 1]),
            axis=1,
        )
        # Candidates by radius (largest first), then direction; each must keep the site inside.
        cand_r = np.repeat(radii, _DIRECTIONS)
        cand_c = np.tile(centres, (len(radii), 1))
        fits = np.tile(reach, len(radii)) + min_standoff_m <= cand_r + 1e-9
        if not fits.any():
            continue
        index = np.flatnonzero(fits)
        ok = _clear(_annuli(cand_c[index], cand_r[index], vertices), keep_out, inclusion)
        if ok.any():
            k = int(index[int(np.argmax(ok))])
            centre = (float(cand_c[k, 0]), float(cand_c[k, 1]))
            return OrbitChoice(Orbit(centre, float(cand_r[k]), float(offset_m)), blocked_by)
    return OrbitChoice(None, blocked_by)


def orbit_points(orbit: Orbit, entry_from: XY, vertices: int, direction: Direction) -> tuple[XY, ...]:
    """The orbit's waypoints from the vertex nearest ``entry_from`` once round, back to the start."""
    cx, cy = orbit.centre_xy
    dx, dy = entry_from[0] - cx, entry_from[1] - cy
    start = math.atan2(dy, dx) if math.hypot(dx, dy) > 1e-9 else 0.0
    sign = 1.0 if direction == "ccw" else -1.0
    out: list[XY] = []
    for k in range(vertices + 1):
        angle = start + sign * 2.0 * math.pi * (k % vertices) / vertices
        out.append((cx + orbit.radius_m * math.cos(angle), cy + orbit.radius_m * math.sin(angle)))
    return tuple(out)
