"""MAVLink 2 encoding and decoding for one link, and the only place pymavlink's ``Any`` lives.

Each link gets its own pymavlink ``MAVLink`` object (ardupilotmega dialect) because parser state,
sequence numbers and signing timestamps are per link. Decoded packets leave this module as typed,
immutable ``MavMessage`` values, and outgoing ones are built by name with keyword fields, so the
rest of ``app/link`` never touches an untyped pymavlink object.

Signing: when a 32-byte key is set, outgoing packets are signed and inbound packets must carry a
valid signature with a fresh timestamp; everything else is dropped and counted. pymavlink 2.4.50's
``check_signature`` records a stream's timestamp *before* it verifies the signature, so one forged
packet with a far-future timestamp would make every genuine packet after it look replayed. The
link's MAVLink object therefore overrides ``check_signature`` to verify the signature first and
record the timestamp only for authentic packets.

Every dropped packet (and every MAVLink 1 frame, accepted on an unsigned link but counted) is also
reported to the link's ``AnomalyLog``, which rate-limits the warnings so a flood cannot flood the log.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as _mavlink

from app.link.anomalies import AnomalyLog
from app.link.constants import MavAutopilot, MavModeFlag
from app.link.fastpath import decode_leading

FieldValue = int | float | str | list[int] | list[float]
"""What a decoded MAVLink field can be: numbers, text (char arrays) or numeric arrays."""

SIGNING_KEY_BYTES: Final = 32
_SIGNING_EPOCH_UNIX_S: Final = 1_420_070_400  # 2015-01-01T00:00:00Z, MAVLink signing's epoch
_SIGNING_TICKS_PER_S: Final = 100_000  # the signing timestamp counts 10 microsecond ticks
_NEW_STREAM_MAX_AGE_TICKS: Final = 60 * _SIGNING_TICKS_PER_S  # same one-minute window as pymavlink
_MAVLINK2_MAGIC: Final = 0xFD
_MAVLINK1_MAGIC: Final = 0xFE
_LOGGED_BYTES: Final = 16  # how much of a bad packet a warning shows, in hex
_IFLAG_SIGNED: Final = 0x01

_MESSAGE_CLASSES: Final[dict[str, Any]] = {cls.msgname: cls for cls in _mavlink.mavlink_map.values()}


def signing_timestamp_now() -> int:
    """The current MAVLink signing timestamp (10 us ticks since 2015-01-01)."""
    return int((time.time() - _SIGNING_EPOCH_UNIX_S) * _SIGNING_TICKS_PER_S)


def message_id(name: str) -> int:
    """The numeric id of a message name (for SET_MESSAGE_INTERVAL); ValueError if unknown."""
    cls = _MESSAGE_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown MAVLink message {name!r}")
    return int(cls.id)


@functools.cache
def mode_mapping(mav_type: int) -> Mapping[str, int]:
    """Custom-mode numbers by name for an ArduPilot vehicle type, from pymavlink's tables.

    Unknown types fall back to ArduCopter's table: AeroGrid flies copters, and a peer that reports
    an odd MAV_TYPE (some simulators, companion routers) is still almost certainly a copter.
    """
    by_number = mavutil.mode_mapping_bynumber(mav_type) or mavutil.mode_mapping_acm
    return MappingProxyType({str(name): int(number) for number, name in by_number.items()})


@functools.cache
def _mode_names(mav_type: int) -> Mapping[int, str]:
    return MappingProxyType({number: name for name, number in mode_mapping(mav_type).items()})


def mode_name(*, mav_type: int, autopilot: int, base_mode: int, custom_mode: int) -> str:
    """A HEARTBEAT's flight mode as ArduPilot names it, or ``MODE(n)`` when it has no name."""
    if autopilot == MavAutopilot.ARDUPILOTMEGA and base_mode & MavModeFlag.CUSTOM_MODE_ENABLED:
        name = _mode_names(mav_type).get(custom_mode)
        if name is not None:
            return name
    return f"MODE({custom_mode})"


