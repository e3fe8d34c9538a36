"""District use cases: import/export grids and zones, all or nothing.

Parsing and validation (geofences.geojson) run off the event loop; a document with any problem
raises ValidationFailed listing every problem and nothing is written. Writes for one import
happen in one transaction, so a failure half way (a lost connection, a constraint) leaves the
previous state untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from app.auth import Principal
from app.codes import UNADDRESSABLE_CODES
from app.db.conn import Conn
from app.db.repos import district as repo
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from geofences.crs import CoordinateSystem
from geofences.frame import LocalFrame
from geofences.geojson import (
    GeoJSONError,
    GridFeature,
    Overlap,
    find_overlaps,
    geometry_to_geojson,
    parse_grids,
    parse_zones,
)
from geofences.model import Circle, FenceSet, Zone, ZoneKind

MAX_VERTICES = 10_000


@dataclass(frozen=True, slots=True)
class ImportReport:
    imported: int
    created: int
    updated: int
    overlaps: tuple[Overlap, ...]


@dataclass(frozen=True, slots=True)
class _StoredGrid:
    """A grid already in the database, as find_overlaps needs it."""

    code: str
    geometry: Polygon | MultiPolygon


def _require_features(features: Sequence[object]) -> None:
    """An import of an empty collection is a wrong file or a truncated export, not a no-op."""
    if not features:
        problem = "the collection is empty: nothing to import"
        raise ValidationFailed(f"features: {problem}", details=[{"field": "features", "problem": problem}])


def _problems_error(exc: GeoJSONError) -> ValidationFailed:
    details = [
        {"index": p.index, "code": p.code, "field": p.field, "problem": p.message} for p in exc.problems
    ]
    first = exc.problems[0]
    where = f"feature {first.index}" if first.index is not None else "document"
    if first.code:
        where += f" (code {first.code})"
    more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
    return ValidationFailed(f"{where}: {first.field}: {first.message}{more}", details=details)


def _grid_row(f: GridFeature) -> tuple[Any, ...]:
    geom = f.geometry
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    area_m2 = LocalFrame.for_geometry(geom).to_local(geom).area
    vertices = int(shapely.get_num_coordinates(geom))
    return (
        f.code,
        f.name,
        f.community_code,
        f.worker_name,
        f.worker_phone,
        geometry_to_geojson(geom),
        min_lon,
        min_lat,
        max_lon,
        max_lat,
        area_m2,
        vertices,
    )


async def import_grids(
    pool: asyncpg.Pool, doc: object, *, crs: CoordinateSystem | None, principal: Principal
) -> ImportReport:
    try:
        features = await asyncio.to_thread(parse_grids, doc, crs=crs, max_vertices=MAX_VERTICES)
    except GeoJSONError as exc:
        raise _problems_error(exc) from None
    _require_features(features)
    outside = sorted({f.community_code for f in features if not principal.sees_community(f.community_code)})
    if outside:
        raise Forbidden(f"token is not scoped to communities {', '.join(outside)}")
    _check_consistent(features)
    check_addressable((f.index, f.code) for f in features)
    streets = sorted({(f.street_code, f.street_name) for f in features})
    communities = sorted({(f.community_code, f.community_name, f.street_code) for f in features})
    rows = await asyncio.to_thread(lambda: [_grid_row(f) for f in features])
    async with pool.acquire() as conn, conn.transaction():
        stored = {
            r["code"]: r["community_code"] for r in await conn.fetch("SELECT code, community_code FROM grids")
        }
        foreign = sorted(
            f.code for f in features if f.code in stored and not principal.sees_community(stored[f.code])
        )
        if foreign:
            # A scoped token must not take over (or overwrite) another community's grid by reusing its code.
            raise Forbidden(f"grids {', '.join(foreign)} belong to communities outside this token's scope")
        existing = set(stored)
        if principal.communities is not None:
            await _check_shared_records(conn, principal.communities, streets, communities)
        await repo.upsert_streets(conn, streets)
        await repo.upsert_communities(conn, communities)
        await repo.upsert_grids(conn, rows)
        imported_codes = {f.code for f in features}
        others = [
            _StoredGrid(r["code"], shape(r["boundary"]))
            for r in await conn.fetch("SELECT code, boundary FROM grids")
            if r["code"] not in imported_codes
        ]
    overlaps = await asyncio.to_thread(find_overlaps, [*features, *others])
    relevant = tuple(
        _masked(o, stored, principal)
        for o in overlaps
        if o.code_a in imported_codes or o.code_b in imported_codes
    )
    created = len(imported_codes - existing)
    return ImportReport(
        imported=len(features), created=created, updated=len(features) - created, overlaps=relevant
    )


HIDDEN_GRID = "(a grid outside this token's scope)"


def _masked(overlap: Overlap, stored: dict[str, str], principal: Principal) -> Overlap:
    """The overlap as the caller may see it: a stored grid of a community outside its scope is
    reported (the overlap is real) but not named."""

    def shown(code: str) -> str:
        return code if code not in stored or principal.sees_community(stored[code]) else HIDDEN_GRID

    return Overlap(shown(overlap.code_a), shown(overlap.code_b), overlap.area_m2)


def check_addressable(codes: Iterable[tuple[int | None, str]]) -> None:
    """Refuse codes the resource's URL could not reach (``app/codes.py``), naming each feature."""
    details = [
        {
            "index": index,
            "code": code,
            "field": "properties.code",
            "problem": f"reserved: not one of {', '.join(sorted(UNADDRESSABLE_CODES))} (its URL would not reach it)",
        }
        for index, code in codes
        if code in UNADDRESSABLE_CODES
    ]
    if details:
        first = details[0]
        where = f"feature {first['index']}" if first["index"] is not None else "the zone"
        raise ValidationFailed(f"{where}: properties.code: {first['code']!r} is reserved", details=details)


