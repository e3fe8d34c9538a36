"""Every MAVLink reader treats non-MAVLink bytes as noise: SITL 4.8's boot banner comes first.

ArduCopter 4.8 SITL writes plain-text lines ("Init ArduCopter V4.8.0-dev ...", "Free RAM",
"Booting", "AP_Logger_File: buffer size=...") on its first MAVLink port before the first frame
(ARDUCOPTER-BEHAVIOUR.md). Each reader of the project is fed that banner before real frames from
the simulator: the service's link (TCP, as SITL serves it), the SITL launcher's readiness watcher,
and the simulator's own UDP reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest_asyncio
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.link.manager import LinkManager
from missions.items import MissionType
from simulator.fleet import SimFleet
from simulator.sitl import BASE_TCP_PORT, SitlInstance
from tests.link.simkit import as_stored, survey_mission
from tests.link.tcp_bridge import SITL_48_BANNER, TcpBridge


@pytest_asyncio.fixture
async def banner_bridge(fleet: SimFleet) -> AsyncIterator[tuple[TcpBridge, int]]:
    tcp = TcpBridge(fleet.vehicles[0].port, banner=SITL_48_BANNER)
    port = await tcp.start()
    yield tcp, port
    await tcp.stop()


async def test_service_link_over_tcp_skips_the_boot_banner_and_works(
    banner_bridge: tuple[TcpBridge, int], manager: LinkManager
) -> None:
    tcp, port = banner_bridge
    vehicle = await manager.add_drone("sitl-48", f"tcp:127.0.0.1:{port}", 1)
    await vehicle.wait_online(10.0)
    mission = survey_mission(30)
    await vehicle.upload_mission(mission)
    tcp.drop()  # the reconnection gets the banner again
    heard = vehicle.tracker.heartbeats
    await vehicle.tracker.wait_until(lambda t: t.heartbeats >= heard + 2, timeout_s=10.0, what="heartbeats")
    downloaded = await vehicle.download_mission()
    assert as_stored(downloaded, MissionType.MISSION) == as_stored(mission, MissionType.MISSION)
    [stats] = manager.link_stats()
    assert stats.connected
    assert stats.codec.rx_bad_data >= 2  # the banner, once per connection, counted as noise


def _free_sitl_instance() -> int:
    """An instance number whose SITL port (5760 + 10*I) is free on 127.0.0.1 right now."""
    for instance in range(40, 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", BASE_TCP_PORT + 10 * instance))
            return instance
    raise RuntimeError("no free SITL port between 6160 and 7750")


async def test_sitl_readiness_watcher_skips_the_boot_banner(fleet: SimFleet) -> None:
    instance = _free_sitl_instance()
    sitl = SitlInstance("/nonexistent/arducopter", instance=instance)
    tcp = TcpBridge(fleet.vehicles[0].port, banner=SITL_48_BANNER)
    await tcp.start(sitl.tcp_port)
    try:
        await sitl.wait_ready(20.0, stable_s=0.5)  # raised "invalid MAVLink prefix" before the fix
    finally:
        await tcp.stop()
    assert tcp.connections  # it really read through the bridge


async def test_simulator_reads_frames_after_text_in_the_same_datagram(fleet: SimFleet) -> None:
    vehicle_port = fleet.vehicles[0].port
    gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    gcs.robust_parsing = True
    heartbeat = gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0).pack(gcs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    try:
        sock.sendto(SITL_48_BANNER + heartbeat, ("127.0.0.1", vehicle_port))
        deadline = loop.time() + 5.0
        heard_from_vehicle = False
        while not heard_from_vehicle and loop.time() < deadline:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                await asyncio.sleep(0.02)
                continue
            heard_from_vehicle = any(m.get_type() == "HEARTBEAT" for m in gcs.parse_buffer(data) or [])
    finally:
        sock.close()
    # The simulator only talks to a peer once it has decoded a valid frame from it.
    assert heard_from_vehicle
    assert fleet.vehicles[0].stats.messages_in >= 1
