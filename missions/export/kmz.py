"""DJI WPML wayline files (.kmz) for DJI Pilot 2 / FlightHub 2, from one sortie's MAVLink items.

The KMZ is a zip holding ``wpmz/template.kml`` (the editable waypoint template) and
``wpmz/waylines.wpml`` (what the aircraft executes), both KML 2.2 documents with DJI's ``wpml``
namespace. Heights are relative to the take-off point (``relativeToStartPoint``), which is
ArduPilot's relative altitude; absolute-frame items are converted with home's altitude, terrain
frames are refused (WPML's relative mode cannot follow terrain).

How the ArduCopter mission maps to WPML:

* NAV_TAKEOFF sets ``takeOffSecurityHeight`` (DJI climbs there before the first waypoint).
* NAV_WAYPOINT and NAV_LOITER_TIME become waypoints; their hold time (param1) becomes a ``hover``
  action. Consecutive ones at the same spot and height (AeroGrid's speaker hover: NAV_WAYPOINT,
  DO_SET_RELAY, NAV_LOITER_TIME) become one waypoint with their actions in order.
  NAV_LOITER_UNLIM, NAV_LOITER_TURNS and other navigation commands have no WPML equivalent and
  are refused.
* The last NAV_RETURN_TO_LAUNCH / NAV_LAND sets ``finishAction`` ``goHome`` / ``autoLand``
  (a LAND away from the last waypoint first adds a waypoint above the landing spot); a mission
  that ends elsewhere gets ``noAction`` (DJI then hovers, as ArduCopter does in AUTO).
* DO commands act where ArduCopter runs them, on reaching the preceding waypoint (those before the
  first waypoint act on reaching it): DO_CHANGE_SPEED sets ``waypointSpeed`` from there on;
  DO_DIGICAM_CONTROL (shutter) and IMAGE_START_CAPTURE of one image become ``takePhoto``;
  DO_SET_CAM_TRIGG_DIST and interval IMAGE_START_CAPTURE become a ``takePhoto`` action group
  triggered ``multipleDistance`` / ``multipleTiming`` until they are stopped or the route ends;
  VIDEO_START/STOP_CAPTURE become ``startRecord`` / ``stopRecord``; DO_MOUNT_CONTROL becomes
  ``gimbalRotate`` (pitch). Photos and videos are named with a ``fileSuffix`` of the waypoint
  (``wp<index>``) and stored from the lens(es) ``payload_lens_index`` names (default ``wide``).
* DO_SET_ROI_LOCATION points the copter at the ROI from the preceding waypoint on, until
  DO_SET_ROI_NONE (or an all-zero ROI): the waypoints whose leaving leg flies under an ROI get the
  heading mode ``towardPOI`` with the ROI as ``waypointPoiPoint`` (an inspection orbit faces its
  site), the others ``followWayline``.
* The loudspeaker: AeroGrid switches it with DO_SET_RELAY, and DJI WPML has no relay, servo or
  speaker action. Relay (and DO_SPRAYER) switches are therefore kept as annotations that DJI
  Pilot 2 ignores, so the flight never depends on them: an XML comment in the waypoint's
  Placemark for the operator, and an entry in ``wpmz/res/aerogrid_actions.json`` (waypoint index,
  MAVLink seq, what to switch) for a PSDK/MSDK payload app that drives a DJI speaker. Other
  commands with no WPML equivalent are listed there too, as ``unmapped``.

Heights: ``height`` / ``executeHeight`` are relative to take-off. ``ellipsoidHeight`` is what the
spec defines, the WGS-84 ellipsoid height: take-off altitude above mean sea level (``home_alt_amsl_m``,
default the plan's home item) + height + the EGM96 geoid undulation at take-off
(``geoid_undulation_m``, default PROJ's EGM96 grid when it is installed, else 0 m, which is then
stated in a comment of ``template.kml``). DJI flies ``relativeToStartPoint`` routes by ``height``;
``ellipsoidHeight`` is what DJI Pilot 2 / FlightHub 2 show and convert with.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import Any

from missions.export.common import e7_text, select_sortie
from missions.export.geoid import egm96_undulation_m
from missions.items import NAV_COMMANDS, MavCmd, MavFrame, MissionItem
from missions.plan import MissionPlan

KML_NS = "http://www.opengis.net/kml/2.2"
WPML_NS = "http://www.dji.com/wpmz/1.0.6"
TEMPLATE_PATH = "wpmz/template.kml"
WAYLINES_PATH = "wpmz/waylines.wpml"
ANNOTATIONS_PATH = "wpmz/res/aerogrid_actions.json"

DEFAULT_DRONE_ENUM = 67  # M30/M30T series, as in DJI's own WPML examples
DEFAULT_DRONE_SUB_ENUM = 0
DEFAULT_PAYLOAD_ENUM = 52  # M30 camera
DEFAULT_PAYLOAD_SUB_ENUM = 0
DEFAULT_SPEED_MPS = 5.0
PAYLOAD_LENSES = ("wide", "zoom", "ir", "narrow_band")  # WPML payloadLensIndex values
DEFAULT_PAYLOAD_LENS_INDEX = "wide"
MIN_SPEED_MPS = 1.0  # WPML autoFlightSpeed / globalTransitionalSpeed range
MAX_SPEED_MPS = 15.0
MIN_TAKEOFF_SECURITY_HEIGHT_M = 2.0  # WPML takeOffSecurityHeight [2, 1500] m
DEFAULT_TAKEOFF_SECURITY_HEIGHT_M = 20.0
MIN_RTH_HEIGHT_M = 2.0
_TURN_MODE = "toPointAndStopWithDiscontinuityCurvature"  # straight legs, stop at each point
_HEADING_PATH_MODE = "followBadArc"  # yaw the shortest way round
_CAMERA_FUNCS = frozenset({"takePhoto", "startRecord", "stopRecord"})
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed so the same plan gives the same bytes

IMAGE_STOP_CAPTURE = 2001
VIDEO_START_CAPTURE = 2500
VIDEO_STOP_CAPTURE = 2501
_RELATIVE_FRAMES = frozenset({int(MavFrame.GLOBAL_RELATIVE_ALT), int(MavFrame.GLOBAL_RELATIVE_ALT_INT)})
_ABSOLUTE_FRAMES = frozenset({int(MavFrame.GLOBAL), int(MavFrame.GLOBAL_INT)})
_NAV_COMMAND_LIMIT = 95  # MAV_CMD_NAV_LAST: ids below it move the vehicle


@dataclass(slots=True)
class _Action:
    """A WPML action; camera actions get their lens and file-suffix params when written."""

    func: str
    params: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Waypoint:
    lon_text: str
    lat_text: str
    height_m: float
    speed_mps: float
    actions: list[_Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    poi: str | None = None  # waypointPoiPoint "lat,lon,height" the leaving leg faces


@dataclass(slots=True)
class _Span:
    """A takePhoto repeated by distance or time from one waypoint to another."""

    trigger: str  # "multipleDistance" or "multipleTiming"
    trigger_param: float  # metres or seconds
    start_index: int
    end_index: int = -1


@dataclass(slots=True)
class _Wayline:
    waypoints: list[_Waypoint] = field(default_factory=list)
    spans: list[_Span] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    payload_index: str = "0"
    lens_index: str = DEFAULT_PAYLOAD_LENS_INDEX
    first_leg_speed_mps: float = DEFAULT_SPEED_MPS  # take-off to the first waypoint
    takeoff_height_m: float = DEFAULT_TAKEOFF_SECURITY_HEIGHT_M
    finish_action: str = "noAction"


def to_kmz(
    plan: MissionPlan,
    sortie: int = 0,
    *,
    drone_enum: int = DEFAULT_DRONE_ENUM,
    drone_sub_enum: int = DEFAULT_DRONE_SUB_ENUM,
    payload_enum: int = DEFAULT_PAYLOAD_ENUM,
    payload_sub_enum: int = DEFAULT_PAYLOAD_SUB_ENUM,
    payload_position_index: int = 0,
    speed_mps: float = DEFAULT_SPEED_MPS,
    rth_height_m: float | None = None,
    created_ms: int = 0,
    payload_lens_index: str = DEFAULT_PAYLOAD_LENS_INDEX,
    home_alt_amsl_m: float | None = None,
    geoid_undulation_m: float | None = None,
) -> bytes:
    """The sortie as a DJI WPML KMZ (zip bytes).

    ``speed_mps`` is the speed until the first DO_CHANGE_SPEED; the speed in effect on the way to
    the first waypoint becomes ``globalTransitionalSpeed`` and ``autoFlightSpeed``.
    ``rth_height_m`` defaults to the highest waypoint; ``created_ms`` is written as create/update
    time (0 keeps the output a pure function of the plan). ``payload_lens_index`` is the lens list
    photos and videos are stored from ("wide", "wide,ir", ...). ``home_alt_amsl_m`` and
    ``geoid_undulation_m`` give ``ellipsoidHeight`` (see the module docstring).
    """
    _check_speed(speed_mps, "speed_mps")
    _check_lenses(payload_lens_index)
    items = select_sortie(plan, sortie).items
    if not items:
        raise ValueError(f"sortie {sortie} has no items: seq 0 (home) is required")
    heights = _ellipsoid_offset(items[0], home_alt_amsl_m, geoid_undulation_m)
    wayline = _build_wayline(items, speed_mps, payload_position_index)
    wayline.lens_index = payload_lens_index
    if len(wayline.waypoints) < 2:
        raise ValueError(
            f"sortie {sortie} has {len(wayline.waypoints)} waypoint(s); a DJI wayline needs at least 2"
        )
    rth_m = (
        max(MIN_RTH_HEIGHT_M, max(w.height_m for w in wayline.waypoints))
        if rth_height_m is None
        else rth_height_m
    )
    mission_config = _MissionConfig(
        finish_action=wayline.finish_action,
        takeoff_height_m=wayline.takeoff_height_m,
        transitional_speed_mps=wayline.first_leg_speed_mps,
        rth_height_m=rth_m,
        drone=(drone_enum, drone_sub_enum),
        payload=(payload_enum, payload_sub_enum, payload_position_index),
    )
    selected = plan.sorties[sortie]
    first_speed_mps = wayline.first_leg_speed_mps
    template = _template_kml(wayline, mission_config, first_speed_mps, created_ms, heights)
    waylines = _waylines_wpml(
        wayline, mission_config, first_speed_mps, selected.length_m, selected.flight_time_s
    )
    entries = [(TEMPLATE_PATH, template), (WAYLINES_PATH, waylines)]
    if wayline.annotations:
        document = {
            "format": "aerogrid-wpml-annotations",
            "version": 1,
            "sortie": sortie,
            "actions": wayline.annotations,
        }
        entries.append((ANNOTATIONS_PATH, (json.dumps(document, indent=2) + "\n").encode()))
    return _zip(entries)


# --- MAVLink items -> wayline -------------------------------------------------------------


def _check_speed(speed_mps: float, what: str) -> None:
    if not MIN_SPEED_MPS <= speed_mps <= MAX_SPEED_MPS:
        raise ValueError(f"{what} {speed_mps} m/s is outside DJI WPML's {MIN_SPEED_MPS}-{MAX_SPEED_MPS} m/s")


def _check_lenses(payload_lens_index: str) -> None:
    lenses = payload_lens_index.split(",")
    if not all(lens in PAYLOAD_LENSES for lens in lenses) or len(set(lenses)) != len(lenses):
        raise ValueError(
            f"payload_lens_index {payload_lens_index!r} must list distinct lenses of {', '.join(PAYLOAD_LENSES)}"
        )


@dataclass(frozen=True, slots=True)
class _EllipsoidOffset:
    """ellipsoidHeight - height: take-off AMSL altitude + geoid undulation, and where each came from."""

    home_alt_amsl_m: float
    undulation_m: float
    undulation_source: str

    @property
    def offset_m(self) -> float:
        return self.home_alt_amsl_m + self.undulation_m

    @property
    def note(self) -> str:
        return (
            f"aerogrid: ellipsoidHeight = height + take-off {_number(self.home_alt_amsl_m)} m AMSL + "
            f"EGM96 geoid undulation {_number(self.undulation_m)} m ({self.undulation_source})"
        )


def _ellipsoid_offset(
    home: MissionItem, home_alt_amsl_m: float | None, geoid_undulation_m: float | None
) -> _EllipsoidOffset:
    amsl_m = home.z if home_alt_amsl_m is None else home_alt_amsl_m
    if geoid_undulation_m is not None:
        undulation_m, source = geoid_undulation_m, "given"
    else:
        looked_up = egm96_undulation_m(home.lon_deg, home.lat_deg)
        if looked_up is None:
            undulation_m, source = 0.0, "unknown: PROJ has no EGM96 grid here, 0 m used"
        else:
            undulation_m, source = looked_up, "PROJ EGM96 grid"
    for name, value in (("home_alt_amsl_m", amsl_m), ("geoid_undulation_m", undulation_m)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    return _EllipsoidOffset(amsl_m, undulation_m, source)


def _height_m(item: MissionItem, home: MissionItem, seq: int) -> float:
    if item.frame in _RELATIVE_FRAMES:
        return item.z
    if item.frame in _ABSOLUTE_FRAMES:
        return item.z - home.z
    raise ValueError(
        f"item {seq}: frame {item.frame} cannot be expressed as a height relative to take-off in DJI WPML"
    )


def _number(value: float) -> str:
    """A metre/second/degree value for WPML text: integral values bare, others to the millimetre."""
    rounded = round(float(value), 3)
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


class _Builder:
    """Walks the mission items in flight order, keeping the state a DO command applies to."""

    def __init__(self, home: MissionItem, speed_mps: float, payload_position_index: int) -> None:
        self.home = home
        self.speed_mps = speed_mps
        self.payload_index = str(payload_position_index)
        self.wayline = _Wayline(payload_index=self.payload_index)
        self.pending_actions: list[_Action] = []
        self.pending_notes: list[str] = []
        self.open_spans: dict[str, _Span] = {}
        self.ended_at: int | None = None
        self.poi: str | None = None

    def add_waypoint(self, item: MissionItem, seq: int, hover_s: float) -> None:
        """A new waypoint, or more work at the last one when the item flies to the same spot.

        AeroGrid's speaker hover is NAV_WAYPOINT, DO_SET_RELAY, NAV_LOITER_TIME at one spot; DJI
        refuses consecutive waypoints that close together, and one waypoint with the actions in
        order is what flies the same.
        """
        if item.x == 0 and item.y == 0:
            raise ValueError(f"item {seq}: a waypoint without a position cannot be flown by a DJI wayline")
        lon_text, lat_text = e7_text(item.y), e7_text(item.x)
        height_m = _height_m(item, self.home, seq)
        waypoints = self.wayline.waypoints
        if waypoints and (waypoints[-1].lon_text, waypoints[-1].lat_text, waypoints[-1].height_m) == (
            lon_text,
            lat_text,
            height_m,
        ):
            waypoint = waypoints[-1]
        else:
            if not waypoints:
                self.wayline.first_leg_speed_mps = self.speed_mps
            waypoint = _Waypoint(
                lon_text=lon_text,
                lat_text=lat_text,
                height_m=height_m,
                speed_mps=self.speed_mps,
                poi=self.poi,
            )
            waypoints.append(waypoint)
        waypoint.actions.extend(self.pending_actions)
        waypoint.notes.extend(self.pending_notes)
        self.pending_actions.clear()
        self.pending_notes.clear()
        if hover_s > 0:
            waypoint.actions.append(_Action("hover", [("hoverTime", _number(hover_s))]))

    def act(self, action: _Action) -> None:
        if self.wayline.waypoints:
            self.wayline.waypoints[-1].actions.append(action)
        else:
            self.pending_actions.append(action)

    def annotate(self, seq: int, entry: dict[str, Any], note: str) -> None:
        index = max(len(self.wayline.waypoints) - 1, 0)
        self.wayline.annotations.append({"waypoint_index": index, "seq": seq, **entry})
        if self.wayline.waypoints:
            self.wayline.waypoints[-1].notes.append(note)
        else:
            self.pending_notes.append(note)

    def open_span(self, kind: str, trigger_param: float) -> None:
        self.close_span(kind)
        start = max(len(self.wayline.waypoints) - 1, 0)
        self.open_spans[kind] = _Span(trigger=kind, trigger_param=trigger_param, start_index=start)

    def close_span(self, kind: str) -> None:
        span = self.open_spans.pop(kind, None)
        if span is None:
            return
        span.end_index = len(self.wayline.waypoints) - 1
        if span.end_index > span.start_index:
            self.wayline.spans.append(span)

    def take_photo(self) -> _Action:
        return _Action("takePhoto")

    def set_poi(self, item: MissionItem | None, seq: int) -> None:
        """Face the ROI from the last waypoint on (ArduCopter runs DO items on leaving it)."""
        if item is None or (item.x == 0 and item.y == 0):  # ArduCopter reads an all-zero ROI as "clear"
            self.poi = None
        else:
            height_m = _height_m(item, self.home, seq)
            self.poi = f"{e7_text(item.x)},{e7_text(item.y)},{_number(height_m)}"
        if self.wayline.waypoints:
            self.wayline.waypoints[-1].poi = self.poi

    def apply(self, item: MissionItem, seq: int) -> None:
        command = item.command
        if self.ended_at is not None:
            if command in NAV_COMMANDS:
                raise ValueError(
                    f"item {seq}: navigation after the mission ended at item {self.ended_at} (RTL/LAND)"
                )
            self.annotate(
                seq,
                {"kind": "unmapped", "command": int(command)},
                f"aerogrid: command {command} at seq {seq} follows the mission's end and never runs",
            )
            return
        if command == MavCmd.NAV_TAKEOFF:
            height_m = _height_m(item, self.home, seq)
            if height_m < MIN_TAKEOFF_SECURITY_HEIGHT_M:
                raise ValueError(
                    f"item {seq}: take-off height {height_m} m is below DJI's minimum {MIN_TAKEOFF_SECURITY_HEIGHT_M} m"
                )
            self.wayline.takeoff_height_m = height_m
        elif command in (MavCmd.NAV_WAYPOINT, MavCmd.NAV_LOITER_TIME):
            self.add_waypoint(item, seq, hover_s=item.param1)
        elif command in (MavCmd.NAV_LOITER_UNLIM, MavCmd.NAV_LOITER_TURNS):
            raise ValueError(f"item {seq}: {MavCmd(command).name} has no DJI WPML equivalent")
        elif command == MavCmd.NAV_RETURN_TO_LAUNCH:
            self.wayline.finish_action, self.ended_at = "goHome", seq
        elif command == MavCmd.NAV_LAND:
            self.land(item, seq)
        else:
            self.apply_do(item, seq)

    def land(self, item: MissionItem, seq: int) -> None:
        if item.x != 0 or item.y != 0:
            last = self.wayline.waypoints[-1] if self.wayline.waypoints else None
            if last is None or (last.lat_text, last.lon_text) != (e7_text(item.x), e7_text(item.y)):
                height_m = last.height_m if last is not None else self.wayline.takeoff_height_m
                self.wayline.waypoints.append(
                    _Waypoint(e7_text(item.y), e7_text(item.x), height_m=height_m, speed_mps=self.speed_mps)
                )
        self.wayline.finish_action, self.ended_at = "autoLand", seq

    def apply_do(self, item: MissionItem, seq: int) -> None:
        command = item.command
        if command == MavCmd.DO_CHANGE_SPEED:
            if item.param2 > 0:  # ArduPilot: -1 or 0 means "no change"
                _check_speed(item.param2, f"item {seq} DO_CHANGE_SPEED")
                self.speed_mps = item.param2
                if self.wayline.waypoints:
                    self.wayline.waypoints[-1].speed_mps = item.param2
        elif command == MavCmd.DO_DIGICAM_CONTROL:
            if item.x == 1:  # param5 "shoot"
                self.act(self.take_photo())
        elif command == MavCmd.IMAGE_START_CAPTURE:
            interval_s, count = item.param2, item.param3
            if count == 1 or interval_s <= 0:
                self.act(self.take_photo())
            else:
                self.open_span("multipleTiming", interval_s)
        elif command == IMAGE_STOP_CAPTURE:
            self.close_span("multipleTiming")
        elif command == MavCmd.DO_SET_CAM_TRIGG_DIST:
            if item.param3 == 1:  # trigger once immediately
                self.act(self.take_photo())
            if item.param1 > 0:
                self.open_span("multipleDistance", item.param1)
            else:
                self.close_span("multipleDistance")
        elif command in (VIDEO_START_CAPTURE, VIDEO_STOP_CAPTURE):
            self.act(_Action("startRecord" if command == VIDEO_START_CAPTURE else "stopRecord"))
        elif command == MavCmd.DO_MOUNT_CONTROL:
            self.act(_gimbal_pitch(item.param1, self.payload_index))
        elif command == MavCmd.DO_SET_ROI_LOCATION:
            self.set_poi(item, seq)
        elif command == MavCmd.DO_SET_ROI_NONE:
            self.set_poi(None, seq)
        elif command == MavCmd.DO_SET_RELAY:
            relay, on = int(item.param1), item.param2 != 0
            self.annotate(
                seq,
                {"kind": "relay", "relay": relay, "on": on},
                f"aerogrid: relay {relay} {'on' if on else 'off'} (speaker), MAVLink seq {seq}",
            )
        elif command == MavCmd.DO_SPRAYER:
            on = item.param1 != 0
            self.annotate(
                seq, {"kind": "sprayer", "on": on}, f"aerogrid: sprayer {'on' if on else 'off'}, seq {seq}"
            )
        elif command < _NAV_COMMAND_LIMIT:
            raise ValueError(f"item {seq}: navigation command {command} has no DJI WPML equivalent")
        else:
            self.annotate(
                seq,
                {"kind": "unmapped", "command": int(command)},
                f"aerogrid: command {command} at seq {seq} has no DJI WPML equivalent",
            )


def _gimbal_pitch(pitch_deg: float, payload_index: str) -> _Action:
    return _Action(
        "gimbalRotate",
        [
            ("gimbalHeadingYawBase", "north"),
            ("gimbalRotateMode", "absoluteAngle"),
            ("gimbalPitchRotateEnable", "1"),
            ("gimbalPitchRotateAngle", _number(pitch_deg)),
            ("gimbalRollRotateEnable", "0"),
            ("gimbalRollRotateAngle", "0"),
            ("gimbalYawRotateEnable", "0"),
            ("gimbalYawRotateAngle", "0"),
            ("gimbalRotateTimeEnable", "0"),
            ("gimbalRotateTime", "0"),
            ("payloadPositionIndex", payload_index),
        ],
    )


def _build_wayline(items: tuple[MissionItem, ...], speed_mps: float, payload_position_index: int) -> _Wayline:
    builder = _Builder(items[0], speed_mps, payload_position_index)
    for seq, item in enumerate(items[1:], start=1):
        builder.apply(item, seq)
    for kind in list(builder.open_spans):
        builder.close_span(kind)
    return builder.wayline


# --- XML ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MissionConfig:
    finish_action: str
    takeoff_height_m: float
    transitional_speed_mps: float
    rth_height_m: float
    drone: tuple[int, int]
    payload: tuple[int, int, int]


def _kml(name: str) -> str:
    return f"{{{KML_NS}}}{name}"


def _wpml(name: str) -> str:
    return f"{{{WPML_NS}}}{name}"


def _text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, _wpml(name))
    element.text = value
    return element


def _mission_config(parent: ET.Element, config: _MissionConfig) -> None:
    element = ET.SubElement(parent, _wpml("missionConfig"))
    _text(element, "flyToWaylineMode", "safely")
    _text(element, "finishAction", config.finish_action)
    _text(element, "exitOnRCLost", "executeLostAction")
    _text(element, "executeRCLostAction", "goBack")
    _text(element, "takeOffSecurityHeight", _number(config.takeoff_height_m))
    _text(element, "globalTransitionalSpeed", _number(config.transitional_speed_mps))
    _text(element, "globalRTHHeight", _number(config.rth_height_m))
    drone = ET.SubElement(element, _wpml("droneInfo"))
    _text(drone, "droneEnumValue", str(config.drone[0]))
    _text(drone, "droneSubEnumValue", str(config.drone[1]))
    payload = ET.SubElement(element, _wpml("payloadInfo"))
    _text(payload, "payloadEnumValue", str(config.payload[0]))
    _text(payload, "payloadSubEnumValue", str(config.payload[1]))
    _text(payload, "payloadPositionIndex", str(config.payload[2]))


def _action_groups(placemark: ET.Element, wayline: _Wayline, index: int, next_group_id: list[int]) -> None:
    """The waypoint's reach-point actions, then the repeating camera groups that start here."""
    waypoint = wayline.waypoints[index]
    groups: list[tuple[int, int, str, str | None, list[_Action]]] = []
    if waypoint.actions:
        groups.append((index, index, "reachPoint", None, waypoint.actions))
    for span in wayline.spans:
        if span.start_index == index:
            photo = _Action("takePhoto")
            groups.append(
                (span.start_index, span.end_index, span.trigger, _number(span.trigger_param), [photo])
            )
    for start, end, trigger, trigger_param, actions in groups:
        group = ET.SubElement(placemark, _wpml("actionGroup"))
        _text(group, "actionGroupId", str(next_group_id[0]))
        next_group_id[0] += 1
        _text(group, "actionGroupStartIndex", str(start))
        _text(group, "actionGroupEndIndex", str(end))
        _text(group, "actionGroupMode", "sequence")
        trigger_element = ET.SubElement(group, _wpml("actionTrigger"))
        _text(trigger_element, "actionTriggerType", trigger)
        if trigger_param is not None:
            _text(trigger_element, "actionTriggerParam", trigger_param)
        for action_id, action in enumerate(actions):
            element = ET.SubElement(group, _wpml("action"))
            _text(element, "actionId", str(action_id))
            _text(element, "actionActuatorFunc", action.func)
            params = ET.SubElement(element, _wpml("actionActuatorFuncParam"))
            for name, value in _action_params(action, wayline, start):
                _text(params, name, value)