@dataclass(frozen=True, slots=True)
class MavMessage:
    """One decoded MAVLink message, immutable and typed; ``fields`` is in the XML's field order.

    The typed getters raise TypeError on a field of the wrong kind, which is a programming
    error (a wrong field name raises KeyError), never a wire condition.
    """

    name: str
    msg_id: int
    sysid: int
    compid: int
    fields: Mapping[str, FieldValue]
    seq: int = 0
    signed: bool = False
    received_monotonic_s: float = 0.0

    def get_int(self, key: str) -> int:
        value = self.fields[key]
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"{self.name}.{key} is {type(value).__name__}, not int")

    def get_float(self, key: str) -> float:
        value = self.fields[key]
        if isinstance(value, int | float):
            return float(value)
        raise TypeError(f"{self.name}.{key} is {type(value).__name__}, not a number")

    def get_str(self, key: str) -> str:
        value = self.fields[key]
        if isinstance(value, str):
            return value
        raise TypeError(f"{self.name}.{key} is {type(value).__name__}, not text")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for telemetry consumers (the live hub, the ingest pipeline)."""
        return {"name": self.name, "sysid": self.sysid, "compid": self.compid, **self.fields}


@dataclass(slots=True)
class _Counters:
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_bad_crc: int = 0
    rx_bad_data: int = 0
    rx_unknown_msgs: int = 0
    rx_unsigned_dropped: int = 0
    rx_bad_signature: int = 0
    rx_replayed: int = 0
    rx_seq_lost: int = 0
    rx_mavlink1: int = 0


@dataclass(frozen=True, slots=True)
class CodecStats:
    """Counters for one link since it opened; ``signing_rejects`` sums the three signing drops.

    ``rx_mavlink1`` counts MAVLink 1 frames: accepted on an unsigned link (and counted in
    ``rx_packets``), dropped as unsigned on a signed one, since MAVLink 1 cannot be signed.
    """

    rx_packets: int
    rx_bytes: int
    tx_packets: int
    tx_bytes: int
    rx_bad_crc: int
    rx_bad_data: int
    rx_unknown_msgs: int
    rx_unsigned_dropped: int
    rx_bad_signature: int
    rx_replayed: int
    rx_seq_lost: int
    rx_mavlink1: int

    @property
    def signing_rejects(self) -> int:
        return self.rx_unsigned_dropped + self.rx_bad_signature + self.rx_replayed


class _GuardedMAVLink(_mavlink.MAVLink):  # type: ignore[misc]  # pymavlink is untyped
    """pymavlink's parser with a signature check that verifies before it trusts a timestamp."""

    def __init__(
        self, counters: _Counters, anomalies: AnomalyLog, src_system: int, src_component: int
    ) -> None:
        super().__init__(None, srcSystem=src_system, srcComponent=src_component)
        self.robust_parsing = True  # bad bytes become BAD_DATA messages instead of exceptions
        self._counters = counters
        self._anomalies = anomalies

    def check_signature(self, msgbuf: bytearray, srcSystem: int, srcComponent: int) -> bool:  # noqa: N803  # pymavlink's signature
        signing = self.signing
        digest = hashlib.sha256(bytes(signing.secret_key) + bytes(msgbuf[:-6])).digest()[:6]
        if not hmac.compare_digest(digest, bytes(msgbuf[-6:])):
            self._counters.rx_bad_signature += 1
            self._anomalies.note(
                "bad_signature",
                f"signed packet from sysid {srcSystem} compid {srcComponent} (signing link id "
                f"{msgbuf[-13]}) does not verify with the link's key: dropped",
            )
            return False
        low, high = struct.unpack("<IH", bytes(msgbuf[-12:-6]))
        timestamp = low + (high << 32)
        stream_key = (msgbuf[-13], srcSystem, srcComponent)
        last = signing.stream_timestamps.get(stream_key)
        if (last is not None and timestamp <= last) or (
            last is None and timestamp + _NEW_STREAM_MAX_AGE_TICKS < signing.timestamp
        ):
            self._counters.rx_replayed += 1
            self._anomalies.note(
                "replayed",
                f"signed packet from sysid {srcSystem} compid {srcComponent} (signing link id "
                f"{msgbuf[-13]}) has timestamp {timestamp}, not newer than {last} (or stale): dropped",
            )
            return False
        signing.stream_timestamps[stream_key] = timestamp
        signing.timestamp = max(signing.timestamp, timestamp)
        return True


