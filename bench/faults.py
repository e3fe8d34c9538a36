"""Fault campaign: real service, real simulated drones, real PostgreSQL, real faults; seeded.

Usage (as root, for the network namespace and the tmpfs)::

    .venv/bin/python bench/faults.py [--seed 1] [--trials 1] [--drones 3] [--only NAME,...]

Each trial starts its own `aerogrid serve` process on a fresh database, a simulator process
(bench/faults_sim.py, inside a network namespace when allowed) with ``--drones`` vehicles, and
a tap proxy per vehicle (bench/faults_net.py). Vehicle 1 flies a coverage mission run through the
API (upload included); the others stream on the ground. The scenario's fault strikes while the run
is in the air; the trial waits for the run to end, stops the simulator, lets the service store what
it holds and then counts, per drone, positions sent (the simulator's own account), positions the
tap handed to a live service (accepted), and rows stored.

The table's columns (docs/reliability.md explains them): trials, successes (the run ended as the
scenario requires: completed, or failed after a simulator crash), lost (accepted but neither stored
nor reported refused), refused (dropped by a full spool and reported in a telemetry_dropped alert),
not delivered (sent but never reached a live service: network loss, a cut, a dead process), false
successes (a run reported completed whose vehicle did not finish its mission), the longest
recovery, and kept = (stored + refused) / accepted, against the no-fault baseline row of the same
run. Ends with a ``RESULT`` line. Figures and the scenarios' descriptions: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from faults_net import Delivered, NetLab, Tap
from faults_stack import Postgres, Service, get_json, load_district, make_tokens, register_drone
from shapely.geometry import shape

from app.services.sample import sample_document

log = logging.getLogger("faults")

BENCH_DIR = Path(__file__).resolve().parent
RUN_TIMEOUT_S = 150.0
CUT_S = 5.0
OUTAGE_S = 5.0
RESTART_PAUSE_S = 1.0
SIM_DOWN_S = 2.0
SPOOL_TMPFS_KB = 512
SPOOL_FREE_KB = 4
SPOOL_CAP_BYTES = 1_000_000
SPOOL_CAP_OUTAGE_S = 420.0
TERMINAL = frozenset({"completed", "failed", "aborted", "skipped"})


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fault: str
    loss_pct: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    expect: str = "completed"
    needs_own_pg: bool = False
    speedup: float = 15.0
    """The simulator's; the restart rows fly slower so the run is still in the air when the
    restarted service (start, lease expiry, link) is back."""


SCENARIOS = (
    Scenario("baseline", "none"),
    Scenario("loss 5%", "none", loss_pct=5),
    Scenario("loss 10%", "none", loss_pct=10),
    Scenario("loss 20%", "none", loss_pct=20),
    Scenario("delay 80±40 ms", "none", delay_ms=80, jitter_ms=40),
    Scenario("link cut 5 s", "link_cut"),
    Scenario("postgres restart", "pg_restart", needs_own_pg=True),
    Scenario("service SIGKILL", "service_kill", speedup=10.0),
    Scenario("SIGKILL until landed", "service_kill_landed", speedup=10.0),
    Scenario("simulator crash", "sim_crash", expect="failed"),
    Scenario("spool disk full", "spool_full", needs_own_pg=True),
)


@dataclass(slots=True)
class TrialResult:
    scenario: str
    state: str
    success: bool
    false_success: bool
    sent: int
    accepted: int
    stored: int
    lost: int
    refused: int
    not_delivered: int
    recover_s: float | None
    note: str = ""


@dataclass(slots=True)
class Life:
    """One service process's life, wall clock (unix s)."""

    start_s: float
    end_s: float = float("inf")


