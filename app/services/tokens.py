"""Creating and revoking API tokens (used by the API and by `aerogrid token create`)."""

from __future__ import annotations

import asyncpg

from app.auth import Role, new_token
from app.db.conn import Conn
from app.db.repos import tokens as repo


async def create(
    conn: Conn,
    *,
    name: str,
    role: Role,
    communities: list[str] | None,
    created_by: int | None,
) -> tuple[str, asyncpg.Record]:
    token, prefix, token_hash = new_token()
    row = await repo.insert(
        conn,
        name=name,
        prefix=prefix,
        token_hash=token_hash,
        role=role,
        communities=sorted(set(communities)) if communities is not None else None,
        created_by=created_by,
    )
    return token, row


async def list_all(conn: Conn) -> list[asyncpg.Record]:
    return await repo.list_all(conn)


async def get(conn: Conn, token_id: int) -> asyncpg.Record | None:
    return await repo.get(conn, token_id)


async def revoke(conn: Conn, token_id: int) -> None:
    await repo.revoke(conn, token_id)