class MavlinkCodec:
    """Encode and decode MAVLink 2 for one link, as the ground station ``src_system``/``src_component``;
    ``name`` (the link's) labels its anomaly warnings."""

    def __init__(
        self,
        *,
        src_system: int,
        src_component: int,
        signing_key: bytes | None = None,
        signing_link_id: int = 0,
        name: str = "",
    ) -> None:
        self._counters = _Counters()
        self.anomalies = AnomalyLog(name)
        self._mav = _GuardedMAVLink(self._counters, self.anomalies, src_system, src_component)
        self._last_seq: dict[tuple[int, int], int] = {}
        self.src_system = src_system
        self.src_component = src_component
        self.set_signing_key(signing_key, link_id=signing_link_id)

    @property
    def signing_key(self) -> bytes | None:
        key = self._mav.signing.secret_key
        return bytes(key) if key is not None else None

    def set_signing_key(self, key: bytes | None, *, link_id: int = 0) -> None:
        """Sign outgoing and require signed inbound packets with ``key``, or stop signing (None)."""
        signing = self._mav.signing
        if key is None:
            signing.secret_key = None
            signing.sign_outgoing = False
            return
        if len(key) != SIGNING_KEY_BYTES:
            raise ValueError(f"signing key must be {SIGNING_KEY_BYTES} bytes, got {len(key)}")
        if not 0 <= link_id <= 255:
            raise ValueError(f"signing link id must be 0-255, got {link_id}")
        signing.secret_key = bytes(key)
        signing.sign_outgoing = True
        signing.link_id = link_id
        signing.timestamp = max(signing.timestamp, signing_timestamp_now())

    @property
    def stats(self) -> CodecStats:
        c = self._counters
        return CodecStats(
            rx_packets=c.rx_packets,
            rx_bytes=c.rx_bytes,
            tx_packets=c.tx_packets,
            tx_bytes=c.tx_bytes,
            rx_bad_crc=c.rx_bad_crc,
            rx_bad_data=c.rx_bad_data,
            rx_unknown_msgs=c.rx_unknown_msgs,
            rx_unsigned_dropped=c.rx_unsigned_dropped,
            rx_bad_signature=c.rx_bad_signature,
            rx_replayed=c.rx_replayed,
            rx_seq_lost=c.rx_seq_lost,
            rx_mavlink1=c.rx_mavlink1,
        )

    def encode(self, name: str, /, **fields: FieldValue | bytes) -> bytes:
        """One packet of message ``name`` built from keyword fields (str accepted for char fields).

        Raises ValueError for an unknown message or wrong fields: a programming error, reported
        with the message name so it is found quickly.
        """
        cls = _MESSAGE_CLASSES.get(name)
        if cls is None:
            raise ValueError(f"unknown MAVLink message {name!r}")
        args: dict[str, Any] = {}
        for key, value in fields.items():
            if isinstance(value, str):
                args[key] = value.encode("ascii")
            else:
                args[key] = value
        try:
            message = cls(**args)
            packet = bytes(message.pack(self._mav))
        except (TypeError, struct.error) as exc:
            raise ValueError(f"cannot encode {name}: {exc}") from exc
        self._mav.seq = (self._mav.seq + 1) % 256
        self._counters.tx_packets += 1
        self._counters.tx_bytes += len(packet)
        return packet

    def decode(self, data: bytes, *, datagram: bool = False) -> list[MavMessage]:
        """Messages completed by ``data``; bad, unknown and rejected packets are counted and dropped.

        With ``datagram`` the bytes are one UDP datagram: a packet cut short at its end cannot be
        completed by the next datagram, so the leftover is discarded rather than corrupting the
        next packet.
        """
        self._counters.rx_bytes += len(data)
        received_s = time.monotonic()
        fast: list[MavMessage] = []
        if datagram and self._mav.signing.secret_key is None and self._mav.buf_len() == 0:
            fast, consumed = self._decode_fast(data, received_s)
            if consumed == len(data):
                return fast
            data = data[consumed:]
        try:
            raw = self._mav.parse_buffer(data) or []
        except _mavlink.MAVError as exc:
            self._counters.rx_bad_data += 1
            self.anomalies.note("bad_data", f"parse error: {exc}")
            raw = []
        if datagram and self._mav.buf_len() > 0:
            self._counters.rx_bad_data += 1
            self.anomalies.note(
                "bad_data",
                f"datagram ends inside a frame, {self._mav.buf_len()} bytes dropped: "
                f"{bytes(self._mav.buf[:_LOGGED_BYTES]).hex()}",
            )
            self._reset_parser()
        out = fast
        for item in raw:
            message = self._convert(item, received_s)
            if message is not None:
                out.append(message)
        return out

    def _decode_fast(self, data: bytes, received_s: float) -> tuple[list[MavMessage], int]:
        """The datagram's leading hot frames through ``fastpath`` (checked against pymavlink by a
        test), counted as pymavlink's would be; returns them and how many bytes they took."""
        frames, consumed = decode_leading(data)
        out = []
        for f in frames:
            self._counters.rx_packets += 1
            self._track_seq(f.sysid, f.compid, f.seq)
            out.append(
                MavMessage(
                    name=f.name,
                    msg_id=f.msg_id,
                    sysid=f.sysid,
                    compid=f.compid,
                    fields=f.fields,
                    seq=f.seq,
                    received_monotonic_s=received_s,
                )
            )
        return out, consumed

    def _reset_parser(self) -> None:
        # pymavlink has no public reset; these are the fields its parser starts from.
        self._mav.buf = bytearray()
        self._mav.buf_index = 0
        self._mav.expected_length = _mavlink.HEADER_LEN_V1 + 2

    def _convert(self, item: Any, received_s: float) -> MavMessage | None:
        msg_id = int(item.get_msgId())
        if msg_id == _mavlink.MAVLINK_MSG_ID_BAD_DATA:
            self._count_bad(item)
            return None
        if msg_id == _mavlink.MAVLINK_MSG_ID_UNKNOWN:
            self._counters.rx_unknown_msgs += 1
            self.anomalies.note("unknown_msg", f"{item.get_type()} (not in the dialect): dropped")
            return None
        self._counters.rx_packets += 1
        header = item.get_header()
        sysid, compid, seq = int(header.srcSystem), int(header.srcComponent), int(header.seq)
        if item.get_msgbuf()[:1] == bytes((_MAVLINK1_MAGIC,)):
            self._counters.rx_mavlink1 += 1
            self.anomalies.note(
                "mavlink1",
                f"MAVLink 1 {item.get_type()} from sysid {sysid}: AeroGrid speaks MAVLink 2 (fences and "
                "rally points need it; set the vehicle's SERIALn_PROTOCOL to 2)",
            )
        self._track_seq(sysid, compid, seq)
        fields: dict[str, FieldValue] = {name: getattr(item, name) for name in item.get_fieldnames()}
        return MavMessage(
            name=str(item.get_type()),
            msg_id=msg_id,
            sysid=sysid,
            compid=compid,
            fields=fields,
            seq=seq,
            signed=bool(getattr(item, "_signed", False)),
            received_monotonic_s=received_s,
        )

    def _count_bad(self, item: Any) -> None:
        reason = str(item.reason)
        data = bytes(item.data)
        shown = data[:_LOGGED_BYTES].hex()
        if reason.startswith("invalid MAVLink CRC"):
            self._counters.rx_bad_crc += 1
            self.anomalies.note("bad_crc", f"{reason}: {shown}")
        elif reason == "Invalid signature":
            # Signed packets were already counted by check_signature (bad signature or replay).
            if not (len(data) > 2 and data[0] == _MAVLINK2_MAGIC and data[2] & _IFLAG_SIGNED):
                self._counters.rx_unsigned_dropped += 1
                self.anomalies.note("unsigned", f"unsigned packet on a signed link dropped: {shown}")
        else:
            self._counters.rx_bad_data += 1
            self.anomalies.note("bad_data", f"{reason}: {shown}")

    def _track_seq(self, sysid: int, compid: int, seq: int) -> None:
        key = (sysid, compid)
        last = self._last_seq.get(key)
        self._last_seq[key] = seq
        if last is not None:
            gap = (seq - last - 1) % 256
            if gap < 128:  # larger gaps are reordering or a restarted sender, not loss
                self._counters.rx_seq_lost += gap
