"""Building the ingest pipeline from Settings, for the FastAPI lifespan and the benchmarks."""

from __future__ import annotations

import asyncpg

from app.config import Settings
from app.link.manager import LinkManager
from app.telemetry.bus import TelemetryBus
from app.telemetry.pipeline import IngestConfig, TelemetryIngest
from app.telemetry.spool import Spool


def ingest_config(settings: Settings) -> IngestConfig:
    return IngestConfig(
        batch_rows=settings.telemetry_batch_rows,
        batch_ms=settings.telemetry_batch_ms,
        partition_hours=settings.telemetry_partition_hours,
        retention_days=settings.telemetry_retention_days,
        fsync_interval_s=settings.telemetry_spool_fsync_ms / 1000.0,
    )


async def start_ingest(settings: Settings, pool: asyncpg.Pool, manager: LinkManager) -> TelemetryIngest:
    """Replay what the spool holds, then ingest every message of every drone the manager links."""
    spool = Spool(settings.telemetry_spool_dir, max_bytes=settings.telemetry_spool_max_bytes)
    ingest = TelemetryIngest(pool, spool, ingest_config(settings), TelemetryBus())
    ingest.attach(manager.add_listener)
    await ingest.start()
    return ingest
