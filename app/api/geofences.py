"""Geofence zones (inclusion, exclusion, quiet, no-photo, no-spray) and the district ceiling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from app.api.deps import DistrictAdmin, PoolDep, Reader
from app.api.grids import CrsQuery, ImportOut, import_out
from app.db.repos import district as repo
from app.errors import NotFound, ValidationFailed
from app.services import district
from geofences.model import ZoneKind

router = APIRouter(prefix="/geofences", tags=["geofences"])

FeatureBody = Annotated[
    dict[str, Any],
    Body(description="GeoJSON Feature: Polygon/MultiPolygon, or Point with properties.radius_m for a circle"),
]


@router.post("/import", response_model=ImportOut)
async def import_zones(
    pool: PoolDep,
    principal: DistrictAdmin,
    doc: Annotated[dict[str, Any], Body(description="GeoJSON FeatureCollection of zones")],
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


@router.post("", status_code=201)
async def create_zone(
    pool: PoolDep, principal: DistrictAdmin, feature: FeatureBody, crs: CrsQuery = None
) -> dict[str, Any]:
    zone = district.parse_one_zone(feature, crs=crs)
    await district.create_zone(pool, zone, principal)
    async with pool.acquire() as conn:
        row = await repo.get_zone(conn, zone.zone_id)
    assert row is not None
    return district.zone_feature_json(row)


class CeilingIn(BaseModel):
    ceiling_m: float = Field(gt=0, le=1000, description="District-wide ceiling, metres above take-off")


class CeilingOut(BaseModel):
    ceiling_m: float


@router.get("/ceiling", response_model=CeilingOut)
async def get_ceiling(pool: PoolDep, principal: Reader) -> CeilingOut:
    async with pool.acquire() as conn:
        return CeilingOut(ceiling_m=await repo.get_ceiling_m(conn))


@router.put("/ceiling", response_model=CeilingOut)
async def set_ceiling(pool: PoolDep, principal: DistrictAdmin, body: CeilingIn) -> CeilingOut:
    district.require_district_wide(principal)
    async with pool.acquire() as conn:
        await repo.set_ceiling_m(conn, body.ceiling_m)
    return CeilingOut(ceiling_m=body.ceiling_m)


@router.get("/{code}")
async def get_zone(pool: PoolDep, principal: Reader, code: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repo.get_zone(conn, code)
    if row is None:
        raise NotFound(f"zone {code} not found")
    return district.zone_feature_json(row)


@router.put("/{code}")
async def replace_zone(
    pool: PoolDep, principal: DistrictAdmin, code: str, feature: FeatureBody, crs: CrsQuery = None
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


@router.delete("/{code}", status_code=204)
async def delete_zone(pool: PoolDep, principal: DistrictAdmin, code: str) -> None:
    district.require_district_wide(principal)
    async with pool.acquire() as conn:
        if not await repo.delete_zone(conn, code):
            raise NotFound(f"zone {code} not found")
