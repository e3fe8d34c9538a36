"""Link ownership across service instances: a lease row per drone (migration 0006).

Several instances may share one PostgreSQL; each drone's link must be open in one of them only
(two ground stations answering one vehicle would fight over its mission and commands). Every
``renew_s`` each instance, in one statement each and on the database's clock, renews the leases
it holds and claims every linkable drone whose lease is missing or expired. Then it reconciles
the drones it has linked with the leases it holds, both ways, whatever happened before (a
restart, a link that failed, an edit through another instance):

* every drone it holds a lease on and that is linkable is linked (a link that fails to open is
  retried with a backoff doubling from ``renew_s`` up to ``MAX_RETRY_S``);
* an owned drone whose registered endpoint or system id no longer matches its open link is
  relinked;
* a linked drone whose lease another instance holds is unlinked at once; one without any lease
  that is not linkable (deleted or blocked through another instance) on its second sighting, so
  a registration through this instance, linked just before its row commits, is not unlinked.

So when an owner dies, its drones are linked elsewhere within ``lease_s + renew_s`` (default 6 + 2
= 8 s, stated as "within 10 s" in docs/live.md, plus the time the link takes to open), and a
restarted instance with the same id, whose leases are still valid and merely renewed, links
them again in its first round. A clean shutdown deletes its leases, so a restart or another
instance takes over at the next tick. The instance id defaults to host name and data directory.

Each lease row also carries the holder's advertised base URL (migration 0014), so an instance that
does not link a drone can forward the drone's commands to the one that does (app/api/forward.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Final, NamedTuple, Protocol

import asyncpg

from app.db.repos import drones as drones_repo
from app.link.manager import LinkManager
from app.link.transport import parse_endpoint

log = logging.getLogger(__name__)

RENEW_SQL: Final = """
UPDATE link_leases SET expires_at = now() + make_interval(secs => $2), advertise_url = $3
WHERE instance_id = $1 RETURNING drone_id"""

CLAIM_SQL: Final = """
INSERT INTO link_leases AS l (drone_id, instance_id, expires_at, advertise_url)
SELECT id, $1, now() + make_interval(secs => $2), $3 FROM drones WHERE NOT link_blocked
ON CONFLICT (drone_id) DO UPDATE
    SET instance_id = EXCLUDED.instance_id, expires_at = EXCLUDED.expires_at, acquired_at = now(),
        advertise_url = EXCLUDED.advertise_url
    WHERE l.expires_at < now()
RETURNING drone_id"""

OTHERS_SQL: Final = "SELECT drone_id FROM link_leases WHERE instance_id <> $1 AND expires_at >= now()"

RELEASE_SQL: Final = "DELETE FROM link_leases WHERE instance_id = $1"

HOLDER_SQL: Final = """
SELECT instance_id, advertise_url FROM link_leases WHERE drone_id = $1 AND expires_at >= now()"""

DB_ERRORS: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

MAX_RETRY_S: Final = 30.0
"""The longest wait before retrying an owned drone whose link failed to open."""


FOREIGN_LEASES_SQL: Final = """
SELECT instance_id, count(*) AS drones FROM link_leases
WHERE instance_id <> $1 AND expires_at >= now() GROUP BY instance_id ORDER BY instance_id"""


async def warn_if_leased_elsewhere(pool: asyncpg.Pool, instance_id: str) -> list[str]:
    """With leases off this instance links every drone: if other instances hold live leases on
    this database, both would answer the same vehicles. Warn (the deployment must set
    AEROGRID_LINK_LEASES=true everywhere); returns the other instances' ids."""
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(FOREIGN_LEASES_SQL, instance_id)
    except DB_ERRORS as exc:
        log.warning("link leases: could not look for other instances (%s)", exc)
        return []
    if rows:
        log.warning(
            "AEROGRID_LINK_LEASES is false but other instances hold live link leases on this database "
            "(%s): this instance links every drone and will fight them over their links; "
            "set AEROGRID_LINK_LEASES=true on every instance",
            ", ".join(f"{r['instance_id']}: {r['drones']} drones" for r in rows),
        )
    return [r["instance_id"] for r in rows]


def default_instance_id(data_dir: str) -> str:
    return f"{socket.gethostname()}:{data_dir}"[:200]


LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class AdvertiseUrlMissing(RuntimeError):
    """Leases on, bound beyond loopback and no AEROGRID_ADVERTISE_URL: the service refuses to start."""


def advertise_url(*, link_leases: bool, url: str | None, host: str, port: int) -> str | None:
    """The base URL this instance's lease rows carry, so the others can forward commands to it.

    Bound to loopback, the others can only be on this host, so http://127.0.0.1:<port> is right;
    bound to anything else, guessing (which interface, which proxy?) would send commands astray,
    so the operator must say."""
    if not link_leases:
        return url
    if url is not None:
        return url.rstrip("/")
    if host in LOOPBACK_HOSTS:
        return f"http://127.0.0.1:{port}"
    raise AdvertiseUrlMissing(
        f"AEROGRID_LINK_LEASES=true and bound to {host}: set AEROGRID_ADVERTISE_URL to the base URL "
        "the other instances reach this one at (e.g. http://10.0.0.5:8000), so they can route commands "
        "for the drones this instance links"
    )


