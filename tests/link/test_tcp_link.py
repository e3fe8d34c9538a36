"""A drone on a ``tcp:`` endpoint (as SITL serves it) works and survives the connection dropping.

The simulator speaks UDP, so a small TCP server in front of it stands in for SITL's TCP port:
each accepted connection gets its own UDP socket to the vehicle and bytes are piped both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from app.link.manager import LinkManager
from missions.items import MissionType
from simulator.fleet import SimFleet
from tests.link.simkit import as_stored, survey_mission


class _ToVehicle(asyncio.DatagramProtocol):
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)


class TcpBridge:
    """TCP server whose connections are piped to a UDP vehicle; ``drop()`` cuts them all."""

    def __init__(self, vehicle_port: int) -> None:
        self.vehicle_port = vehicle_port
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
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


@pytest_asyncio.fixture
async def bridge(fleet: SimFleet) -> AsyncIterator[tuple[TcpBridge, int]]:
    tcp = TcpBridge(fleet.vehicles[0].port)
    port = await tcp.start()
    yield tcp, port
    await tcp.stop()


async def test_tcp_drone_uploads_and_reconnects_after_the_connection_drops(
    bridge: tuple[TcpBridge, int], manager: LinkManager
) -> None:
    tcp, port = bridge
    vehicle = await manager.add_drone("tcp-drone", f"tcp:127.0.0.1:{port}", 1)
    await vehicle.wait_online(10.0)
    mission = survey_mission(60)
    await vehicle.upload_mission(mission)
    tcp.drop()
    heard = vehicle.tracker.heartbeats
    await vehicle.tracker.wait_until(
        lambda t: t.heartbeats >= heard + 2, timeout_s=10.0, what="heartbeats again"
    )
    assert len(tcp.connections) >= 2
    downloaded = await vehicle.download_mission()
    assert as_stored(downloaded, MissionType.MISSION) == as_stored(mission, MissionType.MISSION)
    assert manager.link_stats()[0].connected
