"""Grids: import (GeoJSON, all or nothing), list/export, one grid, delete; communities."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel

from app.api.deps import DistrictAdmin, PoolDep, Reader
from app.api.geojson_schema import GRID_FEATURE, collection
from app.api.guard import CheckedRoute
from app.api.paths import RESERVED_SEGMENTS
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.db.repos import district as repo
from app.errors import NotFound
from app.services import district
from geofences.crs import CoordinateSystem

router = APIRouter(prefix="/grids", tags=["grids"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

CODE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""Grid, community, street and zone codes, as the database's CHECK constraints hold them."""

CodePath = Annotated[
    str,
    Path(
        pattern=CODE_PATTERN,
        description=f"Code: letters, digits, '.', '_', '-'; not {' or '.join(RESERVED_SEGMENTS)}",
    ),
]
CodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN)]


class OverlapOut(BaseModel):
    code_a: str
    code_b: str
    area_m2: float


class ImportOut(BaseModel):
    imported: int
    created: int
    updated: int
    overlaps: list[OverlapOut]
    warnings: list[str]


def import_out(report: district.ImportReport) -> ImportOut:
    overlaps = [
        OverlapOut(code_a=o.code_a, code_b=o.code_b, area_m2=round(o.area_m2, 1)) for o in report.overlaps
    ]
    warnings = [f"grids {o.code_a} and {o.code_b} overlap by {o.area_m2:.1f} m²" for o in overlaps]
    return ImportOut(
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        overlaps=overlaps,
        warnings=warnings,
    )


CrsQuery = Annotated[
    CoordinateSystem | None,
    Query(
        description="Coordinate system of the document (overrides its top-level 'crs'): WGS84, GCJ02, BD09"
    ),
]


@router.post("/import", response_model=ImportOut, responses={**errors(403), **WITH_BODY})
async def import_grids(
    pool: PoolDep,
    principal: DistrictAdmin,
    doc: Annotated[
        dict[str, Any],
        Body(
            description="GeoJSON FeatureCollection of grid polygons",
            json_schema_extra=collection(GRID_FEATURE),
        ),
    ],
    crs: CrsQuery = None,
) -> ImportOut:
    """Upsert every grid of the document, or none if any feature is bad (422 lists every problem)."""
    return import_out(await district.import_grids(pool, doc, crs=crs, principal=principal))


@router.get("")
async def export_grids(
    pool: PoolDep,
    principal: Reader,
    community: CodeQuery = None,
    street: CodeQuery = None,
) -> dict[str, Any]:
    """All visible grids as a GeoJSON FeatureCollection, optionally filtered by community or street."""
    scope = principal.community_scope
    async with pool.acquire() as conn:
        rows = await repo.list_grids(conn, community=community, street=street, communities_scope=scope)
    return {"type": "FeatureCollection", "features": [district.grid_feature_json(r) for r in rows]}


@router.get("/{code:code}", responses=errors(404))
async def get_grid(pool: PoolDep, principal: Reader, code: CodePath) -> dict[str, Any]:
    """One grid as a GeoJSON Feature."""
    async with pool.acquire() as conn:
        row = await repo.get_grid(conn, code)
    if row is None or not principal.sees_community(row["community_code"]):
        raise NotFound(f"grid {code} not found")
    return district.grid_feature_json(row)


@router.delete("/{code:code}", status_code=204, responses=errors(403, 404))
async def delete_grid(pool: PoolDep, principal: DistrictAdmin, code: CodePath) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.get_grid(conn, code)
        if row is None or not principal.sees_community(row["community_code"]):
            raise NotFound(f"grid {code} not found")
        await repo.delete_grid(conn, code)


communities_router = APIRouter(
    prefix="/communities", tags=["grids"], route_class=CheckedRoute, responses=TOKEN_ROUTES
)


class CommunityOut(BaseModel):
    code: str
    name: str
    street_code: str
    street_name: str
    grid_count: int


@communities_router.get("", response_model=list[CommunityOut])
async def list_communities(pool: PoolDep, principal: Reader) -> list[CommunityOut]:
    scope = principal.community_scope
    async with pool.acquire() as conn:
        rows = await repo.list_communities(conn, scope)
    return [CommunityOut(**dict(r)) for r in rows]
