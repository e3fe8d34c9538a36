"""The demo's database, started before anything else is imported.

A fresh embedded PostgreSQL spends seconds in initdb and pg_ctl, and importing the service spends
seconds too: started in a thread first, the server gets ready while the rest of the demo loads, which
is a good part of the "flying within 30 s" budget on a slow machine. ``stop`` waits for a start still
under way before stopping, so a Ctrl-C at any moment leaves no server running.
"""

from __future__ import annotations

import threading

from app.config import Settings
from app.db.embedded import EmbeddedPostgres


class DemoDatabase:
    """``DATABASE_URL`` when set, else the embedded server in the data directory, starting at once."""

    def __init__(self, settings: Settings) -> None:
        self.pgdata = settings.embedded_pgdata
        self.dsn: str | None = settings.database_url
        self.embedded: EmbeddedPostgres | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if self.dsn is None:
            self.embedded = EmbeddedPostgres(self.pgdata)
            self._thread = threading.Thread(target=self._start, name="demo-database", daemon=True)
            self._thread.start()

    def _start(self) -> None:
        assert self.embedded is not None
        try:
            self.dsn = self.embedded.start()
        except BaseException as exc:  # re-raised in wait(), on the demo's own thread
            self._error = exc

    def wait(self) -> str:
        """The DSN once the server accepts connections (blocking: call it from a thread)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self.dsn is not None
        return self.dsn

    def stop(self) -> None:
        """Stop the embedded server, after its start if that is still under way (blocking)."""
        if self._thread is not None:
            self._thread.join()
        if self.embedded is not None:
            self.embedded.stop()
