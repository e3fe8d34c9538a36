"""Malformed and hostile MAVLink over real UDP against the running service (issue 13, item 3).

Three simulated vehicles are registered through the API: a victim and a bystander on unsigned
links, and a signing vehicle. Each test sends one kind of bad input from a stranger's socket to a
link's local port and checks that it is counted (in the drone state API's ``link`` counters) and
logged (rate-limited), that nothing of it reaches the vehicle's state or the telemetry table, and
that the attacked link's genuine traffic and every other link keep flowing and being stored.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.link.manager import LinkManager
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.conftest import auth, wipe_district
from tests.link import hostile
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG

KEY = bytes.fromhex("5e" * 16 + "a7" * 16)
WRONG_KEY = bytes(range(32))
FAR_LAT_DEG, FAR_LON_DEG = -33.8568, 151.2153  # where no test vehicle ever is
COUNT_TIMEOUT_S = 5.0
FLOOD_DATAGRAMS = 100_000
API_BOUND_S = 2.0  # liveness, not performance: a stalled loop would take the whole flood's time


@dataclass
class Drone:
    id: int
    sysid: int
    sim: SimVehicle

    @property
    def key(self) -> str:
        return str(self.id)


@dataclass
class District:
    app: FastAPI
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    headers: dict[str, str]
    victim: Drone
    bystander: Drone
    signed: Drone
    anomalies: list[logging.LogRecord]

    @property
    def manager(self) -> LinkManager:
        manager: LinkManager = self.app.state.flights.manager
        return manager

    def local_port(self, drone: Drone) -> int:
        port: int = self.manager.vehicle(drone.key).link.transport.local_port  # type: ignore[attr-defined]
        return port

    def link_name(self, drone: Drone) -> str:
        return self.manager.vehicle(drone.key).link.name

    async def counters(self, drone: Drone) -> dict[str, Any]:
        r = await self.client.get(f"/drones/{drone.id}/state", headers=self.headers)
        assert r.status_code == 200, r.text
        link: dict[str, Any] = r.json()["link"]
        return link

    async def wait_counted(
        self, drone: Drone, before: dict[str, Any], expected: dict[str, int]
    ) -> dict[str, Any]:
        """Poll the API until every counter in ``expected`` rose by exactly that much (never more)."""
        deadline = time.monotonic() + COUNT_TIMEOUT_S
        while True:
            now = await self.counters(drone)
            rises = {name: now[name] - before[name] for name in expected}
            if rises == expected or time.monotonic() > deadline:
                await asyncio.sleep(0.1)  # anything still in flight would overshoot now
                now = await self.counters(drone)
                assert {name: now[name] - before[name] for name in expected} == expected
                return now
            await asyncio.sleep(0.05)

    def assert_logged(self, drone: Drone, kind: str) -> None:
        """The kind was logged for this link: now, or earlier within the rate limit's interval."""
        name = self.link_name(drone)
        assert any(
            getattr(r, "anomaly", None) == kind and getattr(r, "link", None) == name for r in self.anomalies
        ), f"no {kind} warning for {name}"

    async def still_flowing(self, *drones: Drone) -> None:
        """Each drone's next genuine position arrives after the attack and is stored."""
        heard: list[tuple[int, int]] = []
        for drone in drones:
            with self.manager.subscribe(drone.key, names="GLOBAL_POSITION_INT") as positions:
                msg = await positions.next(5.0)
            assert msg is not None, f"drone {drone.id} fell silent"
            heard.append((drone.id, msg.get_int("time_boot_ms")))
        await self.app.state.telemetry.flushed()
        async with self.pool.acquire() as conn:
            for drone_id, tbm in heard:
                stored = await conn.fetchval(
                    "SELECT count(*) FROM telemetry_samples WHERE drone_id = $1 AND time_boot_ms = $2",
                    drone_id,
                    tbm,
                )
                assert stored == 1, f"drone {drone_id}'s position at {tbm} ms not stored"

    async def nothing_stored_at_far_point(self) -> None:
        await self.app.state.telemetry.flushed()
        async with self.pool.acquire() as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM telemetry_samples WHERE lat_deg < -30 AND lon_deg > 150"
            )
        assert count == 0