@dataclass(slots=True)
class Trial:
    """Everything one trial starts; ``close`` stops it all, whatever state it is in."""

    scenario: Scenario
    seed: int
    drones: int
    pg: Postgres
    lab: NetLab | None
    root: Path
    dsn: str = ""
    sim: subprocess.Popen[bytes] | None = None
    sim_runs: list[Path] = field(default_factory=list)
    sim_base_port: int = 0
    taps: list[Tap] = field(default_factory=list)
    service: Service | None = None
    lives: list[Life] = field(default_factory=list)
    drone_ids: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    tmpfs: Path | None = None
    home: tuple[float, float] = (0.0, 0.0)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start_sim(self) -> None:
        stats = self.root / f"sim-{len(self.sim_runs) + 1}.json"
        self.sim_runs.append(stats)
        host = self.lab.sim_ip if self.lab is not None else "127.0.0.1"
        argv = [
            sys.executable,
            str(BENCH_DIR / "faults_sim.py"),
            "--count",
            str(self.drones),
            "--base-port",
            str(self.sim_base_port),
            "--bind-host",
            host,
            "--home",
            f"{self.home[0]},{self.home[1]}",
            "--speedup",
            str(self.scenario.speedup),
            "--seed",
            str(self.seed),
            "--stats",
            str(stats),
        ]
        if self.lab is not None:
            argv = self.lab.wrap(argv)
        with (self.root / "sim.log").open("ab") as out:
            self.sim = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def crash_sim(self) -> None:
        if self.sim is not None and self.sim.poll() is None:
            self.sim.send_signal(signal.SIGKILL)
            self.sim.wait(10)

    def stop_sim(self) -> None:
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(10)
            except subprocess.TimeoutExpired:
                self.crash_sim()

    async def start_service(self) -> None:
        assert self.service is not None
        life = Life(time.time())
        await self.service.start()
        self.lives.append(life)

    def kill_service(self) -> None:
        assert self.service is not None
        self.service.kill()
        self.lives[-1].end_s = time.time()

    async def close(self) -> None:
        if self.service is not None:
            self.service.stop()
        self.stop_sim()
        for i, tap in enumerate(self.taps):
            tap.close()
            if self.root.exists():  # what each tap delivered, for a look at a trial afterwards
                rows = [[d.time_boot_ms, round(d.at_s, 3), list(d.gcs)] for d in tap.delivered]
                (self.root / f"tap-{i + 1}.json").write_text(json.dumps(rows), encoding="utf-8")
        if self.lab is not None and self.lab.netem:
            self.lab.unshape()
        if self.lab is not None and self.lab.created:
            with contextlib.suppress(RuntimeError):
                self.lab.set_link(True)
        if self.tmpfs is not None:
            await asyncio.to_thread(umount, self.tmpfs)
        if self.dsn:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self.pg.drop_database(self.dsn)


def mount_tmpfs(path: Path, size_kb: int) -> str | None:
    """Mount a tmpfs of ``size_kb`` on ``path``; None when mounted, else why not."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else done.stderr.strip()


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def test_point() -> tuple[float, float]:
    """Inside the sample district's smallest grid clear of zones (as the scheduling tests fly)."""
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    smallest = min(grids, key=lambda g: shape(g["geometry"]).area)
    point = shape(smallest["geometry"]).representative_point()
    return point.x, point.y


def smallest_grid_code() -> str:
    grids = [g for g in sample_document("grids")["features"] if shape(g["geometry"]).area > 1e-6]
    code: str = min(grids, key=lambda g: shape(g["geometry"]).area)["properties"]["code"]
    return code


# --- waiting on the service --------------------------------------------------------------------


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


async def run_state(trial: Trial, http: httpx.AsyncClient, run_url: str) -> dict[str, Any] | None:
    assert trial.service is not None
    body: dict[str, Any] | None = await get_json(http, trial.service.base + run_url, trial.headers)
    return body


async def in_the_air(trial: Trial, http: httpx.AsyncClient, run_url: str) -> None:
    """Until the run is running with its vehicle past item 2 (or already over)."""

    async def check() -> bool:
        run = await run_state(trial, http, run_url)
        if run is None:
            return False
        if run["state"] in TERMINAL:
            return True
        return bool(run["state"] == "running" and (run["progress"]["current_seq"] or 0) >= 2)

    await wait_for("run in the air", check, RUN_TIMEOUT_S)


