"""Which messages stream to the peers and how often: REQUEST_DATA_STREAM and SET_MESSAGE_INTERVAL.

As in ArduCopter, a fresh link gets only HEARTBEAT (1 Hz); REQUEST_DATA_STREAM sets the rate of
a group of messages (as GCS_Mavlink.cpp groups them) and MAV_CMD_SET_MESSAGE_INTERVAL overrides
the interval of one message. Streams run on wall time at a fixed cadence, skipping slots missed
during a stall rather than bursting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.mavenums import CommandResult, MavMessage
from simulator.message_builders import MSG_ID, MessageBuilder
from simulator.mission_store import Peer

MAX_STREAM_HZ = 50.0

_STREAM_GROUPS: dict[int, tuple[str, ...]] = {
    mavlink.MAV_DATA_STREAM_RAW_SENSORS: (),
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: (
        "SYS_STATUS",
        "POWER_STATUS",
        "MISSION_CURRENT",
        "GPS_RAW_INT",
        "NAV_CONTROLLER_OUTPUT",
        "FENCE_STATUS",
        "POSITION_TARGET_GLOBAL_INT",
    ),
    mavlink.MAV_DATA_STREAM_RC_CHANNELS: (),
    mavlink.MAV_DATA_STREAM_RAW_CONTROLLER: (),
    mavlink.MAV_DATA_STREAM_POSITION: ("GLOBAL_POSITION_INT",),
    mavlink.MAV_DATA_STREAM_EXTRA1: ("ATTITUDE",),
    mavlink.MAV_DATA_STREAM_EXTRA2: ("VFR_HUD",),
    mavlink.MAV_DATA_STREAM_EXTRA3: (
        "SYSTEM_TIME",
        "BATTERY_STATUS",
        "EKF_STATUS_REPORT",
        "EXTENDED_SYS_STATE",
    ),
}


@dataclass(slots=True)
class _Stream:
    interval_s: float
    next_due_s: float


class StreamScheduler:
    """The heartbeat and the message streams: their intervals and when each is next due."""

    def __init__(
        self, messages: MessageBuilder, send: Callable[[MavMessage], None], clock: Callable[[], float]
    ) -> None:
        self._messages = messages
        self._builders = messages.by_msgid
        self._send = send
        self._clock = clock
        self._heartbeat = _Stream(1.0, 0.0)
        self._streams: dict[int, _Stream] = {}
        self._group_rates_hz: dict[int, float] = {}
        self._interval_overrides: dict[int, float] = {}

    def start(self, wall_s: float) -> None:
        """The first heartbeat goes out at ``wall_s``."""
        self._heartbeat.next_due_s = wall_s

    def next_due_s(self, latest_s: float) -> float:
        """The earliest time a message is due, or ``latest_s`` if that is earlier."""
        wake = min(latest_s, self._heartbeat.next_due_s)
        for stream in self._streams.values():
            wake = min(wake, stream.next_due_s)
        return wake

    def send_due(self, wall_s: float) -> None:
        if wall_s >= self._heartbeat.next_due_s:
            self._send(self._messages.heartbeat())
            self._heartbeat.next_due_s = _next_due(self._heartbeat, wall_s)
        for msgid, stream in self._streams.items():
            if wall_s >= stream.next_due_s:
                self._send(self._builders[msgid]())
                stream.next_due_s = _next_due(stream, wall_s)

    def on_request_data_stream(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        rate_hz = float(msg.req_message_rate) if msg.start_stop else 0.0
        groups = (
            list(_STREAM_GROUPS) if msg.req_stream_id == mavlink.MAV_DATA_STREAM_ALL else [msg.req_stream_id]
        )
        for group in groups:
            if group in _STREAM_GROUPS:
                self._group_rates_hz[group] = rate_hz
        self._rebuild_streams()

    def _rebuild_streams(self) -> None:
        """Effective per-message intervals: SET_MESSAGE_INTERVAL overrides, else the group rate."""
        now = self._clock()
        wanted: dict[int, float] = {}
        for group, names in _STREAM_GROUPS.items():
            rate_hz = self._group_rates_hz.get(group, 0.0)
            if rate_hz > 0:
                for name in names:
                    wanted[MSG_ID[name]] = 1.0 / min(rate_hz, MAX_STREAM_HZ)
        for msgid, interval_s in self._interval_overrides.items():
            if msgid == MSG_ID["HEARTBEAT"]:
                continue
            if math.isinf(interval_s):
                wanted.pop(msgid, None)
            else:
                wanted[msgid] = interval_s
        streams: dict[int, _Stream] = {}
        for msgid, interval_s in wanted.items():
            existing = self._streams.get(msgid)
            due = now if existing is None else min(existing.next_due_s, now + interval_s)
            streams[msgid] = _Stream(interval_s, due)
        self._streams = streams
        heartbeat_interval = self._interval_overrides.get(MSG_ID["HEARTBEAT"], 1.0)
        self._heartbeat.interval_s = heartbeat_interval if not math.isinf(heartbeat_interval) else 1e9

    def set_message_interval(self, msgid: int, interval_us: float) -> CommandResult:
        if msgid not in self._builders:
            return CommandResult.FAILED
        if interval_us < 0:
            self._interval_overrides[msgid] = math.inf
        elif interval_us == 0:
            self._interval_overrides.pop(msgid, None)
        else:
            self._interval_overrides[msgid] = max(interval_us / 1e6, 1.0 / MAX_STREAM_HZ)
        self._rebuild_streams()
        return CommandResult.ACCEPTED

    def message_interval_us(self, msgid: int) -> int:
        if msgid == MSG_ID["HEARTBEAT"]:
            return round(self._heartbeat.interval_s * 1e6)
        stream = self._streams.get(msgid)
        if stream is not None:
            return round(stream.interval_s * 1e6)
        return -1 if msgid in self._builders else 0


def _next_due(stream: _Stream, wall_s: float) -> float:
    """Keep a fixed cadence, but skip missed slots instead of bursting after a stall."""
    due = stream.next_due_s + stream.interval_s
    return due if due > wall_s else wall_s + stream.interval_s
