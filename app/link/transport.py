"""Byte transports for MAVLink endpoints: ``udpin:``, ``udpout:``, ``tcp:`` and ``serial:``.

A transport moves raw bytes only; framing and signing are the codec's job. Each transport has
the same life: ``open(on_data)`` binds or opens what must exist at registration (so a bad port
fails ``add_drone`` at once), ``run()`` is the owned background task that keeps it alive (TCP
reconnects, serial reopens) until cancelled, ``send(data)`` never blocks the event loop, and
``close()`` releases everything. ``parse_endpoint`` is the one validator for endpoint strings; the
API uses it to reject bad drone registrations with a message naming the problem.

One link may be written many ways (``UDPOUT:``, ``127.1``, ``localhost``, ``[::ffff:127.0.0.1]``,
port ``014701``). ``parse_endpoint`` maps every spelling it can decide lexically to one canonical
form, ``resolve_endpoint`` also replaces a host name by the address the transport would use, and
``Endpoint.link_key`` names the socket at the other end, so that a drone registry can refuse a
second registration of the same (link, system id) however it is spelt.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import ipaddress
import logging
import re
import socket
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from app.link.errors import NotConnected

log = logging.getLogger(__name__)

EndpointKind = Literal["udpin", "udpout", "tcp", "serial"]
DataCallback = Callable[[bytes], None]

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_NUMERIC_HOST = re.compile(r"^(0[xX][0-9A-Fa-f]*|[0-9]+)(\.(0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}$")
_SERIAL_DEVICE = re.compile(r"^(/dev/[A-Za-z0-9_./-]+|COM[0-9]{1,3})$")
_ALIASES: dict[str, EndpointKind] = {
    "udpin": "udpin",
    "udp": "udpin",
    "udpout": "udpout",
    "tcp": "tcp",
    "serial": "serial",
}
_MIN_BAUD = 1200
_MAX_BAUD = 12_000_000
DEFAULT_UDP_RCVBUF_BYTES = 16 << 20
"""A telemetry link's receive buffer: about 1.5 s of 1,000 drones' datagrams (kernel accounting)."""
_MAX_DATAGRAM_BYTES = 65535
_MAX_UNSENT_DATAGRAMS = 1024
_TCP_CONNECT_TIMEOUT_S = 3.0
_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 5.0
_TCP_MAX_BUFFERED_BYTES = 1 << 20
_SERIAL_READ_TIMEOUT_S = 0.1
_RESOLVE_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A validated endpoint; ``str(endpoint)`` is its canonical form and the link's identity."""

    kind: EndpointKind
    host: str = ""
    port: int = 0
    device: str = ""
    baud_rate: int = 0

    def __str__(self) -> str:
        if self.kind == "serial":
            return f"serial:{self.device}:{self.baud_rate}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}:{host}:{self.port}"

    @property
    def link_key(self) -> str:
        """What the link reaches, for uniqueness: every ``udpin`` on one local port is one socket
        whatever its bind address, and every ``udpout``/``tcp`` to a loopback or unspecified address
        reaches the same local port. Must agree with SQL ``drone_link_key`` (migration 0003)."""
        if self.kind == "udpin":
            return f"udpin:*:{self.port}"
        if self.kind in ("udpout", "tcp") and _is_local_literal(self.host):
            return f"{self.kind}:local:{self.port}"
        return str(self)

    @property
    def has_host_name(self) -> bool:
        """Whether the host is a name still to be resolved (not an IP address)."""
        if self.kind == "serial":
            return False
        try:
            ipaddress.ip_address(self.host.partition("%")[0])
        except ValueError:
            return True
        return False


