"""AUTO mode: executing the stored mission item by item, as AP_Mission and ModeAuto do.

The third layer of the autopilot (see flight_state.py): starting and resuming the mission,
stepping through nav commands (following DO_JUMPs), running the do/condition commands queued
behind each, reporting progress (MISSION_CURRENT, MISSION_ITEM_REACHED, "Mission: N WP" texts)
and completing. The navigation layer below flies each nav command.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod

from simulator.flight_state import DoState, Location, MissionRun, NavTask, Phase
from simulator.mavenums import COPTER_MODE_NAMES, Cmd, Frame, MissionState, Severity
from simulator.mission_store import WireItem
from simulator.navigation import Navigation
from simulator.physics import MotionCommand, MotionKind

logger = logging.getLogger(__name__)


class MissionExecution(Navigation):
    """The mission's run state (``mission_run``, ``nav_seq``) and the execution of its items."""

    @abstractmethod
    def set_mode(self, name: str, *, forced: bool = False) -> bool:
        """Change flight mode: the autopilot's (autopilot.py), which DO_SET_MODE items call."""

    def mission_state(self) -> MissionState:
        """MISSION_CURRENT.mission_state as ArduCopter reports it."""
        if self.mission.item_count() <= 1:
            return MissionState.NO_MISSION
        if self.mission_run is MissionRun.COMPLETE:
            return MissionState.COMPLETE
        if self.mission_run is MissionRun.RUNNING and self.mode == "AUTO":
            return MissionState.ACTIVE
        return MissionState.PAUSED if self._mission_started else MissionState.NOT_STARTED

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

    def _condition_yaw(self, item: WireItem) -> None:
        if item.param4 == 1:
            direction = -1.0 if item.param3 < 0 else 1.0
            self._fixed_yaw_deg = (self.airframe.yaw_deg + direction * item.param1) % 360.0
        else:
            self._fixed_yaw_deg = item.param1 % 360.0


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
