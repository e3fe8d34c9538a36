"""`aerogrid demo --instances 2`: two service instances on the demo's one database, as a subprocess.

The drones' links are shared out between the instances; the page (and its live stream) on either
shows every drone, whichever instance links it. Stopped with SIGTERM, as a service manager stops it,
leaving no process behind.
"""

from __future__ import annotations

import json
import re
import signal
import time

import httpx
import psutil
from websockets.sync.client import connect

from app.api.forward import HOP_HEADER
from app.db.embedded import postmaster_pid
from tests.procs import DemoProcess, free_tcp_port_pair

STATE_WITHIN_S = 15.0


def _linked_by(base_url: str, token: str, drone_ids: list[int]) -> set[int]:
    """The drones this instance links itself: the hop header keeps it from routing the state read
    to the other instance (it answers 503 drone_link_moving for a drone it does not link)."""
    headers = {"Authorization": f"Bearer {token}", HOP_HEADER: "test"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        states = {d: client.get(f"/drones/{d}/state") for d in drone_ids}
    return {d for d, r in states.items() if r.status_code == 200 and r.json()["linked"]}


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
    port = free_tcp_port_pair()
    demo = DemoProcess(
        "--instances", "2", "--drones", "2", "--port", str(port), "--sim-base-port", "0", "--speedup", "10"
    )
    process, data_dir, console_path = demo.proc, demo.data_dir, demo.console_path
    try:
        block = demo.start_up_block(60.0)
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
        demo.destroy()