def _check_consistent(features: Sequence[GridFeature]) -> None:
    """Within one document a code means one thing: a street one name, a community one name and one
    street. A community under two streets would otherwise silently move to whichever came last."""
    details: list[dict[str, Any]] = []
    first_of_street: dict[str, GridFeature] = {}
    first_of_community: dict[str, GridFeature] = {}
    for f in features:
        street = first_of_street.setdefault(f.street_code, f)
        community = first_of_community.setdefault(f.community_code, f)
        clashes = [
            ("street_name", street, f"street {f.street_code} is named", street.street_name, f.street_name),
            (
                "community_name",
                community,
                f"community {f.community_code} is named",
                community.community_name,
                f.community_name,
            ),
            (
                "street_code",
                community,
                f"community {f.community_code} is under street",
                community.street_code,
                f.street_code,
            ),
        ]
        for field, first, what, before, now in clashes:
            if before != now:
                details.append(
                    {
                        "index": f.index,
                        "code": f.code,
                        "field": field,
                        "problem": f"{what} {before!r} in feature {first.index} (grid {first.code}) "
                        f"but {now!r} in feature {f.index} (grid {f.code})",
                        "conflicts_with": {"index": first.index, "code": first.code},
                    }
                )
    if details:
        first_problem = details[0]
        more = f" (and {len(details) - 1} more problems)" if len(details) > 1 else ""
        raise ValidationFailed(
            f"feature {first_problem['index']} (code {first_problem['code']}): {first_problem['field']}: "
            f"{first_problem['problem']}{more}",
            details=details,
        )


async def _check_shared_records(
    conn: Conn,
    scope: frozenset[str],
    streets: Sequence[tuple[str, str]],
    communities: Sequence[tuple[str, str, str]],
) -> None:
    """A community-scoped token changes nothing outside its communities: it may not rename a street
    that also holds other communities, nor move one of its communities to another street (which
    changes both streets' membership). 403 naming the field; nothing of the others is named."""
    renamed = {r["code"] for r in await repo.streets_named_otherwise(conn, streets)}
    shared = {r["street_code"] for r in await repo.streets_with_others(conn, sorted(renamed), sorted(scope))}
    if shared:
        code = min(shared)
        raise Forbidden(
            f"street_name: street {code} also holds communities outside this token's scope; "
            "its name is read-only to this token",
            details=[
                {"field": "street_name", "code": code, "problem": "street shared with other communities"}
            ],
        )
    moved = await repo.communities_moved(conn, [(c, s) for c, _, s in communities])
    if moved:
        r = moved[0]
        raise Forbidden(
            f"street_code: community {r['code']} is under street {r['street_code']}; "
            "moving it to another street needs a token without a community scope",
            details=[{"field": "street_code", "code": r["code"], "problem": "moves the community"}],
        )


def grid_feature_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": r["code"],
        "geometry": r["boundary"],
        "properties": {
            "code": r["code"],
            "name": r["name"],
            "community_code": r["community_code"],
            "community_name": r["community_name"],
            "street_code": r["street_code"],
            "street_name": r["street_name"],
            "worker_name": r["worker_name"],
            "worker_phone": r["worker_phone"],
            "area_m2": round(r["area_m2"], 1),
        },
    }


