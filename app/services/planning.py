"""Plan missions from stored grids, zones and drones; store them; read them back.

The planning core is pure and CPU-bound, so it runs in a worker process of the ``PlanPool``
(``app.services.plan_pool``), off the event loop and out of its GIL. Before a plan is queued,
its work is estimated from the inputs (``missions.limits``) and a request over a limit is
refused with 422 ``plan_too_large`` naming the field to change and the limit; afterwards every
sortie is checked against ArduCopter's mission size. A plan with violations can be previewed but
is never stored or uploaded: the operator gets the violations (leg, zone, distance) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from app.auth import Principal
from app.config import Settings
from app.db.conn import Conn
from app.db.repos import district as district_repo
from app.db.repos import drones as drones_repo
from app.db.repos import missions as repo
from app.errors import NotFound, ValidationFailed
from app.services.district import load_fences
from app.services.plan_area import clip_to_area
from app.services.plan_pool import PlanPool, default_workers
from missions.camera import Camera
from missions.checkpoint import Checkpoint
from missions.inspect import InspectionSite
from missions.job import PlanJob, run_job
from missions.limits import PlanLimits, PlanTooLarge, check_estimate, check_sorties, estimate_work
from missions.plan import MissionPlan
from missions.profile import Battery, FlightProfile, Speaker, Sprayer
from missions.serialize import plan_from_dict, plan_to_dict
from missions.spray import SprayTarget

# Field kinds: the planner, the keyword holding their sites, and the request field they came from.
_FIELD_KINDS = {
    "spray": ("targets", "targets"),
    "inspect": ("sites", "sites"),
    "checkpoint": ("points", "checkpoints"),
}


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Everything a plan needs besides the stored district: built by the API from its request."""

    kind: str
    grid_codes: tuple[str, ...]
    home: tuple[float, float] | None
    drone_id: int | None
    planner_kwargs: dict[str, Any]
    battery: dict[str, float] | None
    area: Polygon | MultiPolygon | None = None  # coverage: plan only this part of the grids


@dataclass(frozen=True, slots=True)
class PlannedMission:
    plan: MissionPlan
    grid_codes: tuple[str, ...]
    communities: tuple[str, ...]


async def _grids(
    conn: Conn, codes: Sequence[str], principal: Principal
) -> list[tuple[str, str, Polygon | MultiPolygon]]:
    out = []
    for code in codes:
        row = await district_repo.get_grid(conn, code)
        if row is None or not principal.sees_community(row["community_code"]):
            raise NotFound(f"grid {code} not found", details=[{"field": "grid_codes", "code": code}])
        geom = shape(row["boundary"])
        assert isinstance(geom, Polygon | MultiPolygon)
        out.append((code, row["community_code"], geom))
    return out


def _drone_defaults(row: asyncpg.Record) -> dict[str, Any]:
    """Camera, speaker and battery from a registered drone's capabilities."""
    caps = row["capabilities"]
    out: dict[str, Any] = {}
    cam = caps.get("camera")
    if cam:
        out["camera"] = Camera(
            sensor_width_mm=cam["sensor_width_mm"],
            sensor_height_mm=cam["sensor_height_mm"],
            focal_length_mm=cam["focal_length_mm"],
            image_width_px=cam["image_width_px"],
            image_height_px=cam["image_height_px"],
        )
    spk = caps.get("speaker")
    if spk:
        out["speaker_level_db_at_1m"] = spk["level_db_at_1m"]
    spr = caps.get("sprayer")
    if spr:
        out["sprayer"] = Sprayer(
            tank_l=spr["tank_l"], flow_l_per_min=spr["flow_l_per_min"], swath_m=spr["swath_m"]
        )
    out["battery_wh"] = caps.get("battery_wh")
    out["max_speed_mps"] = caps.get("max_speed_mps")
    return out


