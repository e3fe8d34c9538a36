"""The link's fast path decodes hot messages exactly as pymavlink does, and defers everything else."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from pymavlink.generator.mavcrc import x25crc

from app.link.codec import MavlinkCodec, MavMessage
from app.link.fastpath import HOT_MESSAGES, x25_crc

_RANGES = {
    "uint8_t": (0, 2**8 - 1),
    "int8_t": (-(2**7), 2**7 - 1),
    "uint16_t": (0, 2**16 - 1),
    "int16_t": (-(2**15), 2**15 - 1),
    "uint32_t": (0, 2**32 - 1),
    "int32_t": (-(2**31), 2**31 - 1),
    "uint64_t": (0, 2**64 - 1),
    "int64_t": (-(2**63), 2**63 - 1),
}


def _value(rng: random.Random, ftype: str) -> Any:
    if rng.random() < 0.3:
        return 0.0 if ftype in ("float", "double") else 0  # zeros exercise MAVLink 2 payload truncation
    if ftype == "float":
        return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
    if ftype == "double":
        return rng.uniform(-1e6, 1e6)
    low, high = _RANGES[ftype]
    return rng.randint(low, high)


def random_message(rng: random.Random, name: str) -> Any:
    cls = next(c for c in mavlink.mavlink_map.values() if c.msgname == name)
    args = []
    for fname, ftype in zip(cls.fieldnames, cls.fieldtypes, strict=True):
        length = cls.array_lengths[cls.ordered_fieldnames.index(fname)]
        args.append([_value(rng, ftype) for _ in range(length)] if length else _value(rng, ftype))
    return cls(*args)


def reference(packets: bytes) -> list[MavMessage]:
    """pymavlink's decoding (stream mode never takes the fast path)."""
    return MavlinkCodec(src_system=255, src_component=190).decode(packets)


def same(a: list[MavMessage], b: list[MavMessage]) -> bool:
    key = [(m.name, m.msg_id, m.sysid, m.compid, m.seq, dict(m.fields)) for m in a]
    return key == [(m.name, m.msg_id, m.sysid, m.compid, m.seq, dict(m.fields)) for m in b]


def test_checksum_matches_pymavlink() -> None:
    rng = random.Random(3)
    for size in range(0, 300, 7):
        data = bytes(rng.randrange(256) for _ in range(size))
        assert x25_crc(data) == x25crc(data).crc


@pytest.mark.parametrize("name", HOT_MESSAGES)
def test_hot_messages_decode_exactly_as_pymavlink_does(name: str) -> None:
    rng = random.Random(name)
    sender = mavlink.MAVLink(None, srcSystem=7, srcComponent=1)
    for _ in range(200):
        sender.srcSystem = rng.randint(1, 255)
        packet = bytes(random_message(rng, name).pack(sender))
        codec = MavlinkCodec(src_system=255, src_component=190)
        fast = codec.decode(packet, datagram=True)
        assert same(fast, reference(packet)), name
        assert codec.stats.rx_packets == 1


def test_a_datagram_mixing_hot_and_other_frames_decodes_like_pymavlink() -> None:
    rng = random.Random(11)
    sender = mavlink.MAVLink(None, srcSystem=3, srcComponent=1)
    parts = [
        random_message(rng, "GLOBAL_POSITION_INT").pack(sender),
        random_message(rng, "ATTITUDE").pack(sender),
    ]
    parts.append(sender.statustext_encode(4, b"EKF variance").pack(sender))
    parts.append(random_message(rng, "SYS_STATUS").pack(sender))
    datagram = b"".join(bytes(p) for p in parts)
    codec = MavlinkCodec(src_system=255, src_component=190)
    got = codec.decode(datagram, datagram=True)
    assert [m.name for m in got] == ["GLOBAL_POSITION_INT", "ATTITUDE", "STATUSTEXT", "SYS_STATUS"]
    assert same(got, reference(datagram))
    assert codec.stats.rx_packets == 4


def test_a_corrupt_hot_frame_is_left_to_pymavlink_and_counted() -> None:
    rng = random.Random(5)
    sender = mavlink.MAVLink(None, srcSystem=3, srcComponent=1)
    good = bytes(random_message(rng, "GLOBAL_POSITION_INT").pack(sender))
    bad = bytearray(random_message(rng, "GLOBAL_POSITION_INT").pack(sender))
    bad[12] ^= 0xFF
    codec = MavlinkCodec(src_system=255, src_component=190)
    got = codec.decode(good + bytes(bad) + good, datagram=True)
    assert len(got) == 2 and same(got[:1], reference(good))
    assert codec.stats.rx_bad_crc == 1 and codec.stats.rx_packets == 2
