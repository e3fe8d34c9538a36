"""A drone on a ``tcp:`` endpoint (as SITL serves it) works and survives the connection dropping.

The simulator speaks UDP, so a small TCP server in front of it (``tests.link.tcp_bridge``) stands
in for SITL's TCP port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from app.link.manager import LinkManager
from missions.items import MissionType
from simulator.fleet import SimFleet
from tests.link.simkit import as_stored, survey_mission
from tests.link.tcp_bridge import TcpBridge


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
