"""Work-order statistics (any role, within the token's communities): JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import Reader
from app.api.guard import CheckedRoute, UtcInstant
from app.api.responses import TOKEN_ROUTES, errors
from app.errors import ValidationFailed
from app.services.stats import GroupBy, as_csv, work_order_stats
from app.services.workorders import WorkOrderService

router = APIRouter(prefix="/stats", tags=["statistics"], route_class=CheckedRoute, responses=TOKEN_ROUTES)


@router.get("/work-orders", responses=errors(403, 422))
async def work_orders_stats(
    request: Request,
    principal: Reader,
    since: Annotated[UtcInstant, Query(alias="from", description="Opened at or after (ISO 8601)")],
    until: Annotated[UtcInstant, Query(alias="to", description="Opened before (ISO 8601)")],
    by: GroupBy = "grid",
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Per group: opened, closed, open, overdue, share closed within SLA, mean and p90 time to close."""
    if since >= until:
        raise ValidationFailed(
            "from: must be before to", details=[{"field": "from", "problem": "must be before to"}]
        )
    service: WorkOrderService = request.app.state.workorders
    async with service.pool.acquire() as conn:
        rows = await work_order_stats(
            conn, by=by, since=since, until=until, now=service.clock(), principal=principal
        )
    if format == "csv":
        return Response(as_csv(rows), media_type="text/csv; charset=utf-8")
    body: dict[str, Any] = {"by": by, "from": since, "to": until, "groups": rows}
    return body
