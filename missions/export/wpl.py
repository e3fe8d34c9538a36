"""The "QGC WPL 110" plain-text mission format, as Mission Planner and MAVProxy read and write it.

One header line ``QGC WPL 110``, then one tab-separated line per item:
``seq current frame command param1 param2 param3 param4 x/lat y/lon z/alt autocontinue``.
Seq 0 is home and carries ``current`` 1, as both tools write it.

The format holds MISSION items only (no fence, no rally): ``to_wpl`` refuses other mission types
rather than silently mixing them into a mission. Numbers are written so that ``from_wpl``
restores every field exactly: latitude/longitude as exact decimals of the 1e-7 degree integers,
params and altitude as the shortest decimal of their float32 value. Commands whose x/y are not a
position (DO_DIGICAM_CONTROL and the other exceptions ArduPilot makes) carry the raw integer.
Frames are written as Mission Planner writes them (3, 0, 10 for the wire's 6, 5, 11) and read back
to the wire's _INT frames (``common.file_frame`` / ``wire_frame``).
"""

from __future__ import annotations

from collections.abc import Sequence

from missions.export.common import (
    e7_text,
    file_frame,
    float32_text,
    parse_decimal,
    parse_xy,
    to_float32,
    wire_frame,
    xy_is_position,
)
from missions.items import MissionItem, MissionType

WPL_HEADER = "QGC WPL 110"
_FIELD_COUNT = 12


def to_wpl(items: Sequence[MissionItem]) -> str:
    """The WPL text for a mission (``items[0]`` is home)."""
    lines = [WPL_HEADER]
    for seq, item in enumerate(items):
        if item.mission_type != MissionType.MISSION:
            raise ValueError(
                f"item {seq} has mission_type {item.mission_type}: a WPL file holds MISSION items only "
                "(export fence and rally points as .plan)"
            )
        if item.autocontinue not in (0, 1):
            raise ValueError(f"item {seq}: autocontinue {item.autocontinue} must be 0 or 1")
        fields = [
            str(seq),
            "1" if seq == 0 else "0",
            str(file_frame(int(item.frame))),
            str(int(item.command)),
            float32_text(item.param1),
            float32_text(item.param2),
            float32_text(item.param3),
            float32_text(item.param4),
            _xy_text(item.command, item.x),
            _xy_text(item.command, item.y),
            float32_text(item.z),
            str(item.autocontinue),
        ]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def from_wpl(text: str) -> tuple[MissionItem, ...]:
    """Parse WPL text; ValueError names the line on anything malformed.

    Blank lines and lines starting with ``#`` are skipped (MAVProxy does the same). Fields may be
    separated by tabs or spaces. Seq numbers must run 0, 1, 2, ... without gaps.
    """
    lines = text.lstrip("\ufeff").splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise ValueError(f"line 1: empty file, expected the header {WPL_HEADER!r}")
    header = lines[header_index].split()
    if header[:2] != ["QGC", "WPL"] or header[2:] != ["110"]:
        raise ValueError(
            f"line {header_index + 1}: expected the header {WPL_HEADER!r}, got {lines[header_index].strip()!r}"
        )
    items: list[MissionItem] = []
    for line_number, line in enumerate(lines[header_index + 1 :], start=header_index + 2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            items.append(_parse_line(stripped.split(), expected_seq=len(items)))
        except ValueError as exc:
            raise ValueError(f"line {line_number}: {exc}") from exc
    return tuple(items)


def _xy_text(command: int, value: int) -> str:
    return e7_text(value) if xy_is_position(command) else str(value)


def _int(text: str, name: str, limit: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(f"{name} {text!r} is not an integer") from exc
    if not 0 <= value <= limit:
        raise ValueError(f"{name} {value} is outside 0..{limit}")
    return value


def _float32(text: str, name: str) -> float:
    try:
        return to_float32(float(text))
    except ValueError as exc:
        raise ValueError(f"{name} {text!r}: {exc}") from exc


def _parse_line(fields: list[str], expected_seq: int) -> MissionItem:
    if len(fields) != _FIELD_COUNT:
        raise ValueError(f"expected {_FIELD_COUNT} fields, got {len(fields)}")
    seq = _int(fields[0], "seq", 65535)
    if seq != expected_seq:
        raise ValueError(f"seq {seq} is out of order, expected {expected_seq}")
    _int(fields[1], "current", 1)
    frame = _int(fields[2], "frame", 255)
    if seq > 0:  # seq 0 is home, which ArduCopter reports in frame GLOBAL (0) itself
        frame = wire_frame(frame)
    command = _int(fields[3], "command", 65535)
    try:
        x = parse_xy(command, parse_decimal(fields[8]), is_lat=True)
        y = parse_xy(command, parse_decimal(fields[9]), is_lat=False)
    except ValueError as exc:
        raise ValueError(f"x/y: {exc}") from exc
    return MissionItem(
        command=command,
        frame=frame,
        param1=_float32(fields[4], "param1"),
        param2=_float32(fields[5], "param2"),
        param3=_float32(fields[6], "param3"),
        param4=_float32(fields[7], "param4"),
        x=x,
        y=y,
        z=_float32(fields[10], "z"),
        autocontinue=_int(fields[11], "autocontinue", 1),
        mission_type=MissionType.MISSION,
    )
