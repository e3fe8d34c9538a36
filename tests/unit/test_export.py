"""Exporters: exact .plan / WPL round trips, DJI KMZ structure, GeoJSON validity, corrupt input."""

from __future__ import annotations

import io
import json
import math
import struct
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from missions.export import FORMATS, ExportOptions, export_bytes, read_mission, write_export
from missions.export.geojson import to_geojson
from missions.export.kmz import ANNOTATIONS_PATH, KML_NS, TEMPLATE_PATH, WAYLINES_PATH, to_kmz
from missions.export.qgc_plan import SHAPE_ORDER_KEY, dumps, from_qgc_plan, to_qgc_plan
from missions.export.wpl import from_wpl, to_wpl
from missions.items import MavCmd, MavFrame, MissionItem, MissionType, to_e7
from missions.plan import MissionPlan, PlanStats, RoutePoint, Sortie

WPML_NS_PREFIX = "http://www.dji.com/wpmz/1.0."
REL = MavFrame.GLOBAL_RELATIVE_ALT_INT


def _home(lat: float, lon: float, alt_m: float = 42.5) -> MissionItem:
    """Home the way ArduCopter reports seq 0 (and .plan rebuilds it)."""
    return MissionItem(
        command=MavCmd.NAV_WAYPOINT,
        frame=MavFrame.GLOBAL,
        x=to_e7(lat),
        y=to_e7(lon),
        z=alt_m,
        autocontinue=1,
    )


def _wp(lat: float, lon: float, alt_m: float = 30.0, hold_s: float = 0.0) -> MissionItem:
    return MissionItem(
        command=MavCmd.NAV_WAYPOINT, frame=REL, param1=hold_s, x=to_e7(lat), y=to_e7(lon), z=alt_m
    )


def _do(command: int, *params: float, x: int = 0) -> MissionItem:
    p = [*params, 0.0, 0.0, 0.0, 0.0][:4]
    return MissionItem(
        command=command, frame=MavFrame.MISSION, param1=p[0], param2=p[1], param3=p[2], param4=p[3], x=x
    )


def _patrol_items(lat: float, lon: float) -> tuple[MissionItem, ...]:
    """A broadcast-and-photo patrol: take-off, speed, loiter with speaker, camera by distance, RTL."""
    d = 0.0004
    return (
        _home(lat, lon),
        MissionItem(command=MavCmd.NAV_TAKEOFF, frame=REL, z=25.0),
        _do(MavCmd.DO_CHANGE_SPEED, 1, 7.5, -1),
        _wp(lat + d, lon),
        MissionItem(
            command=MavCmd.NAV_LOITER_TIME, frame=REL, param1=12, x=to_e7(lat + d), y=to_e7(lon + d), z=30
        ),
        _do(MavCmd.DO_SET_RELAY, 0, 1),
        _do(MavCmd.DO_DIGICAM_CONTROL, x=1),
        _do(MavCmd.DO_SET_CAM_TRIGG_DIST, 12.3, 0, 1),
        _wp(lat, lon + d, 35.5),
        _wp(lat - d, lon + d, 35.5),
        _do(MavCmd.DO_SET_CAM_TRIGG_DIST, 0),
        _do(MavCmd.DO_SET_RELAY, 0, 0),
        _do(MavCmd.NAV_RETURN_TO_LAUNCH),
    )


def _route_of(items: tuple[MissionItem, ...]) -> tuple[RoutePoint, ...]:
    roles = {
        MavCmd.NAV_TAKEOFF: "takeoff",
        MavCmd.NAV_LOITER_TIME: "hover",
        MavCmd.NAV_RETURN_TO_LAUNCH: "rtl",
    }
    home = items[0]
    route = [RoutePoint(lon_deg=home.lon_deg, lat_deg=home.lat_deg, alt_rel_m=0.0, role="home")]
    for item in items[1:]:
        if not item.is_nav:
            continue
        positioned = item.x != 0 or item.y != 0
        route.append(
            RoutePoint(
                lon_deg=item.lon_deg if positioned else home.lon_deg,
                lat_deg=item.lat_deg if positioned else home.lat_deg,
                alt_rel_m=item.z,
                role=roles.get(MavCmd(item.command), "waypoint"),
                hover_s=item.param1 if item.command == MavCmd.NAV_LOITER_TIME else 0.0,
                speaker_on=item.command == MavCmd.NAV_LOITER_TIME,
                camera_on=True,
            )
        )
    return tuple(route)


