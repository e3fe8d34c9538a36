"""The SITL launcher: its command line always, a real ArduCopter SITL only when one is installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.sitl import SITL_BINARY_ENV, SitlInstance, find_copter_defaults, find_sitl_binary


def test_command_line_matches_the_usual_sitl_start(tmp_path: Path) -> None:
    tree = tmp_path / "ardupilot"
    binary = tree / "build" / "sitl" / "bin" / "arducopter"
    defaults = tree / "Tools" / "autotest" / "default_params" / "copter.parm"
    binary.parent.mkdir(parents=True)
    defaults.parent.mkdir(parents=True)
    binary.write_text("")
    defaults.write_text("")
    sitl = SitlInstance(binary, instance=2, home=(31.2304, 121.4737, 5.0, 90.0), speedup=10, sysid=3)
    assert sitl.tcp_port == 5780
    assert sitl.command_line() == [
        str(binary),
        "--model",
        "+",
        "--instance",
        "2",
        "--home",
        "31.2304000,121.4737000,5.00,90.0",
        "--speedup",
        "10",
        "--wipe",
        "--defaults",
        str(defaults.resolve()),
        "--sysid",
        "3",
    ]
    assert find_copter_defaults(binary) == defaults.resolve()


def test_find_sitl_binary_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "arducopter"
    binary.write_text("#!/bin/sh\n")
    monkeypatch.setenv(SITL_BINARY_ENV, str(binary))
    assert find_sitl_binary() is None  # not executable
    binary.chmod(0o755)
    assert find_sitl_binary() == binary
    monkeypatch.setenv(SITL_BINARY_ENV, str(tmp_path / "missing"))
    assert find_sitl_binary() is None


@pytest.mark.sitl
async def test_real_sitl_becomes_ready() -> None:
    binary = find_sitl_binary()
    if binary is None:
        pytest.skip(f"no ArduPilot SITL: set {SITL_BINARY_ENV} or put arducopter on PATH")
    speedup = float(os.environ.get("AEROGRID_SITL_SPEEDUP", "10"))
    async with SitlInstance(binary, instance=0, speedup=speedup) as sitl:
        await sitl.wait_ready(timeout_s=120.0)
