"""QGroundControl ``.plan`` files (JSON), written the way QGroundControl itself writes them.

Layout follows QGroundControl's PlanMasterController / MissionController / GeoFenceController /
RallyPointController: ``fileType`` "Plan", ``version`` 1, a ``mission`` object (version 2) whose
``items`` are ``SimpleItem`` objects with ``params`` [param1..4, lat, lon, alt], a ``geoFence``
(version 2: ``polygons``, ``circles``, optional ``breachReturn``) and ``rallyPoints`` (version 2).

Round trip: ``from_qgc_plan(dumps(plan, s)).items == plan.sorties[s].items`` holds exactly for
every mission item after home (in the wire's _INT or MISSION frames), and for home, fence and rally items in the form AeroGrid compiles
them (``missions.compile``, ``geofences.compile``). The format cannot hold every MAVLink field of
those, so on import they are rebuilt in that form, which for home and fence is also what
ArduCopter reports when they are downloaded from the vehicle:

* seq 0 (home) <-> ``plannedHomePosition`` [lat, lon, alt]: only x, y and z travel. On import home
  is ``NAV_WAYPOINT``, frame ``GLOBAL``, params 0, autocontinue 1, the way ArduCopter reports
  seq 0 (and ArduCopter ignores whatever is uploaded at seq 0 anyway).
* fence polygons/circles/return point: frame ``GLOBAL``, autocontinue 0, params other than the
  vertex count / radius 0 (what ArduPilot reports and ``geofences.compile`` emits); the return
  point keeps ``breachReturn``'s altitude in z. The file keeps polygons and circles in separate
  lists, so the item order is rebuilt as: return point, inclusion polygons, inclusion circles,
  exclusion polygons, exclusion circles (each list in file order). When the plan's fence items
  are in another order (``geofences.compile`` keeps exclusion zones in set order, circles and
  polygons mixed), ``geoFence`` gets one extra key, ``aeroGridShapeOrder`` (e.g. ["return",
  "polygon", "circle", "polygon"]), that restores it. QGroundControl ignores unknown keys (and
  drops it when it saves the file again, which only reorders the shapes, never changes them).
* rally points: frame ``GLOBAL_RELATIVE_ALT_INT`` (as ``geofences.compile_rally`` emits them),
  params 0, autocontinue 0. .plan rally altitudes are above home, so a rally item in an absolute
  or terrain frame is refused on export.

Mission item frames are written as QGroundControl writes them (GLOBAL_RELATIVE_ALT 3, GLOBAL 0,
GLOBAL_TERRAIN_ALT 10 for the wire's 6, 5, 11) and read back to the wire's _INT frames, from either
form (``common.file_frame`` / ``wire_frame``).

Params are written as the shortest decimal that reads back as the same float32; NaN is written
as ``null`` (QGroundControl does the same) and read back as NaN.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

from missions.export.common import (
    ImportedMission,
    file_frame,
    float32_text,
    group_fence,
    json_number,
    parse_xy,
    select_sortie,
    to_float32,
    wire_frame,
    xy_is_position,
)
from missions.items import MavCmd, MavFrame, MissionItem, MissionType
from missions.plan import MissionPlan

GROUND_STATION = "QGroundControl"
PLAN_FILE_VERSION = 1
MISSION_VERSION = 2
GEOFENCE_VERSION = 2
RALLY_VERSION = 2
SHAPE_ORDER_KEY = "aeroGridShapeOrder"
_SHAPE_KINDS = ("polygon", "circle", "return")
FENCE_SHAPE_VERSION = 1
FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR
DEFAULT_CRUISE_SPEED_MPS = 15.0  # QGroundControl's own defaults
DEFAULT_HOVER_SPEED_MPS = 5.0

_T = TypeVar("_T")


class AltitudeMode(IntEnum):
    """QGroundControl's QGroundControlQmlGlobal::AltMode, stored in ``AltitudeMode``."""

    MIXED = 0
    RELATIVE = 1
    ABSOLUTE = 2
    CALC_ABOVE_TERRAIN = 3
    TERRAIN_FRAME = 4
    NONE = 5


