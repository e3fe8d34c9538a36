"""Streets, communities, grids, zones and district settings rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.db.conn import Conn

GRID_COLS = """g.code, g.name, g.community_code, c.name AS community_name, c.street_code,
    s.name AS street_name, g.worker_name, g.worker_phone, g.boundary, g.area_m2, g.vertex_count,
    g.min_lon_deg, g.min_lat_deg, g.max_lon_deg, g.max_lat_deg, g.created_at, g.updated_at"""
GRID_FROM = "grids g JOIN communities c ON c.code = g.community_code JOIN streets s ON s.code = c.street_code"


async def upsert_streets(conn: Conn, rows: Sequence[tuple[str, str]]) -> None:
    await conn.executemany(
        """INSERT INTO streets (code, name) VALUES ($1, $2)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
           WHERE streets.name IS DISTINCT FROM EXCLUDED.name""",
        rows,
    )


async def streets_named_otherwise(conn: Conn, streets: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
    """Stored streets among (code, name) pairs whose stored name differs."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT s.code FROM streets s JOIN unnest($1::text[], $2::text[]) AS d(code, name) ON d.code = s.code
           WHERE s.name IS DISTINCT FROM d.name ORDER BY s.code""",
        [c for c, _ in streets],
        [n for _, n in streets],
    )
    return rows


async def streets_with_others(
    conn: Conn, street_codes: Sequence[str], scope: Sequence[str]
) -> list[asyncpg.Record]:
    """Which of these streets hold a community outside ``scope``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT DISTINCT street_code FROM communities
           WHERE street_code = ANY($1::text[]) AND NOT code = ANY($2::text[]) ORDER BY street_code""",
        list(street_codes),
        list(scope),
    )
    return rows


async def communities_moved(conn: Conn, pairs: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
    """Stored communities among (code, street_code) pairs that are under another street now."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT c.code, c.street_code FROM communities c
           JOIN unnest($1::text[], $2::text[]) AS d(code, street_code) ON d.code = c.code
           WHERE c.street_code <> d.street_code ORDER BY c.code""",
        [c for c, _ in pairs],
        [s for _, s in pairs],
    )
    return rows


async def upsert_communities(conn: Conn, rows: Sequence[tuple[str, str, str]]) -> None:
    await conn.executemany(
        """INSERT INTO communities (code, name, street_code) VALUES ($1, $2, $3)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, street_code = EXCLUDED.street_code,
               updated_at = now()
           WHERE (communities.name, communities.street_code)
                 IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.street_code)""",
        rows,
    )


async def upsert_grids(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows: (code, name, community_code, worker_name, worker_phone, boundary, min_lon, min_lat,
    max_lon, max_lat, area_m2, vertex_count). Unchanged rows are left alone (idempotent re-import)."""
    await conn.executemany(
        """INSERT INTO grids (code, name, community_code, worker_name, worker_phone, boundary,
               min_lon_deg, min_lat_deg, max_lon_deg, max_lat_deg, area_m2, vertex_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, community_code = EXCLUDED.community_code,
               worker_name = EXCLUDED.worker_name, worker_phone = EXCLUDED.worker_phone,
               boundary = EXCLUDED.boundary, min_lon_deg = EXCLUDED.min_lon_deg,
               min_lat_deg = EXCLUDED.min_lat_deg, max_lon_deg = EXCLUDED.max_lon_deg,
               max_lat_deg = EXCLUDED.max_lat_deg, area_m2 = EXCLUDED.area_m2,
               vertex_count = EXCLUDED.vertex_count, updated_at = now()
           WHERE (grids.name, grids.community_code, grids.worker_name, grids.worker_phone, grids.boundary)
                 IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.community_code, EXCLUDED.worker_name,
                                   EXCLUDED.worker_phone, EXCLUDED.boundary)""",
        rows,
    )


