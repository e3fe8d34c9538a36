"""The vehicle's UDP port: who its peers are, and MAVLink frames in and out.

Like an autopilot's UDP port, the link answers and streams to every address that has sent it a
valid packet (up to ``MAX_PEERS``, evicting the quietest). Inbound datagrams are split into
frames, checked against the signing key when there is one, decoded and handed to the vehicle;
outbound messages are packed once and sent to every peer. Packet-loss faults apply here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.faults import Faults
from simulator.framing import MAGIC_V1, iter_frames
from simulator.mavenums import MavMessage
from simulator.signing import SignatureGuard, signing_timestamp_now

logger = logging.getLogger(__name__)

MAX_PEERS = 16


@dataclass(slots=True)
class LinkStats:
    datagrams_in: int = 0
    messages_in: int = 0
    bad_frames_in: int = 0
    datagrams_out: int = 0
    messages_out: int = 0


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a GCS that went away; the peer stays until it is evicted.
        logger.debug("udp error: %s", exc)


class UdpLink:
    """One UDP socket: ``on_message(msg, mavlink1)`` per decoded frame, then ``on_datagram_done()``.

    ``mav`` is the vehicle's MAVLink encoder (its sysid, compid, sequence and signing state);
    ``guard``, when signing is on, checks every inbound frame before pymavlink sees it.
    """

    def __init__(
        self,
        mav: MavMessage,
        guard: SignatureGuard | None,
        faults: Faults,
        clock: Callable[[], float],
        on_message: Callable[[MavMessage, bool], None],
        on_datagram_done: Callable[[], None],
    ) -> None:
        self._mav = mav
        self._guard = guard
        self._faults = faults
        self._clock = clock
        self._on_message = on_message
        self._on_datagram_done = on_datagram_done
        self._parser: MavMessage = mavlink.MAVLink(None)
        self._transport: asyncio.DatagramTransport | None = None
        self.peers: dict[tuple[str, int], float] = {}  # address -> wall time of its last valid packet
        self.stats = LinkStats()

    async def open(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self._on_datagram),
            local_addr=(host, port),
        )
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def bound_port(self) -> int | None:
        """The local port while open (the one chosen when bound to port 0), else None."""
        if self._transport is None:
            return None
        return int(self._transport.get_extra_info("sockname")[1])

    def keep_signing_clock(self) -> None:
        """Outbound signing timestamps never fall behind wall time or what a peer has sent."""
        if self._mav.signing.sign_outgoing:
            self._mav.signing.timestamp = max(
                self._mav.signing.timestamp,
                signing_timestamp_now(),
                self._guard.timestamp if self._guard else 0,
            )

    def send(self, msg: MavMessage) -> None:
        transport = self._transport
        if transport is None or not self.peers:
            return
        mav = self._mav
        buf = msg.pack(mav)
        mav.seq = (mav.seq + 1) % 256
        self.stats.messages_out += 1
        for addr in self.peers:
            if self._faults.drop_outbound():
                continue
            transport.sendto(buf, addr)
            self.stats.datagrams_out += 1

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.datagrams_in += 1
        if self._faults.drop_inbound():
            return
        for frame in iter_frames(data):
            if self._guard is not None and not self._guard.accept(frame):
                continue
            try:
                msg = self._parser.decode(bytearray(frame))
            except mavlink.MAVError:
                self.stats.bad_frames_in += 1
                continue
            if msg.get_type() in ("BAD_DATA", "UNKNOWN"):
                continue
            self._remember_peer(addr)
            self.stats.messages_in += 1
            self._on_message(msg, frame[0] == MAGIC_V1)
        self._on_datagram_done()

    def _remember_peer(self, addr: tuple[str, int]) -> None:
        if addr not in self.peers and len(self.peers) >= MAX_PEERS:
            oldest = min(self.peers, key=self.peers.__getitem__)
            del self.peers[oldest]
        self.peers[addr] = self._clock()
