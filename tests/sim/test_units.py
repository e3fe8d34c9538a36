"""Pure parts of the simulator: the AP_Mission storage codec, fence validation, and the flight
logic stepped directly (deterministic, no sockets)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot, Location
from simulator.faults import Faults
from simulator.mavenums import MissionResult, MissionState, Severity
from simulator.mission_store import FenceItem, WireItem, store_mission_item, validate_fence
from simulator.params import ParamStore, default_param_defs
from tests.sim.gcs import HOME_LAT_DEG, HOME_LON_DEG, waypoint

CMD = mavlink


def test_stored_items_read_back_in_arducopter_normal_form() -> None:
    result, stored = store_mission_item(waypoint(3, 10, 10, 12.345, param1=4.7, param2=2.0, param4=math.nan))
    assert result is MissionResult.ACCEPTED and stored is not None
    assert stored.frame == mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
    assert stored.z == pytest.approx(12.34, abs=1e-5)  # centimetres, truncated
    assert (stored.param1, stored.param2, stored.param4) == (4.0, 0.0, 0.0)  # Copter keeps only the delay
    _, absolute = store_mission_item(
        WireItem(seq=1, command=16, frame=mavlink.MAV_FRAME_GLOBAL_INT, x=1, y=1, z=30)
    )
    assert absolute is not None and absolute.frame == mavlink.MAV_FRAME_GLOBAL
    _, turns = store_mission_item(
        waypoint(1, 0, 0, 20, command=CMD.MAV_CMD_NAV_LOITER_TURNS, param1=2.5, param3=-30)
    )
    assert turns is not None and (turns.param1, turns.param3) == (2.0, -30.0)
    _, loiter = store_mission_item(waypoint(1, 0, 0, 20, command=CMD.MAV_CMD_NAV_LOITER_TIME, param1=9))
    assert loiter is not None and (loiter.param1, loiter.param3) == (9.0, 1.0)
    _, speed = store_mission_item(
        WireItem(
            seq=1, command=CMD.MAV_CMD_DO_CHANGE_SPEED, frame=2, param1=1, param2=7.5, param3=-1, z=math.nan
        )
    )
    assert speed is not None and (speed.frame, speed.param2, speed.z) == (mavlink.MAV_FRAME_GLOBAL, 7.5, 0.0)


def test_fence_validation_matches_ac_polyfence() -> None:
    vertex = CMD.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    square = [FenceItem(vertex, 4.0, 10 * i, 10) for i in range(4)]
    assert validate_fence(square) is None
    assert validate_fence(square[:3]) == "Vertex count mismatch"
    assert (
        validate_fence([FenceItem(vertex, 2.0, 0, 0), FenceItem(vertex, 2.0, 1, 1)]) == "Invalid vertex count"
    )
    circle = FenceItem(CMD.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 0.0, 0, 0)
    assert validate_fence([circle]) == "Non-positive circle radius"


@dataclass
class Recorder:
    texts: list[str] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)

    def statustext(self, severity: Severity, text: str) -> None:
        self.texts.append(text)

    def mission_item_reached(self, seq: int) -> None:
        self.reached.append(seq)

    def mission_current_changed(self) -> None:
        pass

    def home_changed(self) -> None:
        pass


def make_autopilot(seed: int = 1, wind_mps: float = 0.0) -> tuple[Autopilot, Recorder]:
    clock = {"t": 0.0}
    params = ParamStore(default_param_defs(sysid=1, speedup=1.0, battery_cells=4, capacity_mah=5200))
    recorder = Recorder()
    autopilot = Autopilot(
        home_lat_deg=HOME_LAT_DEG,
        home_lon_deg=HOME_LON_DEG,
        home_alt_amsl_m=5.0,
        params=params,
        faults=Faults(seed, lambda: clock["t"], lambda: clock["t"]),
        listener=recorder,
        seed=seed,
        boot_time_to_ready_s=1.0,
        gps_noise_m=0.5,
        wind_mps=wind_mps,
        battery_cells=4,
        battery_capacity_wh=77.0,
        mission_capacity=100,
        fence_capacity=20,
        rally_capacity=5,
    )
    return autopilot, recorder


def run(autopilot: Autopilot, seconds: float) -> None:
    for _ in range(round(seconds / 0.05)):
        autopilot.step(0.05)


def fly_to(autopilot: Autopilot, north_m: float, east_m: float, alt_rel_m: float, seconds: float) -> None:
    lat, lon = autopilot.frame.to_latlon(north_m, east_m)
    assert autopilot.guided_goto(Location(lat, lon, autopilot.home_alt_amsl_m + alt_rel_m))
    run(autopilot, seconds)


def airborne(seed: int = 1, wind_mps: float = 0.0) -> tuple[Autopilot, Recorder]:
    autopilot, recorder = make_autopilot(seed, wind_mps)
    run(autopilot, 1.5)
    assert autopilot.set_mode("GUIDED")
    assert autopilot.arm() == 0
    assert autopilot.takeoff(20) == 0
    run(autopilot, 15)
    return autopilot, recorder


def test_flight_is_deterministic_for_a_seed_and_wind_gusts_depend_on_it() -> None:
    tracks = []
    for seed in (4, 4, 5):
        autopilot, _ = airborne(seed, wind_mps=6.0)
        fly_to(autopilot, 150, 80, 25, 40)
        here = autopilot.location
        tracks.append(
            (here.lat_deg, here.lon_deg, autopilot.battery.remaining_wh, autopilot.gps_location.lat_deg)
        )
    assert tracks[0] == tracks[1]
    assert tracks[0] != tracks[2]


def test_headwind_beyond_the_airspeed_limit_costs_groundspeed_and_energy() -> None:
    calm, _ = airborne(wind_mps=0.0)
    windy, _ = airborne(wind_mps=12.0)  # from 180 deg: blowing north
    for autopilot in (calm, windy):
        autopilot.params.set("WPNAV_SPEED", 1000)
        lat, lon = autopilot.frame.to_latlon(-2000, 0)  # fly south, into the wind
        autopilot.guided_goto(Location(lat, lon, autopilot.home_alt_amsl_m + 20))
        run(autopilot, 20)
    assert calm.airframe.groundspeed_mps == pytest.approx(10.0, abs=0.3)
    assert windy.airframe.groundspeed_mps < 7.0
    assert windy.battery.remaining_wh < calm.battery.remaining_wh


def test_mission_runs_do_commands_loiters_counts_photos_and_lands() -> None:
    autopilot, recorder = airborne()
    roi = waypoint(5, 100, 100, 0, command=CMD.MAV_CMD_DO_SET_ROI_LOCATION)
    items = [
        waypoint(0, 0, 0, 0),
        waypoint(1, 0, 0, 20, command=CMD.MAV_CMD_NAV_TAKEOFF),
        WireItem(seq=2, command=CMD.MAV_CMD_DO_CHANGE_SPEED, frame=2, param1=1, param2=5.0),
        WireItem(seq=3, command=CMD.MAV_CMD_DO_SET_CAM_TRIGG_DIST, frame=2, param1=10.0),
        WireItem(seq=4, command=CMD.MAV_CMD_DO_SET_RELAY, frame=2, param1=0, param2=1),
        roi,
        waypoint(6, 100, 0, 20, param1=3),
        WireItem(seq=7, command=CMD.MAV_CMD_DO_SPRAYER, frame=2, param1=1),
        waypoint(8, 100, 50, 20, command=CMD.MAV_CMD_NAV_LOITER_TURNS, param1=1, param3=10),
        waypoint(9, 50, 50, 20, command=CMD.MAV_CMD_NAV_LOITER_TIME, param1=5),
        waypoint(10, 0, 0, 0, command=CMD.MAV_CMD_NAV_LAND),
    ]
    stored = []
    for item in items:
        result, kept = store_mission_item(item)
        assert kept is not None, (item, result)
        stored.append(kept)
    autopilot.mission.items = stored
    assert autopilot.set_mode("AUTO")
    run(autopilot, 240)
    assert autopilot.mission_state() is MissionState.COMPLETE
    assert not autopilot.armed and autopilot.landed and autopilot.mode == "AUTO"
    assert recorder.reached == [1, 6, 6, 8, 9, 10]  # a waypoint with a delay is reported twice
    assert autopilot.relays == {0: True} and autopilot.sprayer_on
    assert autopilot.roi is not None
    # About 100 + 50 + 2*pi*10 + 70 + 70 m flown with a photo every 10 m.
    assert 25 <= len(autopilot.photos) <= 45
    assert "Reached command #6" in recorder.texts
    north_m, east_m = autopilot.frame.to_ne(autopilot.location.lat_deg, autopilot.location.lon_deg)
    assert math.hypot(north_m, east_m) < 2.0


def test_rtl_goes_to_the_nearest_rally_point_and_disarms_there() -> None:
    autopilot, _ = airborne()
    fly_to(autopilot, 200, 0, 20, 40)
    rally = waypoint(0, 180, 20, 30, command=CMD.MAV_CMD_NAV_RALLY_POINT)
    autopilot.rally.items = [rally]
    assert autopilot.set_mode("RTL")
    run(autopilot, 120)
    assert not autopilot.armed
    north_m, east_m = autopilot.frame.to_ne(autopilot.location.lat_deg, autopilot.location.lon_deg)
    assert math.hypot(north_m - 180, east_m - 20) < 2.5


def test_gps_loss_in_flight_triggers_the_ekf_failsafe_land() -> None:
    autopilot, _recorder = airborne()
    autopilot.faults.gps_loss(30.0)
    run(autopilot, 2.0)
    assert autopilot.mode == "LAND" and autopilot.ekf_failsafe
    assert autopilot.prearm_failure() is not None
