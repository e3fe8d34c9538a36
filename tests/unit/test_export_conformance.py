"""Every export of every kind of sample-district plan against what other tools require of it.

* DJI WPML: DJI's element tables for template.kml, waylines.wpml and the common elements (the
  Cloud API "DJI WPML" reference), encoded below as required children per element, conditional
  requirements, enum values and number ranges, checked on every element the files contain.
* GeoJSON: every geometry valid (shapely) exactly as written, at 7 decimals.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from functools import cache
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from app import cli_plan
from geofences.geojson import parse_grids, parse_zones
from geofences.model import FenceSet
from geofences.sample import GRIDS_PATH, SITES_PATH, ZONES_PATH
from missions.camera import Camera
from missions.export import ExportOptions, export_bytes
from missions.export.geoid import egm96_undulation_m
from missions.export.geojson import to_geojson
from missions.export.kmz import KML_NS, TEMPLATE_PATH, WAYLINES_PATH, to_kmz
from missions.items import MavCmd, MavFrame, MissionItem, to_e7
from missions.plan import MissionPlan, PlanStats, RoutePoint, Sortie
from missions.planner import plan_multi_grid
from missions.profile import Battery

# --- DJI WPML element tables ------------------------------------------------------------------

# Children marked "Yes" (required) in the tables, by parent element. Template and waylines
# Placemarks and Folders differ, so those are keyed by file.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "missionConfig": (
        "flyToWaylineMode",
        "finishAction",
        "exitOnRCLost",
        "takeOffSecurityHeight",
        "globalTransitionalSpeed",
        "droneInfo",
        "payloadInfo",
    ),
    "droneInfo": ("droneEnumValue",),
    "payloadInfo": ("payloadEnumValue", "payloadPositionIndex"),
    "waylineCoordinateSysParam": ("coordinateMode", "heightMode"),
    "globalWaypointHeadingParam": ("waypointHeadingMode", "waypointHeadingPathMode"),
    "waypointHeadingParam": ("waypointHeadingMode", "waypointHeadingPathMode"),
    "waypointTurnParam": ("waypointTurnMode",),
    "actionGroup": (
        "actionGroupId",
        "actionGroupStartIndex",
        "actionGroupEndIndex",
        "actionGroupMode",
        "actionTrigger",
        "action",
    ),
    "actionTrigger": ("actionTriggerType",),
    "action": ("actionId", "actionActuatorFunc", "actionActuatorFuncParam"),
}
_REQUIRED_IN_FILE: dict[tuple[str, str], tuple[str, ...]] = {
    ("template", "Folder"): (
        "templateType",
        "templateId",
        "autoFlightSpeed",
        "waylineCoordinateSysParam",
        "globalWaypointTurnMode",
        "gimbalPitchMode",
        "globalHeight",
        "globalWaypointHeadingParam",
    ),
    ("template", "Placemark"): (
        "Point",
        "index",
        "useGlobalHeight",
        "useGlobalSpeed",
        "useGlobalHeadingParam",
        "useGlobalTurnParam",
    ),
    ("template", "missionConfig"): (),
    ("waylines", "Folder"): ("templateId", "waylineId", "autoFlightSpeed", "executeHeightMode"),
    ("waylines", "Placemark"): (
        "Point",
        "index",
        "executeHeight",
        "waypointSpeed",
        "waypointHeadingParam",
        "waypointTurnParam",
    ),
    ("waylines", "missionConfig"): ("globalRTHHeight",),
}
# actionActuatorFuncParam's required children, by actionActuatorFunc.
_FUNC_PARAMS: dict[str, tuple[str, ...]] = {
    "takePhoto": ("payloadPositionIndex", "fileSuffix", "payloadLensIndex", "useGlobalPayloadLensIndex"),
    "startRecord": ("payloadPositionIndex", "fileSuffix", "payloadLensIndex", "useGlobalPayloadLensIndex"),
    "stopRecord": ("payloadPositionIndex", "payloadLensIndex"),
    "focus": ("payloadPositionIndex", "isPointFocus", "focusX", "focusY"),
    "zoom": ("payloadPositionIndex", "focalLength"),
    "customDirName": ("payloadPositionIndex", "directoryName"),
    "gimbalRotate": (
        "payloadPositionIndex",
        "gimbalHeadingYawBase",
        "gimbalRotateMode",
        "gimbalPitchRotateEnable",
        "gimbalPitchRotateAngle",
        "gimbalRollRotateEnable",
        "gimbalRollRotateAngle",
        "gimbalYawRotateEnable",
        "gimbalYawRotateAngle",
        "gimbalRotateTimeEnable",
        "gimbalRotateTime",
    ),
    "gimbalEvenlyRotate": ("gimbalPitchRotateAngle", "payloadPositionIndex"),
    "rotateYaw": ("aircraftHeading", "aircraftPathMode"),
    "hover": ("hoverTime",),
}
_ENUMS: dict[str, frozenset[str]] = {
    "flyToWaylineMode": frozenset({"safely", "pointToPoint"}),
    "finishAction": frozenset({"goHome", "noAction", "autoLand", "gotoFirstWaypoint"}),
    "exitOnRCLost": frozenset({"goContinue", "executeLostAction"}),
    "executeRCLostAction": frozenset({"goBack", "landing", "hover"}),
    "templateType": frozenset({"waypoint", "mapping2d", "mapping3d", "mappingStrip"}),
    "coordinateMode": frozenset({"WGS84"}),
    "heightMode": frozenset({"EGM96", "relativeToStartPoint", "aboveGroundLevel", "realTimeFollowSurface"}),
    "executeHeightMode": frozenset({"WGS84", "relativeToStartPoint", "realTimeFollowSurface"}),
    "gimbalPitchMode": frozenset({"manual", "usePointSetting"}),
    "waypointHeadingMode": frozenset({"followWayline", "manually", "fixed", "smoothTransition", "towardPOI"}),
    "waypointHeadingPathMode": frozenset({"clockwise", "counterClockwise", "followBadArc"}),
    "actionGroupMode": frozenset({"sequence"}),
    "actionTriggerType": frozenset(
        {"reachPoint", "betweenAdjacentPoints", "multipleTiming", "multipleDistance"}
    ),
    "actionActuatorFunc": frozenset(_FUNC_PARAMS) | {"accurateShoot", "orientedShoot"},
    "gimbalRotateMode": frozenset({"relativeAngle", "absoluteAngle"}),
    "gimbalHeadingYawBase": frozenset({"north"}),
    "aircraftPathMode": frozenset({"clockwise", "counterClockwise"}),
}
_TURN_MODES = frozenset(
    {
        "coordinateTurn",
        "toPointAndStopWithDiscontinuityCurvature",
        "toPointAndStopWithContinuityCurvature",
        "toPointAndPassWithContinuityCurvature",
    }
)
_ENUMS["globalWaypointTurnMode"] = _ENUMS["waypointTurnMode"] = _TURN_MODES
_BOOLS = frozenset(
    {
        "useGlobalHeight",
        "useGlobalSpeed",
        "useGlobalHeadingParam",
        "useGlobalTurnParam",
        "useStraightLine",
        "globalUseStraightLine",
        "useGlobalPayloadLensIndex",
        "caliFlightEnable",
        "gimbalPitchRotateEnable",
        "gimbalRollRotateEnable",
        "gimbalYawRotateEnable",
        "gimbalRotateTimeEnable",
    }
)
_LENSES = frozenset({"zoom", "wide", "ir", "narrow_band"})
# (low, high, low is open) for numbers the tables bound
_RANGES: dict[str, tuple[float, float, bool]] = {
    "takeOffSecurityHeight": (2.0, 1500.0, False),
    "globalTransitionalSpeed": (0.0, 15.0, True),
    "autoFlightSpeed": (0.0, 15.0, True),
    "waypointSpeed": (0.0, 15.0, True),
    "hoverTime": (0.0, float("inf"), True),
    "actionTriggerParam": (0.0, float("inf"), True),
    "templateId": (0, 65535, False),
    "waylineId": (0, 65535, False),
    "index": (0, 65535, False),
    "actionGroupId": (0, 65535, False),
    "actionGroupStartIndex": (0, 65535, False),
    "actionGroupEndIndex": (0, 65535, False),
    "actionId": (0, 65535, False),
}
_UNCHECKED_TEXT = frozenset({"coordinates", "waypointPoiPoint", "fileSuffix", "payloadLensIndex", "author"})


def _name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: ET.Element) -> dict[str, ET.Element]:
    return {_name(child): child for child in element if isinstance(child.tag, str)}


def _conditional(parent: str, kids: dict[str, ET.Element], folder: dict[str, ET.Element]) -> list[str]:
    """The children a table requires only when another element has some value."""

    def value(name: str, where: dict[str, ET.Element] = kids) -> str | None:
        return where[name].text if name in where else None

    needed = []
    if parent == "missionConfig" and value("exitOnRCLost") == "executeLostAction":
        needed.append("executeRCLostAction")
    if parent == "droneInfo" and value("droneEnumValue") == "67":
        needed.append("droneSubEnumValue")
    if parent in ("waypointHeadingParam", "globalWaypointHeadingParam"):
        mode = value("waypointHeadingMode")
        needed += ["waypointHeadingAngle"] * (mode == "smoothTransition")
        needed += ["waypointPoiPoint"] * (mode == "towardPOI")
    if parent == "waypointTurnParam" and value("waypointTurnMode") in (
        "coordinateTurn",
        "toPointAndPassWithContinuityCurvature",
    ):
        needed.append("waypointTurnDampingDist")
    if parent == "actionTrigger" and value("actionTriggerType") in ("multipleTiming", "multipleDistance"):
        needed.append("actionTriggerParam")
    if parent == "Folder" and value("globalWaypointTurnMode") in (
        "toPointAndStopWithContinuityCurvature",
        "toPointAndPassWithContinuityCurvature",
    ):
        needed.append("globalUseStraightLine")
    if parent == "Placemark":
        needed += ["ellipsoidHeight", "height"] * (value("useGlobalHeight") == "0")
        needed += ["waypointSpeed"] * (value("useGlobalSpeed") == "0")
        needed += ["waypointHeadingParam"] * (value("useGlobalHeadingParam") == "0")
        needed += ["waypointTurnParam"] * (value("useGlobalTurnParam") == "0")
        needed += ["gimbalPitchAngle"] * (value("gimbalPitchMode", folder) == "usePointSetting")
    return needed


def _number(text: str | None) -> float:
    assert text is not None and re.fullmatch(r"-?\d+(\.\d+)?", text.strip()), text
    return float(text)


def wpml_problems(root: ET.Element, file: str) -> list[str]:
    """Everything in one WPML document that DJI's element tables do not allow."""
    problems: list[str] = []
    folder = _children(next(root.iter(f"{{{KML_NS}}}Folder")))
    for element in root.iter():
        name = _name(element)
        kids = _children(element)
        required = (*_REQUIRED.get(name, ()), *_REQUIRED_IN_FILE.get((file, name), ()))
        required += tuple(_conditional(name, kids, folder))
        if name == "action":
            func = kids["actionActuatorFunc"].text or "" if "actionActuatorFunc" in kids else ""
            params = kids.get("actionActuatorFuncParam")
            if func not in _FUNC_PARAMS:
                problems.append(f"{file}: action function {func!r} has no table here")
            elif params is not None:
                missing = [p for p in _FUNC_PARAMS[func] if p not in _children(params)]
                problems += [f"{file}: {func} lacks {p}" for p in missing]
        problems += [f"{file}: {name} lacks {child}" for child in required if child not in kids]
        text = (element.text or "").strip()
        if kids or not text or name in _UNCHECKED_TEXT:
            continue
        if name in _ENUMS and text not in _ENUMS[name]:
            problems.append(f"{file}: {name} {text!r} is not one of {sorted(_ENUMS[name])}")
        if name in _BOOLS and text not in ("0", "1"):
            problems.append(f"{file}: {name} {text!r} is not 0 or 1")
        if name in _RANGES:
            low, high, open_low = _RANGES[name]
            number = _number(text)
            if not (low < number if open_low else low <= number) or number > high:
                problems.append(f"{file}: {name} {text} is outside the table's range")
    problems += _structure_problems(root, file)
    return problems