def _fence(lat: float, lon: float) -> tuple[MissionItem, ...]:
    """As geofences.compile emits (and ArduPilot reports) them: frame GLOBAL, autocontinue 0,
    the return point first, then inclusion and exclusion shapes."""
    d = 0.002
    corners = [(lat - d, lon - d), (lat - d, lon + d), (lat + d, lon + d), (lat + d, lon - d)]
    polygon = tuple(
        MissionItem(
            command=MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            frame=MavFrame.GLOBAL,
            param1=4,
            x=to_e7(a),
            y=to_e7(b),
            autocontinue=0,
            mission_type=MissionType.FENCE,
        )
        for a, b in corners
    )
    triangle = tuple(
        MissionItem(
            command=MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            frame=MavFrame.GLOBAL,
            param1=3,
            x=to_e7(a),
            y=to_e7(b),
            autocontinue=0,
            mission_type=MissionType.FENCE,
        )
        for a, b in [(lat, lon), (lat + 0.0003, lon), (lat, lon + 0.0003)]
    )
    circle = MissionItem(
        command=MavCmd.NAV_FENCE_CIRCLE_EXCLUSION,
        frame=MavFrame.GLOBAL,
        param1=25.5,
        x=to_e7(lat + 0.001),
        y=to_e7(lon - 0.001),
        autocontinue=0,
        mission_type=MissionType.FENCE,
    )
    back = MissionItem(
        command=MavCmd.NAV_FENCE_RETURN_POINT,
        frame=MavFrame.GLOBAL,
        x=to_e7(lat),
        y=to_e7(lon),
        z=15,
        autocontinue=0,
        mission_type=MissionType.FENCE,
    )
    return (back, *polygon, *triangle, circle)


def _rally(lat: float, lon: float) -> tuple[MissionItem, ...]:
    return (
        MissionItem(
            command=MavCmd.NAV_RALLY_POINT,
            frame=MavFrame.GLOBAL_RELATIVE_ALT_INT,
            x=to_e7(lat + 0.0011),
            y=to_e7(lon + 0.0012),
            z=40,
            autocontinue=0,
            mission_type=MissionType.RALLY,
        ),
    )


def _stats(sorties: int) -> PlanStats:
    return PlanStats(
        length_m=850.0,
        flight_time_s=240.0,
        turns=6,
        photos=12,
        energy_wh=31.0,
        sorties=sorties,
        coverage_pct=0.0,
    )


def _plan(
    lat: float = 31.2304,
    lon: float = 121.4737,
    *,
    sorties: int = 1,
    footprints_wkt: str = "",
    items: tuple[MissionItem, ...] | None = None,
) -> MissionPlan:
    mission = items if items is not None else _patrol_items(lat, lon)
    sortie = Sortie(
        items=mission, route=_route_of(mission), length_m=850.0, flight_time_s=240.0, energy_wh=31.0
    )
    return MissionPlan(
        kind="broadcast",
        home_lon_deg=lon,
        home_lat_deg=lat,
        sorties=(sortie,) * sorties,
        fence_items=_fence(lat, lon),
        rally_items=_rally(lat, lon),
        stats=_stats(sorties),
        footprints_wkt=footprints_wkt,
    )


def _with_mission(items: tuple[MissionItem, ...]) -> MissionPlan:
    lat, lon = items[0].lat_deg, items[0].lon_deg
    return _plan(lat, lon, items=items)


# --- .plan --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(31.2304, 121.4737), (-33.8688, 151.2093), (-34.6037, -58.3816), (51.4779, -0.0015), (0.0, 0.0)],
)
def test_plan_round_trip_restores_mission_fence_and_rally_exactly(lat: float, lon: float) -> None:
    plan = _plan(lat, lon)
    imported = from_qgc_plan(dumps(plan))
    assert imported.items == plan.sorties[0].items
    assert imported.fence_items == plan.fence_items
    assert imported.rally_items == plan.rally_items


