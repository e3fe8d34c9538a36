"""SimVehicle: an ArduCopter-like MAVLink 2 vehicle on one UDP port, for tests, demos and benches.

Like an autopilot's UDP port, the vehicle answers and streams to every address that has sent it
a valid packet, so any ground station connects with ``udpout:127.0.0.1:PORT``. A fresh link gets
only HEARTBEAT; other messages flow once requested with MAV_CMD_SET_MESSAGE_INTERVAL or
REQUEST_DATA_STREAM, as with ArduCopter.

Clocks: flight (physics, battery, mission timers, auto-disarm, boot-to-ready) runs on simulated
time, which advances at ``speedup`` times wall time in fixed steps; everything a ground station
times on its side (stream rates, heartbeats, mission protocol re-requests and timeouts, the GCS
failsafe's heartbeat timeout) runs on wall time, so a GCS sees normal link behaviour at any
speed-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot, Location, Photo
from simulator.faults import Faults
from simulator.framing import MAGIC_V1, iter_frames
from simulator.mavenums import (
    COPTER_MODE_NAMES,
    COPTER_MODE_NUMBERS,
    Cmd,
    CommandResult,
    Frame,
    MissionResult,
    MissionState,
    MissionType,
    Severity,
)
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
from simulator.params import ParamStore, default_param_defs
from simulator.signing import SignatureGuard, signing_timestamp_now

logger = logging.getLogger(__name__)

MavMessage = Any
"""A decoded pymavlink message (pymavlink is untyped)."""

MAX_STREAM_HZ = 50.0
WAKE_INTERVAL_S = 0.05
MAX_PEERS = 16
MAX_STEPS_PER_WAKE = 4000
FORCE_ARM_MAGIC = 21196
STATUSTEXT_HISTORY = 200

_MSG = {
    "HEARTBEAT": mavlink.MAVLINK_MSG_ID_HEARTBEAT,
    "SYS_STATUS": mavlink.MAVLINK_MSG_ID_SYS_STATUS,
    "SYSTEM_TIME": mavlink.MAVLINK_MSG_ID_SYSTEM_TIME,
    "GPS_RAW_INT": mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
    "ATTITUDE": mavlink.MAVLINK_MSG_ID_ATTITUDE,
    "GLOBAL_POSITION_INT": mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
    "MISSION_CURRENT": mavlink.MAVLINK_MSG_ID_MISSION_CURRENT,
    "NAV_CONTROLLER_OUTPUT": mavlink.MAVLINK_MSG_ID_NAV_CONTROLLER_OUTPUT,
    "VFR_HUD": mavlink.MAVLINK_MSG_ID_VFR_HUD,
    "POSITION_TARGET_GLOBAL_INT": mavlink.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT,
    "BATTERY_STATUS": mavlink.MAVLINK_MSG_ID_BATTERY_STATUS,
    "AUTOPILOT_VERSION": mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
    "HOME_POSITION": mavlink.MAVLINK_MSG_ID_HOME_POSITION,
    "EXTENDED_SYS_STATE": mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
    "EKF_STATUS_REPORT": mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
    "FENCE_STATUS": mavlink.MAVLINK_MSG_ID_FENCE_STATUS,
    "POWER_STATUS": mavlink.MAVLINK_MSG_ID_POWER_STATUS,
}

# REQUEST_DATA_STREAM groups, as ArduCopter's GCS_Mavlink.cpp assigns these messages.
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

_CAPABILITIES = (
    mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_C_CAST
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_ATTITUDE_TARGET
    | mavlink.MAV_PROTOCOL_CAPABILITY_FLIGHT_TERMINATION
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)
_FLIGHT_SW_VERSION = (4 << 24) | (7 << 16) | (0 << 8) | mavlink.FIRMWARE_VERSION_TYPE_DEV

_SENSORS_PRESENT = (
    mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mavlink.MAV_SYS_STATUS_SENSOR_GPS
    | mavlink.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
    | mavlink.MAV_SYS_STATUS_SENSOR_YAW_POSITION
    | mavlink.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
    | mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | mavlink.MAV_SYS_STATUS_AHRS
    | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    | mavlink.MAV_SYS_STATUS_PREARM_CHECK
)

_EKF_GOOD = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_VELOCITY_VERT
    | mavlink.EKF_POS_HORIZ_REL
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_POS_VERT_ABS
    | mavlink.EKF_PRED_POS_HORIZ_REL
    | mavlink.EKF_PRED_POS_HORIZ_ABS
)
_EKF_NO_POSITION = (
    mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_VERT | mavlink.EKF_POS_VERT_ABS | mavlink.EKF_CONST_POS_MODE
)


@dataclass(frozen=True, slots=True)
class VehicleConfig:
    """How to build one simulated vehicle. ``port=0`` binds an ephemeral port (see ``SimVehicle.port``)."""

    sysid: int
    port: int
    home_lon_deg: float
    home_lat_deg: float
    home_alt_amsl_m: float = 5.0
    bind_host: str = "127.0.0.1"
    speedup: float = 1.0
    mission_capacity: int = 700
    fence_capacity: int = 100
    rally_capacity: int = 20
    wind_mps: float = 0.0
    gps_noise_m: float = 0.3
    seed: int = 0
    signing_key: bytes | None = None
    boot_time_to_ready_s: float = 3.0
    battery_cells: int = 4
    battery_capacity_wh: float = 77.0
    physics_step_s: float = 0.05
    compid: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.sysid <= 255:
            raise ValueError(f"sysid must be 1..255, not {self.sysid}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.speedup <= 0 or self.physics_step_s <= 0:
            raise ValueError("speedup and physics_step_s must be positive")
        if self.signing_key is not None and len(self.signing_key) != 32:
            raise ValueError("a MAVLink signing key is 32 bytes")


@dataclass(frozen=True, slots=True)
class Position:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float


@dataclass(slots=True)
class LinkStats:
    datagrams_in: int = 0
    messages_in: int = 0
    bad_frames_in: int = 0
    datagrams_out: int = 0
    messages_out: int = 0


@dataclass(slots=True)
class _Stream:
    interval_s: float
    next_due_s: float


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a GCS that went away; the peer stays until it is evicted.
        logger.debug("udp error: %s", exc)


class SimVehicle:
    """One ArduCopter-like vehicle. ``await start()``, fly it over MAVLink, ``await stop()``."""

    def __init__(self, config: VehicleConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wall_base_s = 0.0
        self._sim_base_s = 0.0
        self._speedup = config.speedup
        self.params = ParamStore(
            default_param_defs(
                sysid=config.sysid,
                speedup=config.speedup,
                battery_cells=config.battery_cells,
                capacity_mah=round(config.battery_capacity_wh / (3.7 * config.battery_cells) * 1000),
            )
        )
        self.faults = Faults(config.seed, self._wall_now, lambda: self.autopilot.sim_time_s)
        self.autopilot = Autopilot(
            home_lat_deg=config.home_lat_deg,
            home_lon_deg=config.home_lon_deg,
            home_alt_amsl_m=config.home_alt_amsl_m,
            params=self.params,
            faults=self.faults,
            listener=self,
            seed=config.seed,
            boot_time_to_ready_s=config.boot_time_to_ready_s,
            gps_noise_m=config.gps_noise_m,
            wind_mps=config.wind_mps,
            battery_cells=config.battery_cells,
            battery_capacity_wh=config.battery_capacity_wh,
            mission_capacity=config.mission_capacity,
            fence_capacity=config.fence_capacity,
            rally_capacity=config.rally_capacity,
        )
        self._transfers = {
            int(MissionType.MISSION): TransferProtocol(self.autopilot.mission, self._wall_now),
            int(MissionType.FENCE): TransferProtocol(self.autopilot.fence, self._wall_now),
            int(MissionType.RALLY): TransferProtocol(self.autopilot.rally, self._wall_now),
        }
        self._mav: MavMessage = mavlink.MAVLink(None, srcSystem=config.sysid, srcComponent=config.compid)
        self._parser: MavMessage = mavlink.MAVLink(None)
        self._guard: SignatureGuard | None = None
        if config.signing_key is not None:
            self._guard = SignatureGuard(config.signing_key)
            self._mav.signing.secret_key = config.signing_key
            self._mav.signing.sign_outgoing = True
            self._mav.signing.timestamp = signing_timestamp_now()
        self._peers: dict[tuple[str, int], float] = {}
        self._heartbeat = _Stream(1.0, 0.0)
        self._streams: dict[int, _Stream] = {}
        self._group_rates_hz: dict[int, float] = {}
        self._interval_overrides: dict[int, float] = {}
        self._last_gcs_heartbeat_s: float | None = None
        self._mission_total_seen = -1
        self._statustexts: deque[str] = deque(maxlen=STATUSTEXT_HISTORY)
        self._pending_texts: deque[tuple[Severity, str]] = deque()
        self.stats = LinkStats()
        # A reply that must follow the COMMAND_ACK (REQUEST_MESSAGE), as ArduPilot orders them.
        self._after_ack: Callable[[], None] | None = None
        self._handlers: dict[str, Callable[[MavMessage, Peer, bool], None]] = {
            "HEARTBEAT": self._on_heartbeat,
            "COMMAND_LONG": self._on_command_long,
            "COMMAND_INT": self._on_command_int,
            "SET_MODE": self._on_set_mode,
            "REQUEST_DATA_STREAM": self._on_request_data_stream,
            "PARAM_REQUEST_LIST": self._on_param_request_list,
            "PARAM_REQUEST_READ": self._on_param_request_read,
            "PARAM_SET": self._on_param_set,
            "MISSION_COUNT": self._on_mission_count,
            "MISSION_ITEM_INT": self._on_mission_item_int,
            "MISSION_ITEM": self._on_mission_item,
            "MISSION_REQUEST_LIST": self._on_mission_request_list,
            "MISSION_REQUEST_INT": self._on_mission_request_int,
            "MISSION_REQUEST": self._on_mission_request,
            "MISSION_CLEAR_ALL": self._on_mission_clear_all,
            "MISSION_SET_CURRENT": self._on_mission_set_current,
            "MISSION_WRITE_PARTIAL_LIST": self._on_mission_write_partial_list,
            "SET_POSITION_TARGET_GLOBAL_INT": self._on_set_position_target_global_int,
            "TIMESYNC": self._on_timesync,
        }
        self._builders: dict[int, Callable[[], MavMessage]] = {
            _MSG["HEARTBEAT"]: self._build_heartbeat,
            _MSG["SYS_STATUS"]: self._build_sys_status,
            _MSG["SYSTEM_TIME"]: self._build_system_time,
            _MSG["GPS_RAW_INT"]: self._build_gps_raw_int,
            _MSG["ATTITUDE"]: self._build_attitude,
            _MSG["GLOBAL_POSITION_INT"]: self._build_global_position_int,
            _MSG["MISSION_CURRENT"]: self._build_mission_current,
            _MSG["NAV_CONTROLLER_OUTPUT"]: self._build_nav_controller_output,
            _MSG["VFR_HUD"]: self._build_vfr_hud,
            _MSG["POSITION_TARGET_GLOBAL_INT"]: self._build_position_target_global_int,
            _MSG["BATTERY_STATUS"]: self._build_battery_status,
            _MSG["AUTOPILOT_VERSION"]: self._build_autopilot_version,
            _MSG["HOME_POSITION"]: self._build_home_position,
            _MSG["EXTENDED_SYS_STATE"]: self._build_extended_sys_state,
            _MSG["EKF_STATUS_REPORT"]: self._build_ekf_status_report,
            _MSG["FENCE_STATUS"]: self._build_fence_status,
            _MSG["POWER_STATUS"]: self._build_power_status,
        }

    # ------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self._on_datagram),
            local_addr=(self.config.bind_host, self.config.port),
        )
        self._transport = transport
        self._wall_base_s = loop.time()
        self._sim_base_s = self.autopilot.sim_time_s
        self._heartbeat.next_due_s = self._wall_base_s
        self._task = loop.create_task(self._run(), name=f"sim-vehicle-{self.config.sysid}")
        logger.info("vehicle sysid %d listening on %s:%d", self.sysid, self.config.bind_host, self.port)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> SimVehicle:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------
    # State for tests and tools
    # ------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._transport is None:
            return self.config.port
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def sysid(self) -> int:
        return self.params.get_int("SYSID_THISMAV")

    @property
    def mode(self) -> str:
        return self.autopilot.mode

    @property
    def armed(self) -> bool:
        return self.autopilot.armed

    @property
    def landed(self) -> bool:
        return self.autopilot.landed

    @property
    def ready(self) -> bool:
        """EKF has a position and pre-arm checks pass (what SYS_STATUS's pre-arm bit says)."""
        return self.autopilot.ekf_ok and self.autopilot.prearm_failure() is None

    @property
    def position(self) -> Position:
        here = self.autopilot.location
        return Position(here.lat_deg, here.lon_deg, here.alt_amsl_m, self.autopilot.alt_rel_m)

    @property
    def home(self) -> Location | None:
        return self.autopilot.home

    @property
    def sim_time_s(self) -> float:
        return self.autopilot.sim_time_s

    @property
    def mission_items(self) -> list[WireItem]:
        """The stored mission as a download returns it; seq 0 is home."""
        return self.autopilot.mission.readback()

    @property
    def fence_items(self) -> list[WireItem]:
        fence = self.autopilot.fence
        return [item for seq in range(len(fence.items)) if (item := fence.read_item(seq)[1]) is not None]

    @property
    def rally_items(self) -> list[WireItem]:
        return list(self.autopilot.rally.items)

    @property
    def mission_seq(self) -> int:
        return self.autopilot.nav_seq

    @property
    def mission_state(self) -> MissionState:
        return self.autopilot.mission_state()

    @property
    def relays(self) -> dict[int, bool]:
        return dict(self.autopilot.relays)

    @property
    def sprayer_on(self) -> bool:
        return self.autopilot.sprayer_on

    @property
    def photos(self) -> list[Photo]:
        return list(self.autopilot.photos)

    @property
    def battery_pct(self) -> float:
        return self.autopilot.battery.remaining_pct

    @property
    def battery_voltage_v(self) -> float:
        return self.autopilot.battery.voltage_v

    @property
    def statustexts(self) -> list[str]:
        """The last STATUSTEXTs the vehicle sent, oldest first."""
        return list(self._statustexts)

    @property
    def peers(self) -> list[tuple[str, int]]:
        return list(self._peers)

    def param(self, name: str) -> float:
        return self.params[name]

    def set_param(self, name: str, value: float) -> None:
        """Set a parameter directly (test setup); the same side effects as PARAM_SET."""
        self.params.set(name, value)
        self._param_side_effects(name)

    # ------------------------------------------------------------------------------------------
    # Clock and main loop
    # ------------------------------------------------------------------------------------------
    def _wall_now(self) -> float:
        if self._loop is not None:
            return self._loop.time()
        return time.monotonic()

    def _sim_target_s(self, wall_s: float) -> float:
        return self._sim_base_s + (wall_s - self._wall_base_s) * self._speedup

    def _set_speedup(self, speedup: float) -> None:
        now = self._wall_now()
        self._sim_base_s = self._sim_target_s(now)
        self._wall_base_s = now
        self._speedup = max(0.01, speedup)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            try:
                self._advance_sim(now)
                self._service(now)
            except Exception:
                # A simulator bug must not silently kill the vehicle's link: log it and go on.
                logger.exception("sysid %d: simulation step failed", self.sysid)
            wake = min(now + WAKE_INTERVAL_S, self._heartbeat.next_due_s)
            for stream in self._streams.values():
                wake = min(wake, stream.next_due_s)
            await asyncio.sleep(max(0.001, wake - loop.time()))

    def _advance_sim(self, wall_s: float) -> None:
        step = self.config.physics_step_s
        target = self._sim_target_s(wall_s)
        autopilot = self.autopilot
        steps = 0
        while autopilot.sim_time_s + step <= target:
            autopilot.step(step)
            steps += 1
            if steps >= MAX_STEPS_PER_WAKE:
                # The host cannot keep up: let simulated time slip rather than spiral.
                logger.warning("sysid %d: simulation falling behind wall time; slipping", self.sysid)
                self._sim_base_s = autopilot.sim_time_s
                self._wall_base_s = wall_s
                break

    def _service(self, wall_s: float) -> None:
        if self._mav.signing.sign_outgoing:
            self._mav.signing.timestamp = max(
                self._mav.signing.timestamp,
                signing_timestamp_now(),
                self._guard.timestamp if self._guard else 0,
            )
        silence = None if self._last_gcs_heartbeat_s is None else wall_s - self._last_gcs_heartbeat_s
        self.autopilot.check_gcs_failsafe(silence)
        total = self.autopilot.mission.item_count()
        if total != self._mission_total_seen:
            self._mission_total_seen = total
            self.params.set("MIS_TOTAL", total)
        for transfer in self._transfers.values():
            if transfer.receiving:
                self._emit(transfer.update())
        self._flush_texts()
        if not self._peers:
            return
        if wall_s >= self._heartbeat.next_due_s:
            self._send(self._build_heartbeat())
            self._heartbeat.next_due_s = _next_due(self._heartbeat, wall_s)
        for msgid, stream in self._streams.items():
            if wall_s >= stream.next_due_s:
                self._send(self._builders[msgid]())
                stream.next_due_s = _next_due(stream, wall_s)

    # ------------------------------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------------------------------
    def _send(self, msg: MavMessage) -> None:
        transport = self._transport
        if transport is None or not self._peers:
            return
        mav = self._mav
        buf = msg.pack(mav)
        mav.seq = (mav.seq + 1) % 256
        self.stats.messages_out += 1
        for addr in self._peers:
            if self.faults.drop_outbound():
                continue
            transport.sendto(buf, addr)
            self.stats.datagrams_out += 1

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
                    self.statustext(severity, text)

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

    # Listener protocol (called by the autopilot) ----------------------------------------------
    def statustext(self, severity: Severity, text: str) -> None:
        # Queued like ArduPilot's statustext queue: a command's COMMAND_ACK goes out first.
        self._statustexts.append(text)
        logger.debug("sysid %d: %s", self.sysid, text)
        self._pending_texts.append((severity, text))

    def _flush_texts(self) -> None:
        while self._pending_texts:
            severity, text = self._pending_texts.popleft()
            self._send(self._mav.statustext_encode(severity, text.encode()[:50]))

    def mission_item_reached(self, seq: int) -> None:
        self._send(self._mav.mission_item_reached_encode(seq))

    def mission_current_changed(self) -> None:
        self._send(self._build_mission_current())

    def home_changed(self) -> None:
        if self.autopilot.home is not None:
            self._send(self._build_home_position())

    # ------------------------------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------------------------------
    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.datagrams_in += 1
        if self.faults.drop_inbound():
            return
        for frame in iter_frames(data):
            if self._guard is not None and not self._guard.accept(frame):
                continue
            try:
                msg = self._parser.decode(bytearray(frame))
            except mavlink.MAVError:
                self.stats.bad_frames_in += 1
                continue
            if msg.get_type() in ("BAD_DATA", "UNKNOWN"):
                continue
            self._remember_peer(addr)
            self.stats.messages_in += 1
            self._dispatch(msg, frame[0] == MAGIC_V1)
        self._flush_texts()

    def _remember_peer(self, addr: tuple[str, int]) -> None:
        if addr not in self._peers and len(self._peers) >= MAX_PEERS:
            oldest = min(self._peers, key=self._peers.__getitem__)
            del self._peers[oldest]
        self._peers[addr] = self._wall_now()

    def _dispatch(self, msg: MavMessage, mavlink1: bool) -> None:
        handler = self._handlers.get(msg.get_type())
        if handler is None:
            return
        target_system = getattr(msg, "target_system", 0)
        if target_system not in (0, self.sysid):
            return
        target_component = getattr(msg, "target_component", 0)
        if target_component not in (0, self.config.compid):
            return
        handler(msg, (msg.get_srcSystem(), msg.get_srcComponent()), mavlink1)

    # -- heartbeat, mode, streams ------------------------------------------------------------------
    def _on_heartbeat(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if msg.type == mavlink.MAV_TYPE_GCS:
            self._last_gcs_heartbeat_s = self._wall_now()

    def _on_set_mode(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
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
        return CommandResult.ACCEPTED if self.autopilot.set_mode(name) else CommandResult.FAILED

    def _on_request_data_stream(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
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
        now = self._wall_now()
        wanted: dict[int, float] = {}
        for group, names in _STREAM_GROUPS.items():
            rate_hz = self._group_rates_hz.get(group, 0.0)
            if rate_hz > 0:
                for name in names:
                    wanted[_MSG[name]] = 1.0 / min(rate_hz, MAX_STREAM_HZ)
        for msgid, interval_s in self._interval_overrides.items():
            if msgid == _MSG["HEARTBEAT"]:
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
        heartbeat_interval = self._interval_overrides.get(_MSG["HEARTBEAT"], 1.0)
        self._heartbeat.interval_s = heartbeat_interval if not math.isinf(heartbeat_interval) else 1e9

    def _set_message_interval(self, msgid: int, interval_us: float) -> CommandResult:
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

    def _message_interval_us(self, msgid: int) -> int:
        if msgid == _MSG["HEARTBEAT"]:
            return round(self._heartbeat.interval_s * 1e6)
        stream = self._streams.get(msgid)
        if stream is not None:
            return round(stream.interval_s * 1e6)
        return -1 if msgid in self._builders else 0

    # -- commands ------------------------------------------------------------------------------
    def _on_command_long(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        result = self._command(msg.command, params, Frame.GLOBAL_RELATIVE_ALT, is_int=False)
        self._ack_command(msg.command, result, sender)

    def _on_command_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4, msg.x / 1e7, msg.y / 1e7, msg.z)
        result = self._command(msg.command, params, msg.frame, is_int=True, raw_xy=(msg.x, msg.y))
        self._ack_command(msg.command, result, sender)

    def _ack_command(self, command: int, result: CommandResult | None, sender: Peer) -> None:
        if result is None:
            return
        self._send(self._mav.command_ack_encode(command, result, 0, 0, sender[0], sender[1]))
        follow_up = self._after_ack
        self._after_ack = None
        if follow_up is not None:
            follow_up()

    def _location_from(self, lat_deg: float, lon_deg: float, alt: float, frame: int) -> Location:
        autopilot = self.autopilot
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
        autopilot = self.autopilot
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
                self.params.set("FENCE_ENABLE", 1 if p1 == 1 else 0)
                return CommandResult.ACCEPTED
            case Cmd.SET_MESSAGE_INTERVAL:
                return self._set_message_interval(int(p1), p2)
            case Cmd.GET_MESSAGE_INTERVAL:
                msgid = int(p1)
                interval = self._message_interval_us(msgid)
                self._after_ack = lambda: self._send(self._mav.message_interval_encode(msgid, interval))
                return CommandResult.ACCEPTED
            case Cmd.REQUEST_MESSAGE:
                return self._request_message(int(p1))
            case Cmd.REQUEST_AUTOPILOT_CAPABILITIES:
                return self._request_message(_MSG["AUTOPILOT_VERSION"])
            case Cmd.GET_HOME_POSITION:
                return self._request_message(_MSG["HOME_POSITION"])
        return CommandResult.UNSUPPORTED

    def _request_message(self, msgid: int) -> CommandResult:
        builder = self._builders.get(msgid)
        if builder is None:
            return CommandResult.FAILED
        if msgid == _MSG["HOME_POSITION"] and self.autopilot.home is None:
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
        autopilot = self.autopilot
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

    def _on_set_position_target_global_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        position_ignored = msg.type_mask & 0b111 == 0b111
        if position_ignored:
            return
        target = self._location_from(msg.lat_int / 1e7, msg.lon_int / 1e7, msg.alt, msg.coordinate_frame)
        self.autopilot.guided_goto(target)

    def _on_timesync(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if msg.tc1 == 0:
            now_ns = int(self.autopilot.sim_time_s * 1e9)
            self._send(self._mav.timesync_encode(now_ns, msg.ts1))

    # -- parameters -------------------------------------------------------------------------------
    def _param_value(self, name: str) -> MavMessage:
        definition = self.params.definition(name)
        return self._mav.param_value_encode(
            name.encode(),
            self.params[name],
            definition.param_type,
            len(self.params),
            self.params.index_of(name),
        )

    def _on_param_request_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        for name in self.params.names():
            self._send(self._param_value(name))

    def _on_param_request_read(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        name = self.params.name_at(msg.param_index) if msg.param_index >= 0 else _param_id(msg.param_id)
        if name is not None and name in self.params:
            self._send(self._param_value(name))

    def _on_param_set(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        name = _param_id(msg.param_id)
        if name not in self.params:
            return
        if name != "MIS_TOTAL" and math.isfinite(msg.param_value):
            self.params.set(name, msg.param_value)
            self._param_side_effects(name)
        self._send(self._param_value(name))

    def _param_side_effects(self, name: str) -> None:
        if name == "SYSID_THISMAV":
            self._mav.srcSystem = self.params.get_int(name)
        elif name == "SIM_SPEEDUP":
            self._set_speedup(self.params[name])

    # -- missions -----------------------------------------------------------------------------------
    def _transfer(self, mission_type: int) -> TransferProtocol | None:
        return self._transfers.get(mission_type)

    def _on_mission_count(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_count(sender, msg.count, mavlink1))

    def _on_mission_write_partial_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_write_partial(sender, msg.start_index, msg.end_index, mavlink1))

    def _on_mission_item_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
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

    def _on_mission_item(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
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

    def _on_mission_request_list(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request_list(sender, mavlink1))

    def _on_mission_request_int(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request(sender, msg.seq, True, mavlink1))

    def _on_mission_request(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        transfer = self._transfer(msg.mission_type)
        if transfer is not None:
            self._emit(transfer.handle_request(sender, msg.seq, False, mavlink1))

    def _on_mission_clear_all(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
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

    def _on_mission_set_current(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if not self.autopilot.set_mission_current(msg.seq):
            self._emit([SendAck(sender, MissionResult.ERROR, MissionType.MISSION)])

    # ------------------------------------------------------------------------------------------
    # Message builders
    # ------------------------------------------------------------------------------------------
    def _time_boot_ms(self) -> int:
        return int(self.autopilot.sim_time_s * 1000) & 0xFFFFFFFF

    def _build_heartbeat(self) -> MavMessage:
        autopilot = self.autopilot
        base_mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        if autopilot.mode in ("AUTO", "GUIDED", "RTL", "LOITER", "LAND", "BRAKE"):
            base_mode |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if autopilot.armed:
            base_mode |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        if autopilot.any_failsafe:
            state = mavlink.MAV_STATE_CRITICAL
        elif autopilot.armed:
            state = mavlink.MAV_STATE_ACTIVE
        else:
            state = mavlink.MAV_STATE_STANDBY
        return self._mav.heartbeat_encode(
            mavlink.MAV_TYPE_QUADROTOR,
            mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode,
            COPTER_MODE_NUMBERS[autopilot.mode],
            state,
        )

    def _build_sys_status(self) -> MavMessage:
        autopilot = self.autopilot
        enabled = _SENSORS_PRESENT
        if not autopilot.armed:
            enabled &= ~mavlink.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
        health = _SENSORS_PRESENT
        if autopilot.gps_fix_type < 3:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
        if not autopilot.ekf_ok:
            health &= ~mavlink.MAV_SYS_STATUS_AHRS
        if autopilot.prearm_failure() is not None:
            health &= ~mavlink.MAV_SYS_STATUS_PREARM_CHECK
        if autopilot.battery_low or autopilot.battery_critical:
            health &= ~mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
        present = _SENSORS_PRESENT
        if self.params.get_int("FENCE_ENABLE"):
            present |= mavlink.MAV_SYS_STATUS_GEOFENCE
            enabled |= mavlink.MAV_SYS_STATUS_GEOFENCE
            if not autopilot.fence_breaches:
                health |= mavlink.MAV_SYS_STATUS_GEOFENCE
        battery = autopilot.battery
        return self._mav.sys_status_encode(
            present,
            enabled,
            health,
            150,
            round(battery.voltage_v * 1000),
            round(battery.current_a * 100),
            round(battery.remaining_pct),
            0,
            0,
            0,
            0,
            0,
            0,
        )

    def _build_system_time(self) -> MavMessage:
        return self._mav.system_time_encode(int(time.time() * 1e6), self._time_boot_ms())

    def _build_gps_raw_int(self) -> MavMessage:
        autopilot = self.autopilot
        fix = autopilot.gps_location
        frame = autopilot.airframe
        has_fix = autopilot.gps_fix_type >= 3
        speed = frame.groundspeed_mps
        cog = (
            round(math.degrees(math.atan2(frame.vel_e_mps, frame.vel_n_mps)) % 360 * 100)
            if speed > 0.5
            else 0
        )
        return self._mav.gps_raw_int_encode(
            int(autopilot.sim_time_s * 1e6),
            autopilot.gps_fix_type,
            round(fix.lat_deg * 1e7) if has_fix else 0,
            round(fix.lon_deg * 1e7) if has_fix else 0,
            round(fix.alt_amsl_m * 1000) if has_fix else 0,
            70 if has_fix else 9999,
            110 if has_fix else 9999,
            round(speed * 100),
            cog,
            12 if has_fix else 0,
            round(fix.alt_amsl_m * 1000) if has_fix else 0,
            max(1, round(self.config.gps_noise_m * 1000)) if has_fix else 0,
            max(1, round(self.config.gps_noise_m * 1500)) if has_fix else 0,
            150 if has_fix else 0,
            0,
        )

    def _build_global_position_int(self) -> MavMessage:
        autopilot = self.autopilot
        here = autopilot.location
        frame = autopilot.airframe
        return self._mav.global_position_int_encode(
            self._time_boot_ms(),
            round(here.lat_deg * 1e7),
            round(here.lon_deg * 1e7),
            round(here.alt_amsl_m * 1000),
            round(autopilot.alt_rel_m * 1000),
            round(frame.vel_n_mps * 100),
            round(frame.vel_e_mps * 100),
            round(-frame.vel_up_mps * 100),
            round(frame.yaw_deg * 100) % 36000,
        )

    def _build_attitude(self) -> MavMessage:
        frame = self.autopilot.airframe
        roll, pitch = frame.attitude_rad()
        yaw = math.radians((frame.yaw_deg + 180.0) % 360.0 - 180.0)
        return self._mav.attitude_encode(
            self._time_boot_ms(), roll, pitch, yaw, 0.0, 0.0, math.radians(frame.yaw_rate_dps)
        )

    def _build_vfr_hud(self) -> MavMessage:
        autopilot = self.autopilot
        frame = autopilot.airframe
        throttle = 0
        if autopilot.armed:
            throttle = 15 if autopilot.landed else min(100, round(40 + 4 * frame.vel_up_mps))
        return self._mav.vfr_hud_encode(
            frame.airspeed_mps,
            frame.groundspeed_mps,
            round(frame.yaw_deg) % 360,
            throttle,
            frame.alt_amsl_m,
            frame.vel_up_mps,
        )

    def _build_battery_status(self) -> MavMessage:
        autopilot = self.autopilot
        battery = autopilot.battery
        voltages = [min(65534, round(battery.voltage_v * 1000))] + [65535] * 9
        if autopilot.battery_critical:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
        elif autopilot.battery_low:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
        else:
            charge_state = mavlink.MAV_BATTERY_CHARGE_STATE_OK
        return self._mav.battery_status_encode(
            0,
            mavlink.MAV_BATTERY_FUNCTION_ALL,
            mavlink.MAV_BATTERY_TYPE_LIPO,
            32767,
            voltages,
            round(battery.current_a * 100),
            round(battery.consumed_mah),
            round(battery.consumed_wh * 36),
            round(battery.remaining_pct),
            0,
            charge_state,
        )

    def _build_home_position(self) -> MavMessage:
        home = self.autopilot.home
        if home is None:
            home = self.autopilot.location
        return self._mav.home_position_encode(
            round(home.lat_deg * 1e7),
            round(home.lon_deg * 1e7),
            round(home.alt_amsl_m * 1000),
            0.0,
            0.0,
            0.0,
            [1.0, 0.0, 0.0, 0.0],
            0.0,
            0.0,
            0.0,
            int(self.autopilot.sim_time_s * 1e6),
        )

    def _build_extended_sys_state(self) -> MavMessage:
        autopilot = self.autopilot
        if autopilot.landed or not autopilot.armed:
            landed_state = mavlink.MAV_LANDED_STATE_ON_GROUND
        elif autopilot.mode == "LAND" or (autopilot.airframe.vel_up_mps < -0.2 and autopilot.mode == "RTL"):
            landed_state = mavlink.MAV_LANDED_STATE_LANDING
        elif autopilot.airframe.height_m < 1.0 and autopilot.airframe.vel_up_mps > 0.1:
            landed_state = mavlink.MAV_LANDED_STATE_TAKEOFF
        else:
            landed_state = mavlink.MAV_LANDED_STATE_IN_AIR
        return self._mav.extended_sys_state_encode(mavlink.MAV_VTOL_STATE_UNDEFINED, landed_state)

    def _build_mission_current(self) -> MavMessage:
        autopilot = self.autopilot
        total = max(0, autopilot.mission.item_count() - 1)
        return self._mav.mission_current_encode(
            autopilot.nav_seq,
            total,
            autopilot.mission_state(),
            1 if autopilot.mode == "AUTO" else 0,
        )

    def _build_ekf_status_report(self) -> MavMessage:
        ok = self.autopilot.ekf_ok
        variance = 0.02 if ok else 0.8
        return self._mav.ekf_status_report_encode(
            _EKF_GOOD if ok else _EKF_NO_POSITION, variance, variance, 0.02, 0.03, 0.0, 0.0
        )

    def _build_nav_controller_output(self) -> MavMessage:
        frame = self.autopilot.airframe
        roll, pitch = frame.attitude_rad()
        heading = round(frame.yaw_deg) % 360
        return self._mav.nav_controller_output_encode(
            math.degrees(roll), math.degrees(pitch), heading, heading, 0, 0.0, 0.0, 0.0
        )

    def _build_position_target_global_int(self) -> MavMessage:
        target = self.autopilot.target_location
        return self._mav.position_target_global_int_encode(
            self._time_boot_ms(),
            mavlink.MAV_FRAME_GLOBAL_INT,
            0xFF8,
            round(target.lat_deg * 1e7),
            round(target.lon_deg * 1e7),
            target.alt_amsl_m,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        )

    def _build_fence_status(self) -> MavMessage:
        autopilot = self.autopilot
        breaches = autopilot.fence_breaches
        if "altitude" in breaches:
            breach_type = mavlink.FENCE_BREACH_MAXALT
        elif breaches:
            breach_type = mavlink.FENCE_BREACH_BOUNDARY
        else:
            breach_type = mavlink.FENCE_BREACH_NONE
        return self._mav.fence_status_encode(
            1 if breaches else 0,
            autopilot.fence_breach_count,
            breach_type,
            int(autopilot.fence_breach_time_s * 1000) & 0xFFFFFFFF,
            mavlink.FENCE_MITIGATE_VEL_LIMIT if breaches else mavlink.FENCE_MITIGATE_NONE,
        )

    def _build_power_status(self) -> MavMessage:
        return self._mav.power_status_encode(5000, 0, 0)

    def _build_autopilot_version(self) -> MavMessage:
        sysid = self.sysid
        return self._mav.autopilot_version_encode(
            _CAPABILITIES,
            _FLIGHT_SW_VERSION,
            0,
            0,
            0,
            list(b"aerogrid"),
            [0] * 8,
            [0] * 8,
            0x1209,
            0x5740,
            0xAE00_0000_0000 + sysid,
        )


def _next_due(stream: _Stream, wall_s: float) -> float:
    """Keep a fixed cadence, but skip missed slots instead of bursting after a stall."""
    due = stream.next_due_s + stream.interval_s
    return due if due > wall_s else wall_s + stream.interval_s


def _param_id(raw: str | bytes) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return text.split("\x00", 1)[0]
