"""Building the ingest pipeline from Settings, for the FastAPI lifespan and the benchmarks.

Also where ingest meets the alert service: telemetry a full spool dropped during an outage is
raised as a ``telemetry_dropped`` alert per drone once the database is back (docs/telemetry.md).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

import asyncpg

from app.config import Settings
from app.db.repos.alerts import NewAlert
from app.link.manager import LinkManager
from app.services.alerts import AlertService
from app.telemetry.bus import TelemetryBus
from app.telemetry.detectors.base import AlertType, Severity
from app.telemetry.pipeline import IngestConfig, TelemetryIngest
from app.telemetry.spool import DropTally, Spool

log = logging.getLogger(__name__)

_COMMUNITY_SQL: Final = """
SELECT coalesce(g.community_code, d.community_code) AS community_code
FROM drones d LEFT JOIN grids g ON g.code = $2 WHERE d.id = $1"""


def ingest_config(settings: Settings) -> IngestConfig:
    return IngestConfig(
        batch_rows=settings.telemetry_batch_rows,
        batch_ms=settings.telemetry_batch_ms,
        partition_hours=settings.telemetry_partition_hours,
        retention_days=settings.telemetry_retention_days,
        fsync_interval_s=settings.telemetry_spool_fsync_ms / 1000.0,
    )


class DropAlerts:
    """The ingest's ``drop_reporter``: one ``telemetry_dropped`` alert per drone and outage.

    The loss is a past event by the time it can be stored, not a condition that holds and later
    ends: the alert is opened (so the live stream and the work-order rules hear ``opened``) and
    cleared at once with the report time; acknowledging it records that someone has seen it.
    """

    def __init__(self, pool: asyncpg.Pool, alerts: AlertService, spool: Spool) -> None:
        self.pool = pool
        self.alerts = alerts
        self.spool = spool

    async def __call__(self, drone_id: int, tally: DropTally) -> None:
        last = tally.last_sample
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(_COMMUNITY_SQL, drone_id, last.grid_code if last else None)
        if row is None:
            log.info("drone %s: deleted; its dropped telemetry is not alerted", drone_id)
            return
        first = tally.first_time.isoformat() if tally.first_time else None
        last_time = tally.last_time.isoformat() if tally.last_time else None
        evidence = {
            "samples_dropped": tally.samples,
            "events_dropped": tally.events,
            "first_time": first,
            "last_time": last_time,
            "spool_max_bytes": self.spool.max_bytes,
        }
        message = (
            f"{tally.samples} samples and {tally.events} events dropped: the telemetry spool was full "
            f"({self.spool.max_bytes} bytes) while the database was unreachable ({first} to {last_time})"
        )
        opened = await self.alerts.open(
            NewAlert(
                drone_id=drone_id,
                type=AlertType.TELEMETRY_DROPPED.value,
                condition_key="",
                severity=Severity.CRITICAL.value,
                message=message,
                evidence=evidence,
                at=tally.first_dropped_at,
                grid_code=last.grid_code if last else None,
                community_code=row["community_code"],
                upload_id=last.upload_id if last else None,
                mission_id=last.mission_id if last else None,
                sortie=last.sortie if last else None,
                lat_deg=last.lat_deg if last else None,
                lon_deg=last.lon_deg if last else None,
                alt_rel_m=last.alt_rel_m if last else None,
            )
        )
        await self.alerts.clear(
            (drone_id, AlertType.TELEMETRY_DROPPED.value, ""),
            at=datetime.now(UTC),
            evidence={"reported_after_replay": True, "alert_id": opened.alert["id"]},
        )


async def start_ingest(
    settings: Settings, pool: asyncpg.Pool, manager: LinkManager, alerts: AlertService | None = None
) -> TelemetryIngest:
    """Replay what the spool holds, then ingest every message of every drone the manager links;
    with ``alerts``, telemetry dropped by a full spool is alerted once the database is back."""
    spool = Spool(settings.telemetry_spool_dir, max_bytes=settings.telemetry_spool_max_bytes)
    ingest = TelemetryIngest(pool, spool, ingest_config(settings), TelemetryBus())
    if alerts is not None:
        ingest.drop_reporter = DropAlerts(pool, alerts, spool)
    ingest.attach(manager.add_listener)
    await ingest.start()
    return ingest