async def newest_sample_s(dsn: str, drone_id: int) -> float | None:
    conn = await asyncpg.connect(dsn, timeout=2)
    try:
        value = await conn.fetchval(
            "SELECT extract(epoch FROM max(received_at))::float8 FROM telemetry_samples WHERE drone_id = $1",
            drone_id,
        )
        return float(value) if value is not None else None
    finally:
        await conn.close()


async def stored_after(trial: Trial, since_s: float, within_s: float) -> float:
    """Seconds from ``since_s`` until the flying drone has a sample received after it stored."""

    async def check() -> bool:
        try:
            newest = await newest_sample_s(trial.dsn, trial.drone_ids[0])
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        return newest is not None and newest > since_s

    await wait_for("a fresh sample stored", check, within_s)
    return time.time() - since_s


def spool_empty(trial: Trial) -> bool:
    return not list((trial.data_dir / "spool").glob("*.seg"))


# --- faults ------------------------------------------------------------------------------------


async def fault_link_cut(trial: Trial) -> float:
    for tap in trial.taps:
        tap.impairment.cut = trial.lab is None
    if trial.lab is not None:
        trial.lab.set_link(False)
    await asyncio.sleep(CUT_S)
    if trial.lab is not None:
        trial.lab.set_link(True)
    for tap in trial.taps:
        tap.impairment.cut = False
    return await stored_after(trial, time.time(), 60)


async def postgres_outage(trial: Trial, until_s: float = OUTAGE_S, until_log: str | None = None) -> float:
    """PostgreSQL stopped for ``until_s``, or until the service logs ``until_log`` (at most
    ``until_s``), then started again; recovered once a fresh sample is stored and the spool replayed."""
    await trial.pg.stop()
    deadline = time.monotonic() + until_s
    log_path = trial.data_dir / "serve.log"
    while time.monotonic() < deadline:
        if until_log is not None and until_log in log_path.read_text(errors="replace"):
            break
        await asyncio.sleep(0.5)
    await trial.pg.start()
    back_s = time.time()
    await stored_after(trial, back_s, 60)

    async def replayed() -> bool:
        return spool_empty(trial)

    await wait_for("spool replayed", replayed, 60)
    return time.time() - back_s


async def fault_service_kill(trial: Trial) -> float:
    killed_s = time.time()
    trial.kill_service()
    await asyncio.sleep(RESTART_PAUSE_S)
    await trial.start_service()
    await stored_after(trial, trial.lives[-1].start_s, 60)
    return time.time() - killed_s


async def fault_service_kill_landed(trial: Trial) -> float:
    """Killed in the air and started again only once the vehicle has finished its mission and
    disarmed (its own account): the restarted service must still see the run through."""
    killed_s = time.time()
    trial.kill_service()

    def landed() -> bool:
        with contextlib.suppress(OSError, ValueError):
            vehicle = json.loads(trial.sim_runs[-1].read_text())["vehicles"]["1"]
            return bool(vehicle["completed"] and not vehicle["armed"])
        return False

    async def check() -> bool:
        return landed()

    await wait_for("vehicle landed on its own", check, RUN_TIMEOUT_S)
    await trial.start_service()
    await stored_after(trial, trial.lives[-1].start_s, 60)
    return time.time() - killed_s


async def fault_sim_crash(trial: Trial, http: httpx.AsyncClient, run_url: str) -> float:
    crashed_s = time.time()
    trial.crash_sim()
    await asyncio.sleep(SIM_DOWN_S)
    trial.start_sim()  # the same vehicles boot again: on the ground, disarmed, a new boot

    async def over() -> bool:
        run = await run_state(trial, http, run_url)
        return run is not None and run["state"] in TERMINAL

    await wait_for("run ended after the crash", over, RUN_TIMEOUT_S)
    return time.time() - crashed_s


