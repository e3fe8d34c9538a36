"""Mission, fence and rally storage and the MAVLink mission transfer protocol, as ArduPilot does them.

Behaviour follows ArduPilot's ``MissionItemProtocol*.cpp`` and ``AP_Mission.cpp`` so that a
ground station tuned against this simulator copes with a real ArduCopter:

* uploads are driven by the vehicle with MISSION_REQUEST (never _INT), re-requested after 1 s of
  silence and cancelled (OPERATION_CANCELLED) after 8 s without progress, on wall time;
* an item with the wrong seq gets INVALID_SEQUENCE and the upload goes on;
* mission and rally items are written as they arrive, so a rejected upload leaves a mix of old
  and new items (not atomic); fences are buffered and validated whole at the end;
* items are stored the way AP_Mission packs them, so a download returns ArduPilot's normalised
  form (frame 6 -> 3, altitude to the centimetre, only the params Copter keeps), and seq 0
  always reads back as the current home.

This module is pure: it returns small outbound records that the vehicle turns into messages.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from simulator.mavenums import Cmd, Frame, MissionResult, MissionType, Severity

UPLOAD_TIMEOUT_S = 8.0
REREQUEST_INTERVAL_S = 1.0
LOCATION_ALT_MAX_M = 83_000.0


def f32(value: float) -> float:
    """Round to the float32 the wire carries."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass(frozen=True, slots=True)
class WireItem:
    """One MISSION_ITEM_INT's content (target ids excluded)."""

    seq: int
    command: int
    frame: int = Frame.GLOBAL_RELATIVE_ALT_INT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    current: int = 0
    autocontinue: int = 1
    mission_type: int = MissionType.MISSION

    @property
    def lat_deg(self) -> float:
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        return self.y / 1e7


Peer = tuple[int, int]
"""(sysid, compid) of a ground station."""


@dataclass(frozen=True, slots=True)
class SendAck:
    target: Peer
    result: MissionResult
    mission_type: int


@dataclass(frozen=True, slots=True)
class SendRequest:
    target: Peer
    seq: int
    mission_type: int


@dataclass(frozen=True, slots=True)
class SendCount:
    target: Peer
    count: int
    mission_type: int


@dataclass(frozen=True, slots=True)
class SendItem:
    target: Peer
    item: WireItem
    as_int: bool


@dataclass(frozen=True, slots=True)
class SendText:
    severity: Severity
    text: str


Outbound = SendAck | SendRequest | SendCount | SendItem | SendText


# ---------------------------------------------------------------------------------------------
# AP_Mission's storage codec
# ---------------------------------------------------------------------------------------------

ParamKind = Literal["-", "f", "u8", "i8", "u16", "i16"]

# Commands stored with a location (AP_Mission::stored_in_location).
_LOCATION_COMMANDS = frozenset(
    {
        Cmd.NAV_WAYPOINT,
        Cmd.NAV_LOITER_UNLIM,
        Cmd.NAV_LOITER_TURNS,
        Cmd.NAV_LOITER_TIME,
        Cmd.NAV_LAND,
        Cmd.NAV_TAKEOFF,
        Cmd.NAV_CONTINUE_AND_CHANGE_ALT,
        Cmd.NAV_LOITER_TO_ALT,
        Cmd.NAV_SPLINE_WAYPOINT,
        Cmd.NAV_GUIDED_ENABLE,
        Cmd.DO_SET_HOME,
        Cmd.DO_LAND_START,
        Cmd.DO_GO_AROUND,
        Cmd.DO_SET_ROI,
        Cmd.DO_SET_ROI_LOCATION,
        Cmd.DO_SET_ROI_NONE,
        Cmd.NAV_VTOL_TAKEOFF,
        Cmd.NAV_VTOL_LAND,
        Cmd.NAV_PAYLOAD_PLACE,
    }
)

