"""Fan-out of one link's decoded messages: one-shot waiters, queued subscriptions, callbacks.

A link may carry several vehicles, so every consumer filters by system id. Three shapes:

* ``expect(...)`` returns a Future resolved by the first matching message, failed with
  LinkTimeout after ``timeout_s``. Register it *before* sending the request so a fast reply
  cannot slip past.
* ``subscribe(...)`` returns a bounded ``Subscription`` (async iterator, or ``next(timeout_s)``)
  for request/response protocols that see several replies (mission transfers) and for telemetry
  consumers (ingest, the live hub). A slow consumer loses its oldest messages, counted in
  ``dropped``; it never slows the link.
* ``add_listener(callback)`` for cheap synchronous consumers (per-vehicle state).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Collection
from types import TracebackType

from app.link.codec import MavMessage
from app.link.errors import LinkError, LinkTimeout, NotConnected

log = logging.getLogger(__name__)

Predicate = Callable[[MavMessage], bool]
Listener = Callable[[MavMessage], None]


class _Filter:
    __slots__ = ("match", "names", "sysid")

    def __init__(
        self, sysid: int | None, names: str | Collection[str] | None, match: Predicate | None
    ) -> None:
        self.sysid = sysid
        self.names: frozenset[str] | None = (
            frozenset((names,)) if isinstance(names, str) else frozenset(names) if names is not None else None
        )
        self.match = match

    def accepts(self, msg: MavMessage) -> bool:
        if self.sysid is not None and msg.sysid != self.sysid:
            return False
        if self.names is not None and msg.name not in self.names:
            return False
        if self.match is None:
            return True
        try:
            return self.match(msg)
        except Exception:  # a predicate bug must not stop the link's dispatch loop
            log.exception("match predicate failed on %s from sysid %d", msg.name, msg.sysid)
            return False


class Subscription:
    """A bounded queue of matching messages; close it (or use ``with``) when done."""

    def __init__(self, router: Router, flt: _Filter, maxsize: int) -> None:
        self._router = router
        self._filter = flt
        self._queue: collections.deque[MavMessage] = collections.deque(maxlen=maxsize)
        self._wakeup = asyncio.Event()
        self._closed_error: LinkError | None = None
        self.closed = False
        self.dropped = 0

    def _offer(self, msg: MavMessage) -> None:
        if not self._filter.accepts(msg):
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(msg)
        self._wakeup.set()

    def _end(self, error: LinkError | None) -> None:
        self.closed = True
        self._closed_error = error
        self._wakeup.set()

    async def next(self, timeout_s: float) -> MavMessage | None:
        """The next message, or None when ``timeout_s`` passes first; raises NotConnected once
        the link closed and the queue is drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._queue:
            if self.closed:
                raise self._closed_error or NotConnected("subscription closed")
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return None
        return self._queue.popleft()

    def drain(self) -> list[MavMessage]:
        """Everything queued now, without waiting."""
        items = list(self._queue)
        self._queue.clear()
        return items

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> MavMessage:
        """Wait for the next message; ends when the subscription or its link closes."""
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    def close(self) -> None:
        if not self.closed:
            self._router._remove_subscription(self)
            self._end(None)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _mark_retrieved(future: asyncio.Future[MavMessage]) -> None:
    """Keep asyncio quiet about timeouts of waiters whose caller already gave up on them."""
    if not future.cancelled():
        future.exception()


class Router:
    """Delivers each message of one link to the waiters, subscriptions and listeners that match."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiters: list[tuple[_Filter, asyncio.Future[MavMessage]]] = []
        self._subscriptions: list[Subscription] = []
        self._listeners: list[tuple[int | None, Listener]] = []
        self._listeners_by_sysid: dict[int, tuple[Listener, ...]] = {}
        self._closed_error: LinkError | None = None

    def dispatch(self, msg: MavMessage) -> None:
        """Hand one decoded message to every matching consumer; consumer errors are logged, not raised."""
        for listener in self._listeners_for(msg.sysid):
            try:
                listener(msg)
            except Exception:
                log.exception("link %s: listener failed on %s from sysid %d", self.name, msg.name, msg.sysid)
        if self._waiters:
            still_waiting = []
            for flt, future in self._waiters:
                if future.done():
                    continue
                if flt.accepts(msg):
                    future.set_result(msg)
                else:
                    still_waiting.append((flt, future))
            self._waiters = still_waiting
        for subscription in tuple(self._subscriptions):
            subscription._offer(msg)

    def expect(
        self,
        *,
        timeout_s: float,
        names: str | Collection[str] | None = None,
        sysid: int | None = None,
        match: Predicate | None = None,
    ) -> asyncio.Future[MavMessage]:
        """A Future for the first message matching all given filters, failing with LinkTimeout."""
        future: asyncio.Future[MavMessage] = asyncio.get_running_loop().create_future()
        if self._closed_error is not None:
            future.set_exception(self._closed_error)
            return future
        flt = _Filter(sysid, names, match)
        self._waiters.append((flt, future))
        handle = asyncio.get_running_loop().call_later(timeout_s, self._expire, future, flt, timeout_s)
        future.add_done_callback(lambda _: handle.cancel())
        future.add_done_callback(_mark_retrieved)
        return future

    def _expire(self, future: asyncio.Future[MavMessage], flt: _Filter, timeout_s: float) -> None:
        if not future.done():
            what = ",".join(sorted(flt.names)) if flt.names else "message"
            future.set_exception(LinkTimeout(f"link {self.name}: no {what} within {timeout_s:.1f} s"))
        self._waiters = [(f, fut) for f, fut in self._waiters if fut is not future]

    def subscribe(
        self,
        *,
        sysid: int | None = None,
        names: str | Collection[str] | None = None,
        match: Predicate | None = None,
        maxsize: int = 1024,
    ) -> Subscription:
        """Queue every matching message from now on (all messages of the link when unfiltered)."""
        subscription = Subscription(self, _Filter(sysid, names, match), maxsize)
        if self._closed_error is not None:
            subscription._end(self._closed_error)
        else:
            self._subscriptions.append(subscription)
        return subscription

    def _remove_subscription(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def add_listener(self, callback: Listener, *, sysid: int | None = None) -> Callable[[], None]:
        """Call ``callback`` synchronously for each message (of ``sysid``); returns the remover."""
        entry = (sysid, callback)
        self._listeners.append(entry)
        self._listeners_by_sysid.clear()

        def remove() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)
                self._listeners_by_sysid.clear()

        return remove

    def _listeners_for(self, sysid: int) -> tuple[Listener, ...]:
        """The listeners of one system id in registration order, cached until the set changes: a link
        carrying hundreds of vehicles must not scan every vehicle's listener for each message."""
        found = self._listeners_by_sysid.get(sysid)
        if found is None:
            found = tuple(cb for s, cb in self._listeners if s is None or s == sysid)
            self._listeners_by_sysid[sysid] = found
        return found

    def close(self, error: LinkError) -> None:
        """Fail pending waiters and end subscriptions with ``error`` (the link closed)."""
        self._closed_error = error
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)
        self._waiters = []
        for subscription in self._subscriptions:
            subscription._end(error)
        self._subscriptions = []
        self._listeners = []
        self._listeners_by_sysid.clear()
