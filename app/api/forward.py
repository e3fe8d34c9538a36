"""Command routing between instances: a drone-link request reaching an instance that does not
link the drone is answered by the instance that does (docs/live.md "More than one instance").

With ``AEROGRID_LINK_LEASES=true`` each drone's link is open in the one instance holding its lease
row, which also names the base URL that instance advertises. :func:`route_to_holder` is a route
dependency placed after the caller's permission check, so a request is authenticated and
authorised here first; when this instance does not link the drone and another holds its live
lease, the request (method, path, query, body, the caller's Authorization) goes to the holder,
which checks the token again (it is forwarded, not trusted), and the holder's answer comes back
as it was (status, body, Retry-After). The hop header ``X-AeroGrid-Forwarded-By`` stops a second
forward: a forwarded request that finds the link moving again answers 503 ``drone_link_moving``.
The header grants nothing, so a client that forges it gets at most that 503.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import httpx
from fastapi import Depends, FastAPI, Path, Request, Response

from app.api.drones import DroneId
from app.errors import ServiceUnavailable
from app.services.ownership import Holder, LinkOwnership

HOP_HEADER = "X-AeroGrid-Forwarded-By"
RETRY_AFTER_S = 2
"""A moving link settles within a lease renewal (2 s by default): the time to try again."""

_PASSED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "x-request-id")
_PASSED_RESPONSE_HEADERS = ("content-type", "retry-after")


class LinkMoving(ServiceUnavailable):
    """The request was already forwarded once and this instance does not link the drone either."""

    code = "drone_link_moving"


class HolderUnreachable(ServiceUnavailable):
    """The instance holding the drone's link did not answer (down, or slower than the timeout)."""

    code = "drone_link_holder_unreachable"


class Forwarded(Exception):
    """Carries the holder's answer out of a dependency (FastAPI has no other way to answer there)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered by the link holder")
        self.response = response


async def route_to_holder(request: Request, drone_id: DroneId) -> None:
    """Let the route run here unless another instance holds ``drone_id``'s link; then answer with
    the holder's response. A drone nobody holds (unknown, blocked, lease lapsed) runs here, so the
    route gives its usual 404 or ``drone_not_linked``."""
    await _route(request, drone_id)


async def route_run_to_holder(request: Request, run_id: Annotated[int, Path(ge=1, le=2**62)]) -> None:
    """A run's controls act on its drone and on the task driving the run, which lives with the
    drone's link (the holder adopts the run): route them as the drone's own commands. A run with
    no drone yet, or none at all, is answered here."""
    pool: asyncpg.Pool = request.app.state.db.pool
    async with pool.acquire() as conn:
        drone_id = await conn.fetchval("SELECT drone_id FROM mission_runs WHERE id = $1", run_id)
    if drone_id is not None:
        await _route(request, int(drone_id))


async def _route(request: Request, drone_id: int) -> None:
    ownership: LinkOwnership | None = getattr(request.app.state, "ownership", None)
    flights = getattr(request.app.state, "flights", None)
    if ownership is None or flights is None or str(drone_id) in flights.manager.drone_ids():
        return
    holder = await ownership.holder(drone_id)
    if holder is None or holder.instance_id == ownership.instance_id:
        return
    hop = request.headers.get(HOP_HEADER)
    if hop is not None:
        raise LinkMoving(
            f"drone {drone_id}'s link is moving between instances ({hop} sent this request here, "
            f"{holder.instance_id} holds the link now); try again",
            details={"drone_id": drone_id, "holder": holder.instance_id},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    raise Forwarded(await _forward(request, drone_id, holder, ownership.instance_id))


async def _forward(request: Request, drone_id: int, holder: Holder, instance_id: str) -> Response:
    if holder.advertise_url is None:
        raise HolderUnreachable(
            f"drone {drone_id} is linked by instance {holder.instance_id}, which advertises no URL "
            "(set AEROGRID_ADVERTISE_URL there)",
            details={"drone_id": drone_id, "holder": holder.instance_id},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    settings = request.app.state.settings
    headers = {k: v for k in _PASSED_REQUEST_HEADERS if (v := request.headers.get(k)) is not None}
    headers[HOP_HEADER] = instance_id
    url = holder.advertise_url + request.url.path
    timeout = httpx.Timeout(settings.forward_timeout_s, connect=settings.forward_connect_s)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.request(
                request.method,
                url,
                params=request.url.query,
                content=await request.body(),
                headers=headers,
            )
    except httpx.HTTPError as exc:
        raise HolderUnreachable(
            f"drone {drone_id} is linked by instance {holder.instance_id} at {holder.advertise_url}, "
            f"which did not answer ({type(exc).__name__}); its link moves here or elsewhere once its "
            "lease lapses",
            details={"drone_id": drone_id, "holder": holder.instance_id},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from exc
    out = {k: v for k in _PASSED_RESPONSE_HEADERS if (v := answer.headers.get(k)) is not None}
    return Response(answer.content, status_code=answer.status_code, headers=out)


LinkRouted = Annotated[None, Depends(route_to_holder)]
"""Add to a drone-link route (``drone_id`` in its path) after its permission parameter."""

RunRouted = Annotated[None, Depends(route_run_to_holder)]
"""Add to a run control route (``run_id`` in its path) after its permission parameter."""


def install_forwarding(app: FastAPI) -> None:
    async def _forwarded(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forwarded)
        return exc.response

    app.add_exception_handler(Forwarded, _forwarded)
