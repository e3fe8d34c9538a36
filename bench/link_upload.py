"""Mission upload latency and throughput of app/link against a plain pymavlink baseline.

Usage: ``.venv/bin/python bench/link_upload.py [--sizes 5,50,200] [--repeats 5] [--loss 0.05]``

The simulated vehicle runs in its own process (``simulator.fleet.run_fleet``) so both ground
stations compete only with it, not with each other. For each mission size the same vehicle gets:

* ``baseline``: the textbook pymavlink loop (blocking ``recv_match`` on MISSION_REQUEST(_INT),
  answer with MISSION_ITEM_INT, stop at MISSION_ACK), no retries;
* ``link``: ``VehicleLink.upload_mission`` (request handling, ACK/readback verification, retries).

A final row uploads the largest size through ``LossyUdpProxy`` at ``--loss`` each way with
app/link only (the baseline has no recovery and would hang). Durations are medians over
``--repeats``. Ends with one ``RESULT`` line (DESIGN.md convention 10).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # imported after MAVLINK20 is set, so it picks the v2 dialect

from app.link.manager import LinkManager
from missions.items import MavCmd, MissionItem
from simulator.lossy_proxy import LossyUdpProxy

HOME_LON_DEG, HOME_LAT_DEG = 120.1690, 30.2590
BASELINE_SYSID = 253


@dataclass(frozen=True, slots=True)
class Row:
    client: str
    items: int
    loss: float
    median_ms: float
    p90_ms: float

    @property
    def items_per_s(self) -> float:
        return self.items / (self.median_ms / 1000.0)


def mission(count: int) -> list[MissionItem]:
    lat_e7, lon_e7 = round(HOME_LAT_DEG * 1e7), round(HOME_LON_DEG * 1e7)
    items = [MissionItem(command=MavCmd.NAV_WAYPOINT, x=lat_e7, y=lon_e7)]
    items += [
        MissionItem(command=MavCmd.NAV_WAYPOINT, x=lat_e7 + 20 * (i // 20), y=lon_e7 + 20 * (i % 20), z=30.0)
        for i in range(1, count)
    ]
    return items


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_vehicle(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import asyncio; from simulator.fleet import run_fleet; "
        f"asyncio.run(run_fleet(1, {port}, {HOME_LON_DEG}, {HOME_LAT_DEG}))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def baseline_upload(conn: mavutil.mavfile, items: list[MissionItem]) -> float:
    """Seconds for one textbook pymavlink upload; raises TimeoutError when the vehicle goes quiet."""
    started_s = time.perf_counter()
    conn.mav.mission_count_send(target_system=1, target_component=1, count=len(items), mission_type=0)
    while True:
        msg = conn.recv_match(
            type=["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"], blocking=True, timeout=5
        )
        if msg is None:
            raise TimeoutError("baseline: vehicle stopped answering")
        if msg.get_type() == "MISSION_ACK":
            if msg.target_system != BASELINE_SYSID:
                continue
            if msg.type != 0:
                raise RuntimeError(f"baseline: upload rejected with {msg.type}")
            return time.perf_counter() - started_s
        if msg.target_system != BASELINE_SYSID:
            continue
        item = items[msg.seq]
        conn.mav.mission_item_int_send(
            target_system=1,
            target_component=1,
            seq=msg.seq,
            frame=item.frame,
            command=item.command,
            current=0,
            autocontinue=item.autocontinue,
            param1=item.param1,
            param2=item.param2,
            param3=item.param3,
            param4=item.param4,
            x=item.x,
            y=item.y,
            z=item.z,
            mission_type=0,
        )


def run_baseline(port: int, sizes: list[int], repeats: int) -> list[Row]:
    conn = mavutil.mavlink_connection(
        f"udpout:127.0.0.1:{port}", source_system=BASELINE_SYSID, dialect="ardupilotmega"
    )
    conn.mav.heartbeat_send(type=6, autopilot=8, base_mode=0, custom_mode=0, system_status=4)
    if conn.wait_heartbeat(timeout=10) is None:
        raise TimeoutError("baseline: no HEARTBEAT from the vehicle")
    rows = []
    for size in sizes:
        items = mission(size)
        durations = [baseline_upload(conn, items) for _ in range(repeats)]
        rows.append(_row("baseline", size, 0.0, durations))
    conn.close()
    return rows


async def run_link(port: int, sizes: list[int], repeats: int, loss: float) -> list[Row]:
    rows = []
    async with LinkManager() as manager:
        vehicle = await manager.add_drone("bench", f"udpout:127.0.0.1:{port}", 1)
        await vehicle.wait_online(10.0)
        for size in sizes:
            items = mission(size)
            durations = [(await vehicle.upload_mission(items)).duration_s for _ in range(repeats)]
            rows.append(_row("link", size, 0.0, durations))
        await manager.remove_drone("bench")
        if loss > 0:
            size = max(sizes)
            async with LossyUdpProxy(
                "127.0.0.1", 0, "127.0.0.1", port, loss_up=loss, loss_down=loss, seed=7
            ) as proxy:
                vehicle = await manager.add_drone("bench-lossy", f"udpout:127.0.0.1:{proxy.port}", 1)
                await vehicle.wait_online(10.0)
                items = mission(size)
                durations = [
                    (await vehicle.upload_mission(items, attempts=5)).duration_s for _ in range(repeats)
                ]
                rows.append(_row("link", size, loss, durations))
    return rows


def _row(client: str, items: int, loss: float, durations_s: list[float]) -> Row:
    ordered = sorted(durations_s)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return Row(client, items, loss, statistics.median(ordered) * 1000, p90 * 1000)


def report(rows: list[Row], command: str) -> str:
    lines = [
        f"command: {command}",
        "",
        "| client   | items | loss | median ms | p90 ms | items/s | link / baseline |",
        "|----------|------:|-----:|----------:|-------:|--------:|----------------:|",
    ]
    baseline = {r.items: r for r in rows if r.client == "baseline"}
    for r in rows:
        base = baseline.get(r.items)
        ratio = f"{r.median_ms / base.median_ms:.2f}" if base and r.client == "link" and r.loss == 0 else "-"
        lines.append(
            f"| {r.client:<8} | {r.items:>5} | {r.loss:>4.0%} | {r.median_ms:>9.1f} | {r.p90_ms:>6.1f} "
            f"| {r.items_per_s:>7.0f} | {ratio:>15} |"
        )
    largest = max(r.items for r in rows)
    link = next(r for r in rows if r.client == "link" and r.items == largest and r.loss == 0)
    base = baseline[largest]
    lossy = [r for r in rows if r.loss > 0]
    result = (
        f"RESULT upload_{largest}_ms={link.median_ms:.1f} link_items_per_s={link.items_per_s:.0f} "
        f"baseline_{largest}_ms={base.median_ms:.1f} ratio={link.median_ms / base.median_ms:.2f}"
    )
    if lossy:
        result += f" lossy_{lossy[0].loss * 100:.0f}pct_{largest}_ms={lossy[0].median_ms:.0f}"
    return "\n".join([*lines, "", result, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="5,50,200", help="mission sizes, comma separated (default 5,50,200)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="uploads per size and client (default 5)")
    parser.add_argument(
        "--loss", type=float, default=0.05, help="loss each way for the lossy row (default 0.05)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    port = free_udp_port()
    vehicle = start_vehicle(port)
    try:
        time.sleep(1.0)
        rows = run_baseline(port, sizes, args.repeats)
        rows += asyncio.run(run_link(port, sizes, args.repeats, args.loss))
    finally:
        vehicle.terminate()
        vehicle.wait(10)
    sys.stdout.write(report(rows, " ".join(["python", *sys.argv])))


if __name__ == "__main__":
    main()
