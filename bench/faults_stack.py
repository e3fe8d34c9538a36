"""The real parts a fault trial runs on: PostgreSQL, `aerogrid serve` processes, the REST API.

Ported from the end-to-end tests' helpers (tests/telemetry/test_kill_replay.py,
tests/scheduling/test_restart_sim.py) so the campaign does not import the test suite.
PostgreSQL is an embedded server of the campaign's own (stopped and started by the PostgreSQL
restart scenario) unless ``DATABASE_URL`` names one, in which case that scenario is skipped: a
server the campaign does not own is never stopped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from app.auth import Role
from app.db.embedded import EmbeddedPostgres
from app.db.pool import create_pool
from app.services import tokens
from app.services.sample import sample_document

SERVER_START_S = 60.0
CAMERA = {
    "sensor_width_mm": 13.2,
    "sensor_height_mm": 8.8,
    "focal_length_mm": 8.8,
    "image_width_px": 5472,
    "image_height_px": 3648,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` (the path part replaced)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class Postgres:
    """The campaign's server: its own embedded one, or ``DATABASE_URL`` (then never stopped)."""

    def __init__(self) -> None:
        self.external = os.environ.get("DATABASE_URL")
        self.root = Path(tempfile.mkdtemp(prefix="aerogrid-faults-pg-"))
        os.chmod(self.root, 0o755)  # pgserver runs the server as its own user when we are root
        self._server: EmbeddedPostgres | None = None
        self.dsn = self.external or ""

    @property
    def restartable(self) -> bool:
        return self.external is None

    async def start(self) -> None:
        if self.external is None:
            self._server = EmbeddedPostgres(self.root / "pgdata")
            self.dsn = await asyncio.to_thread(self._server.start)

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    async def destroy(self) -> None:
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def new_database(self) -> str:
        name = f"aerogrid_faults_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(self.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return with_database(self.dsn, name)

    async def drop_database(self, dsn: str) -> None:
        name = urlsplit(dsn).path.lstrip("/")
        admin = await asyncpg.connect(self.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class Service:
    """One `aerogrid serve` process; every start is a new instance id, as after a real restart."""

    def __init__(self, dsn: str, data_dir: Path, env: dict[str, str]) -> None:
        self.dsn = dsn
        self.data_dir = data_dir
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "AEROGRID_DATA_DIR": str(self.data_dir),
            "AEROGRID_INSTANCE_ID": f"faults-{self.starts}",
            "AEROGRID_LINK_LEASE_S": "3",
            "AEROGRID_LINK_RENEW_S": "1",
            "AEROGRID_PLAN_WORKERS": "1",
            "AEROGRID_RUN_ADOPT_S": "0.5",
            "AEROGRID_RUN_PROGRESS_S": "0.2",
            **self.extra_env,
        }
        port = free_port()
        with (self.data_dir / "serve.log").open("ab") as log_file:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is quick; the wait is async)
                [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if (await http.get(f"{self.base}/healthz", timeout=1.0)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        self.kill()
        tail = (self.data_dir / "serve.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"aerogrid serve did not start: {tail}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


async def make_tokens(dsn: str) -> tuple[dict[str, str], dict[str, str]]:
    """Admin and operator headers, the tokens written straight into the service's database."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            admin, _ = await tokens.create(
                conn, name="faults-admin", role=Role.ADMIN, communities=None, created_by=None
            )
            operator, _ = await tokens.create(
                conn, name="faults-operator", role=Role.OPERATOR, communities=None, created_by=None
            )
    finally:
        await pool.close()
    return {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {operator}"}


async def load_district(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for kind, path in (("grids", "/grids/import"), ("zones", "/geofences/import")):
        r = await http.post(path, json=sample_document(kind), headers=admin)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text}")


async def register_drone(
    http: httpx.AsyncClient, operator: dict[str, str], sysid: int, port: int, home: tuple[float, float]
) -> int:
    r = await http.post(
        "/drones",
        json={
            "name": f"faults-{sysid}",
            "kind": "sim",
            "endpoint": f"udpout:127.0.0.1:{port}",
            "sysid": sysid,
            "home": {"lon_deg": home[0], "lat_deg": home[1]},
            "capabilities": {"battery_wh": 400, "camera": CAMERA},
        },
        headers=operator,
    )
    if r.status_code != 201:
        raise RuntimeError(f"POST /drones: {r.status_code} {r.text}")
    drone_id: int = r.json()["id"]
    return drone_id


async def get_json(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    """GET that rides out a service being restarted: None when it does not answer."""
    try:
        r = await http.get(url, headers=headers, timeout=5.0)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None
