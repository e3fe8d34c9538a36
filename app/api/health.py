"""Liveness and readiness: the only routes without a token (with /docs and /openapi.json)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import PoolDep
from app.api.guard import CheckedRoute
from app.api.responses import errors

router = APIRouter(tags=["health"], route_class=CheckedRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, responses=errors(503))
async def readyz(pool: PoolDep) -> JSONResponse | dict[str, str]:
    """The database answers (within 2 s); a load balancer stops routing here when it does not."""
    try:
        async with pool.acquire(timeout=2.0) as conn:
            await conn.fetchval("SELECT 1", timeout=2.0)
    except Exception as exc:  # any failure means not ready; the reason is reported
        return JSONResponse(
            {"code": "not_ready", "message": f"database unavailable: {type(exc).__name__}", "details": None},
            status_code=503,
        )
    return {"status": "ready", "database": "ok"}
