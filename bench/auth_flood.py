"""One real client's throughput while many clients hammer the API with bad tokens.

Usage: ``.venv/bin/python bench/auth_flood.py [--clients 199] [--seconds 8]``

A real ``aerogrid serve`` (uvicorn, one process, links off) runs on 127.0.0.1 against PostgreSQL
(``DATABASE_URL`` when set, else an embedded server in a temporary directory). One real client with a
valid viewer token sends ``GET /grids`` back to back on one keep-alive connection and records each
latency. Phases, each ``--seconds`` long:

* ``alone``: the real client only (the baseline);
* ``malformed``: plus ``--clients`` connections sending random strings as tokens;
* ``unknown``: plus ``--clients`` connections sending well-formed random tokens, each connection from its
  own source address (127.1.x.y), so every one of them costs a database lookup until its address has
  spent its failure budget and is answered 429;
* ``unknown, unprotected``: the same flood against a second server started with the lookup cache and
  the failure limit off (``AEROGRID_AUTH_CACHE_TTL_S=0 AEROGRID_AUTH_FAIL_BURST=0``), which is how every
  bad token was handled before.

The flood runs in its own process, so it competes with the server, not with the measuring client. The
table gives the real client's requests/s, p50 and p99, and the ratio of its requests/s to ``alone``.
Ends with one ``RESULT`` line (DESIGN.md convention 10).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.auth import Role, new_token
from app.db.migrate import migrate
from app.services import tokens

PATH = "/grids"


@dataclass(frozen=True, slots=True)
class Row:
    phase: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    flood_rps: float


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from app.db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="aerogrid-bench-") as tmp:
        os.chmod(tmp, 0o755)
        embedded = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


async def prepare_database(server_dsn: str, role: Role = Role.VIEWER) -> tuple[str, str]:
    """A fresh database with the schema and one token of ``role``: (its URL, the token)."""
    name = f"aerogrid_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(server_dsn)
    dsn = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        token, _ = await tokens.create(conn, name="bench", role=role, communities=None, created_by=None)
    finally:
        await conn.close()
    return dsn, token


def start_server(dsn: str, port: int, *, protected: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": dsn, "AEROGRID_LINKS_ENABLED": "false", "AEROGRID_PORT": str(port)}
    if not protected:
        env.update(AEROGRID_AUTH_CACHE_TTL_S="0", AEROGRID_AUTH_FAIL_BURST="0")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Http:
    """A minimal HTTP/1.1 keep-alive client: just enough to time a GET without a client library's cost."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, source: str | None = None) -> Http:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0) if source else None
        )
        return cls(reader, writer)

    async def get(self, path: str, token: str) -> int:
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
        self.writer.write(request.encode())
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def wait_ready(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, IndexError, ValueError, asyncio.IncompleteReadError):
            http = await Http.connect(port)
            try:
                if await http.get("/readyz", "none") == 200:
                    return
            finally:
                await http.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become ready")


async def measure(port: int, token: str, seconds: float) -> list[float]:
    http = await Http.connect(port)
    latencies_ms: list[float] = []
    try:
        end = time.perf_counter() + seconds
        while (start := time.perf_counter()) < end:
            status = await http.get(PATH, token)
            if status != 200:
                raise RuntimeError(f"real client got {status}")
            latencies_ms.append((time.perf_counter() - start) * 1000)
    finally:
        await http.close()
    return latencies_ms


async def _flood(port: int, clients: int, seconds: float, kind: str) -> int:
    end = time.perf_counter() + seconds
    sent = 0

    async def one(i: int) -> None:
        nonlocal sent
        source = f"127.1.{i // 250}.{i % 250 + 1}"
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            http = await Http.connect(port, source)
            try:
                while time.perf_counter() < end:
                    token = secrets.token_urlsafe(30) if kind == "malformed" else new_token()[0]
                    await http.get(PATH, token)
                    sent += 1
            finally:
                await http.close()

    await asyncio.gather(*(one(i) for i in range(clients)))
    return sent


def flood_process(
    port: int, clients: int, seconds: float, kind: str, out: multiprocessing.Queue[int]
) -> None:
    out.put(asyncio.run(_flood(port, clients, seconds, kind)))


async def phase(name: str, port: int, token: str, args: argparse.Namespace, kind: str | None) -> Row:
    flooder = None
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    seconds, flood_s = args.seconds, args.warmup + args.seconds
    if kind is not None:
        flooder = ctx.Process(target=flood_process, args=(port, args.clients, flood_s, kind, queue))
        flooder.start()
        await asyncio.sleep(args.warmup)  # the flooders spend their failure budgets first
    latencies_ms = await measure(port, token, seconds)
    flood_rps = 0.0
    if flooder is not None:
        flood_rps = queue.get(timeout=60) / flood_s
        flooder.join(30)
    latencies_ms.sort()
    return Row(
        phase=name,
        requests=len(latencies_ms),
        rps=len(latencies_ms) / seconds,
        p50_ms=statistics.median(latencies_ms),
        p99_ms=latencies_ms[min(len(latencies_ms) - 1, int(len(latencies_ms) * 0.99))],
        flood_rps=flood_rps,
    )


async def run(args: argparse.Namespace, server_dsn: str) -> list[Row]:
    dsn, token = await prepare_database(server_dsn)
    rows = []
    for protected, plan in (
        (True, [("alone", None), ("malformed", "malformed"), ("unknown", "unknown")]),
        (False, [("unknown, unprotected", "unknown")]),
    ):
        port = free_tcp_port()
        server = start_server(dsn, port, protected=protected)
        try:
            await wait_ready(port)
            for name, kind in plan:
                rows.append(await phase(name, port, token, args, kind))
        finally:
            stop_server(server)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=199, help="flooding connections (at most 62,500)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured length of each phase")
    parser.add_argument(
        "--warmup",
        type=float,
        default=6.0,
        help="flood time before measuring (budgets of 20 x 199 addresses)",
    )
    args = parser.parse_args()
    with postgres() as server_dsn:
        rows = asyncio.run(run(args, server_dsn))
    base = rows[0].rps
    out = sys.stdout
    out.write(
        f"command: .venv/bin/python bench/auth_flood.py --clients {args.clients} "
        f"--seconds {args.seconds:g} --warmup {args.warmup:g}\n"
    )
    out.write(
        f"{'phase':<22}{'requests':>10}{'req/s':>10}{'p50_ms':>10}{'p99_ms':>10}{'vs_alone':>10}{'flood_req/s':>13}\n"
    )
    for r in rows:
        out.write(
            f"{r.phase:<22}{r.requests:>10}{r.rps:>10.1f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{r.rps / base:>10.2f}{r.flood_rps:>13.0f}\n"
        )
    by = {r.phase: r for r in rows}
    out.write(
        "RESULT "
        f"alone_rps={by['alone'].rps:.1f} alone_p99_ms={by['alone'].p99_ms:.2f} "
        f"malformed_rps={by['malformed'].rps:.1f} malformed_p99_ms={by['malformed'].p99_ms:.2f} "
        f"unknown_rps={by['unknown'].rps:.1f} unknown_p99_ms={by['unknown'].p99_ms:.2f} "
        f"unprotected_rps={by['unknown, unprotected'].rps:.1f} "
        f"unprotected_p99_ms={by['unknown, unprotected'].p99_ms:.2f} "
        f"malformed_ratio={by['malformed'].rps / base:.2f} unknown_ratio={by['unknown'].rps / base:.2f} "
        f"clients={args.clients}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
