"""The embedded PostgreSQL (the ``pgserver`` package) used when ``DATABASE_URL`` is unset.

pgserver ships real PostgreSQL 16 binaries; AeroGrid starts the server in its data directory and
stops it when the last handle in this process closes. Running as root, pgserver runs the server
as a dedicated ``pgserver`` system user, so the data directory's parents must be traversable.

The server can die under a running service (killed, out of memory). ``ensure_running`` starts it
again in the same data directory, and ``stop`` stops whichever server runs there *now*: pgserver
itself remembers only the postmaster it started first, so after a restart it would leave the new
one running when the service stops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)


def _live_pid(lock_file: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file if that process is alive, else None.

    A killed postmaster whose parent never reaps it stays a zombie: psutil still sees its pid, so
    a zombie counts as dead here, as it is.
    """
    try:
        first_line = lock_file.read_text().split("\n", 1)[0]
        process = psutil.Process(int(first_line))
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return None
    return process.pid if alive else None


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster alive in ``pgdata`` (per its postmaster.pid), or None.

    Read here rather than through pgserver, which fails on the file while PostgreSQL writes it.
    """
    return _live_pid(pgdata / "postmaster.pid")


def clear_stale_locks(pgdata: Path) -> list[Path]:
    """Remove the data directory's and its sockets' lock files left by a dead postmaster.

    PostgreSQL refuses to start while the pid in a lock file exists, and a zombie's does. Lock files
    whose postmaster is alive are kept. Returns the files removed.
    """
    candidates = [pgdata / "postmaster.pid"]
    socket_dir = _socket_dir(pgdata / "postmaster.pid")
    for directory in {pgdata, *([socket_dir] if socket_dir else [])}:
        candidates += sorted(directory.glob(".s.PGSQL.*.lock"))
    removed = []
    for lock_file in candidates:
        if lock_file.exists() and _live_pid(lock_file) is None:
            lock_file.unlink(missing_ok=True)
            removed.append(lock_file)
    return removed


def _socket_dir(postmaster_file: Path) -> Path | None:
    """The socket directory a postmaster.pid names (its fifth line), if any."""
    try:
        lines = postmaster_file.read_text().split("\n")
    except OSError:
        return None
    return Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None


@dataclass(slots=True)
class EmbeddedPostgres:
    pgdata: Path
    _server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return its connection URI."""
        from pgserver import get_server  # type: ignore[attr-defined]

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return uri

    def running_pid(self) -> int | None:
        """The postmaster running in the data directory now, or None when none is."""
        if self._server is None:
            return None
        return postmaster_pid(self._server.pgdata)

    def ensure_running(self) -> bool:
        """Start the server again if it is no longer running; True when it was restarted.

        Blocking (pg_ctl waits for the server): call it from a thread. Under pgserver's
        inter-process lock, so two processes sharing the data directory do not both start one.
        """
        server = self._server
        if server is None or self.running_pid() is not None:
            return False
        with server._lock:
            if postmaster_pid(server.pgdata) is not None:
                return False
            clear_stale_locks(server.pgdata)
            server.ensure_postgres_running()
        log.warning("embedded PostgreSQL in %s was not running: restarted it", self.pgdata)
        return True

    def stop(self) -> None:
        """Stop the server running in the data directory now (if this is the last handle)."""
        server = self._server
        if server is None:
            return
        self._server = None
        from pgserver.utils import PostmasterInfo

        current = PostmasterInfo.read_from_pgdata(server.pgdata)
        if current is not None and postmaster_pid(server.pgdata) is not None:
            server._postmaster_info = current  # pgserver stops the postmaster it has on record
        server.cleanup()
