"""A plain pymavlink ground station and a thread-hosted simulator for the simulator's tests.

The tests drive the vehicle the way any GCS would, with blocking pymavlink calls, so the vehicle
runs in its own asyncio loop on a background thread (a blocking call must not stall it).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from simulator.mission_store import WireItem
from simulator.vehicle import SimVehicle, VehicleConfig

T = TypeVar("T")
HOME_LAT_DEG = 31.2304
HOME_LON_DEG = 121.4737


class VehicleThread:
    """A SimVehicle in a private event loop on a daemon thread."""

    def __init__(self, config: VehicleConfig) -> None:
        self.vehicle = SimVehicle(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> VehicleThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.vehicle.start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.vehicle.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def port(self) -> int:
        return self.vehicle.port

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the vehicle's loop thread (for fault injection and setup)."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(5)


def config(**overrides: Any) -> VehicleConfig:
    values: dict[str, Any] = {
        "sysid": 1,
        "port": 0,
        "home_lon_deg": HOME_LON_DEG,
        "home_lat_deg": HOME_LAT_DEG,
        "speedup": 20.0,
        "boot_time_to_ready_s": 2.0,
        "seed": 7,
    }
    values.update(overrides)
    return VehicleConfig(**values)


@contextmanager
def running_vehicle(**overrides: Any) -> Iterator[VehicleThread]:
    with VehicleThread(config(**overrides)) as handle:
        yield handle


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Gcs:
    """A minimal ground station on ``udpout:127.0.0.1:PORT`` (system 255 unless told otherwise)."""

    def __init__(
        self,
        port: int,
        *,
        source_system: int = 255,
        source_component: int = 190,
        signing_key: bytes | None = None,
    ) -> None:
        self.conn: Any = mavutil.mavlink_connection(
            f"udpout:127.0.0.1:{port}", source_system=source_system, source_component=source_component
        )
        if signing_key is not None:
            self.conn.setup_signing(signing_key, sign_outgoing=True)
        self.mav: Any = self.conn.mav
        self.target_system = 1
        self._heartbeats: threading.Thread | None = None
        self._stop_heartbeats = threading.Event()
        self.heartbeat()

    def close(self) -> None:
        self.stop_heartbeats()
        self.conn.close()

    def __enter__(self) -> Gcs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def heartbeat(self) -> None:
        self.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def start_heartbeats(self, interval_s: float = 0.5) -> None:
        def beat() -> None:
            while not self._stop_heartbeats.wait(interval_s):
                self.heartbeat()

        self._stop_heartbeats.clear()
        self._heartbeats = threading.Thread(target=beat, daemon=True)
        self._heartbeats.start()

    def stop_heartbeats(self) -> None:
        self._stop_heartbeats.set()
        if self._heartbeats is not None:
            self._heartbeats.join(2)
            self._heartbeats = None

    def recv(
        self, msg_type: str | list[str], timeout_s: float = 3.0, cond: Callable[[Any], bool] | None = None
    ) -> Any:
        """The next message of ``msg_type`` matching ``cond``, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            msg = self.conn.recv_match(type=msg_type, blocking=True, timeout=remaining)
            if msg is not None and (cond is None or cond(msg)):
                return msg

    def drain(self) -> None:
        while self.conn.recv_match(blocking=False) is not None:
            pass

    def command(self, command: int, *params: float, timeout_s: float = 3.0) -> int:
        values = [*params, *([0.0] * (7 - len(params)))]
        self.mav.command_long_send(self.target_system, 1, command, 0, *values)
        ack = self.recv("COMMAND_ACK", timeout_s, lambda m: m.command == command)
        assert ack is not None, f"no COMMAND_ACK for {command}"
        return int(ack.result)

    def set_interval(self, msgid: int, rate_hz: float) -> int:
        return self.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, msgid, 1e6 / rate_hz)

    def set_mode(self, name: str) -> int:
        number = {v: k for k, v in mavutil.mode_mapping_acm.items()}[name]
        return self.command(mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number)

    def arm(self) -> int:
        return self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)

    def set_param(self, name: str, value: float) -> float:
        self.mav.param_set_send(self.target_system, 1, name.encode(), value, mavlink.MAV_PARAM_TYPE_REAL32)
        reply = self.recv("PARAM_VALUE", 3.0, lambda m: m.param_id == name)
        assert reply is not None, f"no PARAM_VALUE for {name}"
        return float(reply.param_value)

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Wait for the pre-arm check bit in SYS_STATUS, as one would with ArduCopter."""
        self.set_interval(mavlink.MAVLINK_MSG_ID_SYS_STATUS, 10)
        bit = mavlink.MAV_SYS_STATUS_PREARM_CHECK
        msg = self.recv("SYS_STATUS", timeout_s, lambda m: m.onboard_control_sensors_health & bit)
        assert msg is not None, "vehicle never became ready"

    # -- mission protocol -----------------------------------------------------------------------
    def upload(self, items: list[WireItem], mission_type: int = 0, timeout_s: float = 10.0) -> int:
        """Upload ``items`` (seq 0 first); returns the final MISSION_ACK type."""
        self.mav.mission_count_send(self.target_system, 1, len(items), mission_type)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = self.recv(
                ["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"], deadline - time.monotonic()
            )
            if msg is None:
                break
            if msg.get_type() == "MISSION_ACK":
                return int(msg.type)
            item = items[msg.seq]
            self.send_item(item, mission_type)
        raise AssertionError("mission upload did not finish")

    def send_item(self, item: WireItem, mission_type: int = 0) -> None:
        self.mav.mission_item_int_send(
            self.target_system,
            1,
            item.seq,
            item.frame,
            item.command,
            item.current,
            item.autocontinue,
            item.param1,
            item.param2,
            item.param3,
            item.param4,
            item.x,
            item.y,
            item.z,
            mission_type,
        )

    def download(self, mission_type: int = 0, timeout_s: float = 10.0) -> list[Any]:
        self.mav.mission_request_list_send(self.target_system, 1, mission_type)
        count_msg = self.recv("MISSION_COUNT", 3.0)
        assert count_msg is not None, "no MISSION_COUNT"
        items = []
        for seq in range(count_msg.count):
            for _ in range(3):
                self.mav.mission_request_int_send(self.target_system, 1, seq, mission_type)
                item = self.recv("MISSION_ITEM_INT", 1.0, seq_is(seq))
                if item is not None:
                    items.append(item)
                    break
            else:
                raise AssertionError(f"item {seq} never arrived")
        self.mav.mission_ack_send(self.target_system, 1, mavlink.MAV_MISSION_ACCEPTED, mission_type)
        return items


def waypoint(
    seq: int,
    north_m: float,
    east_m: float,
    alt_rel_m: float,
    command: int = 16,
    *,
    param1: float = 0.0,
    param2: float = 0.0,
    param3: float = 0.0,
    param4: float = 0.0,
) -> WireItem:
    """A MISSION_ITEM_INT at a north/east offset from the test home, relative altitude (frame 6)."""
    lat = HOME_LAT_DEG + north_m / 111_319.49
    lon = HOME_LON_DEG + east_m / (111_319.49 * math.cos(math.radians(HOME_LAT_DEG)))
    return WireItem(
        seq=seq,
        command=command,
        frame=mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        param1=param1,
        param2=param2,
        param3=param3,
        param4=param4,
        x=round(lat * 1e7),
        y=round(lon * 1e7),
        z=alt_rel_m,
    )


def seq_is(seq: int) -> Callable[[Any], bool]:
    """A ``Gcs.recv`` condition: the message's seq equals ``seq``."""
    return lambda msg: bool(msg.seq == seq)


def home_placeholder() -> WireItem:
    return WireItem(seq=0, command=16, frame=0, x=0, y=0, z=0.0)
