"""Stored telemetry: samples and events of a drone or a grid in a time range, and flown tracks.

Lists are paged by an opaque cursor (``next`` of one page is ``after`` of the next), ordered by
time then drone. A token scoped to communities sees the samples of its communities' drones and
of its communities' grids; asking for another community's drone or grid answers 404.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.api.deps import PoolDep, Reader, SettingsDep
from app.api.drones import DroneId, load_visible
from app.api.guard import CheckedRoute, UtcInstant
from app.api.responses import TOKEN_ROUTES, errors
from app.auth import Principal
from app.db.conn import Conn
from app.db.repos import district as district_repo
from app.db.repos import telemetry as repo
from app.errors import NotFound, ValidationFailed
from app.telemetry.track import simplify_track

router = APIRouter(prefix="/telemetry", tags=["telemetry"], route_class=CheckedRoute, responses=TOKEN_ROUTES)
track_router = APIRouter(
    prefix="/drones", tags=["telemetry"], route_class=CheckedRoute, responses=TOKEN_ROUTES
)

MAX_PAGE = 10_000
MAX_TRACK_ROWS = 200_000
"""A track is built from at most this many stored samples (the earliest in the range)."""
DEFAULT_RANGE = timedelta(hours=1)

FromQuery = Annotated[
    UtcInstant | None,
    Query(
        alias="from", description="Start of the range, inclusive (ISO 8601; default: one hour before `to`)"
    ),
]
ToQuery = Annotated[
    UtcInstant | None, Query(alias="to", description="End of the range, exclusive (default: now)")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page")]
AfterQuery = Annotated[
    str | None, Query(max_length=200, description="Cursor: the `next` of the previous page")
]
DroneQuery = Annotated[int | None, Query(ge=1, le=2**62)]
GridQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
EventKind = Literal["mode", "armed", "statustext", "mission_current", "mission_reached", "home", "failsafe"]


class SamplesPage(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


class EventsPage(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


def _problem(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


def time_range(
    from_time: datetime | None, to_time: datetime | None, max_span_days: int
) -> tuple[datetime, datetime]:
    """The checked range: naive times are UTC; from must not be after to; the span is bounded."""
    to_time = _utc(to_time) if to_time is not None else datetime.now(UTC)
    from_time = _utc(from_time) if from_time is not None else to_time - DEFAULT_RANGE
    if from_time > to_time:
        raise _problem("query.from", "must not be after 'to'")
    if to_time - from_time > timedelta(days=max_span_days):
        raise _problem("query.to", f"the range may span at most {max_span_days} days")
    return from_time, to_time


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def encode_cursor(time: datetime, drone_id: int, boot_id: int, key: int) -> str:
    us = (time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{us}:{drone_id}:{boot_id}:{key}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[datetime, int, int, int] | None:
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        us, drone_id, boot_id, key = (int(p) for p in raw.split(":"))
        if not all(-(2**63) <= v < 2**63 for v in (drone_id, boot_id, key)):
            raise ValueError("out of range")
        time = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise _problem("query.after", "not a cursor returned by this endpoint") from None
    return time, drone_id, boot_id, key


async def _check_grid(conn: Conn, principal: Principal, code: str) -> None:
    row = await district_repo.get_grid(conn, code)
    if row is None or not principal.sees_community(row["community_code"]):
        raise NotFound(f"grid {code} not found")


def _row(record: Any) -> dict[str, Any]:
    return dict(record)


@router.get("/samples", response_model=SamplesPage, responses=errors(404))
async def list_samples(
    pool: PoolDep,
    principal: Reader,
    settings: SettingsDep,
    drone_id: DroneQuery = None,
    grid: GridQuery = None,
    from_time: FromQuery = None,
    to_time: ToQuery = None,
    limit: LimitQuery = 1000,
    after: AfterQuery = None,
) -> SamplesPage:
    """Position samples in [from, to), oldest first, of one drone and/or one grid (or all visible)."""
    start, end = time_range(from_time, to_time, settings.telemetry_query_max_span_days)
    cursor = decode_cursor(after)
    async with pool.acquire() as conn:
        if drone_id is not None:
            await load_visible(conn, principal, drone_id)
        if grid is not None:
            await _check_grid(conn, principal, grid)
        rows = await repo.samples_page(
            conn,
            from_time=start,
            to_time=end,
            drone_id=drone_id,
            grid_code=grid,
            after=cursor,
            scope=principal.community_scope,
            limit=limit,
        )
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(last["time"], last["drone_id"], last["boot_id"], last["time_boot_ms"])
    return SamplesPage(items=[_row(r) for r in rows], next=nxt)


@router.get("/events", response_model=EventsPage, responses=errors(404))
async def list_events(
    pool: PoolDep,
    principal: Reader,
    settings: SettingsDep,
    drone_id: DroneQuery = None,
    kind: EventKind | None = None,
    from_time: FromQuery = None,
    to_time: ToQuery = None,
    limit: LimitQuery = 1000,
    after: AfterQuery = None,
) -> EventsPage:
    """Vehicle events (mode, arming, STATUSTEXT, mission progress, home, failsafes) in [from, to)."""
    start, end = time_range(from_time, to_time, settings.telemetry_query_max_span_days)
    cursor = decode_cursor(after)
    async with pool.acquire() as conn:
        if drone_id is not None:
            await load_visible(conn, principal, drone_id)
        rows = await repo.events_page(
            conn,
            from_time=start,
            to_time=end,
            drone_id=drone_id,
            kind=kind,
            after=cursor,
            scope=principal.community_scope,
            limit=limit,
        )
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(last["time"], last["drone_id"], last["boot_id"], last["seq"])
    return EventsPage(items=[_row(r) for r in rows], next=nxt)


@track_router.get("/{drone_id:int}/track", responses=errors(404))
async def drone_track(
    pool: PoolDep,
    principal: Reader,
    settings: SettingsDep,
    drone_id: DroneId,
    from_time: FromQuery = None,
    to_time: ToQuery = None,
    max_points: Annotated[int, Query(ge=2, le=10_000, description="Point budget of the line")] = 500,
) -> dict[str, Any]:
    """The flown track as a GeoJSON Feature ([lon, lat, alt AMSL]), simplified to ``max_points``."""
    start, end = time_range(from_time, to_time, settings.telemetry_query_max_span_days)
    async with pool.acquire() as conn:
        await load_visible(conn, principal, drone_id)
        rows = await repo.track_points(conn, drone_id, start, end, MAX_TRACK_ROWS)
    return simplify_track(
        drone_id,
        [(r["lon_deg"], r["lat_deg"], r["alt_amsl_m"]) for r in rows],
        [r["time"] for r in rows],
        max_points,
        truncated=len(rows) == MAX_TRACK_ROWS,
    )
