"""A signed link rejects unsigned, wrong-key and replayed packets and survives a forged future timestamp."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.link.codec import signing_timestamp_now
from app.link.errors import LinkConflict
from app.link.manager import LinkManager, VehicleLink
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG

KEY = bytes.fromhex("a3" * 16 + "5c" * 16)
WRONG_KEY = bytes(32)
PER_KIND = 1000 // 3
LAND_MODE = 9


def _sender(key: bytes | None, *, sysid: int = 1, timestamp: int | None = None) -> mavlink.MAVLink:
    mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=1)
    if key is not None:
        mav.signing.secret_key = key
        mav.signing.sign_outgoing = True
        mav.signing.timestamp = timestamp if timestamp is not None else signing_timestamp_now()
    return mav


def _heartbeat(mav: mavlink.MAVLink, custom_mode: int = LAND_MODE) -> bytes:
    msg = mavlink.MAVLink_heartbeat_message(
        type=2, autopilot=3, base_mode=129, custom_mode=custom_mode, system_status=4, mavlink_version=3
    )
    packet = bytes(msg.pack(mav))
    mav.seq = (mav.seq + 1) % 256
    return packet


@pytest_asyncio.fixture
async def signed_vehicle() -> AsyncIterator[SimVehicle]:
    config = VehicleConfig(
        sysid=1, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG, signing_key=KEY
    )
    async with SimVehicle(config) as sim:
        yield sim


async def _capture_genuine_packets(vehicle_port: int, count: int) -> list[bytes]:
    """Join the vehicle as a second (signed) peer and record what it streams."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, _heartbeat(_sender(KEY, sysid=250)), ("127.0.0.1", vehicle_port))
        captured: list[bytes] = []
        while len(captured) < count:
            captured.append(await asyncio.wait_for(loop.sock_recv(sock, 4096), 5.0))
        return captured


async def _inject(port: int, packets: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for index, packet in enumerate(packets):
            await loop.sock_sendto(sock, packet, ("127.0.0.1", port))
            if index % 50 == 49:
                await asyncio.sleep(0.005)  # let the link drain its socket buffer


async def test_injected_packets_are_rejected_and_genuine_telemetry_keeps_flowing(
    signed_vehicle: SimVehicle, manager: LinkManager
) -> None:
    vehicle: VehicleLink = await manager.add_drone(
        "signed", f"udpout:127.0.0.1:{signed_vehicle.port}", 1, KEY
    )
    await vehicle.wait_online(10.0)
    await vehicle.request_streams({"GLOBAL_POSITION_INT": 20.0, "SYS_STATUS": 5.0})
    genuine = await _capture_genuine_packets(signed_vehicle.port, 20)
    await asyncio.sleep(0.3)  # the link has now seen newer packets than every captured one
    link = vehicle.link
    local_port = link.transport.local_port  # type: ignore[attr-defined]
    before = link.codec.stats
    unsigned, wrong_key = _sender(None), _sender(WRONG_KEY)
    attack = (
        [_heartbeat(unsigned) for _ in range(PER_KIND + 1)]
        + [_heartbeat(wrong_key) for _ in range(PER_KIND)]
        + [genuine[i % len(genuine)] for i in range(PER_KIND)]
    )
    assert len(attack) == 1000
    await _inject(local_port, attack)
    await asyncio.sleep(0.3)
    after = link.codec.stats
    assert after.rx_unsigned_dropped - before.rx_unsigned_dropped == PER_KIND + 1
    assert after.rx_bad_signature - before.rx_bad_signature == PER_KIND
    assert after.rx_replayed - before.rx_replayed == PER_KIND
    assert vehicle.state().mode != "LAND"  # none of the injected heartbeats was believed

    forged_future = _heartbeat(_sender(WRONG_KEY, timestamp=signing_timestamp_now() + 10**12))
    await _inject(local_port, [forged_future])
    await asyncio.sleep(0.1)
    heartbeats, replays = vehicle.tracker.heartbeats, link.codec.stats.rx_replayed
    await vehicle.tracker.wait_until(
        lambda t: t.heartbeats >= heartbeats + 2, timeout_s=4.0, what="heartbeats"
    )
    with vehicle.subscribe(names="GLOBAL_POSITION_INT") as positions:
        assert await positions.next(2.0) is not None
    assert link.codec.stats.rx_replayed == replays  # genuine packets are not mistaken for replays
    assert link.codec.stats.rx_bad_signature - after.rx_bad_signature == 1
    assert (
        await vehicle.get_param("SYSID_THISMAV") == 1.0
    )  # and the vehicle still accepts our signed commands


async def test_signing_key_conflict_on_a_shared_endpoint(
    signed_vehicle: SimVehicle, manager: LinkManager
) -> None:
    endpoint = f"udpout:127.0.0.1:{signed_vehicle.port}"
    await manager.add_drone("a", endpoint, 1, KEY)
    with pytest.raises(LinkConflict, match="different signing key"):
        await manager.add_drone("b", endpoint, 2, None)
