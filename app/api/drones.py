"""The drone registry: name, MAVLink endpoint and system id, signing key, home, capabilities."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Path, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.api.deps import DroneManager, PoolDep, Reader
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.auth import Principal
from app.db.conn import Conn
from app.db.repos import drones as repo
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.link.transport import parse_endpoint
from app.services import drone_links

router = APIRouter(prefix="/drones", tags=["drones"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

DroneId = Annotated[int, Path(ge=1, le=2**62)]


def check_endpoint(v: str) -> str:
    """A MAVLink endpoint string, spelt canonically; parse_endpoint's ValueError names the problem."""
    return str(parse_endpoint(v))


def check_signing_key(v: str) -> str:
    """64 hex characters: a 32-byte MAVLink 2 signing key."""
    try:
        raw = bytes.fromhex(v)
    except ValueError:
        raise ValueError("must be hexadecimal") from None
    if len(raw) != 32:
        raise ValueError(f"must be 32 bytes (64 hex characters), got {len(raw)} bytes")
    return v


Endpoint = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        # The schema's statement of parse_endpoint's forms; the validator names the problem.
        json_schema_extra={
            "pattern": r"^(udpin|udpout|udp|tcp):(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):[0-9]{1,5}$|^serial:.+:[0-9]+$"
        },
    ),
    AfterValidator(check_endpoint),
]
SigningKeyHex = Annotated[
    str, Field(json_schema_extra={"pattern": "^[0-9A-Fa-f]{64}$"}), AfterValidator(check_signing_key)
]