_ALTITUDE_MODE_BY_FRAME = {
    int(MavFrame.GLOBAL): AltitudeMode.ABSOLUTE,
    int(MavFrame.GLOBAL_INT): AltitudeMode.ABSOLUTE,
    int(MavFrame.GLOBAL_RELATIVE_ALT): AltitudeMode.RELATIVE,
    int(MavFrame.GLOBAL_RELATIVE_ALT_INT): AltitudeMode.RELATIVE,
    10: AltitudeMode.TERRAIN_FRAME,  # MAV_FRAME_GLOBAL_TERRAIN_ALT
    int(MavFrame.GLOBAL_TERRAIN_ALT_INT): AltitudeMode.TERRAIN_FRAME,
}

# Commands whose altitude QGroundControl shows and saves as Altitude/AltitudeMode.
_ALTITUDE_COMMANDS = frozenset(
    {
        int(MavCmd.NAV_WAYPOINT),
        int(MavCmd.NAV_LOITER_UNLIM),
        int(MavCmd.NAV_LOITER_TURNS),
        int(MavCmd.NAV_LOITER_TIME),
        int(MavCmd.NAV_LAND),
        int(MavCmd.NAV_TAKEOFF),
        31,  # MAV_CMD_NAV_LOITER_TO_ALT
        82,  # MAV_CMD_NAV_SPLINE_WAYPOINT
        int(MavCmd.DO_SET_HOME),
        int(MavCmd.DO_SET_ROI_LOCATION),
    }
)
_RELATIVE_FRAMES = frozenset({int(MavFrame.GLOBAL_RELATIVE_ALT), int(MavFrame.GLOBAL_RELATIVE_ALT_INT)})


def to_qgc_plan(
    plan: MissionPlan,
    sortie: int = 0,
    *,
    cruise_speed_mps: float = DEFAULT_CRUISE_SPEED_MPS,
    hover_speed_mps: float = DEFAULT_HOVER_SPEED_MPS,
) -> dict[str, Any]:
    """The .plan document (as JSON-ready dict) for one sortie plus the plan's fence and rally points."""
    items = select_sortie(plan, sortie).items
    if not items:
        raise ValueError(f"sortie {sortie} has no items: seq 0 (home) is required")
    home = items[0]
    mission_items = [_simple_item(item, seq) for seq, item in enumerate(items[1:], start=1)]
    modes = {
        _ALTITUDE_MODE_BY_FRAME[item.frame]
        for item in items[1:]
        if item.command in _ALTITUDE_COMMANDS and item.frame in _ALTITUDE_MODE_BY_FRAME
    }
    global_mode = modes.pop() if len(modes) == 1 else AltitudeMode.MIXED if modes else AltitudeMode.RELATIVE
    return {
        "fileType": "Plan",
        "geoFence": _geofence(plan.fence_items),
        "groundStation": GROUND_STATION,
        "mission": {
            "cruiseSpeed": json_number(cruise_speed_mps),
            "firmwareType": FIRMWARE_ARDUPILOT,
            "globalPlanAltitudeMode": int(global_mode),
            "hoverSpeed": json_number(hover_speed_mps),
            "items": mission_items,
            "plannedHomePosition": [_lat_lon(home.x), _lat_lon(home.y), _param(home.z, "home altitude")],
            "vehicleType": VEHICLE_QUADROTOR,
            "version": MISSION_VERSION,
        },
        "rallyPoints": {
            "points": [_rally_point(item, i) for i, item in enumerate(plan.rally_items)],
            "version": RALLY_VERSION,
        },
        "version": PLAN_FILE_VERSION,
    }


def dumps(
    plan: MissionPlan,
    sortie: int = 0,
    *,
    cruise_speed_mps: float = DEFAULT_CRUISE_SPEED_MPS,
    hover_speed_mps: float = DEFAULT_HOVER_SPEED_MPS,
) -> str:
    """The .plan text: sorted keys and 4-space indent, as QGroundControl's QJsonDocument writes it."""
    document = to_qgc_plan(plan, sortie, cruise_speed_mps=cruise_speed_mps, hover_speed_mps=hover_speed_mps)
    return json.dumps(document, indent=4, sort_keys=True, allow_nan=False) + "\n"


