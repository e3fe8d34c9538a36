"""The fault campaign's network: a namespace for the simulator, netem when the kernel has it, and a
seeded tap proxy in front of every vehicle.

Topology (when network namespaces are allowed)::

    aerogrid serve --udpout--> Tap 127.0.0.1:P --veth 10.231.N.1 <-> 10.231.N.2--> simulator (netns)

The tap runs in the campaign process on the service's side of the veth pair. It forwards both ways
and records, for every GLOBAL_POSITION_INT it hands to the service's socket, the position's
``time_boot_ms``, the instant and the service address it went to: the campaign's measure of what
the service *accepted*. Loss, delay and jitter are made by ``tc netem`` on the veth pair when the
kernel has netem; otherwise by the tap itself, from seeded RNGs (one per direction), so the same
seed drops the same packets of the same traffic. A link cut is the veth set down (or, without
namespaces, the tap dropping everything).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shlex
import struct
import subprocess
import time
from dataclasses import dataclass, field

from simulator.framing import MAGIC_V2, iter_frames

log = logging.getLogger("faults.net")

Address = tuple[str, int]
GLOBAL_POSITION_INT_ID = 33


def _ip(*args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", namespace, *args] if namespace else list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@dataclass(slots=True)
class NetLab:
    """A network namespace joined to this one by a veth pair; removed by ``close`` (idempotent)."""

    name: str = field(default_factory=lambda: f"agf{os.getpid()}")
    subnet: int = field(default_factory=lambda: 1 + os.getpid() % 250)
    created: bool = False
    netem: bool = False
    netem_note: str = ""

    @property
    def host_dev(self) -> str:
        return f"{self.name}h"

    @property
    def ns_dev(self) -> str:
        return f"{self.name}n"

    @property
    def host_ip(self) -> str:
        return f"10.231.{self.subnet}.1"

    @property
    def sim_ip(self) -> str:
        return f"10.231.{self.subnet}.2"

    def open(self) -> bool:
        """Create the namespace and the veth pair; False (and nothing left behind) when not allowed."""
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev],
            ["ip", "link", "set", self.ns_dev, "netns", self.name],
            ["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_dev],
            ["ip", "link", "set", self.host_dev, "up"],
        ]
        inside = [
            ["ip", "addr", "add", f"{self.sim_ip}/30", "dev", self.ns_dev],
            ["ip", "link", "set", self.ns_dev, "up"],
            ["ip", "link", "set", "lo", "up"],
        ]
        self.created = True
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                log.warning("network namespace not available (%s): %s", shlex.join(step), done.stderr.strip())
                self.close()
                return False
        for step in inside:
            done = _ip(*step, namespace=self.name)
            if done.returncode != 0:
                log.warning("namespace setup failed (%s): %s", shlex.join(step), done.stderr.strip())
                self.close()
                return False
        probe = _ip("tc", "qdisc", "add", "dev", self.host_dev, "root", "netem", "delay", "0ms")
        self.netem = probe.returncode == 0
        self.netem_note = "" if self.netem else probe.stderr.strip()
        if self.netem:
            _ip("tc", "qdisc", "del", "dev", self.host_dev, "root")
        return True

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv] if self.created else argv

    def shape(self, loss_pct: float, delay_ms: float, jitter_ms: float, seed: int) -> None:
        """netem on both ends of the pair (each end shapes what it sends)."""
        spec = ["netem"]
        if loss_pct > 0:
            spec += ["loss", f"{loss_pct}%"]
        if delay_ms > 0:
            spec += ["delay", f"{delay_ms}ms", f"{jitter_ms}ms"]
        for dev, namespace in ((self.host_dev, None), (self.ns_dev, self.name)):
            base = ["tc", "qdisc", "replace", "dev", dev, "root", *spec]
            done = _ip(*base, "seed", str(seed), namespace=namespace)
            if done.returncode != 0:  # iproute2 before 6.3 has no netem seed
                done = _ip(*base, namespace=namespace)
            if done.returncode != 0:
                raise RuntimeError(f"netem failed on {dev}: {done.stderr.strip()}")

    def unshape(self) -> None:
        _ip("tc", "qdisc", "del", "dev", self.host_dev, "root")
        _ip("tc", "qdisc", "del", "dev", self.ns_dev, "root", namespace=self.name)

    def set_link(self, up: bool) -> None:
        done = _ip("ip", "link", "set", self.host_dev, "up" if up else "down")
        if done.returncode != 0:
            raise RuntimeError(f"link {'up' if up else 'down'} failed: {done.stderr.strip()}")

    def close(self) -> None:
        if not self.created:
            return
        _ip("ip", "link", "del", self.host_dev)
        _ip("ip", "netns", "del", self.name)
        self.created = False


@dataclass(frozen=True, slots=True)
class Delivered:
    """One position handed to the service's socket."""

    time_boot_ms: int
    at_s: float
    gcs: Address