async def list_grids(
    conn: Conn,
    *,
    community: str | None = None,
    street: str | None = None,
    communities_scope: Sequence[str] | None = None,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {GRID_COLS} FROM {GRID_FROM}
            WHERE ($1::text IS NULL OR g.community_code = $1)
              AND ($2::text IS NULL OR c.street_code = $2)
              AND ($3::text[] IS NULL OR g.community_code = ANY($3))
            ORDER BY g.code""",
        community,
        street,
        None if communities_scope is None else list(communities_scope),
    )
    return rows


async def get_grid(conn: Conn, code: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {GRID_COLS} FROM {GRID_FROM} WHERE g.code = $1", code
    )
    return row


async def delete_grid(conn: Conn, code: str) -> bool:
    return await conn.fetchval("DELETE FROM grids WHERE code = $1 RETURNING true", code) is True


async def list_communities(
    conn: Conn, communities_scope: Sequence[str] | None = None
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT c.code, c.name, c.street_code, s.name AS street_name,
                  (SELECT count(*) FROM grids g WHERE g.community_code = c.code) AS grid_count
           FROM communities c JOIN streets s ON s.code = c.street_code
           WHERE $1::text[] IS NULL OR c.code = ANY($1)
           ORDER BY c.code""",
        None if communities_scope is None else list(communities_scope),
    )
    return rows


ZONE_COLS = """code, name, kind, polygon, center_lon_deg, center_lat_deg, radius_m, min_alt_m, max_alt_m,
    created_at, updated_at"""


async def upsert_zones(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows: (code, name, kind, polygon, center_lon, center_lat, radius_m, min_alt_m, max_alt_m)."""
    await conn.executemany(
        """INSERT INTO zones (code, name, kind, polygon, center_lon_deg, center_lat_deg, radius_m,
               min_alt_m, max_alt_m)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
               polygon = EXCLUDED.polygon, center_lon_deg = EXCLUDED.center_lon_deg,
               center_lat_deg = EXCLUDED.center_lat_deg, radius_m = EXCLUDED.radius_m,
               min_alt_m = EXCLUDED.min_alt_m, max_alt_m = EXCLUDED.max_alt_m, updated_at = now()
           WHERE (zones.name, zones.kind, zones.polygon, zones.center_lon_deg, zones.center_lat_deg,
                  zones.radius_m, zones.min_alt_m, zones.max_alt_m)
                 IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.polygon, EXCLUDED.center_lon_deg,
                  EXCLUDED.center_lat_deg, EXCLUDED.radius_m, EXCLUDED.min_alt_m, EXCLUDED.max_alt_m)""",
        rows,
    )


async def insert_zone(conn: Conn, row: tuple[Any, ...]) -> bool:
    """Insert one zone; False when the code exists already."""
    ok = await conn.fetchval(
        """INSERT INTO zones (code, name, kind, polygon, center_lon_deg, center_lat_deg, radius_m,
               min_alt_m, max_alt_m)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO NOTHING RETURNING true""",
        *row,
    )
    return ok is True


async def replace_zone(conn: Conn, row: tuple[Any, ...]) -> bool:
    ok = await conn.fetchval(
        """UPDATE zones SET name = $2, kind = $3, polygon = $4, center_lon_deg = $5, center_lat_deg = $6,
               radius_m = $7, min_alt_m = $8, max_alt_m = $9, updated_at = now()
           WHERE code = $1 RETURNING true""",
        *row,
    )
    return ok is True


async def list_zones(conn: Conn, kind: str | None = None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ZONE_COLS} FROM zones WHERE $1::text IS NULL OR kind = $1 ORDER BY code", kind
    )
    return rows


async def get_zone(conn: Conn, code: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(f"SELECT {ZONE_COLS} FROM zones WHERE code = $1", code)
    return row


async def delete_zone(conn: Conn, code: str) -> bool:
    return await conn.fetchval("DELETE FROM zones WHERE code = $1 RETURNING true", code) is True


async def get_ceiling_m(conn: Conn) -> float:
    value: float = await conn.fetchval("SELECT ceiling_m FROM district_settings")
    return value


async def set_ceiling_m(conn: Conn, ceiling_m: float) -> None:
    await conn.execute("UPDATE district_settings SET ceiling_m = $1, updated_at = now()", ceiling_m)
