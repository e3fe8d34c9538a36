"""Boot sessions: VehicleTracker tells a reboot from a link gap by the vehicle's time since boot.

Messages are real MAVLink bytes (encoded as a vehicle would, decoded by the service's codec); the
receive time is set on each decoded message so a minute of silence costs no wall time. The last
test restarts a simulated vehicle on the same UDP port.
"""

from __future__ import annotations

import dataclasses

from app.link.codec import MavlinkCodec
from app.link.constants import MavAutopilot, MavModeFlag, MavType
from app.link.manager import LinkManager
from app.link.vehicle import VehicleTracker
from simulator.vehicle import SimVehicle, VehicleConfig
from tests.link.simkit import HOME_LAT_DEG, HOME_LON_DEG, SPEEDUP, e7, link_vehicle

SYSID = 7
T0_S = 1000.0


class FakeVehicle:
    """Encodes what an ArduCopter sends about its clock and mission, with chosen receive times."""

    def __init__(self) -> None:
        self.vehicle = MavlinkCodec(src_system=SYSID, src_component=1)
        self.gcs = MavlinkCodec(src_system=255, src_component=190)
        self.tracker = VehicleTracker("d1", SYSID, online_timeout_s=3.0)

    def _feed(self, data: bytes, at_s: float) -> None:
        for msg in self.gcs.decode(data, datagram=True):
            self.tracker.update(dataclasses.replace(msg, received_monotonic_s=at_s))

    def position(self, time_boot_ms: int, at_s: float) -> None:
        self._feed(
            self.vehicle.encode(
                "GLOBAL_POSITION_INT",
                time_boot_ms=time_boot_ms,
                lat=e7(HOME_LAT_DEG),
                lon=e7(HOME_LON_DEG),
                alt=5000,
                relative_alt=0,
                vx=0,
                vy=0,
                vz=0,
                hdg=0,
            ),
            at_s,
        )

    def system_time(self, time_boot_ms: int, at_s: float) -> None:
        self._feed(self.vehicle.encode("SYSTEM_TIME", time_unix_usec=0, time_boot_ms=time_boot_ms), at_s)

    def heartbeat(self, at_s: float) -> None:
        self._feed(
            self.vehicle.encode(
                "HEARTBEAT",
                type=MavType.QUADROTOR,
                autopilot=MavAutopilot.ARDUPILOTMEGA,
                base_mode=MavModeFlag.CUSTOM_MODE_ENABLED,
                custom_mode=3,
                system_status=4,
                mavlink_version=3,
            ),
            at_s,
        )

    def mission_current(self, seq: int, total: int, at_s: float) -> None:
        self._feed(
            self.vehicle.encode("MISSION_CURRENT", seq=seq, total=total, mission_state=3, mission_mode=1),
            at_s,
        )

    def steady(self, first_ms: int, at_s: float, seconds: int, rate: float = 1.0) -> tuple[int, float]:
        """One position a second for ``seconds`` at ``rate`` vehicle seconds per wall second."""
        ms = first_ms
        for i in range(seconds + 1):
            ms = first_ms + round(i * rate * 1000)
            self.position(ms, at_s + i)
        return ms, at_s + seconds


def test_first_time_since_boot_opens_boot_session_one() -> None:
    v = FakeVehicle()
    v.heartbeat(T0_S)
    assert v.tracker.snapshot().boot_id == 0 and not v.tracker.snapshot().boot_confirmed
    v.position(42_000, T0_S + 0.1)
    state = v.tracker.snapshot()
    assert (state.boot_id, state.boot_confirmed, state.time_boot_ms) == (1, True, 42_000)


def test_time_since_boot_going_back_is_a_new_boot_and_drops_the_old_mission_progress() -> None:
    v = FakeVehicle()
    _, at_s = v.steady(200_000, T0_S, 5)
    v.mission_current(3, 314, at_s)
    v.position(4_000, at_s + 0.2)
    state = v.tracker.snapshot()
    assert state.boot_id == 2
    assert (state.mission_seq, state.mission_total, state.mission_state) == (None, None, None)
    [boot_event] = [e for e in state.events if e.kind == "boot"]
    assert "went back from 205.0 s to 4.0 s" in boot_event.text


def test_streams_stamped_slightly_out_of_order_stay_in_one_boot() -> None:
    v = FakeVehicle()
    v.position(100_000, T0_S)
    v.system_time(99_400, T0_S + 0.01)
    v.position(100_200, T0_S + 0.2)
    assert v.tracker.boot_id == 1


def test_uptime_that_advanced_less_than_a_silence_is_a_reboot_even_without_going_back() -> None:
    v = FakeVehicle()
    _, at_s = v.steady(30_000, T0_S, 10)
    # Silent for 120 s; it rebooted early in the silence and has been up 90 s: more than the old
    # 40 s uptime, so only the shortfall against the silence gives it away.
    v.heartbeat(at_s + 120)
    assert not v.tracker.snapshot().boot_confirmed
    v.position(90_000, at_s + 120.5)
    assert v.tracker.boot_id == 2
    assert v.tracker.snapshot().boot_confirmed