@dataclass(slots=True)
class Impairment:
    loss_pct: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    cut: bool = False


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, tap: Tap, gcs: Address | None) -> None:
        self._tap = tap
        self._gcs = gcs

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self._gcs is None:
            self._tap.from_gcs(data, addr)
        else:
            self._tap.from_vehicle(data, self._gcs)

    def error_received(self, exc: Exception) -> None:
        log.debug("tap udp error: %s", exc)


class Tap:
    """A UDP proxy for one vehicle: impairs (when netem cannot) and records delivered positions."""

    def __init__(self, target: Address, seed: int) -> None:
        self.target = target
        self.impairment = Impairment()
        self._rng_up = random.Random(f"{seed}-up")
        self._rng_down = random.Random(f"{seed}-down")
        self._rng_delay = random.Random(f"{seed}-delay")
        self.delivered: list[Delivered] = []
        self.positions_dropped = 0
        self.frames_dropped = 0
        self._listen: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Address, asyncio.DatagramTransport] = {}
        self._pending: dict[Address, list[bytes]] = {}

    @property
    def port(self) -> int:
        assert self._listen is not None
        return int(self._listen.get_extra_info("sockname")[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._listen, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self, None), local_addr=("127.0.0.1", 0)
        )

    def close(self) -> None:
        for transport in self._upstreams.values():
            transport.close()
        self._upstreams.clear()
        if self._listen is not None:
            self._listen.close()
            self._listen = None

    def _lost(self, rng: random.Random) -> bool:
        imp = self.impairment
        return imp.cut or (imp.loss_pct > 0 and rng.random() * 100.0 < imp.loss_pct)

    def _delay_s(self) -> float:
        imp = self.impairment
        if imp.delay_ms <= 0:
            return 0.0
        jitter = self._rng_delay.uniform(-imp.jitter_ms, imp.jitter_ms)
        return max(0.0, imp.delay_ms + jitter) / 1000.0

    def from_gcs(self, data: bytes, gcs: Address) -> None:
        kept = b"".join(f for f in iter_frames(data) if not self._drop_frame(self._rng_up))
        if not kept:
            return
        delay_s = self._delay_s()
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, self._send_up, kept, gcs)
        else:
            self._send_up(kept, gcs)

    def _drop_frame(self, rng: random.Random) -> bool:
        if self._lost(rng):
            self.frames_dropped += 1
            return True
        return False

    def _send_up(self, data: bytes, gcs: Address) -> None:
        upstream = self._upstreams.get(gcs)
        if upstream is not None:
            upstream.sendto(data)
            return
        pending = self._pending.setdefault(gcs, [])
        pending.append(data)
        if len(pending) == 1:
            asyncio.get_running_loop().create_task(self._open_upstream(gcs))

    async def _open_upstream(self, gcs: Address) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self, gcs), remote_addr=self.target
        )
        self._upstreams[gcs] = transport
        for data in self._pending.pop(gcs, []):
            transport.sendto(data)

    def from_vehicle(self, data: bytes, gcs: Address) -> None:
        frames = []
        for frame in iter_frames(data):
            if self._drop_frame(self._rng_down):
                if position_ms(frame) is not None:
                    self.positions_dropped += 1
                continue
            frames.append(frame)
        if not frames:
            return
        delay_s = self._delay_s()
        if delay_s > 0:
            asyncio.get_running_loop().call_later(delay_s, self._send_down, frames, gcs)
        else:
            self._send_down(frames, gcs)

    def _send_down(self, frames: list[bytes], gcs: Address) -> None:
        if self._listen is None:
            return
        self._listen.sendto(b"".join(frames), gcs)
        now_s = time.time()
        for frame in frames:
            ms = position_ms(frame)
            if ms is not None:
                self.delivered.append(Delivered(ms, now_s, gcs))


def position_ms(frame: bytes) -> int | None:
    """``time_boot_ms`` of a MAVLink 2 GLOBAL_POSITION_INT frame with a fix, else None.

    A position at 0,0 (no fix yet; MAVLink 2 truncates its zero tail) is one the service refuses
    by design (counted as invalid, never stored), so it is not a sample either side counts.
    """
    if len(frame) < 22 or frame[0] != MAGIC_V2:
        return None
    if (frame[7] | frame[8] << 8 | frame[9] << 16) != GLOBAL_POSITION_INT_ID:
        return None
    payload_len = frame[1]
    if payload_len < 12:
        return None
    ms, lat_e7, lon_e7 = struct.unpack_from("<Iii", frame, 10)
    if lat_e7 == 0 and lon_e7 == 0:
        return None
    return int(ms)
