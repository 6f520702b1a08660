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


# Registry of every protected service function and the roles it admits; the test suite
# checks every role against every entry.
PROTECTED: dict[str, frozenset[str]] = {}


def requires(*allowed: str):
    """Decorator for a service function taking ``actor=`` : refuse other roles first.

    The check runs before the body, so a refused call never touches the database.
    """
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            require_role(kwargs.get("actor"), *allowed)
            return fn(*args, **kwargs)

        guarded.allowed_roles = frozenset(allowed)
        PROTECTED[f"{fn.__module__}.{fn.__qualname__}"] = frozenset(allowed)
        return guarded

    return wrap