# Which params survive storage and how they are packed (C casts), per command; commands with
# special packing are handled in _pack_params. A command missing here is UNSUPPORTED.
_PARAM_LAYOUT: dict[int, tuple[ParamKind, ParamKind, ParamKind, ParamKind]] = {
    Cmd.NAV_WAYPOINT: ("u16", "-", "-", "-"),
    Cmd.NAV_RETURN_TO_LAUNCH: ("-", "-", "-", "-"),
    Cmd.NAV_TAKEOFF: ("u16", "-", "-", "-"),
    Cmd.NAV_CONTINUE_AND_CHANGE_ALT: ("u16", "-", "-", "-"),
    Cmd.NAV_SPLINE_WAYPOINT: ("u16", "-", "-", "-"),
    Cmd.NAV_GUIDED_ENABLE: ("u16", "-", "-", "-"),
    Cmd.NAV_DELAY: ("f", "i8", "i8", "i8"),
    Cmd.NAV_ALTITUDE_WAIT: ("f", "f", "u8", "-"),
    Cmd.NAV_VTOL_TAKEOFF: ("-", "-", "-", "-"),
    Cmd.NAV_VTOL_LAND: ("-", "-", "-", "-"),
    Cmd.NAV_SET_YAW_SPEED: ("f", "f", "u8", "-"),
    Cmd.CONDITION_DELAY: ("f", "-", "-", "-"),
    Cmd.CONDITION_DISTANCE: ("f", "-", "-", "-"),
    Cmd.CONDITION_YAW: ("f", "f", "i8", "u8"),
    Cmd.DO_SET_MODE: ("u16", "-", "-", "-"),
    Cmd.DO_JUMP: ("u16", "i16", "-", "-"),
    Cmd.DO_CHANGE_SPEED: ("u8", "f", "f", "-"),
    Cmd.DO_SET_HOME: ("u16", "-", "-", "-"),
    Cmd.DO_SET_RELAY: ("u8", "u8", "-", "-"),
    Cmd.DO_REPEAT_RELAY: ("u8", "i16", "f", "-"),
    Cmd.DO_SET_SERVO: ("u8", "u16", "-", "-"),
    Cmd.DO_REPEAT_SERVO: ("u8", "u16", "i16", "f"),
    Cmd.DO_LAND_START: ("-", "-", "-", "-"),
    Cmd.DO_GO_AROUND: ("-", "-", "-", "-"),
    Cmd.DO_SET_REVERSE: ("u16", "-", "-", "-"),
    Cmd.DO_SET_ROI_LOCATION: ("-", "-", "-", "-"),
    Cmd.DO_SET_ROI_NONE: ("-", "-", "-", "-"),
    Cmd.DO_SET_ROI: ("u16", "-", "-", "-"),
    Cmd.DO_DIGICAM_CONFIGURE: ("u8", "u16", "u8", "u16"),
    Cmd.DO_DIGICAM_CONTROL: ("u8", "u8", "i8", "u8"),
    Cmd.DO_MOUNT_CONTROL: ("f", "f", "f", "-"),
    Cmd.DO_SET_CAM_TRIGG_DIST: ("f", "-", "u8", "-"),
    Cmd.DO_FENCE_ENABLE: ("u16", "-", "-", "-"),
    Cmd.DO_PARACHUTE: ("u16", "-", "-", "-"),
    Cmd.DO_GRIPPER: ("u8", "u8", "-", "-"),
    Cmd.DO_AUTOTUNE_ENABLE: ("u16", "-", "-", "-"),
    Cmd.DO_SET_RESUME_REPEAT_DIST: ("u16", "-", "-", "-"),
    Cmd.DO_SPRAYER: ("u16", "-", "-", "-"),
    Cmd.DO_SEND_SCRIPT_MESSAGE: ("u16", "f", "f", "f"),
    Cmd.DO_AUX_FUNCTION: ("u16", "u8", "-", "-"),
    Cmd.DO_GUIDED_LIMITS: ("u16", "f", "f", "f"),
    Cmd.DO_ENGINE_CONTROL: ("u8", "u8", "f", "-"),
    Cmd.DO_GIMBAL_MANAGER_PITCHYAW: ("f", "f", "f", "f"),
    Cmd.IMAGE_START_CAPTURE: ("u8", "f", "u16", "u16"),
    Cmd.IMAGE_STOP_CAPTURE: ("u8", "-", "-", "-"),
    Cmd.VIDEO_START_CAPTURE: ("u8", "-", "-", "-"),
    Cmd.VIDEO_STOP_CAPTURE: ("u8", "-", "-", "-"),
    Cmd.DO_VTOL_TRANSITION: ("u8", "-", "-", "-"),
    Cmd.DO_WINCH: ("u8", "u8", "f", "f"),
}
_SPECIAL_COMMANDS = frozenset(
    {Cmd.NAV_LOITER_UNLIM, Cmd.NAV_LOITER_TURNS, Cmd.NAV_LOITER_TIME, Cmd.NAV_LAND, Cmd.NAV_LOITER_TO_ALT}
)
SUPPORTED_MISSION_COMMANDS = frozenset(_PARAM_LAYOUT) | _SPECIAL_COMMANDS | {Cmd.NAV_PAYLOAD_PLACE}

