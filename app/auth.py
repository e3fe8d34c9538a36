"""API tokens and roles.

A token is ``ag_<prefix>_<secret>``: 8 + 32 random url-safe characters. Only its SHA-256 is
stored (the secret has ~190 bits of entropy, so a slow hash adds nothing); the prefix is kept
in clear so an admin can tell tokens apart in listings. Roles are not a ladder: admin can do
everything, operator flies and manages drones, tester drives simulated vehicles, viewer reads.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    TESTER = "tester"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    MANAGE_DISTRICT = "manage_district"  # grids, geofences, district settings
    MANAGE_DRONES = "manage_drones"
    FLY = "fly"  # move any drone
    FLY_SIMULATED = "fly_simulated"  # move simulated / SITL drones only
    SIM_CONTROL = "sim_control"  # simulator faults and fleet control
    MANAGE_TOKENS = "manage_tokens"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.MANAGE_DRONES, Permission.FLY, Permission.FLY_SIMULATED}
    ),
    Role.TESTER: frozenset({Permission.READ, Permission.FLY_SIMULATED, Permission.SIM_CONTROL}),
    Role.ADMIN: frozenset(Permission),
}


def grants(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, name, role and community scope (None = whole district)."""

    token_id: int
    name: str
    role: Role
    communities: frozenset[str] | None

    def can(self, permission: Permission) -> bool:
        return grants(self.role, permission)

    @property
    def community_scope(self) -> list[str] | None:
        """The scope as a sorted list for SQL filters (None: the whole district)."""
        return None if self.communities is None else sorted(self.communities)

    def sees_community(self, community_code: str | None) -> bool:
        if self.communities is None:
            return True
        return community_code is not None and community_code in self.communities


SYSTEM = Principal(token_id=0, name="system", role=Role.ADMIN, communities=None)
"""AeroGrid itself (the sample district loader, the CLI run by an operator on the server)."""

TOKEN_PREFIX = "ag_"
_TOKEN_RE = re.compile(r"ag_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{32}")


def is_well_formed(token: str) -> bool:
    """Whether ``token`` has the shape ``new_token`` gives; anything else is refused without a lookup."""
    return _TOKEN_RE.fullmatch(token) is not None


def new_token() -> tuple[str, str, bytes]:
    """A fresh token: (the token to show once, its display prefix, its hash to store)."""
    prefix = secrets.token_urlsafe(6)[:8].replace("_", "x").replace("-", "y")
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    return token, prefix, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
