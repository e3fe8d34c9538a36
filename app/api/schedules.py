"""Schedules: fly a stored mission once at a time, or by an RRULE in a time zone, within flight
windows, except blackout dates and (broadcasts) quiet hours. Every field is checked before anything
is stored: a bad one is a 422 naming it."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.api.deps import FlightPlanner, PoolDep, Reader, SettingsDep
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.auth import Permission, Principal
from app.db.repos import drones as drones_repo
from app.db.repos import missions as missions_repo
from app.db.repos import schedules as repo
from app.errors import NotFound, ValidationFailed
from app.scheduling.clock import SystemClock
from app.scheduling.scheduler import rule_of
from app.scheduling.schedules import RuleError, parse_rule
from app.services.flight import _can_fly
from app.services.planning import visible
from missions.serialize import plan_from_dict

router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

ScheduleId = Annotated[int, Path(ge=1, le=2**62)]
UPCOMING = 5
RULE_CHECK_S = 2.0
RECENT = 20


def _plausible(value: datetime) -> datetime:
    if not 1970 <= value.year <= 8999:
        raise ValueError("must be a time between 1970 and 8999")
    return value


class SpanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time = Field(description="Local time, HH:MM")
    end: time = Field(description="Local time, HH:MM")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    mission_id: int = Field(ge=1, le=2**62)
    drone_id: int | None = Field(default=None, ge=1, le=2**62, description="Omit: assign one at fire time")
    start_at: Annotated[datetime, AfterValidator(_plausible)] = Field(
        description="One-off: when; recurring: the RRULE's DTSTART. Without an offset: local time in timezone"
    )
    rrule: str | None = Field(
        default=None, min_length=1, max_length=1000, description="RFC 5545 RRULE, e.g. FREQ=DAILY;BYHOUR=8"
    )
    timezone: str | None = Field(
        default=None, min_length=1, max_length=64, description="IANA; default the setting"
    )
    window: SpanIn | None = Field(default=None, description="Daily flight window (local): end after start")
    blackout_dates: list[date] = Field(default_factory=list, max_length=366)
    quiet_hours: SpanIn | None = Field(
        default=None, description="No broadcast missions in this span (may wrap)"
    )


def schedule_json(
    row: Any, *, upcoming: list[datetime] | None = None, recent: list[Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "mission_id": row["mission_id"],
        "drone_id": row["drone_id"],
        "start_at": row["start_at"],
        "rrule": row["rrule"],
        "timezone": row["tz"],
        "window": None
        if row["window_start"] is None
        else {"start": row["window_start"], "end": row["window_end"]},
        "blackout_dates": list(row["blackout_dates"]),
        "quiet_hours": None
        if row["quiet_start"] is None
        else {"start": row["quiet_start"], "end": row["quiet_end"]},
        "enabled": row["enabled"],
        "created_at": row["created_at"],
    }
    if upcoming is not None:
        out["upcoming"] = upcoming
    if recent is not None:
        out["occurrences"] = [dict(r) for r in recent]
    return out


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])


async def _check_refs(conn: Any, body: ScheduleIn, principal: Principal) -> None:
    mission = await missions_repo.get(conn, body.mission_id)
    if mission is None or not visible(principal, mission["communities"]):
        raise NotFound(
            f"mission {body.mission_id} not found", details=[{"field": "mission_id", "problem": "not found"}]
        )
    if not plan_from_dict(mission["plan"]).ok:
        raise _invalid("mission_id", "the mission has violations: re-plan it before scheduling")
    if body.drone_id is not None:
        drone = await drones_repo.get(conn, body.drone_id)
        if drone is None or not principal.sees_community(drone["community_code"]):
            raise NotFound(
                f"drone {body.drone_id} not found", details=[{"field": "drone_id", "problem": "not found"}]
            )
        _can_fly(principal, drone["kind"])


@router.post("", status_code=201, responses={**errors(403, 404), **WITH_BODY})
async def create_schedule(
    pool: PoolDep, settings: SettingsDep, principal: FlightPlanner, body: ScheduleIn, response: Response
) -> dict[str, Any]:
    """Store a schedule; its first upcoming occurrences are returned with it."""
    tz_name = body.timezone or settings.schedule_default_tz
    window = (body.window.start, body.window.end) if body.window else None
    quiet = (body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
    now = SystemClock().now()
    try:
        # In a thread with a time limit: a rule that can never match makes dateutil walk years.
        rule = await asyncio.wait_for(
            asyncio.to_thread(
                parse_rule,
                tz_name=tz_name,
                start_at=body.start_at,
                rrule_text=body.rrule,
                now=now,
                min_interval_s=settings.schedule_min_interval_s,
                window=window,
                blackout_dates=body.blackout_dates,
                quiet_hours=quiet,
            ),
            timeout=RULE_CHECK_S,
        )
    except RuleError as exc:
        raise _invalid(exc.field, exc.problem) from exc
    except TimeoutError as exc:
        raise _invalid("rrule", f"takes more than {RULE_CHECK_S:.0f} s to expand: simplify it") from exc
    async with pool.acquire() as conn, conn.transaction():
        await _check_refs(conn, body, principal)
        row = await repo.insert(
            conn,
            name=body.name,
            mission_id=body.mission_id,
            drone_id=body.drone_id,
            start_at=rule.start_at,
            rrule=rule.rrule_text,
            tz=tz_name,
            window=window,
            blackout_dates=sorted(set(body.blackout_dates)),
            quiet_hours=quiet,
            sim_only=not principal.can(Permission.FLY),
            created_by=principal.token_id or None,
        )
    response.headers["Location"] = f"{router.prefix}/{row['id']}"
    return schedule_json(row, upcoming=rule.next_after(now, UPCOMING))


@router.get("")
async def list_schedules(pool: PoolDep, principal: Reader) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await repo.list_all(conn)
        out = []
        for row in rows:
            mission = await missions_repo.get(conn, row["mission_id"])
            if mission is not None and visible(principal, mission["communities"]):
                out.append(schedule_json(row))
    return out


async def _visible_schedule(conn: Any, schedule_id: int, principal: Principal) -> Any:
    row = await repo.get(conn, schedule_id)
    mission = None if row is None else await missions_repo.get(conn, row["mission_id"])
    if row is None or mission is None or not visible(principal, mission["communities"]):
        raise NotFound(f"schedule {schedule_id} not found")
    return row


@router.get("/{schedule_id:int}", responses=errors(404))
async def get_schedule(pool: PoolDep, principal: Reader, schedule_id: ScheduleId) -> dict[str, Any]:
    """A schedule, its next occurrences and the recent ones (fired with their run, or skipped and why)."""
    async with pool.acquire() as conn:
        row = await _visible_schedule(conn, schedule_id, principal)
        recent = await repo.occurrences(conn, schedule_id, RECENT)
    return schedule_json(row, upcoming=rule_of(row).next_after(SystemClock().now(), UPCOMING), recent=recent)


@router.delete("/{schedule_id:int}", status_code=204, responses=errors(403, 404))
async def delete_schedule(pool: PoolDep, principal: FlightPlanner, schedule_id: ScheduleId) -> None:
    """Stop and delete a schedule; its runs stay (their schedule_id becomes null)."""
    async with pool.acquire() as conn:
        await _visible_schedule(conn, schedule_id, principal)
        await repo.delete(conn, schedule_id)
