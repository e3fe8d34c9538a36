"""The planning pool under load: real worker processes, a real `aerogrid serve` on 127.0.0.1.

A "slow plan" is a broadcast with an 8 m audible radius over a sample grid: about 800 hover
points, a minute or more of planning, allowed here only because the test servers raise the
hover-point limit. One worker and no queue make the pool's state visible from outside: while
one plan runs, the next is refused with 503 ``planning_busy``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from shapely.geometry import shape

from app.config import Settings
from app.errors import DomainError
from app.main import create_app
from app.services.plan_pool import PlanPool
from app.services.sample import sample_document
from missions.job import PlanJob, run_job
from missions.profile import Speaker
from tests.conftest import auth, wipe_district
from tests.procs import ServeProcess

GRID = sample_document("grids")["features"][0]
GRID_CODE: str = GRID["properties"]["code"]
_C = shape(GRID["geometry"]).representative_point()
HOME = {"lon_deg": _C.x, "lat_deg": _C.y}
SLOW = {
    "kind": "broadcast",
    "grid_codes": [GRID_CODE],
    "home": HOME,
    "battery": {"capacity_wh": 500},
    "broadcast": {"audible_radius_m": 8},
}
FAST = {"kind": "coverage", "grid_codes": [GRID_CODE], "home": HOME, "swath_m": 40}
SERVER_START_S = 60.0


def job(plan: dict[str, Any]) -> PlanJob:
    grid = (GRID_CODE, shape(GRID["geometry"]))
    home = (HOME["lon_deg"], HOME["lat_deg"])
    if plan["kind"] == "broadcast":
        speaker = Speaker(audible_radius_m=plan["broadcast"]["audible_radius_m"])
        return PlanJob("broadcast", (grid,), home, {"speaker": speaker})
    return PlanJob("coverage", (grid,), home, {"swath_m": plan["swath_m"]})


@pytest.fixture
async def impatient_client(database_dsn: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The service in this process with a 3 s plan budget and room for the slow plan's points."""
    settings = Settings(
        database_url=database_dsn,
        data_dir=tmp_path,
        links_enabled=False,
        plan_workers=1,
        plan_timeout_s=3.0,
        plan_worker_nice=0,
        plan_max_hover_points=100_000,
        plan_max_items=100_000,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://aerogrid.test") as c:
            yield c


async def test_a_plan_over_its_budget_is_answered_422_and_the_next_plan_is_served(
    district: str, impatient_client: httpx.AsyncClient
) -> None:
    r = await impatient_client.post("/missions/plan", json=SLOW, headers=auth(district))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "plan_time_exceeded" and body["details"][0]["limit_s"] == 3.0
    r = await impatient_client.post("/missions/plan", json=FAST, headers=auth(district))
    assert r.status_code == 200, r.text  # planned by the worker that replaced the killed one


async def test_a_planners_refusal_comes_back_to_the_caller_and_the_worker_stays() -> None:
    pool = PlanPool(workers=1, queue_size=0, timeout_s=30.0, nice=0)
    await pool.start()
    try:
        with pytest.raises(ValueError, match="unknown plan kind 'hover'"):
            await pool.run(run_job, PlanJob("hover", (), (HOME["lon_deg"], HOME["lat_deg"]), {}))
        assert (await pool.run(run_job, job(FAST))).ok
    finally:
        await pool.close()


async def test_a_cancelled_caller_frees_its_worker_and_a_queued_one_leaves_the_queue() -> None:
    pool = PlanPool(workers=1, queue_size=1, timeout_s=300.0, nice=0)
    await pool.start()
    try:
        running = asyncio.create_task(pool.run(run_job, job(SLOW)))
        queued = asyncio.create_task(pool.run(run_job, job(SLOW)))
        for _ in range(1000):
            if pool.running == 2:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(DomainError) as busy:
            await pool.run(run_job, job(FAST))
        assert busy.value.code == "planning_busy" and busy.value.headers is not None
        queued.cancel()
        running.cancel()
        for task in (queued, running):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert pool.running == 0
        plan = await pool.run(run_job, job(FAST))  # the replacement worker plans it
        assert plan.ok
    finally:
        await pool.close()


def start_server(database_dsn: str, data_dir: Path, *, queue_size: int) -> ServeProcess:
    """`aerogrid serve` on a free port, with one planning worker; its log goes to ``data_dir``.
    A start that fails (the free port taken meanwhile) is retried on another port."""
    env = {
        "AEROGRID_LINKS_ENABLED": "false",
        "AEROGRID_PLAN_WORKERS": "1",
        "AEROGRID_PLAN_QUEUE_SIZE": str(queue_size),
        "AEROGRID_PLAN_TIMEOUT_S": "600",
        "AEROGRID_PLAN_MAX_HOVER_POINTS": "100000",
        "AEROGRID_PLAN_MAX_ITEMS": "100000",
    }
    log_path = data_dir / "serve.log"
    for _ in range(3):
        server = ServeProcess(database_dsn, data_dir, log_path, env)
        if server.ready_blocking(SERVER_START_S):
            return server
    raise AssertionError(f"aerogrid serve did not start: {server.log_tail()}")


@pytest.fixture
async def district(pool: asyncpg.Pool, role_tokens: dict[str, str], client: httpx.AsyncClient) -> str:
    await wipe_district(pool)
    admin = auth(role_tokens["admin"])
    assert (
        await client.post("/grids/import", json=sample_document("grids"), headers=admin)
    ).status_code == 200
    return role_tokens["viewer"]


@pytest.fixture(scope="module")
def busy_server(database_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_server(database_dsn, tmp_path_factory.mktemp("busy"), queue_size=0)
    try:
        yield server.url
    finally:
        server.kill()


async def until_busy(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """Send the fast plan until the pool refuses it: the slow ones then hold every place."""
    for _ in range(500):
        r = await http.post("/missions/plan", json=FAST, headers=headers)
        if r.status_code == 503:
            return r
        await asyncio.sleep(0.02)
    raise AssertionError("the pool never became busy")


async def occupy(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[asyncio.Task[httpx.Response], httpx.Response]:
    """A slow plan holding the only worker, and the 503 a fast one then gets. A probe that
    reaches the server before the slow plan takes the place itself, so that case starts over."""
    for _ in range(20):
        slow = asyncio.create_task(http.post("/missions/plan", json=SLOW, headers=headers))
        await asyncio.sleep(0.5)
        busy = await until_busy(http, headers)
        if not slow.done():
            return slow, busy
    raise AssertionError("the slow plan never held the worker")


async def test_full_pool_answers_503_and_a_disconnected_clients_plan_is_cancelled(
    district: str, busy_server: str, role_tokens: dict[str, str], pool: asyncpg.Pool
) -> None:
    headers = auth(district)
    async with httpx.AsyncClient(base_url=busy_server, timeout=30.0) as http:
        abandoned, r = await occupy(http, headers)
        body = r.json()
        assert body["code"] == "planning_busy" and set(body) == {"code", "message", "details"}
        assert int(r.headers["Retry-After"]) >= 1
        assert body["details"]["workers"] == 1 and body["details"]["queue_size"] == 0
        create = {**FAST, "name": "while busy"}
        r = await http.post("/missions", json=create, headers=auth(role_tokens["operator"]))
        assert r.status_code == 503 and r.json()["code"] == "planning_busy" and "Retry-After" in r.headers
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM missions") == 0
        abandoned.cancel()  # closes the connection, as a client giving up after a few seconds does
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        # The slow plan would hold the worker for a minute or more; once its client has gone the
        # worker is replaced and the next plan is answered.
        statuses = []
        for _ in range(300):
            r = await http.post("/missions/plan", json=FAST, headers=headers)
            statuses.append(r.status_code)
            if r.status_code != 503:
                break
            await asyncio.sleep(0.05)
        assert statuses[-1] == 200, (statuses[-5:], r.text)
        assert r.json()["ok"] is True


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


@pytest.fixture
def loaded_server(database_dsn: str, tmp_path: Path) -> Iterator[ServeProcess]:
    server = start_server(database_dsn, tmp_path, queue_size=2)
    try:
        yield server
    finally:
        server.kill()


async def test_sigterm_under_planning_load_exits_promptly(district: str, loaded_server: ServeProcess) -> None:
    proc, base = loaded_server.proc, loaded_server.url
    headers = auth(district)
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        slow = [asyncio.create_task(http.post("/missions/plan", json=SLOW, headers=headers)) for _ in range(3)]
        await asyncio.sleep(1.0)  # all three admitted before the probe, so it cannot take a place
        await until_busy(http, headers)  # one running, two queued
        helpers = descendants(proc.pid)  # the forkserver and the planning worker
        assert len(helpers) >= 2
        proc.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*slow, return_exceptions=True)
    code = await asyncio.to_thread(proc.wait, 10)  # TimeoutExpired if it hangs
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    for _ in range(100):  # no planning process outlives the service
        if not any(alive(pid) for pid in helpers):
            break
        await asyncio.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]
    for answer in answers:  # answered (503: planning stopped), or the connection closed
        if isinstance(answer, httpx.Response):
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "planning_unavailable"
        else:
            assert isinstance(answer, httpx.TransportError)


async def test_the_server_planning_pool_survives_many_abandoned_plans(
    district: str, busy_server: str
) -> None:
    """Six clients give up on slow plans, one after another; the pool still answers."""
    headers = auth(district)
    async with httpx.AsyncClient(base_url=busy_server, timeout=30.0) as http:
        for _ in range(6):
            abandoned, _ = await occupy(http, headers)
            abandoned.cancel()
            with pytest.raises(asyncio.CancelledError):
                await abandoned
        for _ in range(300):
            r = await http.post("/missions/plan", json=FAST, headers=headers)
            if r.status_code != 503:
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 200, r.text
