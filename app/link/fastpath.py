"""A checked fast path for the few messages that make up most telemetry.

pymavlink parses byte by byte in Python and builds a message object per packet; at fleet rates
that parser is the ingest's ceiling. For whole UDP datagrams on an unsigned link, the leading
MAVLink 2 frames of the hot types below are decoded here with one ``struct`` unpack each, the
checksum computed in C (``binascii.crc_hqx`` on bit-reversed bytes is CRC-16/MCRF4XX, MAVLink's
X.25 checksum). Field values are laid out exactly as pymavlink's ``decode`` lays them out (XML
order, arrays as lists, MAVLink 2 truncated payloads zero-padded); a test checks the result
against pymavlink for every hot type on random payloads. Anything else (another message, a
signed or MAVLink 1 frame, a bad checksum, a cut frame) stops the fast path and the rest of the
datagram goes to pymavlink, which counts and reports it as before.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from pymavlink.dialects.v20 import ardupilotmega as _mavlink

HOT_MESSAGES: Final = (
    "HEARTBEAT",
    "SYS_STATUS",
    "GPS_RAW_INT",
    "ATTITUDE",
    "GLOBAL_POSITION_INT",
    "MISSION_CURRENT",
    "VFR_HUD",
    "BATTERY_STATUS",
)
_MAGIC_V2: Final = 0xFD
_HEADER_LEN: Final = 10
_REVERSED: Final = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def x25_crc(data: bytes) -> int:
    """MAVLink's checksum (CRC-16/MCRF4XX): the reflected form of CRC-CCITT, computed in C."""
    crc = binascii.crc_hqx(data.translate(_REVERSED), 0xFFFF)
    return _REVERSED[crc & 0xFF] << 8 | _REVERSED[crc >> 8]


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    crc_extra: bytes
    unpacker: struct.Struct
    fields: tuple[tuple[str, int, int], ...]
    """(field name, index in the unpacked tuple, array length), in XML order."""
    scalar_order: tuple[int, ...] | None
    """For a message without arrays: the unpacked tuple's indices in XML order (one per field)."""
    names: tuple[str, ...]


def _layout(cls: Any) -> _Layout:
    lengths = list(cls.lengths)
    fields = []
    for name, order in zip(cls.fieldnames, cls.orders, strict=True):
        fields.append((str(name), sum(lengths[:order]), lengths[order]))
    scalar = all(count == 1 for _, _, count in fields)
    return _Layout(
        str(cls.msgname),
        bytes((int(cls.crc_extra),)),
        cls.unpacker,
        tuple(fields),
        tuple(start for _, start, _ in fields) if scalar else None,
        tuple(name for name, _, _ in fields),
    )


_LAYOUTS: Final[dict[int, _Layout]] = {}
for _cls in _mavlink.mavlink_map.values():
    if _cls.msgname in HOT_MESSAGES:
        if "s" in _cls.unpacker.format:  # text fields: leave them to pymavlink
            raise RuntimeError(f"{_cls.msgname} has a text field; it cannot take the fast path")
        _LAYOUTS[int(_cls.id)] = _layout(_cls)


class FastFrame(NamedTuple):
    """A decoded hot frame (a tuple: built per message, so it must be cheap to make)."""

    name: str
    msg_id: int
    sysid: int
    compid: int
    seq: int
    fields: dict[str, Any]


def decode_leading(data: bytes) -> tuple[list[FastFrame], int]:
    """Decode the leading hot frames of a datagram; returns them and the offset where it stopped."""
    out: list[FastFrame] = []
    offset = 0
    size = len(data)
    while offset + _HEADER_LEN + 2 <= size and data[offset] == _MAGIC_V2:
        length = data[offset + 1]
        end = offset + _HEADER_LEN + length + 2
        if data[offset + 2] != 0 or end > size:  # signed / unknown incompat flags, or cut short
            break
        msg_id = data[offset + 7] | data[offset + 8] << 8 | data[offset + 9] << 16
        layout = _LAYOUTS.get(msg_id)
        if layout is None:
            break
        crc = data[end - 2] | data[end - 1] << 8
        if x25_crc(data[offset + 1 : end - 2] + layout.crc_extra) != crc:
            break
        payload = data[offset + _HEADER_LEN : end - 2]
        wanted = layout.unpacker.size
        if length < wanted:
            payload += bytes(wanted - length)
        values = layout.unpacker.unpack(payload[:wanted])
        order = layout.scalar_order
        if order is not None:
            fields = dict(zip(layout.names, [values[i] for i in order], strict=True))
        else:
            fields = {
                name: values[start] if count == 1 else list(values[start : start + count])
                for name, start, count in layout.fields
            }
        out.append(
            FastFrame(layout.name, msg_id, data[offset + 5], data[offset + 6], data[offset + 4], fields)
        )
        offset = end
    return out, offset
