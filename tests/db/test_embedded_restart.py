"""The embedded PostgreSQL under a running service: killed, restarted, and stopped with the service.

Its own data directory and server (not the session's), started by the app's lifespan as
``aerogrid serve`` does without DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from app.config import Settings
from app.db.embedded import clear_stale_locks, postmaster_pid
from app.main import create_app


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aerogrid-restart-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver runs the server as its own user when we are root
        data = Path(tmp) / "data"
        yield data
        for pid in servers_in(data):  # a failed test must not leave its server behind
            psutil.Process(pid).kill()


def servers_in(pgdata: Path) -> list[int]:
    """Every live postgres process started with this data directory (postmasters: ``-D pgdata``)."""
    found = []
    for proc in psutil.process_iter(attrs=["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and str(pgdata) in " ".join(cmdline):
            found.append(proc.info["pid"])
    return found


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - polling a process table, no event to wait on
            await asyncio.sleep(0.2)


async def test_stopping_the_service_stops_the_embedded_postgres_it_restarted(data_dir: Path) -> None:
    settings = Settings(database_url=None, data_dir=data_dir, links_enabled=False)
    pgdata = settings.embedded_pgdata.resolve()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/readyz")).status_code == 200
            first = postmaster_pid(pgdata)
            assert first is not None and servers_in(pgdata)
            os.kill(first, signal.SIGKILL)

            async def restarted() -> bool:
                pid = postmaster_pid(pgdata)
                return pid is not None and pid != first

            await wait_until(restarted)

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready)
            second = postmaster_pid(pgdata)
            assert second is not None and second != first
    assert postmaster_pid(pgdata) is None
    assert servers_in(pgdata) == []


def start_in_another_process(pgdata: Path) -> None:
    """What an operator's `aerogrid migrate` or a second service would do: start the server there."""
    code = f"from pgserver import get_server; get_server({str(pgdata)!r}, cleanup_mode=None)"
    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


async def test_stopping_the_service_stops_a_postgres_another_process_restarted(data_dir: Path) -> None:
    settings = Settings(
        database_url=None, data_dir=data_dir, links_enabled=False, embedded_watch_interval_s=3600
    )
    pgdata = settings.embedded_pgdata.resolve()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = postmaster_pid(pgdata)
            assert first is not None
            os.kill(first, signal.SIGKILL)

            async def dead() -> bool:
                return postmaster_pid(pgdata) is None

            await wait_until(dead)
            assert clear_stale_locks(pgdata)  # as an operator starting it again by hand would
            await asyncio.to_thread(start_in_another_process, pgdata)
            second = postmaster_pid(pgdata)
            assert second is not None and second != first

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready)
    assert postmaster_pid(pgdata) is None
    assert servers_in(pgdata) == []