def from_qgc_plan(text: str) -> ImportedMission:
    """Read a .plan: mission items (seq 0 rebuilt from plannedHomePosition), fence and rally items.

    Raises ValueError naming the offending key or item on anything that is not a valid .plan with
    SimpleItems only (QGroundControl's survey/corridor ComplexItems are refused: their waypoints
    exist only inside QGroundControl).
    """
    try:
        document = json.loads(text.lstrip("\ufeff"), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not a .plan file: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(document, dict) or document.get("fileType") != "Plan":
        raise ValueError('not a .plan file: "fileType" must be "Plan"')
    if document.get("version") != PLAN_FILE_VERSION:
        raise ValueError(
            f".plan version {document.get('version')!r} is not supported (expected {PLAN_FILE_VERSION})"
        )
    mission = _field(document, "mission", dict, "plan")
    if mission.get("version") != MISSION_VERSION:
        raise ValueError(
            f"mission version {mission.get('version')!r} is not supported (expected {MISSION_VERSION})"
        )
    home_lat, home_lon, home_alt = _coordinate(
        mission.get("plannedHomePosition"), 3, "mission.plannedHomePosition"
    )
    home = MissionItem(
        command=MavCmd.NAV_WAYPOINT,
        frame=MavFrame.GLOBAL,
        x=_xy_value(MavCmd.NAV_WAYPOINT, home_lat, "mission.plannedHomePosition[0]", is_lat=True),
        y=_xy_value(MavCmd.NAV_WAYPOINT, home_lon, "mission.plannedHomePosition[1]", is_lat=False),
        z=_float32(home_alt, "mission.plannedHomePosition altitude"),
        autocontinue=1,
    )
    raw_items = _field(mission, "items", list, "mission")
    items = [home] + [_parse_simple_item(raw, seq) for seq, raw in enumerate(raw_items, start=1)]
    fence: tuple[MissionItem, ...] = ()
    if document.get("geoFence") is not None:
        fence = _parse_geofence(_field(document, "geoFence", dict, "plan"))
    rally: tuple[MissionItem, ...] = ()
    if document.get("rallyPoints") is not None:
        rally = _parse_rally(_field(document, "rallyPoints", dict, "plan"))
    return ImportedMission(items=tuple(items), fence_items=fence, rally_items=rally)


# --- writing -------------------------------------------------------------------------------


def _param(value: float, what: str) -> int | float | None:
    """A float32 field as JSON: shortest text, NaN as null; infinities have no JSON form."""
    if value != value:
        return None
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} is {value}: a .plan cannot hold an infinite value")
    return json_number(float(float32_text(value)))


def _lat_lon(value_e7: int) -> int | float:
    return json_number(value_e7 / 1e7)


def _xy(command: int, value: int) -> int | float:
    return _lat_lon(value) if xy_is_position(command) else value


def _simple_item(item: MissionItem, seq: int) -> dict[str, Any]:
    """One mission item as QGroundControl's MissionItem::save plus SimpleMissionItem's altitude keys."""
    if item.mission_type != MissionType.MISSION:
        raise ValueError(
            f"mission item {seq} has mission_type {item.mission_type}; sortie items must be MISSION"
        )
    if item.autocontinue not in (0, 1):
        raise ValueError(f"mission item {seq}: autocontinue {item.autocontinue} must be 0 or 1")
    where = f"mission item {seq}"
    saved: dict[str, Any] = {
        "autoContinue": bool(item.autocontinue),
        "command": int(item.command),
        "doJumpId": seq,
        "frame": file_frame(int(item.frame)),
        "params": [
            _param(item.param1, f"{where} param1"),
            _param(item.param2, f"{where} param2"),
            _param(item.param3, f"{where} param3"),
            _param(item.param4, f"{where} param4"),
            _xy(item.command, item.x),
            _xy(item.command, item.y),
            _param(item.z, f"{where} z"),
        ],
        "type": "SimpleItem",
    }
    if item.command in _ALTITUDE_COMMANDS and item.frame in _ALTITUDE_MODE_BY_FRAME:
        saved["AMSLAltAboveTerrain"] = None
        saved["Altitude"] = _param(item.z, f"{where} z")
        saved["AltitudeMode"] = int(_ALTITUDE_MODE_BY_FRAME[item.frame])
    return saved