class Holder(NamedTuple):
    """The instance holding a drone's live lease, and where it answers (None: it advertises none)."""

    instance_id: str
    advertise_url: str | None


class Linker(Protocol):
    manager: LinkManager

    async def link(self, drone_id: int, endpoint: str, sysid: int, signing_key: bytes | None) -> None: ...

    async def unlink(self, drone_id: int) -> None: ...


class LinkOwnership:
    def __init__(
        self,
        pool: asyncpg.Pool,
        linker: Linker,
        instance_id: str,
        *,
        lease_s: float = 6.0,
        renew_s: float = 2.0,
        advertise_url: str | None = None,
    ) -> None:
        self.pool = pool
        self.advertise_url = advertise_url
        self.linker = linker
        self.instance_id = instance_id
        self.lease_s = lease_s
        self.renew_s = renew_s
        self.owned: set[int] = set()
        self.takeovers = 0
        self._strays: set[int] = set()
        self._failures: dict[int, tuple[int, float]] = {}
        """drone -> (failed link attempts in a row, monotonic time of the next attempt)."""
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """One round: renew and claim leases, then reconcile the open links with them."""
        async with self.pool.acquire() as conn:
            me = (self.instance_id, self.lease_s, self.advertise_url)
            renewed = {r["drone_id"] for r in await conn.fetch(RENEW_SQL, *me)}
            acquired = {r["drone_id"] for r in await conn.fetch(CLAIM_SQL, *me)}
            others = {r["drone_id"] for r in await conn.fetch(OTHERS_SQL, self.instance_id)}
            configs = {r["id"]: r for r in await drones_repo.link_configs(conn)}
        self.owned = renewed | acquired
        await self._drop_unowned(others)
        for drone_id in sorted(self.owned):
            await self._keep_linked(drone_id, configs.get(drone_id), takeover=drone_id in acquired)

    async def holder(self, drone_id: int) -> Holder | None:
        """Who holds ``drone_id``'s live lease now (None: nobody; the drone is unlinked or unknown)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(HOLDER_SQL, drone_id)
        return None if row is None else Holder(row["instance_id"], row["advertise_url"])

    def _linked(self) -> set[int]:
        return {int(d) for d in self.linker.manager.drone_ids() if d.isdigit()}

    async def _drop_unowned(self, others: set[int]) -> None:
        """Unlink what this instance has open without holding its lease."""
        strays = self._linked() - self.owned
        for drone_id in sorted(strays):
            if drone_id in others:
                why = "linked by another instance"
            elif drone_id in self._strays:
                why = "no lease and not linkable (deleted or blocked)"
            else:
                continue
            log.info("drone %s: %s: unlinked here", drone_id, why, extra={"drone_id": drone_id})
            await self.linker.unlink(drone_id)
            self._failures.pop(drone_id, None)
        self._strays = self._linked() - self.owned - others

    async def _keep_linked(self, drone_id: int, cfg: asyncpg.Record | None, *, takeover: bool) -> None:
        """Make an owned drone's open link match its registration (or close it if unlinkable)."""
        manager = self.linker.manager
        if str(drone_id) in manager.drone_ids():
            vehicle = manager.vehicle(str(drone_id))
            if (
                cfg is not None
                and vehicle.sysid == cfg["sysid"]
                and _same_link(vehicle.endpoint, cfg["endpoint"])
            ):
                self._failures.pop(drone_id, None)
                return
            await self.linker.unlink(drone_id)
        if cfg is None:
            self._failures.pop(drone_id, None)
            return
        failures, retry_at_s = self._failures.get(drone_id, (0, 0.0))
        now_s = time.monotonic()
        if now_s < retry_at_s:
            return
        if takeover:
            self.takeovers += 1
        await self.linker.link(drone_id, cfg["endpoint"], cfg["sysid"], cfg["signing_key"])
        if str(drone_id) in manager.drone_ids():
            self._failures.pop(drone_id, None)
            return
        wait_s = min(self.renew_s * 2**failures, MAX_RETRY_S)
        self._failures[drone_id] = (failures + 1, now_s + wait_s)
        log.warning(
            "drone %s: owned but its link did not open; retrying in %.0f s",
            drone_id,
            wait_s,
            extra={"drone_id": drone_id},
        )

    async def start(self) -> None:
        """The first round now (drones link before the service answers), then every ``renew_s``."""
        try:
            await self.tick()
        except DB_ERRORS as exc:
            log.warning("link ownership: first round failed (%s); retrying", exc)
        self._task = asyncio.create_task(self._run(), name="link-ownership")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self.tick()
            except DB_ERRORS as exc:
                log.warning("link ownership: round failed (%s); links kept, retrying", exc)
            except Exception:
                log.exception("link ownership: round failed; retrying")

    async def stop(self) -> None:
        """Stop renewing (before the links close, so no round relinks a closing drone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def release(self) -> None:
        """Hand the leases back (after the links closed), so another instance takes over at once."""
        await self.stop()
        with contextlib.suppress(*DB_ERRORS):
            async with self.pool.acquire() as conn:
                await conn.execute(RELEASE_SQL, self.instance_id)


def _same_link(open_name: str, registered: str) -> bool:
    try:
        return parse_endpoint(open_name) == parse_endpoint(registered)
    except ValueError:
        return open_name == registered
