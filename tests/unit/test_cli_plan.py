"""`aerogrid plan` on the sample district files: statistics printed, exports written and readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from geofences.sample import GRIDS_PATH, ZONES_PATH
from missions.export import read_mission

ARGS = ["plan", str(GRIDS_PATH), "--grid", "HB-01-01", "--home", "120.54,31.49", "--fences", str(ZONES_PATH)]


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


def test_plan_above_ceiling_exits_3_listing_violations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main([*ARGS, "--kind", "perimeter", "--alt-m", "150"])
    out = capsys.readouterr().out
    assert rc == 3
    assert "VIOLATION" in out and "above_ceiling" in out


def test_unknown_grid_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS[:3], "NOPE", *ARGS[4:], "--kind", "coverage"]) == 2
    assert "no grid NOPE" in capsys.readouterr().err
