"""Alerts raised by the telemetry detectors: list, one, acknowledge, counts per grid or community.

A community-scoped token sees (and acknowledges) only alerts attributed to its communities; an
alert outside every grid carries the drone's community, and one with no community at all is
visible to district-wide tokens only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from app.api.deps import FlightPlanner, Reader
from app.api.grids import CODE_PATTERN
from app.api.guard import CheckedRoute, UtcInstant
from app.api.responses import TOKEN_ROUTES, errors
from app.db.repos.alerts import AlertFilter
from app.errors import ValidationFailed
from app.services.alerts import AlertService
from app.telemetry.detectors.base import AlertType, Severity

router = APIRouter(prefix="/alerts", tags=["alerts"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

AlertId = Annotated[int, Path(ge=1, le=2**62)]
MAX_LIMIT = 1000


def _service(request: Request) -> AlertService:
    service: AlertService = request.app.state.alerts
    return service


def _filter(
    grid: str | None,
    community: str | None,
    drone_id: int | None,
    types: list[AlertType] | None,
    severities: list[Severity] | None,
    state: Literal["open", "cleared"] | None,
    acked: bool | None,
    since: datetime | None,
    until: datetime | None,
) -> AlertFilter:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since > until:
        raise ValidationFailed(
            "from: must not be after to",
            details=[{"field": "from", "problem": f"{since.isoformat()} is after to {until.isoformat()}"}],
        )
    return AlertFilter(
        grid_code=grid,
        community_code=community,
        drone_id=drone_id,
        types=[t.value for t in types] if types else None,
        severities=[s.value for s in severities] if severities else None,
        state=state,
        acked=acked,
        since=since,
        until=until,
    )


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as in the telemetry queries."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class FlightRef(BaseModel):
    upload_id: int | None
    mission_id: int | None
    sortie: int | None


class PositionOut(BaseModel):
    lat_deg: float
    lon_deg: float
    alt_rel_m: float | None


class AckOut(BaseModel):
    at: datetime
    by: str = Field(description="Name of the token that acknowledged")
    by_token_id: int | None


class AlertOut(BaseModel):
    id: int
    type: AlertType
    condition_key: str = Field(description="Which condition of the type: a zone, a text; empty when only one")
    severity: Severity
    state: Literal["open", "cleared"]
    message: str
    drone_id: int
    flight: FlightRef = Field(description="The drone's latest verified upload when the alert opened")
    grid_code: str | None
    community_code: str | None
    position: PositionOut | None
    evidence: dict[str, Any] = Field(description="The values that tripped it; see docs/alerts.md")
    clear_evidence: dict[str, Any] | None = Field(description="The values when it cleared")
    opened_at: datetime
    updated_at: datetime
    update_count: int
    cleared_at: datetime | None
    ack: AckOut | None


class CountOut(BaseModel):
    code: str | None = Field(
        description="Grid or community code; null for alerts outside every grid and community"
    )
    total: int
    open: int
    open_unacked: int
    open_critical: int
    open_warning: int
    open_info: int


class CountsOut(BaseModel):
    by: Literal["grid", "community"]
    counts: list[CountOut]


Grid = Annotated[str | None, Query(pattern=CODE_PATTERN, description="Grid code")]
Community = Annotated[str | None, Query(pattern=CODE_PATTERN, description="Community code")]
DroneFilter = Annotated[int | None, Query(ge=1, le=2**62)]
Types = Annotated[list[AlertType] | None, Query(alias="type", description="Repeat for several types")]
Severities = Annotated[list[Severity] | None, Query(alias="severity", description="Repeat for several")]
State = Annotated[Literal["open", "cleared"] | None, Query()]
Acked = Annotated[bool | None, Query(description="true: acknowledged only; false: not yet")]
Since = Annotated[
    UtcInstant | None, Query(alias="from", description="Opened at or after (ISO 8601; no zone: UTC)")
]
Until = Annotated[UtcInstant | None, Query(alias="to", description="Opened before (ISO 8601; no zone: UTC)")]


@router.get("", response_model=list[AlertOut], responses=errors(403))
async def list_alerts(
    request: Request,
    principal: Reader,
    grid: Grid = None,
    community: Community = None,
    drone_id: DroneFilter = None,
    types: Types = None,
    severities: Severities = None,
    state: State = None,
    acked: Acked = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page on: ids below this")] = None,
) -> list[dict[str, Any]]:
    """Alerts newest first, filtered; page with ``before_id`` = the last id of the previous page."""
    f = _filter(grid, community, drone_id, types, severities, state, acked, since, until)
    return await _service(request).search(f, limit=limit, before_id=before_id, principal=principal)


@router.get("/counts", response_model=CountsOut, responses=errors(403))
async def alert_counts(
    request: Request,
    principal: Reader,
    by: Annotated[Literal["grid", "community"], Query()] = "grid",
    grid: Grid = None,
    community: Community = None,
    drone_id: DroneFilter = None,
    types: Types = None,
    severities: Severities = None,
    state: State = None,
    acked: Acked = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Per grid (or community): total, open, open and unacknowledged, open by severity."""
    f = _filter(grid, community, drone_id, types, severities, state, acked, since, until)
    rows = await _service(request).counts(f, by=by, principal=principal)
    return {"by": by, "counts": rows}


@router.get("/{alert_id:int}", responses=errors(403, 404))
async def get_alert(request: Request, principal: Reader, alert_id: AlertId) -> dict[str, Any]:
    return await _service(request).get(alert_id, principal)


@router.post("/{alert_id:int}/ack", responses=errors(403, 404))
async def ack_alert(request: Request, principal: FlightPlanner, alert_id: AlertId) -> dict[str, Any]:
    """Acknowledge (operators and testers): records who and when; a second ack changes nothing."""
    return await _service(request).ack(alert_id, principal)