def test_plan_document_has_the_keys_qgroundcontrol_writes() -> None:
    document = to_qgc_plan(_plan(), cruise_speed_mps=12, hover_speed_mps=6.5)
    assert document["fileType"] == "Plan"
    assert document["groundStation"] == "QGroundControl"
    assert document["version"] == 1
    mission = document["mission"]
    assert set(mission) == {
        "cruiseSpeed",
        "firmwareType",
        "globalPlanAltitudeMode",
        "hoverSpeed",
        "items",
        "plannedHomePosition",
        "vehicleType",
        "version",
    }
    assert (mission["firmwareType"], mission["vehicleType"], mission["version"]) == (3, 2, 2)
    assert (mission["cruiseSpeed"], mission["hoverSpeed"]) == (12, 6.5)
    assert mission["globalPlanAltitudeMode"] == 1
    assert mission["plannedHomePosition"] == [31.2304, 121.4737, 42.5]
    waypoint = mission["items"][2]
    assert waypoint == {
        "AMSLAltAboveTerrain": None,
        "Altitude": 30,
        "AltitudeMode": 1,
        "autoContinue": True,
        "command": 16,
        "doJumpId": 3,
        "frame": 3,  # GLOBAL_RELATIVE_ALT, as QGroundControl writes it (6 on the wire)
        "params": [0, 0, 0, 0, 31.2308, 121.4737, 30],
        "type": "SimpleItem",
    }
    speed = mission["items"][1]
    assert "Altitude" not in speed and speed["params"][:3] == [1, 7.5, -1]
    digicam = mission["items"][5]
    assert digicam["params"][4] == 1  # DO_DIGICAM_CONTROL's x is the raw "shoot" flag, not a latitude
    fence = document["geoFence"]
    assert fence["version"] == 2
    assert [p["inclusion"] for p in fence["polygons"]] == [True, False]
    assert [len(p["polygon"]) for p in fence["polygons"]] == [4, 3]
    assert fence["polygons"][0]["polygon"][0] == [31.2284, 121.4717]
    assert fence["circles"] == [
        {"circle": {"center": [31.2314, 121.4727], "radius": 25.5}, "inclusion": False, "version": 1}
    ]
    assert fence["breachReturn"] == [31.2304, 121.4737, 15]
    assert document["rallyPoints"] == {"points": [[31.2315, 121.4749, 40]], "version": 2}


def test_plan_text_is_sorted_indented_json() -> None:
    text = dumps(_plan())
    assert text.endswith("}\n")
    assert json.loads(text) == to_qgc_plan(_plan())
    assert text == json.dumps(json.loads(text), indent=4, sort_keys=True) + "\n"


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


ODD_FLOATS = [0.1, 1 / 3, -0.0, 1e-45, 3.4028234663852886e38, -123456.789, 2.5e-8, 16777217.0]


def test_plan_writes_float32_params_in_their_shortest_form_and_restores_them() -> None:
    home = _home(-45.0, -170.0)
    items = (home, *(_do(MavCmd.CONDITION_YAW, value, -value, value / 3, 1) for value in ODD_FLOATS))
    plan = _with_mission(items)
    document = to_qgc_plan(plan)
    assert document["mission"]["items"][0]["params"][0] == 0.1  # not 0.10000000149011612
    assert from_qgc_plan(dumps(plan)).items == items
    assert [item.param1 for item in from_qgc_plan(dumps(plan)).items[1:]] == [_f32(v) for v in ODD_FLOATS]


def test_plan_writes_nan_as_null_and_reads_null_back_as_nan() -> None:
    items = (_home(10, 20), MissionItem(command=MavCmd.NAV_TAKEOFF, frame=REL, param4=math.nan, z=20))
    document = to_qgc_plan(_with_mission(items))
    assert document["mission"]["items"][0]["params"][3] is None
    imported = from_qgc_plan(json.dumps(document))
    assert math.isnan(imported.items[1].param4)
    assert imported.items[1].z == 20


def test_plan_home_travels_as_planned_home_position_only() -> None:
    odd_home = MissionItem(command=MavCmd.NAV_WAYPOINT, frame=REL, param1=3, x=to_e7(1.5), y=to_e7(2.5), z=7)
    imported = from_qgc_plan(dumps(_with_mission((odd_home, _wp(1.5001, 2.5)))))
    assert imported.items[0] == _home(1.5, 2.5, 7)


def test_plan_round_trip_holds_for_a_large_mission() -> None:
    items = (
        _home(22.5431, 114.0579),
        *(_wp(22.5431 + i * 1e-5, 114.0579 - i * 3e-6, 20 + i % 50) for i in range(3000)),
    )
    assert from_qgc_plan(dumps(_with_mission(items))).items == items


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(fileType="Mission"), "fileType"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d["mission"].update(version=1), "mission version"),
        (lambda d: d["mission"]["items"][0].update(type="ComplexItem", complexItemType="survey"), "survey"),
        (lambda d: d["mission"]["items"][0].update(params=[0, 0, 0]), "7 values"),
        (lambda d: d["mission"]["items"][0].update(command="16"), "command"),
        (lambda d: d["mission"]["items"][0].update(autoContinue=1), "autoContinue"),
        (lambda d: d["mission"]["items"][2]["params"].__setitem__(4, 95.0), "latitude"),
        (lambda d: d["mission"]["items"][2]["params"].__setitem__(0, 1e39), "float32"),
        (lambda d: d["mission"].update(plannedHomePosition=[1, 2]), "plannedHomePosition"),
        (lambda d: d["geoFence"]["polygons"][0].update(polygon=[[1, 2], [1, 3]]), "at least 3"),
        (lambda d: d["geoFence"]["circles"][0]["circle"].update(radius=0), "radius"),
        (lambda d: d["geoFence"].update(version=1), "geoFence version"),
        (lambda d: d["rallyPoints"]["points"].append([1, 2]), r"rallyPoints.points\[1\]"),
    ],
)
def test_plan_import_rejects_corrupt_documents_with_a_clear_error(mutate: Any, message: str) -> None:
    document = to_qgc_plan(_plan())
    mutate(document)
    with pytest.raises(ValueError, match=message):
        from_qgc_plan(json.dumps(document))


