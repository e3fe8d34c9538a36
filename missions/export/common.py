"""What the exporters share: the import result, number formatting, fence grouping, sortie lookup.

The text formats (.plan JSON, "QGC WPL 110") carry MISSION_ITEM fields as decimal numbers, so
every exporter must write a number in a form that reads back as the very same MISSION_ITEM_INT
value; the helpers here are the one place that rule lives.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np

from missions.items import MavCmd, MissionItem
from missions.plan import MissionPlan, Sortie

E7_PER_DEG = 10**7
LAT_E7_LIMIT = 90 * E7_PER_DEG
LON_E7_LIMIT = 180 * E7_PER_DEG
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# ArduPilot passes x/y of these commands through unscaled (AP_Mission's
# convert_MISSION_ITEM_to_MISSION_ITEM_INT): they carry a number, not a position.
# Every other command's x/y is latitude/longitude in 1e-7 degrees.
RAW_XY_COMMANDS = frozenset(
    {
        202,  # MAV_CMD_DO_DIGICAM_CONFIGURE
        int(MavCmd.DO_DIGICAM_CONTROL),
        1000,  # MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW
        42703,  # MAV_CMD_NAV_ATTITUDE_TIME
    }
)


# MISSION_ITEM_INT carries the integer-coordinate frames (GLOBAL_INT 5, GLOBAL_RELATIVE_ALT_INT 6,
# GLOBAL_TERRAIN_ALT_INT 11), but QGroundControl and Mission Planner files use their float twins
# (GLOBAL 0, GLOBAL_RELATIVE_ALT 3, GLOBAL_TERRAIN_ALT 10): QGroundControl opens frame-6 items only in
# its raw editor and Mission Planner shows a blank frame for them. Files get the twin; an import maps
# both back to the wire frame, so a file written by either tool or by an older AeroGrid reads the same.
_FILE_FRAME_OF_WIRE = {5: 0, 6: 3, 11: 10}
_WIRE_FRAME_OF_FILE = {file: wire for wire, file in _FILE_FRAME_OF_WIRE.items()}


def file_frame(frame: int) -> int:
    """The frame a ground-station file stores for a wire (MISSION_ITEM_INT) frame."""
    return _FILE_FRAME_OF_WIRE.get(frame, frame)


def wire_frame(frame: int) -> int:
    """The MISSION_ITEM_INT frame for a frame read from a file (either twin maps to the _INT frame)."""
    return _WIRE_FRAME_OF_FILE.get(frame, frame)


@dataclass(frozen=True, slots=True)
class ImportedMission:
    """A mission read back from a file: the upload lists for MISSION, FENCE and RALLY.

    ``items[0]`` is home, as in a ``Sortie``; fence and rally lists are empty when the format
    cannot hold them (WPL).
    """

    items: tuple[MissionItem, ...]
    fence_items: tuple[MissionItem, ...] = ()
    rally_items: tuple[MissionItem, ...] = ()


def select_sortie(plan: MissionPlan, sortie: int) -> Sortie:
    """The sortie by 0-based index, with an error that names the valid range."""
    if not 0 <= sortie < len(plan.sorties):
        raise ValueError(f"sortie {sortie} does not exist: the plan has {len(plan.sorties)} sortie(s)")
    return plan.sorties[sortie]


def float32_text(value: float) -> str:
    """The shortest decimal text that reads back as the same float32.

    Params and z are float32 on the wire; writing the float64 repr of a float32 (0.10000000149011612)
    is exact but unreadable, so write the float32's own shortest form (0.1). Parsing that text as a
    float64 and rounding to float32 could in theory round twice the wrong way, so the result is
    checked and the exact float64 repr is used in that case.
    """
    text = str(np.float32(value))
    if value != value or to_float32(float(text)) == value:
        return text
    return repr(value)


def to_float32(value: float) -> float:
    """Round to the nearest float32, raising ValueError when the value does not fit one."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except (OverflowError, struct.error) as exc:
        raise ValueError(f"{value!r} is outside the float32 range") from exc


def json_number(value: float) -> int | float:
    """A float as QGroundControl's JSON writer shows it: integral values without ".0"."""
    if value == value and abs(value) < 2**53 and float(value).is_integer():
        return int(value)
    return value


def xy_is_position(command: int) -> bool:
    """Whether x/y of ``command`` hold latitude/longitude (1e-7 degrees) rather than raw numbers."""
    return command not in RAW_XY_COMMANDS


def e7_text(value_e7: int) -> str:
    """1e-7 degree integer as exact decimal degrees ("-35.3632620"), with no float rounding."""
    sign = "-" if value_e7 < 0 else ""
    whole, frac = divmod(abs(value_e7), E7_PER_DEG)
    return f"{sign}{whole}.{frac:07d}"


