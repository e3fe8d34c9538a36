"""ArduCopter-like flight logic: arming, modes, mission execution and failsafes, on simulated time.

The autopilot knows nothing about sockets or MAVLink encoding; the vehicle (vehicle.py) feeds it
decoded commands and reports what it announces through :class:`Listener`. Semantics
follow ArduCopter 4.x as observed in SITL (see shared/ARDUCOPTER-BEHAVIOUR.md): arming refused in
AUTO/RTL/LAND/BRAKE and before the EKF has a position, auto-disarm 10 s after arming without a
takeoff, AUTO on the ground needing a NAV_TAKEOFF first and MAV_CMD_MISSION_START to lift off,
holding position in AUTO after the last item unless it ended in RTL or LAND, and the GCS,
battery, EKF and fence failsafes.

:class:`Autopilot` is the top of a stack of layers (described in flight_state.py): this module
holds arming, mode changes, the simulation step with its landing detection, and the failsafes;
the state, navigation and AUTO mission execution come from the layers below. Vehicles and tests
import it, :class:`Location` and :class:`Photo` from here.
"""

from __future__ import annotations

import logging
import math

from simulator.fence_check import fence_breaches
from simulator.flight_state import Listener, Location, MissionRun, Phase, Photo
from simulator.mavenums import Cmd, CommandResult, Severity
from simulator.mission_exec import MissionExecution
from simulator.physics import MotionCommand, MotionKind, electrical_power_w

__all__ = ["Autopilot", "Listener", "Location", "Photo"]

logger = logging.getLogger(__name__)

SUPPORTED_MODES = frozenset({"STABILIZE", "ALT_HOLD", "AUTO", "GUIDED", "LOITER", "RTL", "LAND", "BRAKE"})
NOT_ARMABLE_MODES = frozenset({"AUTO", "RTL", "LAND", "BRAKE"})
POSITION_MODES = frozenset({"AUTO", "GUIDED", "LOITER", "RTL", "BRAKE"})
LANDED_DISARM_DELAY_S = 1.0  # land detector settling time before the landing modes disarm
EKF_FAILSAFE_DELAY_S = 1.0


class Autopilot(MissionExecution):
    """Flight state of one vehicle; advance it with :meth:`step`.

    Its constructor is ``FlightState.__init__`` (flight_state.py), the layer that holds the state.
    """

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
        self.airframe.drift_ne_mps = self.faults.drift_ne_mps() if self.flying else (0.0, 0.0)
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
        return fence_breaches(
            self.params,
            self.frame,
            self.airframe,
            self.alt_rel_m,
            self.home,
            self.fence.items,
            include_altitude=include_altitude,
        )

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