def _geofence(fence_items: tuple[MissionItem, ...]) -> dict[str, Any]:
    for index, item in enumerate(fence_items):
        if item.mission_type != MissionType.FENCE:
            raise ValueError(f"fence item {index} has mission_type {item.mission_type}, expected FENCE")
    shapes = group_fence(fence_items)
    geofence: dict[str, Any] = {
        "circles": [
            {
                "circle": {
                    "center": [_lat_lon(circle.item.x), _lat_lon(circle.item.y)],
                    "radius": _param(circle.radius_m, "fence circle radius"),
                },
                "inclusion": circle.inclusion,
                "version": FENCE_SHAPE_VERSION,
            }
            for circle in shapes.circles
        ],
        "polygons": [
            {
                "inclusion": polygon.inclusion,
                "polygon": [[_lat_lon(v.x), _lat_lon(v.y)] for v in polygon.vertices],
                "version": FENCE_SHAPE_VERSION,
            }
            for polygon in shapes.polygons
        ],
        "version": GEOFENCE_VERSION,
    }
    if shapes.return_point is not None:
        point = shapes.return_point
        geofence["breachReturn"] = [
            _lat_lon(point.x),
            _lat_lon(point.y),
            _param(point.z, "fence return altitude"),
        ]
    if list(shapes.order) != _canonical_order(
        [p.inclusion for p in shapes.polygons],
        [c.inclusion for c in shapes.circles],
        shapes.return_point is not None,
    ):
        geofence[SHAPE_ORDER_KEY] = list(shapes.order)
    return geofence


def _canonical_order(
    polygon_inclusion: list[bool], circle_inclusion: list[bool], has_return: bool
) -> list[str]:
    """The shape order an import rebuilds without ``aeroGridShapeOrder`` (see the module docstring)."""
    return (
        ["return"] * has_return
        + ["polygon"] * polygon_inclusion.count(True)
        + ["circle"] * circle_inclusion.count(True)
        + ["polygon"] * polygon_inclusion.count(False)
        + ["circle"] * circle_inclusion.count(False)
    )


def _rally_point(item: MissionItem, index: int) -> list[int | float | None]:
    if item.mission_type != MissionType.RALLY or item.command != MavCmd.NAV_RALLY_POINT:
        raise ValueError(
            f"rally item {index} must be a RALLY-type NAV_RALLY_POINT, got command {item.command}"
        )
    if item.frame not in _RELATIVE_FRAMES:
        raise ValueError(
            f"rally item {index}: frame {item.frame} is not relative to home; .plan rally altitudes are above home"
        )
    return [_lat_lon(item.x), _lat_lon(item.y), _param(item.z, f"rally item {index} altitude")]


# --- reading -------------------------------------------------------------------------------


def _field(container: dict[str, Any], key: str, kind: type[_T], where: str) -> _T:
    value = container.get(key)
    if not isinstance(value, kind):
        raise ValueError(f'{where}: "{key}" must be a JSON {kind.__name__}, got {type(value).__name__}')
    return value


def _number(value: object, where: str) -> Decimal:
    # bool is an int subclass in Python but true/false is not a number in a .plan
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return Decimal(value)


def _float32(value: object, where: str) -> float:
    """A params entry: a number, or null meaning NaN (QGroundControl's "not set")."""
    if value is None:
        return float("nan")
    try:
        return to_float32(float(_number(value, where)))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _coordinate(value: object, length: int, where: str) -> list[Decimal]:
    if not isinstance(value, list) or len(value) != length:
        raise ValueError(f"{where} must be a list of {length} numbers")
    if length == 3:
        # altitude may be null (NaN) like any params entry; lat/lon may not
        return [
            _number(value[0], f"{where}[0]"),
            _number(value[1], f"{where}[1]"),
            _optional(value[2], where),
        ]
    return [_number(entry, f"{where}[{i}]") for i, entry in enumerate(value)]