def _structure_problems(root: ET.Element, file: str) -> list[str]:
    """Indexes from 0 without gaps, unique group ids, action ids from 0, POI points well formed."""
    wpml = next(iter({e.tag[1:].split("}")[0] for e in root.iter() if "dji.com" in str(e.tag)}))
    problems = []
    indexes = [p.findtext(f"{{{wpml}}}index") for p in root.iter(f"{{{KML_NS}}}Placemark")]
    if indexes != [str(i) for i in range(len(indexes))]:
        problems.append(f"{file}: waypoint indexes {indexes} do not run 0, 1, 2, ...")
    group_ids = [g.findtext(f"{{{wpml}}}actionGroupId") for g in root.iter(f"{{{wpml}}}actionGroup")]
    if len(group_ids) != len(set(group_ids)):
        problems.append(f"{file}: duplicate actionGroupId in {group_ids}")
    for group in root.iter(f"{{{wpml}}}actionGroup"):
        ids = [a.findtext(f"{{{wpml}}}actionId") for a in group.iter(f"{{{wpml}}}action")]
        if ids != [str(i) for i in range(len(ids))]:
            problems.append(f"{file}: action ids {ids} do not run 0, 1, 2, ...")
        start = _number(group.findtext(f"{{{wpml}}}actionGroupStartIndex"))
        if _number(group.findtext(f"{{{wpml}}}actionGroupEndIndex")) < start:
            problems.append(f"{file}: an action group ends before it starts")
    for lenses in root.iter(f"{{{wpml}}}payloadLensIndex"):
        if not set((lenses.text or "").split(",")) <= _LENSES:
            problems.append(f"{file}: payloadLensIndex {lenses.text!r}")
    for poi in root.iter(f"{{{wpml}}}waypointPoiPoint"):
        lat, lon, _alt = (_number(v) for v in (poi.text or "").split(","))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            problems.append(f"{file}: waypointPoiPoint {poi.text} is not lat,lon,alt")
    return problems


