"""The seeded lossy proxy and the fleet, on real UDP sockets."""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from typing import Any, cast

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.fleet import SimFleet, add_cli_arguments, fleet_configs
from simulator.geo import distance_m
from simulator.lossy_proxy import LossyUdpProxy
from tests.sim.gcs import HOME_LAT_DEG, HOME_LON_DEG, Gcs, VehicleThread, config, home_placeholder, waypoint

HEARTBEAT_ID = mavlink.MAVLINK_MSG_ID_HEARTBEAT
PING_ID = mavlink.MAVLINK_MSG_ID_SYSTEM_TIME


def _frames(mav: Any, msgid: int, count: int) -> list[bytes]:
    frames = []
    for index in range(count):
        if msgid == HEARTBEAT_ID:
            msg = mav.heartbeat_encode(6, 8, 0, 0, 0)
        else:
            msg = mav.system_time_encode(index, index)
        frames.append(msg.pack(mav))
    return frames


async def _echo_server() -> tuple[asyncio.DatagramTransport, int, list[bytes]]:
    received: list[bytes] = []

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # The selector datagram transport does not subclass DatagramTransport.
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(data)
            self.transport.sendto(data, addr)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0)
    )
    return transport, transport.get_extra_info("sockname")[1], received


async def _blast(port: int, frames: list[bytes]) -> list[bytes]:
    """Send each frame as one datagram through the proxy and collect what comes back."""
    loop = asyncio.get_running_loop()
    replies: list[bytes] = []

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            replies.append(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    for index, frame in enumerate(frames):
        transport.sendto(frame)
        if index % 20 == 0:
            await asyncio.sleep(0.002)
    await asyncio.sleep(0.5)
    transport.close()
    return replies


async def test_proxy_drops_the_configured_fraction_each_way_reproducibly() -> None:
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    frames = _frames(mav, PING_ID, 2000)
    outcomes = []
    for _ in range(2):
        server, server_port, received = await _echo_server()
        async with LossyUdpProxy(
            "127.0.0.1", 0, "127.0.0.1", server_port, loss_up=0.2, loss_down=0.1, seed=3
        ) as proxy:
            replies = await _blast(proxy.port, frames)
            assert proxy.up.forwarded + proxy.up.dropped == 2000
            assert proxy.up.dropped / 2000 == pytest.approx(0.2, abs=0.03)
            assert proxy.down.dropped / proxy.up.forwarded == pytest.approx(0.1, abs=0.03)
            assert len(received) == proxy.up.forwarded
            assert len(replies) == proxy.down.forwarded
            outcomes.append((proxy.up.dropped, proxy.down.dropped))
        server.close()
    assert outcomes[0] == outcomes[1]  # same seed, same traffic: same losses


async def test_proxy_with_only_msg_ids_drops_only_those_types() -> None:
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    mixed = [
        frame
        for pair in zip(_frames(mav, HEARTBEAT_ID, 300), _frames(mav, PING_ID, 300), strict=True)
        for frame in pair
    ]
    server, server_port, received = await _echo_server()
    async with LossyUdpProxy(
        "127.0.0.1", 0, "127.0.0.1", server_port, loss_up=1.0, seed=1, only_msg_ids=frozenset({PING_ID})
    ) as proxy:
        await _blast(proxy.port, mixed)
        assert proxy.up.dropped == 300 and proxy.up.forwarded == 300
    server.close()
    assert {frame[7] for frame in received} == {HEARTBEAT_ID}


def test_mission_upload_survives_20_percent_loss_each_way() -> None:
    """Lost requests are re-requested by the vehicle; a lost final ACK is settled by reading back."""
    with VehicleThread(config()) as handle:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        proxy = LossyUdpProxy("127.0.0.1", 0, "127.0.0.1", handle.port, loss_up=0.2, loss_down=0.2, seed=5)
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(5)
        items = [home_placeholder()] + [waypoint(seq, seq * 10.0, 0, 30) for seq in range(1, 20)]
        try:
            with Gcs(proxy.port) as gcs:
                ack = None
                requested = False
                settled_by_readback = False
                gcs.mav.mission_count_send(1, 1, len(items), 0)
                deadline = time.monotonic() + 30
                while ack is None and not settled_by_readback and time.monotonic() < deadline:
                    msg = gcs.recv(["MISSION_REQUEST", "MISSION_ACK", "MISSION_COUNT"], 1.5)
                    if msg is None:
                        if requested:
                            # Silence: either a request and its repeats were lost, or the final ACK
                            # was (it is never resent). Asking for the list tells which: DENIED
                            # while the upload still runs, a MISSION_COUNT once it is over.
                            gcs.mav.mission_request_list_send(1, 1, 0)
                        else:
                            gcs.mav.mission_count_send(1, 1, len(items), 0)
                    elif msg.get_type() == "MISSION_COUNT":
                        settled_by_readback = msg.count == len(items)
                    elif msg.get_type() == "MISSION_ACK":
                        if msg.type not in (mavlink.MAV_MISSION_INVALID_SEQUENCE, mavlink.MAV_MISSION_DENIED):
                            ack = msg.type  # INVALID_SEQUENCE answers our duplicate reply; DENIED the list
                    else:
                        requested = True
                        gcs.send_item(items[msg.seq])
            assert ack in (None, mavlink.MAV_MISSION_ACCEPTED)
            stored = handle.vehicle.mission_items
            assert [(item.x, item.y) for item in stored[1:]] == [(item.x, item.y) for item in items[1:]]
            assert proxy.up.dropped > 0 and proxy.down.dropped > 0
        finally:
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


def test_fleet_configs_give_distinct_ports_sysids_and_spaced_homes() -> None:
    configs = fleet_configs(4, 15000, HOME_LON_DEG, HOME_LAT_DEG, spacing_m=5.0, first_sysid=10)
    assert [c.port for c in configs] == [15000, 15001, 15002, 15003]
    assert [c.sysid for c in configs] == [10, 11, 12, 13]
    assert len({c.seed for c in configs}) == 4
    first, second = configs[0], configs[1]
    assert distance_m(first.home_lat_deg, first.home_lon_deg, second.home_lat_deg, second.home_lon_deg) == (
        pytest.approx(5.0, abs=0.01)
    )
    with pytest.raises(ValueError, match="system ids"):
        fleet_configs(10, 0, HOME_LON_DEG, HOME_LAT_DEG, first_sysid=250)


async def test_fleet_vehicles_answer_on_their_own_ports_with_their_own_sysids() -> None:
    async with SimFleet(3, 0, HOME_LON_DEG, HOME_LAT_DEG, speedup=5.0) as fleet:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        for vehicle in fleet:
            sock.sendto(gcs.heartbeat_encode(6, 8, 0, 0, 0).pack(gcs), ("127.0.0.1", vehicle.port))
        seen: dict[int, int] = {}
        parser = mavlink.MAVLink(None)
        deadline = loop.time() + 3.0
        while len(seen) < 3 and loop.time() < deadline:
            try:
                data, addr = sock.recvfrom(4096)
            except BlockingIOError:
                await asyncio.sleep(0.02)
                continue
            for msg in parser.parse_buffer(data) or []:
                if msg.get_type() == "HEARTBEAT":
                    seen[addr[1]] = msg.get_srcSystem()
        sock.close()
        assert seen == {vehicle.port: vehicle.sysid for vehicle in fleet}
        assert sorted(seen.values()) == [1, 2, 3]


def test_cli_arguments_parse_into_a_fleet_description() -> None:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    args = parser.parse_args(
        ["--count", "3", "--base-port", "15500", "--home", "120.1,30.2", "--speedup", "5"]
    )
    assert (args.count, args.base_port, args.home, args.speedup) == (3, 15500, (120.1, 30.2), 5.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--home", "30.2"])
