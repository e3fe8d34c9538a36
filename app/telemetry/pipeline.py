"""The ingest pipeline: every linked drone's messages -> samples/events -> grid -> fan-out -> store.

``on_message`` is a LinkManager listener: it runs on the event loop for every decoded message,
only folds it into the drone's ``DroneSession`` and appends rows to the pending batch (no I/O,
no awaiting). One writer task flushes the batch when it reaches ``batch_rows`` or every
``batch_ms``: it attributes grids (one STRtree query per batch), publishes the batch on the
``TelemetryBus`` (detectors and the live hub consume it from there) and stores it idempotently.

When PostgreSQL is unreachable the batch goes to the disk ``Spool`` instead, and from then on
every batch goes there until the spool has been replayed, so rows reach the database in the
order they arrived. A probe retries the database every ``PROBE_INTERVAL_S``; replay starts when
it answers, and at start-up for whatever a killed service left behind.

Batches the full spool had to drop are tallied per drone (``Spool.dropped``); once the database
is back and the spool replayed, each drone's tally goes to the ``drop_reporter`` (an alert through
the alert service, wired in service.py), one drone at a time, so an outage in mid-report leaves
the unreported tallies for the next replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import numpy as np

from app.db.errors import DATABASE_LOST
from app.db.repos import telemetry as repo
from app.link.codec import MavMessage
from app.telemetry.bus import Batch, TelemetryBus
from app.telemetry.decode import NO_CONTEXT, DroneSession
from app.telemetry.grids import GridIndex
from app.telemetry.partitions import Partitions
from app.telemetry.records import Event, Sample
from app.telemetry.spool import DropTally, Spool

log = logging.getLogger(__name__)

PROBE_INTERVAL_S: Final = 1.0
PROBE_TIMEOUT_S: Final = 2.0
REFRESH_INTERVAL_S: Final = 1.0
MAINTAIN_INTERVAL_S: Final = 600.0
LATENCY_SAMPLES: Final = 100_000

OUTAGE_ERRORS: Final[tuple[type[Exception], ...]] = (*DATABASE_LOST, asyncpg.OperatorInterventionError)
"""The database lost (app/db/errors.py), or the batch's statement cancelled by an operator or a
statement timeout (class 57): spool and retry, never drop."""


DropReporter = Callable[[int, DropTally], Awaitable[None]]
"""Told, once the database is back, what one drone lost to a full spool (drone id, tally)."""


@dataclass(frozen=True, slots=True)
class IngestConfig:
    batch_rows: int = 5000
    batch_ms: int = 200
    partition_hours: int = 24
    retention_days: int = 90
    fsync_interval_s: float = 1.0


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    bad_messages: int = 0
    samples: int = 0
    events: int = 0
    samples_stored: int = 0
    samples_duplicate: int = 0
    events_stored: int = 0
    samples_expired: int = 0
    rows_rejected: int = 0
    batches_spooled: int = 0
    batches_replayed: int = 0
    outages: int = 0
    drops_reported: int = 0
    commit_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))


class TelemetryIngest:
    def __init__(
        self, pool: asyncpg.Pool, spool: Spool, config: IngestConfig, bus: TelemetryBus | None = None
    ) -> None:
        self.pool = pool
        self.spool = spool
        self.config = config
        self.bus = bus or TelemetryBus()
        self.drop_reporter: DropReporter | None = None
        self.stats = IngestStats()
        self.partitions = Partitions(interval_h=config.partition_hours, retention_days=config.retention_days)
        self.db_up = True
        self._sessions: dict[str, DroneSession] = {}
        self._contexts: dict[int, tuple[int, int | None, int]] = {}
        self._samples: list[Sample] = []
        self._events: list[Event] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._grids = GridIndex([])
        self._grids_version: tuple[Any, ...] | None = None
        self._next_refresh_s = 0.0
        self._next_probe_s = 0.0
        self._next_maintain_s = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._remove_listener: Callable[[], None] | None = None
        self.sample_listeners: list[Callable[[Sample], None]] = []
        """Called with every new sample as it is decoded, before grid attribution (the live hub)."""

    @property
    def invalid_positions(self) -> int:
        """Positions not stored because they were out of range or had no fix, over all drones."""
        return sum(s.invalid_positions for s in self._sessions.values())

    # --- the listener (hot path) ----------------------------------------------------------

    def on_message(self, drone_id: str, msg: MavMessage) -> None:
        """LinkManager listener: fold one message in; never blocks, never raises."""
        self.stats.messages += 1
        session = self._sessions.get(drone_id)
        if session is None:
            session = self._new_session(drone_id)
            if session is None:
                return
        try:
            sample = session.feed(msg, time.time_ns() // 1_000_000, self._events)
        except (KeyError, TypeError, ValueError) as exc:
            self.stats.bad_messages += 1
            if self.stats.bad_messages & (self.stats.bad_messages - 1) == 0:  # 1, 2, 4, 8, ...
                log.warning(
                    "drone %s: malformed %s ignored (%d so far): %s",
                    drone_id,
                    msg.name,
                    self.stats.bad_messages,
                    exc,
                    extra={"drone_id": drone_id},
                )
            return
        if sample is not None:
            self._samples.append(sample)
            for listener in self.sample_listeners:
                listener(sample)
            if len(self._samples) >= self.config.batch_rows:
                self._wake.set()

    def _new_session(self, drone_id: str) -> DroneSession | None:
        if not drone_id.isdigit():
            self.stats.bad_messages += 1
            return None
        session = DroneSession(int(drone_id))
        session.context = self._contexts.get(session.drone_id, NO_CONTEXT)
        self._sessions[drone_id] = session
        return session

    # --- lifecycle ------------------------------------------------------------------------

    def attach(self, add_listener: Callable[[Callable[[str, MavMessage], None]], Callable[[], None]]) -> None:
        """Start receiving messages (``LinkManager.add_listener``)."""
        self._remove_listener = add_listener(self.on_message)

    async def start(self) -> None:
        """Prepare partitions and replay what a previous run left in the spool, then run."""
        try:
            async with self.pool.acquire() as conn:
                await self.partitions.maintain(conn)
            self._next_maintain_s = time.monotonic() + MAINTAIN_INTERVAL_S
            await self._refresh()
            await self._replay()
        except OUTAGE_ERRORS as exc:
            self._mark_down(exc)
        self._tasks = [
            asyncio.create_task(self._writer(), name="telemetry-writer"),
            asyncio.create_task(self._fsync_timer(), name="telemetry-spool-fsync"),
        ]

    async def close(self) -> None:
        """Stop, storing (or spooling) what is pending; the spool is synced and closed."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        # The writer is asked to stop rather than cancelled: a batch cancelled in mid-write
        # would be neither stored nor spooled.
        self._stopping = True
        self._wake.set()
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(*OUTAGE_ERRORS):
            await self._flush()  # left only when the writer never ran
        self.spool.close()

    async def flushed(self, timeout_s: float = 10.0) -> None:
        """Wait until everything received so far is stored or spooled (tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while self._samples or self._events or not self._idle.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("telemetry not flushed in time")
            self._idle.clear()
            self._wake.set()
            await asyncio.sleep(0.01)

    # --- the writer -----------------------------------------------------------------------

    async def _writer(self) -> None:
        period_s = self.config.batch_ms / 1000.0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), period_s)
            self._wake.clear()
            self._idle.clear()
            try:
                await self._tick()
            except Exception:
                log.exception("telemetry writer failed; continuing")
            self._idle.set()
        await self._flush()

    async def _tick(self) -> None:
        now_s = time.monotonic()
        if not self.db_up and now_s >= self._next_probe_s:
            await self._probe()
        if self.db_up:
            try:
                await self._refresh(contexts=now_s >= self._next_refresh_s)
                if now_s >= self._next_maintain_s:
                    async with self.pool.acquire() as conn:
                        await self.partitions.maintain(conn)
                    self._next_maintain_s = now_s + MAINTAIN_INTERVAL_S
                if not self.spool.empty:
                    self._spool_pending()
                    await self._replay()
                if self.spool.empty and self.spool.dropped:
                    await self._report_drops()
            except OUTAGE_ERRORS as exc:
                self._mark_down(exc)
        await self._flush()

    async def _flush(self) -> None:
        while self._samples or self._events:
            samples = self._samples[: self.config.batch_rows]
            del self._samples[: len(samples)]
            events, self._events = self._events, []
            samples = self._attribute(samples)
            self.bus.publish(Batch(samples, events))
            await self._store(samples, events)

    def _spool_pending(self) -> None:
        """Move pending rows behind what is spooled, keeping arrival order for the replay."""
        while self._samples or self._events:
            samples = self._samples[: self.config.batch_rows]
            del self._samples[: len(samples)]
            events, self._events = self._events, []
            samples = self._attribute(samples)
            self.bus.publish(Batch(samples, events))
            if self.spool.append(samples, events):
                self.stats.batches_spooled += 1

    def _attribute(self, samples: list[Sample]) -> list[Sample]:
        self.stats.samples += len(samples)
        if not samples or not len(self._grids):
            return samples
        lon = np.fromiter((s.lon_deg for s in samples), dtype=np.float64, count=len(samples))
        lat = np.fromiter((s.lat_deg for s in samples), dtype=np.float64, count=len(samples))
        codes = self._grids.attribute(lon, lat)
        return [s._replace(grid_code=c) if c is not None else s for s, c in zip(samples, codes, strict=True)]

    async def _store(self, samples: list[Sample], events: list[Event]) -> None:
        self.stats.events += len(events)
        if self.db_up and self.spool.empty:
            try:
                await self._write(samples, events)
                return
            except OUTAGE_ERRORS as exc:
                self._mark_down(exc)
        if self.spool.append(samples, events):
            self.stats.batches_spooled += 1

    async def _write(self, samples: list[Sample], events: list[Event], *, live: bool = True) -> None:
        """One idempotent transaction; rows past retention are counted and skipped. Only live
        batches feed the latency figures (a replayed one waited out an outage)."""
        cutoff = self.partitions.cutoff()
        if samples and min(s.time for s in samples) < cutoff:
            kept = [s for s in samples if s.time >= cutoff]
            self.stats.samples_expired += len(samples) - len(kept)
            samples = kept
        async with self.pool.acquire() as conn:
            if samples:
                await self.partitions.ensure_for(
                    conn, min(s.time for s in samples), max(s.time for s in samples)
                )
            try:
                new_samples, new_events = await repo.write_batch(conn, samples, events)
            except asyncpg.PostgresError as exc:
                if isinstance(exc, OUTAGE_ERRORS):
                    raise
                # Not an outage: retrying cannot help, and spooling would replay it forever.
                self.stats.rows_rejected += len(samples) + len(events)
                log.exception(
                    "telemetry batch rejected by PostgreSQL (%d samples, %d events)",
                    len(samples),
                    len(events),
                )
                return
        self.stats.samples_stored += new_samples
        self.stats.samples_duplicate += len(samples) - new_samples
        self.stats.events_stored += new_events
        if live:
            self._record_latency(samples)

    def _record_latency(self, samples: list[Sample]) -> None:
        if not samples:
            return
        now = datetime.now(UTC)
        step = max(1, len(samples) // 50)
        self.stats.commit_latency_ms.extend(
            (now - s.received_at).total_seconds() * 1000.0 for s in samples[::step]
        )

    # --- outage and replay ----------------------------------------------------------------

    def _mark_down(self, exc: BaseException) -> None:
        if self.db_up:
            self.stats.outages += 1
            log.warning("telemetry: database unreachable (%s); spooling to %s", exc, self.spool.directory)
        self.db_up = False
        self._next_probe_s = time.monotonic() + PROBE_INTERVAL_S

    async def _probe(self) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S), self.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except OUTAGE_ERRORS:
            self._next_probe_s = time.monotonic() + PROBE_INTERVAL_S
            return
        log.info("telemetry: database reachable again; replaying the spool")
        self.db_up = True

    async def _replay(self) -> None:
        """Store every spooled batch in order, deleting each segment once all of it is committed."""
        self.spool.seal()
        for path in self.spool.sealed_segments():
            for samples, events in self.spool.read_segment(path):
                await self._write(samples, events, live=False)
                self.stats.batches_replayed += 1
            self.spool.remove(path)

    async def _report_drops(self) -> None:
        """Hand each drone's drop tally to the reporter, forgetting it once reported. An outage
        propagates (the rest wait for the next replay); any other failure is logged and the tally
        forgotten, since retrying it every batch would only repeat the failure."""
        if self.drop_reporter is None:
            return
        for drone_id in sorted(self.spool.dropped):
            tally = self.spool.dropped[drone_id]
            try:
                await self.drop_reporter(drone_id, tally)
            except OUTAGE_ERRORS:
                raise
            except Exception:
                log.exception(
                    "drone %s: %d dropped samples could not be reported",
                    drone_id,
                    tally.samples,
                    extra={"drone_id": drone_id},
                )
            else:
                self.stats.drops_reported += 1
            del self.spool.dropped[drone_id]

    async def _fsync_timer(self) -> None:
        while True:
            await asyncio.sleep(self.config.fsync_interval_s)
            try:
                await self.spool.sync()
            except OSError:
                log.exception("telemetry spool fsync failed")

    # --- what the writer reads from the database ------------------------------------------

    async def _refresh(self, *, contexts: bool = True) -> None:
        """Reload the grid index when grids changed (checked before every flush, so a batch is
        never attributed with grids older than its flush), and each drone's flight context."""
        async with self.pool.acquire() as conn:
            version = await repo.grids_version(conn)
            if version != self._grids_version:
                grids = await repo.grid_boundaries(conn)
                self._grids = GridIndex(grids)
                self._grids_version = version
                log.info("telemetry: grid index rebuilt with %d grids", len(grids))
            if not contexts:
                return
            self._next_refresh_s = time.monotonic() + REFRESH_INTERVAL_S
            self._contexts = await repo.flight_contexts(conn)
        for session in self._sessions.values():
            session.context = self._contexts.get(session.drone_id, NO_CONTEXT)