def test_plan_import_reports_where_the_json_breaks() -> None:
    text = dumps(_plan())
    with pytest.raises(ValueError, match=r"invalid JSON at line 9 column \d+"):
        from_qgc_plan(text.replace('"circles"', '"circles', 1))


def test_plan_export_refuses_what_the_format_cannot_hold() -> None:
    plan = _plan()
    absolute_rally = (
        MissionItem(command=MavCmd.NAV_RALLY_POINT, frame=MavFrame.GLOBAL, x=1, y=1, z=300, mission_type=2),
    )
    with pytest.raises(ValueError, match="rally item 0"):
        to_qgc_plan(MissionPlan(**{**_fields(plan), "rally_items": absolute_rally}))
    broken_polygon = plan.fence_items[:3]  # declares 4 vertices, carries 3
    with pytest.raises(ValueError, match="declares 4 vertices"):
        to_qgc_plan(MissionPlan(**{**_fields(plan), "fence_items": broken_polygon}))
    with pytest.raises(ValueError, match="sortie 1 does not exist"):
        to_qgc_plan(plan, 1)


def test_plan_keeps_a_mixed_fence_order_in_one_extra_key() -> None:
    plan = _plan()
    back, *polygons, circle = plan.fence_items
    canonical = to_qgc_plan(plan)["geoFence"]
    assert SHAPE_ORDER_KEY not in canonical
    mixed = (back, circle, *polygons)  # exclusion circle before the polygons, as set order may give
    mixed_plan = MissionPlan(**{**_fields(plan), "fence_items": mixed})
    document = to_qgc_plan(mixed_plan)
    assert document["geoFence"][SHAPE_ORDER_KEY] == ["return", "circle", "polygon", "polygon"]
    assert from_qgc_plan(dumps(mixed_plan)).fence_items == mixed
    del document["geoFence"][SHAPE_ORDER_KEY]  # as QGroundControl re-saves it: same shapes, canonical order
    assert from_qgc_plan(json.dumps(document)).fence_items == plan.fence_items
    document["geoFence"][SHAPE_ORDER_KEY] = ["return", "circle", "polygon"]
    with pytest.raises(ValueError, match=SHAPE_ORDER_KEY):
        from_qgc_plan(json.dumps(document))


def _fields(plan: MissionPlan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in MissionPlan.__dataclass_fields__}


# --- random items: .plan and WPL ------------------------------------------------------------

_float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)
_mission_items = st.builds(
    MissionItem,
    command=st.sampled_from(
        [16, 17, 18, 19, 20, 21, 22, 115, 178, 181, 183, 195, 203, 206, 216, 2000, 31337]
    ),
    frame=st.sampled_from([0, 2, 3, 5, 6, 10, 11]),
    param1=_float32s,
    param2=_float32s,
    param3=_float32s,
    param4=_float32s,
    x=st.integers(-900_000_000, 900_000_000),
    y=st.integers(-1_800_000_000, 1_800_000_000),
    z=_float32s,
    autocontinue=st.integers(0, 1),
)


@settings(max_examples=150, deadline=None)
@given(
    home_lat_e7=st.integers(-900_000_000, 900_000_000),
    home_lon_e7=st.integers(-1_800_000_000, 1_800_000_000),
    home_alt_m=_float32s,
    items=st.lists(_mission_items, max_size=25),
)
def test_random_missions_round_trip_exactly_through_plan_and_wpl(
    home_lat_e7: int, home_lon_e7: int, home_alt_m: float, items: list[MissionItem]
) -> None:
    home = MissionItem(command=16, frame=0, x=home_lat_e7, y=home_lon_e7, z=home_alt_m, autocontinue=1)
    mission = (home, *items)
    plan = _plan(items=mission)
    # files carry the float frames (0, 3, 10); an import brings every item back in the wire's _INT frame
    on_the_wire = (home, *(replace(item, frame=_WIRE_FRAME.get(item.frame, item.frame)) for item in items))
    assert from_qgc_plan(dumps(plan)).items == on_the_wire
    assert from_wpl(to_wpl(mission)) == on_the_wire


