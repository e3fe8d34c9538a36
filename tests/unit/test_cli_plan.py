"""`aerogrid plan` on the sample district files: statistics printed, exports written and readable,
no export written when any is refused, --crs applied to --home, plain polygon files planned."""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path

import pytest
from shapely.geometry import mapping, shape

from app import cli_plan
from geofences.crs import CoordinateSystem, from_wgs84_geometry, wgs84_to_gcj02
from geofences.sample import GRIDS_PATH, ZONES_PATH
from missions.export import read_mission
from missions.export.geoid import egm96_undulation_m

HOME = (120.54, 31.49)
ARGS = [str(GRIDS_PATH), "--grid", "HB-01-01", "--home", "120.54,31.49", "--fences", str(ZONES_PATH)]


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aerogrid plan")
    cli_plan.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """`aerogrid plan ARGV` (the subcommand's own parser and run, as app.cli wires them)."""
    return cli_plan.run(_args(argv))


def test_coverage_plan_prints_stats_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wpl, plan = tmp_path / "route.waypoints", tmp_path / "route.plan"
    rc = main(
        [
            *ARGS,
            "--kind",
            "coverage",
            "--swath-m",
            "40",
            "--alt-m",
            "60",
            "--export",
            str(wpl),
            "--export",
            str(plan),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("coverage plan: 1 sortie(s)")
    coverage_pct = float(next(line for line in out.splitlines() if line.startswith("  coverage ")).split()[1])
    assert coverage_pct >= 99.5
    from_wpl, from_plan = read_mission(wpl).items, read_mission(plan).items
    assert len(from_wpl) > 5 and from_wpl[1:] == from_plan[1:]  # same items; home is rebuilt per format


def test_plan_above_ceiling_exits_3_listing_violations(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([*ARGS, "--kind", "perimeter", "--alt-m", "150"])
    out = capsys.readouterr().out
    assert rc == 3
    assert "VIOLATION" in out and "above_ceiling" in out


def test_unknown_grid_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS[:2], "NOPE", *ARGS[3:], "--kind", "coverage"]) == 2
    assert "no grid NOPE" in capsys.readouterr().err


# --- every export checked before any is written -------------------------------------------------

# HB-01-06 is heard from one hover point: a one-waypoint route, which a DJI wayline cannot be.
ONE_HOVER = [str(GRIDS_PATH), "--grid", "HB-01-06", "--home", "120.54,31.49", "--kind", "broadcast"]


def test_a_refused_kmz_leaves_no_other_export_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = [tmp_path / "a.plan", tmp_path / "a.geojson", tmp_path / "a.kmz", tmp_path / "a.waypoints"]
    rc = main([*ONE_HOVER, *(arg for t in targets for arg in ("--export", str(t)))])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"--export {targets[2]}: sortie 0 has 1 waypoint(s); a DJI wayline needs at least 2" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [("route.shp", "unknown export format '.shp'"), ("missing/route.plan", "no such directory")],
)
def test_an_unknown_format_or_missing_directory_writes_nothing(
    bad: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [*ARGS, "--kind", "perimeter", "--export", str(tmp_path / "ok.plan"), "--export", str(tmp_path / bad)]
    )
    assert rc == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_same_file_named_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = str(tmp_path / "route.plan")
    assert main([*ARGS, "--kind", "perimeter", "--export", target, "--export", target]) == 2
    assert "would be written twice" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- --crs applies to --home ------------------------------------------------------------------------


def _gcj02_grids(tmp_path: Path) -> Path:
    """The sample grids as a GCJ-02 map shows them (what a user copies from Gaode)."""
    document = json.loads(GRIDS_PATH.read_text(encoding="utf-8"))
    for feature in document["features"]:
        feature["geometry"] = mapping(from_wgs84_geometry(shape(feature["geometry"]), CoordinateSystem.GCJ02))
    path = tmp_path / "grids-gcj02.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_crs_converts_home_with_the_files(tmp_path: Path) -> None:
    home_gcj = "{},{}".format(*wgs84_to_gcj02(*HOME))
    common = ["--grid", "HB-01-01", "--kind", "perimeter", "--crs", "GCJ02"]
    plan = cli_plan.build_plan(_args([str(_gcj02_grids(tmp_path)), *common, "--home", home_gcj]))
    reference = cli_plan.build_plan(_args([*ARGS, "--kind", "perimeter"]))
    assert (plan.home_lon_deg, plan.home_lat_deg) == pytest.approx(HOME, abs=1e-9)
    assert [i.x for i in plan.sorties[0].items] == pytest.approx(
        [i.x for i in reference.sorties[0].items], abs=2
    )
    assert [i.y for i in plan.sorties[0].items] == pytest.approx(
        [i.y for i in reference.sorties[0].items], abs=2
    )


