"""Telemetry ingest end to end: UDP datagrams -> links -> ingest -> grid attribution -> PostgreSQL.

Usage: ``.venv/bin/python bench/ingest.py [--drones 1000] [--seconds 60] [--burst-seconds 10]
[--burst-rate 55000] [--no-detectors]``
(PostgreSQL from ``DATABASE_URL``, else an embedded server in a temporary directory).

A load generator (a separate process, so it does not share the service's core) sends MAVLink 2
streams for N drones over UDP on 127.0.0.1, one datagram per drone per 100 ms tick holding the
messages due in it (as ArduPilot's buffered UDP output does): GLOBAL_POSITION_INT at
``--position-hz`` (10), ATTITUDE at ``--attitude-hz`` (10), SYS_STATUS, GPS_RAW_INT,
BATTERY_STATUS, VFR_HUD and MISSION_CURRENT at ``--status-hz`` (2), HEARTBEAT at 1 Hz.
The generator encodes the whole phase before it starts sending (each position with its own time
since boot, so every one is a distinct row); positions wander over a 20 x 20 block of grids (and
off it). Drones are spread over links of 250 system ids each.

The service side is the real code in this process: ``LinkManager`` (fast-path and pymavlink
decoding, vehicle state), ``TelemetryIngest`` with its defaults (5,000 rows / 200 ms batches), the
alert ``DetectorRunner`` with its defaults (every detector family on every drone, against an
inclusion area over all drones and one exclusion zone some of them cross; ``--no-detectors`` leaves
it out, as runs before 2026-12-07 23:00 did) and the live hub serving one WebSocket client, on real
PostgreSQL.

Phases, in this order and the same run:

* ``sustain``: real-time pacing for ``--seconds``: the messages/s offered and ingested, positions
  sent vs stored (``lost``), and datagram -> row-committed latency p50/p99.
* ``burst``: ``--burst-seconds`` of the drones' ticks offered at ``--burst-rate`` messages/s (paced,
  55,000 by default; 0 sends unpaced as before): the end-to-end ingest rate is the messages the
  service decoded over the time until the last one; lost positions counted (when the service cannot
  keep up the kernel drops datagrams: reported, not hidden). "Every position stored at >= 50,000
  msgs/s" is ``ingest_msgs_per_s >= 50000`` with ``burst_lost=0``.
* baselines: pymavlink's raw ``parse_buffer`` over the same datagrams (one core, no I/O) and a raw
  ``copy_records_to_table`` of the same stored rows into an unindexed unlogged table.

Ends with one ``RESULT`` line (DESIGN.md convention 10).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from live_latency import LiveProbe
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from app.db.embedded import EmbeddedPostgres
from app.db.migrate import migrate
from app.db.pool import create_pool
from app.link.manager import LinkManager
from app.services.alert_detection import DetectorRunner
from app.services.alerts import AlertService
from app.telemetry.pipeline import IngestConfig, TelemetryIngest
from app.telemetry.spool import Spool

log = logging.getLogger("bench.ingest")

HOME_LON, HOME_LAT = 120.30, 30.20
GRID_DEG = 0.002
GRIDS_PER_SIDE = 20
SYSIDS_PER_LINK = 250
TICK_S = 0.1


# --- the load generator (its own process) ---------------------------------------------------


class DroneStream:
    """One drone's MAVLink 2 output: pre-encoded status messages, positions encoded when due."""

    def __init__(
        self, sysid: int, index: int, status_hz: float, position_hz: float, attitude_hz: float = 10.0
    ) -> None:
        self.mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=1)
        self.index = index
        self.position_every = max(1, round(1 / (position_hz * TICK_S)))
        self.attitude_every = max(1, round(1 / (attitude_hz * TICK_S)))
        self.status_every = max(1, round(1 / (status_hz * TICK_S)))
        mav = self.mav
        self.heartbeat = mav.heartbeat_encode(2, 3, 217, 3, 4, 3).pack(mav)
        self.status = b"".join(
            m.pack(mav)
            for m in (
                mav.sys_status_encode(0, 0, 0, 300, 15800, 1250, 77, 0, 0, 0, 0, 0, 0),
                mav.gps_raw_int_encode(0, 3, 0, 0, 0, 80, 65535, 0, 0, 14),
                mav.battery_status_encode(0, 0, 0, 3000, [3950] * 4 + [65535] * 6, 1250, -1, -1, 77),
                mav.vfr_hud_encode(0.0, 5.0, 90, 45, 30.0, -0.5),
                mav.mission_current_encode(3),
            )
        )
        self.status_count = 5
        self.lon0 = HOME_LON + (index % 40) * 0.0011 - 0.004
        self.lat0 = HOME_LAT + (index // 40) * 0.0017 - 0.004

    def datagram(self, tick: int) -> tuple[bytes, int, int]:
        """(bytes, messages, positions) due at ``tick`` (time since boot = tick * 100 ms)."""
        parts: list[bytes] = []
        positions = 0
        if tick % self.position_every == 0:
            angle = tick * 0.01 + self.index
            lon = self.lon0 + 0.0015 * math.cos(angle)
            lat = self.lat0 + 0.0015 * math.sin(angle)
            gpi = self.mav.global_position_int_encode(
                tick * 100, round(lat * 1e7), round(lon * 1e7), 55_000, 30_000, 300, 400, -10, 9000
            )
            parts.append(gpi.pack(self.mav))
            positions = 1
        if tick % self.attitude_every == 0:
            attitude = self.mav.attitude_encode(tick * 100, 0.01, -0.02, (tick * 0.01) % 3.14, 0.0, 0.0, 0.0)
            parts.append(attitude.pack(self.mav))
        if tick % self.status_every == 0:
            parts.append(self.status)
        if tick % 10 == 0:
            parts.append(self.heartbeat)
        messages = positions + (tick % self.attitude_every == 0)
        messages += self.status_count if tick % self.status_every == 0 else 0
        return b"".join(parts), messages + (tick % 10 == 0), positions


def generate(args: dict[str, Any], out: Any) -> None:
    """Encode ``seconds`` of ticks first, then send them, so the generator's CPU during the
    measurement is only ``sendto``; report counts through ``out``.

    Pacing: ``rate`` None sends one tick per 100 ms (real time); a number sends the ticks as fast
    as keeps the messages offered at ``rate`` a second (faster than real time: the drones' clocks
    run ahead, each position still its own row); 0 sends unpaced (as fast as the socket takes).
    """
    streams = [
        DroneStream(i % SYSIDS_PER_LINK + 1, i, args["status_hz"], args["position_hz"], args["attitude_hz"])
        for i in range(args["drones"])
    ]
    ports = args["ports"]
    targets = [("127.0.0.1", ports[i // SYSIDS_PER_LINK]) for i in range(args["drones"])]
    ticks = round(args["seconds"] / TICK_S)
    first_tick = args["first_tick"]
    rate = args["rate"]
    messages = positions = datagrams = 0
    plan: list[list[bytes]] = []
    due_s: list[float] = []
    for t in range(ticks):
        tick_data = []
        for stream in streams:
            data, m, p = stream.datagram(first_tick + t)
            tick_data.append(data)
            messages += m
            positions += p
            datagrams += 1
        plan.append(tick_data)
        due_s.append((t + 1) * TICK_S if rate is None else messages / rate if rate else 0.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    send = sock.sendto
    start = time.perf_counter()
    for tick_data, tick_due_s in zip(plan, due_s, strict=True):
        for data, target in zip(tick_data, targets, strict=True):
            send(data, target)
        delay = start + tick_due_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    out.put(
        {
            "messages": messages,
            "positions": positions,
            "datagrams": datagrams,
            "send_s": time.perf_counter() - start,
        }
    )


# --- the service side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    drones: int
    offered_msgs: int
    decoded_msgs: int
    positions_sent: int
    positions_stored: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    service_cpu_cores: float
    kernel_drops: int
    send_s: float

    @property
    def msgs_per_s(self) -> float:
        return self.decoded_msgs / self.wall_s

    @property
    def offered_per_s(self) -> float:
        return self.offered_msgs / self.send_s

    @property
    def msgs_per_cpu_s(self) -> float:
        """Messages per second of the service's own CPU time: what one uncontended core would carry."""
        return self.decoded_msgs / (self.service_cpu_cores * self.wall_s)

    @property
    def lost(self) -> int:
        return self.positions_sent - self.positions_stored


async def seed_grids(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO streets (code, name) VALUES ('BS', 'bench') ON CONFLICT DO NOTHING")
    await conn.execute(
        "INSERT INTO communities (code, name, street_code) VALUES ('BC', 'bench', 'BS') ON CONFLICT DO NOTHING"
    )
    rows = []
    for i in range(GRIDS_PER_SIDE):
        for j in range(GRIDS_PER_SIDE):
            lon0, lat0 = HOME_LON - 0.01 + i * GRID_DEG, HOME_LAT - 0.01 + j * GRID_DEG
            ring = [
                [lon0, lat0],
                [lon0 + GRID_DEG, lat0],
                [lon0 + GRID_DEG, lat0 + GRID_DEG],
                [lon0, lat0 + GRID_DEG],
            ]
            ring.append(ring[0])
            boundary = {"type": "Polygon", "coordinates": [ring]}
            rows.append(
                (f"B{i:02d}{j:02d}", "bench", "BC", boundary, lon0, lat0, lon0 + GRID_DEG, lat0 + GRID_DEG)
            )
    # The fences the detectors judge every drone against: an inclusion area over every drone's
    # circle, with one exclusion zone that the few drones circling over it cross (real breaches).
    zones = (
        ("BENCH-AREA", "inclusion", HOME_LON - 0.01, HOME_LAT - 0.01, HOME_LON + 0.05, HOME_LAT + 0.05),
        ("BENCH-X", "exclusion", HOME_LON + 0.01, HOME_LAT + 0.01, HOME_LON + 0.012, HOME_LAT + 0.012),
    )
    for code, kind, west, south, east, north in zones:
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        await conn.execute(
            "INSERT INTO zones (code, name, kind, polygon) VALUES ($1, $1, $2, $3) ON CONFLICT DO NOTHING",
            code,
            kind,
            {"type": "Polygon", "coordinates": [ring]},
        )
    await conn.executemany(
        """INSERT INTO grids (code, name, community_code, boundary, min_lon_deg, min_lat_deg, max_lon_deg,
               max_lat_deg, area_m2, vertex_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 40000, 5)
           ON CONFLICT (code) DO NOTHING""",
        rows,
    )


def free_udp_ports(count: int) -> list[int]:
    ports = []
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def udp_receive_drops() -> int:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets)."""
    lines = [
        line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")
    ]
    return int(lines[1][lines[0].index("RcvbufErrors")])


async def stored_positions(pool: asyncpg.Pool, first_tbm: int, last_tbm: int) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM telemetry_samples WHERE time_boot_ms >= $1 AND time_boot_ms < $2",
            first_tbm,
            last_tbm,
        )
    return n


async def run_phase(
    name: str,
    args: argparse.Namespace,
    ports: list[int],
    ingest: TelemetryIngest,
    pool: asyncpg.Pool,
    first_tick: int,
    seconds: float,
    rate: float | None,
) -> Phase:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    gen_args = {
        "drones": args.drones,
        "ports": ports,
        "seconds": seconds,
        "rate": rate,
        "first_tick": first_tick,
        "status_hz": args.status_hz,
        "attitude_hz": args.attitude_hz,
        "position_hz": args.position_hz,
    }
    decoded_before = ingest.stats.messages
    drops_before, cpu_before = udp_receive_drops(), time.process_time()
    ingest.stats.commit_latency_ms.clear()
    proc = ctx.Process(target=generate, args=(gen_args, out))
    proc.start()
    # Wait for the generator without blocking the loop (the service keeps running meanwhile).
    sent = await asyncio.to_thread(out.get)
    await asyncio.to_thread(proc.join)
    started = time.perf_counter() - sent["send_s"]
    # Drain: the rows are committed once ingest has nothing pending and the socket is quiet.
    quiet_since, last = time.perf_counter(), ingest.stats.messages
    while time.perf_counter() - quiet_since < 0.5:
        await asyncio.sleep(0.05)
        if ingest.stats.messages != last:
            last, quiet_since = ingest.stats.messages, time.perf_counter()
    await ingest.flushed(60)
    done = quiet_since
    latencies = sorted(ingest.stats.commit_latency_ms)
    last_tbm = (first_tick + round(seconds / TICK_S)) * 100
    stored = await stored_positions(pool, first_tick * 100, last_tbm)
    return Phase(
        name=name,
        drones=args.drones,
        offered_msgs=sent["messages"],
        decoded_msgs=ingest.stats.messages - decoded_before,
        positions_sent=sent["positions"],
        positions_stored=stored,
        wall_s=done - started,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        service_cpu_cores=(time.process_time() - cpu_before) / (time.perf_counter() - started),
        kernel_drops=udp_receive_drops() - drops_before,
        send_s=sent["send_s"],
    )


def parse_baseline(args: argparse.Namespace, ticks: int) -> tuple[int, float, float]:
    """pymavlink's raw parse rate over the same kind of datagrams (one MAVLink object per datagram):
    messages, wall seconds and CPU seconds (the CPU figure is the one to compare ``msg/cpu-s`` with
    on a shared machine, where the wall time includes waiting for a core)."""
    streams = [
        DroneStream(i % SYSIDS_PER_LINK + 1, i, args.status_hz, args.position_hz) for i in range(args.drones)
    ]
    datagrams = [s.datagram(t)[0] for t in range(ticks) for s in streams]
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    start, cpu_start = time.perf_counter(), time.process_time()
    count = 0
    for data in datagrams:
        count += len(parser.parse_buffer(data) or ())
    return count, time.perf_counter() - start, time.process_time() - cpu_start


async def copy_baseline(pool: asyncpg.Pool, rows: int) -> tuple[int, float]:
    """A raw COPY of stored rows into a plain unlogged table: no key, no index, no partitions."""
    async with pool.acquire() as conn:
        records = await conn.fetch(f"SELECT * FROM telemetry_samples LIMIT {int(rows)}")
        await conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_copy (LIKE telemetry_samples)")
        await conn.execute("TRUNCATE bench_copy")
        columns = list(records[0].keys())
        start = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=[tuple(r) for r in records], columns=columns)
        elapsed = time.perf_counter() - start
        await conn.execute("DROP TABLE bench_copy")
    return len(records), elapsed


async def main(args: argparse.Namespace) -> int:
    embedded = None
    tmp = Path(tempfile.mkdtemp(prefix="aerogrid-bench-"))
    os.chmod(tmp, 0o755)
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        embedded = EmbeddedPostgres(tmp / "pgdata")
        dsn = embedded.start()
    dbname = f"aerogrid_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    parts = urlsplit(dsn)
    pool = await create_pool(urlunsplit(parts._replace(path=f"/{dbname}")), min_size=2, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            await seed_grids(conn)
        links = math.ceil(args.drones / SYSIDS_PER_LINK)
        ports = free_udp_ports(links)
        endpoints = [f"udpin:127.0.0.1:{ports[i // SYSIDS_PER_LINK]}" for i in range(args.drones)]
        sysids = [i % SYSIDS_PER_LINK + 1 for i in range(args.drones)]
        manager = LinkManager()
        for i in range(args.drones):
            await manager.add_drone(str(i + 1), endpoints[i], sysids[i])
        spool = Spool(tmp / "spool", max_bytes=1_000_000_000)
        ingest = TelemetryIngest(pool, spool, IngestConfig())
        ingest.attach(manager.add_listener)
        probe = LiveProbe(pool, ingest)
        live_token = await probe.register(args.drones, endpoints, sysids)
        await ingest.start()
        detectors = None
        if args.detectors:
            detectors = DetectorRunner(manager, AlertService(pool, probe.alerts), pool)
            await detectors.start()
        try:
            await probe.start(live_token)
            probe.mark()
            sustain = await run_phase("sustain", args, ports, ingest, pool, 10, args.seconds, None)
            live = await probe.stop()
            burst_first = 10 + round(args.seconds / TICK_S) + 100
            burst = await run_phase(
                "burst", args, ports, ingest, pool, burst_first, args.burst_seconds, args.burst_rate
            )
        finally:
            if detectors is not None:
                await detectors.close()
            await ingest.close()
            await manager.close()
        async with pool.acquire() as conn:
            alerts_opened = await conn.fetchval("SELECT count(*) FROM alerts")
        parsed, parse_s, parse_cpu_s = parse_baseline(args, ticks=20)
        copied, copy_s = await copy_baseline(pool, 100_000)
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    parse_rate = parsed / parse_s
    parse_cpu_rate = parsed / parse_cpu_s
    copy_rate = copied / copy_s
    header = (
        f"{'phase':<9} {'drones':>6} {'offered':>9} {'decoded':>9} {'msgs/s':>7} {'pos sent':>9} "
        f"{'stored':>9} {'lost':>7} {'p50 ms':>6} {'p99 ms':>6} {'cpu':>5} {'k-drops':>7} {'msg/cpu-s':>9}"
    )
    lines = [f"command: {' '.join(sys.argv)}", header]
    for p in (sustain, burst):
        lines.append(
            f"{p.name:<9} {p.drones:>6} {p.offered_msgs:>9} {p.decoded_msgs:>9} {p.msgs_per_s:>7.0f} "
            f"{p.positions_sent:>9} {p.positions_stored:>9} {p.lost:>7} {p.p50_ms:>6.0f} {p.p99_ms:>6.0f} "
            f"{p.service_cpu_cores:>5.2f} {p.kernel_drops:>7} {p.msgs_per_cpu_s:>9.0f}"
        )
    lines += [
        f"baseline pymavlink parse_buffer: {parse_rate:.0f} msgs/s, {parse_cpu_rate:.0f} msgs/cpu-s "
        f"({parsed} messages, one core, no I/O)",
        f"baseline raw COPY (unindexed, unlogged): {copy_rate:.0f} rows/s ({copied} rows)",
        f"burst ingest / raw parse = {burst.msgs_per_s / parse_rate:.2f}; "
        f"ingest per service CPU-second / raw parse per CPU-second = "
        f"{sustain.msgs_per_cpu_s / parse_cpu_rate:.2f} (sustain), {burst.msgs_per_cpu_s / parse_cpu_rate:.2f} (burst)",
        f"sustained position rows/s = {sustain.positions_stored / sustain.wall_s:.0f}; / raw COPY = "
        f"{sustain.positions_stored / sustain.wall_s / copy_rate:.3f}",
        f"sustain datagram -> WebSocket (one client, community subscription, 5 Hz states per drone): "
        f"p50 {live.p50_ms:.0f} ms, p99 {live.p99_ms:.0f} ms; states published {live.published}, "
        f"received {live.received}, lost {live.lost}; p99 / commit p99 = {live.p99_ms / sustain.p99_ms:.2f}",
        json.dumps(
            {
                "spool_batches": ingest.stats.batches_spooled,
                "duplicates": ingest.stats.samples_duplicate,
                "detectors": args.detectors,
                "alerts_opened": alerts_opened,
            }
        ),
        f"RESULT ingest_msgs_per_s={burst.msgs_per_s:.0f} burst_offered_msgs_per_s={burst.offered_per_s:.0f} "
        f"burst_msgs_per_cpu_s={burst.msgs_per_cpu_s:.0f} burst_k_drops={burst.kernel_drops} "
        f"parse_msgs_per_s={parse_rate:.0f} parse_msgs_per_cpu_s={parse_cpu_rate:.0f} "
        f"copy_rows_per_s={copy_rate:.0f} drones={args.drones} sustained_msgs_per_s={sustain.msgs_per_s:.0f} "
        f"lost={sustain.lost} burst_lost={burst.lost} p50_ms={sustain.p50_ms:.0f} p99_ms={sustain.p99_ms:.0f} "
        f"ingest_msgs_per_cpu_s={sustain.msgs_per_cpu_s:.0f} service_cpu_cores={sustain.service_cpu_cores:.2f} "
        f"ws_p50_ms={live.p50_ms:.0f} ws_p99_ms={live.p99_ms:.0f} ws_lost={live.lost}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drones", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--burst-seconds", type=float, default=10.0, help="drone-seconds of ticks in the burst"
    )
    parser.add_argument(
        "--burst-rate", type=float, default=55_000.0, help="messages/s the burst offers (0: unpaced)"
    )
    parser.add_argument("--position-hz", type=float, default=10.0)
    parser.add_argument("--status-hz", type=float, default=2.0)
    parser.add_argument("--attitude-hz", type=float, default=10.0)
    parser.add_argument(
        "--detectors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the alert detectors on every drone (--no-detectors: ingest and live only, as before)",
    )
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(parser.parse_args())))