_WIRE_FRAME = {0: 5, 3: 6, 10: 11}
_FILE_FRAME = {5: 0, 6: 3, 11: 10}


@pytest.mark.parametrize("wire", [5, 6, 11])
def test_files_write_the_float_frame_that_qgc_and_mission_planner_write(wire: int) -> None:
    home = _home(47.3977, 8.5456)
    waypoint = MissionItem(command=MavCmd.NAV_WAYPOINT, frame=wire, x=to_e7(47.398), y=to_e7(8.546), z=30)
    plan = _plan(items=(home, waypoint))
    assert json.loads(dumps(plan))["mission"]["items"][0]["frame"] == _FILE_FRAME[wire]
    assert to_wpl(plan.sorties[0].items).splitlines()[2].split("\t")[2] == str(_FILE_FRAME[wire])


@pytest.mark.parametrize("file_frame", [0, 3, 5, 6, 10, 11])
def test_import_maps_both_frame_forms_to_the_wire_frame(file_frame: int) -> None:
    wire = _WIRE_FRAME.get(file_frame, file_frame)
    wpl = (
        "QGC WPL 110\n"
        "0\t1\t0\t16\t0\t0\t0\t0\t47.3977\t8.5456\t488\t1\n"
        f"1\t0\t{file_frame}\t16\t0\t0\t0\t0\t47.398\t8.546\t30\t1\n"
    )
    items = from_wpl(wpl)
    assert (items[0].frame, items[1].frame) == (MavFrame.GLOBAL, wire)
    document = json.loads(dumps(_plan(items=items)))
    document["mission"]["items"][0]["frame"] = file_frame
    assert from_qgc_plan(json.dumps(document)).items[1].frame == wire


# --- WPL ----------------------------------------------------------------------------------


def test_wpl_lines_are_tab_separated_with_home_current() -> None:
    items = _patrol_items(-33.8688, 151.2093)
    lines = to_wpl(items).splitlines()
    assert lines[0] == "QGC WPL 110"
    assert lines[1].split("\t") == [
        "0",
        "1",
        "0",
        "16",
        "0.0",
        "0.0",
        "0.0",
        "0.0",
        "-33.8688000",
        "151.2093000",
        "42.5",
        "1",
    ]
    assert lines[2].split("\t")[:4] == ["1", "0", "3", "22"]  # GLOBAL_RELATIVE_ALT, as Mission Planner writes
    assert all(line.split("\t")[1] == "0" for line in lines[2:])
    assert lines[7].split("\t")[8] == "1"  # DO_DIGICAM_CONTROL shoot flag, raw
    assert len(lines) == len(items) + 1


def test_wpl_round_trip_is_exact() -> None:
    items = _patrol_items(-34.6037, -58.3816)
    assert from_wpl(to_wpl(items)) == items


def test_wpl_reads_mission_planner_and_mavproxy_style_text() -> None:
    text = (
        "\ufeffQGC WPL 110\r\n"
        "0\t1\t0\t16\t0.000000\t0.000000\t0.000000\t0.000000\t-35.363262\t149.165237\t584.090000\t1\r\n"
        "# a comment\r\n"
        "\r\n"
        "1 0 3 22 0.000000 0.000000 0.000000 0.000000 0.000000 0.000000 20.000000 1\r\n"
        "2\t0\t3\t16\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t-35.36125110\t149.16502010\t20.000000\t1\r\n"
    )
    items = from_wpl(text)
    assert [item.command for item in items] == [16, 22, 16]
    assert (items[0].x, items[0].y, items[0].z) == (-353632620, 1491652370, _f32(584.09))
    assert (items[2].x, items[2].y) == (-353612511, 1491650201)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: empty"),
        ("QGC WPL 100\n", "line 1: expected the header"),
        ("not a mission\n", "line 1"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t1\t2\t3\n", "line 2: expected 12 fields, got 11"),
        (
            "QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t1\t2\t3\t1\n2\t0\t3\t16\t0\t0\t0\t0\t1\t2\t3\t1\n",
            "line 3: seq 2",
        ),
        ("QGC WPL 110\n0\t1\t0\tsixteen\t0\t0\t0\t0\t1\t2\t3\t1\n", "line 2: command"),
        ("QGC WPL 110\n0\t1\t0\t16\tabc\t0\t0\t0\t1\t2\t3\t1\n", "line 2: param1"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t91\t2\t3\t1\n", "line 2: x/y: latitude"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t1\t2\t3\t7\n", "line 2: autocontinue"),
        ("QGC WPL 110\n\n\n0\t1\t0\t203\t0\t0\t0\t0\t0.5\t0\t0\t1\n", "line 4: x/y"),
    ],
)
def test_wpl_import_names_the_bad_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_wpl(text)