def fill_spool_disk(trial: Trial) -> None:
    """Leave only SPOOL_FREE_KB free on the spool's tmpfs."""
    assert trial.tmpfs is not None
    stat = os.statvfs(trial.tmpfs)
    free_b = stat.f_bavail * stat.f_frsize
    filler_b = max(0, free_b - SPOOL_FREE_KB * 1024)
    with (trial.tmpfs / "filler.bin").open("wb") as out:
        out.write(b"\0" * filler_b)


async def inject(trial: Trial, http: httpx.AsyncClient, run_url: str) -> float | None:
    """Wait for the run to be in the air, strike, and return the time to recover."""
    fault = trial.scenario.fault
    if fault == "none":
        return None
    await in_the_air(trial, http, run_url)
    if fault == "link_cut":
        return await fault_link_cut(trial)
    if fault == "pg_restart":
        return await postgres_outage(trial)
    if fault == "spool_full" and trial.tmpfs is not None:
        fill_spool_disk(trial)
        return await postgres_outage(trial)
    if fault == "spool_full":
        return await postgres_outage(trial, SPOOL_CAP_OUTAGE_S, until_log="telemetry spool full")
    if fault == "service_kill":
        return await fault_service_kill(trial)
    if fault == "service_kill_landed":
        return await fault_service_kill_landed(trial)
    if fault == "sim_crash":
        return await fault_sim_crash(trial, http, run_url)
    raise ValueError(f"unknown fault {fault}")


# --- one trial ---------------------------------------------------------------------------------


def free_sim_ports(lab: NetLab | None, count: int, rng: random.Random) -> int:
    """A base port; inside a namespace every port is free, on loopback it is checked."""
    import socket

    for _ in range(50):
        base = rng.randrange(30_000, 60_000)
        if lab is not None:
            return base
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free UDP port run")


async def setup(trial: Trial) -> None:
    scenario = trial.scenario
    trial.dsn = await trial.pg.new_database()
    trial.data_dir.mkdir(parents=True)
    env: dict[str, str] = {}
    if scenario.fault == "spool_full":
        spool = trial.data_dir / "spool"
        spool.mkdir()
        refusal = await asyncio.to_thread(mount_tmpfs, spool, SPOOL_TMPFS_KB)
        if refusal is None:
            trial.tmpfs = spool
        else:  # no mounting here: the spool's own size cap (its minimum) is what fills
            log.warning("tmpfs not allowed (%s): using the spool size cap", refusal)
            env["AEROGRID_TELEMETRY_SPOOL_MAX_BYTES"] = str(SPOOL_CAP_BYTES)
    trial.home = test_point()
    trial.sim_base_port = free_sim_ports(trial.lab, trial.drones, random.Random(trial.seed))
    trial.start_sim()
    target_host = trial.lab.sim_ip if trial.lab is not None else "127.0.0.1"
    for i in range(trial.drones):
        tap = Tap((target_host, trial.sim_base_port + i), seed=trial.seed * 1000 + i)
        await tap.start()
        trial.taps.append(tap)
    if trial.lab is not None and trial.lab.netem:
        if scenario.loss_pct or scenario.delay_ms:
            trial.lab.shape(scenario.loss_pct, scenario.delay_ms, scenario.jitter_ms, trial.seed)
    else:
        for tap in trial.taps:
            tap.impairment.loss_pct = scenario.loss_pct
            tap.impairment.delay_ms = scenario.delay_ms
            tap.impairment.jitter_ms = scenario.jitter_ms
    trial.service = Service(trial.dsn, trial.data_dir, env)
    await trial.start_service()


