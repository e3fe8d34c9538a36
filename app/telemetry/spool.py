"""The on-disk spool: where samples and events wait while PostgreSQL is unreachable.

Append-only segment files ``NNNNNNNNNNNNNNNN.seg`` under ``data_dir/spool``; each record is one
batch: a little-endian u32 payload length, a u32 CRC-32 of the payload, then the payload (JSON:
the rows with times as integer microseconds, so a replayed row is bit-identical and hits the
same idempotent key). Writes go straight to the file (no user-space buffer) and a timer fsyncs
at least every ``fsync_interval_s``: a SIGKILL loses at most what the kernel had not yet synced,
and a power cut at most one interval. A record cut short by a crash fails its length or CRC and
ends its segment's replay there (counted and logged). Segments are replayed oldest first and
deleted only after every record in them is committed. The total size is bounded: a batch that
does not fit, or that the disk refuses (full before the bound), is dropped and counted, never
blocking ingest. Drops are also tallied per drone
(``dropped``) for the alert the pipeline raises once the database is back: while it is away no
alert row can be written, so the tally waits in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from app.telemetry.records import Event, Sample

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("<II")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
SEGMENT_BYTES: Final = 8 * 1024 * 1024
_TIME_FIELDS_SAMPLE: Final = (0, len(Sample._fields) - 1)  # time, received_at


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def encode_batch(samples: Sequence[Sample], events: Sequence[Event]) -> bytes:
    s_rows = [[_us(r.time), *r[1:-1], _us(r.received_at)] for r in samples]
    e_rows = [[_us(r.time), *r[1:]] for r in events]
    return json.dumps({"s": s_rows, "e": e_rows}, separators=(",", ":")).encode()


def decode_batch(payload: bytes) -> tuple[list[Sample], list[Event]]:
    data: dict[str, list[list[Any]]] = json.loads(payload)
    samples = []
    for row in data["s"]:
        for i in _TIME_FIELDS_SAMPLE:
            row[i] = _dt(row[i])
        samples.append(Sample(*row))
    events = []
    for row in data["e"]:
        row[0] = _dt(row[0])
        events.append(Event(*row))
    return samples, events


@dataclass(slots=True)
class DropTally:
    """What one drone lost to a full spool: rows, the rows' time span, and where it last was."""

    first_dropped_at: datetime
    """Wall-clock time of the first drop (the alert opens then)."""
    samples: int = 0
    events: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    last_sample: Sample | None = None

    def add_times(self, first: datetime, last: datetime) -> None:
        self.first_time = first if self.first_time is None else min(self.first_time, first)
        self.last_time = last if self.last_time is None else max(self.last_time, last)


@dataclass(slots=True)
class SpoolStats:
    records_written: int = 0
    samples_spooled: int = 0
    samples_dropped: int = 0
    events_dropped: int = 0
    corrupt_tails: int = 0