def _documents(data: bytes) -> tuple[ET.Element, ET.Element]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return ET.fromstring(archive.read(TEMPLATE_PATH)), ET.fromstring(archive.read(WAYLINES_PATH))


def _wpml(root: ET.Element) -> str:
    return next(iter({e.tag[1:].split("}")[0] for e in root.iter() if "dji.com" in str(e.tag)}))


# --- the sample district, every kind ------------------------------------------------------------

_BASE = ["--home", "120.54,31.49", "--fences", str(ZONES_PATH)]


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_plan.add_arguments(parser)
    return parser.parse_args(argv)


@cache
def sample_plans() -> tuple[tuple[str, MissionPlan], ...]:
    """Coverage of every sample grid (where footprint unions are most intricate), perimeter and
    broadcast of every third, spray, inspection and checkpoint plans of every sample site."""
    codes = [f["properties"]["code"] for f in json.loads(GRIDS_PATH.read_text(encoding="utf-8"))["features"]]
    cases = [(f"coverage {code}", [str(GRIDS_PATH), "--grid", code, "--kind", "coverage"]) for code in codes]
    for kind in ("perimeter", "broadcast"):
        cases += [
            (f"{kind} {code}", [str(GRIDS_PATH), "--grid", code, "--kind", kind]) for code in codes[::3]
        ]
    cases += [
        (kind, ["--sites", str(SITES_PATH), "--kind", kind]) for kind in ("spray", "inspect", "checkpoint")
    ]
    cases.append(
        ("spray one sortie per tank", ["--sites", str(SITES_PATH), "--kind", "spray", "--battery-wh", "120"])
    )
    plans = [(name, cli_plan.build_plan(_args([*argv, *_BASE]))) for name, argv in cases]
    return (*plans, *_camera_surveys(codes))


