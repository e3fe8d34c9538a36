"""Uploaded images as rows: content-addressed by SHA-256, so every instance on the database serves
the same bytes and an image sent twice is stored once."""

from __future__ import annotations

import asyncpg

from app.db.conn import Conn


async def put(conn: Conn, sha256: str, content_type: str, data: bytes) -> None:
    """Store the image unless a row with its hash exists (the same bytes: nothing to add)."""
    await conn.execute(
        """INSERT INTO images (sha256, content_type, size_bytes, data) VALUES ($1, $2, $3, $4)
           ON CONFLICT (sha256) DO NOTHING""",
        sha256,
        content_type,
        len(data),
        data,
    )


async def named(conn: Conn, file_name: str, sha256: str) -> bool:
    """Whether a detection names the image, by an older version's file name or by its hash."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM detections WHERE image_file = $1 OR image_sha256 = $2)",
        file_name,
        sha256,
    )
    return found


async def of_detection(conn: Conn, detection_id: int) -> asyncpg.Record | None:
    """The detection's community and its stored image (NULL columns when it has none); None when
    there is no such detection."""
    return await conn.fetchrow(
        """SELECT d.community_code, i.sha256, i.content_type, i.data, i.created_at
           FROM detections d LEFT JOIN images i ON i.sha256 = d.image_sha256 WHERE d.id = $1""",
        detection_id,
    )


async def adopt_file(conn: Conn, file_name: str, sha256: str) -> int:
    """Point the detections naming an older version's image file at its row: how many there were."""
    status: str = await conn.execute(
        "UPDATE detections SET image_sha256 = $2, image_file = NULL WHERE image_file = $1", file_name, sha256
    )
    return int(status.rsplit(" ", 1)[1])


async def count_unmoved(conn: Conn) -> int:
    """Detections still naming an image file (held in another instance's data directory)."""
    n: int = await conn.fetchval("SELECT count(*) FROM detections WHERE image_file IS NOT NULL")
    return n