def _zone_row(z: Zone) -> tuple[Any, ...]:
    if z.circle is not None:
        return (
            z.zone_id,
            z.name,
            z.kind.value,
            None,
            z.circle.lon_deg,
            z.circle.lat_deg,
            z.circle.radius_m,
            z.min_alt_m,
            z.max_alt_m,
        )
    assert z.polygon is not None
    return (
        z.zone_id,
        z.name,
        z.kind.value,
        geometry_to_geojson(z.polygon),
        None,
        None,
        None,
        z.min_alt_m,
        z.max_alt_m,
    )


def require_district_wide(principal: Principal) -> None:
    """Zones and the ceiling apply to the whole district: a community-scoped token may not change them."""
    if principal.communities is not None:
        raise Forbidden(
            "geofences and the ceiling are district-wide: changing them needs a token without a community scope"
        )


async def import_zones(
    pool: asyncpg.Pool, doc: object, *, crs: CoordinateSystem | None, principal: Principal
) -> ImportReport:
    require_district_wide(principal)
    try:
        features = await asyncio.to_thread(parse_zones, doc, crs=crs, max_vertices=MAX_VERTICES)
    except GeoJSONError as exc:
        raise _problems_error(exc) from None
    _require_features(features)
    check_addressable((f.index, f.zone.zone_id) for f in features)
    rows = [_zone_row(f.zone) for f in features]
    async with pool.acquire() as conn, conn.transaction():
        existing = {r["code"] for r in await conn.fetch("SELECT code FROM zones")}
        await repo.upsert_zones(conn, rows)
    created = len({r[0] for r in rows} - existing)
    return ImportReport(imported=len(rows), created=created, updated=len(rows) - created, overlaps=())


def parse_one_zone(feature: object, *, crs: CoordinateSystem | None) -> Zone:
    """Validate a single zone given as a GeoJSON Feature (the CRUD endpoints' body)."""
    try:
        parsed = parse_zones({"type": "FeatureCollection", "features": [feature]}, crs=crs)
    except GeoJSONError as exc:
        # The body is the feature itself: name its members, not the collection wrapped around it.
        own = [
            replace(p, index=None, field=p.field.removeprefix("features/0").removeprefix("/") or "body")
            for p in exc.problems
        ]
        raise _problems_error(GeoJSONError(own)) from None
    return parsed[0].zone


async def create_zone(pool: asyncpg.Pool, zone: Zone, principal: Principal) -> None:
    require_district_wide(principal)
    async with pool.acquire() as conn:
        if not await repo.insert_zone(conn, _zone_row(zone)):
            raise Conflict(f"zone {zone.zone_id} exists already; use PUT to replace it")


async def replace_zone(pool: asyncpg.Pool, zone: Zone, principal: Principal) -> None:
    require_district_wide(principal)
    async with pool.acquire() as conn:
        if not await repo.replace_zone(conn, _zone_row(zone)):
            raise NotFound(f"zone {zone.zone_id} not found")


def zone_feature_json(r: asyncpg.Record) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": r["code"],
        "name": r["name"],
        "kind": r["kind"],
        "min_alt_m": r["min_alt_m"],
        "max_alt_m": r["max_alt_m"],
    }
    if r["radius_m"] is not None:
        geometry: dict[str, Any] = {
            "type": "Point",
            "coordinates": [r["center_lon_deg"], r["center_lat_deg"]],
        }
        props["radius_m"] = r["radius_m"]
    else:
        geometry = r["polygon"]
    return {"type": "Feature", "id": r["code"], "geometry": geometry, "properties": props}


def zone_from_row(r: asyncpg.Record) -> Zone:
    circle = (
        Circle(r["center_lon_deg"], r["center_lat_deg"], r["radius_m"]) if r["radius_m"] is not None else None
    )
    polygon = shape(r["polygon"]) if r["polygon"] is not None else None
    return Zone(
        zone_id=r["code"],
        name=r["name"],
        kind=ZoneKind(r["kind"]),
        polygon=polygon,
        circle=circle,
        min_alt_m=r["min_alt_m"],
        max_alt_m=r["max_alt_m"],
    )


async def load_fences(conn: Conn) -> FenceSet:
    """Every zone and the district ceiling, as the planning core's FenceSet."""
    zones = tuple(zone_from_row(r) for r in await repo.list_zones(conn))
    return FenceSet(zones=zones, ceiling_m=await repo.get_ceiling_m(conn))