def _camera_surveys(codes: list[str]) -> list[tuple[str, MissionPlan]]:
    """Coverage and perimeter with a camera (distance-triggered photos), several grids per flight."""
    grids = {g.code: g.geometry for g in parse_grids(json.loads(GRIDS_PATH.read_text(encoding="utf-8")))}
    fences = FenceSet(
        zones=tuple(z.zone for z in parse_zones(json.loads(ZONES_PATH.read_text(encoding="utf-8"))))
    )
    camera = Camera(
        sensor_width_mm=13.2,
        sensor_height_mm=8.8,
        focal_length_mm=8.8,
        image_width_px=5472,
        image_height_px=3648,
    )
    chosen = [(code, grids[code]) for code in codes[:3]]
    return [
        (
            f"{kind} with camera {codes[0]}..{codes[2]}",
            plan_multi_grid(
                chosen,
                kind,
                home=(120.54, 31.49),
                fences=fences,
                battery=Battery(capacity_wh=120),
                camera=camera,
            ),
        )
        for kind in ("coverage", "perimeter")
    ]


def _kmz_sorties() -> list[tuple[str, bytes]]:
    """Every sortie of every sample plan that DJI can fly (a one-waypoint broadcast hover cannot)."""
    out = []
    for name, plan in sample_plans():
        for index in range(len(plan.sorties)):
            try:
                out.append((f"{name} s{index}", to_kmz(plan, index)))
            except ValueError as exc:
                assert "at least 2" in str(exc), (name, exc)
    return out