def _action_params(action: _Action, wayline: _Wayline, index: int) -> list[tuple[str, str]]:
    """The action's params; camera actions get the ones WPML requires of them (Common Elements)."""
    if action.func not in _CAMERA_FUNCS:
        return action.params
    params = [("payloadPositionIndex", wayline.payload_index)]
    if action.func != "stopRecord":
        params.append(("fileSuffix", f"wp{index}"))
    params.append(("payloadLensIndex", wayline.lens_index))
    if action.func != "stopRecord":
        params.append(("useGlobalPayloadLensIndex", "0"))
    return params


def _heading_param(parent: ET.Element, name: str, poi: str | None) -> None:
    """A (global)waypointHeadingParam: along the route, or towards the ROI of an orbit."""
    heading = ET.SubElement(parent, _wpml(name))
    _text(heading, "waypointHeadingMode", "followWayline" if poi is None else "towardPOI")
    _text(heading, "waypointHeadingAngle", "0")
    if poi is not None:
        _text(heading, "waypointPoiPoint", poi)
    _text(heading, "waypointHeadingPathMode", _HEADING_PATH_MODE)


def _placemark(folder: ET.Element, waypoint: _Waypoint, index: int) -> ET.Element:
    placemark = ET.SubElement(folder, _kml("Placemark"))
    for note in waypoint.notes:
        placemark.append(ET.Comment(f" {note} "))
    point = ET.SubElement(placemark, _kml("Point"))
    coordinates = ET.SubElement(point, _kml("coordinates"))
    coordinates.text = f"{waypoint.lon_text},{waypoint.lat_text}"
    _text(placemark, "index", str(index))
    return placemark