def xy_param(command: int, value: int) -> float:
    """MISSION_ITEM_INT x or y as the float param5/param6 the file formats carry."""
    return value / E7_PER_DEG if xy_is_position(command) else float(value)


def parse_xy(command: int, value: Decimal, *, is_lat: bool) -> int:
    """A param5/param6 decimal back to MISSION_ITEM_INT x or y, range-checked.

    Decimal keeps the text exact, so rounding to 1e-7 degrees happens once (half-even, like
    ``round``) and never on a float64 approximation.
    """
    try:
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        if xy_is_position(command):
            scaled = int((value * E7_PER_DEG).to_integral_value(rounding=ROUND_HALF_EVEN))
            limit = LAT_E7_LIMIT if is_lat else LON_E7_LIMIT
            if abs(scaled) > limit:
                axis = "latitude" if is_lat else "longitude"
                raise ValueError(f"{axis} {value} is outside ±{limit // E7_PER_DEG} degrees")
            return scaled
        if value != value.to_integral_value():
            raise ValueError(f"command {command} carries an integer in x/y, not {value}")
        raw = int(value)
    except InvalidOperation as exc:
        raise ValueError(f"{value} is not a number") from exc
    if not INT32_MIN <= raw <= INT32_MAX:
        raise ValueError(f"{raw} does not fit MISSION_ITEM_INT's int32 x/y")
    return raw


def parse_decimal(text: str) -> Decimal:
    """A decimal field of a text format, with ValueError (not InvalidOperation) on junk."""
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc


@dataclass(frozen=True, slots=True)
class FencePolygon:
    """One fence polygon: its FENCE items in upload order and whether it is an inclusion zone."""

    inclusion: bool
    vertices: tuple[MissionItem, ...]


@dataclass(frozen=True, slots=True)
class FenceCircle:
    inclusion: bool
    item: MissionItem

    @property
    def radius_m(self) -> float:
        return self.item.param1


@dataclass(frozen=True, slots=True)
class FenceShapes:
    """FENCE items grouped the way ArduPilot reads them (AC_PolyFence_loader).

    ``order`` lists the shapes in item order as "polygon", "circle" or "return", so a format that
    stores polygons and circles apart can still say how they were interleaved.
    """

    polygons: tuple[FencePolygon, ...]
    circles: tuple[FenceCircle, ...]
    return_point: MissionItem | None
    order: tuple[str, ...]


_POLYGON_COMMANDS = {
    int(MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION): True,
    int(MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION): False,
}
_CIRCLE_COMMANDS = {
    int(MavCmd.NAV_FENCE_CIRCLE_INCLUSION): True,
    int(MavCmd.NAV_FENCE_CIRCLE_EXCLUSION): False,
}


def group_fence(fence_items: tuple[MissionItem, ...]) -> FenceShapes:
    """Split FENCE items into polygons (runs of ``param1`` vertices), circles and the return point.

    Raises ValueError on what ArduPilot would reject: a vertex count that does not match the run,
    fewer than 3 vertices, a zero radius, a second return point, or a command that is not a fence
    command.
    """
    polygons: list[FencePolygon] = []
    circles: list[FenceCircle] = []
    return_point: MissionItem | None = None
    order: list[str] = []
    index = 0
    while index < len(fence_items):
        item = fence_items[index]
        if item.command in _POLYGON_COMMANDS:
            count = int(item.param1)
            if count != item.param1 or count < 3:
                raise ValueError(
                    f"fence item {index}: polygon vertex count {item.param1} must be an integer >= 3"
                )
            run = fence_items[index : index + count]
            if len(run) != count or any(v.command != item.command or v.param1 != item.param1 for v in run):
                raise ValueError(
                    f"fence item {index}: polygon declares {count} vertices but the next {count} items "
                    "are not all its vertices"
                )
            polygons.append(FencePolygon(inclusion=_POLYGON_COMMANDS[item.command], vertices=tuple(run)))
            order.append("polygon")
            index += count
            continue
        if item.command in _CIRCLE_COMMANDS:
            if not item.param1 > 0:
                raise ValueError(f"fence item {index}: circle radius {item.param1} m must be > 0")
            circles.append(FenceCircle(inclusion=_CIRCLE_COMMANDS[item.command], item=item))
            order.append("circle")
        elif item.command == MavCmd.NAV_FENCE_RETURN_POINT:
            if return_point is not None:
                raise ValueError(f"fence item {index}: a fence has at most one return point")
            return_point = item
            order.append("return")
        else:
            raise ValueError(f"fence item {index}: command {item.command} is not a fence command")
        index += 1
    return FenceShapes(
        polygons=tuple(polygons), circles=tuple(circles), return_point=return_point, order=tuple(order)
    )
