"""Mission planning (preview), stored missions and their exports."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator, model_validator

from app.api.deps import FlightPlanner, PoolDep, Reader
from app.api.disconnect import unless_disconnected
from app.api.drones import CameraSpec, SprayerSpec, Strict
from app.api.grids import CODE_PATTERN
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.auth import Principal
from app.db.repos import missions as repo
from app.errors import ValidationFailed
from app.services import plan_area, planning
from geofences.geojson import GeoJSONError
from missions import sites
from missions.camera import Camera
from missions.export import export_bytes
from missions.export.geojson import to_geojson
from missions.plan import MissionPlan
from missions.profile import FlightProfile, Speaker, Sprayer
from missions.serialize import items_to_list

router = APIRouter(prefix="/missions", tags=["missions"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

MissionId = Annotated[int, Path(ge=1, le=2**62)]
GridCode = Annotated[str, Field(pattern=CODE_PATTERN)]


class HomeIn(Strict):
    lon_deg: float = Field(ge=-180, le=180)
    lat_deg: float = Field(ge=-90, le=90)


class BatteryIn(Strict):
    capacity_wh: float = Field(gt=0, le=10_000)
    reserve_frac: float = Field(default=0.25, ge=0, lt=1)
    cruise_power_w: float = Field(default=450, gt=0, le=20_000)
    hover_power_w: float = Field(default=500, gt=0, le=20_000)
    climb_power_w: float = Field(default=250, ge=0, le=20_000)


class BroadcastIn(Strict):
    message_s: float = Field(default=30, gt=0, le=3600, description="Length of the recorded message")
    repeats: int = Field(default=2, ge=1, le=100)
    level_db_at_1m: float | None = Field(
        default=None, ge=60, le=160, description="Default: the drone's speaker"
    )
    ambient_db: float = Field(default=60, ge=20, le=120)
    min_margin_db: float = Field(default=10, ge=0, le=60)
    audible_radius_m: float | None = Field(
        default=None, gt=0, le=5000, description="Measured radius; overrides the model"
    )
    relay: int = Field(default=0, ge=0, le=15)


class SprayerIn(SprayerSpec):
    min_height_m: float = Field(default=5, gt=0, le=100, description="Lowest spray height above the target")
    max_height_m: float = Field(default=10, gt=0, le=100)
    reserve_frac: float = Field(default=0, ge=0, lt=1, description="Share of the tank never planned")


class InspectionIn(Strict):
    standoff_m: float = Field(default=20, ge=0, le=1000, description="Orbit distance beyond the site's reach")
    min_standoff_m: float = Field(
        default=5, ge=0, le=1000, description="Least distance when an orbit shrinks"
    )
    photo_step_deg: float = Field(default=30, gt=0, le=360, description="A photo every this many degrees")


class CheckpointIn(Strict):
    order: Literal["given", "optimised"] = "given"
    hover_s: int = Field(default=30, ge=0, le=65535, description="For checkpoints without their own hover_s")
    turnaround_s: float = Field(default=300, ge=0, le=86_400, description="Ground time between sorties")


FeatureCollection = Annotated[
    dict[str, Any], Field(description="GeoJSON FeatureCollection (WGS-84 unless crs)")
]


class PlanRequest(Strict):
    kind: Literal["coverage", "perimeter", "broadcast", "spray", "inspect", "checkpoint"]
    grid_codes: list[GridCode] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"uniqueItems": True},
        description="The grids the work lies in (field kinds: every site in one)",
    )
    drone_id: int | None = Field(
        default=None, ge=1, le=2**62, description="Home, camera, speaker and battery from this drone"
    )
    home: HomeIn | None = None
    landing: HomeIn | None = None
    alt_m: float = Field(default=60, gt=0, le=1000)
    speed_mps: float = Field(default=8, gt=0, le=40)
    transit_speed_mps: float = Field(default=12, gt=0, le=40)
    turnaround_m: float = Field(default=0, ge=0, le=200)
    end_action: Literal["rtl", "land"] = "rtl"
    swath_m: float | None = Field(default=None, gt=0, le=2000, description="Lane spacing; or give a camera")
    camera: CameraSpec | None = None
    side_overlap_pct: float = Field(default=70, ge=0, lt=100)
    front_overlap_pct: float = Field(default=80, ge=0, lt=100)
    angle_deg: float | None = Field(default=None, ge=-360, le=360, description="Force the sweep direction")
    avoid_holes: bool = Field(
        default=False, description="Coverage: never fly over the grids' holes (default: may, camera off)"
    )
    area: dict[str, Any] | None = Field(
        default=None,
        description="Coverage: a GeoJSON Polygon/MultiPolygon inside the grids; plan only that part "
        "(e.g. the `unseen` of GET /grids/{code}/coverage)",
    )
    margin_m: float = Field(default=10, ge=0, le=500, description="Perimeter: distance inside the boundary")
    direction: Literal["cw", "ccw"] = "ccw"
    broadcast: BroadcastIn = Field(default_factory=BroadcastIn)
    battery: BatteryIn | None = None
    clearance_m: float = Field(default=5, ge=0, le=500, description="Distance kept from exclusion zones")
    targets: FeatureCollection | None = Field(default=None, description="spray: spray_target polygons")
    sites: FeatureCollection | None = Field(
        default=None, description="inspect: key_site points or footprints"
    )
    checkpoints: FeatureCollection | None = Field(
        default=None, description="checkpoint: points (hover_s, window)"
    )
    sprayer: SprayerIn | None = Field(default=None, description="spray; default: the drone's sprayer")
    inspection: InspectionIn = Field(default_factory=InspectionIn)
    checkpoint: CheckpointIn = Field(default_factory=CheckpointIn)

    @model_validator(mode="after")
    def _one_source(self) -> PlanRequest:
        if self.swath_m is not None and self.camera is not None:
            raise ValueError("give swath_m or camera, not both")
        return self

    @field_validator("grid_codes")
    @classmethod
    def _distinct_grids(cls, codes: list[str]) -> list[str]:
        """A grid named twice would be flown twice in one route."""
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"grid code(s) {', '.join(twice)} given more than once")
        return codes


def planner_inputs(req: PlanRequest) -> planning.PlanInputs:
    kwargs: dict[str, Any] = {
        "profile": FlightProfile(
            alt_m=req.alt_m,
            speed_mps=req.speed_mps,
            transit_speed_mps=req.transit_speed_mps,
            turnaround_m=req.turnaround_m,
            end_action=req.end_action,
        ),
        "clearance_m": req.clearance_m,
        "landing": (req.landing.lon_deg, req.landing.lat_deg) if req.landing else None,
    }
    if req.kind == "coverage":
        kwargs.update(side_overlap_pct=req.side_overlap_pct, angle_deg=req.angle_deg, avoid_holes=req.avoid_holes)
    if req.kind in ("coverage", "perimeter"):
        kwargs["front_overlap_pct"] = req.front_overlap_pct
        if req.swath_m is not None and req.kind == "coverage":
            kwargs["swath_m"] = req.swath_m
        if req.camera is not None:
            kwargs["camera"] = Camera(**req.camera.model_dump(exclude={"model"}))
    if req.kind == "perimeter":
        kwargs.update(margin_m=req.margin_m, direction=req.direction)
    if req.kind in ("spray", "inspect", "checkpoint"):
        kwargs.update(_field_work(req))
    if req.kind == "broadcast":
        b = req.broadcast
        kwargs.update(message_s=b.message_s, repeats=b.repeats)
        if b.level_db_at_1m is not None or b.audible_radius_m is not None or req.drone_id is None:
            kwargs["speaker"] = Speaker(
                level_db_at_1m=b.level_db_at_1m if b.level_db_at_1m is not None else 125.0,
                ambient_db=b.ambient_db,
                min_margin_db=b.min_margin_db,
                audible_radius_m=b.audible_radius_m,
                relay=b.relay,
            )
    if req.area is not None and req.kind != "coverage":
        raise ValidationFailed(
            f"area: only for kind coverage, not {req.kind!r}",
            details=[{"field": "area", "problem": "only for kind coverage"}],
        )
    return planning.PlanInputs(
        kind=req.kind,
        grid_codes=tuple(req.grid_codes),
        home=(req.home.lon_deg, req.home.lat_deg) if req.home else None,
        drone_id=req.drone_id,
        planner_kwargs=kwargs,
        battery=req.battery.model_dump() if req.battery else None,
        area=plan_area.parse_area(req.area) if req.area is not None else None,
    )


_FIELD_DOCUMENT = {"spray": "targets", "inspect": "sites", "checkpoint": "checkpoints"}


def _field_work(req: PlanRequest) -> dict[str, Any]:
    """The sites of a field kind from the request's GeoJSON; a 422 names the field and feature."""
    name = _FIELD_DOCUMENT[req.kind]
    doc = getattr(req, name)
    if doc is None:
        raise ValidationFailed(
            f"{name}: required for kind {req.kind!r}", details=[{"field": name, "problem": "required"}]
        )
    out: dict[str, Any] = {}
    try:
        if req.kind == "spray":
            out.update(targets=sites.spray_targets(doc), angle_deg=req.angle_deg)
        elif req.kind == "inspect":
            out.update(
                sites=sites.inspection_sites(doc), direction=req.direction, **req.inspection.model_dump()
            )
        else:
            c = req.checkpoint
            points = sites.checkpoints(doc, default_hover_s=c.hover_s)
            out.update(points=points, order=c.order, turnaround_s=c.turnaround_s)
    except GeoJSONError as exc:
        details = [{"field": f"{name}.{p.field}", "code": p.code, "problem": p.message} for p in exc.problems]
        raise ValidationFailed(f"{name}: {exc.problems[0]}", details=details) from None
    except ValueError as exc:
        raise ValidationFailed(f"{name}: {exc}", details=[{"field": name, "problem": str(exc)}]) from None
    if req.kind == "spray" and req.sprayer is not None:
        try:
            out["sprayer"] = Sprayer(**req.sprayer.model_dump())
        except ValueError as exc:
            raise ValidationFailed(
                f"sprayer: {exc}", details=[{"field": "sprayer", "problem": str(exc)}]
            ) from None
    return out