def test_wpl_refuses_fence_and_rally_items() -> None:
    plan = _plan()
    with pytest.raises(ValueError, match="MISSION items only"):
        to_wpl((plan.sorties[0].items[0], *plan.fence_items))


# --- KMZ ----------------------------------------------------------------------------------


def _kmz_documents(data: bytes) -> tuple[zipfile.ZipFile, ET.Element, ET.Element]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    template = ET.fromstring(archive.read(TEMPLATE_PATH))
    waylines = ET.fromstring(archive.read(WAYLINES_PATH))
    return archive, template, waylines


def _wpml_ns(root: ET.Element) -> str:
    tags = {element.tag for element in root.iter() if isinstance(element.tag, str)}
    namespaces = {tag[1:].split("}")[0] for tag in tags if tag.startswith("{")}
    assert KML_NS in namespaces
    (wpml,) = namespaces - {KML_NS}
    assert wpml.startswith(WPML_NS_PREFIX)
    return wpml


def test_kmz_is_a_zip_of_template_and_waylines_in_the_dji_namespaces() -> None:
    archive, template, waylines = _kmz_documents(to_kmz(_plan()))
    assert archive.testzip() is None
    assert {TEMPLATE_PATH, WAYLINES_PATH} <= set(archive.namelist())
    for root in (template, waylines):
        assert root.tag == f"{{{KML_NS}}}kml"
        wpml = _wpml_ns(root)
        placemarks = root.findall(f".//{{{KML_NS}}}Placemark")
        assert len(placemarks) == 4  # the four positioned nav items; take-off and RTL are mission settings
        assert [p.findtext(f"{{{wpml}}}index") for p in placemarks] == ["0", "1", "2", "3"]
        assert root.findtext(f".//{{{wpml}}}finishAction") == "goHome"
        assert root.findtext(f".//{{{wpml}}}takeOffSecurityHeight") == "25"
        assert root.findtext(f".//{{{wpml}}}droneEnumValue") == "67"
    wpml = _wpml_ns(waylines)
    placemarks = waylines.findall(f".//{{{KML_NS}}}Placemark")
    first = placemarks[0]
    assert first.findtext(f"{{{KML_NS}}}Point/{{{KML_NS}}}coordinates") == "121.4737000,31.2308000"
    assert [p.findtext(f"{{{wpml}}}executeHeight") for p in placemarks] == ["30", "30", "35.5", "35.5"]
    assert [p.findtext(f"{{{wpml}}}waypointSpeed") for p in placemarks] == ["7.5"] * 4
    assert waylines.findtext(f".//{{{wpml}}}executeHeightMode") == "relativeToStartPoint"


def test_kmz_maps_loiter_camera_and_speaker_to_dji_actions() -> None:
    archive, _, waylines = _kmz_documents(to_kmz(_plan()))
    wpml = _wpml_ns(waylines)
    loiter = waylines.findall(f".//{{{KML_NS}}}Placemark")[1]
    groups = loiter.findall(f"{{{wpml}}}actionGroup")
    reach, by_distance = groups
    assert reach.findtext(f"{{{wpml}}}actionTrigger/{{{wpml}}}actionTriggerType") == "reachPoint"
    funcs = [a.findtext(f"{{{wpml}}}actionActuatorFunc") for a in reach.findall(f"{{{wpml}}}action")]
    assert funcs == ["hover", "takePhoto", "takePhoto"]  # hold 12 s, DIGICAM shot, TRIGG_DIST "trigger now"
    assert reach.findtext(f".//{{{wpml}}}hoverTime") == "12"
    assert by_distance.findtext(f"{{{wpml}}}actionTrigger/{{{wpml}}}actionTriggerType") == "multipleDistance"
    assert by_distance.findtext(f"{{{wpml}}}actionTrigger/{{{wpml}}}actionTriggerParam") == "12.3"
    assert (
        by_distance.findtext(f"{{{wpml}}}actionGroupStartIndex"),
        by_distance.findtext(f"{{{wpml}}}actionGroupEndIndex"),
    ) == ("1", "3")
    group_ids = [g.findtext(f"{{{wpml}}}actionGroupId") for g in waylines.iter(f"{{{wpml}}}actionGroup")]
    assert len(group_ids) == len(set(group_ids))
    notes = json.loads(archive.read(ANNOTATIONS_PATH))
    assert [(a["kind"], a["relay"], a["on"], a["waypoint_index"]) for a in notes["actions"]] == [
        ("relay", 0, True, 1),
        ("relay", 0, False, 3),
    ]
    assert b"aerogrid: relay 0 on (speaker)" in archive.read(WAYLINES_PATH)


