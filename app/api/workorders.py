"""Work orders: open from any channel (idempotent on channel + external_ref), list, read with the
history, and move through the states. Writes need an operator, tester or admin token; a
community-scoped token sees and changes only its communities' orders.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import DistrictAdmin, FlightPlanner, PoolDep, Reader
from app.api.grids import CODE_PATTERN
from app.api.guard import CheckedRoute
from app.api.missions import MissionCreate, create_mission
from app.api.responses import TOKEN_ROUTES, errors
from app.db.repos import workorders as repo
from app.db.repos.workorders import OrderFilter
from app.errors import Forbidden
from app.services.workorders import Action, OrderRequest, TransitionRequest, WorkOrderService

router = APIRouter(
    prefix="/work-orders", tags=["work orders"], route_class=CheckedRoute, responses=TOKEN_ROUTES
)

OrderId = Annotated[int, Path(ge=1, le=2**62)]
TYPE_PATTERN = r"^[a-z0-9_]{1,64}$"
Severity = Literal["info", "warning", "critical"]
State = Literal["open", "assigned", "in_progress", "resolved", "closed", "reopened", "cancelled"]


def _service(request: Request) -> WorkOrderService:
    service: WorkOrderService = request.app.state.workorders
    return service


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, never silently dropped
    lon_deg: float = Field(ge=-180, le=180)
    lat_deg: float = Field(ge=-90, le=90)


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(max_length=64, description="One of AEROGRID_WORKORDER_CHANNELS")
    external_ref: str | None = Field(
        default=None, min_length=1, max_length=200, description="The sender's id: idempotent with channel"
    )
    type: str = Field(pattern=TYPE_PATTERN)
    severity: Severity = "warning"
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    grid_code: str | None = Field(default=None, pattern=CODE_PATTERN)
    position: PositionIn | None = Field(default=None, description="Filed under the grid holding it")
    department: str | None = Field(
        default=None, min_length=1, max_length=200, description="Assign to a department, not the grid worker"
    )


class AssigneeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["worker", "department"] = "worker"
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=50)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    feedback: str | None = Field(default=None, min_length=1, max_length=5000, description="resolve: required")
    photos: list[Annotated[str, Field(pattern=r"^https?://", max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    assignee: AssigneeIn | None = Field(default=None, description="assign: required")


class SlaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^(\*|[a-z0-9_]{1,64})$")
    severity: Severity
    due_s: int = Field(ge=60, le=31_536_000)


@router.post("", status_code=201, responses=errors(403, 409, 422))
async def open_work_order(
    request: Request, response: Response, principal: FlightPlanner, body: WorkOrderIn
) -> dict[str, Any]:
    """Open an order; the same (channel, external_ref) again answers 200 with the first order."""
    req = OrderRequest(
        channel=body.channel,
        external_ref=body.external_ref,
        type=body.type,
        severity=body.severity,
        title=body.title,
        description=body.description,
        grid_code=body.grid_code,
        lon_deg=body.position.lon_deg if body.position else None,
        lat_deg=body.position.lat_deg if body.position else None,
        department=body.department,
    )
    order, created = await _service(request).open(req, principal)
    if not created:
        response.status_code = 200
    return order


@router.get("", responses=errors(403))
async def list_work_orders(
    request: Request,
    principal: Reader,
    state: State | None = None,
    grid: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    community: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(pattern=TYPE_PATTERN)] = None,
    overdue: Annotated[bool | None, Query(description="true: running and past the due time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[dict[str, Any]]:
    """Newest first; page with ``before_id``."""
    f = OrderFilter(
        state=state, grid_code=grid, community_code=community, channel=channel, type=type, overdue=overdue
    )
    return await _service(request).search(f, limit=limit, before_id=before_id, principal=principal)


@router.get("/sla", responses=errors(403))
async def get_sla(request: Request, principal: Reader) -> list[dict[str, Any]]:
    """The due time per type and severity (type ``*``: every type without a row of its own)."""
    async with _service(request).pool.acquire() as conn:
        return [dict(r) for r in await repo.list_sla(conn)]


@router.put("/sla", responses=errors(403, 422))
async def put_sla(request: Request, principal: DistrictAdmin, body: SlaIn) -> dict[str, Any]:
    """Set one SLA row (applies to orders opened from now on, in every community: a community-scoped
    token may not change it)."""
    if principal.communities is not None:
        raise Forbidden(
            "SLA due times are district-wide: changing them needs a token without a community scope"
        )
    async with _service(request).pool.acquire() as conn:
        await repo.put_sla(conn, body.type, body.severity, body.due_s)
    return body.model_dump()


@router.get("/{order_id:int}", responses=errors(403, 404))
async def get_work_order(request: Request, principal: Reader, order_id: OrderId) -> dict[str, Any]:
    """The order with its whole history (who, when, why)."""
    return await _service(request).get(order_id, principal)


@router.post("/{order_id:int}/reflight", status_code=201, responses=errors(403, 404, 409, 422))
async def plan_reflight(
    request: Request, response: Response, pool: PoolDep, principal: FlightPlanner, order_id: OrderId
) -> dict[str, Any]:
    """Verify by re-flight: plan and store an inspection of the order's spot for the nearest drone
    with a camera (as ``POST /missions`` would, with its checks), recorded in the order's history."""
    service = _service(request)
    order, drone_id = await service.reflight_target(order_id, principal)
    position = order["position"]
    site = {
        "type": "Feature",
        "properties": {"kind": "key_site", "code": f"WO-{order_id}"},
        "geometry": {"type": "Point", "coordinates": [position["lon_deg"], position["lat_deg"]]},
    }
    req = MissionCreate.model_validate(
        {
            "name": f"verify work order {order_id}",
            "kind": "inspect",
            "grid_codes": [order["grid_code"]],
            "drone_id": drone_id,
            "sites": {"type": "FeatureCollection", "features": [site]},
        }
    )
    mission = await create_mission(pool, principal, req, request, response)
    await service.record_reflight(order_id, mission_id=mission["id"], drone_id=drone_id, principal=principal)
    return {"work_order_id": order_id, "drone_id": drone_id, "mission": mission}


@router.post("/{order_id:int}/{action}", responses=errors(403, 404, 409, 422))
async def transition_work_order(
    request: Request, principal: FlightPlanner, order_id: OrderId, action: Action, body: TransitionIn
) -> dict[str, Any]:
    """assign (assignee), start, resolve (feedback, photos), close (verified), reopen (reason),
    cancel (reason); 409 ``illegal_transition`` naming the current state otherwise."""
    req = TransitionRequest(
        reason=body.reason,
        feedback=body.feedback,
        photos=tuple(body.photos),
        assignee_kind=body.assignee.kind if body.assignee else None,
        assignee_name=body.assignee.name if body.assignee else None,
        assignee_phone=body.assignee.phone if body.assignee else None,
    )
    return await _service(request).transition(order_id, action, req, principal)
