"""The container image, checked without a Docker engine (none runs on these machines).

What can be checked without building the image: the Dockerfile's final stage runs a non-root numeric
user that the image creates and that owns the data volume; the wheel the build stage makes carries every
data file the service loads at run time (migrations, the sample district, the command-center page); and
the image's command, with the image's environment, starts as a plain process and answers the image's own
HEALTHCHECK. The Dockerfile's lint (hadolint) runs in `.ci/run`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.procs import free_tcp_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "missions", "geofences", "simulator")
START_TIMEOUT_S = 90.0


@dataclass
class FinalStage:
    """The instructions of the Dockerfile's last stage that say how the container runs."""

    user: str = ""
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    run_lines: list[str] = field(default_factory=list)
    copied_sources: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(keyword, argument) pairs with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(kw.upper(), rest.strip()) for kw, _, rest in (line.partition(" ") for line in joined)]


def _exec_form(argument: str) -> list[str]:
    value = json.loads(argument)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), argument
    return value


def parse_dockerfile(path: Path) -> tuple[FinalStage, list[str]]:
    """The final stage, and the COPY sources of every stage (the files the build reads)."""
    stage = FinalStage()
    sources: list[str] = []
    for keyword, argument in _instructions(path.read_text()):
        if keyword == "FROM":
            stage = FinalStage()
        elif keyword == "USER":
            stage.user = argument
        elif keyword == "ENV":
            for pair in shlex.split(argument):
                name, _, value = pair.partition("=")
                stage.env[name] = value
        elif keyword == "CMD":
            stage.cmd = _exec_form(argument)
        elif keyword == "HEALTHCHECK":
            stage.healthcheck = _exec_form(argument.split(" CMD ", 1)[1])
        elif keyword == "RUN":
            stage.run_lines.append(argument)
        elif keyword == "COPY" and "--from=" not in argument:
            sources.extend(shlex.split(argument)[:-1])
    return stage, sources


@pytest.fixture(scope="module")
def dockerfile() -> tuple[FinalStage, list[str]]:
    return parse_dockerfile(ROOT / "Dockerfile")


def test_the_image_runs_as_a_numeric_non_root_user_that_it_creates_and_that_owns_the_data_volume(
    dockerfile: tuple[FinalStage, list[str]],
) -> None:
    stage, _ = dockerfile
    assert stage.user.isdigit() and int(stage.user) != 0, f"USER {stage.user!r}: numeric and not root"
    useradd = [r for r in stage.run_lines if "useradd" in r]
    assert useradd and f"--uid {stage.user}" in useradd[0], "the image creates the user it runs as"
    data_dir = stage.env["AEROGRID_DATA_DIR"]
    assert any(f"chown aerogrid {data_dir}" in r or f"chown {stage.user} {data_dir}" in r for r in stage.run_lines)
    assert stage.cmd == ["aerogrid", "serve"]


def test_the_build_copies_every_package_and_the_files_pip_needs(dockerfile: tuple[FinalStage, list[str]]) -> None:
    _, sources = dockerfile
    for needed in (*PACKAGES, "pyproject.toml", "README.md"):
        assert needed in sources, f"the build stage does not COPY {needed}"


def test_the_wheel_carries_every_data_file_the_packages_load(tmp_path: Path) -> None:
    # Built as the image's build stage does (pip wheel, isolated build), from the files git tracks only,
    # in a copy so the build leaves nothing in the working tree.
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES, "pyproject.toml", "README.md"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    source = tmp_path / "src"
    for relative in tracked:
        if (ROOT / relative).exists():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, source / relative)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("aerogrid-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    tracked = [p for p in tracked if p.split("/")[0] in PACKAGES and (ROOT / p).exists()]
    data_files = [p for p in tracked if not p.endswith(".py")]
    assert data_files, "git ls-files found none of the packages' data files"
    missing = [p for p in data_files if p not in in_wheel]
    assert not missing, f"left out of the wheel (add to [tool.setuptools.package-data]): {missing}"
    assert not [p for p in tracked if p.endswith(".py") and p not in in_wheel]


def _healthcheck_command(stage: FinalStage, port: int) -> list[str]:
    """The image's HEALTHCHECK, pointed at ``port`` (the test cannot own port 8000 on a shared machine)."""
    image_port = stage.env["AEROGRID_PORT"]
    command = [part.replace(f":{image_port}/", f":{port}/") for part in stage.healthcheck]
    assert command != stage.healthcheck, "the HEALTHCHECK probes the image's port"
    command[0] = sys.executable if command[0] == "python" else command[0]
    return command


def test_the_image_command_with_the_image_environment_serves_and_passes_its_healthcheck(
    dockerfile: tuple[FinalStage, list[str]], tmp_path: Path
) -> None:
    stage, _ = dockerfile
    port = free_tcp_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o777)  # as root, the embedded PostgreSQL runs as its own system user
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEROGRID_") and k != "DATABASE_URL"}
    env |= stage.env | {"AEROGRID_PORT": str(port), "AEROGRID_DATA_DIR": str(data_dir)}
    executable = shutil.which(stage.cmd[0], path=str(Path(sys.executable).parent))
    assert executable, f"{stage.cmd[0]} is not installed beside {sys.executable}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([executable, *stage.cmd[1:]], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        check = _healthcheck_command(stage, port)
        while True:
            assert proc.poll() is None, f"aerogrid serve exited: {log_path.read_text()[-2000:]}"
            if subprocess.run(check, capture_output=True, timeout=10).returncode == 0:
                break
            assert time.monotonic() < deadline, f"healthcheck never passed: {log_path.read_text()[-2000:]}"
            time.sleep(0.5)
        first_line = log_path.read_text().splitlines()[0]
        assert json.loads(first_line)["level"], "AEROGRID_LOG_JSON=true: the log is JSON lines"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn re-raises SIGTERM once it has shut down, so the status is the signal's (Docker shows 143).
    assert proc.returncode in (0, -signal.SIGTERM), log_path.read_text()[-2000:]
    assert "Application shutdown complete" in log_path.read_text()
    assert not list(data_dir.rglob("postmaster.pid")), "the embedded PostgreSQL was left running"