def test_kmz_ends_with_auto_land_and_is_deterministic() -> None:
    lat, lon = 40.0, -105.0
    items = (
        _home(lat, lon),
        MissionItem(command=MavCmd.NAV_TAKEOFF, frame=REL, z=10),
        _wp(lat + 0.001, lon, 40),
        MissionItem(
            command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL, x=to_e7(lat + 0.002), y=to_e7(lon), z=92.5
        ),
        MissionItem(command=MavCmd.NAV_LAND, frame=REL, x=to_e7(lat + 0.003), y=to_e7(lon)),
    )
    data = to_kmz(_with_mission(items), speed_mps=9)
    assert data == to_kmz(_with_mission(items), speed_mps=9)
    _, _, waylines = _kmz_documents(data)
    wpml = _wpml_ns(waylines)
    assert waylines.findtext(f".//{{{wpml}}}finishAction") == "autoLand"
    heights = [p.findtext(f"{{{wpml}}}executeHeight") for p in waylines.iter(f"{{{KML_NS}}}Placemark")]
    assert heights == ["40", "50", "50"]  # absolute 92.5 m minus home 42.5 m; landing spot added at 50 m


def test_kmz_folds_a_speaker_hover_into_one_waypoint() -> None:
    lat, lon = 22.5431, 114.0579
    spot = _wp(lat + 0.001, lon, 40, hold_s=0)
    hover = MissionItem(command=MavCmd.NAV_LOITER_TIME, frame=REL, param1=20, x=spot.x, y=spot.y, z=40)
    items = (
        _home(lat, lon),
        MissionItem(command=MavCmd.NAV_TAKEOFF, frame=REL, z=40),
        _do(MavCmd.DO_CHANGE_SPEED, 1, 11, -1),
        spot,
        _do(MavCmd.DO_SET_RELAY, 2, 1),
        hover,
        _do(MavCmd.DO_SET_RELAY, 2, 0),
        _wp(lat + 0.002, lon, 40),
        _do(MavCmd.NAV_RETURN_TO_LAUNCH),
    )
    archive, _, waylines = _kmz_documents(to_kmz(_with_mission(items)))
    wpml = _wpml_ns(waylines)
    placemarks = waylines.findall(f".//{{{KML_NS}}}Placemark")
    assert len(placemarks) == 2
    assert (
        waylines.findtext(f".//{{{wpml}}}globalTransitionalSpeed") == "11"
    )  # speed set before the first leg
    funcs = [a.findtext(f"{{{wpml}}}actionActuatorFunc") for a in placemarks[0].iter(f"{{{wpml}}}action")]
    assert funcs == ["hover"]
    notes = json.loads(archive.read(ANNOTATIONS_PATH))["actions"]
    assert [(n["seq"], n["relay"], n["on"], n["waypoint_index"]) for n in notes] == [
        (4, 2, True, 0),
        (6, 2, False, 0),
    ]
    route = _route_of(items)
    one_hover_point = (*route[:2], replace(route[2], role="hover", hover_s=20, speaker_on=True), *route[4:])
    plan = MissionPlan(
        **{
            **_fields(_with_mission(items)),
            "sorties": (replace(_with_mission(items).sorties[0], route=one_hover_point),),
        }
    )
    points = [f["properties"] for f in to_geojson(plan)["features"] if f["properties"]["kind"] == "waypoint"]
    assert [(p["seq"], p["seqs"]) for p in points] == [(0, [0]), (1, [1]), (3, [3, 5]), (7, [7]), (8, [8])]


def test_kmz_refuses_what_a_dji_wayline_cannot_fly() -> None:
    lat, lon = 40.0, -105.0
    orbit = MissionItem(
        command=MavCmd.NAV_LOITER_TURNS, frame=REL, param1=2, x=to_e7(lat), y=to_e7(lon), z=30
    )
    with pytest.raises(ValueError, match="NAV_LOITER_TURNS"):
        to_kmz(_with_mission((_home(lat, lon), _wp(lat, lon + 0.001), orbit)))
    terrain = MissionItem(command=MavCmd.NAV_WAYPOINT, frame=MavFrame.GLOBAL_TERRAIN_ALT_INT, x=1, y=1, z=30)
    with pytest.raises(ValueError, match="frame 11"):
        to_kmz(_with_mission((_home(lat, lon), _wp(lat, lon + 0.001), terrain)))
    with pytest.raises(ValueError, match="at least 2"):
        to_kmz(_with_mission((_home(lat, lon), _wp(lat, lon + 0.001))))
    with pytest.raises(ValueError, match="15"):
        to_kmz(_plan(), speed_mps=20)