# Params that may be NaN (AP_Mission::sanity_check_params), by command: 0-based param indexes.
_NAN_ALLOWED: dict[int, frozenset[int]] = {
    Cmd.NAV_WAYPOINT: frozenset({3}),
    Cmd.NAV_LAND: frozenset({3}),
    Cmd.NAV_TAKEOFF: frozenset({3}),
    Cmd.NAV_VTOL_TAKEOFF: frozenset({3}),
    Cmd.NAV_VTOL_LAND: frozenset({2, 3}),
}
_PARAM_ERRORS = (
    MissionResult.INVALID_PARAM1,
    MissionResult.INVALID_PARAM2,
    MissionResult.INVALID_PARAM3,
    MissionResult.INVALID_PARAM4,
)

_RELATIVE_FRAMES = frozenset({Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT})
_ABSOLUTE_FRAMES = frozenset({Frame.GLOBAL, Frame.GLOBAL_INT, Frame.MISSION})
_TERRAIN_FRAMES = frozenset({Frame.GLOBAL_TERRAIN_ALT, Frame.GLOBAL_TERRAIN_ALT_INT})
_FENCE_FRAMES = _RELATIVE_FRAMES | _TERRAIN_FRAMES | {Frame.GLOBAL, Frame.GLOBAL_INT}


def _c_int(value: float, bits: int, signed: bool) -> int:
    """A C float-to-integer assignment: truncate toward zero, wrap to the width."""
    if not math.isfinite(value):
        return 0
    raw = int(value) & ((1 << bits) - 1)
    if signed and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw


def _pack(kind: ParamKind, value: float) -> float:
    match kind:
        case "-":
            return 0.0
        case "f":
            return f32(value)
        case "u8":
            return float(_c_int(value, 8, False))
        case "i8":
            return float(_c_int(value, 8, True))
        case "u16":
            return float(_c_int(value, 16, False))
        case "i16":
            return float(_c_int(value, 16, True))


def _pack_params(item: WireItem) -> tuple[float, float, float, float]:
    """The params a download returns after AP_Mission packed and unpacked them (Copter build)."""
    p1, p2, p3, p4 = item.param1, item.param2, item.param3, item.param4
    match item.command:
        case Cmd.NAV_LOITER_UNLIM:
            radius = float(_c_int(abs(p3), 16, False))
            return 0.0, 0.0, -radius if p3 < 0 else radius, 0.0
        case Cmd.NAV_LOITER_TURNS:
            turns = float(_c_int(p1, 16, False) & 0xFF)
            radius = float(_c_int(abs(p3), 16, False) & 0xFF)
            return turns, 0.0, -radius if p3 < 0 else radius, 1.0 if p4 > 0 else 0.0
        case Cmd.NAV_LOITER_TIME:
            return float(_c_int(p1, 16, False)), 0.0, -1.0 if p3 < 0 else 1.0, 1.0 if p4 > 0 else 0.0
        case Cmd.NAV_LAND:
            return float(_c_int(p1, 16, False)), 0.0, 0.0, -1.0 if p4 < 0 else 1.0
        case Cmd.NAV_LOITER_TO_ALT:
            radius = float(_c_int(abs(p2), 16, False))
            return 0.0, -radius if p2 < 0 else radius, 0.0, 1.0 if p4 > 0 else 0.0
        case Cmd.NAV_PAYLOAD_PLACE:
            return f32(_c_int(f32(p1 * 100.0), 16, False) / 100.0), 0.0, 0.0, 0.0
    layout = _PARAM_LAYOUT[item.command]
    return (_pack(layout[0], p1), _pack(layout[1], p2), _pack(layout[2], p3), _pack(layout[3], p4))