async def fly(trial: Trial) -> tuple[str, float | None]:
    """Register the drones, plan and start the run, strike, and wait for the run to end."""
    assert trial.service is not None
    admin, operator = await make_tokens(trial.dsn)
    trial.headers = operator
    async with httpx.AsyncClient(base_url=trial.service.base, timeout=30) as http:
        await load_district(http, admin)
        for i, tap in enumerate(trial.taps):
            trial.drone_ids.append(await register_drone(http, operator, i + 1, tap.port, trial.home))

        async def online() -> bool:
            for drone_id in trial.drone_ids:
                state = await get_json(http, f"/drones/{drone_id}/state", operator)
                if not (state and state.get("online") and state.get("lat_deg")):
                    return False
            return True

        await wait_for("drones online", online, 60)
        r = await http.post(
            "/missions",
            json={
                "name": "faults",
                "kind": "coverage",
                "grid_codes": [smallest_grid_code()],
                "drone_id": trial.drone_ids[0],
                "swath_m": 60,
                "alt_m": 40,
                "speed_mps": 12,
            },
            headers=operator,
        )
        if r.status_code != 201:
            raise RuntimeError(f"POST /missions: {r.status_code} {r.text}")
        r = await http.post(
            "/runs", json={"mission_id": r.json()["id"], "drone_id": trial.drone_ids[0]}, headers=operator
        )
        if r.status_code != 201:
            raise RuntimeError(f"POST /runs: {r.status_code} {r.text}")
        run_url = f"/runs/{r.json()['id']}"
    async with httpx.AsyncClient(timeout=30) as http:
        recover_s = await inject(trial, http, run_url)
        final: dict[str, Any] = {}

        async def over() -> bool:
            run = await run_state(trial, http, run_url)
            if run is not None:
                final.update(run)
            return run is not None and run["state"] in TERMINAL

        await wait_for("run ended", over, RUN_TIMEOUT_S)
    return str(final["state"]), recover_s


# --- counting ----------------------------------------------------------------------------------


def split_boots(times_ms: list[int]) -> list[set[int]]:
    """Positions in arrival order, split where the clock goes back by more than 1 s (a reboot),
    the rule the service applies (docs/telemetry.md)."""
    boots: list[set[int]] = []
    last = -1
    for ms in times_ms:
        if not boots or ms < last - 1000:
            boots.append(set())
        boots[-1].add(ms)
        last = ms if ms > last or ms < last - 1000 else last
    return boots


def keyed(boots: list[set[int]]) -> set[tuple[int, int]]:
    return {(i, ms) for i, boot in enumerate(boots) for ms in boot}


def accepted_positions(trial: Trial, delivered: list[Delivered]) -> list[int]:
    """Positions handed to a *live* service: to the address of a process before it was killed."""
    owner: dict[tuple[str, int], Life] = {}
    for d in delivered:
        if d.gcs not in owner:
            alive = [life for life in trial.lives if life.start_s - 1 <= d.at_s < life.end_s]
            owner[d.gcs] = alive[-1] if alive else Life(0.0, 0.0)
    return [d.time_boot_ms for d in delivered if d.at_s < owner[d.gcs].end_s]


async def count(trial: Trial) -> tuple[int, int, int, int, int, int]:
    """(sent, accepted, stored, lost, refused, not delivered) over all drones."""
    conn = await asyncpg.connect(trial.dsn)
    try:
        refused_by_drone: dict[int, int] = {}
        for row in await conn.fetch("SELECT drone_id, evidence FROM alerts WHERE type = 'telemetry_dropped'"):
            evidence = row["evidence"]
            evidence = json.loads(evidence) if isinstance(evidence, str) else evidence
            refused_by_drone[row["drone_id"]] = refused_by_drone.get(row["drone_id"], 0) + int(
                evidence.get("samples_dropped", 0)
            )
        totals = [0, 0, 0, 0, 0, 0]
        duplicates = 0
        sims = [json.loads(p.read_text()) for p in trial.sim_runs if p.exists()]
        for index, drone_id in enumerate(trial.drone_ids):
            sysid = str(index + 1)
            sent = {
                (boot, ms) for boot, doc in enumerate(sims) for ms in doc["vehicles"][sysid]["positions_ms"]
            }
            # Boots from the vehicle's clock in arrival order, not from the service's boot_id: a
            # restarted service derives a new boot_id for the same boot (received - time_boot_ms,
            # at a speed-up), which is not a new boot of the vehicle.
            rows = await conn.fetch(
                "SELECT time_boot_ms FROM telemetry_samples WHERE drone_id = $1 ORDER BY received_at, time_boot_ms",
                drone_id,
            )
            stored = keyed(split_boots([r["time_boot_ms"] for r in rows]))
            duplicates += len(rows) - len(stored)
            accepted = keyed(split_boots(accepted_positions(trial, trial.taps[index].delivered)))
            refused = refused_by_drone.get(drone_id, 0)
            missing = len(accepted - stored)
            lost = max(0, missing - refused)
            if refused > missing:
                log.warning("drone %d: %d reported refused, only %d missing", drone_id, refused, missing)
            totals[0] += len(sent | accepted)  # a killed simulator's last account can be 0.25 s old
            totals[1] += len(accepted)
            totals[2] += len(stored)
            totals[3] += lost
            totals[4] += refused
            totals[5] += len(sent - accepted)
        if duplicates:
            log.warning("%d positions stored twice (same boot and time_boot_ms)", duplicates)
        return totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]
    finally:
        await conn.close()