# Planner keywords as the request fields an operator changes to ask for less work.
_REQUEST_FIELD = {
    "speaker": "broadcast",
    "points": "checkpoints",
    "photo_step_deg": "inspection.photo_step_deg",
}


def limits_from(settings: Settings) -> PlanLimits:
    return PlanLimits(
        max_lanes=settings.plan_max_lanes,
        max_hover_points=settings.plan_max_hover_points,
        max_vertices=settings.plan_max_vertices,
        max_items=settings.plan_max_items,
        max_items_per_sortie=settings.plan_max_items_per_sortie,
    )


async def open_pool(settings: Settings) -> PlanPool:
    """The service's planning workers (``plan_workers`` 0: one per core but one)."""
    pool = PlanPool(
        workers=settings.plan_workers or default_workers(),
        queue_size=settings.plan_queue_size,
        timeout_s=settings.plan_timeout_s,
        nice=settings.plan_worker_nice,
    )
    await pool.start()
    return pool


def _too_large(exc: PlanTooLarge) -> ValidationFailed:
    field = _REQUEST_FIELD.get(exc.field, exc.field)
    message = str(exc)
    if message.startswith(f"{exc.field}:"):
        message = field + message[len(exc.field) :]
    return ValidationFailed(
        message,
        code="plan_too_large",
        details=[
            {
                "field": field,
                "problem": f"over the limit {exc.limit}",
                "limit": exc.limit,
                "limit_value": exc.value,
                "estimate": exc.estimate,
            }
        ],
    )


def _refused(exc: ValueError) -> ValidationFailed:
    return ValidationFailed(str(exc), details=[{"field": "body", "problem": str(exc)}])


async def plan(
    pool: asyncpg.Pool, inputs: PlanInputs, principal: Principal, runner: PlanPool, limits: PlanLimits
) -> PlannedMission:
    """Load the grids, fences and drone, check the work against ``limits``, plan in ``runner``.

    Cancelling the caller (the client went away) cancels the plan: it leaves the queue, or its
    worker is stopped.
    """
    runner.check_capacity()  # a full queue answers 503 before any database work
    kwargs = dict(inputs.planner_kwargs)
    async with pool.acquire() as conn:
        grids = await _grids(conn, inputs.grid_codes, principal)
        if inputs.area is not None:
            grids = clip_to_area(grids, inputs.area)
        kwargs["fences"] = await load_fences(conn)
        home = inputs.home
        battery = dict(inputs.battery) if inputs.battery else None
        if inputs.drone_id is not None:
            row = await drones_repo.get(conn, inputs.drone_id)
            if row is None or not principal.sees_community(row["community_code"]):
                raise NotFound(f"drone {inputs.drone_id} not found", details=[{"field": "drone_id"}])
            defaults = _drone_defaults(row)
            home = home or (row["home_lon_deg"], row["home_lat_deg"])
            _apply_drone_defaults(kwargs, defaults, inputs.kind)
            if battery is None and defaults.get("battery_wh"):
                battery = {"capacity_wh": float(defaults["battery_wh"])}
    if home is None:
        raise ValidationFailed(
            "home: give home or a drone_id whose dock is the home",
            details=[{"field": "home", "problem": "required"}],
        )
    if battery is not None:
        kwargs["battery"] = Battery(**battery)
    if inputs.kind in _FIELD_KINDS:
        _check_field_work(inputs.kind, kwargs, grids)
    try:
        estimate = estimate_work(inputs.kind, [g for _, _, g in grids], kwargs)
        check_estimate(estimate, limits, one_sortie=battery is None)
    except PlanTooLarge as exc:
        raise _too_large(exc) from None
    except ValueError as exc:
        raise _refused(exc) from None
    job = PlanJob(inputs.kind, tuple((c, g) for c, _, g in grids), home, kwargs)
    try:
        result = await runner.run(run_job, job)
        check_sorties(result, limits, estimate.driver)
    except PlanTooLarge as exc:
        raise _too_large(exc) from None
    except ValueError as exc:
        raise _refused(exc) from None
    communities = tuple(sorted({comm for _, comm, _ in grids}))
    return PlannedMission(plan=result, grid_codes=inputs.grid_codes, communities=communities)


