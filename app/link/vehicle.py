"""Per-vehicle state kept from telemetry, and the frozen snapshot the API serves.

``VehicleTracker`` is fed every message of one system id by the link's router and keeps the
latest value of everything AeroGrid shows or decides on: mode (by ArduPilot's name, from
pymavlink's mapping), arming, position, battery, GPS, EKF and pre-arm health, mission progress,
home, a bounded event log (STATUSTEXT, relays, mode and arming changes), and a parameter cache.
``snapshot()`` returns a ``VehicleState`` for ``GET /drones/{id}/state``; ``wait_until`` lets the
command and flight code await a condition on the live state with a timeout instead of polling.

Every message carrying ``time_boot_ms`` also places the vehicle in a boot session (``boot_id``, see
boot_session.py): a reboot resets what belonged to the old boot (mission progress) so nothing from
before it can be mistaken for progress after it, and flights end on it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from app.link.boot_session import BootClock
from app.link.codec import MavMessage, mode_name
from app.link.constants import (
    EkfFlags,
    LandedState,
    MavAutopilot,
    MavComponent,
    MavModeFlag,
    MavState,
    MavType,
    MissionState,
    SysStatusSensor,
)
from app.link.errors import LinkTimeout

log = logging.getLogger(__name__)

EVENT_LOG_SIZE: Final = 200
_UINT16_UNKNOWN: Final = 65535
_EKF_REQUIRED: Final = (
    EkfFlags.ATTITUDE | EkfFlags.VELOCITY_HORIZ | EkfFlags.POS_HORIZ_ABS | EkfFlags.POS_VERT_ABS
)
_EKF_FORBIDDEN: Final = EkfFlags.CONST_POS_MODE | EkfFlags.UNINITIALIZED


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """One line of the vehicle's event log: ``kind`` is statustext, relay, mode, armed, link or boot."""

    at_unix_s: float
    kind: str
    text: str
    severity: int | None = None


@dataclass(frozen=True, slots=True)
class VehicleState:
    """What AeroGrid knows about one vehicle at one instant; None means not reported yet."""

    drone_id: str
    sysid: int
    online: bool
    last_heard_unix_s: float | None
    last_heard_age_s: float | None
    boot_id: int
    """The vehicle's boot session as seen by this service: 0 before any time since boot was heard,
    then 1, incremented on every reboot detected."""
    boot_confirmed: bool
    """False before any time since boot was heard, and after a silence until a sample says whether
    the vehicle rebooted meanwhile."""
    time_boot_ms: int | None
    vehicle_type: int | None
    autopilot: int | None
    mode: str | None
    armed: bool
    system_status: str | None
    landed_state: str | None
    lat_deg: float | None
    lon_deg: float | None
    alt_rel_m: float | None
    alt_amsl_m: float | None
    heading_deg: float | None
    groundspeed_mps: float | None
    climb_mps: float | None
    roll_deg: float | None
    pitch_deg: float | None
    battery_voltage_v: float | None
    battery_pct: int | None
    battery_current_a: float | None
    gps_fix_type: int | None
    gps_satellites: int | None
    ekf_flags: int | None
    ekf_ok: bool | None
    prearm_ok: bool | None
    mission_seq: int | None
    mission_total: int | None
    mission_state: str | None
    home_lat_deg: float | None
    home_lon_deg: float | None
    home_alt_amsl_m: float | None
    events: tuple[VehicleEvent, ...]
    params: Mapping[str, float]
    stored_items: Mapping[str, str]
    """Per mission type ("mission", "fence", "rally"): "verified", "uploading" or
    "unknown: re-upload or clear" after a failed upload (ArduPilot uploads are not atomic)."""