async def settle(trial: Trial) -> None:
    """Stop the vehicles, then wait until the service has stored (or replayed) what it holds."""
    trial.stop_sim()
    await asyncio.sleep(1.0)
    last = -1

    async def stable() -> bool:
        nonlocal last
        if not spool_empty(trial):
            return False
        conn = await asyncpg.connect(trial.dsn)
        try:
            n: int = await conn.fetchval("SELECT count(*) FROM telemetry_samples")
        finally:
            await conn.close()
        done = n == last
        last = n
        await asyncio.sleep(0.8)
        return done

    await wait_for("telemetry settled", stable, 60)
    if trial.scenario.fault == "spool_full":
        await asyncio.sleep(2.0)  # the drop alerts are written after the replay


async def run_trial(
    scenario: Scenario, seed: int, drones: int, pg: Postgres, lab: NetLab | None, root: Path
) -> TrialResult:
    trial = Trial(scenario, seed, drones, pg, lab, root)
    note = ""
    state = "error"
    recover_s: float | None = None
    try:
        await setup(trial)
        state, recover_s = await fly(trial)
        await settle(trial)
        sent, accepted, stored, lost, refused, not_delivered = await count(trial)
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError, asyncpg.PostgresError) as exc:
        note = f"{type(exc).__name__}: {exc}"[:200]
        log.error("%s seed %d: %s (logs in %s)", scenario.name, seed, note, root)
        sent = accepted = stored = lost = refused = not_delivered = 0
    finally:
        await trial.close()
    sims = [json.loads(p.read_text()) for p in trial.sim_runs if p.exists()]
    finished = any(doc["vehicles"]["1"]["completed"] for doc in sims)
    false_success = state == "completed" and not finished
    success = state == scenario.expect and not false_success and not note
    return TrialResult(
        scenario.name,
        state,
        success,
        false_success,
        sent,
        accepted,
        stored,
        lost,
        refused,
        not_delivered,
        recover_s,
        note,
    )


# --- the campaign ------------------------------------------------------------------------------


