"""API tokens, managed by admins. The token is shown once, at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import CurrentUser, PoolDep, TokenAdmin
from app.auth import Role
from app.errors import Forbidden, NotFound
from app.services import tokens as service

router = APIRouter(prefix="/tokens", tags=["auth"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    communities: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, description="Scope: the token sees only these communities' grids, drones and missions"
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


@router.post("", status_code=201, response_model=TokenCreated)
async def create_token(pool: PoolDep, principal: TokenAdmin, body: TokenIn) -> TokenCreated:
    if principal.communities is not None:
        allowed = principal.communities
        if body.communities is None or not set(body.communities) <= allowed:
            raise Forbidden("a scoped admin can only create tokens scoped within its own communities")
    async with pool.acquire() as conn:
        token, row = await service.create(
            conn, name=body.name, role=body.role, communities=body.communities, created_by=principal.token_id
        )
    return TokenCreated(token=token, **dict(row))


@router.get("", response_model=list[TokenOut])
async def list_tokens(pool: PoolDep, principal: TokenAdmin) -> list[TokenOut]:
    async with pool.acquire() as conn:
        rows = await service.list_all(conn)
    return [TokenOut(**dict(r)) for r in rows if _visible(principal.communities, r["communities"])]


def _visible(scope: frozenset[str] | None, communities: list[str] | None) -> bool:
    return scope is None or (communities is not None and set(communities) <= scope)


@router.delete("/{token_id}", status_code=204)
async def revoke_token(
    pool: PoolDep, principal: TokenAdmin, token_id: Annotated[int, Path(ge=1, le=2**62)]
) -> None:
    async with pool.acquire() as conn:
        row = await service.get(conn, token_id)
        if row is None or not _visible(principal.communities, row["communities"]):
            raise NotFound(f"token {token_id} not found")
        await service.revoke(conn, token_id)