async def _plan(
    request: Request, pool: PoolDep, req: PlanRequest, principal: Principal
) -> planning.PlannedMission:
    """Plan in the service's worker pool; a client that leaves cancels its plan (queued or running)."""
    state = request.app.state
    limits = planning.limits_from(state.settings)
    work = planning.plan(pool, planner_inputs(req), principal, state.plan_pool, limits)
    return await unless_disconnected(request, work)


def plan_json(plan: MissionPlan) -> dict[str, Any]:
    """The preview: statistics, violations, warnings, per-sortie items, and GeoJSON for a map."""
    return {
        "kind": plan.kind,
        "ok": plan.ok,
        "stats": {
            "length_m": plan.stats.length_m,
            "flight_time_s": plan.stats.flight_time_s,
            "turns": plan.stats.turns,
            "photos": plan.stats.photos,
            "energy_wh": plan.stats.energy_wh,
            "sorties": plan.stats.sorties,
            "coverage_pct": plan.stats.coverage_pct,
            "area_m2": plan.stats.area_m2,
            "hover_points": plan.stats.hover_points,
            **plan.stats.extra,
            "arrivals": [asdict(a) for a in plan.stats.arrivals],
        },
        "violations": [
            {
                "sortie": v.sortie,
                "leg": v.leg,
                "zone": v.zone_id,
                "kind": v.kind,
                "distance_m": v.distance_m,
                "message": v.message,
            }
            for v in plan.violations
        ],
        "warnings": list(plan.warnings),
        "sorties": [
            {
                "length_m": s.length_m,
                "flight_time_s": s.flight_time_s,
                "energy_wh": s.energy_wh,
                "items": [{"seq": i, **item} for i, item in enumerate(items_to_list(s.items))],
            }
            for s in plan.sorties
        ],
        "fence_items": items_to_list(plan.fence_items),
        "rally_items": items_to_list(plan.rally_items),
        "geojson": to_geojson(plan),
    }


