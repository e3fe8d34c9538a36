"""MAVLink frame boundaries and headers read straight from the bytes.

The vehicle checks signatures per frame before pymavlink sees them, and the lossy proxy drops
frames by message id without decoding payloads; both need only the header, so they use this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAGIC_V1 = 0xFE
MAGIC_V2 = 0xFD
IFLAG_SIGNED = 0x01
SIGNATURE_LEN = 13
_HEADER_V1 = 6
_HEADER_V2 = 10
_CRC_LEN = 2


@dataclass(frozen=True, slots=True)
class FrameHeader:
    mavlink2: bool
    signed: bool
    sysid: int
    compid: int
    msgid: int


def iter_frames(data: bytes) -> Iterator[bytes]:
    """Yield each complete frame in a datagram, skipping bytes that cannot start one."""
    index = 0
    size = len(data)
    while index < size:
        magic = data[index]
        if magic == MAGIC_V2 and index + 3 <= size:
            length = _HEADER_V2 + data[index + 1] + _CRC_LEN
            if data[index + 2] & IFLAG_SIGNED:
                length += SIGNATURE_LEN
        elif magic == MAGIC_V1 and index + 2 <= size:
            length = _HEADER_V1 + data[index + 1] + _CRC_LEN
        else:
            index += 1
            continue
        if index + length > size:
            return
        yield data[index : index + length]
        index += length


def parse_header(frame: bytes) -> FrameHeader:
    """Header fields of one frame from :func:`iter_frames`."""
    if frame[0] == MAGIC_V2:
        return FrameHeader(
            mavlink2=True,
            signed=bool(frame[2] & IFLAG_SIGNED),
            sysid=frame[5],
            compid=frame[6],
            msgid=frame[7] | (frame[8] << 8) | (frame[9] << 16),
        )
    return FrameHeader(mavlink2=False, signed=False, sysid=frame[3], compid=frame[4], msgid=frame[5])
