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

The vehicle wires the parts together and owns the clocks and the main loop: udp_link.py (the
socket and peers), message_builders.py and streams.py (what it sends and when), commands.py,
param_protocol.py and mission_link.py (what it answers), and the autopilot (autopilot.py), which
flies on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.autopilot import Autopilot, Location, Photo
from simulator.commands import CommandHandler
from simulator.faults import Faults
from simulator.mavenums import MavMessage, MissionState, Severity
from simulator.message_builders import MessageBuilder
from simulator.mission_link import MissionLink
from simulator.mission_store import Peer, WireItem
from simulator.param_protocol import ParamProtocol
from simulator.params import ParamStore, default_param_defs
from simulator.signing import SignatureGuard, signing_timestamp_now
from simulator.streams import StreamScheduler
from simulator.udp_link import LinkStats, UdpLink

logger = logging.getLogger(__name__)

WAKE_INTERVAL_S = 0.05
MAX_STEPS_PER_WAKE = 4000
STATUSTEXT_HISTORY = 200


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


class SimVehicle:
    """One ArduCopter-like vehicle. ``await start()``, fly it over MAVLink, ``await stop()``."""

    def __init__(self, config: VehicleConfig) -> None:
        self.config = config
        self._loop: asyncio.AbstractEventLoop | None = None
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
        self._mav: MavMessage = mavlink.MAVLink(None, srcSystem=config.sysid, srcComponent=config.compid)
        self._guard: SignatureGuard | None = None
        if config.signing_key is not None:
            self._guard = SignatureGuard(config.signing_key)
            self._mav.signing.secret_key = config.signing_key
            self._mav.signing.sign_outgoing = True
            self._mav.signing.timestamp = signing_timestamp_now()
        self._link = UdpLink(
            self._mav, self._guard, self.faults, self._wall_now, self._dispatch, self._flush_texts
        )
        send = self._link.send
        self._messages = MessageBuilder(self._mav, self.autopilot, self.params, config.gps_noise_m)
        self._streams = StreamScheduler(self._messages, send, self._wall_now)
        self._commands = CommandHandler(
            self._mav, self.autopilot, self.params, self._messages, self._streams, send
        )
        self._param_protocol = ParamProtocol(self._mav, self.params, send, self._param_side_effects)
        self._missions = MissionLink(self._mav, self.autopilot, self._wall_now, send, self.statustext)
        self._last_gcs_heartbeat_s: float | None = None
        self._mission_total_seen = -1
        self._statustexts: deque[str] = deque(maxlen=STATUSTEXT_HISTORY)
        self._pending_texts: deque[tuple[Severity, str]] = deque()
        self._handlers: dict[str, Callable[[MavMessage, Peer, bool], None]] = {
            "HEARTBEAT": self._on_heartbeat,
            "COMMAND_LONG": self._commands.on_command_long,
            "COMMAND_INT": self._commands.on_command_int,
            "SET_MODE": self._commands.on_set_mode,
            "REQUEST_DATA_STREAM": self._streams.on_request_data_stream,
            "PARAM_REQUEST_LIST": self._param_protocol.on_param_request_list,
            "PARAM_REQUEST_READ": self._param_protocol.on_param_request_read,
            "PARAM_SET": self._param_protocol.on_param_set,
            "MISSION_COUNT": self._missions.on_mission_count,
            "MISSION_ITEM_INT": self._missions.on_mission_item_int,
            "MISSION_ITEM": self._missions.on_mission_item,
            "MISSION_REQUEST_LIST": self._missions.on_mission_request_list,
            "MISSION_REQUEST_INT": self._missions.on_mission_request_int,
            "MISSION_REQUEST": self._missions.on_mission_request,
            "MISSION_CLEAR_ALL": self._missions.on_mission_clear_all,
            "MISSION_SET_CURRENT": self._missions.on_mission_set_current,
            "MISSION_WRITE_PARTIAL_LIST": self._missions.on_mission_write_partial_list,
            "SET_POSITION_TARGET_GLOBAL_INT": self._commands.on_set_position_target_global_int,
            "TIMESYNC": self._on_timesync,
        }

    # ------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        await self._link.open(self.config.bind_host, self.config.port)
        self._wall_base_s = loop.time()
        self._sim_base_s = self.autopilot.sim_time_s
        self._streams.start(self._wall_base_s)
        self._task = loop.create_task(self._run(), name=f"sim-vehicle-{self.config.sysid}")
        logger.info("vehicle sysid %d listening on %s:%d", self.sysid, self.config.bind_host, self.port)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._link.close()
        # asyncio closes the socket on the next loop iteration: let it, so that a vehicle restarted
        # on the same port (a reboot) can bind it as soon as stop() returns.
        await asyncio.sleep(0)

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
        bound = self._link.bound_port
        return self.config.port if bound is None else bound

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
        return list(self._link.peers)

    @property
    def stats(self) -> LinkStats:
        return self._link.stats

    def param(self, name: str) -> float:
        return self.params[name]

    def set_param(self, name: str, value: float) -> None:
        """Set a parameter directly (test setup); the same side effects as PARAM_SET."""
        self.params.set(name, value)
        self._param_side_effects(name)

    def _param_side_effects(self, name: str) -> None:
        if name == "SYSID_THISMAV":
            self._mav.srcSystem = self.params.get_int(name)
        elif name == "SIM_SPEEDUP":
            self._set_speedup(self.params[name])

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
            wake = self._streams.next_due_s(now + WAKE_INTERVAL_S)
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
        self._link.keep_signing_clock()
        silence = None if self._last_gcs_heartbeat_s is None else wall_s - self._last_gcs_heartbeat_s
        self.autopilot.check_gcs_failsafe(silence)
        total = self.autopilot.mission.item_count()
        if total != self._mission_total_seen:
            self._mission_total_seen = total
            self.params.set("MIS_TOTAL", total)
        self._missions.update()
        self._flush_texts()
        if not self._link.peers:
            return
        self._streams.send_due(wall_s)

    # Listener protocol (called by the autopilot) ----------------------------------------------
    def statustext(self, severity: Severity, text: str) -> None:
        # Queued like ArduPilot's statustext queue: a command's COMMAND_ACK goes out first.
        self._statustexts.append(text)
        logger.debug("sysid %d: %s", self.sysid, text)
        self._pending_texts.append((severity, text))

    def _flush_texts(self) -> None:
        while self._pending_texts:
            severity, text = self._pending_texts.popleft()
            self._link.send(self._mav.statustext_encode(severity, text.encode()[:50]))

    def mission_item_reached(self, seq: int) -> None:
        self._link.send(self._mav.mission_item_reached_encode(seq))

    def mission_current_changed(self) -> None:
        self._link.send(self._messages.mission_current())

    def home_changed(self) -> None:
        if self.autopilot.home is not None:
            self._link.send(self._messages.home_position())

    # ------------------------------------------------------------------------------------------
    # Receiving: routing, and the messages the vehicle answers itself
    # ------------------------------------------------------------------------------------------
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

    def _on_heartbeat(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if msg.type == mavlink.MAV_TYPE_GCS:
            self._last_gcs_heartbeat_s = self._wall_now()

    def _on_timesync(self, msg: MavMessage, sender: Peer, mavlink1: bool) -> None:
        if msg.tc1 == 0:
            now_ns = int(self.autopilot.sim_time_s * 1e9)
            self._link.send(self._mav.timesync_encode(now_ns, msg.ts1))
