"""Move the image files older versions wrote under ``<data dir>/detections`` into PostgreSQL.

Older versions kept an uploaded image as ``<data dir>/detections/<sha256>.<ext>`` on the instance
that received it, so with several instances only that one could serve it. Each instance, when it
starts, moves the files in its own data directory into the ``images`` table: per file one
transaction stores the row and points the detections naming the file at it, then the file is
deleted. A second start finds nothing left to move (idempotent); a file whose bytes do not match its
name, or that no detection names, is left where it is and logged. The ``.part`` files the old
staging left behind after a crash are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

from app.db.repos import images
from app.services.images import NotAnImage, check_image

log = logging.getLogger(__name__)

FILE_NAME: Final = re.compile(r"^([0-9a-f]{64})\.(jpg|png)$")


@dataclass(frozen=True, slots=True)
class MoveReport:
    files_moved: int
    detections_moved: int
    files_left: int
    detections_elsewhere: int


async def move_legacy_images(pool: asyncpg.Pool, image_dir: Path) -> MoveReport:
    """Move every image file in ``image_dir`` that a detection names into the database."""
    files_moved = detections_moved = files_left = 0
    for path in await asyncio.to_thread(_image_files, image_dir):
        adopted = await _move_one(pool, path)
        if adopted is None:
            files_left += 1
            continue
        files_moved += 1
        detections_moved += adopted
    if files_left == 0:
        await asyncio.to_thread(_remove_empty, image_dir)
    async with pool.acquire() as conn:
        elsewhere = await images.count_unmoved(conn)
    report = MoveReport(files_moved, detections_moved, files_left, elsewhere)
    log.info(
        "moved %d image files (%d detections) from %s into the database; %d left in place",
        files_moved,
        detections_moved,
        image_dir,
        files_left,
        extra={"image_files_moved": files_moved, "image_detections_moved": detections_moved},
    )
    if elsewhere:
        log.warning(
            "%d detections name an image file not in this instance's data directory: the instance "
            "holding it moves it when it starts, until then GET /detections/{id}/image is 404",
            elsewhere,
        )
    return report


async def _move_one(pool: asyncpg.Pool, path: Path) -> int | None:
    """The number of detections pointed at the file's row (the file then deleted); None when the
    file is left in place (not an image file of ours, damaged, or named by no detection)."""
    match = FILE_NAME.match(path.name)
    if match is None:
        log.warning("not an image file name of AeroGrid's, left in place: %s", path)
        return None
    data = await asyncio.to_thread(path.read_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        content_type, ext = check_image(data)
    except NotAnImage as exc:
        log.warning("image file %s left in place: %s", path, exc)
        return None
    if (sha256, ext) != match.groups():
        log.warning("image file %s left in place: its bytes do not match its name", path)
        return None
    async with pool.acquire() as conn, conn.transaction():
        if not await images.named(conn, path.name, sha256):
            log.warning("image file %s left in place: no detection names it", path)
            return None
        await images.put(conn, sha256, content_type, data)
        adopted = await images.adopt_file(conn, path.name, sha256)
    # adopted 0: an earlier start moved it and stopped before deleting the file
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return adopted


def _image_files(image_dir: Path) -> list[Path]:
    """The directory's files in name order, after deleting the old staging's leftover ``.part`` files."""
    if not image_dir.is_dir():
        return []
    out = []
    for path in sorted(image_dir.iterdir()):
        if path.name.startswith(".") and path.name.endswith(".part"):
            path.unlink(missing_ok=True)
        else:
            out.append(path)
    return out


def _remove_empty(image_dir: Path) -> None:
    with contextlib.suppress(OSError):  # absent, or holding something else: leave it
        image_dir.rmdir()
