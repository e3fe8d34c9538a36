"""A drone registration's link: the canonical endpoint stored, and a link that really opens.

The registry stores every endpoint in its canonical form (``resolve_endpoint``), which is what the
link manager opens and what the unique (``drone_link_key(endpoint)``, sysid) index compares, so
one vehicle cannot be registered twice under two spellings (the way a community-scoped operator
could watch and command another community's drone). Rows stored before that rule are brought to
canonical form at start; of two rows that then name the same (link, sysid), the later is blocked.
"""

from __future__ import annotations

import logging
from typing import Protocol

import asyncpg

from app.db.conn import Conn
from app.db.repos import drones as repo
from app.errors import Conflict, ValidationFailed
from app.link.errors import LinkConflict, NotConnected
from app.link.manager import LinkManager
from app.link.transport import Endpoint, parse_endpoint, resolve_endpoint

log = logging.getLogger(__name__)


class Linker(Protocol):
    """What registration needs of the flight service."""

    manager: LinkManager

    async def unlink(self, drone_id: int) -> None: ...


def _endpoint_error(message: str) -> ValidationFailed:
    return ValidationFailed(f"endpoint: {message}", details=[{"field": "endpoint", "problem": message}])


async def canonical_endpoint(text: str) -> str:
    """The canonical form of a registration's endpoint; 422 naming the field when it has none."""
    try:
        return str(await resolve_endpoint(text))
    except ValueError as exc:
        raise _endpoint_error(str(exc)) from None


async def open_link(linker: Linker | None, conn: Conn, drone_id: int) -> None:
    """(Re)link the drone as registered on ``conn``, inside the caller's transaction.

    An endpoint the link manager cannot open (a bind address that is not local, a port in use by
    another program, a serial port without pyserial) raises a 422, and a ``udpin`` port already open
    under another bind address a 409, so the transaction rolls back and no drone is stored that
    would silently never link. Other conflicts with links open in this process (a different signing
    key on a shared endpoint) stay best effort, logged: the manager may still hold links of drones
    removed behind its back, and the database, not the manager, decides who owns a link.
    """
    if linker is None:
        return
    cfg = await repo.link_config(conn, drone_id)
    await linker.unlink(drone_id)
    if cfg is None:
        return
    try:
        await linker.manager.add_drone(str(drone_id), cfg["endpoint"], cfg["sysid"], cfg["signing_key"])
    except NotConnected as exc:
        raise _endpoint_error(f"cannot be opened: {exc.message}") from None
    except ValueError as exc:
        raise _endpoint_error(f"cannot be opened: {exc}") from None
    except LinkConflict as exc:
        endpoint = parse_endpoint(cfg["endpoint"])
        if endpoint.kind == "udpin" and any(
            parse_endpoint(link.endpoint).link_key == endpoint.link_key and link.endpoint != str(endpoint)
            for link in linker.manager.link_stats()
        ):
            raise Conflict(
                f"endpoint: local port {endpoint.port} is already open under another bind address",
                details=[{"field": "endpoint", "problem": "udpin port open under another bind address"}],
            ) from None
        log.warning("drone %s: not linked: %s", drone_id, exc.message, extra={"drone_id": drone_id})


async def canonicalise_stored(pool: asyncpg.Pool) -> None:
    """Store every registered endpoint in canonical form; block later duplicates of a (link, sysid).

    Runs at start, before the links open. Endpoints that cannot be canonicalised now (a host name
    that does not resolve) are left as written and logged; they link when their name resolves.
    """
    async with pool.acquire() as conn:
        rows = await repo.link_identities(conn)
        canonical: dict[int, Endpoint] = {}
        for row in rows:
            try:
                canonical[row["id"]] = await resolve_endpoint(row["endpoint"])
            except ValueError as exc:
                log.warning("drone %s: endpoint left as written: %s", row["id"], exc)
        owners: dict[tuple[str, int], int] = {}
        blocked: list[int] = []
        for row in rows:
            endpoint = canonical.get(row["id"])
            if endpoint is None:
                continue
            owner = owners.setdefault((endpoint.link_key, row["sysid"]), row["id"])
            if owner != row["id"]:
                blocked.append(row["id"])
                log.error(
                    "drone %s registers drone %s's link %s sysid %d again: blocked, it will not be "
                    "linked until its endpoint or sysid changes",
                    row["id"],
                    owner,
                    endpoint,
                    row["sysid"],
                )
        async with conn.transaction():
            for drone_id in blocked:  # first, so the owners' canonical forms cannot collide with them
                await repo.block_link(conn, drone_id)
            for row in rows:
                endpoint = canonical.get(row["id"])
                if endpoint is None or row["id"] in blocked or str(endpoint) == row["endpoint"]:
                    continue
                try:
                    async with conn.transaction():
                        await repo.set_endpoint(conn, row["id"], str(endpoint))
                except asyncpg.UniqueViolationError:  # collides with a row left as written
                    await repo.block_link(conn, row["id"])
                    log.error("drone %s: canonical endpoint %s is taken: blocked", row["id"], endpoint)
