"""DroneSession: real MAVLink messages in, samples with the drone's latest status and events out."""

from __future__ import annotations

from app.telemetry.decode import REBOOT_BACKSTEP_MS, DroneSession
from app.telemetry.records import Event
from tests.telemetry.mavbytes import AUTO, FakeDrone

NOW_MS = 1_800_000_000_000


def test_position_becomes_a_sample_carrying_the_latest_status() -> None:
    drone, session, events = FakeDrone(5), DroneSession(42), list[Event]()
    for data in (
        drone.heartbeat(custom_mode=AUTO, armed=True),
        drone.packet(
            "SYS_STATUS",
            onboard_control_sensors_present=0,
            onboard_control_sensors_enabled=0,
            onboard_control_sensors_health=0,
            load=0,
            voltage_battery=15800,
            current_battery=1250,
            battery_remaining=77,
            drop_rate_comm=0,
            errors_comm=0,
            errors_count1=0,
            errors_count2=0,
            errors_count3=0,
            errors_count4=0,
        ),
        drone.packet(
            "GPS_RAW_INT",
            time_usec=0,
            fix_type=3,
            lat=0,
            lon=0,
            alt=0,
            eph=87,
            epv=65535,
            vel=0,
            cog=0,
            satellites_visible=14,
        ),
        drone.packet("MISSION_CURRENT", seq=6),
    ):
        assert session.feed(drone.message(data), NOW_MS, events) is None
    session.context = (11, 12, 1)
    sample = session.feed(drone.message(drone.position(60_000, 30.25, 120.17)), NOW_MS + 5, events)
    assert sample is not None
    assert (sample.drone_id, sample.time_boot_ms, sample.boot_id) == (42, 60_000, NOW_MS + 5 - 60_000)
    assert sample.time.timestamp() * 1000 == NOW_MS + 5
    assert (sample.lat_deg, sample.lon_deg, sample.alt_amsl_m, sample.alt_rel_m) == (
        30.25,
        120.17,
        50.0,
        30.0,
    )
    assert (sample.groundspeed_mps, sample.climb_mps, sample.heading_deg) == (5.0, 1.0, 90.0)
    assert (sample.battery_pct, sample.voltage_v, sample.current_a) == (77, 15.8, 12.5)
    assert (sample.mode, sample.armed, sample.mission_seq) == ("AUTO", True, 6)
    assert (sample.gps_fix_type, sample.satellites, sample.hdop) == (3, 14, 0.87)
    assert (sample.upload_id, sample.mission_id, sample.sortie) == (11, 12, 1)
    assert sample.grid_code is None


def test_flight_context_is_attached_only_while_armed() -> None:
    drone, session, events = FakeDrone(5), DroneSession(1), list[Event]()
    session.context = (11, 12, 0)
    session.feed(drone.message(drone.heartbeat(armed=False)), NOW_MS, events)
    sample = session.feed(drone.message(drone.position(1000, 30.0, 120.0)), NOW_MS, events)
    assert sample is not None and sample.upload_id is None and sample.mission_id is None


def test_time_boot_going_back_starts_a_new_boot_session_but_reordering_does_not() -> None:
    drone, session, events = FakeDrone(5), DroneSession(1), list[Event]()

    def boot_at(tbm: int, now_ms: int) -> int:
        sample = session.feed(drone.message(drone.position(tbm, 30.0, 120.0)), now_ms, events)
        assert sample is not None
        return sample.boot_id

    first = boot_at(50_000, NOW_MS)
    assert boot_at(50_200, NOW_MS + 210) == first
    assert boot_at(50_100, NOW_MS + 220) == first  # a datagram overtaken by the previous one
    rebooted = boot_at(50_200 - REBOOT_BACKSTEP_MS - 1, NOW_MS + 30_000)
    assert rebooted != first and rebooted == NOW_MS + 30_000 - (50_200 - REBOOT_BACKSTEP_MS - 1)


def test_positions_without_a_fix_or_out_of_range_are_counted_not_sampled() -> None:
    drone, session, events = FakeDrone(5), DroneSession(1), list[Event]()
    assert session.feed(drone.message(drone.position(10, 0.0, 0.0)), NOW_MS, events) is None
    assert session.feed(drone.message(drone.position(20, 95.0, 120.0)), NOW_MS, events) is None
    assert session.invalid_positions == 2
    assert session.feed(drone.message(drone.position(30, 30.0, 120.0)), NOW_MS, events) is not None


def test_state_changes_become_events_once_each() -> None:
    drone, session, events = FakeDrone(5), DroneSession(1), list[Event]()
    for data in (
        drone.heartbeat(),
        drone.heartbeat(),
        drone.heartbeat(armed=True),
        drone.heartbeat(custom_mode=AUTO, armed=True),
        drone.packet("MISSION_CURRENT", seq=1),
        drone.packet("MISSION_CURRENT", seq=1),
        drone.packet("MISSION_ITEM_REACHED", seq=1),
        drone.packet("STATUSTEXT", severity=2, text="Radio Failsafe"),
        drone.heartbeat(custom_mode=AUTO, armed=True, system_status=5),
        drone.packet(
            "HOME_POSITION",
            latitude=302590000,
            longitude=1201690000,
            altitude=5000,
            x=0,
            y=0,
            z=0,
            q=[1, 0, 0, 0],
            approach_x=0,
            approach_y=0,
            approach_z=0,
        ),
    ):
        session.feed(drone.message(data), NOW_MS, events)
    assert [(e.kind, e.text) for e in events] == [
        ("mode", "GUIDED"),
        ("armed", "disarmed"),
        ("armed", "armed"),
        ("mode", "AUTO"),
        ("mission_current", "mission item 1 current"),
        ("mission_reached", "mission item 1 reached"),
        ("statustext", "Radio Failsafe"),
        ("failsafe", "Radio Failsafe"),
        ("failsafe", "system status CRITICAL"),
        ("home", "home 30.2590000,120.1690000 alt 5.0 m"),
    ]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), "event keys are unique and increasing"
