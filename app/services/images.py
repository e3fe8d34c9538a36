"""What an uploaded image is, read from its bytes: a whole JPEG or PNG of a sane size, or a 422.

A magic number alone let through a JPEG cut off after its header, HTML behind a JPEG's first three
bytes, and a PNG whose header claims 2^31 x 2^31 pixels (a decompression bomb for the browser or
tool that later renders it). The structure is walked without decoding any pixel: PNG chunks with
their CRCs from IHDR to IEND, JPEG segments from SOI to the first scan (with a frame header before
it) and the EOI marker at the end; the dimensions each header states must be within bounds.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC: Final = b"\xff\xd8\xff"
MAX_SIDE_PX: Final = 20_000
MAX_PIXELS: Final = 100_000_000
"""A 100-megapixel camera frame is the largest photo a detection needs."""

_JPEG_FRAMES: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""SOF0..SOF15: the markers carrying the frame's dimensions (C4, C8, CC are tables)."""
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})


class NotAnImage(ValueError):
    """The bytes are not an image the service keeps; the message says why."""


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise NotAnImage(f"its header states {width} x {height} pixels: no image")
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX or width * height > MAX_PIXELS:
        raise NotAnImage(
            f"its header states {width} x {height} pixels; at most {MAX_SIDE_PX} a side "
            f"and {MAX_PIXELS} in all"
        )


def _check_png(data: bytes) -> None:
    pos = len(PNG_MAGIC)
    has_header = has_data = False
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise NotAnImage(f"a truncated PNG: chunk {kind!r} runs past the end")
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise NotAnImage(f"a damaged PNG: chunk {kind!r} fails its CRC")
        if not has_header:
            if kind != b"IHDR" or length != 13:
                raise NotAnImage("a damaged PNG: it does not start with its IHDR header")
            _check_size(*struct.unpack_from(">II", data, pos + 8))
            has_header = True
        elif kind == b"IDAT":
            has_data = True
        elif kind == b"IEND":
            if not has_data:
                raise NotAnImage("a PNG without image data (no IDAT chunk)")
            return
        pos = end
    raise NotAnImage("a truncated PNG: it ends before its IEND chunk")


def _check_jpeg(data: bytes) -> None:
    if not data.endswith(b"\xff\xd9"):
        raise NotAnImage("a truncated JPEG: it does not end with the EOI marker")
    pos = 2
    has_frame = False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise NotAnImage(f"a damaged JPEG: no segment marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise NotAnImage(f"a truncated JPEG: segment {marker:#04x} runs past the end")
        if marker in _JPEG_FRAMES:
            if length < 8:
                raise NotAnImage("a damaged JPEG: its frame header is too short")
            height, width = struct.unpack_from(">HH", data, pos + 5)
            _check_size(width, height)
            has_frame = True
        elif marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI checked above
            if not has_frame:
                raise NotAnImage("a damaged JPEG: a scan before any frame header")
            return
        pos += 2 + length
    raise NotAnImage("a truncated JPEG: it ends before its first scan")


def check_image(data: bytes) -> tuple[str, str]:
    """(MIME type, file extension) of a whole JPEG or PNG; ``NotAnImage`` naming the problem else."""
    if data.startswith(PNG_MAGIC):
        _check_png(data)
        return "image/png", "png"
    if data.startswith(JPEG_MAGIC):
        _check_jpeg(data)
        return "image/jpeg", "jpg"
    raise NotAnImage("not a JPEG or PNG image (checked from its bytes)")
