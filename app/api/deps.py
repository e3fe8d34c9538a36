"""FastAPI dependencies as Annotated aliases: the pool, the calling principal, permission checks.

Authentication is built to stay cheap under a flood of bad tokens: a token of the wrong shape is
refused without touching the database, recent lookups (found or not) are cached briefly, and a
client address that keeps presenting bad tokens is answered 429 before any lookup at all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import Permission, Principal, hash_token, is_well_formed
from app.config import Settings
from app.errors import Forbidden, RateLimited, Unauthorized
from app.ratelimit import FailureLimiter, Tarpit, client_key
from app.services import tokens

_bearer = HTTPBearer(auto_error=False, description="API token: `aerogrid token create --role R`")


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.db.pool
    return pool


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


@dataclass(frozen=True, slots=True)
class AuthGuard:
    """The per-app authentication state: the principal cache and the failed-attempt limiter."""

    cache: tokens.PrincipalCache
    limiter: FailureLimiter
    tarpit: Tarpit

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthGuard:
        return cls(
            cache=tokens.PrincipalCache(
                ttl_s=settings.auth_cache_ttl_s, max_entries=settings.auth_cache_max_entries
            ),
            limiter=FailureLimiter(
                burst=settings.auth_fail_burst,
                refill_per_s=settings.auth_fail_refill_per_s,
                max_clients=settings.auth_fail_max_clients,
            ),
            tarpit=Tarpit(
                max_delay_s=settings.auth_fail_hold_max_s, max_waiting=settings.auth_fail_hold_max_waiting
            ),
        )


def get_auth_guard(request: Request) -> AuthGuard:
    guard: AuthGuard = request.app.state.auth_guard
    return guard


AuthGuardDep = Annotated[AuthGuard, Depends(get_auth_guard)]


async def current_principal(
    request: Request,
    pool: PoolDep,
    guard: AuthGuardDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    token = creds.credentials
    well_formed = is_well_formed(token)
    token_hash = hash_token(token) if well_formed else b""
    hit, cached = guard.cache.get(token_hash) if well_formed else (False, None)
    if hit and cached is not None:  # a known good token is never slowed by others' failures
        return cached
    client = client_key(request.client.host if request.client else None)
    retry_after_s = guard.limiter.retry_after_s(client)
    if retry_after_s is not None:
        await guard.tarpit.hold(retry_after_s)  # a flooding connection gets one answer per hold
        retry_after_s = guard.limiter.retry_after_s(client) or 1
        raise RateLimited(
            f"too many failed authentication attempts from this address; retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )
    if not well_formed:
        guard.limiter.record_failure(client)
        raise Unauthorized(
            "malformed token: expected ag_<prefix>_<secret> as 'aerogrid token create' prints it"
        )
    principal = cached if hit else await tokens.lookup(pool, token_hash, guard.cache)
    if principal is None:
        guard.limiter.record_failure(client)
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
