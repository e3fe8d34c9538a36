"""Per-drone folding of decoded MAVLink into samples and events.

A ``DroneSession`` keeps the latest status of one drone (battery, GPS, mode, arming, mission
progress) and turns every GLOBAL_POSITION_INT into one ``Sample`` carrying that status, and
state changes (mode, arming, STATUSTEXT, mission progress, home, failsafes) into ``Event`` rows.

Boot sessions: the sample key is (drone, boot, time since boot), so a replayed or re-received
sample maps to the same row. The boot id is the wall-clock instant the vehicle booted (unix ms,
``received - time_boot_ms`` at first sight); time_boot_ms going back by more than
``REBOOT_BACKSTEP_MS`` starts a new boot (smaller steps back are UDP reordering). The sample's
``time`` is ``boot_id + time_boot_ms``: the drone's own clock on the wall-clock axis, so the
partition column is a function of the key and two receptions of one packet agree on it.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Final

from app.link.codec import MavMessage, mode_name
from app.link.constants import MavAutopilot, MavModeFlag, MavState, MavType
from app.telemetry.records import Event, Sample

log = logging.getLogger(__name__)

REBOOT_BACKSTEP_MS: Final = 1000
_U16_UNKNOWN: Final = 65535
_FAILSAFE_STATES: Final = frozenset({int(MavState.CRITICAL), int(MavState.EMERGENCY)})
_LAT_E7_MAX: Final = 900_000_000
_LON_E7_MAX: Final = 1_800_000_000

FlightContext = tuple[int | None, int | None, int | None]
"""(upload_id, mission_id, sortie) of the mission a drone is flying, or Nones."""
NO_CONTEXT: Final[FlightContext] = (None, None, None)


def _utc(unix_ms: float) -> datetime:
    return datetime.fromtimestamp(unix_ms / 1000.0, UTC)


class DroneSession:
    """The running state of one registered drone, fed message by message on the event loop."""

    __slots__ = (
        "armed",
        "battery_pct",
        "boot_id",
        "climb_mps",
        "context",
        "current_a",
        "drone_id",
        "event_seq",
        "gps_fix_type",
        "hdop",
        "home",
        "invalid_positions",
        "last_lat_deg",
        "last_lon_deg",
        "last_tbm",
        "mission_seq",
        "mode",
        "satellites",
        "system_status",
        "voltage_v",
    )

    def __init__(self, drone_id: int) -> None:
        self.drone_id = drone_id
        self.boot_id: int | None = None
        self.last_tbm = -1
        self.event_seq = 0
        self.context: FlightContext = NO_CONTEXT
        self.mode: str | None = None
        self.armed = False
        self.system_status: int | None = None
        self.battery_pct: int | None = None
        self.voltage_v: float | None = None
        self.current_a: float | None = None
        self.climb_mps: float | None = None
        self.gps_fix_type: int | None = None
        self.satellites: int | None = None
        self.hdop: float | None = None
        self.mission_seq: int | None = None
        self.home: tuple[int, int, int] | None = None
        self.last_lat_deg: float | None = None
        self.last_lon_deg: float | None = None
        self.invalid_positions = 0

    # --- boot sessions --------------------------------------------------------------------

    def _boot_for(self, tbm: int, now_ms: int) -> int:
        if self.boot_id is None or tbm < self.last_tbm - REBOOT_BACKSTEP_MS:
            if self.boot_id is not None:
                log.info(
                    "drone %d: time_boot_ms went back %d -> %d: new boot session",
                    self.drone_id,
                    self.last_tbm,
                    tbm,
                    extra={"drone_id": self.drone_id},
                )
            self.boot_id = now_ms - tbm
            self.last_tbm = tbm
        elif tbm > self.last_tbm:
            self.last_tbm = tbm
        return self.boot_id

    def _event(
        self, now_ms: int, kind: str, text: str, severity: int | None = None, value: int | None = None
    ) -> Event:
        # Microsecond stamps, strictly increasing per drone: unique across restarts of the service
        # too, so an event key never collides with one written by an earlier run.
        self.event_seq = max(self.event_seq + 1, time.time_ns() // 1000)
        return Event(
            _utc(now_ms),
            self.drone_id,
            self.boot_id or 0,
            self.event_seq,
            kind,
            text,
            severity,
            value,
            self.last_lat_deg,
            self.last_lon_deg,
        )

    # --- messages -------------------------------------------------------------------------

    def feed(self, msg: MavMessage, now_ms: int, events: list[Event]) -> Sample | None:
        """Fold ``msg`` in; returns the sample it makes (position messages) and appends events."""
        name = msg.name
        f = msg.fields
        if name == "GLOBAL_POSITION_INT":
            return self._position(msg, now_ms)
        if name == "HEARTBEAT":
            self._heartbeat(msg, now_ms, events)
        elif name == "SYS_STATUS":
            voltage_mv = msg.get_int("voltage_battery")
            if voltage_mv != _U16_UNKNOWN:
                self.voltage_v = voltage_mv / 1000.0
            current_ca = msg.get_int("current_battery")
            self.current_a = current_ca / 100.0 if current_ca >= 0 else self.current_a
            remaining = msg.get_int("battery_remaining")
            self.battery_pct = remaining if remaining >= 0 else self.battery_pct
        elif name == "BATTERY_STATUS":
            if msg.get_int("id") == 0:
                remaining = msg.get_int("battery_remaining")
                self.battery_pct = remaining if remaining >= 0 else self.battery_pct
                current_ca = msg.get_int("current_battery")
                self.current_a = current_ca / 100.0 if current_ca >= 0 else self.current_a
        elif name == "GPS_RAW_INT":
            self.gps_fix_type = msg.get_int("fix_type")
            sats = msg.get_int("satellites_visible")
            self.satellites = None if sats == 255 else sats
            eph = msg.get_int("eph")
            self.hdop = None if eph == _U16_UNKNOWN else eph / 100.0
        elif name == "MISSION_CURRENT":
            seq = msg.get_int("seq")
            if seq != self.mission_seq:
                self.mission_seq = seq
                events.append(
                    self._event(now_ms, "mission_current", f"mission item {seq} current", value=seq)
                )
        elif name == "MISSION_ITEM_REACHED":
            seq = msg.get_int("seq")
            events.append(self._event(now_ms, "mission_reached", f"mission item {seq} reached", value=seq))
        elif name == "STATUSTEXT":
            text = str(f["text"])
            severity = msg.get_int("severity")
            events.append(self._event(now_ms, "statustext", text, severity))
            if "failsafe" in text.lower():
                events.append(self._event(now_ms, "failsafe", text, severity))
        elif name == "HOME_POSITION":
            home = (msg.get_int("latitude"), msg.get_int("longitude"), msg.get_int("altitude"))
            if home != self.home:
                self.home = home
                text = f"home {home[0] / 1e7:.7f},{home[1] / 1e7:.7f} alt {home[2] / 1000.0:.1f} m"
                events.append(self._event(now_ms, "home", text))
        return None

    def _position(self, msg: MavMessage, now_ms: int) -> Sample | None:
        f = msg.fields
        lat_e7 = f["lat"]
        lon_e7 = f["lon"]
        tbm = f["time_boot_ms"]
        if not (isinstance(lat_e7, int) and isinstance(lon_e7, int) and isinstance(tbm, int)):
            self.invalid_positions += 1
            return None
        if abs(lat_e7) > _LAT_E7_MAX or abs(lon_e7) > _LON_E7_MAX or (lat_e7 == 0 and lon_e7 == 0):
            # Out of range is a broken sender; 0,0 is what ArduPilot sends before its first fix.
            self.invalid_positions += 1
            if self.invalid_positions & (self.invalid_positions - 1) == 0:  # 1, 2, 4, 8, ...
                log.warning(
                    "drone %d: position lat_e7=%d lon_e7=%d not stored (%d so far)",
                    self.drone_id,
                    lat_e7,
                    lon_e7,
                    self.invalid_positions,
                    extra={"drone_id": self.drone_id},
                )
            return None
        boot_id = self._boot_for(tbm, now_ms)
        lat_deg = lat_e7 / 1e7
        lon_deg = lon_e7 / 1e7
        self.last_lat_deg = lat_deg
        self.last_lon_deg = lon_deg
        hdg = msg.get_int("hdg")
        vx, vy, vz = msg.get_int("vx"), msg.get_int("vy"), msg.get_int("vz")
        upload_id, mission_id, sortie = self.context if self.armed else NO_CONTEXT
        return Sample(
            _utc(boot_id + tbm),
            self.drone_id,
            boot_id,
            tbm,
            None,
            upload_id,
            mission_id,
            sortie,
            lat_deg,
            lon_deg,
            msg.get_int("alt") / 1000.0,
            msg.get_int("relative_alt") / 1000.0,
            math.hypot(vx, vy) / 100.0,
            -vz / 100.0,
            None if hdg == _U16_UNKNOWN else hdg / 100.0,
            self.battery_pct,
            self.voltage_v,
            self.current_a,
            self.mode,
            self.armed,
            self.gps_fix_type,
            self.satellites,
            self.hdop,
            self.mission_seq,
            _utc(now_ms),
        )

    def _heartbeat(self, msg: MavMessage, now_ms: int, events: list[Event]) -> None:
        autopilot = msg.get_int("autopilot")
        mav_type = msg.get_int("type")
        if autopilot == MavAutopilot.INVALID or mav_type == MavType.GCS:
            return  # gimbals, cameras, companions and ground stations share the system id
        base_mode = msg.get_int("base_mode")
        mode = mode_name(
            mav_type=mav_type,
            autopilot=autopilot,
            base_mode=base_mode,
            custom_mode=msg.get_int("custom_mode"),
        )
        armed = bool(base_mode & MavModeFlag.SAFETY_ARMED)
        first = self.mode is None
        if mode != self.mode:
            self.mode = mode
            events.append(self._event(now_ms, "mode", mode))
        if armed != self.armed or first:
            self.armed = armed
            events.append(self._event(now_ms, "armed", "armed" if armed else "disarmed", value=int(armed)))
        status = msg.get_int("system_status")
        if status != self.system_status:
            if status in _FAILSAFE_STATES:
                events.append(
                    self._event(now_ms, "failsafe", f"system status {MavState(status).name}", value=status)
                )
            self.system_status = status
