"""Drone registry rows. The signing key is stored but never selected for API output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.db.conn import Conn

PUBLIC_COLS = """id, name, kind, endpoint, sysid, signing_key IS NOT NULL AS signing, community_code,
    home_lon_deg, home_lat_deg, home_alt_m, capabilities, created_at, updated_at"""

_FIELDS = (
    "name",
    "kind",
    "endpoint",
    "sysid",
    "signing_key",
    "community_code",
    "home_lon_deg",
    "home_lat_deg",
    "home_alt_m",
    "capabilities",
)


async def insert(conn: Conn, values: dict[str, Any]) -> asyncpg.Record:
    cols = ", ".join(_FIELDS)
    params = ", ".join(f"${i}" for i in range(1, len(_FIELDS) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO drones ({cols}) VALUES ({params}) RETURNING {PUBLIC_COLS}",
        *(values[f] for f in _FIELDS),
    )
    assert row is not None  # INSERT ... RETURNING always yields the row
    return row


async def update(conn: Conn, drone_id: int, values: dict[str, Any]) -> asyncpg.Record | None:
    """Update the given fields (keys must be among the registry's columns). A new endpoint or
    sysid lifts a link block: the unique (link, sysid) index then decides again."""
    keys = [k for k in _FIELDS if k in values]
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(keys, start=2))
    if {"endpoint", "sysid"} & values.keys():
        sets += ", link_blocked = false"
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE drones SET {sets}, updated_at = now() WHERE id = $1 RETURNING {PUBLIC_COLS}",
        drone_id,
        *(values[k] for k in keys),
    )
    return row


async def get(conn: Conn, drone_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {PUBLIC_COLS} FROM drones WHERE id = $1", drone_id
    )
    return row


async def list_all(conn: Conn, communities_scope: Sequence[str] | None = None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {PUBLIC_COLS} FROM drones
            WHERE $1::text[] IS NULL OR community_code = ANY($1) ORDER BY id""",
        None if communities_scope is None else list(communities_scope),
    )
    return rows


async def link_configs(conn: Conn) -> list[asyncpg.Record]:
    """What the link manager needs to connect every drone, signing key included."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name, kind, endpoint, sysid, signing_key FROM drones WHERE NOT link_blocked ORDER BY id"
    )
    return rows


async def link_identities(conn: Conn) -> list[asyncpg.Record]:
    """Every unblocked drone's (id, endpoint, sysid), oldest registration first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, endpoint, sysid FROM drones WHERE NOT link_blocked ORDER BY id"
    )
    return rows


async def set_endpoint(conn: Conn, drone_id: int, endpoint: str) -> None:
    await conn.execute("UPDATE drones SET endpoint = $2 WHERE id = $1", drone_id, endpoint)


async def block_link(conn: Conn, drone_id: int) -> None:
    """Mark a registration that duplicates an earlier drone's (link, sysid): it is never linked."""
    await conn.execute("UPDATE drones SET link_blocked = true WHERE id = $1", drone_id)


async def link_config(conn: Conn, drone_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, name, kind, endpoint, sysid, signing_key FROM drones WHERE id = $1 AND NOT link_blocked",
        drone_id,
    )


async def delete(conn: Conn, drone_id: int) -> bool:
    return await conn.fetchval("DELETE FROM drones WHERE id = $1 RETURNING true", drone_id) is True