def _optional(value: object, where: str) -> Decimal:
    return Decimal("NaN") if value is None else _number(value, f"{where}[2]")


def _xy_value(command: int, value: object, where: str, *, is_lat: bool) -> int:
    if value is None:
        return 0  # QGroundControl writes an unset coordinate as null; MISSION_ITEM_INT has no NaN
    try:
        return parse_xy(command, _number(value, where), is_lat=is_lat)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _int_field(container: dict[str, Any], key: str, where: str, limit: int) -> int:
    value = container.get(key)
    number = _number(value, f'{where} "{key}"')
    if number != number.to_integral_value() or not 0 <= number <= limit:
        raise ValueError(f'{where} "{key}" must be an integer in 0..{limit}, got {value!r}')
    return int(number)


def _parse_simple_item(raw: object, seq: int) -> MissionItem:
    where = f"mission item {seq}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a JSON object")
    kind = raw.get("type")
    if kind != "SimpleItem":
        detail = f" ({raw.get('complexItemType')})" if kind == "ComplexItem" else ""
        raise ValueError(
            f"{where} is a {kind!r}{detail}; only SimpleItem is supported (QGroundControl "
            "generates the waypoints of survey, corridor and structure scans itself)"
        )
    command = _int_field(raw, "command", where, 65535)
    frame = wire_frame(_int_field(raw, "frame", where, 255))
    auto_continue = raw.get("autoContinue")
    if not isinstance(auto_continue, bool):
        raise ValueError(f'{where} "autoContinue" must be true or false')
    params = raw.get("params")
    if not isinstance(params, list) or len(params) != 7:
        raise ValueError(f'{where} "params" must be a list of 7 values')
    return MissionItem(
        command=command,
        frame=frame,
        param1=_float32(params[0], f"{where} param1"),
        param2=_float32(params[1], f"{where} param2"),
        param3=_float32(params[2], f"{where} param3"),
        param4=_float32(params[3], f"{where} param4"),
        x=_xy_value(command, params[4], f"{where} param5", is_lat=True),
        y=_xy_value(command, params[5], f"{where} param6", is_lat=False),
        z=_float32(params[6], f"{where} param7"),
        autocontinue=int(auto_continue),
        mission_type=MissionType.MISSION,
    )


def _fence_item(
    command: int, lat: Decimal, lon: Decimal, where: str, *, param1: float = 0.0, z: float = 0.0
) -> MissionItem:
    try:
        x = parse_xy(command, lat, is_lat=True)
        y = parse_xy(command, lon, is_lat=False)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return MissionItem(
        command=command,
        frame=MavFrame.GLOBAL,
        param1=param1,
        x=x,
        y=y,
        z=z,
        autocontinue=0,
        mission_type=MissionType.FENCE,
    )


def _inclusion(shape: dict[str, Any], where: str) -> bool:
    inclusion = shape.get("inclusion")
    if not isinstance(inclusion, bool):
        raise ValueError(f'{where} "inclusion" must be true or false')
    return inclusion


