"""Patrols for the demo, through the service's own API and scheduler (docs/runs.md).

Every drone gets a mission over its dock grid (coverage for a camera patrol, broadcast for a speaker
patrol, alternating) and a recurring schedule whose first occurrence is due a moment after start-up,
so the scheduler fires it, the run driver uploads and flies it, and drones are in the air within
seconds. Nothing here flies a drone directly: the demo shows the same path an operator's schedule
takes. A previous demo's schedules (same data directory) are deleted first, so they do not pile up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.demo.fleet import DemoDrone

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = "demo patrol"
PATROL_RRULE = "FREQ=MINUTELY;INTERVAL=20"
"""Every 20 minutes: above the scheduler's 15-minute floor, and longer than a demo patrol flies."""
PATROL_ALT_M = 40
PATROL_SPEED_MPS = 10
COVERAGE_SWATH_M = 60
PLANS_AT_ONCE = 3
"""Plans asked for at once: within the service's default planning queue (4)."""


class DemoError(RuntimeError):
    """The demo could not do a step; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Patrol:
    drone_name: str
    kind: str
    grid_code: str
    mission_id: int
    schedule_id: int
    sorties: int


def checked(response: httpx.Response, *expected: int) -> Any:
    """The response's JSON when its status is expected, else a DemoError naming the request and the refusal."""
    if response.status_code in expected:
        return response.json() if response.content else None
    try:
        body = response.json()
        why = f"{body.get('code')}: {body.get('message')}"
    except ValueError:
        why = response.text[:200]
    raise DemoError(
        f"{response.request.method} {response.request.url.path} answered {response.status_code} ({why})"
    )


async def delete_previous(client: httpx.AsyncClient) -> int:
    """Delete the schedules an earlier demo left; returns how many."""
    schedules = checked(await client.get("/schedules"), 200)
    old = [s for s in schedules if str(s["name"]).startswith(SCHEDULE_PREFIX)]
    for schedule in old:
        checked(await client.delete(f"/schedules/{schedule['id']}"), 204, 404)
    return len(old)


def _mission_body(drone: DemoDrone, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{SCHEDULE_PREFIX} {drone.dock.grid_code} {kind}",
        "kind": kind,
        "grid_codes": [drone.dock.grid_code],
        "drone_id": drone.drone_id,
        "alt_m": PATROL_ALT_M,
        "speed_mps": PATROL_SPEED_MPS,
    }
    if kind == "coverage":
        body["swath_m"] = COVERAGE_SWATH_M
    return body


async def _plan(client: httpx.AsyncClient, drone: DemoDrone, kind: str, slots: asyncio.Semaphore) -> Any:
    """The planned mission, or None when the grid cannot be patrolled so (the plan has violations)."""
    async with slots:
        response = await client.post("/missions", json=_mission_body(drone, kind))
    if response.status_code == 422:
        log.warning(
            "no %s patrol for %s over %s: %s", kind, drone.name, drone.dock.grid_code, response.text[:300]
        )
        return None
    return checked(response, 201)


async def _schedule(
    client: httpx.AsyncClient, drone: DemoDrone, kind: str, mission_id: int, first_in_s: float
) -> Any:
    # Taken per schedule, just before storing it: an occurrence already past when its schedule is
    # stored is never fired. Whole seconds (RRULE), rounded up.
    start_at = (datetime.now(UTC) + timedelta(seconds=first_in_s + 1)).replace(microsecond=0)
    body = {
        "name": f"{SCHEDULE_PREFIX} {drone.name} {kind}",
        "mission_id": mission_id,
        "drone_id": drone.drone_id,
        "start_at": start_at.isoformat(),
        "rrule": PATROL_RRULE,
    }
    return checked(await client.post("/schedules", json=body), 201)


@dataclass(frozen=True, slots=True)
class Planned:
    drone: DemoDrone
    kind: str
    mission: dict[str, Any]


async def plan_patrols(client: httpx.AsyncClient, drones: list[DemoDrone]) -> list[Planned]:
    """One mission per drone, coverage and broadcast in turn; a drone whose grid cannot be patrolled
    gets none. Asked for together, a few at a time (within the service's planning queue); planning
    needs no drone online, so this runs while the drones are still being linked."""
    slots = asyncio.Semaphore(PLANS_AT_ONCE)
    kinds = ["coverage" if index % 2 == 0 else "broadcast" for index in range(len(drones))]
    missions = await asyncio.gather(*(_plan(client, d, k, slots) for d, k in zip(drones, kinds, strict=True)))
    planned = [Planned(d, k, m) for d, k, m in zip(drones, kinds, missions, strict=True) if m is not None]
    if not planned:
        raise DemoError("no patrol could be planned over the drones' grids (see the log)")
    return planned


async def schedule_patrols(
    client: httpx.AsyncClient, planned: list[Planned], *, first_in_s: float
) -> list[Patrol]:
    """Schedule each planned mission, first due ``first_in_s`` after it is stored, then every 20 minutes."""
    patrols = []
    for p in planned:
        schedule = await _schedule(client, p.drone, p.kind, p.mission["id"], first_in_s)
        log.info(
            "scheduled %s patrol of %s for %s (schedule %d)",
            p.kind,
            p.drone.dock.grid_code,
            p.drone.name,
            schedule["id"],
        )
        patrols.append(
            Patrol(
                p.drone.name,
                p.kind,
                p.drone.dock.grid_code,
                p.mission["id"],
                schedule["id"],
                len(p.mission["sorties"]),
            )
        )
    return patrols


async def continue_waiting_runs(client: httpx.AsyncClient) -> int:
    """Send every run waiting between sorties on to its next sortie (the dock swapped the pack)."""
    waiting = checked(await client.get("/runs", params={"state": "waiting"}), 200)
    for run in waiting:
        response = await client.post(f"/runs/{run['id']}/actions/continue", json={})
        if response.status_code != 202:
            log.info("run %s not continued yet: %s", run["id"], response.text[:200])
    return len(waiting)
