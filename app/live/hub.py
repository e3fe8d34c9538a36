"""The live hub: coalesced drone states and alert/progress events, fanned out to WebSocket clients.

Ingest calls ``on_sample`` for every position (hot path: a dict store, no I/O). A drone whose last
state went out at least 0.9 / ``state_hz`` s ago is published within ``FLUSH_DELAY_S``; a newer
sample inside that interval waits (latest-wins) for the ticker, which runs every ``tick_s``. So a
drone gets at most ``state_hz`` states a second and a state waits for a tick only when its drone
sends faster than that. Each state is serialised once, offered to every client that wants it and
handed to the relay (other instances). Alerts arrive from the ``AlertSink``; progress events
(mission, sortie, current item, mode or arming changed) are derived from the samples.

Every client has its own bounded buffers, so a slow or stalled client can only hurt itself: states
are latest-wins per drone (a client that reads slowly gets the newest state, never a backlog), and
events go to a queue of at most ``max_events``; a client that lets it overflow is disconnected
rather than buffered without bound. Nothing here awaits a client.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from app.auth import Principal
from app.live import protocol
from app.telemetry.bus import Consumer
from app.telemetry.records import Sample

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENTS: Final = 1000
FLUSH_DELAY_S: Final = 0.01
"""States allowed out are gathered this long, so 1,000 drones make ~100 frames a second per client, not
one per datagram (a WebSocket send costs far more than a state)."""


@dataclass(frozen=True, slots=True)
class Routed:
    """A serialised message and what decides who gets it."""

    drone_id: int | None
    grid_code: str | None
    community_code: str | None
    text: str


class ClientOverflow(Exception):
    """The client let its event queue overflow: it is disconnected, not buffered without bound."""


class LiveClient:
    """One WebSocket client's subscription and buffers (latest-wins states, bounded events)."""

    def __init__(self, principal: Principal, max_events: int) -> None:
        self.principal = principal
        self.drones: set[int] = set()
        self.grids: set[str] = set()
        self.communities: set[str] = set()
        self.states_replaced = 0
        """States dropped because a newer state of the same drone arrived before this one was sent."""
        self.overflowed = False
        self._states: dict[int, str] = {}
        self._events: collections.deque[str] = collections.deque()
        self._max_events = max_events
        self._wake = asyncio.Event()

    @property
    def pending_states(self) -> int:
        return len(self._states)

    @property
    def pending_events(self) -> int:
        return len(self._events)

    def wants(self, m: Routed) -> bool:
        if not self.principal.sees_community(m.community_code):
            return False
        return (
            (m.drone_id is not None and m.drone_id in self.drones)
            or (m.grid_code is not None and m.grid_code in self.grids)
            or (m.community_code is not None and m.community_code in self.communities)
        )

    def offer_state(self, drone_id: int, text: str) -> None:
        if drone_id in self._states:
            self.states_replaced += 1
        self._states[drone_id] = text
        self._wake.set()

    def offer_event(self, text: str) -> None:
        """Queue an event (or a reply); past ``max_events`` unsent the client is marked overflowed."""
        if len(self._events) >= self._max_events:
            self.overflowed = True
        else:
            self._events.append(text)
        self._wake.set()

    async def next_frames(self) -> list[str]:
        """Everything pending, events first (in order) then one frame of the newest states."""
        while not self._events and not self._states and not self.overflowed:
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed:
            raise ClientOverflow(f"more than {self._max_events} events unsent")
        frames = list(self._events)
        self._events.clear()
        if self._states:
            frames.append(protocol.states_frame(list(self._states.values())))
            self._states.clear()
        return frames


RelaySink = Callable[[list[Routed], list[Routed]], None]
"""Called with (states, events) produced on this instance, to pass them to the other instances."""


