"""ArduCopter-like flight logic: arming, modes, mission execution and failsafes, on simulated time.

The autopilot knows nothing about sockets or MAVLink encoding; the vehicle (vehicle.py) feeds it
decoded commands and reports what it announces through :class:`Listener`. Semantics
follow ArduCopter 4.x as observed in SITL (see shared/ARDUCOPTER-BEHAVIOUR.md): arming refused in
AUTO/RTL/LAND/BRAKE and before the EKF has a position, auto-disarm 10 s after arming without a
takeoff, AUTO on the ground needing a NAV_TAKEOFF first and MAV_CMD_MISSION_START to lift off,
holding position in AUTO after the last item unless it ended in RTL or LAND, and the GCS,
battery, EKF and fence failsafes.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from simulator.faults import Faults
from simulator.geo import LocalFrame, bearing_deg, point_in_polygon
from simulator.mavenums import (
    COPTER_MODE_NAMES,
    Cmd,
    CommandResult,
    Frame,
    MissionState,
    MissionType,
    Severity,
)
from simulator.mission_store import FenceStore, MissionStore, RallyStore, WireItem, f32
from simulator.params import ParamStore
from simulator.physics import (
    Airframe,
    Battery,
    MotionCommand,
    MotionKind,
    PowerProfile,
    Wind,
    electrical_power_w,
)

logger = logging.getLogger(__name__)

SUPPORTED_MODES = frozenset({"STABILIZE", "ALT_HOLD", "AUTO", "GUIDED", "LOITER", "RTL", "LAND", "BRAKE"})
NOT_ARMABLE_MODES = frozenset({"AUTO", "RTL", "LAND", "BRAKE"})
POSITION_MODES = frozenset({"AUTO", "GUIDED", "LOITER", "RTL", "BRAKE"})
LANDED_DISARM_DELAY_S = 1.0  # land detector settling time before the landing modes disarm
EKF_FAILSAFE_DELAY_S = 1.0
TAKEOFF_ALT_TOLERANCE_M = 0.5
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


class Autopilot:
    """Flight state of one vehicle; advance it with :meth:`step`."""

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

    def mission_state(self) -> MissionState:
        """MISSION_CURRENT.mission_state as ArduCopter reports it."""
        if self.mission.item_count() <= 1:
            return MissionState.NO_MISSION
        if self.mission_run is MissionRun.COMPLETE:
            return MissionState.COMPLETE
        if self.mission_run is MissionRun.RUNNING and self.mode == "AUTO":
            return MissionState.ACTIVE
        return MissionState.PAUSED if self._mission_started else MissionState.NOT_STARTED

    def prearm_failure(self) -> str | None:
        """The first pre-arm check that fails (without the mode check), or None."""
        if self.params.get_int("ARMING_CHECK") == 0:
            return None
        if self.motor_failed:
            return "Motors: Check failure"
        if self.gps_fix_type < 3:
            return "GPS 1: Bad fix"
        if not self.ekf_ok or self.home is None:
            return "Need Position Estimate"
        if self.battery_low or self.battery_critical:
            return "Battery 1 low voltage failsafe"
        arm_volt = self.params["BATT_ARM_VOLT"]
        if arm_volt > 0 and self.battery.voltage_v < arm_volt:
            return "Battery 1 below minimum arming voltage"
        if self.params.get_int("FENCE_ENABLE"):
            breaches = self._fence_breaches(include_altitude=False)
            if "polygon" in breaches:
                return "Fence: Vehicle breaching Polygon fence"
            if "circle" in breaches:
                return "Fence: Vehicle breaching Circle fence"
        return None

    # ------------------------------------------------------------------------------------------
    # Arming and modes
    # ------------------------------------------------------------------------------------------
    def arm(self, *, force: bool = False) -> CommandResult:
        if self.armed:
            return CommandResult.ACCEPTED
        if not force:
            failure = self.prearm_failure()
            if failure is not None:
                self._text(Severity.CRITICAL, f"PreArm: {failure}")
                return CommandResult.FAILED
            if self.mode in NOT_ARMABLE_MODES:
                self._text(Severity.CRITICAL, f"Arm: {self.mode} mode not armable")
                return CommandResult.FAILED
            if self.mode in POSITION_MODES and not self.position_ok:
                self._text(Severity.CRITICAL, "Arm: Need Position Estimate")
                return CommandResult.FAILED
        self.armed = True
        self.auto_armed = False
        self._armed_at_s = self.sim_time_s
        self._landed_since_s = self.sim_time_s
        self._touchdown_s = None
        if not self.home_locked and self.position_ok:
            self._set_home(self.location)
        logger.info("armed in %s", self.mode)
        return CommandResult.ACCEPTED

    def disarm(self, *, force: bool = False, reason: str = "") -> CommandResult:
        if not self.armed:
            return CommandResult.ACCEPTED
        if self.flying and not force:
            self._text(Severity.CRITICAL, "Disarm: vehicle is flying")
            return CommandResult.FAILED
        self.armed = False
        self.auto_armed = False
        self._guided_takeoff = False
        self._text(Severity.INFO, "Disarming motors")
        logger.info("disarmed %s", reason)
        return CommandResult.ACCEPTED

    def set_mode(self, name: str, *, forced: bool = False) -> bool:
        """Change flight mode as Copter::set_mode does; ``forced`` is a failsafe's change."""
        if name not in SUPPORTED_MODES:
            self._text(Severity.WARNING, f"Mode change to {name} failed: unsupported")
            return False
        if self.motor_failed and name != "LAND":
            self._text(Severity.WARNING, f"Mode change to {name} failed: motor failure")
            return False
        if name == self.mode:
            return True
        if not forced and self.armed and name in POSITION_MODES and not self.position_ok:
            self._text(Severity.WARNING, f"Mode change to {name} failed: requires position")
            return False
        if name == "AUTO" and not self._auto_can_start():
            self._text(Severity.WARNING, "Mode change to AUTO failed: init failed")
            return False
        if name == "RTL" and forced and not self.position_ok:
            return self.set_mode("LAND", forced=True)
        if self.mode == "AUTO" and self.mission_run is MissionRun.RUNNING:
            self.mission_run = MissionRun.STOPPED
        old = self.mode
        self.mode = name
        self.speed_override_mps = None
        self._fixed_yaw_deg = None
        self._nav = None
        self._hold_here(brake=name == "BRAKE")
        if name == "RTL":
            self._nav = self._rtl_task(seq=0)
        elif name == "LAND":
            self._nav = self._land_task(seq=0, location=None)
        elif name == "AUTO":
            self._mission_start_or_resume()
        logger.info("mode %s -> %s", old, name)
        self._listener.mission_current_changed()
        return True

    def _auto_can_start(self) -> bool:
        if self.mission.item_count() <= 1:
            return False
        if self.armed and self.landed and not self._starts_with_takeoff():
            self._text(Severity.CRITICAL, "Auto: Missing Takeoff Cmd")
            return False
        return True

    def _starts_with_takeoff(self) -> bool:
        start = self.nav_seq if (self.mission_run is MissionRun.STOPPED and self.nav_seq > 0) else 1
        for seq in range(start, self.mission.item_count()):
            command = self.mission.items[seq].command
            if self._is_nav(command):
                return command == Cmd.NAV_TAKEOFF
        return False

    def takeoff(self, alt_rel_m: float) -> CommandResult:
        """MAV_CMD_NAV_TAKEOFF outside AUTO: climb straight up to ``alt_rel_m`` above home."""
        if not self.armed or not self.landed or self.mode not in ("GUIDED", "LOITER", "ALT_HOLD"):
            return CommandResult.FAILED
        if self.mode != "ALT_HOLD" and not self.position_ok:
            return CommandResult.FAILED
        self._hold_n_m, self._hold_e_m = self.airframe.north_m, self.airframe.east_m
        self._hold_alt_amsl_m = self.home_alt_amsl_m + max(alt_rel_m, 1.0)
        self._guided_takeoff = True
        self.auto_armed = True
        self._lift_off()
        return CommandResult.ACCEPTED

    def mission_start(self, first: float, last: float) -> CommandResult:
        if first != 0 or last != 0:
            return CommandResult.DENIED
        if not self.set_mode("AUTO"):
            return CommandResult.FAILED
        self.auto_armed = True
        if self.mission_run is not MissionRun.RUNNING:
            self._mission_start_or_resume()
        return CommandResult.ACCEPTED

    def guided_goto(self, location: Location) -> bool:
        """A GUIDED position target (SET_POSITION_TARGET_GLOBAL_INT or DO_REPOSITION)."""
        if self.mode != "GUIDED" or not self.flying or not self.position_ok:
            return False
        north_m, east_m = self.frame.to_ne(location.lat_deg, location.lon_deg)
        self._hold_n_m, self._hold_e_m = north_m, east_m
        self._hold_alt_amsl_m = location.alt_amsl_m
        self._guided_takeoff = False
        return True

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

    def change_speed(self, speed_type: int, speed_mps: float) -> bool:
        """DO_CHANGE_SPEED: types 0/1 set the horizontal speed; -1 or 0 m/s keeps it."""
        if speed_type not in (0, 1) or speed_mps <= 0:
            return speed_type in (0, 1, 2, 3)
        self.speed_override_mps = speed_mps
        return True

    def set_roi(self, location: Location | None) -> None:
        self.roi = location

    def set_fixed_yaw(self, heading_deg: float) -> None:
        """CONDITION_YAW outside a mission: hold this heading until the next target."""
        self._fixed_yaw_deg = heading_deg % 360.0

    def set_mission_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT / DO_SET_MISSION_CURRENT."""
        count = self.mission.item_count()
        if seq >= count or count <= 1:
            return False
        seq = max(seq, 1)
        self._jump_counts.clear()
        if self.mission_run is MissionRun.RUNNING and self.mode == "AUTO":
            self._advance_nav(from_seq=seq)
        else:
            if self.mission_run is MissionRun.COMPLETE:
                self.mission_run = MissionRun.STOPPED
            self.nav_seq = self._next_nav_seq(seq) or seq
            self._mission_started = True
        self._listener.mission_current_changed()
        return True

    # ------------------------------------------------------------------------------------------
    # Failsafe inputs from the link
    # ------------------------------------------------------------------------------------------
    def check_gcs_failsafe(self, silence_s: float | None) -> None:
        """Called by the vehicle with the wall time since the last GCS heartbeat (None: never)."""
        enabled = self.params.get_int("FS_GCS_ENABLE")
        timed_out = silence_s is not None and silence_s > self.params["FS_GCS_TIMEOUT"]
        if not enabled or not timed_out:
            if self.gcs_failsafe:
                self.gcs_failsafe = False
                self._text(Severity.WARNING, "GCS Failsafe Cleared")
            return
        if self.gcs_failsafe or not self.armed:
            return
        self.gcs_failsafe = True
        self._text(Severity.WARNING, "GCS Failsafe")
        if self.landed:
            self.disarm(force=True, reason="GCS failsafe on the ground")
            return
        if enabled == 2 and self.mode == "AUTO":
            return
        self._failsafe_mode("LAND" if enabled in (4, 5) else "RTL")

    def _failsafe_mode(self, name: str) -> None:
        if self.mode == "LAND" or self.mode == name:
            return
        if not self.set_mode(name, forced=True) and name != "LAND":
            self.set_mode("LAND", forced=True)

    # ------------------------------------------------------------------------------------------
    # Simulation step
    # ------------------------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        self.sim_time_s += dt_s
        self._apply_faults()
        self._update_sensors(dt_s)
        self.wind.speed_mps = self.params["SIM_WIND_SPD"]
        self.wind.from_deg = self.params["SIM_WIND_DIR"]
        command = self._motion_command(dt_s)
        start_n, start_e = self.airframe.north_m, self.airframe.east_m
        self.airframe.step(command, dt_s)
        self._after_motion(
            command, math.hypot(self.airframe.north_m - start_n, self.airframe.east_m - start_e)
        )
        self.battery.step(
            electrical_power_w(
                self.power,
                armed=self.armed,
                airborne=not self.airframe.on_ground,
                airspeed_mps=self.airframe.airspeed_mps,
                climb_mps=self.airframe.vel_up_mps,
            ),
            dt_s,
        )
        self._battery_failsafe(dt_s)
        if self.armed and self.params.get_int("FENCE_ENABLE"):
            self._fence_check()
        elif self.fence_breaches:
            self.fence_breaches = frozenset()

    def _apply_faults(self) -> None:
        sag = self.faults.take_battery_sag_pct()
        if sag:
            self.battery.sag(sag)
        if self.faults.take_motor_failure() and not self.motor_failed:
            self._text(Severity.EMERGENCY, "Potential Thrust Loss (1)")
            if self.flying:
                self.set_mode("LAND", forced=True)
            self.motor_failed = True

    def _update_sensors(self, dt_s: float) -> None:
        """GPS fix and EKF readiness from boot time and GPS faults; the EKF failsafe."""
        gps_lost = self.faults.gps_lost()
        booted = self.sim_time_s >= self.boot_time_to_ready_s
        gps_ready = self.sim_time_s >= 0.5 * self.boot_time_to_ready_s
        self.gps_fix_type = 0 if gps_lost else (3 if gps_ready else 1)
        was_ok = self.ekf_ok
        self.ekf_ok = booted and not gps_lost
        if self.ekf_ok and not was_ok and self.home is None:
            self._set_home(self.location)
        if gps_lost and self.flying and self.mode in POSITION_MODES:
            self._gps_lost_s += dt_s
            if self._gps_lost_s >= EKF_FAILSAFE_DELAY_S and not self.ekf_failsafe:
                self.ekf_failsafe = True
                self._text(Severity.CRITICAL, "EKF Failsafe: changed to LAND mode")
                self.set_mode("LAND", forced=True)
        elif not gps_lost:
            self._gps_lost_s = 0.0
            if self.ekf_failsafe:
                self.ekf_failsafe = False
                self._text(Severity.CRITICAL, "EKF Failsafe Cleared")

    # ------------------------------------------------------------------------------------------
    # Mode behaviours
    # ------------------------------------------------------------------------------------------
    def _speeds(self, command: MotionCommand, *, rtl: bool = False) -> MotionCommand:
        speed = self.params["WPNAV_SPEED"] / 100.0
        if rtl and self.params["RTL_SPEED"] > 0:
            speed = self.params["RTL_SPEED"] / 100.0
        if self.speed_override_mps is not None:
            speed = self.speed_override_mps
        command.speed_mps = max(0.2, speed)
        command.accel_mps2 = max(0.5, self.params["WPNAV_ACCEL"] / 100.0)
        command.climb_mps = max(0.1, self.params["WPNAV_SPEED_UP"] / 100.0)
        command.descent_mps = max(0.1, self.params["WPNAV_SPEED_DN"] / 100.0)
        return command

    def _hold_here(self, *, brake: bool = False) -> None:
        frame = self.airframe
        self._hold_n_m, self._hold_e_m = frame.north_m, frame.east_m
        if brake or not self.landed:
            # Stopping point under the usual deceleration.
            accel = max(0.5, self.params["WPNAV_ACCEL"] / 100.0) * (2.0 if brake else 1.0)
            speed = frame.groundspeed_mps
            if speed > 0.01:
                stop_m = speed * speed / (2.0 * accel)
                self._hold_n_m += frame.vel_n_mps / speed * stop_m
                self._hold_e_m += frame.vel_e_mps / speed * stop_m
        self._hold_alt_amsl_m = frame.alt_amsl_m
        self._guided_takeoff = False

    def _position_command(self, north_m: float, east_m: float, alt_amsl_m: float) -> MotionCommand:
        command = self._speeds(MotionCommand(MotionKind.POSITION, north_m, east_m, alt_amsl_m))
        command.yaw_deg = self._yaw_target(north_m, east_m)
        return command

    def _yaw_target(self, north_m: float, east_m: float, *, rtl: bool = False) -> float | None:
        frame = self.airframe
        if self.roi is not None:
            roi_n, roi_e = self.frame.to_ne(self.roi.lat_deg, self.roi.lon_deg)
            if math.hypot(roi_n - frame.north_m, roi_e - frame.east_m) > 1.0:
                return bearing_deg(roi_n - frame.north_m, roi_e - frame.east_m)
        if self._fixed_yaw_deg is not None:
            return self._fixed_yaw_deg
        behaviour = self.params.get_int("WP_YAW_BEHAVIOR")
        if behaviour == 0 or (behaviour == 2 and rtl):
            return None
        delta_n, delta_e = north_m - frame.north_m, east_m - frame.east_m
        if math.hypot(delta_n, delta_e) < 2.0:
            return None
        return bearing_deg(delta_n, delta_e)

    def _motion_command(self, dt_s: float) -> MotionCommand:
        if not self.armed:
            if self.airframe.on_ground:
                return MotionCommand(MotionKind.GROUNDED)
            # Disarmed in the air (forced disarm): it falls.
            return MotionCommand(
                MotionKind.DESCEND, self.airframe.north_m, self.airframe.east_m, descent_mps=10.0
            )
        if self.landed and not self._wants_lift_off():
            return MotionCommand(MotionKind.GROUNDED)
        match self.mode:
            case "STABILIZE" | "ALT_HOLD":
                if self._guided_takeoff:
                    return self._takeoff_command()
                command = self._speeds(MotionCommand(MotionKind.DRIFT, alt_amsl_m=self._hold_alt_amsl_m))
                return command
            case "GUIDED" | "LOITER" | "BRAKE":
                if self._guided_takeoff:
                    return self._takeoff_command()
                return self._position_command(self._hold_n_m, self._hold_e_m, self._hold_alt_amsl_m)
            case "RTL" | "LAND":
                if self._nav is None:
                    return self._position_command(self._hold_n_m, self._hold_e_m, self._hold_alt_amsl_m)
                return self._run_task(self._nav, dt_s)
            case "AUTO":
                return self._auto_command(dt_s)
        return MotionCommand(MotionKind.GROUNDED)

    def _wants_lift_off(self) -> bool:
        """Whether the current behaviour asks the landed vehicle to climb."""
        if self.motor_failed:
            return False
        if self._guided_takeoff:
            return True
        if self.mode == "AUTO" and self.auto_armed and self.mission_run is MissionRun.RUNNING:
            task = self._nav
            return task is not None and task.command == Cmd.NAV_TAKEOFF and task.phase is Phase.APPROACH
        return False

    def _lift_off(self) -> None:
        if self.landed:
            self.landed = False
            self._touchdown_s = None

    def _takeoff_command(self) -> MotionCommand:
        command = self._speeds(
            MotionCommand(MotionKind.POSITION, self._hold_n_m, self._hold_e_m, self._hold_alt_amsl_m)
        )
        if self.airframe.alt_amsl_m >= self._hold_alt_amsl_m - TAKEOFF_ALT_TOLERANCE_M:
            self._guided_takeoff = False
        self._lift_off()
        return command

    # -- tasks: RTL, LAND, mission nav items -----------------------------------------------------
    def _location_ne_alt(self, item: WireItem) -> tuple[float, float, float]:
        """Target of a stored mission item; lat/lon 0 means here, alt 0 means current altitude."""
        frame = self.airframe
        if item.x == 0 and item.y == 0:
            north_m, east_m = frame.north_m, frame.east_m
        else:
            north_m, east_m = self.frame.to_ne(item.lat_deg, item.lon_deg)
        if item.z == 0 and item.frame != Frame.GLOBAL:
            alt = frame.alt_amsl_m
        elif item.frame == Frame.GLOBAL:
            alt = item.z
        elif item.frame == Frame.GLOBAL_TERRAIN_ALT:
            alt = frame.ground_amsl_m + item.z
        else:
            alt = self.home_alt_amsl_m + item.z
        return north_m, east_m, alt

    def _rtl_task(self, seq: int) -> NavTask:
        frame = self.airframe
        target_n, target_e = self._rtl_destination()
        return_alt = max(frame.alt_amsl_m, self.home_alt_amsl_m + self.params["RTL_ALT"] / 100.0)
        task = NavTask(Cmd.NAV_RETURN_TO_LAUNCH, seq, target_n, target_e, return_alt, phase=Phase.CLIMB)
        task.phase_started_s = self.sim_time_s
        final_alt_cm = self.params["RTL_ALT_FINAL"]
        task.final_alt_amsl_m = self.home_alt_amsl_m + final_alt_cm / 100.0 if final_alt_cm > 0 else math.nan
        return task

    def _rtl_destination(self) -> tuple[float, float]:
        """Home, or the nearest rally point when rally points exist (RALLY_INCL_HOME picks home too)."""
        frame = self.airframe
        home = self.home or self.location
        candidates = [self.frame.to_ne(point.lat_deg, point.lon_deg) for point in self.rally.items]
        if not candidates or self.params.get_int("RALLY_INCL_HOME"):
            candidates.append(self.frame.to_ne(home.lat_deg, home.lon_deg))
        return min(candidates, key=lambda ne: math.hypot(ne[0] - frame.north_m, ne[1] - frame.east_m))

    def _land_task(self, seq: int, location: tuple[float, float] | None) -> NavTask:
        frame = self.airframe
        if location is None:
            task = NavTask(
                Cmd.NAV_LAND, seq, frame.north_m, frame.east_m, frame.alt_amsl_m, phase=Phase.DESCEND
            )
        else:
            task = NavTask(Cmd.NAV_LAND, seq, location[0], location[1], frame.alt_amsl_m)
        task.phase_started_s = self.sim_time_s
        return task

    def _descent_speed_mps(self) -> float:
        low_alt_m = self.params["LAND_ALT_LOW"] / 100.0
        if self.airframe.height_m > low_alt_m:
            high = self.params["LAND_SPEED_HIGH"]
            return max(0.3, (high if high > 0 else self.params["WPNAV_SPEED_DN"]) / 100.0)
        return max(0.1, self.params["LAND_SPEED"] / 100.0)

    def _set_phase(self, task: NavTask, phase: Phase) -> None:
        task.phase = phase
        task.phase_started_s = self.sim_time_s

    def _run_task(self, task: NavTask, dt_s: float) -> MotionCommand:
        """Advance ``task`` and return the motion it asks for; sets phase DONE when finished."""
        frame = self.airframe
        radius_m = max(0.5, self.params["WPNAV_RADIUS"] / 100.0)
        horizontal_m = math.hypot(task.north_m - frame.north_m, task.east_m - frame.east_m)
        if task.command == Cmd.NAV_RETURN_TO_LAUNCH:
            return self._run_rtl(task, horizontal_m, radius_m)
        if task.command == Cmd.NAV_LAND:
            if task.phase is Phase.APPROACH:
                if horizontal_m <= radius_m:
                    self._set_phase(task, Phase.DESCEND)
                return self._position_command(task.north_m, task.east_m, task.alt_amsl_m)
            return self._descend(task)
        if task.command == Cmd.NAV_TAKEOFF:
            command = self._speeds(
                MotionCommand(MotionKind.POSITION, task.north_m, task.east_m, task.alt_amsl_m)
            )
            if frame.alt_amsl_m >= task.alt_amsl_m - TAKEOFF_ALT_TOLERANCE_M:
                self._set_phase(task, Phase.DONE)
            return command
        if task.command == Cmd.NAV_LOITER_TURNS and task.phase is Phase.CIRCLE:
            return self._circle(task, dt_s)
        distance_m = math.hypot(horizontal_m, task.alt_amsl_m - frame.alt_amsl_m)
        if task.phase is Phase.APPROACH:
            arrived = distance_m <= radius_m
            if task.command == Cmd.NAV_LOITER_TURNS:
                arrived = (
                    horizontal_m <= max(radius_m, task.radius_m)
                    and abs(task.alt_amsl_m - frame.alt_amsl_m) < 1.0
                )
            if arrived:
                self._arrived(task)
        elif (
            task.phase is Phase.HOLD
            and task.command != Cmd.NAV_LOITER_UNLIM
            and self.sim_time_s - task.phase_started_s >= task.hold_s
        ):
            self._set_phase(task, Phase.DONE)
        return self._position_command(task.north_m, task.east_m, task.alt_amsl_m)

    def _arrived(self, task: NavTask) -> None:
        if task.command == Cmd.NAV_LOITER_TURNS and task.radius_m > 0.5:
            frame = self.airframe
            task.angle_rad = math.atan2(frame.east_m - task.east_m, frame.north_m - task.north_m)
            self._set_phase(task, Phase.CIRCLE)
            return
        self._set_phase(task, Phase.HOLD)
        # ModeAuto::verify_nav_wp reports a waypoint with a delay on arrival, and again on completion.
        waypoint = task.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_SPLINE_WAYPOINT)
        if waypoint and task.hold_s > 0 and not task.announced_arrival:
            task.announced_arrival = True
            self._listener.mission_item_reached(task.seq)

    def _circle(self, task: NavTask, dt_s: float) -> MotionCommand:
        """LOITER_TURNS: a point runs round the circle at the waypoint speed; the vehicle follows."""
        speed = self._speeds(MotionCommand()).speed_mps
        accel = max(0.5, self.params["WPNAV_ACCEL"] / 100.0)
        speed = min(speed, math.sqrt(accel * task.radius_m))
        rate = speed / task.radius_m
        step = rate * dt_s
        task.angle_rad += step if task.clockwise else -step
        task.swept_rad += step
        if task.swept_rad >= task.turns * 2.0 * math.pi:
            self._set_phase(task, Phase.DONE)
        north_m = task.north_m + task.radius_m * math.cos(task.angle_rad)
        east_m = task.east_m + task.radius_m * math.sin(task.angle_rad)
        command = self._speeds(MotionCommand(MotionKind.POSITION, north_m, east_m, task.alt_amsl_m))
        command.speed_mps = speed * 1.5
        command.yaw_deg = self._yaw_target(north_m, east_m)
        return command

    def _run_rtl(self, task: NavTask, horizontal_m: float, radius_m: float) -> MotionCommand:
        frame = self.airframe
        if task.phase is Phase.CLIMB:
            if frame.alt_amsl_m >= task.alt_amsl_m - TAKEOFF_ALT_TOLERANCE_M:
                self._set_phase(task, Phase.RETURN)
            return self._speeds(
                MotionCommand(MotionKind.POSITION, frame.north_m, frame.east_m, task.alt_amsl_m)
            )
        if task.phase is Phase.RETURN:
            if horizontal_m <= radius_m:
                self._set_phase(task, Phase.LOITER)
            command = self._speeds(
                MotionCommand(MotionKind.POSITION, task.north_m, task.east_m, task.alt_amsl_m), rtl=True
            )
            command.yaw_deg = self._yaw_target(task.north_m, task.east_m, rtl=True)
            return command
        if task.phase is Phase.LOITER:
            if self.sim_time_s - task.phase_started_s >= self.params["RTL_LOIT_TIME"] / 1000.0:
                if math.isnan(task.final_alt_amsl_m):
                    self._set_phase(task, Phase.DESCEND)
                else:
                    task.alt_amsl_m = task.final_alt_amsl_m
                    self._set_phase(task, Phase.HOLD)
            return self._speeds(
                MotionCommand(MotionKind.POSITION, task.north_m, task.east_m, task.alt_amsl_m)
            )
        if task.phase is Phase.HOLD:
            return self._speeds(
                MotionCommand(MotionKind.POSITION, task.north_m, task.east_m, task.alt_amsl_m)
            )
        return self._descend(task)

    def _descend(self, task: NavTask) -> MotionCommand:
        if task.phase is Phase.DESCEND and self.landed:
            self._set_phase(task, Phase.LANDED)
        if task.phase in (Phase.LANDED, Phase.DONE):
            return MotionCommand(MotionKind.GROUNDED)
        command = MotionCommand(MotionKind.DESCEND, task.north_m, task.east_m)
        command = self._speeds(command)
        command.descent_mps = self._descent_speed_mps() * (1.5 if self.motor_failed else 1.0)
        if self.ekf_failsafe:
            command.kind = MotionKind.DESCEND
            command.north_m, command.east_m = self.airframe.north_m, self.airframe.east_m
        return command

    def _after_motion(self, command: MotionCommand, moved_m: float) -> None:
        frame = self.airframe
        if (
            self.armed
            and not self.landed
            and frame.on_ground
            and command.kind
            in (
                MotionKind.DESCEND,
                MotionKind.POSITION,
            )
        ):
            descending = (
                command.kind is MotionKind.DESCEND or command.alt_amsl_m <= frame.ground_amsl_m + 0.05
            )
            if descending:
                self.landed = True
                self._touchdown_s = self.sim_time_s
                self._landed_since_s = self.sim_time_s
                if self._nav is not None and self._nav.phase is Phase.DESCEND:
                    self._nav.phase = Phase.LANDED
        if self.armed and self.landed:
            landing_mode = self.mode in ("LAND", "RTL") or (
                self.mode == "AUTO" and self._nav is not None and self._nav.phase is Phase.LANDED
            )
            if landing_mode and self._touchdown_s is not None:
                if self.sim_time_s - self._touchdown_s >= LANDED_DISARM_DELAY_S:
                    self.disarm(reason="landed")
                    self._finish_landing_task()
            elif self.sim_time_s - self._landed_since_s >= self.params["DISARM_DELAY"] > 0:
                self.disarm(reason="auto-disarm: no takeoff")
        elif self.armed:
            self._landed_since_s = self.sim_time_s
        if not self.landed and moved_m > 0:
            self._camera_distance(moved_m)
        if self._capture_remaining and self.sim_time_s >= self._next_capture_s and self.flying:
            self._take_photo()
            self._capture_remaining -= 1
            self._next_capture_s = self.sim_time_s + self._capture_interval_s

    def _finish_landing_task(self) -> None:
        """After the post-touchdown disarm: a mission RTL/LAND item is complete, so is the mission."""
        task = self._nav
        if task is None or task.phase is not Phase.LANDED:
            return
        task.phase = Phase.DONE
        if self.mode == "AUTO" and self.mission_run is MissionRun.RUNNING:
            self._nav_complete(task)

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

    # ------------------------------------------------------------------------------------------
    # AUTO: mission execution (AP_Mission + ModeAuto)
    # ------------------------------------------------------------------------------------------
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

    @staticmethod
    def _is_nav(command: int) -> bool:
        return command <= Cmd.NAV_LAST or command == Cmd.NAV_SET_YAW_SPEED

    def _next_nav_seq(self, start: int) -> int | None:
        for seq in range(start, self.mission.item_count()):
            if self._is_nav(self.mission.items[seq].command):
                return seq
        return None

    def _mission_start_or_resume(self) -> None:
        if self.mission_run is MissionRun.COMPLETE or not self._mission_started or self.nav_seq <= 0:
            self._jump_counts.clear()
            self.mission_run = MissionRun.RUNNING
            self._mission_started = True
            self._advance_nav(from_seq=1)
            return
        self.mission_run = MissionRun.RUNNING
        self._advance_nav(from_seq=self.nav_seq)

    def _advance_nav(self, from_seq: int) -> None:
        """Start the first nav command at or after ``from_seq``, following DO_JUMPs; else complete."""
        seq = from_seq
        count = self.mission.item_count()
        hops = 0
        while seq < count and hops < 1000:
            hops += 1
            item = self.mission.items[seq]
            if item.command == Cmd.DO_JUMP:
                target, repeats = int(item.param1), int(item.param2)
                done = self._jump_counts.get(seq, 0)
                if repeats < 0 or done < repeats:
                    self._jump_counts[seq] = done + 1
                    seq = target
                    continue
                seq += 1
                continue
            if self._is_nav(item.command):
                if self._start_nav(seq, item):
                    return
                self._text(Severity.WARNING, f"Skipping invalid cmd #{seq}")
            seq += 1
        self._mission_complete()

    def _start_nav(self, seq: int, item: WireItem) -> bool:
        self.nav_seq = seq
        self._fixed_yaw_deg = None
        self._text(Severity.INFO, f"Mission: {seq} {_command_label(item.command)}")
        task = self._nav_task(seq, item)
        if task is None:
            return False
        self._nav = task
        self._do = DoState(queue=self._do_commands_after(seq))
        self._listener.mission_current_changed()
        return True

    def _nav_task(self, seq: int, item: WireItem) -> NavTask | None:
        frame = self.airframe
        command = item.command
        if command == Cmd.NAV_RETURN_TO_LAUNCH:
            return self._rtl_task(seq)
        if command == Cmd.NAV_LAND:
            if item.x == 0 and item.y == 0:
                return self._land_task(seq, None)
            return self._land_task(seq, self.frame.to_ne(item.lat_deg, item.lon_deg))
        if command == Cmd.NAV_TAKEOFF:
            alt = self.home_alt_amsl_m + item.z if item.frame != Frame.GLOBAL else item.z
            alt = max(alt, frame.alt_amsl_m) if not self.landed else alt
            return NavTask(command, seq, frame.north_m, frame.east_m, alt)
        if command in (Cmd.NAV_WAYPOINT, Cmd.NAV_SPLINE_WAYPOINT):
            north_m, east_m, alt = self._location_ne_alt(item)
            return NavTask(command, seq, north_m, east_m, alt, hold_s=item.param1)
        if command in (Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TO_ALT):
            north_m, east_m, alt = self._location_ne_alt(item)
            hold_s = item.param1 if command == Cmd.NAV_LOITER_TIME else 0.0
            return NavTask(command, seq, north_m, east_m, alt, hold_s=hold_s)
        if command == Cmd.NAV_LOITER_TURNS:
            north_m, east_m, alt = self._location_ne_alt(item)
            task = NavTask(command, seq, north_m, east_m, alt)
            task.radius_m = abs(item.param3)
            task.turns = item.param1
            task.clockwise = item.param3 >= 0
            return task
        if command == Cmd.NAV_CONTINUE_AND_CHANGE_ALT:
            _, _, alt = self._location_ne_alt(item)
            return NavTask(Cmd.NAV_WAYPOINT, seq, frame.north_m, frame.east_m, alt)
        if command == Cmd.NAV_DELAY:
            task = NavTask(Cmd.NAV_LOITER_TIME, seq, frame.north_m, frame.east_m, frame.alt_amsl_m)
            task.hold_s = max(0.0, item.param1)
            return task
        return None

    def _do_commands_after(self, seq: int) -> list[int]:
        queue: list[int] = []
        for index in range(seq + 1, self.mission.item_count()):
            command = self.mission.items[index].command
            if self._is_nav(command) or command == Cmd.DO_JUMP:
                break
            queue.append(index)
        return queue

    def _mission_complete(self) -> None:
        self.mission_run = MissionRun.COMPLETE
        self._nav = None
        self._hold_here()
        self._listener.mission_current_changed()
        logger.info("mission complete")

    def _auto_command(self, dt_s: float) -> MotionCommand:
        task = self._nav
        if self.mission_run is not MissionRun.RUNNING or task is None:
            return self._position_command(self._hold_n_m, self._hold_e_m, self._hold_alt_amsl_m)
        if not self.auto_armed and self.landed:
            return MotionCommand(MotionKind.GROUNDED)
        if task.command == Cmd.NAV_TAKEOFF and task.phase is Phase.APPROACH:
            self._lift_off()
        command = self._run_task(task, dt_s)
        self._run_do_commands()
        if task.phase is Phase.DONE:
            self._nav_complete(task)
        return command

    def _nav_complete(self, task: NavTask) -> None:
        self._listener.mission_item_reached(task.seq)
        if task.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_SPLINE_WAYPOINT):
            self._text(Severity.INFO, f"Reached command #{task.seq}")
        self._hold_here()
        self._advance_nav(from_seq=task.seq + 1)

    def _run_do_commands(self) -> None:
        state = self._do
        while state.queue:
            if state.wait_until_s is not None:
                if self.sim_time_s < state.wait_until_s:
                    return
                state.wait_until_s = None
            if state.wait_distance_m is not None:
                task = self._nav
                if (
                    task is not None
                    and math.hypot(task.north_m - self.airframe.north_m, task.east_m - self.airframe.east_m)
                    > state.wait_distance_m
                ):
                    return
                state.wait_distance_m = None
            seq = state.queue.pop(0)
            self._start_do(seq, self.mission.items[seq])

    def _start_do(self, seq: int, item: WireItem) -> None:
        self._text(Severity.INFO, f"Mission: {seq} {_command_label(item.command)}")
        command = item.command
        match command:
            case Cmd.DO_CHANGE_SPEED:
                self.change_speed(int(item.param1), item.param2)
            case Cmd.DO_SET_RELAY:
                self.set_relay(int(item.param1), item.param2 != 0)
            case Cmd.DO_SET_SERVO:
                self.servos_pwm[int(item.param1)] = int(item.param2)
            case Cmd.DO_SET_CAM_TRIGG_DIST:
                self.set_cam_trigger_distance(item.param1, item.param3 == 1)
            case Cmd.DO_DIGICAM_CONTROL:
                if item.x == 1:
                    self._take_photo()
            case Cmd.IMAGE_START_CAPTURE:
                self._start_capture(item.param2, int(item.param3))
            case Cmd.IMAGE_STOP_CAPTURE:
                self._capture_remaining = 0
            case Cmd.DO_SPRAYER:
                self.set_sprayer(item.param1 != 0)
            case Cmd.DO_SET_ROI_LOCATION | Cmd.DO_SET_ROI:
                if item.x == 0 and item.y == 0:
                    self.roi = None
                else:
                    _, _, alt = self._location_ne_alt(item)
                    self.roi = Location(item.lat_deg, item.lon_deg, alt)
            case Cmd.DO_SET_ROI_NONE:
                self.roi = None
            case Cmd.CONDITION_YAW:
                self._condition_yaw(item)
            case Cmd.CONDITION_DELAY:
                self._do.wait_until_s = self.sim_time_s + max(0.0, item.param1)
            case Cmd.CONDITION_DISTANCE:
                self._do.wait_distance_m = max(0.0, item.param1)
            case Cmd.DO_SET_HOME:
                if item.param1 == 1 or (item.x == 0 and item.y == 0):
                    self.set_home(None)
                else:
                    _, _, alt = self._location_ne_alt(item)
                    self.set_home(Location(item.lat_deg, item.lon_deg, alt))
            case Cmd.DO_FENCE_ENABLE:
                self.params.set("FENCE_ENABLE", 1 if item.param1 == 1 else 0)
            case Cmd.DO_SET_MODE:
                name = _mode_name(int(item.param1))
                if name is not None:
                    self.set_mode(name)
            case (
                Cmd.DO_MOUNT_CONTROL
                | Cmd.DO_GIMBAL_MANAGER_PITCHYAW
                | Cmd.DO_LAND_START
                | Cmd.DO_DIGICAM_CONFIGURE
            ):
                pass
            case _:
                self._text(Severity.WARNING, f"Skipping invalid cmd #{seq}")

    def _start_capture(self, interval_s: float, total: int) -> None:
        if total == 1 or interval_s <= 0:
            self._take_photo()
            return
        self._capture_interval_s = interval_s
        self._capture_remaining = total if total > 0 else 1_000_000
        self._next_capture_s = self.sim_time_s

    def _condition_yaw(self, item: WireItem) -> None:
        if item.param4 == 1:
            direction = -1.0 if item.param3 < 0 else 1.0
            self._fixed_yaw_deg = (self.airframe.yaw_deg + direction * item.param1) % 360.0
        else:
            self._fixed_yaw_deg = item.param1 % 360.0

    # ------------------------------------------------------------------------------------------
    # Battery and fence failsafes
    # ------------------------------------------------------------------------------------------
    def _battery_failsafe(self, dt_s: float) -> None:
        voltage = self.battery.voltage_v
        low_v, crit_v = self.params["BATT_LOW_VOLT"], self.params["BATT_CRT_VOLT"]
        timer_s = self.params["BATT_LOW_TIMER"]
        self._low_volt_s = self._low_volt_s + dt_s if low_v > 0 and voltage < low_v else 0.0
        self._crit_volt_s = self._crit_volt_s + dt_s if crit_v > 0 and voltage < crit_v else 0.0
        if not self.battery_critical and self._crit_volt_s > timer_s:
            self.battery_critical = True
            self._battery_action("critical", self.params.get_int("BATT_FS_CRT_ACT"))
        elif not self.battery_low and not self.battery_critical and self._low_volt_s > timer_s:
            self.battery_low = True
            self._battery_action("low", self.params.get_int("BATT_FS_LOW_ACT"))

    def _battery_action(self, level: str, action: int) -> None:
        self._text(
            Severity.CRITICAL,
            f"Battery 1 is {level} {self.battery.voltage_v:.2f}V used {self.battery.consumed_mah:.0f} mAh",
        )
        if not self.flying or action == 0:
            return
        self._failsafe_mode("LAND" if action in (1, 4, 5) else "RTL")

    def _fence_breaches(self, *, include_altitude: bool = True) -> frozenset[str]:
        fence_type = self.params.get_int("FENCE_TYPE")
        frame = self.airframe
        breaches: set[str] = set()
        margin_m = self.params["FENCE_MARGIN"]
        if include_altitude and fence_type & 1 and self.alt_rel_m > self.params["FENCE_ALT_MAX"]:
            breaches.add("altitude")
        if fence_type & 2 and self.home is not None:
            home_n, home_e = self.frame.to_ne(self.home.lat_deg, self.home.lon_deg)
            if (
                math.hypot(frame.north_m - home_n, frame.east_m - home_e)
                > self.params["FENCE_RADIUS"] - margin_m
            ):
                breaches.add("circle")
        if fence_type & 4 and self.fence.items:
            breaches |= self._polyfence_breaches()
        return frozenset(breaches)

    def _polyfence_breaches(self) -> set[str]:
        frame = self.airframe
        here = (frame.north_m, frame.east_m)
        breaches: set[str] = set()
        items = self.fence.items
        index = 0
        while index < len(items):
            item = items[index]
            center_n, center_e = self.frame.to_ne(item.x / 1e7, item.y / 1e7)
            if item.command in (
                Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            ):
                count = max(1, int(item.param1))
                ring = [self.frame.to_ne(v.x / 1e7, v.y / 1e7) for v in items[index : index + count]]
                inside = point_in_polygon(here[0], here[1], ring)
                if inside == (item.command == Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                    breaches.add("polygon")
                index += count
                continue
            distance_m = math.hypot(here[0] - center_n, here[1] - center_e)
            if item.command == Cmd.NAV_FENCE_CIRCLE_INCLUSION and distance_m > item.param1:
                breaches.add("polygon")
            if item.command == Cmd.NAV_FENCE_CIRCLE_EXCLUSION and distance_m < item.param1:
                breaches.add("polygon")
            index += 1
        return breaches

    def _fence_check(self) -> None:
        breaches = self._fence_breaches()
        new = breaches - self.fence_breaches
        self.fence_breaches = breaches
        if not new:
            return
        self.fence_breach_count += 1
        self.fence_breach_time_s = self.sim_time_s
        label = {"altitude": "Max altitude", "circle": "Circle", "polygon": "Polygon"}
        self._text(Severity.CRITICAL, f"Fence Breached: {', '.join(label[b] for b in sorted(new))}")
        action = self.params.get_int("FENCE_ACTION")
        if not self.flying or action == 0:
            return
        if action == 4:
            self._failsafe_mode("BRAKE")
        else:
            self._failsafe_mode("LAND" if action == 2 else "RTL")

    def _text(self, severity: Severity, text: str) -> None:
        self._listener.statustext(severity, text)


_COMMAND_LABELS: dict[int, str] = {
    Cmd.NAV_WAYPOINT: "WP",
    Cmd.NAV_LOITER_UNLIM: "LoitUnlim",
    Cmd.NAV_LOITER_TURNS: "LoitTurns",
    Cmd.NAV_LOITER_TIME: "LoitTime",
    Cmd.NAV_RETURN_TO_LAUNCH: "RTL",
    Cmd.NAV_LAND: "Land",
    Cmd.NAV_TAKEOFF: "Takeoff",
    Cmd.NAV_LOITER_TO_ALT: "LoitAltitude",
    Cmd.NAV_SPLINE_WAYPOINT: "SplineWP",
    Cmd.NAV_DELAY: "Delay",
    Cmd.CONDITION_DELAY: "CondDelay",
    Cmd.CONDITION_DISTANCE: "CondDist",
    Cmd.CONDITION_YAW: "CondYaw",
    Cmd.DO_JUMP: "Jump",
    Cmd.DO_CHANGE_SPEED: "ChangeSpeed",
    Cmd.DO_SET_HOME: "SetHome",
    Cmd.DO_SET_RELAY: "SetRelay",
    Cmd.DO_SET_SERVO: "SetServo",
    Cmd.DO_SET_ROI: "SetROI",
    Cmd.DO_SET_ROI_LOCATION: "SetROI",
    Cmd.DO_SET_ROI_NONE: "SetROI",
    Cmd.DO_DIGICAM_CONTROL: "DigiCamCtrl",
    Cmd.DO_MOUNT_CONTROL: "MountControl",
    Cmd.DO_SET_CAM_TRIGG_DIST: "CamTrigDist",
    Cmd.DO_SPRAYER: "Sprayer",
    Cmd.IMAGE_START_CAPTURE: "ImageStartCapture",
    Cmd.IMAGE_STOP_CAPTURE: "ImageStopCapture",
}


def _command_label(command: int) -> str:
    return _COMMAND_LABELS.get(command, "?")


def _mode_name(number: int) -> str | None:
    return COPTER_MODE_NAMES.get(number)