def _check_field_work(
    kind: str, kwargs: dict[str, Any], grids: list[tuple[str, str, Polygon | MultiPolygon]]
) -> None:
    """A field mission needs its payload, and every site in one of the named grids: the grids
    scope who may plan it, so a site outside them would escape that scope."""
    if kind == "spray" and "sprayer" not in kwargs:
        raise ValidationFailed(
            "sprayer: give a sprayer or a drone_id whose drone has one",
            details=[{"field": "sprayer", "problem": "required"}],
        )
    key, field = _FIELD_KINDS[kind]
    area = shapely.union_all([g for _, _, g in grids])
    for item in kwargs[key]:
        if not area.intersects(_site_shape(item)):
            codes = ", ".join(code for code, _, _ in grids)
            raise ValidationFailed(
                f"{field}: {item.code} lies outside the grids {codes}",
                details=[{"field": field, "code": item.code, "problem": "outside grid_codes"}],
            )


def _site_shape(item: SprayTarget | InspectionSite | Checkpoint) -> BaseGeometry:
    if isinstance(item, SprayTarget):
        return item.area
    if isinstance(item, InspectionSite):
        return item.footprint
    return Point(item.lon_deg, item.lat_deg)


def _apply_drone_defaults(kwargs: dict[str, Any], defaults: dict[str, Any], kind: str) -> None:
    if kind in ("coverage", "perimeter") and "camera" in defaults and "swath_m" not in kwargs:
        kwargs.setdefault("camera", defaults["camera"])
    if kind == "spray" and "sprayer" in defaults:
        kwargs.setdefault("sprayer", defaults["sprayer"])
    if kind == "broadcast" and "speaker_level_db_at_1m" in defaults and "speaker" not in kwargs:
        kwargs["speaker"] = Speaker(level_db_at_1m=defaults["speaker_level_db_at_1m"])
    profile: FlightProfile | None = kwargs.get("profile")
    max_speed = defaults.get("max_speed_mps")
    if profile is not None and max_speed and profile.transit_speed_mps > max_speed:
        raise ValidationFailed(
            f"transit_speed_mps {profile.transit_speed_mps} exceeds the drone's max_speed_mps {max_speed}",
            details=[
                {"field": "transit_speed_mps", "problem": f"above the drone's max speed {max_speed} m/s"}
            ],
        )


async def store(
    pool: asyncpg.Pool, planned: PlannedMission, *, name: str, request: dict[str, Any], principal: Principal
) -> int:
    if not planned.plan.ok:
        raise ValidationFailed(
            f"the plan has {len(planned.plan.violations)} violations and cannot be stored",
            code="plan_violations",
            details=[
                {
                    "sortie": v.sortie,
                    "leg": v.leg,
                    "zone": v.zone_id,
                    "kind": v.kind,
                    "distance_m": v.distance_m,
                    "problem": v.message,
                }
                for v in planned.plan.violations
            ],
        )
    async with pool.acquire() as conn:
        return await repo.insert(
            conn,
            name=name,
            kind=planned.plan.kind,
            grid_codes=list(planned.grid_codes),
            communities=list(planned.communities),
            request=request,
            plan=plan_to_dict(planned.plan),
            sortie_count=len(planned.plan.sorties),
            created_by=principal.token_id or None,
        )


def visible(principal: Principal, communities: Sequence[str]) -> bool:
    return all(principal.sees_community(c) for c in communities)


async def load(conn: Conn, mission_id: int, principal: Principal) -> tuple[asyncpg.Record, MissionPlan]:
    row = await repo.get(conn, mission_id)
    if row is None or not visible(principal, row["communities"]):
        raise NotFound(f"mission {mission_id} not found")
    return row, plan_from_dict(row["plan"])
