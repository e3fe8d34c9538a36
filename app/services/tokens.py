"""Creating, revoking and looking up API tokens (used by the API and by `aerogrid token create`).

Every authenticated request needs the caller's principal. ``PrincipalCache`` keeps recent lookups,
found and not found, for a few seconds so that neither a busy client nor a flood of the same bad
token costs a database query per request. Revoking through this process drops the cached entry at
once; another instance sharing the database keeps honouring a revoked token for at most the TTL.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import asyncpg

from app.auth import Principal, Role, new_token
from app.db.conn import Conn
from app.db.repos import tokens as repo


async def create(
    conn: Conn,
    *,
    name: str,
    role: Role,
    communities: list[str] | None,
    created_by: int | None,
) -> tuple[str, asyncpg.Record]:
    token, prefix, token_hash = new_token()
    row = await repo.insert(
        conn,
        name=name,
        prefix=prefix,
        token_hash=token_hash,
        role=role,
        communities=sorted(set(communities)) if communities is not None else None,
        created_by=created_by,
    )
    return token, row


async def list_all(conn: Conn) -> list[asyncpg.Record]:
    return await repo.list_all(conn)


async def get(conn: Conn, token_id: int) -> asyncpg.Record | None:
    return await repo.get(conn, token_id)


async def revoke(conn: Conn, token_id: int, cache: PrincipalCache | None = None) -> None:
    await repo.revoke(conn, token_id)
    if cache is not None:
        cache.forget_token(token_id)


class PrincipalCache:
    """Token hash -> principal (or None: unknown or revoked) for ``ttl_s``, at most ``max_entries``.

    A TTL of 0 turns caching off. Entries are evicted oldest first when full, so memory is bounded
    even under a flood of distinct tokens.
    """

    def __init__(
        self, *, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal | None]] = OrderedDict()

    def get(self, token_hash: bytes) -> tuple[bool, Principal | None]:
        """(hit, principal): ``hit`` False means ask the database."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return False, None
        expires_s, principal = entry
        if expires_s <= self._clock():
            del self._entries[token_hash]
            return False, None
        return True, principal

    def put(self, token_hash: bytes, principal: Principal | None) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[token_hash] = (self._clock() + self.ttl_s, principal)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_token(self, token_id: int) -> None:
        """Drop the cached principal of a revoked token so the next request is refused."""
        stale = [h for h, (_, p) in self._entries.items() if p is not None and p.token_id == token_id]
        for token_hash in stale:
            del self._entries[token_hash]

    def __len__(self) -> int:
        return len(self._entries)


async def lookup(pool: asyncpg.Pool, token_hash: bytes, cache: PrincipalCache) -> Principal | None:
    """The principal for a well-formed token's hash; a connection is taken only on a cache miss."""
    hit, principal = cache.get(token_hash)
    if hit:
        return principal
    async with pool.acquire() as conn:
        principal = await repo.principal_for_hash(conn, token_hash)
    cache.put(token_hash, principal)
    return principal
