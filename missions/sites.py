"""Field-mission sites from GeoJSON: spray targets, key sites and checkpoints for the planners.

The GeoJSON is validated by ``geofences.geojson.parse_sites`` (every problem listed, GCJ-02 and
BD-09 converted); this module only turns the features into the planners' own values, so the API
and the CLI read sites the same way. One file may hold all three kinds (as
``geofences/sample/sites.geojson`` does); each function takes the features of its kind.
"""

from __future__ import annotations

from collections.abc import Collection

from shapely.geometry import MultiPolygon, Point, Polygon

from geofences.crs import CoordinateSystem
from geofences.geojson import SiteFeature, SiteKind, parse_sites
from missions.checkpoint import Checkpoint
from missions.inspect import InspectionSite
from missions.spray import SprayTarget


def _features(
    doc: object, kind: SiteKind, crs: CoordinateSystem | None, codes: Collection[str] | None
) -> tuple[SiteFeature, ...]:
    found = parse_sites(doc, kind=kind, crs=crs)
    if codes is not None:
        missing = sorted(set(codes) - {f.code for f in found})
        if missing:
            raise ValueError(f"no {kind} {', '.join(missing)} in the sites document")
        found = tuple(f for f in found if f.code in codes)
    if not found:
        raise ValueError(f"the sites document has no {kind} feature")
    return found


def spray_targets(
    doc: object, *, crs: CoordinateSystem | None = None, codes: Collection[str] | None = None
) -> tuple[SprayTarget, ...]:
    """The ``spray_target`` polygons (all, or those in ``codes``) in document order."""
    out = []
    for f in _features(doc, "spray_target", crs, codes):
        assert isinstance(f.geometry, Polygon | MultiPolygon)  # parse_sites allows no other type
        out.append(SprayTarget(f.code, f.geometry, height_m=f.height_m or 0.0))
    return tuple(out)


def inspection_sites(
    doc: object, *, crs: CoordinateSystem | None = None, codes: Collection[str] | None = None
) -> tuple[InspectionSite, ...]:
    """The ``key_site`` points and footprints with their optional radius, altitude and height."""
    return tuple(
        InspectionSite(f.code, f.geometry, radius_m=f.radius_m, alt_m=f.alt_m, height_m=f.height_m or 0.0)
        for f in _features(doc, "key_site", crs, codes)
    )


def checkpoints(
    doc: object,
    *,
    default_hover_s: float,
    crs: CoordinateSystem | None = None,
    codes: Collection[str] | None = None,
) -> tuple[Checkpoint, ...]:
    """The ``checkpoint`` points in document order; ``default_hover_s`` where one has no ``hover_s``."""
    out = []
    for f in _features(doc, "checkpoint", crs, codes):
        assert isinstance(f.geometry, Point)
        out.append(
            Checkpoint(
                f.code,
                f.geometry.x,
                f.geometry.y,
                hover_s=default_hover_s if f.hover_s is None else f.hover_s,
                alt_m=f.alt_m,
                earliest_s=f.earliest_s,
                latest_s=f.latest_s,
            )
        )
    return tuple(out)