class LiveHub:
    def __init__(
        self,
        *,
        state_hz: float = 5.0,
        tick_s: float = 0.05,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self.min_interval_s = (
            0.9 / state_hz
        )  # 10 % for arrival jitter: a 10 Hz drone is sent every other sample
        self.tick_s = tick_s
        self.max_events = max_events
        self.clients: set[LiveClient] = set()
        self.relay: RelaySink | None = None
        self.states_sent = 0
        self._pending: dict[int, Sample] = {}
        self._last_sent_s: dict[int, float] = {}
        self._progress_key: dict[int, tuple[object, ...]] = {}
        self._progress: list[Routed] = []
        self._grid: dict[int, str | None] = {}
        self._drone_community: dict[int, str | None] = {}
        self._latest: dict[int, Routed] = {}
        self._due: list[Sample] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- inputs ---------------------------------------------------------------------------

    def on_sample(self, sample: Sample) -> None:
        """Ingest hook (hot path): a drone whose rate allows it is published on the next loop
        iteration (no waiting for a tick); otherwise its newest sample waits for the ticker."""
        drone_id = sample.drone_id
        now_s = time.monotonic()
        if self._loop is not None and now_s - self._last_sent_s.get(drone_id, -1e9) >= self.min_interval_s:
            self._last_sent_s[drone_id] = now_s
            self._pending.pop(drone_id, None)
            self._due.append(sample)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_later(FLUSH_DELAY_S, self._flush_due)
        else:
            self._pending[drone_id] = sample
        key = (
            sample.upload_id,
            sample.mission_id,
            sample.sortie,
            sample.mission_seq,
            sample.mode,
            sample.armed,
        )
        if self._progress_key.get(drone_id) != key:
            self._progress_key[drone_id] = key
            grid, community = self._grid.get(drone_id), self._drone_community.get(drone_id)
            self._progress.append(
                Routed(drone_id, grid, community, protocol.progress_json(sample, grid, community))
            )

    def set_directory(self, drone_communities: dict[int, str | None]) -> None:
        """Each registered drone's community (refreshed from PostgreSQL by the caller)."""
        self._drone_community = drone_communities

    def community_of(self, drone_id: int) -> str | None:
        return self._drone_community.get(drone_id)

    def on_alert(self, kind: str, alert: dict[str, object]) -> None:
        """AlertSink listener: route by the alert's drone, grid and community."""
        drone_id = alert.get("drone_id")
        grid = alert.get("grid_code")
        community = alert.get("community_code")
        routed = Routed(
            drone_id if isinstance(drone_id, int) else None,
            grid if isinstance(grid, str) else None,
            community if isinstance(community, str) else None,
            protocol.alert_message(kind, dict(alert)),
        )
        self.deliver([], [routed])
        if self.relay is not None:
            self.relay([], [routed])

    # --- fan-out --------------------------------------------------------------------------

    def deliver(self, states: Iterable[Routed], events: Iterable[Routed]) -> None:
        """Offer states and events to every local client that wants them (never awaits)."""
        states = list(states)
        events = list(events)
        for m in states:
            if m.drone_id is not None:
                self._latest[m.drone_id] = m
        for client in tuple(self.clients):
            for m in events:
                if client.wants(m):
                    client.offer_event(m.text)
            for m in states:
                if m.drone_id is not None and client.wants(m):
                    client.offer_state(m.drone_id, m.text)

    def offer_latest(self, client: LiveClient) -> None:
        """A new subscription starts from the newest state of each drone it covers."""
        for m in tuple(self._latest.values()):
            if client.wants(m):
                client.offer_state(m.drone_id if m.drone_id is not None else 0, m.text)

    def add_client(self, principal: Principal) -> LiveClient:
        client = LiveClient(principal, self.max_events)
        self.clients.add(client)
        return client

    def remove_client(self, client: LiveClient) -> None:
        self.clients.discard(client)

    # --- the ticker -----------------------------------------------------------------------

    def _flush_due(self) -> None:
        self._flush_scheduled = False
        due, self._due = self._due, []
        try:
            self._publish(due)
        except Exception:
            log.exception("live hub flush failed; continuing")

    def tick(self) -> None:
        """Publish the held states whose drone has sent nothing newer one tick after it could have,
        and the progress events. (A drone streaming steadily sends its next sample before that and
        it goes out at once: the ticker only flushes the last sample of a drone that went quiet.)"""
        now_s = time.monotonic()
        hold_s = self.min_interval_s + self.tick_s
        due = [s for d, s in self._pending.items() if now_s - self._last_sent_s.get(d, -1e9) >= hold_s]
        for sample in due:
            del self._pending[sample.drone_id]
            self._last_sent_s[sample.drone_id] = now_s
        self._publish(due)

    def _publish(self, due: list[Sample]) -> None:
        states = []
        for sample in due:
            drone_id = sample.drone_id
            grid, community = self._grid.get(drone_id), self._drone_community.get(drone_id)
            states.append(Routed(drone_id, grid, community, protocol.state_json(sample, grid, community)))
        events, self._progress = self._progress, []
        if not states and not events:
            return
        self.states_sent += len(states)
        self.deliver(states, events)
        if self.relay is not None:
            self.relay(states, events)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick()
            except Exception:
                log.exception("live hub tick failed; continuing")

    async def _grids(self, consumer: Consumer) -> None:
        """Each drone's grid from ingest's attributed batches (a state names its latest grid)."""
        async for batch in consumer:
            for s in batch.samples:
                self._grid[s.drone_id] = s.grid_code

    def start(self, grid_batches: Consumer | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._ticker(), name="live-hub-ticker"))
        if grid_batches is not None:
            self._tasks.append(asyncio.create_task(self._grids(grid_batches), name="live-hub-grids"))

    async def close(self) -> None:
        self._loop = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