def _check_lat_e7(lat_e7: int) -> bool:
    return abs(lat_e7) <= 900_000_000


def _check_lon_e7(lon_e7: int) -> bool:
    return abs(lon_e7) <= 1_800_000_000


def store_mission_item(item: WireItem) -> tuple[MissionResult, WireItem | None]:
    """Validate ``item`` as AP_Mission::mavlink_int_to_mission_cmd does and return its stored form.

    The stored form is exactly what a later download returns (before seq/current are set).
    """
    nan_ok = _NAN_ALLOWED.get(item.command, frozenset())
    for index, value in enumerate((item.param1, item.param2, item.param3, item.param4)):
        if math.isinf(value) or (math.isnan(value) and index not in nan_ok):
            return _PARAM_ERRORS[index], None
    if item.command == 0:
        return MissionResult.INVALID, None
    if item.command not in SUPPORTED_MISSION_COMMANDS:
        return MissionResult.UNSUPPORTED, None
    p1, p2, p3, p4 = _pack_params(item)
    if item.command in _LOCATION_COMMANDS:
        if not _check_lat_e7(item.x):
            return MissionResult.INVALID_PARAM5_X, None
        if not _check_lon_e7(item.y):
            return MissionResult.INVALID_PARAM6_Y, None
        if math.isnan(item.z) or abs(item.z) >= LOCATION_ALT_MAX_M:
            return MissionResult.INVALID_PARAM7, None
        if item.frame in _RELATIVE_FRAMES:
            frame = Frame.GLOBAL_RELATIVE_ALT
        elif item.frame in _ABSOLUTE_FRAMES:
            frame = Frame.GLOBAL
        elif item.frame in _TERRAIN_FRAMES:
            frame = Frame.GLOBAL_TERRAIN_ALT
        else:
            return MissionResult.UNSUPPORTED_FRAME, None
        alt_cm = _c_int(f32(f32(item.z) * 100.0), 24, True)
        x, y, z = item.x, item.y, f32(alt_cm / 100.0)
    elif item.command in (Cmd.DO_DIGICAM_CONTROL, Cmd.DO_DIGICAM_CONFIGURE):
        frame = Frame.GLOBAL
        x, y, z = _c_int(item.x, 8, False), _c_int(item.y, 8, False), 0.0
    else:
        frame, x, y, z = Frame.GLOBAL, 0, 0, 0.0
    stored = WireItem(
        seq=item.seq,
        command=item.command,
        frame=frame,
        param1=p1,
        param2=p2,
        param3=p3,
        param4=p4,
        x=x,
        y=y,
        z=z,
        mission_type=MissionType.MISSION,
    )
    return MissionResult.ACCEPTED, stored


