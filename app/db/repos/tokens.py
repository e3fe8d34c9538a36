"""API token rows. Repositories take a connection; services own the transactions."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.auth import Principal, Role
from app.db.conn import Conn

_COLS = "id, name, prefix, role, communities, created_by, created_at, last_used_at, revoked_at"


async def insert(
    conn: Conn,
    *,
    name: str,
    prefix: str,
    token_hash: bytes,
    role: Role,
    communities: list[str] | None,
    created_by: int | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO api_tokens (name, prefix, token_hash, role, communities, created_by)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLS}""",
        name,
        prefix,
        token_hash,
        role.value,
        communities,
        created_by,
    )
    assert row is not None  # INSERT ... RETURNING always yields the row
    return row


async def principal_for_hash(conn: Conn, token_hash: bytes) -> Principal | None:
    row = await conn.fetchrow(
        """SELECT id, name, role, communities,
                  last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale
           FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL""",
        token_hash,
    )
    if row is None:
        return None
    if row["stale"]:  # record use at most once a minute: no write on every request
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", row["id"])
    comms = row["communities"]
    return Principal(
        token_id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        communities=None if comms is None else frozenset(comms),
    )


async def list_all(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(f"SELECT {_COLS} FROM api_tokens ORDER BY id")
    return rows


async def revoke(conn: Conn, token_id: int) -> Any:
    return await conn.fetchval(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", token_id
    )


async def get(conn: Conn, token_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLS} FROM api_tokens WHERE id = $1", token_id)
