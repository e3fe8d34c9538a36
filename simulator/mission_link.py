"""MISSION_* messages to and from the mission, fence and rally transfer protocols.

The upload/download state machines live in mission_store.py and speak in plain records
(SendAck, SendRequest, SendCount, SendItem, SendText); this turns received MISSION_* messages
into their calls and their records into MAVLink messages, and handles what spans mission types
(MISSION_CLEAR_ALL for all types) or goes to the autopilot (MISSION_SET_CURRENT).
"""

from __future__ import annotations

from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot
from simulator.mavenums import Cmd, MavMessage, MissionResult, MissionType, Severity
from simulator.mission_store import (
    Outbound,
    Peer,
    SendAck,
    SendCount,
    SendItem,
    SendRequest,
    SendText,
    TransferProtocol,
    WireItem,
    mission_item_from_float,
)


class MissionLink:
    """One transfer protocol per mission type, on wall time (``clock``), sending through ``send``."""

    def __init__(
        self,
        mav: MavMessage,
        autopilot: Autopilot,
        clock: Callable[[], float],
        send: Callable[[MavMessage], None],
        statustext: Callable[[Severity, str], None],
    ) -> None:
        self._mav = mav
        self._autopilot = autopilot
        self._send = send
        self._statustext = statustext
        self._transfers = {
            int(MissionType.MISSION): TransferProtocol(autopilot.mission, clock),
            int(MissionType.FENCE): TransferProtocol(autopilot.fence, clock),
            int(MissionType.RALLY): TransferProtocol(autopilot.rally, clock),
        }

    def update(self) -> None:
        """Re-request a lost item, or time out, in uploads that are under way."""
        for transfer in self._transfers.values():
            if transfer.receiving:
                self._emit(transfer.update())

    def _transfer(self, mission_type: int) -> TransferProtocol | None:
        return self._transfers.get(mission_type)

    def on_mission_count(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_count(sender, msg.count, mavlink1))

    def on_mission_write_partial_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_write_partial(sender, msg.start_index, msg.end_index, mavlink1))

    def on_mission_item_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is None:
            return
        item = WireItem(
            seq=msg.seq,
            command=msg.command,
            frame=msg.frame,
            param1=msg.param1,
            param2=msg.param2,
            param3=msg.param3,
            param4=msg.param4,
            x=msg.x,
            y=msg.y,
            z=msg.z,
            current=msg.current,
            autocontinue=msg.autocontinue,
            mission_type=msg.mission_type,
        )
        self._emit(transfer.handle_item(sender, item))

    def on_mission_item(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is None:
            return
        result, item = mission_item_from_float(
            seq=msg.seq,
            command=msg.command,
            frame=msg.frame,
            params=(msg.param1, msg.param2, msg.param3, msg.param4),
            x_deg=msg.x,
            y_deg=msg.y,
            z=msg.z,
            mission_type=msg.mission_type,
        )
        if item is None:
            if transfer.receiving:
                self._emit([SendAck(sender, result, transfer.mission_type)])
                transfer.receiving = False
                transfer.store.end_upload()
            return
        self._emit(transfer.handle_item(sender, item))

    def on_mission_request_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request_list(sender, mavlink1))

    def on_mission_request_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request(sender, msg.seq, True, mavlink1))

    def on_mission_request(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request(sender, msg.seq, False, mavlink1))

    def on_mission_clear_all(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if msg.mission_type == mavlink.MAV_MISSION_TYPE_ALL:
            # One ACK for the lot, ACCEPTED only if every type cleared.
            results = [transfer.handle_clear_all(sender, mavlink1) for transfer in self._transfers.values()]
            ok = all(
                isinstance(out[-1], SendAck) and out[-1].result is MissionResult.ACCEPTED for out in results
            )
            result = MissionResult.ACCEPTED if ok else MissionResult.ERROR
            self._emit([SendAck(sender, result, mavlink.MAV_MISSION_TYPE_ALL)])
            return
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_clear_all(sender, mavlink1))

    def on_mission_set_current(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if not self._autopilot.set_mission_current(msg.seq):
            self._emit([SendAck(sender, MissionResult.ERROR, MissionType.MISSION)])

    def _emit(self, outbound: list[Outbound]) -> None:
        mav = self._mav
        for record in outbound:
            match record:
                case SendAck(target=(sysid, compid), result=result, mission_type=mission_type):
                    self._send(mav.mission_ack_encode(sysid, compid, result, mission_type))
                case SendRequest(target=(sysid, compid), seq=seq, mission_type=mission_type):
                    self._send(mav.mission_request_encode(sysid, compid, seq, mission_type))
                case SendCount(target=(sysid, compid), count=count, mission_type=mission_type):
                    self._send(mav.mission_count_encode(sysid, compid, count, mission_type))
                case SendItem(target=(sysid, compid), item=item, as_int=as_int):
                    self._send(self._encode_item(sysid, compid, item, as_int))
                case SendText(severity=severity, text=text):
                    self._statustext(severity, text)

    def _encode_item(self, sysid: int, compid: int, item: WireItem, as_int: bool) -> MavMessage:
        fields = (
            item.seq,
            item.frame,
            item.command,
            item.current,
            item.autocontinue,
            item.param1,
            item.param2,
            item.param3,
            item.param4,
        )
        if as_int:
            return self._mav.mission_item_int_encode(
                sysid, compid, *fields, item.x, item.y, item.z, item.mission_type
            )
        digicam = item.command in (Cmd.DO_DIGICAM_CONTROL, Cmd.DO_DIGICAM_CONFIGURE)
        x = float(item.x) if digicam else item.x * 1e-7
        y = float(item.y) if digicam else item.y * 1e-7
        return self._mav.mission_item_encode(sysid, compid, *fields, x, y, item.z, item.mission_type)