class _Collect(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture(scope="module")
def anomaly_records() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logger = logging.getLogger("app.link.anomalies")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _config(sysid: int, *, key: bytes | None = None) -> VehicleConfig:
    return VehicleConfig(
        sysid=sysid,
        port=0,
        home_lon_deg=HOME_LON_DEG + 0.0003 * sysid,
        home_lat_deg=HOME_LAT_DEG,
        speedup=10.0,
        signing_key=key,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def district(
    app: FastAPI,
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    role_tokens: dict[str, str],
    anomaly_records: list[logging.LogRecord],
) -> AsyncIterator[District]:
    await wipe_district(pool)
    headers = auth(role_tokens["admin"])
    async with (
        SimVehicle(_config(1)) as victim,
        SimVehicle(_config(2)) as bystander,
        SimVehicle(_config(3, key=KEY)) as signed,
    ):
        drones = []
        for sim, key in ((victim, None), (bystander, None), (signed, KEY)):
            body: dict[str, Any] = {
                "name": f"hostile-{sim.sysid}",
                "kind": "sim",
                "endpoint": f"udpout:127.0.0.1:{sim.port}",
                "sysid": sim.sysid,
                "home": {"lon_deg": sim.config.home_lon_deg, "lat_deg": sim.config.home_lat_deg},
            }
            if key is not None:
                body["signing_key"] = key.hex()
            r = await client.post("/drones", headers=headers, json=body)
            assert r.status_code == 201, r.text
            drones.append(Drone(r.json()["id"], sim.sysid, sim))
        for drone in drones:
            await app.state.flights.vehicle(drone.id).wait_online(10.0)
        try:
            victim_drone, bystander_drone, signed_drone = drones
            yield District(
                app, client, pool, headers, victim_drone, bystander_drone, signed_drone, anomaly_records
            )
        finally:
            for drone in drones:
                await client.delete(f"/drones/{drone.id}", headers=headers)


async def test_random_bytes_are_counted_and_every_link_keeps_flowing(district: District) -> None:
    d = district
    garbage = hostile.random_datagrams(seed=13, count=600)
    before = await d.counters(d.victim)
    await hostile.inject(d.local_port(d.victim), garbage)
    deadline = time.monotonic() + COUNT_TIMEOUT_S
    while True:
        after = await d.counters(d.victim)
        dropped = sum(after[k] - before[k] for k in ("rx_bad_data", "rx_bad_crc", "rx_unknown_msgs"))
        if dropped >= len(garbage) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert dropped >= len(garbage)  # every datagram held at least one bad frame or run of noise
    assert after["rx_bytes"] - before["rx_bytes"] >= sum(map(len, garbage))
    d.assert_logged(d.victim, "bad_data")
    assert d.manager.state(d.victim.key).mode != "LAND"
    await d.still_flowing(d.victim, d.bystander)


async def test_truncated_frames_are_counted_one_each(district: District) -> None:
    d = district
    frame = hostile.heartbeat(hostile.sender(d.victim.sysid))
    cuts = hostile.truncations(frame)
    before = await d.counters(d.victim)
    await hostile.inject(d.local_port(d.victim), cuts)
    await d.wait_counted(d.victim, before, {"rx_bad_data": len(cuts), "rx_sysid_conflicts": 0})
    d.assert_logged(d.victim, "bad_data")
    assert d.manager.state(d.victim.key).mode != "LAND"
    await d.still_flowing(d.victim, d.bystander)


async def test_frames_with_a_wrong_crc_are_counted_and_not_believed(district: District) -> None:
    d = district
    mav = hostile.sender(d.victim.sysid)
    frames = [hostile.wrong_crc(hostile.heartbeat(mav)) for _ in range(50)]
    frames += [
        hostile.wrong_crc(hostile.position(mav, lat_deg=FAR_LAT_DEG, lon_deg=FAR_LON_DEG)) for _ in range(50)
    ]
    before = await d.counters(d.victim)
    await hostile.inject(d.local_port(d.victim), frames)
    await d.wait_counted(d.victim, before, {"rx_bad_crc": 100, "rx_sysid_conflicts": 0})
    d.assert_logged(d.victim, "bad_crc")
    assert d.manager.state(d.victim.key).mode != "LAND"
    await d.still_flowing(d.victim, d.bystander)
    await d.nothing_stored_at_far_point()


async def test_unknown_message_ids_are_counted_and_dropped(district: District) -> None:
    d = district
    frames = [hostile.unknown_message(d.victim.sysid, seq) for seq in range(100)]
    before = await d.counters(d.victim)
    await hostile.inject(d.local_port(d.victim), frames)
    await d.wait_counted(d.victim, before, {"rx_unknown_msgs": 100, "rx_bad_crc": 0})
    d.assert_logged(d.victim, "unknown_msg")
    await d.still_flowing(d.victim, d.bystander)


async def test_oversize_lengths_are_counted_and_do_not_swallow_the_next_datagram(district: District) -> None:
    d = district
    claim = hostile.oversize_length(hostile.heartbeat(hostile.sender(d.victim.sysid)))
    neighbour = hostile.sender(78)  # a system id registered nowhere, so only the link sees it
    datagrams = []
    for _ in range(40):
        datagrams += [claim, hostile.heartbeat(neighbour)]
    datagrams.append(b"\xfd\xff" + bytes(60_000))  # one near-maximal datagram: a claimed frame, then zeros
    before = await d.counters(d.victim)
    with d.manager.subscribe_link(d.link_name(d.victim)) as everything:
        await hostile.inject(d.local_port(d.victim), datagrams)
        await d.wait_counted(d.victim, before, {"rx_bad_data": 41, "rx_sysid_conflicts": 0})
        neighbours = [m for m in everything.drain() if m.sysid == 78]
    assert len(neighbours) == 40  # each frame after a claim that ran past its datagram still decoded
    d.assert_logged(d.victim, "bad_data")
    await d.still_flowing(d.victim, d.bystander)


async def test_mavlink1_frames_are_counted_and_unregistered_samples_not_stored(district: District) -> None:
    d = district
    stranger = 77  # registered nowhere
    frames = [hostile.mavlink1_heartbeat(stranger) for _ in range(10)]
    frames += [
        hostile.position(hostile.sender(stranger), lat_deg=FAR_LAT_DEG, lon_deg=FAR_LON_DEG, time_boot_ms=ms)
        for ms in range(1000, 1010)
    ]
    before = await d.counters(d.victim)
    await hostile.inject(d.local_port(d.victim), frames)
    await d.wait_counted(d.victim, before, {"rx_mavlink1": 10, "rx_sysid_conflicts": 0})
    d.assert_logged(d.victim, "mavlink1")
    await d.still_flowing(d.victim, d.bystander)
    await d.nothing_stored_at_far_point()


async def test_a_second_vehicle_reusing_a_sysid_cannot_hijack_the_first(district: District) -> None:
    d = district
    impostor = hostile.sender(d.victim.sysid)
    frames = []
    for ms in range(50):
        frames.append(hostile.heartbeat(impostor))
        frames.append(hostile.position(impostor, lat_deg=FAR_LAT_DEG, lon_deg=FAR_LON_DEG, time_boot_ms=ms))
    before = await d.counters(d.victim)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        await hostile.inject(d.local_port(d.victim), frames, sock=sock)
        await d.wait_counted(d.victim, before, {"rx_sysid_conflicts": 100, "rx_bad_crc": 0})
    state = d.manager.state(d.victim.key)
    assert state.mode != "LAND" and not state.armed
    assert state.lat_deg is not None and abs(state.lat_deg - HOME_LAT_DEG) < 0.01
    d.assert_logged(d.victim, "sysid_conflict")
    await d.still_flowing(d.victim, d.bystander)
    await d.nothing_stored_at_far_point()


async def test_a_udpin_link_keeps_replying_to_its_vehicle_not_to_a_stranger() -> None:
    """On ``udpin`` the link replies to its sender: garbage and a conflicting sysid must not move that."""
    async with LinkManager() as manager:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        vehicle = await manager.add_drone("udpin", f"udpin:127.0.0.1:{port}", 5)
        loop = asyncio.get_running_loop()
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as drone,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger,
        ):
            for sock in (drone, stranger):
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            await loop.sock_sendto(
                drone, hostile.heartbeat(hostile.sender(5), custom_mode=4), ("127.0.0.1", port)
            )
            await vehicle.wait_online(2.0)
            attack = [*hostile.random_datagrams(seed=5, count=20), hostile.heartbeat(hostile.sender(5))]
            await hostile.inject(port, attack, sock=stranger)
            await asyncio.sleep(0.2)
            vehicle.link.send_heartbeat()
            reply = await asyncio.wait_for(loop.sock_recv(drone, 4096), 2.0)
            assert reply[0] == 0xFD and reply[5] == manager.gcs_sysid  # the GCS heartbeat reached the drone
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(stranger, 4096), 0.3)
        assert vehicle.link.stats.rx_sysid_conflicts == 1
        assert vehicle.state().mode == "GUIDED"