def test_the_sample_plans_cover_every_kind_and_the_kmz_features() -> None:
    kinds = {plan.kind for _, plan in sample_plans()}
    assert kinds == {"coverage", "perimeter", "broadcast", "spray", "inspect", "checkpoint"}
    text = b"".join(zipfile.ZipFile(io.BytesIO(data)).read(WAYLINES_PATH) for _, data in _kmz_sorties())
    for feature in (b"takePhoto", b"hover", b"multipleDistance", b"towardPOI", b"goHome"):
        assert feature in text, feature


def test_every_sample_kmz_meets_dji_wpml_element_tables() -> None:
    problems = []
    for name, data in _kmz_sorties():
        template, waylines = _documents(data)
        problems += [f"{name}: {p}" for p in wpml_problems(template, "template")]
        problems += [f"{name}: {p}" for p in wpml_problems(waylines, "waylines")]
    assert problems == []


def test_every_geometry_of_every_sample_geojson_is_valid_as_written() -> None:
    checked = 0
    problems = []
    for name, plan in sample_plans():
        document = json.loads(export_bytes(plan, ".geojson"))
        for feature in document["features"]:
            geometry = feature["geometry"]
            for lon, lat, *_ in _positions(geometry["coordinates"]):
                assert (round(lon, 7), round(lat, 7)) == (lon, lat), (name, lon, lat)
            parsed = shape(geometry)
            checked += 1
            if not parsed.is_valid:
                problems.append(f"{name} {feature['properties']['kind']}: {shapely.is_valid_reason(parsed)}")
    assert problems == []
    assert checked > 1000


def _positions(coordinates: list[object]) -> list[list[float]]:
    if coordinates and isinstance(coordinates[0], int | float):
        return [coordinates]  # type: ignore[list-item]
    return [p for part in coordinates for p in _positions(part)]  # type: ignore[arg-type]


# --- targeted cases ---------------------------------------------------------------------------------


def _mission_plan(
    items: tuple[MissionItem, ...], footprints_wkt: str = "", kind: str = "inspect"
) -> MissionPlan:
    home = items[0]
    route = (RoutePoint(lon_deg=home.lon_deg, lat_deg=home.lat_deg, alt_rel_m=0.0, role="home"),)
    sortie = Sortie(items=items, route=route, length_m=100.0, flight_time_s=60.0, energy_wh=2.0)
    stats = PlanStats(
        length_m=100, flight_time_s=60, turns=0, photos=1, energy_wh=2, sorties=1, coverage_pct=0
    )
    return MissionPlan(
        kind=kind,
        home_lon_deg=home.lon_deg,
        home_lat_deg=home.lat_deg,
        sorties=(sortie,),
        fence_items=(),
        rally_items=(),
        stats=stats,
        footprints_wkt=footprints_wkt,
    )


REL = MavFrame.GLOBAL_RELATIVE_ALT_INT
LAT, LON = 31.49, 120.54


def _nav(lat: float, lon: float, alt_m: float = 30.0, command: int = MavCmd.NAV_WAYPOINT) -> MissionItem:
    return MissionItem(command=command, frame=REL, x=to_e7(lat), y=to_e7(lon), z=alt_m)


def _do(command: int, *params: float, x: int = 0) -> MissionItem:
    p = [*params, 0.0, 0.0, 0.0, 0.0][:4]
    return MissionItem(command=command, frame=MavFrame.MISSION, param1=p[0], param2=p[1], param3=p[2], x=x)


