"""Roles and the one check every service calls first."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from console.errors import PermissionDenied

ROLES = ("ops", "bd", "risk", "manager", "admin")


@dataclass(frozen=True, kw_only=True)
class Actor:
    """The signed-in staff member a service acts for."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def require_role(actor: Actor | None, *allowed: str) -> Actor:
    """Raise PermissionDenied unless the actor holds one of ``allowed``."""
    if actor is None:
        raise PermissionDenied("error.not_signed_in")
    if not actor.has(*allowed):
        raise PermissionDenied("error.role_required", roles=", ".join(allowed))
    return actor


def validate_roles(roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        from console.errors import InvalidInput
        raise InvalidInput("error.unknown_role", role=", ".join(unknown))
    return roles