def test_home_crs_keeps_a_wgs84_home_beside_gcj02_files(tmp_path: Path) -> None:
    argv = [str(_gcj02_grids(tmp_path)), "--grid", "HB-01-01", "--kind", "perimeter", "--crs", "GCJ02"]
    plan = cli_plan.build_plan(_args([*argv, "--home", "120.54,31.49", "--home-crs", "WGS84"]))
    assert (plan.home_lon_deg, plan.home_lat_deg) == pytest.approx(HOME, abs=1e-9)


# --- plain FeatureCollections of polygons ------------------------------------------------------


def _plain_polygons(tmp_path: Path, properties: list[dict[str, object] | None]) -> Path:
    """Sample grid boundaries with only the given properties (None: GeoJSON null)."""
    features = json.loads(GRIDS_PATH.read_text(encoding="utf-8"))["features"]
    document = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": feature["geometry"], "properties": props}
            for feature, props in zip(features, properties, strict=False)
        ],
    }
    path = tmp_path / "plain.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("properties", "grid"),
    [
        ([{"code": "park"}, {"code": "school"}], "school"),
        ([{"code": 7}, {"code": 8}], "8"),
        ([None, {}], "1"),  # no code: the feature's index
    ],
)
def test_plain_polygons_plan_by_code_or_index(
    properties: list[dict[str, object] | None], grid: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _plain_polygons(tmp_path, properties)
    rc = main([str(path), "--grid", grid, "--home", "120.54,31.49", "--kind", "coverage", "--swath-m", "40"])
    out = capsys.readouterr().out
    assert rc == 0, out
    reference = cli_plan.build_plan(
        _args([*ARGS[:1], "--grid", "HB-01-02", *ARGS[3:5], "--kind", "coverage"])
    )
    assert f"{reference.stats.length_m:10.0f} m" in out  # the second sample grid, planned as such


def test_plain_polygons_with_a_clashing_code_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _plain_polygons(tmp_path, [{"code": "1"}, None])  # feature 1 is named "1" by its index
    assert main([str(path), "--grid", "1", "--home", "120.54,31.49", "--kind", "perimeter"]) == 2
    assert "duplicate code '1'" in capsys.readouterr().err


# --- .kmz heights ---------------------------------------------------------------------------------


def _ellipsoid_minus_height_m(kmz: Path) -> set[float]:
    template = zipfile.ZipFile(kmz).read("wpmz/template.kml").decode()
    ellipsoid = [float(v) for v in re.findall(r"<wpml:ellipsoidHeight>([^<]+)<", template)]
    height = [float(v) for v in re.findall(r"<wpml:height>([^<]+)<", template)]
    assert len(ellipsoid) == len(height) > 2
    return {round(e - h, 3) for e, h in zip(ellipsoid, height, strict=True)}


def test_kmz_ellipsoid_heights_take_home_altitude_and_undulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kmz = tmp_path / "route.kmz"
    heights = ["--home-alt-m", "3.5", "--geoid-undulation-m", "9.75"]
    assert main([*ARGS, "--kind", "perimeter", *heights, "--export", str(kmz)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert _ellipsoid_minus_height_m(kmz) == {13.25}


def test_kmz_without_an_undulation_warns_when_proj_has_no_geoid_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kmz = tmp_path / "route.kmz"
    assert main([*ARGS, "--kind", "perimeter", "--export", str(kmz)]) == 0
    warned = "geoid undulation of 0 m" in capsys.readouterr().err
    grid_n = egm96_undulation_m(*HOME)
    assert warned == (grid_n is None)
    assert _ellipsoid_minus_height_m(kmz) == {round(grid_n or 0.0, 3)}