def _camera_mission() -> tuple[MissionItem, ...]:
    """Take-off, video on, gimbal down, an ROI over two legs, a photo, video off, RTL."""
    home = MissionItem(command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL, x=to_e7(LAT), y=to_e7(LON), z=4.0)
    roi = MissionItem(command=MavCmd.DO_SET_ROI_LOCATION, frame=REL, x=to_e7(LAT + 0.001), y=to_e7(LON), z=12)
    return (
        home,
        MissionItem(command=MavCmd.NAV_TAKEOFF, frame=REL, z=30),
        _nav(LAT + 0.0005, LON - 0.0005),
        _do(2500),  # VIDEO_START_CAPTURE
        _do(MavCmd.DO_MOUNT_CONTROL, -60),
        roi,
        _nav(LAT + 0.0015, LON - 0.0005),
        _do(MavCmd.DO_DIGICAM_CONTROL, x=1),
        _nav(LAT + 0.0015, LON + 0.0005),
        _do(MavCmd.DO_SET_ROI_NONE),
        _nav(LAT + 0.0005, LON + 0.0005),
        _do(2501),  # VIDEO_STOP_CAPTURE
        _do(MavCmd.NAV_RETURN_TO_LAUNCH),
    )


def test_camera_actions_carry_every_param_wpml_requires() -> None:
    template, waylines = _documents(to_kmz(_mission_plan(_camera_mission()), payload_lens_index="wide,ir"))
    assert wpml_problems(template, "template") == wpml_problems(waylines, "waylines") == []
    wpml = _wpml(waylines)
    params = {
        a.findtext(f"{{{wpml}}}actionActuatorFunc"): {
            _name(p): p.text for p in a.find(f"{{{wpml}}}actionActuatorFuncParam") or []
        }
        for a in waylines.iter(f"{{{wpml}}}action")
    }
    assert params["takePhoto"] == {
        "payloadPositionIndex": "0",
        "fileSuffix": "wp1",
        "payloadLensIndex": "wide,ir",
        "useGlobalPayloadLensIndex": "0",
    }
    assert params["startRecord"]["fileSuffix"] == "wp0"
    assert params["stopRecord"] == {"payloadPositionIndex": "0", "payloadLensIndex": "wide,ir"}
    assert params["gimbalRotate"]["gimbalHeadingYawBase"] == "north"
    assert params["gimbalRotate"]["gimbalPitchRotateAngle"] == "-60"


def test_an_roi_turns_the_legs_it_covers_towards_the_poi() -> None:
    template, waylines = _documents(to_kmz(_mission_plan(_camera_mission())))
    wpml = _wpml(waylines)
    headings = [
        (
            p.findtext(f"{{{wpml}}}waypointHeadingParam/{{{wpml}}}waypointHeadingMode"),
            p.findtext(f"{{{wpml}}}waypointHeadingParam/{{{wpml}}}waypointPoiPoint"),
        )
        for p in waylines.iter(f"{{{KML_NS}}}Placemark")
    ]
    poi = f"{LAT + 0.001:.7f},{LON:.7f},12"
    # ROI set after waypoint 0 (ArduCopter runs it on leaving it), cleared after waypoint 2
    assert headings == [
        ("towardPOI", poi),
        ("towardPOI", poi),
        ("followWayline", None),
        ("followWayline", None),
    ]
    uses_global = [
        p.findtext(f"{{{wpml}}}useGlobalHeadingParam") for p in template.iter(f"{{{KML_NS}}}Placemark")
    ]
    assert uses_global == ["0", "0", "1", "1"]
    global_heading = template.find(f".//{{{wpml}}}globalWaypointHeadingParam")
    assert global_heading is not None
    assert global_heading.findtext(f"{{{wpml}}}waypointHeadingPathMode") == "followBadArc"


def test_every_sample_inspection_orbit_faces_its_site() -> None:
    (plan,) = [plan for name, plan in sample_plans() if name == "inspect"]
    rois = {
        f"{item.x / 1e7:.7f},{item.y / 1e7:.7f}"
        for sortie in plan.sorties
        for item in sortie.items
        if item.command == MavCmd.DO_SET_ROI_LOCATION
    }
    pois = set()
    for index in range(len(plan.sorties)):
        _, waylines = _documents(to_kmz(plan, index))
        wpml = _wpml(waylines)
        pois |= {
            poi.text.rsplit(",", 1)[0] for poi in waylines.iter(f"{{{wpml}}}waypointPoiPoint") if poi.text
        }
    assert len(rois) == 5 and pois == rois  # the five key sites


