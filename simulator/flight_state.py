"""The autopilot's shared state, its value types, and what can be read from it.

The flight logic is one object, as ArduCopter's is: arming, the modes, mission execution and
the failsafes all read and change the same mode, position and mission. To keep each part small
it is built in layers, each module adding behaviour to the one below:

- flight_state.py (this module): the state, read-only views, home and the payload (relays,
  sprayer, camera);
- navigation.py: flying to a target (hold point, speeds, yaw, RTL/LAND/takeoff/waypoint tasks);
- mission_exec.py: AUTO, executing the stored mission item by item;
- autopilot.py: arming, mode changes, the simulation step and the failsafes.

The fence breach checks, which need no state of their own, are functions in fence_check.py.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from simulator.faults import Faults
from simulator.geo import LocalFrame
from simulator.mavenums import Cmd, Frame, MissionType, Severity
from simulator.mission_store import FenceStore, MissionStore, RallyStore, WireItem, f32
from simulator.params import ParamStore
from simulator.physics import Airframe, Battery, PowerProfile, Wind

GPS_NOISE_TIME_CONSTANT_S = 2.0


class Listener(Protocol):
    """What the autopilot announces; the vehicle turns these into MAVLink messages."""

    def statustext(self, severity: Severity, text: str) -> None: ...

    def mission_item_reached(self, seq: int) -> None: ...

    def mission_current_changed(self) -> None: ...

    def home_changed(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Location:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True, slots=True)
class Photo:
    """One camera trigger: where the vehicle was."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    sim_time_s: float


class MissionRun(Enum):
    """AP_Mission's execution state."""

    STOPPED = "stopped"
    RUNNING = "running"
    COMPLETE = "complete"


class Phase(Enum):
    APPROACH = "approach"
    HOLD = "hold"
    CIRCLE = "circle"
    CLIMB = "climb"
    RETURN = "return"
    LOITER = "loiter"
    DESCEND = "descend"
    LANDED = "landed"
    DONE = "done"


@dataclass(slots=True)
class NavTask:
    """One navigation behaviour in progress: a mission nav item, RTL, LAND or a GUIDED target."""

    command: int
    seq: int
    north_m: float
    east_m: float
    alt_amsl_m: float
    phase: Phase = Phase.APPROACH
    hold_s: float = 0.0
    phase_started_s: float = 0.0
    radius_m: float = 0.0
    turns: float = 0.0
    angle_rad: float = 0.0
    swept_rad: float = 0.0
    clockwise: bool = True
    final_alt_amsl_m: float = 0.0
    announced_arrival: bool = False


@dataclass(slots=True)
class DoState:
    """The do/condition commands queued behind the current nav command."""

    queue: list[int] = field(default_factory=list)
    wait_until_s: float | None = None
    wait_distance_m: float | None = None


