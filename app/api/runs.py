"""Mission runs: start a stored mission as a run the service flies itself, follow it, act on it.

Creating or acting on a run moves drones: operators (any drone) and testers (simulated drones only).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import FlightPlanner, PoolDep, Reader
from app.api.forward import RunRouted
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.api.throttle import spend_flight_command
from app.db.repos import missions as missions_repo
from app.db.repos import runs as repo
from app.errors import NotFound, ServiceUnavailable
from app.scheduling.driver import RunAction, RunDriver
from app.scheduling.runs import run_json
from app.services.planning import visible

router = APIRouter(prefix="/runs", tags=["runs"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

RunId = Annotated[int, Path(ge=1, le=2**62)]
RunState = Literal[
    "planned", "scheduled", "dispatching", "uploading", "ready", "running", "paused", "returning",
    "landed", "waiting", "completed", "aborted", "failed", "skipped",
]  # fmt: skip


def runs_driver(request: Request) -> RunDriver:
    driver: RunDriver | None = getattr(request.app.state, "runs", None)
    if driver is None:
        raise ServiceUnavailable("runs are disabled on this instance (links or AEROGRID_RUNS_ENABLED off)")
    return driver


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mission_id: int = Field(ge=1, le=2**62)
    drone_id: int | None = Field(
        default=None, ge=1, le=2**62, description="Omit to let the service pick an idle, capable drone"
    )
    start: bool = Field(default=True, description="Dispatch at once; false stores it as planned")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drone_id: int | None = Field(
        default=None, ge=1, le=2**62, description="continue: fly the next sortie on this drone instead"
    )


@router.post("", status_code=201, responses={**errors(403, 404, 409, 502, 504), **WITH_BODY})
async def create_run(request: Request, principal: FlightPlanner, body: RunIn) -> dict[str, Any]:
    """Store a run of a mission and (by default) dispatch it: drone, deconfliction, upload, fly."""
    target = f"drone:{body.drone_id}" if body.drone_id is not None else f"mission:{body.mission_id}"
    spend_flight_command(request, principal, target, None)
    return await runs_driver(request).create(body.mission_id, body.drone_id, principal, start=body.start)


@router.get("")
async def list_runs(
    pool: PoolDep,
    principal: Reader,
    state: Annotated[list[RunState] | None, Query(description="Repeat for several states")] = None,
    schedule_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Recent runs, newest first, without their history."""
    async with pool.acquire() as conn:
        rows = await repo.list_recent(
            conn, states=list(state) if state else None, schedule_id=schedule_id, limit=limit
        )
        out = []
        for row in rows:
            mission = await missions_repo.get(conn, row["mission_id"])
            if mission is not None and visible(principal, mission["communities"]):
                out.append(run_json(row))
    return out


@router.get("/{run_id:int}", responses=errors(404))
async def get_run(pool: PoolDep, principal: Reader, run_id: RunId) -> dict[str, Any]:
    """One run: state, sortie k of n, progress (current item, share done, ETA) and every transition."""
    async with pool.acquire() as conn:
        row = await repo.get(conn, run_id)
        mission = None if row is None else await missions_repo.get(conn, row["mission_id"])
        if row is None or mission is None or not visible(principal, mission["communities"]):
            raise NotFound(f"run {run_id} not found")
        return run_json(row, await repo.transitions(conn, run_id))


@router.post(
    "/{run_id:int}/actions/{action}",
    status_code=202,
    responses={**errors(403, 404, 409, 502, 504), **WITH_BODY},
)
async def act(
    request: Request,
    principal: FlightPlanner,
    run_id: RunId,
    _routed: RunRouted,
    action: RunAction,
    body: ActionIn | None = None,
) -> dict[str, Any]:
    """start, pause, resume, abort (return home), land (now, where it is), continue (after a battery
    swap, optionally on another drone)."""
    spend_flight_command(request, principal, f"run:{run_id}", action)
    return await runs_driver(request).act(run_id, action, principal, drone_id=body.drone_id if body else None)