@router.post("/plan", responses={**errors(403, 404), **WITH_BODY})
async def preview(request: Request, pool: PoolDep, principal: Reader, req: PlanRequest) -> dict[str, Any]:
    """Plan without saving: statistics, violations, items and GeoJSON. Violations are not an error here."""
    planned = await _plan(request, pool, req, principal)
    return plan_json(planned.plan)


class MissionCreate(PlanRequest):
    name: str = Field(min_length=1, max_length=200)


class MissionSummary(BaseModel):
    id: int
    name: str
    kind: str
    grid_codes: list[str]
    communities: list[str]
    sortie_count: int
    stats: dict[str, Any]
    created_at: datetime


@router.post("", status_code=201, responses={**errors(403, 404), **WITH_BODY})
async def create_mission(
    pool: PoolDep, principal: FlightPlanner, req: MissionCreate, request: Request, response: Response
) -> dict[str, Any]:
    """Plan and store. A plan with violations is refused (422 `plan_violations`, each violation listed)."""
    planned = await _plan(request, pool, req, principal)
    mission_id = await planning.store(
        pool, planned, name=req.name, request=req.model_dump(mode="json"), principal=principal
    )
    response.headers["Location"] = f"{router.prefix}/{mission_id}"
    return {"id": mission_id, "name": req.name, **plan_json(planned.plan)}