class FlightState:
    """Everything the flight layers share, built from the vehicle's configuration."""

    def __init__(
        self,
        *,
        home_lat_deg: float,
        home_lon_deg: float,
        home_alt_amsl_m: float,
        params: ParamStore,
        faults: Faults,
        listener: Listener,
        seed: int,
        boot_time_to_ready_s: float,
        gps_noise_m: float,
        wind_mps: float,
        battery_cells: int,
        battery_capacity_wh: float,
        mission_capacity: int,
        fence_capacity: int,
        rally_capacity: int,
        power: PowerProfile | None = None,
    ) -> None:
        self.params = params
        self.faults = faults
        self._listener = listener
        self._rng = random.Random(f"{seed}-physics")
        self._gps_rng = random.Random(f"{seed}-gps")
        self.frame = LocalFrame(home_lat_deg, home_lon_deg)
        self.boot_time_to_ready_s = boot_time_to_ready_s
        self.gps_noise_m = gps_noise_m
        params.set("SIM_WIND_SPD", wind_mps)
        self.wind = Wind(wind_mps, params["SIM_WIND_DIR"], self._rng)
        self.airframe = Airframe(home_alt_amsl_m, self.wind)
        self.battery = Battery(
            battery_cells, battery_capacity_wh, internal_resistance_ohm=0.01 * battery_cells
        )
        self.power = power or PowerProfile()
        self.sim_time_s = 0.0
        self.mode = "STABILIZE"
        self.armed = False
        self.landed = True
        self.auto_armed = False
        self._armed_at_s = 0.0
        self._landed_since_s = 0.0
        self._touchdown_s: float | None = None
        self.home: Location | None = None
        self.home_locked = False
        self.gps_fix_type = 0
        self.ekf_ok = False
        self._gps_noise_n_m = 0.0
        self._gps_noise_e_m = 0.0
        self._gps_noise_at_s = 0.0
        # Navigation
        self._hold_n_m = 0.0
        self._hold_e_m = 0.0
        self._hold_alt_amsl_m = home_alt_amsl_m
        self._nav: NavTask | None = None
        self._guided_takeoff = False
        self.speed_override_mps: float | None = None
        self.roi: Location | None = None
        self._fixed_yaw_deg: float | None = None
        # Mission
        self.mission = MissionStore(mission_capacity, self._home_item, self._mission_running)
        self.mission.current_nav_seq = lambda: self.nav_seq
        self.fence = FenceStore(fence_capacity)
        self.rally = RallyStore(rally_capacity)
        self.mission_run = MissionRun.STOPPED
        self.nav_seq = 0
        self._mission_started = False
        self._do = DoState()
        self._jump_counts: dict[int, int] = {}
        # Payload
        self.relays: dict[int, bool] = {}
        self.servos_pwm: dict[int, int] = {}
        self.sprayer_on = False
        self.cam_trigger_dist_m = 0.0
        self._dist_since_photo_m = 0.0
        self._capture_interval_s = 0.0
        self._capture_remaining = 0
        self._next_capture_s = 0.0
        self.photos: list[Photo] = []
        # Failsafes
        self.motor_failed = False
        self.gcs_failsafe = False
        self.battery_low = False
        self.battery_critical = False
        self._low_volt_s = 0.0
        self._crit_volt_s = 0.0
        self.ekf_failsafe = False
        self._gps_lost_s = 0.0
        self.fence_breaches: frozenset[str] = frozenset()
        self.fence_breach_count = 0
        self.fence_breach_time_s = 0.0

    # ------------------------------------------------------------------------------------------
    # Read-only views
    # ------------------------------------------------------------------------------------------
    @property
    def location(self) -> Location:
        lat, lon = self.frame.to_latlon(self.airframe.north_m, self.airframe.east_m)
        return Location(lat, lon, self.airframe.alt_amsl_m)

    @property
    def gps_location(self) -> Location:
        """The GPS receiver's reading: the true position plus slow, seeded noise.

        The noise is a first-order Gauss-Markov process (fixes wander rather than jump), advanced
        lazily when a fix is read so that vehicles nobody asks for GPS cost nothing.
        """
        self._advance_gps_noise()
        lat, lon = self.frame.to_latlon(
            self.airframe.north_m + self._gps_noise_n_m, self.airframe.east_m + self._gps_noise_e_m
        )
        return Location(lat, lon, self.airframe.alt_amsl_m)

    @property
    def target_location(self) -> Location:
        """Where the position controller is heading (the current nav target or the hold point)."""
        task = self._nav
        if task is not None:
            north_m, east_m, alt = task.north_m, task.east_m, task.alt_amsl_m
        else:
            north_m, east_m, alt = self._hold_n_m, self._hold_e_m, self._hold_alt_amsl_m
        lat, lon = self.frame.to_latlon(north_m, east_m)
        return Location(lat, lon, alt)

    def _advance_gps_noise(self) -> None:
        elapsed_s = self.sim_time_s - self._gps_noise_at_s
        if self.gps_noise_m <= 0 or elapsed_s <= 0:
            return
        self._gps_noise_at_s = self.sim_time_s
        decay = math.exp(-elapsed_s / GPS_NOISE_TIME_CONSTANT_S)
        sigma = self.gps_noise_m * math.sqrt(1.0 - decay * decay)
        self._gps_noise_n_m = decay * self._gps_noise_n_m + sigma * self._gps_rng.gauss(0.0, 1.0)
        self._gps_noise_e_m = decay * self._gps_noise_e_m + sigma * self._gps_rng.gauss(0.0, 1.0)

    @property
    def home_alt_amsl_m(self) -> float:
        return self.home.alt_amsl_m if self.home else self.airframe.ground_amsl_m

    @property
    def alt_rel_m(self) -> float:
        return self.airframe.alt_amsl_m - self.home_alt_amsl_m

    @property
    def flying(self) -> bool:
        return self.armed and not self.landed

    @property
    def any_failsafe(self) -> bool:
        return self.gcs_failsafe or self.battery_low or self.battery_critical or self.ekf_failsafe

    @property
    def position_ok(self) -> bool:
        return self.ekf_ok

    def _mission_running(self) -> bool:
        return self.mission_run is MissionRun.RUNNING and self.mode == "AUTO"

    def _home_item(self) -> WireItem:
        home = self.home or Location(
            self.frame.origin_lat_deg, self.frame.origin_lon_deg, self.airframe.ground_amsl_m
        )
        return WireItem(
            seq=0,
            command=Cmd.NAV_WAYPOINT,
            frame=Frame.GLOBAL,
            x=round(home.lat_deg * 1e7),
            y=round(home.lon_deg * 1e7),
            z=f32(int(home.alt_amsl_m * 100.0) / 100.0),
            mission_type=MissionType.MISSION,
        )

    # ------------------------------------------------------------------------------------------
    # Home and payload
    # ------------------------------------------------------------------------------------------
    def set_home(self, location: Location | None) -> bool:
        """MAV_CMD_DO_SET_HOME: None means the current location; locks home against re-arming."""
        if location is None:
            if not self.position_ok:
                return False
            location = self.location
        self._set_home(location)
        self.home_locked = True
        return True

    def _set_home(self, location: Location) -> None:
        self.home = location
        self._listener.home_changed()

    def set_relay(self, number: int, on: bool) -> None:
        self.relays[number] = on

    def set_sprayer(self, on: bool) -> None:
        self.sprayer_on = on

    def set_cam_trigger_distance(self, distance_m: float, trigger_now: bool) -> None:
        self.cam_trigger_dist_m = max(0.0, distance_m)
        self._dist_since_photo_m = 0.0
        if trigger_now:
            self._take_photo()

    def _start_capture(self, interval_s: float, total: int) -> None:
        if total == 1 or interval_s <= 0:
            self._take_photo()
            return
        self._capture_interval_s = interval_s
        self._capture_remaining = total if total > 0 else 1_000_000
        self._next_capture_s = self.sim_time_s

    def _camera_distance(self, moved_m: float) -> None:
        if self.cam_trigger_dist_m <= 0:
            return
        self._dist_since_photo_m += moved_m
        if self._dist_since_photo_m >= self.cam_trigger_dist_m:
            self._dist_since_photo_m -= self.cam_trigger_dist_m
            self._take_photo()

    def _take_photo(self) -> None:
        here = self.location
        self.photos.append(Photo(here.lat_deg, here.lon_deg, self.alt_rel_m, self.sim_time_s))

    def _text(self, severity: Severity, text: str) -> None:
        self._listener.statustext(severity, text)