def mission_item_from_float(
    *,
    seq: int,
    command: int,
    frame: int,
    params: tuple[float, float, float, float],
    x_deg: float,
    y_deg: float,
    z: float,
    mission_type: int,
) -> tuple[MissionResult, WireItem | None]:
    """Convert a legacy MISSION_ITEM (float degrees) as AP_Mission does before storing it."""
    if command in (Cmd.DO_DIGICAM_CONTROL, Cmd.DO_DIGICAM_CONFIGURE):
        x_e7, y_e7 = int(x_deg), int(y_deg)
    else:
        if abs(x_deg) > 90.0:
            return MissionResult.INVALID_PARAM5_X, None
        if abs(y_deg) > 180.0:
            return MissionResult.INVALID_PARAM6_Y, None
        x_e7, y_e7 = int(f32(x_deg * 1.0e7)), int(f32(y_deg * 1.0e7))
    item = WireItem(
        seq=seq,
        command=command,
        frame=frame,
        param1=params[0],
        param2=params[1],
        param3=params[2],
        param4=params[3],
        x=x_e7,
        y=y_e7,
        z=z,
        mission_type=mission_type,
    )
    return MissionResult.ACCEPTED, item


# ---------------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------------


class ItemStore:
    """One mission type's storage as MissionItemProtocol sees it."""

    mission_type: MissionType
    timeout_text: str
    complete_text: str | None = None

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def item_count(self) -> int:
        raise NotImplementedError

    def read_item(self, seq: int) -> tuple[MissionResult, WireItem | None]:
        raise NotImplementedError

    def begin_upload(self, count: int) -> MissionResult:
        raise NotImplementedError

    def begin_partial(self) -> MissionResult:
        return MissionResult.ACCEPTED

    def put_item(self, item: WireItem, request_last: int) -> MissionResult:
        raise NotImplementedError

    def complete(self) -> tuple[MissionResult, list[SendText]]:
        return MissionResult.ACCEPTED, []

    def end_upload(self) -> None:
        """Free upload buffers, whatever the outcome."""

    def clear(self) -> bool:
        raise NotImplementedError


class MissionStore(ItemStore):
    """AP_Mission: home at seq 0, items written as they arrive."""

    mission_type = MissionType.MISSION
    timeout_text = "Mission upload timeout"
    complete_text = "Flight plan received"

    def __init__(
        self, capacity: int, home_item: Callable[[], WireItem], is_running: Callable[[], bool]
    ) -> None:
        super().__init__(capacity)
        self._home_item = home_item
        self._is_running = is_running
        # Slot 0 holds whatever was uploaded there; reads of seq 0 return the live home instead.
        self.items: list[WireItem] = [home_item()]
        self.current_nav_seq: Callable[[], int] = lambda: -1

    def item_count(self) -> int:
        return len(self.items)

    def readback(self) -> list[WireItem]:
        """The whole stored mission as a download would return it."""
        return [item for seq in range(len(self.items)) if (item := self.read_item(seq)[1]) is not None]

    def read_item(self, seq: int) -> tuple[MissionResult, WireItem | None]:
        if seq == 0:
            return MissionResult.ACCEPTED, replace(self._home_item(), seq=0)
        if seq >= len(self.items):
            return MissionResult.ERROR, None
        current = 1 if seq == self.current_nav_seq() else 0
        return MissionResult.ACCEPTED, replace(self.items[seq], seq=seq, current=current)

    def begin_upload(self, count: int) -> MissionResult:
        del self.items[count:]
        return MissionResult.ACCEPTED

    def put_item(self, item: WireItem, request_last: int) -> MissionResult:
        result, stored = store_mission_item(item)
        if stored is None:
            return result
        if stored.command == Cmd.DO_JUMP:
            target = int(stored.param1)
            if target == 0 or (target >= len(self.items) and target > request_last):
                return MissionResult.ERROR
        if item.seq < len(self.items):
            self.items[item.seq] = stored
        elif item.seq == len(self.items):
            self.items.append(stored)
        else:
            return MissionResult.ERROR
        return MissionResult.ACCEPTED

    def clear(self) -> bool:
        if self._is_running():
            return False
        del self.items[1:]
        return True


@dataclass(frozen=True, slots=True)
class FenceItem:
    command: int
    param1: float
    x: int
    y: int


