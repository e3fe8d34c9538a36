"""Grid coverage: the latest patrol's seen share and unseen part, and the grid's patrols."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.api.deps import PoolDep, Reader
from app.api.grids import CodePath, CodeQuery
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, errors
from app.services import patrols

router = APIRouter(prefix="/grids", tags=["grids"], route_class=CheckedRoute, responses=TOKEN_ROUTES)
bulk_router = APIRouter(prefix="/patrols", tags=["grids"], route_class=CheckedRoute, responses=TOKEN_ROUTES)


class PatrolOut(BaseModel):
    grid_code: str
    upload_id: int
    drone_id: int
    mission_id: int | None
    sortie: int
    started_at: str
    ended_at: str
    samples: int
    camera_samples: int
    grid_m2: float
    seen_m2: float
    seen_share: float
    unseen: dict[str, Any]
    alt_band_m: float
    final: bool
    computed_at: str


class GridStateOut(BaseModel):
    grid_code: str
    community_code: str
    street_code: str
    last_patrolled_at: str | None
    seen_share: float | None
    patrol_final: bool | None
    open_alerts: int
    active_work_orders: int


class GridStatesOut(BaseModel):
    grids: list[GridStateOut]
    pending_patrols: int


class CoverageOut(BaseModel):
    grid_code: str
    last_patrolled_at: str | None
    seen_share: float | None
    unseen: dict[str, Any]
    patrol: PatrolOut | None


@router.get("/{code:code}/coverage", response_model=CoverageOut, responses=errors(404))
async def grid_coverage(pool: PoolDep, principal: Reader, code: CodePath) -> dict[str, Any]:
    """Last patrolled time, the share of the grid its camera saw, and the unseen part (GeoJSON) to re-fly
    with `POST /missions` `area`. Never patrolled: `last_patrolled_at` null, the whole grid unseen."""
    return await patrols.coverage(pool, code, principal)


@router.get("/{code:code}/patrols", response_model=list[PatrolOut], responses=errors(404))
async def grid_patrols(
    pool: PoolDep, principal: Reader, code: CodePath, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> list[dict[str, Any]]:
    """The grid's latest patrols (one per upload flown over it), newest first."""
    return await patrols.patrols(pool, code, principal, limit)


@bulk_router.get("/grid-states", response_model=GridStatesOut)
async def grid_states(
    pool: PoolDep, principal: Reader, community: CodeQuery = None, street: CodeQuery = None
) -> dict[str, Any]:
    """Every visible grid's latest patrol time and seen share, open alerts and active work orders in
    one read (the command-center page colours thousands of grids with it); optionally one community's
    or one street's grids. The unseen part stays with `GET /grids/{code}/coverage`."""
    return await patrols.grid_states(pool, principal, community, street)