def test_uptime_just_behind_after_a_silence_is_reported_as_going_back() -> None:
    v = FakeVehicle()
    last_ms, at_s = v.steady(5_000, T0_S, 10)
    # A fast simulator killed and restarted: its new clock is a little behind the old one, within
    # the reordering tolerance, but after a silence that is a new boot and reads as one.
    v.heartbeat(at_s + 6)
    v.position(last_ms - 400, at_s + 6.3)
    assert v.tracker.boot_id == 2
    boot_event = next(e for e in v.tracker.snapshot().events if e.kind == "boot")
    assert "time since boot went back from" in boot_event.text
    assert "over a 6.3 s silence" in boot_event.text


def test_uptime_that_kept_pace_with_a_silence_is_the_same_boot() -> None:
    v = FakeVehicle()
    last_ms, at_s = v.steady(30_000, T0_S, 10)
    v.heartbeat(at_s + 120)
    v.position(last_ms + 120_300, at_s + 120.3)
    state = v.tracker.snapshot()
    assert state.boot_id == 1 and state.boot_confirmed
    assert any(e.kind == "link" and "heard again after 120.0 s" in e.text for e in state.events)


def test_stale_packets_flushed_after_a_link_cut_are_the_same_boot() -> None:
    # bench/faults.py cut a link for 5 s under a simulator at 10x: when it came back the kernel
    # delivered the packets it had queued, the first one sent 3.2 s into the cut, so the clock
    # advanced 32 s over a 5.1 s silence instead of 51 s. A reboot in a 5.1 s silence could not
    # show an uptime of 340 s: the same boot, and the run in the air must not be failed.
    v = FakeVehicle()
    last_ms, at_s = v.steady(250_000, T0_S, 6, rate=10.0)
    v.heartbeat(at_s + 5.1)
    v.position(last_ms + 31_600, at_s + 5.1)
    state = v.tracker.snapshot()
    assert state.boot_id == 1 and state.boot_confirmed


def test_heartbeats_alone_through_a_gap_in_the_samples_do_not_hide_a_reboot() -> None:
    v = FakeVehicle()
    last_ms, at_s = v.steady(5_000, T0_S, 4, rate=10.0)
    for i in range(1, 7):  # the new boot's HEARTBEATs keep the link online; its streams are off
        v.heartbeat(at_s + i)
    assert v.tracker.boot_id == 1
    v.position(last_ms + 30_000, at_s + 6.5)  # 6.5 s at 10x would be 65 s on
    assert v.tracker.boot_id == 2


def test_a_simulators_clock_rate_is_learned_so_its_gaps_are_judged_at_its_speed_up() -> None:
    v = FakeVehicle()
    last_ms, at_s = v.steady(1_000, T0_S, 2, rate=25.0)
    v.heartbeat(at_s + 6)
    v.position(last_ms + 150_000, at_s + 6)  # 6 s silent at 25x: same boot
    assert v.tracker.boot_id == 1
    v.heartbeat(at_s + 16)
    # 10 s silent but only 60 s on, and up 261 s: a boot that fits in the 250 s silence, rebooted
    v.position(last_ms + 150_000 + 60_000, at_s + 16)
    assert v.tracker.boot_id == 2


def test_a_simulator_slower_than_real_time_is_not_taken_for_rebooted_after_a_gap() -> None:
    v = FakeVehicle()
    last_ms, at_s = v.steady(10_000, T0_S, 8, rate=0.5)
    v.heartbeat(at_s + 10)
    v.position(last_ms + 5_000, at_s + 10)
    assert v.tracker.boot_id == 1 and v.tracker.snapshot().boot_confirmed


def test_uint32_wrap_of_time_since_boot_is_not_a_reboot() -> None:
    v = FakeVehicle()
    v.position((1 << 32) - 500, T0_S)
    v.position(700, T0_S + 1.2)
    assert v.tracker.boot_id == 1


async def test_simulated_vehicle_restarted_on_the_same_port_is_seen_as_a_new_boot(
    manager: LinkManager,
) -> None:
    config = VehicleConfig(
        sysid=SYSID, port=0, home_lon_deg=HOME_LON_DEG, home_lat_deg=HOME_LAT_DEG, speedup=SPEEDUP
    )
    first = SimVehicle(config)
    await first.start()
    port = first.port
    try:
        vehicle = await link_vehicle(manager, first)
        await vehicle.request_streams()
        await vehicle.tracker.wait_until(
            lambda t: (t.boot.time_boot_ms or 0) > 20_000, timeout_s=10, what="20 s of uptime"
        )
        assert vehicle.tracker.boot_id == 1
    finally:
        await first.stop()
    second = SimVehicle(dataclasses.replace(config, port=port))
    await second.start()
    assert second.port == port
    try:
        await vehicle.wait_online(10.0)
        await vehicle.request_streams()
        await vehicle.tracker.wait_until(lambda t: t.boot_id == 2, timeout_s=10, what="a new boot session")
        state = vehicle.state()
        assert state.boot_confirmed and state.time_boot_ms is not None and state.time_boot_ms < 20_000
    finally:
        await second.stop()