class FenceStore(ItemStore):
    """AC_PolyFence: buffered upload, whole-fence validation, written only when valid."""

    mission_type = MissionType.FENCE
    timeout_text = "Fence upload timeout"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.items: list[FenceItem] = []
        self._new_items: list[FenceItem | None] | None = None

    def item_count(self) -> int:
        if self._new_items is not None:
            return len(self._new_items)
        return len(self.items)

    def read_item(self, seq: int) -> tuple[MissionResult, WireItem | None]:
        if seq >= len(self.items):
            return MissionResult.INVALID_SEQUENCE, None
        stored = self.items[seq]
        return MissionResult.ACCEPTED, WireItem(
            seq=seq,
            command=stored.command,
            frame=Frame.GLOBAL,
            param1=stored.param1,
            x=stored.x,
            y=stored.y,
            z=0.0,
            mission_type=MissionType.FENCE,
        )

    def begin_upload(self, count: int) -> MissionResult:
        self._new_items = [None] * count
        return MissionResult.ACCEPTED

    def begin_partial(self) -> MissionResult:
        self._new_items = list(self.items)
        return MissionResult.ACCEPTED

    def put_item(self, item: WireItem, request_last: int) -> MissionResult:
        if self._new_items is None or item.seq >= len(self._new_items):
            return MissionResult.INVALID_SEQUENCE
        if item.frame not in _FENCE_FRAMES:
            return MissionResult.UNSUPPORTED_FRAME
        if item.command not in (
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            Cmd.NAV_FENCE_RETURN_POINT,
            Cmd.NAV_FENCE_CIRCLE_INCLUSION,
            Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
        ):
            return MissionResult.UNSUPPORTED
        param1 = f32(item.param1)
        if item.command in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            param1 = float(_c_int(item.param1, 8, False))
        elif item.command == Cmd.NAV_FENCE_RETURN_POINT:
            param1 = 0.0
        self._new_items[item.seq] = FenceItem(item.command, param1, item.x, item.y)
        return MissionResult.ACCEPTED

    def complete(self) -> tuple[MissionResult, list[SendText]]:
        pending = self._new_items or []
        if any(entry is None for entry in pending):
            return MissionResult.ERROR, [SendText(Severity.INFO, "Error replacing item")]
        new_items = [entry for entry in pending if entry is not None]
        problem = validate_fence(new_items)
        if problem is not None:
            return MissionResult.ERROR, [SendText(Severity.WARNING, problem)]
        self.items = new_items
        return MissionResult.ACCEPTED, []

    def end_upload(self) -> None:
        self._new_items = None

    def clear(self) -> bool:
        self.items = []
        return True


def validate_fence(items: list[FenceItem]) -> str | None:
    """Why AC_PolyFence_loader would refuse ``items``, or None if it would store them."""
    index = 0
    seen_return_point = False
    while index < len(items):
        item = items[index]
        if not (_check_lat_e7(item.x) and _check_lon_e7(item.y)):
            return "Invalid lat/lon in fence"
        if item.command in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            vertex_count = int(item.param1)
            if vertex_count < 3:
                return "Invalid vertex count"
            group = items[index : index + vertex_count]
            if len(group) != vertex_count or any(
                v.command != item.command or int(v.param1) != vertex_count for v in group
            ):
                return "Vertex count mismatch"
            index += vertex_count
            continue
        if item.command in (Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION):
            if not item.param1 > 0:
                return "Non-positive circle radius"
        elif item.command == Cmd.NAV_FENCE_RETURN_POINT:
            if seen_return_point:
                return "Multiple return points"
            seen_return_point = True
        index += 1
    return None