# --- GeoJSON ------------------------------------------------------------------------------


def _ring_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring)) / 2


def test_geojson_is_an_rfc7946_feature_collection() -> None:
    clockwise_square = "POLYGON ((121.47 31.23, 121.47 31.24, 121.48 31.24, 121.48 31.23, 121.47 31.23))"
    plan = _plan(footprints_wkt=clockwise_square, sorties=2)
    collection = to_geojson(plan)
    json.dumps(collection, allow_nan=False)
    assert collection["type"] == "FeatureCollection"
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        by_kind.setdefault(feature["properties"]["kind"], []).append(feature)
    assert by_kind["home"][0]["geometry"]["coordinates"] == [121.4737, 31.2304]
    routes = by_kind["route"]
    assert [r["properties"]["sortie"] for r in routes] == [0, 1]
    line = routes[0]["geometry"]
    assert line["type"] == "LineString"
    assert line["coordinates"][2] == [121.4737, 31.2308, 30.0]  # [lon, lat, alt]
    for feature in by_kind["footprints"] + by_kind["fence"]:
        for ring in feature["geometry"]["coordinates"]:
            assert ring[0] == ring[-1] and len(ring) >= 4
            assert _ring_area(ring) > 0  # counter-clockwise exterior
            assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
    shapes = [f["properties"]["shape"] for f in by_kind["fence"]]
    assert shapes == ["polygon", "polygon", "circle"]
    assert by_kind["fence"][2]["properties"]["radius_m"] == 25.5
    assert len(by_kind["fence_return"]) == 1 and len(by_kind["rally"]) == 1


def test_geojson_waypoints_carry_seq_command_role_and_payload_flags() -> None:
    collection = to_geojson(_plan())
    points = [f["properties"] for f in collection["features"] if f["properties"]["kind"] == "waypoint"]
    assert [(p["seq"], p["command"], p["role"]) for p in points] == [
        (0, "NAV_WAYPOINT", "home"),
        (1, "NAV_TAKEOFF", "takeoff"),
        (3, "NAV_WAYPOINT", "waypoint"),
        (4, "NAV_LOITER_TIME", "hover"),
        (8, "NAV_WAYPOINT", "waypoint"),
        (9, "NAV_WAYPOINT", "waypoint"),
        (12, "NAV_RETURN_TO_LAUNCH", "rtl"),
    ]
    loiter = points[3]
    assert (loiter["hover_s"], loiter["speaker_on"], loiter["camera_on"], loiter["sprayer_on"]) == (
        12,
        True,
        True,
        False,
    )


def test_geojson_rejects_corrupt_footprints() -> None:
    with pytest.raises(ValueError, match="WKT"):
        to_geojson(_plan(footprints_wkt="POLYGON ((1 2, 3"))


# --- package API --------------------------------------------------------------------------


def test_formats_cover_every_extension() -> None:
    assert set(FORMATS) == {".plan", ".waypoints", ".txt", ".geojson", ".kmz"}
    for ext in FORMATS:
        assert export_bytes(_plan(), ext)
    with pytest.raises(ValueError, match="unknown export format"):
        export_bytes(_plan(), ".gpx")


def test_write_export_writes_one_file_per_sortie(tmp_path: Path) -> None:
    plan = _plan(sorties=3)
    written = write_export(plan, tmp_path / "patrol.plan", ExportOptions(hover_speed_mps=4))
    assert [p.name for p in written] == ["patrol.s1.plan", "patrol.s2.plan", "patrol.s3.plan"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in written]
    assert read_mission(written[1]).items == plan.sorties[1].items
    assert json.loads(written[0].read_text())["mission"]["hoverSpeed"] == 4
    (geojson,) = write_export(plan, tmp_path / "patrol.geojson")
    assert geojson.name == "patrol.geojson"
    (single,) = write_export(_plan(), tmp_path / "one.waypoints")
    assert single.name == "one.waypoints"
    assert read_mission(single).items == _plan().sorties[0].items


def test_read_mission_takes_text_with_an_extension() -> None:
    plan = _plan()
    imported = read_mission(export_bytes(plan, ".plan").decode(), ".plan")
    assert (imported.items, imported.fence_items, imported.rally_items) == (
        plan.sorties[0].items,
        plan.fence_items,
        plan.rally_items,
    )
    assert read_mission(to_wpl(plan.sorties[0].items), "waypoints").fence_items == ()
    with pytest.raises(ValueError, match="export only"):
        read_mission("{}", ".kmz")
    with pytest.raises(ValueError, match="give ext"):
        read_mission("QGC WPL 110\n")
