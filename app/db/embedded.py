"""The embedded PostgreSQL (the ``pgserver`` package) used when ``DATABASE_URL`` is unset.

pgserver ships real PostgreSQL 16 binaries; AeroGrid starts the server in its data directory and
stops it when the last handle in this process closes. Running as root, pgserver runs the server
as a dedicated ``pgserver`` system user, so the data directory's parents must be traversable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
