"""Helper processes for tests that need the real thing out of process: free ports on 127.0.0.1,
``aerogrid serve`` and ``aerogrid sim``.

One implementation of each, because the copies that grew in test modules had drifted apart (one
waited on a dead server for its whole timeout, one never showed the server's log when it failed).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

from app.db.embedded import postmaster_pid

AEROGRID = str(Path(sys.executable).with_name("aerogrid"))
"""The CLI of the installation the tests run in (not whatever ``aerogrid`` PATH finds first)."""

REPO_ROOT = Path(__file__).resolve().parents[1]

_POLL_S = 0.2
_DEMO_POLL_S = 0.25
_LOG_TAIL_CHARS = 2000

T = TypeVar("T")


def free_tcp_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick; another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_tcp_port_pair() -> int:
    """A TCP port P with P + 1 free too (``aerogrid demo --instances 2`` listens on both)."""
    for _ in range(50):
        port = free_tcp_port()
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no two consecutive free ports")


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

    def __init__(
        self, dsn: str, data_dir: Path, log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
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
    """``aerogrid sim`` in its own process: ``count`` vehicles on UDP ports from ``base_port``, system
    ids from ``first_sysid``; ``args`` adds simulator options (``--speedup=5``, ``--home=LON,LAT``).

    Not started by the constructor: a test that kills the simulator starts it again on the same
    port with :meth:`start` (a new boot, as a power cycle).
    """

    def __init__(
        self, base_port: int, count: int, *args: str, first_sysid: int = 1, log_path: Path | None = None
    ) -> None:
        self.base_port = base_port
        self.first_sysid = first_sysid
        self.args = [
            AEROGRID, "sim", f"--count={count}", f"--base-port={base_port}", f"--first-sysid={first_sysid}", *args
        ]  # fmt: skip
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.log_path is None:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGSTOP freezes every vehicle at once: a link that goes silent)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def kill(self) -> None:
        """SIGKILL: no goodbye on the link, the sockets gone with the process."""
        assert self.proc is not None
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait, 10)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait (a frozen simulator is woken first, or it could not exit); nothing to do
        when it never started or already exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout_s)


def demo_env(data_dir: Path) -> dict[str, str]:
    """This process's environment for ``aerogrid demo`` in ``data_dir``, without a DATABASE_URL:
    the demo starts its own embedded server, as on a fresh machine."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("AEROGRID_DATABASE_URL", None)
    env["AEROGRID_DATA_DIR"] = str(data_dir)
    return env


def wait_for(
    what: str, within_s: float, probe: Callable[[], T | None], *, process: subprocess.Popen[bytes]
) -> T:
    """Poll ``probe`` until it returns something; fail at once when ``process`` exits meanwhile,
    rather than waiting out the whole time for an answer that cannot come."""
    deadline = time.monotonic() + within_s
    while True:
        found = probe()
        if found is not None:
            return found
        assert process.poll() is None, f"the process exited (code {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {within_s:.0f} s"
        time.sleep(_DEMO_POLL_S)


class DemoProcess:
    """``aerogrid demo ARGS`` as a user runs it: a fresh data directory, the console in a file, its
    own process group (a terminal's foreground job, so a signal to the group reaches everything)."""

    def __init__(self, *args: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="aerogrid-demo-test-"))
        os.chmod(self.data_dir, 0o755)  # pgserver runs the server as its own user when we are root
        self.console_path = self.data_dir / "console.txt"
        with self.console_path.open("wb") as console:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "demo", *args],
                stdout=console,
                stderr=subprocess.STDOUT,
                env=demo_env(self.data_dir),
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def console(self) -> str:
        return self.console_path.read_text(encoding="utf-8", errors="replace")

    def start_up_block(self, within_s: float) -> str:
        """The console once the demo printed its start-up block (which ends with the Ctrl-C hint)."""
        return wait_for(
            "start-up block",
            within_s,
            lambda: text if "Ctrl-C" in (text := self.console) else None,
            process=self.proc,
        )

    def destroy(self) -> None:
        """Kill whatever is left (the process group, then PostgreSQL, which pg_ctl detaches from
        it) and remove the data directory."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        pid = postmaster_pid(self.data_dir / "pgdata")
        if pid is not None:
            psutil.Process(pid).kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)