@router.get("", response_model=list[MissionSummary])
async def list_missions(
    pool: PoolDep, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[MissionSummary]:
    scope = principal.community_scope
    async with pool.acquire() as conn:
        rows = await repo.list_recent(conn, communities_scope=scope, limit=limit)
    return [MissionSummary(**dict(r)) for r in rows]


async def _load(pool: PoolDep, mission_id: int, principal: Principal) -> tuple[Any, MissionPlan]:
    async with pool.acquire() as conn:
        return await planning.load(conn, mission_id, principal)


@router.get("/{mission_id:int}", responses=errors(404))
async def get_mission(pool: PoolDep, principal: Reader, mission_id: MissionId) -> dict[str, Any]:
    row, plan = await _load(pool, mission_id, principal)
    return {
        "id": row["id"],
        "name": row["name"],
        "grid_codes": row["grid_codes"],
        "request": row["request"],
        "created_at": row["created_at"].isoformat(),
        **plan_json(plan),
    }


_MEDIA = {
    "plan": ("application/json", ".plan"),
    "waypoints": ("text/plain; charset=utf-8", ".waypoints"),
    "geojson": ("application/geo+json", ".geojson"),
    "kmz": ("application/vnd.google-earth.kmz", ".kmz"),
}


@router.get(
    "/{mission_id:int}/export",
    responses={
        200: {
            "description": "The file, as an attachment",
            "content": {media.split(";")[0]: {} for media, _ in _MEDIA.values()},
        },
        **errors(404),
    },
)
async def export_mission(
    pool: PoolDep,
    principal: Reader,
    mission_id: MissionId,
    format: Annotated[Literal["plan", "waypoints", "geojson", "kmz"], Query()] = "plan",
    sortie: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> Response:
    """The mission as QGroundControl .plan, QGC WPL 110 .waypoints, GeoJSON or DJI WPML .kmz."""
    _, plan = await _load(pool, mission_id, principal)
    if sortie >= len(plan.sorties):
        raise ValidationFailed(
            f"sortie: mission {mission_id} has {len(plan.sorties)} sorties (0..{len(plan.sorties) - 1})",
            details=[{"field": "sortie", "problem": "out of range"}],
        )
    media, ext = _MEDIA[format]
    data = export_bytes(plan, ext, sortie)
    filename = f"mission-{mission_id}-s{sortie}{ext}"
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
