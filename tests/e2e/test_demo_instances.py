"""`aerogrid demo --instances 2`: two service instances on the demo's one database, as a subprocess.

The drones' links are shared out between the instances; the page (and its live stream) on either
shows every drone, whichever instance links it. Stopped with SIGTERM, as a service manager stops it,
leaving no process behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from websockets.sync.client import connect

from app.db.embedded import postmaster_pid
from tests.e2e.test_demo import _demo_env, _wait_for

STATE_WITHIN_S = 15.0


def _two_free_ports() -> int:
    """A port P with P + 1 free too (the second instance listens on the next port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no two consecutive free ports")


def _linked_by(base_url: str, token: str, drone_ids: list[int]) -> set[int]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        return {d for d in drone_ids if client.get(f"/drones/{d}/state").json()["linked"]}


def _live_states_for(port: int, token: str, drone_id: int) -> list[dict[str, object]]:
    """States of ``drone_id`` received on one instance's /ws/live within STATE_WITHIN_S."""
    with connect(f"ws://127.0.0.1:{port}/ws/live", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(json.dumps({"type": "subscribe", "drones": [drone_id]}))
        deadline = time.monotonic() + STATE_WITHIN_S
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=STATE_WITHIN_S))
            if message["type"] == "state":
                states = [s for s in message["states"] if s["drone_id"] == drone_id]
                if states:
                    return states
    return []


def test_two_instances_share_the_fleet_and_each_streams_the_drones_the_other_links() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="aerogrid-demo-test-"))
    os.chmod(data_dir, 0o755)  # pgserver runs the server as its own user when we are root
    console_path = data_dir / "console.txt"
    port = _two_free_ports()
    command = [
        sys.executable, "-m", "app.cli", "demo",
        "--instances", "2", "--drones", "2",
        "--port", str(port), "--sim-base-port", "0", "--speedup", "10",
    ]  # fmt: skip
    with console_path.open("wb") as console:
        process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, env=_demo_env(data_dir), start_new_session=True
        )
    try:
        block = _wait_for(
            "start-up block",
            60.0,
            lambda: text if "Ctrl-C" in (text := console_path.read_text(encoding="utf-8")) else None,
            process=process,
        )
        token = re.search(r"operator token:\s+(\S+)", block)
        assert token, block
        pages = re.findall(r"page \((demo-\d)\):\s+(\S+)", block)
        assert [url for _, url in pages] == [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port + 1}/"]
        for _, url in pages:
            assert httpx.get(url, timeout=10.0).status_code == 200

        first = _linked_by(pages[0][1], token.group(1), [1, 2])
        second = _linked_by(pages[1][1], token.group(1), [1, 2])
        assert first and second and first.isdisjoint(second) and first | second == {1, 2}
        (linked_by_second,) = second
        states = _live_states_for(port, token.group(1), linked_by_second)
        assert states, f"instance 1's live stream carried no state of drone {linked_by_second}"

        watched = psutil.Process(process.pid).children(recursive=True)
        postmaster = postmaster_pid(data_dir / "pgdata")
        assert postmaster is not None
        watched.append(psutil.Process(postmaster))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(watched, timeout=10.0)
        assert alive == []
        assert console_path.read_text(encoding="utf-8").rstrip().endswith("stopped.")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        pid = postmaster_pid(data_dir / "pgdata")
        if pid is not None:
            psutil.Process(pid).kill()
        shutil.rmtree(data_dir, ignore_errors=True)
