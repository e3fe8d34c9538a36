"""COMMAND_LONG and COMMAND_INT, SET_MODE and SET_POSITION_TARGET_GLOBAL_INT: commands to the vehicle.

Each command is checked and handed to the autopilot (arming, modes, takeoff, mission start,
GUIDED targets, home, payload) or to the streams (message intervals), and answered with a
COMMAND_ACK. A reply the command asks for (REQUEST_MESSAGE, GET_MESSAGE_INTERVAL) follows the
ACK, as ArduPilot orders them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot, Location
from simulator.mavenums import COPTER_MODE_NAMES, Cmd, CommandResult, Frame, MavMessage
from simulator.message_builders import MSG_ID, MessageBuilder
from simulator.mission_store import Peer
from simulator.params import ParamStore
from simulator.streams import StreamScheduler

FORCE_ARM_MAGIC = 21196


class CommandHandler:
    """Carries out commands on ``autopilot`` and acknowledges them through ``send``."""

    def __init__(
        self,
        mav: MavMessage,
        autopilot: Autopilot,
        params: ParamStore,
        messages: MessageBuilder,
        streams: StreamScheduler,
        send: Callable[[MavMessage], None],
    ) -> None:
        self._mav = mav
        self._autopilot = autopilot
        self._params = params
        self._builders = messages.by_msgid
        self._streams = streams
        self._send = send
        # A reply that must follow the COMMAND_ACK (REQUEST_MESSAGE), as ArduPilot orders them.
        self._after_ack: Callable[[], None] | None = None

    def on_command_long(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        result = self._command(msg.command, params, Frame.GLOBAL_RELATIVE_ALT, is_int=False)
        self._ack_command(msg.command, result, sender)

    def on_command_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.x / 1e7, msg.y / 1e7, msg.z)
        result = self._command(msg.command, params, msg.frame, is_int=True, raw_xy=(msg.x, msg.y))
        self._ack_command(msg.command, result, sender)

    def on_set_mode(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        result = self._set_mode(msg.base_mode, msg.custom_mode)
        self._send(
            self._mav.command_ack_encode(mavlink.MAVLINK_MSG_ID_SET_MODE, result, 0, 0, sender[0], sender[1])
        )

    def _set_mode(self, base_mode: float, custom_mode: float) -> CommandResult:
        if not int(base_mode) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return CommandResult.FAILED
        name = COPTER_MODE_NAMES.get(int(custom_mode))
        if name is None:
            return CommandResult.FAILED
        return CommandResult.ACCEPTED if self._autopilot.set_mode(name) else CommandResult.FAILED

    def _ack_command(self, command: int, result: CommandResult | None, sender: Peer) -> None:
        if result is None:
            return
        self._send(self._mav.command_ack_encode(command, result, 0, 0, sender[0], sender[1]))
        follow_up = self._after_ack
        self._after_ack = None
        if follow_up is not None:
            follow_up()

    def _location_from(self, lat_deg: float, lon_deg: float, alt: float, frame: int) -> Location:
        autopilot = self._autopilot
        if frame in (Frame.GLOBAL, Frame.GLOBAL_INT):
            alt_amsl = alt
        elif frame in (Frame.GLOBAL_TERRAIN_ALT, Frame.GLOBAL_TERRAIN_ALT_INT):
            alt_amsl = autopilot.airframe.ground_amsl_m + alt
        else:
            alt_amsl = autopilot.home_alt_amsl_m + alt
        return Location(lat_deg, lon_deg, alt_amsl)

    def _command(
        self,
        command: int,
        params: tuple[float, float, float, float, float, float, float],
        frame: int,
        *,
        is_int: bool,
        raw_xy: tuple[int, int] | None = None,
    ) -> CommandResult | None:
        p1, p2, p3, _p4, p5, p6, p7 = params
        autopilot = self._autopilot
        match command:
            case Cmd.COMPONENT_ARM_DISARM:
                force = round(p2) == FORCE_ARM_MAGIC
                return autopilot.arm(force=force) if p1 == 1 else autopilot.disarm(force=force)
            case Cmd.DO_SET_MODE:
                return self._set_mode(p1, p2)
            case Cmd.NAV_TAKEOFF:
                return autopilot.takeoff(p7)
            case Cmd.MISSION_START:
                return autopilot.mission_start(p1, p2)
            case Cmd.NAV_RETURN_TO_LAUNCH:
                return CommandResult.ACCEPTED if autopilot.set_mode("RTL") else CommandResult.FAILED
            case Cmd.NAV_LAND:
                return CommandResult.ACCEPTED if autopilot.set_mode("LAND") else CommandResult.FAILED
            case Cmd.DO_SET_RELAY:
                if not 0 <= p1 < 16:
                    return CommandResult.FAILED
                autopilot.set_relay(int(p1), p2 != 0)
                return CommandResult.ACCEPTED
            case Cmd.DO_SET_CAM_TRIGG_DIST:
                autopilot.set_cam_trigger_distance(p1, p3 == 1)
                return CommandResult.ACCEPTED
            case Cmd.DO_DIGICAM_CONTROL:
                if p5 == 1:
                    autopilot.set_cam_trigger_distance(autopilot.cam_trigger_dist_m, True)
                return CommandResult.ACCEPTED
            case Cmd.DO_SPRAYER:
                autopilot.set_sprayer(p1 != 0)
                return CommandResult.ACCEPTED
            case Cmd.DO_CHANGE_SPEED:
                return CommandResult.ACCEPTED if autopilot.change_speed(int(p1), p2) else CommandResult.FAILED
            case Cmd.DO_SET_HOME:
                location = (
                    None if p1 == 1 else self._location_from(p5, p6, p7, frame if is_int else Frame.GLOBAL)
                )
                if location is not None and (abs(location.lat_deg) > 90 or abs(location.lon_deg) > 180):
                    return CommandResult.FAILED
                return CommandResult.ACCEPTED if autopilot.set_home(location) else CommandResult.FAILED
            case Cmd.DO_SET_ROI_LOCATION:
                autopilot.set_roi(self._location_from(p5, p6, p7, frame))
                return CommandResult.ACCEPTED
            case Cmd.DO_SET_ROI_NONE:
                autopilot.set_roi(None)
                return CommandResult.ACCEPTED
            case Cmd.DO_REPOSITION:
                return self._reposition(p1, p2, p5, p6, p7, frame, raw_xy)
            case Cmd.CONDITION_YAW:
                if autopilot.mode != "GUIDED":
                    return CommandResult.FAILED
                autopilot.set_fixed_yaw(p1)
                return CommandResult.ACCEPTED
            case Cmd.DO_SET_MISSION_CURRENT:
                ok = autopilot.set_mission_current(int(p1))
                return CommandResult.ACCEPTED if ok else CommandResult.FAILED
            case Cmd.DO_FENCE_ENABLE:
                self._params.set("FENCE_ENABLE", 1 if p1 == 1 else 0)
                return CommandResult.ACCEPTED
            case Cmd.SET_MESSAGE_INTERVAL:
                return self._streams.set_message_interval(int(p1), p2)
            case Cmd.GET_MESSAGE_INTERVAL:
                msgid = int(p1)
                interval = self._streams.message_interval_us(msgid)
                self._after_ack = lambda: self._send(self._mav.message_interval_encode(msgid, interval))
                return CommandResult.ACCEPTED
            case Cmd.REQUEST_MESSAGE:
                return self._request_message(int(p1))
            case Cmd.REQUEST_AUTOPILOT_CAPABILITIES:
                return self._request_message(MSG_ID["AUTOPILOT_VERSION"])
            case Cmd.GET_HOME_POSITION:
                return self._request_message(MSG_ID["HOME_POSITION"])
        return CommandResult.UNSUPPORTED

    def _request_message(self, msgid: int) -> CommandResult:
        builder = self._builders.get(msgid)
        if builder is None:
            return CommandResult.FAILED
        if msgid == MSG_ID["HOME_POSITION"] and self._autopilot.home is None:
            return CommandResult.FAILED
        self._after_ack = lambda: self._send(builder())
        return CommandResult.ACCEPTED

    def _reposition(
        self,
        speed_mps: float,
        flags: float,
        lat_deg: float,
        lon_deg: float,
        alt: float,
        frame: int,
        raw_xy: tuple[int, int] | None,
    ) -> CommandResult:
        autopilot = self._autopilot
        if raw_xy is not None:
            lat_deg, lon_deg = raw_xy[0] / 1e7, raw_xy[1] / 1e7
        change_mode = int(flags) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
        if autopilot.mode != "GUIDED" and (not change_mode or not autopilot.set_mode("GUIDED")):
            return CommandResult.FAILED
        here = autopilot.location
        if math.isnan(lat_deg) or math.isnan(lon_deg):
            lat_deg, lon_deg = here.lat_deg, here.lon_deg
        target = self._location_from(lat_deg, lon_deg, alt, frame)
        if math.isnan(alt):
            target = Location(lat_deg, lon_deg, here.alt_amsl_m)
        if speed_mps > 0:
            autopilot.change_speed(1, speed_mps)
        return CommandResult.ACCEPTED if autopilot.guided_goto(target) else CommandResult.FAILED

    def on_set_position_target_global_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        position_ignored = msg.type_mask & 0b111 == 0b111
        if position_ignored:
            return
        target = self._location_from(msg.lat_int / 1e7, msg.lon_int / 1e7, msg.alt, msg.coordinate_frame)
        self._autopilot.guided_goto(target)
