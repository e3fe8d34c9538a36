"""Helper processes for tests that need the real thing out of process: free ports on 127.0.0.1,
``aerogrid serve`` and ``aerogrid sim``.

One implementation of each, because the copies that grew in test modules had drifted apart (one
waited on a dead server for its whole timeout, one never showed the server's log when it failed).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

AEROGRID = str(Path(sys.executable).with_name("aerogrid"))
"""The CLI of the installation the tests run in (not whatever ``aerogrid`` PATH finds first)."""

_POLL_S = 0.2
_LOG_TAIL_CHARS = 2000


def free_tcp_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick; another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_run(count: int) -> int:
    """A base port with ``count`` consecutive free UDP ports from it (``aerogrid sim --base-port``)."""
    for _ in range(50):
        base = random.randrange(30_000, 60_000)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError("no free UDP port run")


class ServeProcess:
    """``aerogrid serve`` on a free port of 127.0.0.1 against ``dsn``, its output appended to ``log_path``.

    ``env`` adds AEROGRID_* settings on top of this process's environment. Starting returns at
    once; :meth:`ready` (async) or :meth:`ready_blocking` wait for ``/healthz``.
    """

    def __init__(self, dsn: str, data_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_tcp_port()
        self.log_path = log_path
        full_env = {**os.environ, "DATABASE_URL": dsn, "AEROGRID_DATA_DIR": str(data_dir), **(env or {})}
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [AEROGRID, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        """The end of the server's log, for a failure message."""
        return self.log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]

    async def ready(self, timeout_s: float = 60.0) -> None:
        """Wait until ``/healthz`` answers 200; a server that exits or stays silent is killed and
        the failure carries its log."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.url) as client:
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if (await client.get("/healthz", timeout=1.0)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(_POLL_S)
        self.kill()
        raise AssertionError(f"aerogrid serve did not start: {self.log_tail()}")

    def ready_blocking(self, timeout_s: float = 60.0) -> bool:
        """:meth:`ready` for synchronous fixtures, without raising: False (and the server killed)
        when it did not come up, so the caller can retry on another port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(_POLL_S)
        self.kill()
        return False

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, the way an operator stops it, and wait for it to exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye on any link or connection."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class SimFleetProcess:
    """``aerogrid sim`` in its own process: ``count`` vehicles on UDP ports from ``base_port``."""

    def __init__(self, base_port: int, count: int, *args: str, log_path: Path | None = None) -> None:
        self.base_port = base_port
        self.args = [AEROGRID, "sim", f"--count={count}", f"--base-port={base_port}", *args]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.log_path is None:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait; nothing to do when it never started or already exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout_s)
