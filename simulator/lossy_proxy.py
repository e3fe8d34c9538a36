"""A seeded, lossy UDP proxy between a ground station and a vehicle (tests and benches).

The GCS talks to the proxy's listen port; each GCS address gets its own upstream socket toward
the target, so the vehicle still sees one peer per GCS and replies find their way back. Frames
are dropped with the configured probability per direction; with ``only_msg_ids`` only frames of
those MAVLink message ids (read from the v1/v2 header) are candidates, the rest always pass.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from simulator.framing import iter_frames, parse_header

logger = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(slots=True)
class DirectionStats:
    forwarded: int = 0
    dropped: int = 0


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("proxy udp error: %s", exc)


class LossyUdpProxy:
    """``loss_up`` drops GCS->vehicle frames, ``loss_down`` vehicle->GCS frames (0..1)."""

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        target_host: str,
        target_port: int,
        *,
        loss_up: float = 0.0,
        loss_down: float = 0.0,
        seed: int = 0,
        only_msg_ids: frozenset[int] | None = None,
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.target: Address = (target_host, target_port)
        self.loss_up = loss_up
        self.loss_down = loss_down
        self.only_msg_ids = only_msg_ids
        self._rng_up = random.Random(f"{seed}-up")
        self._rng_down = random.Random(f"{seed}-down")
        self.up = DirectionStats()
        self.down = DirectionStats()
        self._listen: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Address, asyncio.DatagramTransport] = {}
        self._pending: dict[Address, list[bytes]] = {}

    @property
    def port(self) -> int:
        if self._listen is None:
            return self.listen_port
        return int(self._listen.get_extra_info("sockname")[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._listen, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._from_gcs), local_addr=(self.listen_host, self.listen_port)
        )

    async def stop(self) -> None:
        for transport in self._upstreams.values():
            transport.close()
        self._upstreams.clear()
        if self._listen is not None:
            self._listen.close()
            self._listen = None

    async def __aenter__(self) -> LossyUdpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _filter(self, data: bytes, loss: float, rng: random.Random, stats: DirectionStats) -> bytes:
        kept = bytearray()
        for frame in iter_frames(data):
            candidate = self.only_msg_ids is None or parse_header(frame).msgid in self.only_msg_ids
            if candidate and loss > 0 and rng.random() < loss:
                stats.dropped += 1
            else:
                stats.forwarded += 1
                kept += frame
        return bytes(kept)

    def _from_gcs(self, data: bytes, gcs: Address) -> None:
        kept = self._filter(data, self.loss_up, self._rng_up, self.up)
        if not kept:
            return
        upstream = self._upstreams.get(gcs)
        if upstream is not None:
            upstream.sendto(kept)
            return
        pending = self._pending.setdefault(gcs, [])
        pending.append(kept)
        if len(pending) == 1:
            asyncio.get_running_loop().create_task(self._open_upstream(gcs))

    async def _open_upstream(self, gcs: Address) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(lambda data, _addr: self._from_vehicle(data, gcs)), remote_addr=self.target
        )
        self._upstreams[gcs] = transport
        for data in self._pending.pop(gcs, []):
            transport.sendto(data)

    def _from_vehicle(self, data: bytes, gcs: Address) -> None:
        kept = self._filter(data, self.loss_down, self._rng_down, self.down)
        if kept and self._listen is not None:
            self._listen.sendto(kept, gcs)
