"""A PostgreSQL server of a test's own, that the test may stop and start (never the shared one)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from app.db.embedded import EmbeddedPostgres


class OwnPostgres:
    """An embedded server in a fresh directory; ``stop`` and ``start`` keep its data and its DSN.

    ``async with OwnPostgres() as pg`` starts it and destroys it (server and directory) on exit.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aerogrid-outage-"))
        os.chmod(self.root, 0o755)  # pgserver runs the server as its own user when we are root
        self._server: EmbeddedPostgres | None = None
        self.dsn = ""

    async def start(self) -> str:
        self._server = EmbeddedPostgres(self.root / "pgdata")
        self.dsn = await asyncio.to_thread(self._server.start)
        return self.dsn

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    async def destroy(self) -> None:
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def __aenter__(self) -> OwnPostgres:
        try:
            await self.start()
        except BaseException:
            await self.destroy()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.destroy()