def _is_local_literal(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``udpin:HOST:PORT``, ``udpout:HOST:PORT``, ``tcp:HOST:PORT`` or ``serial:DEVICE:BAUD``.

    Raises ValueError whose message names the problem, because the API shows it to the operator
    registering a drone. ``udp:`` is accepted as pymavlink's alias of ``udpin:``; IPv6 hosts are
    written in brackets (``udpout:[::1]:14550``).
    """
    raw = text.strip()
    kind_text, sep, rest = raw.partition(":")
    if not sep:
        raise ValueError(f"endpoint {text!r}: expected KIND:ADDRESS, e.g. udpin:0.0.0.0:14550")
    kind = _ALIASES.get(kind_text.lower())
    if kind is None:
        raise ValueError(f"endpoint {text!r}: unknown kind {kind_text!r}; use udpin, udpout, tcp or serial")
    address, sep, last = rest.rpartition(":")
    if not sep or not address:
        what = "DEVICE:BAUD" if kind == "serial" else "HOST:PORT"
        raise ValueError(f"endpoint {text!r}: expected {kind}:{what}")
    if kind == "serial":
        return Endpoint(kind=kind, device=_parse_device(text, address), baud_rate=_parse_baud(text, last))
    return Endpoint(kind=kind, host=_parse_host(text, address), port=_parse_port(text, last))


def _parse_port(text: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"endpoint {text!r}: port must be a number 1-65535, got {value!r}")
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"endpoint {text!r}: port must be 1-65535, got {port}")
    return port


def _parse_host(text: str, value: str) -> str:
    """The canonical host: an IP address in its compressed form (IPv4-mapped IPv6 as IPv4, the
    ``127.1``/``0x7f.1``/``2130706433`` forms the socket API accepts as the IPv4 address they
    denote), or a lower-case host name without a trailing dot."""
    host = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if not host:
        raise ValueError(f"endpoint {text!r}: host is empty")
    try:
        return canonical_ip(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return canonical_ip(socket.inet_ntoa(socket.inet_aton(host)))
        except OSError:
            raise ValueError(f"endpoint {text!r}: {host!r} is not a valid IPv4 address") from None
    name = host.lower().removesuffix(".")
    if ":" in name or not name.isascii() or not _HOSTNAME.match(name):
        raise ValueError(f"endpoint {text!r}: {host!r} is not an IP address or host name")
    return name


def canonical_ip(text: str) -> str:
    """An IP address in one spelling; ValueError when ``text`` is not an IP address. A zone
    (``%eth0``) is kept only where it means something, on an IPv6 link-local address."""
    addr_text, _, scope = text.partition("%")
    addr = ipaddress.ip_address(addr_text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    if scope and addr.is_link_local and isinstance(addr, ipaddress.IPv6Address):
        return f"{addr}%{scope}"
    return str(addr)


async def resolve_endpoint(endpoint: str | Endpoint, *, timeout_s: float = _RESOLVE_TIMEOUT_S) -> Endpoint:
    """The endpoint with its host name replaced by the address its transport would use: the first
    IPv4 address (the transports open IPv4 sockets for names), else the first IPv6 one.

    Raises ValueError naming the problem when the endpoint is malformed or the name does not
    resolve, so a registration fails at once instead of never linking.
    """
    parsed = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    if not parsed.has_host_name:
        return parsed
    loop = asyncio.get_running_loop()
    problem = "no address"
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(parsed.host, parsed.port, family=family, type=socket.SOCK_DGRAM),
                timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            problem = str(exc) or type(exc).__name__
            continue
        for info in infos:
            return replace(parsed, host=canonical_ip(str(info[4][0])))
    raise ValueError(f"endpoint {parsed}: host {parsed.host!r} does not resolve ({problem})")


def _parse_device(text: str, value: str) -> str:
    if not _SERIAL_DEVICE.match(value):
        raise ValueError(
            f"endpoint {text!r}: serial device must look like /dev/ttyUSB0 or COM3, got {value!r}"
        )
    return value


def _parse_baud(text: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"endpoint {text!r}: baud rate must be a number, got {value!r}")
    baud = int(value)
    if not _MIN_BAUD <= baud <= _MAX_BAUD:
        raise ValueError(f"endpoint {text!r}: baud rate must be {_MIN_BAUD}-{_MAX_BAUD}, got {baud}")
    return baud


class Transport(ABC):
    """One endpoint's byte pipe. Subclasses differ in how they stay connected."""

    is_datagram: bool = False
    confirm_peers: bool = False
    """Reply only to senders the owner accepted (``adopt_source``); UDP's ``udpin`` heeds it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._on_data: DataCallback | None = None
        self._closed = asyncio.Event()
        self.source: tuple[str | Any, int] | None = None
        """The address the bytes being delivered came from (datagrams; None for streams)."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether ``send`` can deliver now."""

    @abstractmethod
    async def open(self, on_data: DataCallback) -> None:
        """Acquire what must exist at registration; received bytes go to ``on_data``."""

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Queue bytes for the peer without blocking; raises NotConnected when there is none."""

    async def run(self) -> None:
        """Keep the transport alive until ``close``; the default just waits (UDP needs nothing)."""
        await self._closed.wait()

    async def close(self) -> None:
        """Release sockets or ports; idempotent."""
        self._closed.set()

    def _deliver(self, data: bytes) -> None:
        if self._on_data is not None and data:
            self._on_data(data)

    def adopt_source(self) -> None:  # noqa: B027  # a no-op unless the transport chooses its peer
        """Called from ``on_data`` when the bytes proved to come from a vehicle (see UdpTransport)."""


def make_transport(endpoint: Endpoint, *, udp_rcvbuf_bytes: int = DEFAULT_UDP_RCVBUF_BYTES) -> Transport:
    """The transport class for an endpoint kind."""
    if endpoint.kind in ("udpin", "udpout"):
        return UdpTransport(endpoint, rcvbuf_bytes=udp_rcvbuf_bytes)
    if endpoint.kind == "tcp":
        return TcpTransport(endpoint)
    return SerialTransport(endpoint)


class UdpTransport(Transport):
    """``udpin`` listens and replies to the last peer heard (pymavlink's rule); ``udpout`` sends
    to a fixed address and receives its replies on the same socket.

    The socket is read by our own reader callback rather than asyncio's datagram transport, which
    takes one datagram per event-loop wake-up: a link carrying hundreds of vehicles receives
    thousands of datagrams a second, and reading up to ``RECV_BATCH`` per wake-up saves a loop
    iteration (and a ``select``) per datagram. The receive buffer is made large
    (``rcvbuf_bytes``) so that a pause of the event loop (a COPY being encoded, a garbage
    collection) is absorbed by the kernel instead of dropping datagrams; see ``_size_rcvbuf``.

    With ``confirm_peers`` set (a ``Link`` sets it), ``udpin`` replies to the last sender whose
    bytes the link accepted (``adopt_source``, called from ``on_data``) instead of the last one
    heard, so a stranger's garbage or a conflicting system id cannot redirect the vehicle's commands.
    """

    is_datagram = True
    RECV_BATCH = 8
    """Datagrams read per wake-up at most. More saves loop iterations, but every iteration then
    carries more work, and the database writer needs a dozen iterations per batch: on a starved
    core, 32 per wake-up left commits 0.9 s behind at the median (4: 0.17 s) for no more messages
    per CPU-second (docs/benchmarks.md)."""

    def __init__(self, endpoint: Endpoint, *, rcvbuf_bytes: int = DEFAULT_UDP_RCVBUF_BYTES) -> None:
        super().__init__(endpoint)
        self.rcvbuf_bytes = rcvbuf_bytes
        self.granted_rcvbuf_bytes = 0
        """The receive buffer the kernel granted (0 until open)."""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsent: collections.deque[tuple[bytes, tuple[str | Any, int]]] = collections.deque()
        self._peer: tuple[str | Any, int] | None = None
        if endpoint.kind == "udpout":
            self._peer = (endpoint.host, endpoint.port)

    @property
    def connected(self) -> bool:
        return self._sock is not None and self._peer is not None

    @property
    def peer(self) -> tuple[str | Any, int] | None:
        """Where sends go: the fixed target (udpout) or the last sender heard (udpin)."""
        return self._peer

    @property
    def local_port(self) -> int:
        """The bound local port (useful when udpout picked an ephemeral one)."""
        if self._sock is None:
            return 0
        return int(self._sock.getsockname()[1])

    async def open(self, on_data: DataCallback) -> None:
        self._on_data = on_data
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.endpoint.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if self.endpoint.kind == "udpin":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.endpoint.host, self.endpoint.port))
            else:
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise NotConnected(f"{self.endpoint}: cannot open UDP socket: {exc}") from exc
        self.granted_rcvbuf_bytes = _size_rcvbuf(sock, self.rcvbuf_bytes, str(self.endpoint))
        self._sock, self._loop = sock, loop
        loop.add_reader(sock.fileno(), self._read_ready)
        log.info(
            "udp %s open on local port %d (receive buffer %d bytes)",
            self.endpoint,
            self.local_port,
            self.granted_rcvbuf_bytes,
        )

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recvfrom = sock.recvfrom
        for _ in range(self.RECV_BATCH):
            try:
                data, addr = recvfrom(_MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP port-unreachable on udpout while the vehicle is down: expected, keep listening.
                log.debug("udp %s: %s", self.endpoint, exc)
                return
            if self.endpoint.kind == "udpin" and not self.confirm_peers:
                self._peer = addr
            self.source = addr
            try:
                self._deliver(data)
            except Exception:  # a consumer's bug must not stop the link reading
                log.exception("udp %s: datagram handler failed", self.endpoint)
            if self._sock is None:  # closed by a consumer
                return

    def adopt_source(self) -> None:
        if self.endpoint.kind == "udpin" and self.source is not None:
            self._peer = self.source

    def send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise NotConnected(f"{self.endpoint}: transport is closed")
        if self._peer is None:
            raise NotConnected(f"{self.endpoint}: no peer has sent a packet yet")
        if self._unsent:
            self._queue_unsent(data, self._peer)
            return
        try:
            sock.sendto(data, self._peer)
        except (BlockingIOError, InterruptedError):
            self._queue_unsent(data, self._peer)
        except OSError as exc:
            log.debug("udp %s: send failed: %s", self.endpoint, exc)

    def _queue_unsent(self, data: bytes, peer: tuple[str | Any, int]) -> None:
        """Keep a datagram the full send buffer refused, in order, until the socket is writable."""
        if len(self._unsent) >= _MAX_UNSENT_DATAGRAMS:
            raise NotConnected(f"{self.endpoint}: send buffer full")
        if not self._unsent and self._loop is not None and self._sock is not None:
            self._loop.add_writer(self._sock.fileno(), self._write_ready)
        self._unsent.append((data, peer))

    def _write_ready(self) -> None:
        sock = self._sock
        while sock is not None and self._unsent:
            data, peer = self._unsent[0]
            try:
                sock.sendto(data, peer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("udp %s: send failed: %s", self.endpoint, exc)
            self._unsent.popleft()
        if sock is not None and self._loop is not None:
            self._loop.remove_writer(sock.fileno())

    async def close(self) -> None:
        await super().close()
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
                self._loop.remove_writer(sock.fileno())
            self._unsent.clear()
            sock.close()


def _size_rcvbuf(sock: socket.socket, wanted_bytes: int, name: str) -> int:
    """Ask for a ``wanted_bytes`` receive buffer and return what the kernel granted.

    ``SO_RCVBUF`` is capped by ``net.core.rmem_max``; as root (CAP_NET_ADMIN) ``SO_RCVBUFFORCE``
    passes the cap. Linux reports twice the size set (the other half is its bookkeeping share), so
    the granted size is the reported one halved there. A cap is logged with the sysctl that lifts it.
    """
    share = 2 if sys.platform == "linux" else 1

    def granted() -> int:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)) // share

    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted_bytes)
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if granted() < wanted_bytes and force is not None:
        with contextlib.suppress(OSError):  # EPERM without CAP_NET_ADMIN
            sock.setsockopt(socket.SOL_SOCKET, force, wanted_bytes)
    got = granted()
    if got < wanted_bytes:
        log.warning(
            "udp %s: receive buffer capped at %d bytes (asked %d): raise net.core.rmem_max",
            name,
            got,
            wanted_bytes,
        )
    return got


class TcpTransport(Transport):
    """A TCP client that reconnects with backoff for as long as it is open.

    ``open`` does not require the vehicle to be up (a drone may be registered before it boots);
    while disconnected ``send`` raises NotConnected, which link operations surface as a 503.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self, on_data: DataCallback) -> None:
        self._on_data = on_data

    def send(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise NotConnected(f"{self.endpoint}: not connected")
        if writer.transport.get_write_buffer_size() > _TCP_MAX_BUFFERED_BYTES:
            raise NotConnected(f"{self.endpoint}: peer is not reading (send buffer full)")
        writer.write(data)

    async def run(self) -> None:
        backoff_s = _RECONNECT_MIN_S
        while not self._closed.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.endpoint.host, self.endpoint.port),
                    _TCP_CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError) as exc:
                log.debug("tcp %s: connect failed: %s; retry in %.1f s", self.endpoint, exc, backoff_s)
                await self._sleep_unless_closed(backoff_s)
                backoff_s = min(backoff_s * 2, _RECONNECT_MAX_S)
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writer = writer
            self.connects += 1
            backoff_s = _RECONNECT_MIN_S
            log.info("tcp %s connected", self.endpoint)
            try:
                while chunk := await reader.read(65536):
                    self._deliver(chunk)
            except OSError as exc:
                log.warning("tcp %s: read failed: %s", self.endpoint, exc)
            finally:
                self._writer = None
                writer.close()
                with contextlib.suppress(OSError):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
            if not self._closed.is_set():
                log.warning("tcp %s disconnected; reconnecting", self.endpoint)
                await self._sleep_unless_closed(_RECONNECT_MIN_S)

    async def _sleep_unless_closed(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), delay_s)

    async def close(self) -> None:
        await super().close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SerialTransport(Transport):
    """A serial port through pyserial, read and written in worker threads.

    pyserial is optional: without it ``open`` raises NotConnected saying so, rather than the
    service failing to import. The port is reopened after errors (a USB radio unplugged).
    """

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._serial_module: Any = None
        self._port: Any = None
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)

    @property
    def connected(self) -> bool:
        return self._port is not None

    async def open(self, on_data: DataCallback) -> None:
        self._on_data = on_data
        try:
            self._serial_module = importlib.import_module("serial")
        except ModuleNotFoundError as exc:
            raise NotConnected(
                f"{self.endpoint}: serial endpoints need the pyserial package (pip install pyserial)"
            ) from exc
        await self._open_port()

    async def _open_port(self) -> None:
        try:
            self._port = await asyncio.to_thread(
                self._serial_module.Serial,
                self.endpoint.device,
                self.endpoint.baud_rate,
                timeout=_SERIAL_READ_TIMEOUT_S,
            )
        except OSError as exc:  # pyserial's SerialException is an OSError
            raise NotConnected(f"{self.endpoint}: cannot open serial port: {exc}") from exc

    def send(self, data: bytes) -> None:
        if self._port is None:
            raise NotConnected(f"{self.endpoint}: serial port is not open")
        try:
            self._outbox.put_nowait(data)
        except asyncio.QueueFull as exc:
            raise NotConnected(f"{self.endpoint}: serial port is not draining") from exc

    async def run(self) -> None:
        while not self._closed.is_set():
            try:
                if self._port is None:
                    await self._open_port()
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read_loop())
                    tg.create_task(self._write_loop())
            except* (OSError, NotConnected) as group:
                log.warning("serial %s failed: %s; reopening", self.endpoint, group.exceptions[0])
                self._close_port()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), _RECONNECT_MAX_S)

    async def _read_loop(self) -> None:
        while not self._closed.is_set():
            data: bytes = await asyncio.to_thread(self._port.read, 4096)
            self._deliver(data)

    async def _write_loop(self) -> None:
        while True:
            data = await self._outbox.get()
            await asyncio.to_thread(self._port.write, data)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    async def close(self) -> None:
        await super().close()
        self._close_port()
