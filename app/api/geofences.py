"""Geofence zones (inclusion, exclusion, quiet, no-photo, no-spray) and the district ceiling."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import DistrictAdmin, PoolDep, Reader
from app.api.geojson_schema import ZONE_FEATURE, collection
from app.api.grids import CodePath, CrsQuery, ImportOut, import_out
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.db.repos import district as repo
from app.errors import NotFound, ValidationFailed
from app.services import district
from geofences.model import ZoneKind

router = APIRouter(prefix="/geofences", tags=["geofences"], route_class=CheckedRoute, responses=TOKEN_ROUTES)


FeatureBody = Annotated[
    dict[str, Any],
    Body(
        description="GeoJSON Feature: Polygon/MultiPolygon, or Point with properties.radius_m for a circle",
        json_schema_extra=ZONE_FEATURE,
    ),
]


@router.post("/import", response_model=ImportOut, responses={**errors(403), **WITH_BODY})
async def import_zones(
    pool: PoolDep,
    principal: DistrictAdmin,
    doc: Annotated[
        dict[str, Any],
        Body(description="GeoJSON FeatureCollection of zones", json_schema_extra=collection(ZONE_FEATURE)),
    ],
    crs: CrsQuery = None,
) -> ImportOut:
    """Upsert every zone of the document, or none if any feature is bad."""
    return import_out(await district.import_zones(pool, doc, crs=crs, principal=principal))


@router.get("")
async def list_zones(
    pool: PoolDep, principal: Reader, kind: Annotated[ZoneKind | None, Query()] = None
) -> dict[str, Any]:
    """All zones as a GeoJSON FeatureCollection (circles as Points with radius_m)."""
    async with pool.acquire() as conn:
        rows = await repo.list_zones(conn, kind.value if kind else None)
        ceiling_m = await repo.get_ceiling_m(conn)
    return {
        "type": "FeatureCollection",
        "ceiling_m": ceiling_m,
        "features": [district.zone_feature_json(r) for r in rows],
    }


@router.post("", status_code=201, responses={**errors(403, 409), **WITH_BODY})
async def create_zone(
    pool: PoolDep, principal: DistrictAdmin, feature: FeatureBody, response: Response, crs: CrsQuery = None
) -> dict[str, Any]:
    """Create one zone; ``Location`` is its URL."""
    zone = district.parse_one_zone(feature, crs=crs)
    district.check_addressable([(None, zone.zone_id)])
    await district.create_zone(pool, zone, principal)
    async with pool.acquire() as conn:
        row = await repo.get_zone(conn, zone.zone_id)
    assert row is not None
    response.headers["Location"] = f"{router.prefix}/{quote(zone.zone_id, safe='')}"
    return district.zone_feature_json(row)


class CeilingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, never silently dropped
    ceiling_m: float = Field(gt=0, le=1000, description="District-wide ceiling, metres above take-off")


class CeilingOut(BaseModel):
    ceiling_m: float


@router.get("/ceiling", response_model=CeilingOut)
async def get_ceiling(pool: PoolDep, principal: Reader) -> CeilingOut:
    async with pool.acquire() as conn:
        return CeilingOut(ceiling_m=await repo.get_ceiling_m(conn))


@router.put("/ceiling", response_model=CeilingOut, responses={**errors(403), **WITH_BODY})
async def set_ceiling(pool: PoolDep, principal: DistrictAdmin, body: CeilingIn) -> CeilingOut:
    district.require_district_wide(principal)
    async with pool.acquire() as conn:
        await repo.set_ceiling_m(conn, body.ceiling_m)
    return CeilingOut(ceiling_m=body.ceiling_m)


@router.get("/{code:code}", responses=errors(404))
async def get_zone(pool: PoolDep, principal: Reader, code: CodePath) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repo.get_zone(conn, code)
    if row is None:
        raise NotFound(f"zone {code} not found")
    return district.zone_feature_json(row)


@router.put("/{code:code}", responses={**errors(403, 404), **WITH_BODY})
async def replace_zone(
    pool: PoolDep, principal: DistrictAdmin, code: CodePath, feature: FeatureBody, crs: CrsQuery = None
) -> dict[str, Any]:
    zone = district.parse_one_zone(feature, crs=crs)
    if zone.zone_id != code:
        raise ValidationFailed(
            f"properties.code {zone.zone_id!r} does not match the path's {code!r}",
            details=[{"field": "properties.code", "problem": "must equal the code in the path"}],
        )
    await district.replace_zone(pool, zone, principal)
    async with pool.acquire() as conn:
        row = await repo.get_zone(conn, code)
    assert row is not None
    return district.zone_feature_json(row)


@router.delete("/{code:code}", status_code=204, responses=errors(403, 404))
async def delete_zone(pool: PoolDep, principal: DistrictAdmin, code: CodePath) -> None:
    district.require_district_wide(principal)
    async with pool.acquire() as conn:
        if not await repo.delete_zone(conn, code):
            raise NotFound(f"zone {code} not found")
