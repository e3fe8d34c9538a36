"""Live updates across service instances through PostgreSQL LISTEN/NOTIFY.

Each instance sends what its hub produced (coalesced states, alert and progress events) with
``pg_notify`` on one channel, packed into payloads under ``MAX_PAYLOAD_BYTES`` (PostgreSQL refuses
8,000 bytes and more): a state is a few hundred bytes, so one payload carries tens of them. An
event too large on its own (an alert with long evidence) is summarised: its evidence is replaced by
``"truncated": true`` (the alerts API has the whole alert). Each instance LISTENs on a dedicated
connection, ignores its own payloads (instance id) and reconnects when the database restarts;
states produced while the database is away are dropped (the next state replaces them), events are
kept up to ``MAX_OUTBOX_EVENTS``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
from typing import Any, Final

import asyncpg

from app.live.hub import LiveHub, Routed

log = logging.getLogger(__name__)

CHANNEL: Final = "aerogrid_live"
MAX_PAYLOAD_BYTES: Final = 7_900
MAX_OUTBOX_EVENTS: Final = 10_000
RECONNECT_S: Final = 1.0


def _item(m: Routed) -> str:
    return (
        json.dumps([m.drone_id, m.grid_code, m.community_code], separators=(",", ":"))[:-1]
        + ","
        + m.text
        + "]"
    )


def _summarised(m: Routed) -> Routed | None:
    value = json.loads(m.text)
    alert = value.get("alert")
    if isinstance(alert, dict):
        alert["evidence"] = None
        alert["clear_evidence"] = None
        alert["message"] = str(alert.get("message", ""))[:500]
        value["truncated"] = True
        return Routed(m.drone_id, m.grid_code, m.community_code, json.dumps(value, separators=(",", ":")))
    return None


def pack(instance_id: str, states: list[Routed], events: list[Routed]) -> list[str]:
    """Payloads of at most MAX_PAYLOAD_BYTES: ``{"i": instance, "s": [...], "e": [...]}``, each
    entry ``[drone_id, grid_code, community_code, message]``."""
    head = json.dumps(instance_id)
    out: list[str] = []
    parts: dict[str, list[str]] = {"s": [], "e": []}
    size = 0
    overhead = len(head.encode()) + 32

    def flush() -> None:
        nonlocal size
        if parts["s"] or parts["e"]:
            out.append(f'{{"i":{head},"s":[{",".join(parts["s"])}],"e":[{",".join(parts["e"])}]}}')
        parts["s"], parts["e"], size = [], [], 0

    for key, items in (("e", events), ("s", states)):
        for m in items:
            text = _item(m)
            n = len(text.encode()) + 1
            if n + overhead > MAX_PAYLOAD_BYTES:
                small = _summarised(m)
                if small is None or len(_item(small).encode()) + 1 + overhead > MAX_PAYLOAD_BYTES:
                    log.warning("live message for drone %s too large for NOTIFY: dropped", m.drone_id)
                    continue
                text = _item(small)
                n = len(text.encode()) + 1
            if size + n + overhead > MAX_PAYLOAD_BYTES:
                flush()
            parts[key].append(text)
            size += n
    flush()
    return out


def unpack(payload: str) -> tuple[str, list[Routed], list[Routed]]:
    value = json.loads(payload)

    def routed(entries: list[Any]) -> list[Routed]:
        return [Routed(e[0], e[1], e[2], json.dumps(e[3], separators=(",", ":"))) for e in entries]

    return str(value["i"]), routed(value["s"]), routed(value["e"])


def _set_on_close(lost: asyncio.Event, _conn: object) -> None:
    lost.set()


class Relay:
    """Sends this instance's hub output to the others and delivers theirs to the local hub."""

    def __init__(self, dsn: str, hub: LiveHub, instance_id: str, *, tick_s: float = 0.05) -> None:
        self.dsn = dsn
        self.hub = hub
        self.instance_id = instance_id
        self.tick_s = tick_s
        self.payloads_sent = 0
        self.payloads_received = 0
        self.states_dropped = 0
        self._states: list[Routed] = []
        self._events: collections.deque[Routed] = collections.deque(maxlen=MAX_OUTBOX_EVENTS)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()

    def __call__(self, states: list[Routed], events: list[Routed]) -> None:
        """The hub's RelaySink: queue for the sender (never awaits)."""
        self._states.extend(states)
        self._events.extend(events)
        self._wake.set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            sender, states, events = unpack(str(payload))
        except (ValueError, KeyError, IndexError, TypeError):
            log.warning("live: unreadable notification ignored")
            return
        if sender == self.instance_id:
            return
        self.payloads_received += 1
        self.hub.deliver(states, events)

    async def _listen(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set_on_close, lost))
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listening.set()
                while not lost.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5.0)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=5.0)  # notice a silent network loss
            except Exception as exc:  # any failure of this connection (asyncpg has internal ones too)
                log.warning("live: LISTEN connection lost (%r); reconnecting", exc)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RECONNECT_S)

    async def _send(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            while True:
                await self._wake.wait()
                await asyncio.sleep(self.tick_s)  # gather a tick's worth into few payloads
                self._wake.clear()
                states, self._states = self._states, []
                events = [self._events.popleft() for _ in range(len(self._events))]
                payloads = pack(self.instance_id, states, events)
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.dsn)
                    await conn.executemany("SELECT pg_notify($1, $2)", [(CHANNEL, p) for p in payloads])
                    self.payloads_sent += len(payloads)
                except Exception as exc:  # any failure of this connection: reconnect
                    self.states_dropped += len(states)
                    self._events.extendleft(reversed(events))
                    log.warning("live: NOTIFY failed (%s); states dropped, events kept", exc)
                    if conn is not None:
                        conn.terminate()
                    conn = None
                    await asyncio.sleep(RECONNECT_S)
                    self._wake.set()
        finally:
            if conn is not None and not conn.is_closed():
                conn.terminate()

    def start(self) -> None:
        self.hub.relay = self
        self._tasks = [
            asyncio.create_task(self._listen(), name="live-relay-listen"),
            asyncio.create_task(self._send(), name="live-relay-send"),
        ]

    async def close(self) -> None:
        self.hub.relay = None
        for task in self._tasks:
            task.cancel()
        for result in await asyncio.gather(*self._tasks, return_exceptions=True):
            if not isinstance(result, asyncio.CancelledError | None):
                log.warning("live relay stopped with %r", result)
        self._tasks = []