class Spool:
    """Bounded append-only segments; one writer (the ingest pipeline) on the event loop."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.stats = SpoolStats()
        self.dropped: dict[int, DropTally] = {}
        """Per drone, what was dropped since the pipeline last reported it."""
        directory.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._active: Path | None = None
        self._active_bytes = 0
        self._dirty = False
        existing = self._segment_paths()
        self._next_number = int(existing[-1].stem) + 1 if existing else 1
        self.total_bytes = sum(p.stat().st_size for p in existing)

    def _segment_paths(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.seg") if p.stem.isdigit())

    @property
    def empty(self) -> bool:
        return self.total_bytes == 0

    def append(self, samples: Sequence[Sample], events: Sequence[Event]) -> bool:
        """Write one batch as one record; False (and counted) when the spool is full."""
        payload = encode_batch(samples, events)
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self.total_bytes + len(record) > self.max_bytes:
            self._drop(samples, events, f"full ({self.total_bytes} of {self.max_bytes} bytes)")
            return False
        try:
            if self._fd is None or self._active_bytes >= self.segment_bytes:
                self._open_segment()
            assert self._fd is not None
            if os.write(self._fd, record) != len(record):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            # The disk filled before the size bound did (ENOSPC, a quota): a drop like a full
            # spool, not an outage. A short write is cut back off, so the segment holds whole
            # records only and the ones before it still replay.
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._active_bytes)
            self._drop(samples, events, f"not writable ({exc})")
            return False
        self._active_bytes += len(record)
        self.total_bytes += len(record)
        self._dirty = True
        self.stats.records_written += 1
        self.stats.samples_spooled += len(samples)
        return True

    def _drop(self, samples: Sequence[Sample], events: Sequence[Event], why: str) -> None:
        self.stats.samples_dropped += len(samples)
        self.stats.events_dropped += len(events)
        self._tally(samples, events)
        log.error(
            "telemetry spool %s: dropped %d samples and %d events",
            why,
            len(samples),
            len(events),
            extra={"samples_dropped_total": self.stats.samples_dropped},
        )

    def _tally(self, samples: Sequence[Sample], events: Sequence[Event]) -> None:
        now = datetime.now(UTC)
        by_drone: dict[int, tuple[list[Sample], list[Event]]] = {}
        for sample in samples:
            by_drone.setdefault(sample.drone_id, ([], []))[0].append(sample)
        for event in events:
            by_drone.setdefault(event.drone_id, ([], []))[1].append(event)
        for drone_id, (d_samples, d_events) in by_drone.items():
            tally = self.dropped.setdefault(drone_id, DropTally(first_dropped_at=now))
            tally.samples += len(d_samples)
            tally.events += len(d_events)
            times = [r.time for r in d_samples] + [r.time for r in d_events]
            tally.add_times(min(times), max(times))
            latest = max(d_samples, key=lambda r: r.time) if d_samples else None
            if latest is not None and (tally.last_sample is None or latest.time >= tally.last_sample.time):
                tally.last_sample = latest

    def _open_segment(self) -> None:
        self.seal()
        self._active = self.directory / f"{self._next_number:016d}.seg"
        self._next_number += 1
        self._fd = os.open(self._active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._active_bytes = 0
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name survives a crash too
        finally:
            os.close(dir_fd)

    def seal(self) -> None:
        """Sync and close the active segment so it can be replayed."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._active = None
            self._dirty = False

    async def sync(self) -> None:
        """fsync the active segment off the event loop (on a duplicate descriptor, so a seal
        closing the original meanwhile cannot pull it away)."""
        if self._fd is None or not self._dirty:
            return
        self._dirty = False
        dup = os.dup(self._fd)
        try:
            await asyncio.to_thread(os.fsync, dup)
        finally:
            os.close(dup)

    def sealed_segments(self) -> list[Path]:
        """Segments ready to replay, oldest first (seal first to include the active one)."""
        return [p for p in self._segment_paths() if p != self._active]

    def read_segment(self, path: Path) -> Iterator[tuple[list[Sample], list[Event]]]:
        """The batches of a segment in order, stopping at a torn or corrupt record."""
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            if offset + _HEADER.size > len(data):
                self._corrupt(path, offset, "truncated header")
                return
            length, crc = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                self._corrupt(path, offset, "truncated or corrupt record")
                return
            try:
                batch = decode_batch(payload)
            except (ValueError, KeyError, TypeError) as exc:
                self._corrupt(path, offset, f"undecodable record: {exc}")
                return
            yield batch
            offset += _HEADER.size + length

    def _corrupt(self, path: Path, offset: int, why: str) -> None:
        self.stats.corrupt_tails += 1
        log.warning(
            "telemetry spool %s: %s at byte %d; the rest of the segment is skipped", path.name, why, offset
        )

    def remove(self, path: Path) -> None:
        size = path.stat().st_size
        path.unlink()
        self.total_bytes = max(0, self.total_bytes - size)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.seal()