def table(results: list[TrialResult], scenarios: list[Scenario]) -> list[str]:
    head = (
        f"{'scenario':<20} {'trials':>6} {'ok':>3} {'sent':>6} {'accepted':>8} {'stored':>6} {'lost':>4} "
        f"{'refused':>7} {'not_deliv':>9} {'false_ok':>8} {'recover_s':>9} {'kept':>6}  outcome"
    )
    lines = [head, "-" * len(head)]
    for scenario in scenarios:
        mine = [r for r in results if r.scenario == scenario.name]
        if not mine:
            continue
        recovers = [r.recover_s for r in mine if r.recover_s is not None]
        recover = f"{max(recovers):.1f}" if recovers else "-"
        states = ",".join(sorted({r.state for r in mine}))
        accepted = sum(r.accepted for r in mine)
        kept = (sum(r.stored for r in mine) + sum(r.refused for r in mine)) / accepted if accepted else 0.0
        lines.append(
            f"{scenario.name:<20} {len(mine):>6} {sum(r.success for r in mine):>3} "
            f"{sum(r.sent for r in mine):>6} {sum(r.accepted for r in mine):>8} {sum(r.stored for r in mine):>6} "
            f"{sum(r.lost for r in mine):>4} {sum(r.refused for r in mine):>7} "
            f"{sum(r.not_delivered for r in mine):>9} {sum(r.false_success for r in mine):>8} {recover:>9} {kept:>6.3f}  "
            f"{states} (expect {scenario.expect})"
        )
    return lines


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def campaign(args: argparse.Namespace) -> int:
    only = {n.strip() for n in args.only.split(",")} if args.only else None
    scenarios = [s for s in SCENARIOS if only is None or s.fault in only or s.name in only]
    root = Path(tempfile.mkdtemp(prefix="aerogrid-faults-"))
    lab: NetLab | None = NetLab()
    assert lab is not None
    if args.no_netns or not lab.open():
        lab = None
    atexit.register(lambda: lab.close() if lab is not None else None)
    network = (
        "netns + veth (link cuts: veth down); loss/delay: "
        + ("tc netem on the veth pair" if lab is not None and lab.netem else "the seeded tap proxy")
        if lab is not None
        else "loopback, no namespace; loss/delay/cuts: the seeded tap proxy"
    )
    out(f"network: {network}")
    if lab is not None and not lab.netem:
        out(f"  (netem unavailable: {lab.netem_note})")
    pg = Postgres()
    await pg.start()
    out(f"postgresql: {'DATABASE_URL' if pg.external else 'embedded pgserver of the campaign'}")
    results: list[TrialResult] = []
    started = time.monotonic()
    try:
        for scenario in scenarios:
            if scenario.needs_own_pg and not pg.restartable:
                out(f"{scenario.name}: skipped (DATABASE_URL names a server this script does not own)")
                continue
            for trial_no in range(args.trials):
                seed = args.seed * 100 + trial_no
                t0 = time.monotonic()
                result = await run_trial(
                    scenario, seed, args.drones, pg, lab, root / f"{len(results) + 1:02d}"
                )
                results.append(result)
                recover = f"{result.recover_s:.1f}" if result.recover_s is not None else "-"
                out(
                    f"  {scenario.name} #{trial_no + 1}: run {result.state}, sent {result.sent}, "
                    f"accepted {result.accepted}, stored {result.stored}, lost {result.lost}, "
                    f"refused {result.refused}, recover {recover} s, {time.monotonic() - t0:.0f} s"
                    + (f" [{result.note}]" if result.note else "")
                )
    finally:
        await pg.destroy()
        if lab is not None:
            lab.close()
    out("")
    for line in table(results, scenarios):
        out(line)
    recovers = [r.recover_s for r in results if r.recover_s is not None]
    out(f"\nwall time {time.monotonic() - started:.0f} s; logs under {root}")
    out(
        f"RESULT trials={len(results)} successes={sum(r.success for r in results)} "
        f"lost_samples={sum(r.lost for r in results)} refused_samples={sum(r.refused for r in results)} "
        f"undelivered_samples={sum(r.not_delivered for r in results)} "
        f"false_successes={sum(r.false_success for r in results)} "
        f"recover_s_max={max(recovers) if recovers else 0:.1f}"
    )
    if not args.keep_logs:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM ends the campaign like Ctrl-C: every trial's finally stops its processes."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=1, help="trials per scenario (default 1)")
    parser.add_argument("--drones", type=int, default=3, help="simulated drones per trial (default 3)")
    parser.add_argument("--only", help="comma-separated scenario names or fault kinds")
    parser.add_argument("--no-netns", action="store_true", help="use the tap proxy on loopback only")
    parser.add_argument("--keep-logs", action="store_true", help="keep the service and simulator logs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return asyncio.run(campaign(args))
    except KeyboardInterrupt:
        log.warning("interrupted: processes, namespace and mounts cleaned up")
        return 130


if __name__ == "__main__":
    # pgserver serialises servers through one lock file under the runtime directory: a private one
    # keeps this campaign from queueing behind (or tripping over) test runs on the same machine.
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="aerogrid-faults-run-")
    sys.exit(main())
