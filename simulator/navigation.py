"""Flying to a target: the hold point, speed and yaw limits, and the navigation tasks.

The second layer of the autopilot (see flight_state.py): it turns the current target (a hold
point, RTL, LAND, takeoff, or a mission's waypoint, loiter or circle) into the motion command the
airframe follows, and advances the task's phases. The modes and AUTO choose the targets.
"""

from __future__ import annotations

import math

from simulator.flight_state import FlightState, Location, NavTask, Phase
from simulator.geo import bearing_deg
from simulator.mavenums import Cmd, Frame
from simulator.mission_store import WireItem
from simulator.physics import MotionCommand, MotionKind

TAKEOFF_ALT_TOLERANCE_M = 0.5


class Navigation(FlightState):
    """Position, speed and yaw control toward the current target, and the task phases."""

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

    # ------------------------------------------------------------------------------------------
    # Speeds, hold point and yaw
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
