"""MAVLink 2 signing checks for inbound frames, done before pymavlink parses them.

pymavlink 2.4.50's ``MAVLink.check_signature`` stores a stream's timestamp before it verifies the
signature, so a single frame signed with a wrong key and a far-future timestamp would make every
genuine frame after it fail as a replay. This guard verifies the signature first and only then
advances the stream's timestamp.
"""

from __future__ import annotations

import hashlib
import time

from simulator.framing import IFLAG_SIGNED, MAGIC_V2, SIGNATURE_LEN

_EPOCH_2015_S = 1_420_070_400
_TICKS_PER_S = 100_000  # signing timestamps count 10 microsecond units
_NEW_STREAM_SLACK_TICKS = 60 * _TICKS_PER_S


def signing_timestamp_now() -> int:
    """The current time in MAVLink signing units (10 us since 2015-01-01)."""
    return int((time.time() - _EPOCH_2015_S) * _TICKS_PER_S)


class SignatureGuard:
    """Accepts a frame only if it is signed with ``secret_key`` and is not a replay."""

    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) != 32:
            raise ValueError("a MAVLink signing key is 32 bytes")
        self._key = secret_key
        self._stream_ticks: dict[tuple[int, int, int], int] = {}
        self.timestamp = signing_timestamp_now()
        self.accepted = 0
        self.rejected_unsigned = 0
        self.rejected_bad_signature = 0
        self.rejected_replay = 0

    def accept(self, frame: bytes) -> bool:
        if frame[0] != MAGIC_V2 or not frame[2] & IFLAG_SIGNED or len(frame) < SIGNATURE_LEN + 12:
            self.rejected_unsigned += 1
            return False
        digest = hashlib.sha256(self._key + frame[:-6]).digest()[:6]
        if digest != frame[-6:]:
            self.rejected_bad_signature += 1
            return False
        link_id = frame[-SIGNATURE_LEN]
        ticks = int.from_bytes(frame[-12:-6], "little")
        stream = (link_id, frame[5], frame[6])
        last = self._stream_ticks.get(stream)
        if (last is not None and ticks <= last) or (
            last is None and ticks + _NEW_STREAM_SLACK_TICKS < self.timestamp
        ):
            self.rejected_replay += 1
            return False
        self._stream_ticks[stream] = ticks
        self.timestamp = max(self.timestamp, ticks)
        self.accepted += 1
        return True
