"""`aerogrid plan --kind spray|inspect|checkpoint` on the sample sites: statistics and every export."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from app.cli import main
from geofences.sample import SITES_PATH, ZONES_PATH
from missions.export import read_mission
from missions.items import MavCmd

ARGS = ["plan", "--sites", str(SITES_PATH), "--fences", str(ZONES_PATH), "--home", "120.54,31.49"]
FIELD = ["--alt-m", "30", "--speed-mps", "5", "--battery-wh", "180"]


def stat(out: str, name: str) -> float:
    return float(next(line for line in out.splitlines() if line.split()[:1] == [name]).split()[1])


@pytest.mark.parametrize(
    ("kind", "extra", "command"),
    [
        ("spray", ["--sprayer", "10,1.5,5"], MavCmd.DO_SPRAYER),
        ("inspect", ["--photo-step-deg", "45"], MavCmd.DO_SET_ROI_LOCATION),
        ("checkpoint", ["--order", "optimised"], MavCmd.NAV_LOITER_TIME),
    ],
)
def test_field_kind_plans_print_stats_and_export_every_format(
    kind: str, extra: list[str], command: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = [tmp_path / f"{kind}{ext}" for ext in (".plan", ".waypoints", ".geojson", ".kmz")]
    rc = main([*ARGS, "--kind", kind, *FIELD, *extra, *(a for t in targets for a in ("--export", str(t)))])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith(f"{kind} plan: ")
    sorties = int(out.split()[2])
    plans = sorted(tmp_path.glob("*.plan"))
    wpls = sorted(tmp_path.glob("*.waypoints"))
    assert len(plans) == len(wpls) == len(list(tmp_path.glob("*.kmz"))) == sorties
    for plan_file, wpl_file in zip(plans, wpls, strict=True):
        items = read_mission(wpl_file).items
        assert items[1:] == read_mission(plan_file).items[1:]
        assert any(i.command == command for i in items)
    geojson = json.loads((tmp_path / f"{kind}.geojson").read_text(encoding="utf-8"))
    assert sum(f["properties"]["kind"] == "route" for f in geojson["features"]) == sorties
    for kmz in tmp_path.glob("*.kmz"):
        assert "wpmz/waylines.wpml" in zipfile.ZipFile(kmz).namelist()
    if kind == "spray":
        assert stat(out, "litres") > 0 and stat(out, "sprayed_area_m2") > 0
        assert stat(out, "coverage") >= 99.0
    elif kind == "inspect":
        assert stat(out, "photos") == 5 * 8
    else:
        assert out.count("  arrival HB-CP-") == 6


def test_site_and_grid_pick_the_sites(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--kind", "checkpoint", "--site", "HB-CP-01", "--grid", "HB-05-02"]) == 0
    out = capsys.readouterr().out
    assert "arrival HB-CP-01" in out and "arrival HB-CP-03" in out and out.count("  arrival ") == 2


def test_field_kind_errors_name_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--kind", "spray", "--home", "120.54,31.49"]) == 2
    assert "--sites" in capsys.readouterr().err
    assert main([*ARGS, "--kind", "inspect", "--site", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert main(["plan", "--kind", "coverage", "--home", "120.54,31.49"]) == 2
    assert "--grid" in capsys.readouterr().err