async def test_signed_link_drops_unsigned_wrong_key_and_replayed_packets(district: District) -> None:
    d = district
    genuine = await hostile.capture_signed_stream(d.signed.sim.port, KEY, 30)
    await asyncio.sleep(0.3)  # the service has now seen newer packets than every captured one
    sysid = d.signed.sysid
    unsigned = [hostile.heartbeat(hostile.sender(sysid)) for _ in range(30)]
    wrong_key = [hostile.heartbeat(hostile.sender(sysid, key=WRONG_KEY)) for _ in range(30)]
    before = await d.counters(d.signed)
    await hostile.inject(d.local_port(d.signed), unsigned + wrong_key + genuine)
    await d.wait_counted(
        d.signed,
        before,
        {"rx_unsigned_dropped": 30, "rx_bad_signature": 30, "rx_replayed": 30, "rx_sysid_conflicts": 0},
    )
    for kind in ("unsigned", "bad_signature", "replayed"):
        d.assert_logged(d.signed, kind)
    assert d.manager.state(d.signed.key).mode != "LAND"
    await d.still_flowing(d.signed, d.victim, d.bystander)


async def test_a_flood_from_one_link_stalls_neither_the_api_nor_the_other_links(district: District) -> None:
    d = district
    before = await d.counters(d.victim)
    records_before = len(d.anomalies)
    bystander_positions = d.manager.subscribe(d.bystander.key, names="GLOBAL_POSITION_INT")
    flood = hostile.start_flood(d.local_port(d.victim), FLOOD_DATAGRAMS)
    worst_s = 0.0
    probes = 0
    try:
        while flood.poll() is None or probes < 30:  # at least 1.5 s, so the bystander is heard
            started = time.monotonic()
            r = await d.client.get("/healthz")
            worst_s = max(worst_s, time.monotonic() - started)
            assert r.status_code == 200
            probes += 1
            await asyncio.sleep(0.05)
        stdout, _ = flood.communicate(timeout=30)
        during = len(bystander_positions.drain())
    finally:
        if flood.poll() is None:
            flood.kill()
        bystander_positions.close()
    sent = int(stdout)
    after = await d.counters(d.victim)
    received = after["rx_bytes"] - before["rx_bytes"]
    dropped = sum(after[k] - before[k] for k in ("rx_bad_data", "rx_bad_crc", "rx_unknown_msgs"))
    logged = [r for r in d.anomalies[records_before:] if getattr(r, "link", None) == d.link_name(d.victim)]
    seen = (
        f"sent {sent}, {received} bytes and {dropped} bad frames counted, {len(logged)} warnings, worst API "
        f"answer {worst_s * 1000:.0f} ms over {probes} probes, {during} bystander positions meanwhile"
    )
    assert sent > FLOOD_DATAGRAMS // 2, seen
    assert dropped > 1000, seen  # the link read and counted the flood (the kernel may drop the rest)
    assert worst_s < API_BOUND_S, seen
    assert during > 0, seen
    assert len(logged) <= 10, seen  # a handful of rate-limited lines, not one per datagram
    await d.still_flowing(d.victim, d.bystander, d.signed)
