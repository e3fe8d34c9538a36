"""A TCP front for a simulated (UDP) vehicle, standing in for ArduPilot SITL's TCP port.

Each accepted connection gets its own UDP socket to the vehicle and bytes are piped both ways.
With ``banner`` set, every connection first receives that text before any MAVLink frame, as
ArduCopter 4.8 SITL writes its boot banner on its first MAVLink port (ARDUCOPTER-BEHAVIOUR.md).
"""

from __future__ import annotations

import asyncio

SITL_48_BANNER = (
    b"Init ArduCopter V4.8.0-dev (5c9f0a1e)\r\n\r\n"
    b"Free RAM: 65535\r\n"
    b"Booting\r\n"
    b"AP_Logger_File: buffer size=16384\r\n"
)
"""The plain-text lines SITL 4.8 prints on TCP 5760 + 10*I before its first MAVLink frame."""


class _ToVehicle(asyncio.DatagramProtocol):
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)


class TcpBridge:
    """TCP server whose connections are piped to a UDP vehicle; ``drop()`` cuts them all."""

    def __init__(self, vehicle_port: int, *, banner: bytes = b"") -> None:
        self.vehicle_port = vehicle_port
        self.banner = banner
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        writer.write(self.banner)
        loop = asyncio.get_running_loop()
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _ToVehicle(writer), remote_addr=("127.0.0.1", self.vehicle_port)
        )
        try:
            while chunk := await reader.read(65536):
                udp.sendto(chunk)
        except ConnectionError:
            pass
        finally:
            udp.close()
            writer.close()

    def drop(self) -> None:
        for writer in self.connections:
            writer.close()

    async def stop(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
