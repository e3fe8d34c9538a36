"""Hostile MAVLink for link tests: real frames (pymavlink encodes) broken on purpose, raw garbage,
impostors and a flood, sent from a stranger's UDP socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence

from pymavlink.dialects.v10 import ardupilotmega as mavlink1
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from app.link.codec import signing_timestamp_now
from app.link.fastpath import x25_crc

LAND = 9
UNKNOWN_MSG_ID = 60_123  # not in the ardupilotmega dialect (nor common)


def sender(sysid: int, *, key: bytes | None = None, timestamp: int | None = None) -> mavlink2.MAVLink:
    """A pymavlink MAVLink 2 encoder speaking as ``sysid`` (signing with ``key`` when given)."""
    mav = mavlink2.MAVLink(None, srcSystem=sysid, srcComponent=1)
    if key is not None:
        mav.signing.secret_key = key
        mav.signing.sign_outgoing = True
        mav.signing.timestamp = timestamp if timestamp is not None else signing_timestamp_now()
    return mav


def heartbeat(mav: mavlink2.MAVLink, *, custom_mode: int = LAND) -> bytes:
    """An armed ArduCopter HEARTBEAT in ``custom_mode`` (LAND: a mode no test vehicle is in)."""
    packet = bytes(
        mavlink2.MAVLink_heartbeat_message(
            type=2, autopilot=3, base_mode=129, custom_mode=custom_mode, system_status=4, mavlink_version=3
        ).pack(mav)
    )
    mav.seq = (mav.seq + 1) % 256
    return packet


def position(mav: mavlink2.MAVLink, *, lat_deg: float, lon_deg: float, time_boot_ms: int = 1) -> bytes:
    packet = bytes(
        mavlink2.MAVLink_global_position_int_message(
            time_boot_ms=time_boot_ms,
            lat=round(lat_deg * 1e7),
            lon=round(lon_deg * 1e7),
            alt=50_000,
            relative_alt=30_000,
            vx=0,
            vy=0,
            vz=0,
            hdg=0,
        ).pack(mav)
    )
    mav.seq = (mav.seq + 1) % 256
    return packet


def mavlink1_heartbeat(sysid: int) -> bytes:
    return bytes(
        mavlink1.MAVLink_heartbeat_message(2, 3, 129, LAND, 4, 3).pack(mavlink1.MAVLink(None, sysid, 1))
    )


def wrong_crc(frame: bytes) -> bytes:
    return frame[:-1] + bytes((frame[-1] ^ 0x5A,))


def truncations(frame: bytes) -> list[bytes]:
    """The frame cut after every byte short of its end: each a datagram ending inside a frame."""
    return [frame[:cut] for cut in range(1, len(frame))]


def oversize_length(frame: bytes) -> bytes:
    """The frame claiming a 255-byte payload it does not carry."""
    return frame[:1] + b"\xff" + frame[2:]


def unknown_message(sysid: int, seq: int, payload: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A well-formed MAVLink 2 frame of an id no dialect here knows (CRC without a CRC_EXTRA byte)."""
    header = struct.pack(
        "<BBBBBBBHB", 0xFD, len(payload), 0, 0, seq, sysid, 1, UNKNOWN_MSG_ID & 0xFFFF, UNKNOWN_MSG_ID >> 16
    )
    return header + payload + struct.pack("<H", x25_crc(header[1:] + payload))


def random_datagrams(seed: int, count: int) -> list[bytes]:
    """Seeded random bytes of random length, a third of them starting with a MAVLink 2 magic byte."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        body = rng.randbytes(rng.randint(1, 300))
        out.append(b"\xfd" + body if index % 3 == 0 else body)
    return out


async def inject(port: int, datagrams: Sequence[bytes], *, sock: socket.socket | None = None) -> None:
    """Send each datagram to 127.0.0.1:``port`` from ``sock`` (default: a fresh stranger's socket)."""
    loop = asyncio.get_running_loop()
    own = sock is None
    tx = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.setblocking(False)
        for index, datagram in enumerate(datagrams):
            await loop.sock_sendto(tx, datagram, ("127.0.0.1", port))
            if index % 50 == 49:
                await asyncio.sleep(0.002)  # a burst, not a flood: every datagram must be counted
    finally:
        if own:
            tx.close()


async def capture_signed_stream(vehicle_port: int, key: bytes, count: int) -> list[bytes]:
    """Join a signing vehicle as a second peer (one signed packet) and record ``count`` of its
    genuine, signed datagrams, for replaying."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, heartbeat(sender(250, key=key)), ("127.0.0.1", vehicle_port))
        return [await asyncio.wait_for(loop.sock_recv(sock, 4096), 5.0) for _ in range(count)]


_FLOOD_SCRIPT = """
import os, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
junk = [os.urandom(16 + i % 200) for i in range(256)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
for i in range(count):
    try:
        s.sendto(junk[i % 256], ("127.0.0.1", port))
        sent += 1
    except BlockingIOError:
        pass
sys.stdout.write(str(sent))
"""


def start_flood(port: int, count: int) -> subprocess.Popen[str]:
    """Another process sending ``count`` garbage datagrams to ``port`` as fast as it can; its
    stdout is the number it sent."""
    return subprocess.Popen(
        [sys.executable, "-c", _FLOOD_SCRIPT, str(port), str(count)], stdout=subprocess.PIPE, text=True
    )