@pytest.mark.parametrize(
    ("home_alt_amsl_m", "undulation_m", "offset_m"),
    [(None, 7.5, 11.5), (20.0, -3.25, 16.75), (0.0, 0.0, 0.0)],
)
def test_ellipsoid_height_is_take_off_amsl_plus_height_plus_geoid_undulation(
    home_alt_amsl_m: float | None, undulation_m: float, offset_m: float
) -> None:
    plan = _mission_plan(_camera_mission())  # home item at 4 m AMSL
    options = ExportOptions(home_alt_amsl_m=home_alt_amsl_m, geoid_undulation_m=undulation_m)
    template, _ = _documents(export_bytes(plan, ".kmz", options=options))
    wpml = _wpml(template)
    for placemark in template.iter(f"{{{KML_NS}}}Placemark"):
        height = _number(placemark.findtext(f"{{{wpml}}}height"))
        assert _number(placemark.findtext(f"{{{wpml}}}ellipsoidHeight")) == pytest.approx(height + offset_m)


def test_without_an_undulation_the_kmz_says_where_its_ellipsoid_heights_come_from() -> None:
    data = to_kmz(_mission_plan(_camera_mission()))
    note = zipfile.ZipFile(io.BytesIO(data)).read(TEMPLATE_PATH).decode()
    grid_n = egm96_undulation_m(LON, LAT)
    if grid_n is None:  # no EGM96 grid in PROJ's data (the usual offline install)
        assert "EGM96 geoid undulation 0 m (unknown: PROJ has no EGM96 grid here, 0 m used)" in note
    else:
        assert "(PROJ EGM96 grid)" in note and -107 < grid_n < 86  # EGM96's range of N


def test_geoid_undulation_comes_from_debians_egm96_grid_when_installed() -> None:
    if not Path("/usr/share/proj/egm96_15.gtx").is_file():
        pytest.skip("Debian's proj-data (EGM96 grid /usr/share/proj/egm96_15.gtx) is not installed")
    assert egm96_undulation_m(0.0, 0.0) == pytest.approx(17.16, abs=0.01)  # EGM96's N at 0 N, 0 E
    sample_n = egm96_undulation_m(LON, LAT)
    assert sample_n is not None and 5.0 < sample_n < 12.0  # the Yangtze delta's geoid height
    data = to_kmz(_mission_plan(_camera_mission()))
    assert "(PROJ EGM96 grid)" in zipfile.ZipFile(io.BytesIO(data)).read(TEMPLATE_PATH).decode()


@pytest.mark.parametrize("lenses", ["", "wide,wide", "visible", "Wide"])
def test_unknown_lens_lists_are_refused(lenses: str) -> None:
    with pytest.raises(ValueError, match="payload_lens_index"):
        to_kmz(_mission_plan(_camera_mission()), payload_lens_index=lenses)


def test_footprints_that_rounding_would_break_are_written_valid() -> None:
    # a hole 3e-8 degrees wide (it rounds to a two-point ring) and a bow that rounding folds over
    shell = [(120.5, 31.5), (120.502, 31.5), (120.502, 31.502), (120.5, 31.502)]
    hole = [(120.5010000, 31.5010000), (120.50100003, 31.5010000), (120.50100003, 31.50100003)]
    spike = [(120.503, 31.5), (120.504, 31.5), (120.50400004, 31.50000004), (120.5035, 31.50000002)]
    footprints = shapely.MultiPolygon([shapely.Polygon(shell, [hole]), shapely.Polygon(spike)])
    assert footprints.is_valid
    items = _camera_mission()
    document = to_geojson(_mission_plan(items, footprints_wkt=footprints.wkt, kind="coverage"))
    (written,) = [f["geometry"] for f in document["features"] if f["properties"]["kind"] == "footprints"]
    parsed = shape(json.loads(json.dumps(written)))
    assert parsed.is_valid
    assert parsed.area == pytest.approx(footprints.area, rel=1e-3)
    polygons = list(getattr(parsed, "geoms", [parsed]))
    assert all(len(p.interiors) == 0 for p in polygons)  # the collapsed hole is gone