def _document() -> tuple[ET.Element, ET.Element]:
    root = ET.Element(_kml("kml"))
    return root, ET.SubElement(root, _kml("Document"))


def _serialise(root: ET.Element) -> bytes:
    ET.register_namespace("", KML_NS)
    ET.register_namespace("wpml", WPML_NS)
    ET.indent(root, space="  ")
    # the declaration written by hand in double quotes, as DJI Pilot 2 writes it
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


def _template_kml(
    wayline: _Wayline, config: _MissionConfig, speed_mps: float, created_ms: int, heights: _EllipsoidOffset
) -> bytes:
    root, document = _document()
    document.append(ET.Comment(f" {heights.note} "))
    _text(document, "author", "AeroGrid")
    _text(document, "createTime", str(created_ms))
    _text(document, "updateTime", str(created_ms))
    _mission_config(document, config)
    folder = ET.SubElement(document, _kml("Folder"))
    _text(folder, "templateType", "waypoint")
    _text(folder, "templateId", "0")
    coordinate_system = ET.SubElement(folder, _wpml("waylineCoordinateSysParam"))
    _text(coordinate_system, "coordinateMode", "WGS84")
    _text(coordinate_system, "heightMode", "relativeToStartPoint")
    _text(folder, "autoFlightSpeed", _number(speed_mps))
    _text(folder, "globalHeight", _number(wayline.waypoints[0].height_m))
    _text(folder, "caliFlightEnable", "0")
    _text(folder, "gimbalPitchMode", "manual")
    _heading_param(folder, "globalWaypointHeadingParam", None)
    _text(folder, "globalWaypointTurnMode", _TURN_MODE)
    _text(folder, "globalUseStraightLine", "1")
    group_id = [0]
    for index, waypoint in enumerate(wayline.waypoints):
        placemark = _placemark(folder, waypoint, index)
        _text(placemark, "ellipsoidHeight", _number(waypoint.height_m + heights.offset_m))
        _text(placemark, "height", _number(waypoint.height_m))
        _text(placemark, "useGlobalHeight", "0")
        _text(placemark, "useGlobalSpeed", "0")
        _text(placemark, "waypointSpeed", _number(waypoint.speed_mps))
        _text(placemark, "useGlobalHeadingParam", "1" if waypoint.poi is None else "0")
        if waypoint.poi is not None:
            _heading_param(placemark, "waypointHeadingParam", waypoint.poi)
        _text(placemark, "useGlobalTurnParam", "1")
        _text(placemark, "useStraightLine", "1")
        _action_groups(placemark, wayline, index, group_id)
    return _serialise(root)


