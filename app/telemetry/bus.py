"""In-process fan-out of decoded telemetry to consumers (detectors, the live hub).

Ingest publishes each batch of samples and events once; every consumer has its own bounded
queue. A consumer that falls behind loses its oldest batches (counted on its ``Consumer``), never
slows ingest or the other consumers, and never holds memory without bound.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from app.telemetry.records import Event, Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Batch:
    """What one ingest flush produced: samples (with their grid) and events, in arrival order."""

    samples: Sequence[Sample]
    events: Sequence[Event]


class Consumer:
    """One consumer's bounded queue of batches: ``async for batch in consumer``."""

    def __init__(self, bus: TelemetryBus, name: str, max_batches: int) -> None:
        self.name = name
        self.dropped_batches = 0
        self._bus = bus
        self._queue: collections.deque[Batch] = collections.deque(maxlen=max_batches)
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, batch: Batch) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped_batches += 1
        self._queue.append(batch)
        self._ready.set()

    async def get(self) -> Batch:
        """The oldest pending batch; waits for one. StopAsyncIteration once closed and drained."""
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def drain(self) -> list[Batch]:
        out = list(self._queue)
        self._queue.clear()
        return out

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> Batch:
        return await self.get()

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._bus.remove(self)


class TelemetryBus:
    def __init__(self) -> None:
        self._consumers: list[Consumer] = []

    def subscribe(self, name: str, *, max_batches: int = 256) -> Consumer:
        consumer = Consumer(self, name, max_batches)
        self._consumers.append(consumer)
        return consumer

    def remove(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def publish(self, batch: Batch) -> None:
        for consumer in tuple(self._consumers):
            consumer.offer(batch)

    def close(self) -> None:
        for consumer in tuple(self._consumers):
            consumer.close()
