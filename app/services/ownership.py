"""Link ownership across service instances: a lease row per drone (migration 0006).

Several instances may share one PostgreSQL; each drone's link must be open in one of them only
(two ground stations answering one vehicle would fight over its mission and commands). Every
``renew_s`` each instance, in one statement each and on the database's clock:

* renews the leases it holds (``expires_at = now() + lease_s``);
* claims every linkable drone whose lease is missing or expired, and links the drones it just
  acquired (``FlightService.link``);
* unlinks any drone it has open whose lease another instance holds (a drone registered or
  edited through this instance while another owns it is linked here for at most ``renew_s``);
* relinks an owned drone whose registered endpoint or system id no longer matches its open link
  (edited through another instance).

So when an owner dies, its drones are linked elsewhere within ``lease_s + renew_s`` (default 6 + 2
= 8 s, stated as "within 10 s" in docs/live.md, plus the time the link takes to open). A clean
shutdown deletes its leases, so a restart or another instance takes over at the next tick. The
instance id defaults to host name and data directory, so a restarted instance on the same data
directory gets its own unexpired leases back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Final, Protocol

import asyncpg

from app.db.repos import drones as drones_repo
from app.link.manager import LinkManager
from app.link.transport import parse_endpoint

log = logging.getLogger(__name__)

RENEW_SQL: Final = """
UPDATE link_leases SET expires_at = now() + make_interval(secs => $2)
WHERE instance_id = $1 RETURNING drone_id"""

CLAIM_SQL: Final = """
INSERT INTO link_leases AS l (drone_id, instance_id, expires_at)
SELECT id, $1, now() + make_interval(secs => $2) FROM drones WHERE NOT link_blocked
ON CONFLICT (drone_id) DO UPDATE
    SET instance_id = EXCLUDED.instance_id, expires_at = EXCLUDED.expires_at, acquired_at = now()
    WHERE l.expires_at < now()
RETURNING drone_id"""

OTHERS_SQL: Final = "SELECT drone_id FROM link_leases WHERE instance_id <> $1 AND expires_at >= now()"

RELEASE_SQL: Final = "DELETE FROM link_leases WHERE instance_id = $1"

DB_ERRORS: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def default_instance_id(data_dir: str) -> str:
    return f"{socket.gethostname()}:{data_dir}"[:200]


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
    ) -> None:
        self.pool = pool
        self.linker = linker
        self.instance_id = instance_id
        self.lease_s = lease_s
        self.renew_s = renew_s
        self.owned: set[int] = set()
        self.takeovers = 0
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """One round: renew, claim and link, give up what others hold, follow edits."""
        manager = self.linker.manager
        async with self.pool.acquire() as conn:
            renewed = {r["drone_id"] for r in await conn.fetch(RENEW_SQL, self.instance_id, self.lease_s)}
            acquired = {r["drone_id"] for r in await conn.fetch(CLAIM_SQL, self.instance_id, self.lease_s)}
            others = {r["drone_id"] for r in await conn.fetch(OTHERS_SQL, self.instance_id)}
            configs = {r["id"]: r for r in await drones_repo.link_configs(conn)}
        self.owned = renewed | acquired
        linked = {int(d) for d in manager.drone_ids() if d.isdigit()}
        for drone_id in sorted(others & linked):
            log.info(
                "drone %s: linked by another instance: unlinked here", drone_id, extra={"drone_id": drone_id}
            )
            await self.linker.unlink(drone_id)
        for drone_id in sorted(self.owned):
            cfg = configs.get(drone_id)
            if cfg is None:
                continue
            if drone_id in linked:
                vehicle = manager.vehicle(str(drone_id))
                if vehicle.sysid == cfg["sysid"] and _same_link(vehicle.endpoint, cfg["endpoint"]):
                    continue
                await self.linker.unlink(drone_id)
            elif drone_id not in acquired:
                continue  # owned but unlinked on purpose (or its link failed): left as it is
            if drone_id in acquired:
                self.takeovers += 1
            await self.linker.link(drone_id, cfg["endpoint"], cfg["sysid"], cfg["signing_key"])

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