class RallyStore(ItemStore):
    """AP_Rally: items written as they arrive, altitude kept as whole metres (int16)."""

    mission_type = MissionType.RALLY
    timeout_text = "Rally upload timeout"
    complete_text = "Rally points received"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.items: list[WireItem] = []

    def item_count(self) -> int:
        return len(self.items)

    def read_item(self, seq: int) -> tuple[MissionResult, WireItem | None]:
        if seq >= len(self.items):
            return MissionResult.INVALID_SEQUENCE, None
        return MissionResult.ACCEPTED, replace(self.items[seq], seq=seq)

    def begin_upload(self, count: int) -> MissionResult:
        del self.items[count:]
        return MissionResult.ACCEPTED

    def put_item(self, item: WireItem, request_last: int) -> MissionResult:
        if item.command != Cmd.NAV_RALLY_POINT:
            return MissionResult.UNSUPPORTED
        if item.frame not in _RELATIVE_FRAMES:
            return MissionResult.UNSUPPORTED_FRAME
        if not _check_lat_e7(item.x):
            return MissionResult.INVALID_PARAM5_X
        if not _check_lon_e7(item.y):
            return MissionResult.INVALID_PARAM6_Y
        if math.isnan(item.z) or not -32768 <= item.z <= 32767:
            return MissionResult.INVALID_PARAM7
        stored = WireItem(
            seq=item.seq,
            command=Cmd.NAV_RALLY_POINT,
            frame=Frame.GLOBAL_RELATIVE_ALT,
            x=item.x,
            y=item.y,
            z=float(_c_int(item.z, 16, True)),
            mission_type=MissionType.RALLY,
        )
        if item.seq < len(self.items):
            self.items[item.seq] = stored
        elif item.seq == len(self.items):
            self.items.append(stored)
        else:
            return MissionResult.ERROR
        return MissionResult.ACCEPTED

    def clear(self) -> bool:
        self.items = []
        return True


# ---------------------------------------------------------------------------------------------
# The transfer protocol
# ---------------------------------------------------------------------------------------------


