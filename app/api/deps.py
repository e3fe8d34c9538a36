"""FastAPI dependencies as Annotated aliases: the pool, the calling principal, permission checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import Permission, Principal, hash_token
from app.config import Settings
from app.db.repos import tokens
from app.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="API token: `aerogrid token create --role R`")


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.db.pool
    return pool


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def current_principal(
    pool: PoolDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    async with pool.acquire() as conn:
        principal = await tokens.principal_for_hash(conn, hash_token(creds.credentials))
    if principal is None:
        raise Unauthorized("unknown or revoked token")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    async def check(principal: CurrentUser) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"role '{principal.role}' may not {permission.value.replace('_', ' ')}")
        return principal

    return check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
DistrictAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_DISTRICT))]
DroneManager = Annotated[Principal, Depends(require(Permission.MANAGE_DRONES))]
TokenAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_TOKENS))]
SimController = Annotated[Principal, Depends(require(Permission.SIM_CONTROL))]


async def _flight_planner(principal: CurrentUser) -> Principal:
    """Storing missions and commanding drones: operators (any drone) and testers (simulated ones)."""
    if not (principal.can(Permission.FLY) or principal.can(Permission.FLY_SIMULATED)):
        raise Forbidden(f"role '{principal.role}' may not plan or fly missions")
    return principal


FlightPlanner = Annotated[Principal, Depends(_flight_planner)]
