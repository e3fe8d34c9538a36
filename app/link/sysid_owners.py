"""Which address speaks for each system id on a datagram link.

A vehicle is known by its MAVLink system id, and nothing in an unsigned packet proves who sent
it: a second vehicle (a misconfigured one, or an attacker) sending with the same id from another
address would move the first one's position, mode and mission progress, and on ``udpin`` steal
the replies. On UDP the sender's address is the one thing the link knows for sure, so the first
address heard for a system id owns it, and packets with that id from any other address are
dropped, counted as conflicts and logged (rate-limited). Ownership moves only when the owner has
been silent for ``release_after_s`` (a vehicle that rebooted onto a new source port, a router that
restarted), or at once to the address a ``udpout`` link sends to: that address is where the
operator said the vehicle is. Signing, not this, is the defence against a determined attacker:
one who waits for the real vehicle to fall silent can still take its id over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.link.anomalies import AnomalyLog

Address = tuple[Any, ...]


@dataclass(slots=True)
class _Owner:
    address: tuple[Any, Any]
    last_heard_s: float


class SysidOwners:
    """The owning address of each system id heard on one link, and the conflicts refused."""

    def __init__(
        self,
        anomalies: AnomalyLog,
        *,
        release_after_s: float,
        preferred: tuple[Any, Any] | None = None,
    ) -> None:
        self.release_after_s = release_after_s
        self.preferred = preferred
        self.conflicts = 0
        self._anomalies = anomalies
        self._owners: dict[int, _Owner] = {}

    def admit(self, sysid: int, source: Address, now_s: float) -> bool:
        """Whether a packet of ``sysid`` from ``source`` (host, port, ...) speaks for that id."""
        address = source if len(source) == 2 else (source[0], source[1])  # IPv6 adds flow info, scope
        owner = self._owners.get(sysid)
        if owner is None:
            self._owners[sysid] = _Owner(address, now_s)
            return True
        if owner.address == address:
            owner.last_heard_s = now_s
            return True
        silent_s = now_s - owner.last_heard_s
        if address == self.preferred or silent_s > self.release_after_s:
            self._anomalies.note(
                "sysid_moved",
                f"sysid {sysid} now heard from {_show(address)} (was {_show(owner.address)}, "
                f"silent {silent_s:.1f} s)",
            )
            self._owners[sysid] = _Owner(address, now_s)
            return True
        self.conflicts += 1
        self._anomalies.note(
            "sysid_conflict",
            f"sysid {sysid} from {_show(address)} while {_show(owner.address)} speaks for it "
            f"(heard {silent_s:.1f} s ago): dropped",
        )
        return False


def _show(address: tuple[Any, Any]) -> str:
    host = str(address[0])
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
