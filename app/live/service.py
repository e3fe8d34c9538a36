"""Building the live hub for the FastAPI lifespan: ingest hook, alerts, directory, relay.

The hub takes positions straight from ingest's decoder (``TelemetryIngest.sample_listeners``), not
from the flushed batches, so a state reaches a client without waiting out the batch period; the
batches (``TelemetryBus``) only tell it each drone's grid. Each drone's community comes from the
drones table, re-read every ``DIRECTORY_REFRESH_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import asyncpg

from app.config import Settings
from app.db.pool import Database
from app.live.hub import LiveHub
from app.live.relay import Relay
from app.services.alerts import AlertEvent, AlertSink
from app.telemetry.pipeline import TelemetryIngest

log = logging.getLogger(__name__)

DIRECTORY_REFRESH_S: Final = 2.0
DIRECTORY_SQL: Final = "SELECT id, community_code FROM drones"


class LiveService:
    def __init__(self, pool: asyncpg.Pool, hub: LiveHub, relay: Relay | None) -> None:
        self.pool = pool
        self.hub = hub
        self.relay = relay
        self._undo: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def refresh_directory(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(DIRECTORY_SQL)
        self.hub.set_directory({r["id"]: r["community_code"] for r in rows})

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(DIRECTORY_REFRESH_S)
            try:
                await self.refresh_directory()
            except Exception as exc:  # the database away or restarting: keep the last directory
                log.warning("live: drone directory not refreshed: %r", exc)

    async def start(self, ingest: TelemetryIngest | None, alerts: AlertSink) -> None:
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.refresh_directory()
        if ingest is not None:
            ingest.sample_listeners.append(self.hub.on_sample)
            listener = self.hub.on_sample
            self._undo.append(lambda: ingest.sample_listeners.remove(listener))
        grid_batches = ingest.bus.subscribe("live-hub-grids", max_batches=8) if ingest is not None else None
        if grid_batches is not None:
            self._undo.append(grid_batches.close)

        def on_alert(event: AlertEvent) -> None:
            self.hub.on_alert(event.kind, event.alert)

        self._undo.append(alerts.subscribe(on_alert))
        self.hub.start(grid_batches)
        if self.relay is not None:
            self.relay.start()
        self._task = asyncio.create_task(self._refresher(), name="live-directory")

    async def close(self) -> None:
        for undo in reversed(self._undo):
            with contextlib.suppress(ValueError):
                undo()
        self._undo = []
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.relay is not None:
            await self.relay.close()
        await self.hub.close()


async def start_live(
    settings: Settings, db: Database, instance_id: str, ingest: TelemetryIngest | None, alerts: AlertSink
) -> LiveService:
    hub = LiveHub(state_hz=settings.live_state_hz, max_events=settings.live_max_events)
    relay = Relay(db.dsn, hub, instance_id) if settings.live_notify else None
    live = LiveService(db.pool, hub, relay)
    await live.start(ingest, alerts)
    return live
