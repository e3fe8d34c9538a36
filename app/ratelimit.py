"""Token-bucket limits, bounded in memory: failed authentication per address, and request budgets.

``RequestLimiter`` (below) spends the same buckets on every request of a kind instead of on failures
only: token creation per admin token and per address, and commands that move a drone per token and
drone (docs/api.md, "Rate limits"). The rest of this note is about the failed-authentication limit.

Every request that presents a bad token (malformed, unknown or revoked) takes one token from its
address's bucket; the bucket refills at a steady rate up to a burst. While a bucket is empty the
address gets 429 ``rate_limited`` with ``Retry-After`` before any database work, so a flood of
garbage tokens from a few addresses cannot crowd real users out of the connection pool. Buckets
are kept for at most ``max_clients`` addresses, least recently failed first out: memory stays
bounded whatever the number of attacking addresses. IPv6 clients are keyed by their /64, the
block one subscriber usually holds, so rotating addresses inside it does not reset the bucket.

A 429 alone does not slow a hostile client down: it asks again at once, and a server answering
hundreds of such requests a second shares its event loop fairly among them, so the one real client
gets a hundredth of it. ``Tarpit`` therefore holds a limited client's answer until its Retry-After
(capped), which costs a sleeping coroutine and no CPU, and turns each flooding connection into at
most one request per hold. The number held at once is bounded; beyond it answers go out at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


def client_key(host: str | None) -> str:
    """The bucket key for a client address: the address itself, an IPv6 address's /64."""
    if not host:
        return "unknown"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class FailureLimiter:
    """Token buckets of failed attempts per client key; ``burst`` 0 disables the limit."""

    def __init__(
        self,
        *,
        burst: int,
        refill_per_s: float,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refill_per_s <= 0 and burst > 0:
            raise ValueError("refill_per_s must be positive when the limit is enabled")
        self.burst = burst
        self.refill_per_s = refill_per_s
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str, now_s: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.tokens = min(self.burst, bucket.tokens + (now_s - bucket.updated_s) * self.refill_per_s)
        bucket.updated_s = now_s
        if bucket.tokens >= self.burst:  # full again: the same as no bucket, free the memory
            del self._buckets[key]
            return None
        return bucket

    def retry_after_s(self, key: str) -> int | None:
        """Whole seconds until this client may try again, or None when it may try now."""
        if self.burst <= 0:
            return None
        bucket = self._refilled(key, self._clock())
        if bucket is None or bucket.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.refill_per_s))

    def record_failure(self, key: str) -> None:
        """Take one token from the client's bucket (creating it full, evicting the stalest)."""
        if self.burst <= 0:
            return
        now_s = self._clock()
        bucket = self._refilled(key, now_s)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.burst), updated_s=now_s)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def __len__(self) -> int:
        return len(self._buckets)


class Tarpit:
    """Holds answers to limited clients for up to ``max_delay_s``, at most ``max_waiting`` at a time."""

    def __init__(self, *, max_delay_s: float, max_waiting: int) -> None:
        self.max_delay_s = max_delay_s
        self.max_waiting = max_waiting
        self.waiting = 0

    async def hold(self, delay_s: float) -> None:
        """Sleep ``delay_s`` (capped) unless the tarpit is off or full."""
        if self.max_delay_s <= 0 or self.waiting >= self.max_waiting:
            return
        self.waiting += 1
        try:
            await asyncio.sleep(min(delay_s, self.max_delay_s))
        finally:
            self.waiting -= 1


class RequestLimiter(FailureLimiter):
    """Token buckets of requests per key: every request takes one token, none is left: refused.

    The same bucket and the same memory bound as ``FailureLimiter``; what it counts is every
    request (a token created, a drone commanded), not only failed ones.
    """

    def take(self, key: str) -> int | None:
        """Take one token for ``key``: None when taken, else whole seconds until one is back."""
        retry_after_s = self.retry_after_s(key)
        if retry_after_s is None:
            self.record_failure(key)
        return retry_after_s


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The per-app request limits: token creation (per admin token and per address) and commands
    that move a drone (per token and drone, or per token and run)."""

    tokens_per_token: RequestLimiter
    tokens_per_address: RequestLimiter
    flight: RequestLimiter

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> RequestLimits:
        def limiter(burst: int, refill_per_s: float) -> RequestLimiter:
            return RequestLimiter(
                burst=burst, refill_per_s=refill_per_s, max_clients=settings.rate_limit_max_keys, clock=clock
            )

        return cls(
            tokens_per_token=limiter(settings.token_create_burst, settings.token_create_refill_per_s),
            tokens_per_address=limiter(
                settings.token_create_address_burst, settings.token_create_address_refill_per_s
            ),
            flight=limiter(settings.flight_command_burst, settings.flight_command_refill_per_s),
        )


def spend(limiter: RequestLimiter, key: str, what: str) -> None:
    """Take one request from ``key``'s budget or raise 429 ``rate_limited`` with Retry-After."""
    retry_after_s = limiter.take(key)
    if retry_after_s is not None:
        raise RateLimited(f"too many {what}; retry in {retry_after_s} s", retry_after_s=retry_after_s)