class TransferProtocol:
    """MissionItemProtocol for one mission type: one uploader at a time, vehicle-driven requests."""

    def __init__(self, store: ItemStore, clock: Callable[[], float]) -> None:
        self.store = store
        self._clock = clock
        self.receiving = False
        self._dest: Peer = (0, 0)
        self._request_i = 0
        self._request_last = 0
        self._last_receive_s = 0.0
        self._last_request_s = 0.0

    @property
    def mission_type(self) -> int:
        return int(self.store.mission_type)

    def _ack(self, target: Peer, result: MissionResult) -> SendAck:
        return SendAck(target, result, self.mission_type)

    def _mavlink2_ok(self, sender: Peer, mavlink1: bool, out: list[Outbound]) -> bool:
        if self.store.mission_type is MissionType.MISSION or not mavlink1:
            return True
        out.append(SendText(Severity.WARNING, "Need mavlink2 for item transfer"))
        out.append(self._ack(sender, MissionResult.UNSUPPORTED))
        return False

    def _start_requests(self, sender: Peer, first: int, last: int, out: list[Outbound]) -> None:
        now = self._clock()
        self.receiving = True
        self._dest = sender
        self._request_i = first
        self._request_last = last
        self._last_receive_s = now
        self._last_request_s = now
        out.append(SendRequest(sender, first, self.mission_type))

    def _finish(self, sender: Peer, out: list[Outbound]) -> None:
        result, texts = self.store.complete()
        out.extend(texts)
        if result is MissionResult.ACCEPTED and self.store.complete_text:
            out.append(SendText(Severity.INFO, self.store.complete_text))
        out.append(self._ack(sender, result))
        self.store.end_upload()
        self.receiving = False

    def handle_count(self, sender: Peer, count: int, mavlink1: bool) -> list[Outbound]:
        out: list[Outbound] = []
        if not self._mavlink2_ok(sender, mavlink1, out):
            return out
        if self.receiving:
            if sender != self._dest:
                out.append(self._ack(sender, MissionResult.DENIED))
                return out
            self.store.end_upload()
        if count > self.store.capacity:
            out.append(self._ack(sender, MissionResult.NO_SPACE))
            out.append(SendText(Severity.WARNING, f"Only {self.store.capacity} items are supported"))
            self.receiving = False
            return out
        result = self.store.begin_upload(count)
        if result is not MissionResult.ACCEPTED:
            out.append(self._ack(sender, result))
            return out
        if count == 0:
            self._finish(sender, out)
            return out
        self._start_requests(sender, 0, count - 1, out)
        return out

    def handle_write_partial(self, sender: Peer, start: int, end: int, mavlink1: bool) -> list[Outbound]:
        out: list[Outbound] = []
        if not self._mavlink2_ok(sender, mavlink1, out):
            return out
        count = self.store.item_count()
        if start > count or end > count or end < start:
            out.append(SendText(Severity.WARNING, "Flight plan update rejected"))
            out.append(self._ack(sender, MissionResult.ERROR))
            return out
        result = self.store.begin_partial()
        if result is not MissionResult.ACCEPTED:
            out.append(self._ack(sender, result))
            return out
        self._start_requests(sender, start, end, out)
        return out

    def handle_item(self, sender: Peer, item: WireItem) -> list[Outbound]:
        out: list[Outbound] = []
        if not self.receiving:
            # ArduPilot answers a stray item with an ack on the link that last uploaded; with
            # no upload running there is nothing to do.
            return out
        if item.seq != self._request_i:
            out.append(self._ack(sender, MissionResult.INVALID_SEQUENCE))
            return out
        if sender != self._dest:
            out.append(self._ack(sender, MissionResult.DENIED))
            return out
        result = self.store.put_item(item, self._request_last)
        if result is not MissionResult.ACCEPTED:
            out.append(self._ack(sender, result))
            self.store.end_upload()
            self.receiving = False
            return out
        self._last_receive_s = self._clock()
        self._request_i += 1
        if self._request_i > self._request_last:
            self._finish(sender, out)
            return out
        self._last_request_s = self._last_receive_s
        out.append(SendRequest(self._dest, self._request_i, self.mission_type))
        return out

    def handle_request_list(self, sender: Peer, mavlink1: bool) -> list[Outbound]:
        out: list[Outbound] = []
        if not self._mavlink2_ok(sender, mavlink1, out):
            return out
        if self.receiving:
            out.append(self._ack(sender, MissionResult.DENIED))
            return out
        out.append(SendCount(sender, self.store.item_count(), self.mission_type))
        return out

    def handle_request(self, sender: Peer, seq: int, as_int: bool, mavlink1: bool) -> list[Outbound]:
        out: list[Outbound] = []
        if not self._mavlink2_ok(sender, mavlink1, out):
            return out
        if as_int and self.receiving:
            out.append(self._ack(sender, MissionResult.DENIED))
            return out
        if self.store.mission_type is MissionType.MISSION and seq != 0 and seq >= self.store.item_count():
            out.append(SendCount(sender, self.store.item_count(), self.mission_type))
            out.append(self._ack(sender, MissionResult.ERROR))
            return out
        result, item = self.store.read_item(seq)
        if item is None:
            out.append(self._ack(sender, result))
            return out
        if not as_int and not (_check_lat_e7(item.x) and _check_lon_e7(item.y)):
            out.append(self._ack(sender, MissionResult.INVALID_PARAM5_X))
            return out
        out.append(SendItem(sender, replace(item, mission_type=self.mission_type), as_int))
        return out

    def handle_clear_all(self, sender: Peer, mavlink1: bool) -> list[Outbound]:
        out: list[Outbound] = []
        if not self._mavlink2_ok(sender, mavlink1, out):
            return out
        success = not self.receiving and self.store.clear()
        out.append(self._ack(sender, MissionResult.ACCEPTED if success else MissionResult.ERROR))
        return out

    def update(self) -> list[Outbound]:
        """Timers: re-request a missing item each second, give up after 8 s without progress."""
        if not self.receiving:
            return []
        now = self._clock()
        if now - self._last_receive_s > UPLOAD_TIMEOUT_S:
            self.receiving = False
            self.store.end_upload()
            return [
                SendText(Severity.WARNING, self.store.timeout_text),
                self._ack(self._dest, MissionResult.OPERATION_CANCELLED),
            ]
        if now - self._last_request_s > REREQUEST_INTERVAL_S:
            self._last_request_s = now
            return [SendRequest(self._dest, self._request_i, self.mission_type)]
        return []