def _waylines_wpml(
    wayline: _Wayline, config: _MissionConfig, speed_mps: float, length_m: float, flight_time_s: float
) -> bytes:
    root, document = _document()
    _mission_config(document, config)
    folder = ET.SubElement(document, _kml("Folder"))
    _text(folder, "templateId", "0")
    _text(folder, "executeHeightMode", "relativeToStartPoint")
    _text(folder, "waylineId", "0")
    _text(folder, "distance", _number(length_m))
    _text(folder, "duration", _number(flight_time_s))
    _text(folder, "autoFlightSpeed", _number(speed_mps))
    group_id = [0]
    for index, waypoint in enumerate(wayline.waypoints):
        placemark = _placemark(folder, waypoint, index)
        _text(placemark, "executeHeight", _number(waypoint.height_m))
        _text(placemark, "waypointSpeed", _number(waypoint.speed_mps))
        _heading_param(placemark, "waypointHeadingParam", waypoint.poi)
        turn = ET.SubElement(placemark, _wpml("waypointTurnParam"))
        _text(turn, "waypointTurnMode", _TURN_MODE)
        _text(turn, "waypointTurnDampingDist", "0")
        _text(placemark, "useStraightLine", "1")
        _action_groups(placemark, wayline, index, group_id)
    return _serialise(root)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