def _name_of(enum: type[MavState] | type[LandedState] | type[MissionState], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


class VehicleTracker:
    """Live state of one vehicle (one system id on one link), updated message by message."""

    def __init__(self, drone_id: str, sysid: int, *, online_timeout_s: float = 3.0) -> None:
        self.drone_id = drone_id
        self.sysid = sysid
        self.online_timeout_s = online_timeout_s
        self.autopilot_compid: int = MavComponent.AUTOPILOT1
        self.last_heard_monotonic_s: float | None = None
        self.last_heard_unix_s: float | None = None
        self.boot = BootClock(gap_s=online_timeout_s)
        self.heartbeats = 0
        self.last_heartbeat_monotonic_s: float | None = None
        self.statustexts_seen = 0
        self.vehicle_type: int | None = None
        self.autopilot: int | None = None
        self.base_mode = 0
        self.custom_mode: int | None = None
        self.mode: str | None = None
        self.armed = False
        self.system_status: int | None = None
        self.landed_state: int | None = None
        self.lat_deg: float | None = None
        self.lon_deg: float | None = None
        self.alt_rel_m: float | None = None
        self.alt_amsl_m: float | None = None
        self.heading_deg: float | None = None
        self.groundspeed_mps: float | None = None
        self.climb_mps: float | None = None
        self.roll_deg: float | None = None
        self.pitch_deg: float | None = None
        self.battery_voltage_v: float | None = None
        self.battery_pct: int | None = None
        self.battery_current_a: float | None = None
        self.gps_fix_type: int | None = None
        self.gps_satellites: int | None = None
        self.ekf_flags: int | None = None
        self.prearm_ok: bool | None = None
        self.mission_seq: int | None = None
        self.mission_total: int | None = None
        self.mission_state: int | None = None
        self.mission_reports = 0
        """MISSION_CURRENT messages received: lets a flight ignore values from before it asked."""
        self.home_lat_deg: float | None = None
        self.home_lon_deg: float | None = None
        self.home_alt_amsl_m: float | None = None
        self.relay_on_bits: int | None = None
        self.events: collections.deque[VehicleEvent] = collections.deque(maxlen=EVENT_LOG_SIZE)
        self.params: dict[str, float] = {}
        self.param_types: dict[str, int] = {}
        self.stored_items: dict[str, str] = {}
        self._waiters: list[tuple[Callable[[VehicleTracker], bool], asyncio.Future[None]]] = []
        self._handlers: dict[str, Callable[[MavMessage], None]] = {
            "HEARTBEAT": self._on_heartbeat,
            "SYS_STATUS": self._on_sys_status,
            "GLOBAL_POSITION_INT": self._on_global_position_int,
            "VFR_HUD": self._on_vfr_hud,
            "ATTITUDE": self._on_attitude,
            "GPS_RAW_INT": self._on_gps_raw_int,
            "EKF_STATUS_REPORT": self._on_ekf_status_report,
            "BATTERY_STATUS": self._on_battery_status,
            "MISSION_CURRENT": self._on_mission_current,
            "HOME_POSITION": self._on_home_position,
            "EXTENDED_SYS_STATE": self._on_extended_sys_state,
            "STATUSTEXT": self._on_statustext,
            "PARAM_VALUE": self._on_param_value,
            "RELAY_STATUS": self._on_relay_status,
        }

    # --- derived values -------------------------------------------------------------------

    @property
    def online(self) -> bool:
        heard = self.last_heard_monotonic_s
        return heard is not None and time.monotonic() - heard <= self.online_timeout_s

    @property
    def boot_id(self) -> int:
        return self.boot.boot_id

    @property
    def ekf_ok(self) -> bool | None:
        """EKF has attitude, velocity and an absolute position (what arming in GUIDED needs).

        SYS_STATUS's GPS bit turns healthy before the EKF uses GPS, so readiness is judged here.
        """
        if self.ekf_flags is None:
            return None
        return (self.ekf_flags & _EKF_REQUIRED) == _EKF_REQUIRED and not self.ekf_flags & _EKF_FORBIDDEN

    @property
    def ready_to_arm(self) -> bool:
        return bool(self.prearm_ok and self.ekf_ok)

    @property
    def on_ground(self) -> bool | None:
        if self.landed_state is None or self.landed_state == LandedState.UNDEFINED:
            return None
        return self.landed_state == LandedState.ON_GROUND

    def snapshot(self) -> VehicleState:
        """A frozen copy for the API and for logging; cheap enough to call per request."""
        heard = self.last_heard_monotonic_s
        return VehicleState(
            drone_id=self.drone_id,
            sysid=self.sysid,
            online=self.online,
            last_heard_unix_s=self.last_heard_unix_s,
            last_heard_age_s=None if heard is None else round(time.monotonic() - heard, 3),
            boot_id=self.boot.boot_id,
            boot_confirmed=self.boot.confirmed,
            time_boot_ms=self.boot.time_boot_ms,
            vehicle_type=self.vehicle_type,
            autopilot=self.autopilot,
            mode=self.mode,
            armed=self.armed,
            system_status=None if self.system_status is None else _name_of(MavState, self.system_status),
            landed_state=None if self.landed_state is None else _name_of(LandedState, self.landed_state),
            lat_deg=self.lat_deg,
            lon_deg=self.lon_deg,
            alt_rel_m=self.alt_rel_m,
            alt_amsl_m=self.alt_amsl_m,
            heading_deg=self.heading_deg,
            groundspeed_mps=self.groundspeed_mps,
            climb_mps=self.climb_mps,
            roll_deg=self.roll_deg,
            pitch_deg=self.pitch_deg,
            battery_voltage_v=self.battery_voltage_v,
            battery_pct=self.battery_pct,
            battery_current_a=self.battery_current_a,
            gps_fix_type=self.gps_fix_type,
            gps_satellites=self.gps_satellites,
            ekf_flags=self.ekf_flags,
            ekf_ok=self.ekf_ok,
            prearm_ok=self.prearm_ok,
            mission_seq=self.mission_seq,
            mission_total=self.mission_total,
            mission_state=None if self.mission_state is None else _name_of(MissionState, self.mission_state),
            home_lat_deg=self.home_lat_deg,
            home_lon_deg=self.home_lon_deg,
            home_alt_amsl_m=self.home_alt_amsl_m,
            events=tuple(self.events),
            params=MappingProxyType(dict(self.params)),
            stored_items=MappingProxyType(dict(self.stored_items)),
        )

    # --- waiting --------------------------------------------------------------------------

    async def wait_until(
        self, condition: Callable[[VehicleTracker], bool], *, timeout_s: float, what: str
    ) -> None:
        """Return once ``condition(self)`` holds (checked now and after every message).

        Raises LinkTimeout naming ``what`` so a failed flight step says which condition failed.
        """
        if condition(self):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (condition, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise LinkTimeout(f"{what} not seen within {timeout_s:.1f} s", drone_id=self.drone_id) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _notify(self) -> None:
        for condition, future in tuple(self._waiters):
            if future.done():
                continue
            try:
                satisfied = condition(self)
            except Exception as exc:  # a condition bug fails its waiter, not the link
                future.set_exception(exc)
                continue
            if satisfied:
                future.set_result(None)

    # --- updates --------------------------------------------------------------------------

    def recent_statustexts(self, since_count: int, limit: int = 3) -> list[str]:
        """STATUSTEXTs received after ``statustexts_seen`` was ``since_count`` (the newest ``limit``)."""
        new = min(self.statustexts_seen - since_count, limit)
        if new <= 0:
            return []
        texts = [e.text for e in self.events if e.kind == "statustext"]
        return texts[-new:]

    def record_event(self, kind: str, text: str, severity: int | None = None) -> None:
        self.events.append(VehicleEvent(at_unix_s=time.time(), kind=kind, text=text, severity=severity))

    def update(self, msg: MavMessage) -> None:
        """Fold one message of this vehicle's system id into the state."""
        if msg.sysid != self.sysid:
            return
        if msg.name == "HEARTBEAT" and not self._is_autopilot_heartbeat(msg):
            return
        now_s = msg.received_monotonic_s or time.monotonic()
        previous_s = self.last_heard_monotonic_s
        if previous_s is not None and now_s - previous_s > self.online_timeout_s:
            self._on_heard_again(now_s - previous_s)
        self.last_heard_monotonic_s = now_s
        self.last_heard_unix_s = time.time()
        time_boot_ms = msg.fields.get("time_boot_ms")
        if isinstance(time_boot_ms, int):
            self._on_time_boot(time_boot_ms, now_s)
        handler = self._handlers.get(msg.name)
        if handler is not None:
            handler(msg)
        if self._waiters:
            self._notify()

    def _on_heard_again(self, silence_s: float) -> None:
        log.warning("drone %s: heard again after %.1f s of silence", self.drone_id, silence_s)
        self.record_event("link", f"heard again after {silence_s:.1f} s of silence")
        self.boot.silence_ended()

    def _on_time_boot(self, time_boot_ms: int, now_s: float) -> None:
        change = self.boot.observe(time_boot_ms, now_s)
        if change is None:
            return
        log.warning("drone %s: rebooted (boot %d): %s", self.drone_id, change.boot_id, change.reason)
        self.record_event("boot", f"vehicle rebooted: {change.reason}")
        # Mission progress belonged to the old boot; the new boot reports its own.
        self.mission_seq = self.mission_total = self.mission_state = None

    @staticmethod
    def _is_autopilot_heartbeat(msg: MavMessage) -> bool:
        # Gimbals, cameras and companion computers share the system id and send heartbeats too.
        return msg.get_int("autopilot") != MavAutopilot.INVALID and msg.get_int("type") != MavType.GCS

    def _on_heartbeat(self, msg: MavMessage) -> None:
        self.heartbeats += 1
        self.last_heartbeat_monotonic_s = msg.received_monotonic_s or time.monotonic()
        self.autopilot_compid = msg.compid
        self.vehicle_type = msg.get_int("type")
        self.autopilot = msg.get_int("autopilot")
        self.base_mode = msg.get_int("base_mode")
        self.custom_mode = msg.get_int("custom_mode")
        self.system_status = msg.get_int("system_status")
        mode = mode_name(
            mav_type=self.vehicle_type,
            autopilot=self.autopilot,
            base_mode=self.base_mode,
            custom_mode=self.custom_mode,
        )
        armed = bool(self.base_mode & MavModeFlag.SAFETY_ARMED)
        if mode != self.mode:
            if self.mode is not None:
                log.info("drone %s: mode %s -> %s", self.drone_id, self.mode, mode)
            self.record_event("mode", mode)
            self.mode = mode
        if armed != self.armed:
            log.info("drone %s: %s", self.drone_id, "armed" if armed else "disarmed")
            self.record_event("armed", "armed" if armed else "disarmed")
            self.armed = armed

    def _on_sys_status(self, msg: MavMessage) -> None:
        present = msg.get_int("onboard_control_sensors_present")
        health = msg.get_int("onboard_control_sensors_health")
        if present & SysStatusSensor.PREARM_CHECK:
            self.prearm_ok = bool(health & SysStatusSensor.PREARM_CHECK)
        voltage_mv = msg.get_int("voltage_battery")
        if voltage_mv != _UINT16_UNKNOWN:
            self.battery_voltage_v = voltage_mv / 1000.0
        current_ca = msg.get_int("current_battery")
        if current_ca >= 0:
            self.battery_current_a = current_ca / 100.0
        remaining_pct = msg.get_int("battery_remaining")
        if remaining_pct >= 0:
            self.battery_pct = remaining_pct

    def _on_battery_status(self, msg: MavMessage) -> None:
        if msg.get_int("id") != 0:
            return
        cells = msg.fields["voltages"]
        if isinstance(cells, list):
            valid_mv = [int(v) for v in cells if int(v) != _UINT16_UNKNOWN]
            if valid_mv:
                self.battery_voltage_v = sum(valid_mv) / 1000.0
        current_ca = msg.get_int("current_battery")
        if current_ca >= 0:
            self.battery_current_a = current_ca / 100.0
        remaining_pct = msg.get_int("battery_remaining")
        if remaining_pct >= 0:
            self.battery_pct = remaining_pct

    def _on_global_position_int(self, msg: MavMessage) -> None:
        self.lat_deg = msg.get_int("lat") / 1e7
        self.lon_deg = msg.get_int("lon") / 1e7
        self.alt_amsl_m = msg.get_int("alt") / 1000.0
        self.alt_rel_m = msg.get_int("relative_alt") / 1000.0
        heading_cdeg = msg.get_int("hdg")
        if heading_cdeg != _UINT16_UNKNOWN:
            self.heading_deg = heading_cdeg / 100.0
        self.groundspeed_mps = math.hypot(msg.get_int("vx"), msg.get_int("vy")) / 100.0

    def _on_vfr_hud(self, msg: MavMessage) -> None:
        self.groundspeed_mps = msg.get_float("groundspeed")
        self.climb_mps = msg.get_float("climb")
        self.heading_deg = float(msg.get_int("heading"))

    def _on_attitude(self, msg: MavMessage) -> None:
        self.roll_deg = math.degrees(msg.get_float("roll"))
        self.pitch_deg = math.degrees(msg.get_float("pitch"))

    def _on_gps_raw_int(self, msg: MavMessage) -> None:
        self.gps_fix_type = msg.get_int("fix_type")
        satellites = msg.get_int("satellites_visible")
        self.gps_satellites = None if satellites == 255 else satellites

    def _on_ekf_status_report(self, msg: MavMessage) -> None:
        self.ekf_flags = msg.get_int("flags")

    def _on_mission_current(self, msg: MavMessage) -> None:
        self.mission_reports += 1
        self.mission_seq = msg.get_int("seq")
        self.mission_total = msg.get_int("total")
        self.mission_state = msg.get_int("mission_state")

    def _on_home_position(self, msg: MavMessage) -> None:
        self.home_lat_deg = msg.get_int("latitude") / 1e7
        self.home_lon_deg = msg.get_int("longitude") / 1e7
        self.home_alt_amsl_m = msg.get_int("altitude") / 1000.0

    def _on_extended_sys_state(self, msg: MavMessage) -> None:
        self.landed_state = msg.get_int("landed_state")

    def _on_statustext(self, msg: MavMessage) -> None:
        severity = msg.get_int("severity")
        text = msg.get_str("text")
        log.info("drone %s: statustext [%d] %s", self.drone_id, severity, text)
        self.statustexts_seen += 1
        self.record_event("statustext", text, severity)

    def _on_param_value(self, msg: MavMessage) -> None:
        name = msg.get_str("param_id")
        self.params[name] = msg.get_float("param_value")
        self.param_types[name] = msg.get_int("param_type")

    def _on_relay_status(self, msg: MavMessage) -> None:
        on_bits = msg.get_int("on")
        if on_bits != self.relay_on_bits:
            self.record_event("relay", f"relays on: {on_bits:#06x}")
            self.relay_on_bits = on_bits