def _parse_geofence(geofence: dict[str, Any]) -> tuple[MissionItem, ...]:
    if geofence.get("version") != GEOFENCE_VERSION:
        # QGroundControl silently drops other versions; losing a fence unnoticed is worse than an error
        raise ValueError(
            f"geoFence version {geofence.get('version')!r} is not supported (expected {GEOFENCE_VERSION})"
        )
    polygons: list[tuple[bool, list[MissionItem]]] = []
    circles: list[tuple[bool, list[MissionItem]]] = []
    for index, shape in enumerate(_field(geofence, "polygons", list, "geoFence")):
        where = f"geoFence.polygons[{index}]"
        if not isinstance(shape, dict):
            raise ValueError(f"{where} must be a JSON object")
        inclusion = _inclusion(shape, where)
        vertices = _field(shape, "polygon", list, where)
        if len(vertices) < 3:
            raise ValueError(f"{where} has {len(vertices)} vertices; a fence polygon needs at least 3")
        command = (
            MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if inclusion
            else MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        polygon: list[MissionItem] = []
        for vertex_index, vertex in enumerate(vertices):
            vertex_where = f"{where}.polygon[{vertex_index}]"
            lat, lon = _coordinate(vertex, 2, vertex_where)
            polygon.append(_fence_item(command, lat, lon, vertex_where, param1=len(vertices)))
        polygons.append((inclusion, polygon))
    for index, shape in enumerate(_field(geofence, "circles", list, "geoFence")):
        where = f"geoFence.circles[{index}]"
        if not isinstance(shape, dict):
            raise ValueError(f"{where} must be a JSON object")
        inclusion = _inclusion(shape, where)
        circle = _field(shape, "circle", dict, where)
        lat, lon = _coordinate(circle.get("center"), 2, f"{where}.circle.center")
        radius_m = _float32(circle.get("radius"), f"{where}.circle.radius")
        if not radius_m > 0:
            raise ValueError(f"{where}.circle.radius must be > 0 m, got {radius_m}")
        command = MavCmd.NAV_FENCE_CIRCLE_INCLUSION if inclusion else MavCmd.NAV_FENCE_CIRCLE_EXCLUSION
        circles.append((inclusion, [_fence_item(command, lat, lon, where, param1=radius_m)]))
    returns: list[tuple[bool, list[MissionItem]]] = []
    if geofence.get("breachReturn") is not None:
        lat, lon, alt = _coordinate(geofence["breachReturn"], 3, "geoFence.breachReturn")
        z = _float32(alt, "geoFence.breachReturn altitude")
        point = _fence_item(MavCmd.NAV_FENCE_RETURN_POINT, lat, lon, "geoFence.breachReturn", z=z)
        returns.append((True, [point]))
    if SHAPE_ORDER_KEY in geofence:
        counts = {"polygon": len(polygons), "circle": len(circles), "return": len(returns)}
        order = _checked_shape_order(geofence[SHAPE_ORDER_KEY], counts)
    else:
        # inclusion shapes first, each group in file order (sort is stable)
        polygons.sort(key=lambda shape: not shape[0])
        circles.sort(key=lambda shape: not shape[0])
        order = _canonical_order([i for i, _ in polygons], [i for i, _ in circles], bool(returns))
    queues = {"polygon": iter(polygons), "circle": iter(circles), "return": iter(returns)}
    return tuple(item for kind in order for item in next(queues[kind])[1])


def _checked_shape_order(order: object, counts: dict[str, int]) -> list[str]:
    """``aeroGridShapeOrder``, which must name every shape of the file exactly once."""
    if (
        not isinstance(order, list)
        or any(kind not in _SHAPE_KINDS for kind in order)
        or any(order.count(kind) != count for kind, count in counts.items())
    ):
        raise ValueError(
            f"geoFence.{SHAPE_ORDER_KEY} must list every shape once as "
            f"{'/'.join(_SHAPE_KINDS)} ({counts}), got {order!r}"
        )
    return order


def _parse_rally(rally: dict[str, Any]) -> tuple[MissionItem, ...]:
    if rally.get("version") != RALLY_VERSION:
        raise ValueError(
            f"rallyPoints version {rally.get('version')!r} is not supported (expected {RALLY_VERSION})"
        )
    items: list[MissionItem] = []
    for index, point in enumerate(_field(rally, "points", list, "rallyPoints")):
        where = f"rallyPoints.points[{index}]"
        lat, lon, alt = _coordinate(point, 3, where)
        try:
            x = parse_xy(MavCmd.NAV_RALLY_POINT, lat, is_lat=True)
            y = parse_xy(MavCmd.NAV_RALLY_POINT, lon, is_lat=False)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        items.append(
            MissionItem(
                command=MavCmd.NAV_RALLY_POINT,
                frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
                x=x,
                y=y,
                z=_float32(alt, f"{where} altitude"),
                autocontinue=0,
                mission_type=MissionType.RALLY,
            )
        )
    return tuple(items)
