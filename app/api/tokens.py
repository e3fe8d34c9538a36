"""API tokens, managed by admins. The token is shown once, at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import AuthGuardDep, CurrentUser, PoolDep, TokenAdmin
from app.api.grids import CODE_PATTERN
from app.api.guard import CheckedRoute
from app.api.responses import TOKEN_ROUTES, WITH_BODY, errors
from app.api.throttle import spend_token_creation
from app.auth import Role
from app.errors import Forbidden, NotFound
from app.services import tokens as service

router = APIRouter(prefix="/tokens", tags=["auth"], route_class=CheckedRoute, responses=TOKEN_ROUTES)

TokenId = Annotated[int, Path(ge=1, le=2**62)]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    communities: list[Annotated[str, Field(pattern=CODE_PATTERN)]] | None = Field(
        default=None,
        max_length=1000,
        description="Scope: the token sees only these communities' grids, drones and missions",
    )


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    communities: list[str] | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token; shown only now")


class WhoAmI(BaseModel):
    token_id: int
    name: str
    role: Role
    communities: list[str] | None


@router.get("/me", response_model=WhoAmI)
async def whoami(principal: CurrentUser) -> WhoAmI:
    return WhoAmI(
        token_id=principal.token_id,
        name=principal.name,
        role=principal.role,
        communities=principal.community_scope,
    )


@router.post("", status_code=201, response_model=TokenCreated, responses={**errors(403), **WITH_BODY})
async def create_token(
    request: Request, pool: PoolDep, principal: TokenAdmin, body: TokenIn, response: Response
) -> TokenCreated:
    """Create a token; the secret is in this answer only, ``Location`` reads the rest back."""
    if principal.communities is not None:
        allowed = principal.communities
        if body.communities is None or not set(body.communities) <= allowed:
            raise Forbidden("a scoped admin can only create tokens scoped within its own communities")
    spend_token_creation(request, principal)
    async with pool.acquire() as conn:
        token, row = await service.create(
            conn, name=body.name, role=body.role, communities=body.communities, created_by=principal.token_id
        )
    response.headers["Location"] = f"{router.prefix}/{row['id']}"
    return TokenCreated(token=token, **dict(row))


@router.get("", response_model=list[TokenOut], responses=errors(403))
async def list_tokens(pool: PoolDep, principal: TokenAdmin) -> list[TokenOut]:
    async with pool.acquire() as conn:
        rows = await service.list_all(conn)
    return [TokenOut(**dict(r)) for r in rows if _visible(principal.communities, r["communities"])]


def _visible(scope: frozenset[str] | None, communities: list[str] | None) -> bool:
    return scope is None or (communities is not None and set(communities) <= scope)


@router.get("/{token_id:int}", response_model=TokenOut, responses=errors(403, 404))
async def get_token(pool: PoolDep, principal: TokenAdmin, token_id: TokenId) -> TokenOut:
    """One token (never its secret): where ``POST /tokens`` points its ``Location``."""
    async with pool.acquire() as conn:
        row = await service.get(conn, token_id)
    if row is None or not _visible(principal.communities, row["communities"]):
        raise NotFound(f"token {token_id} not found")
    return TokenOut(**dict(row))


@router.delete("/{token_id:int}", status_code=204, responses=errors(403, 404))
async def revoke_token(
    pool: PoolDep, principal: TokenAdmin, token_id: TokenId, guard: AuthGuardDep
) -> None:
    async with pool.acquire() as conn:
        row = await service.get(conn, token_id)
        if row is None or not _visible(principal.communities, row["communities"]):
            raise NotFound(f"token {token_id} not found")
        await service.revoke(conn, token_id, guard.cache)  # refused at once in this process
