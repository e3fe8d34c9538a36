"""Drone state and control: upload a stored mission, commands, whole flights.

Moving a drone needs an operator (any drone) or a tester (simulated and SITL drones only); the
service checks the plan against this drone (violations, battery, take-off point) before upload.
With several instances, each route here is answered by the instance linking the drone
(app/api/forward.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import FlightPlanner, Reader
from app.api.drones import DroneId
from app.api.forward import LinkRouted
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.api.throttle import spend_flight_command
from app.errors import ServiceUnavailable
from app.services.flight import Action, FlightService

router = APIRouter(prefix="/drones", tags=["flight"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

MOVES_A_DRONE = errors(403, 404, 409, 502, 504)
"""A route that talks to the vehicle: also 503 `link_not_connected` when the drone is offline."""


def flights(request: Request) -> FlightService:
    service: FlightService | None = getattr(request.app.state, "flights", None)
    if service is None:
        raise ServiceUnavailable("drone links are disabled on this instance (AEROGRID_LINKS_ENABLED=false)")
    return service


class UploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mission_id: int = Field(ge=1, le=2**62)
    sortie: int = Field(default=0, ge=0, le=1000)


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alt_m: Annotated[
        float | None, Field(gt=0, le=1000, description="takeoff: target altitude above home")
    ] = None


@router.get("/{drone_id:int}/state", responses=errors(404))
async def drone_state(
    request: Request, principal: Reader, drone_id: DroneId, _routed: LinkRouted
) -> dict[str, Any]:
    """Live state (online, mode, armed, position, battery, mission progress), last upload, flight."""
    return await flights(request).state(drone_id, principal)


@router.post("/{drone_id:int}/upload", responses={**MOVES_A_DRONE, **WITH_BODY})
async def upload(
    request: Request, principal: FlightPlanner, drone_id: DroneId, _routed: LinkRouted, body: UploadIn
) -> dict[str, Any]:
    """Upload one sortie of a stored mission with its fence and rally points, verified."""
    spend_flight_command(request, principal, f"drone:{drone_id}", None)
    return await flights(request).upload(drone_id, body.mission_id, body.sortie, principal)


@router.post("/{drone_id:int}/commands/{action}", status_code=202, responses={**MOVES_A_DRONE, **WITH_BODY})
async def command(
    request: Request,
    principal: FlightPlanner,
    drone_id: DroneId,
    _routed: LinkRouted,
    action: Action,
    body: CommandIn | None = None,
) -> dict[str, str]:
    """arm, disarm, takeoff (alt_m), start (AUTO + MISSION_START), pause, resume, return (RTL), land."""
    spend_flight_command(request, principal, f"drone:{drone_id}", action)
    await flights(request).command(drone_id, action, body.alt_m if body else None, principal)
    return {"status": "accepted", "action": action}


@router.post("/{drone_id:int}/flight", status_code=202, responses=MOVES_A_DRONE)
async def fly(
    request: Request, principal: FlightPlanner, drone_id: DroneId, _routed: LinkRouted
) -> dict[str, Any]:
    """Fly the uploaded mission in the background: ready checks, GUIDED, arm, take off, AUTO, RTL, land."""
    spend_flight_command(request, principal, f"drone:{drone_id}", None)
    return await flights(request).fly(drone_id, principal)