class Strict(BaseModel):
    """Request bodies reject unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class CameraSpec(Strict):
    sensor_width_mm: float = Field(gt=0, le=100)
    sensor_height_mm: float = Field(gt=0, le=100)
    focal_length_mm: float = Field(gt=0, le=1000)
    image_width_px: int = Field(gt=0, le=100_000)
    image_height_px: int = Field(gt=0, le=100_000)
    model: str | None = Field(default=None, max_length=100)


class SpeakerSpec(Strict):
    level_db_at_1m: float = Field(ge=60, le=160, description="Sound pressure level at 1 m, dB(A)")
    model: str | None = Field(default=None, max_length=100)


class SprayerSpec(Strict):
    tank_l: float = Field(gt=0, le=100)
    flow_l_per_min: float = Field(gt=0, le=50)
    swath_m: float = Field(gt=0, le=30)


class Capabilities(Strict):
    camera: CameraSpec | None = None
    speaker: SpeakerSpec | None = None
    sprayer: SprayerSpec | None = None
    max_speed_mps: float = Field(default=12.0, gt=0, le=40)
    battery_wh: float = Field(default=77.0, gt=0, le=5000)
    endurance_min: float = Field(default=40.0, gt=0, le=600)


class Home(Strict):
    lon_deg: float = Field(ge=-180, le=180)
    lat_deg: float = Field(ge=-90, le=90)
    alt_m: float = Field(default=0.0, ge=-500, le=9000, description="Ground altitude AMSL of the dock")


class DroneIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["real", "sitl", "sim"] = "real"
    endpoint: Endpoint = Field(description="udpin:H:P, udpout:H:P, tcp:H:P or serial:DEV:BAUD")
    sysid: int = Field(ge=1, le=255)
    signing_key: SigningKeyHex | None = Field(
        default=None,
        description="MAVLink 2 signing key, 64 hex characters (32 bytes); stored, never returned",
    )
    community_code: str | None = Field(default=None, max_length=64)
    home: Home
    capabilities: Capabilities = Field(default_factory=Capabilities)


class DronePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    endpoint: Endpoint | None = None
    sysid: int | None = Field(default=None, ge=1, le=255)
    signing_key: SigningKeyHex | None = None
    clear_signing_key: bool = False
    community_code: str | None = Field(default=None, max_length=64)
    home: Home | None = None
    capabilities: Capabilities | None = None


class DroneOut(BaseModel):
    id: int
    name: str
    kind: str
    endpoint: str
    sysid: int
    signing: bool = Field(description="Whether a signing key is set (the key itself is never returned)")
    community_code: str | None
    home: Home
    capabilities: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def drone_out(r: asyncpg.Record) -> DroneOut:
    return DroneOut(
        id=r["id"],
        name=r["name"],
        kind=r["kind"],
        endpoint=r["endpoint"],
        sysid=r["sysid"],
        signing=r["signing"],
        community_code=r["community_code"],
        home=Home(lon_deg=r["home_lon_deg"], lat_deg=r["home_lat_deg"], alt_m=r["home_alt_m"]),
        capabilities=r["capabilities"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _check_scope(principal: Principal, community_code: str | None) -> None:
    if not principal.sees_community(community_code):
        raise Forbidden(
            "token is scoped to communities "
            f"{', '.join(sorted(principal.communities or ()))}: community_code must be one of them"
        )


async def _write(conn: Conn, fn: Any, *args: Any) -> asyncpg.Record | None:
    """Run a registry write, turning constraint failures into 409/422 with the field named."""
    try:
        row: asyncpg.Record | None = await fn(conn, *args)
    except asyncpg.UniqueViolationError as exc:
        # Names nothing about the other drone: it may belong to a community outside the caller's scope.
        field = "name" if "name" in (exc.constraint_name or "") else "endpoint, sysid"
        what = "this name" if field == "name" else "this link (however spelt) and system id"
        raise Conflict(f"{field}: another drone already has {what}", details=[{"field": field}]) from None
    except asyncpg.ForeignKeyViolationError:
        raise ValidationFailed(
            "community_code: unknown community",
            details=[{"field": "community_code", "problem": "unknown community"}],
        ) from None
    return row


async def load_visible(conn: Conn, principal: Principal, drone_id: int) -> asyncpg.Record:
    row = await repo.get(conn, drone_id)
    if row is None or not principal.sees_community(row["community_code"]):
        raise NotFound(f"drone {drone_id} not found")
    return row


@router.post("", status_code=201, response_model=DroneOut, responses={**errors(403, 409), **WITH_BODY})
async def register_drone(
    request: Request, pool: PoolDep, principal: DroneManager, body: DroneIn, response: Response
) -> DroneOut:
    _check_scope(principal, body.community_code)
    values = {
        "name": body.name,
        "kind": body.kind,
        "endpoint": await drone_links.canonical_endpoint(body.endpoint),
        "sysid": body.sysid,
        "signing_key": bytes.fromhex(body.signing_key) if body.signing_key else None,
        "community_code": body.community_code,
        "home_lon_deg": body.home.lon_deg,
        "home_lat_deg": body.home.lat_deg,
        "home_alt_m": body.home.alt_m,
        "capabilities": body.capabilities.model_dump(),
    }
    async with pool.acquire() as conn, conn.transaction():
        row = await _write(conn, repo.insert, values)
        assert row is not None
        await drone_links.open_link(_linker(request), conn, row["id"])
    response.headers["Location"] = f"{router.prefix}/{row['id']}"
    return drone_out(row)


@router.get("", response_model=list[DroneOut])
async def list_drones(pool: PoolDep, principal: Reader) -> list[DroneOut]:
    scope = principal.community_scope
    async with pool.acquire() as conn:
        return [drone_out(r) for r in await repo.list_all(conn, scope)]


@router.get("/{drone_id:int}", response_model=DroneOut, responses=errors(404))
async def get_drone(pool: PoolDep, principal: Reader, drone_id: DroneId) -> DroneOut:
    async with pool.acquire() as conn:
        return drone_out(await load_visible(conn, principal, drone_id))


@router.patch("/{drone_id:int}", response_model=DroneOut, responses={**errors(403, 404, 409), **WITH_BODY})
async def update_drone(
    request: Request, pool: PoolDep, principal: DroneManager, drone_id: DroneId, body: DronePatch
) -> DroneOut:
    values: dict[str, Any] = {}
    for key in ("name", "endpoint", "sysid"):
        if getattr(body, key) is not None:
            values[key] = getattr(body, key)
    if body.endpoint is not None:
        values["endpoint"] = await drone_links.canonical_endpoint(body.endpoint)
    if "community_code" in body.model_fields_set:
        _check_scope(principal, body.community_code)
        values["community_code"] = body.community_code
    if body.signing_key is not None:
        values["signing_key"] = bytes.fromhex(body.signing_key)
    elif body.clear_signing_key:
        values["signing_key"] = None
    if body.home is not None:
        values.update(
            home_lon_deg=body.home.lon_deg, home_lat_deg=body.home.lat_deg, home_alt_m=body.home.alt_m
        )
    if body.capabilities is not None:
        values["capabilities"] = body.capabilities.model_dump()
    relink = bool(values.keys() & {"endpoint", "sysid", "signing_key"})
    try:
        async with pool.acquire() as conn, conn.transaction():
            current = await load_visible(conn, principal, drone_id)
            if not values:
                return drone_out(current)
            row = await _write(conn, repo.update, drone_id, values)
            assert row is not None
            if relink:
                await drone_links.open_link(_linker(request), conn, drone_id)
    except ValidationFailed:
        if relink:  # nothing was written: the drone links as it was registered before
            await _relink(request, drone_id)
        raise
    return drone_out(row)


@router.delete("/{drone_id:int}", status_code=204, responses=errors(403, 404))
async def delete_drone(request: Request, pool: PoolDep, principal: DroneManager, drone_id: DroneId) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await load_visible(conn, principal, drone_id)
        await repo.delete(conn, drone_id)
    service = getattr(request.app.state, "flights", None)
    if service is not None:
        await service.unlink(drone_id)


def _linker(request: Request) -> drone_links.Linker | None:
    linker: drone_links.Linker | None = getattr(request.app.state, "flights", None)
    return linker


async def _relink(request: Request, drone_id: int) -> None:
    """(Re)connect the drone's link after its registration changed; links are best effort."""
    service = getattr(request.app.state, "flights", None)
    if service is None:
        return
    await service.unlink(drone_id)
    async with request.app.state.db.pool.acquire() as conn:
        cfg = await repo.link_config(conn, drone_id)
    if cfg is not None:
        await service.link(drone_id, cfg["endpoint"], cfg["sysid"], cfg["signing_key"])
