"""Roles, and the one check every gated service call passes first.

A caller hands a service an ``Actor``, but nothing in it is trusted: `@requires` reads the
account again by id inside every call (roles, enabled, lock, open session) and hands the
body the Actor it read. A script, a job or a future API caller that builds an Actor with
a role it does not have, for an account that is disabled, locked or does not exist, or
for a session an admin ended, is refused before the body runs.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from console import logs
from console.errors import ConsoleError, InvalidInput, PermissionDenied

ROLES = ("ops", "bd", "risk", "manager", "admin")


@dataclass(frozen=True, kw_only=True)
class Actor:
    """The signed-in staff member a service acts for.

    ``session_epoch`` is the account's epoch when this person signed in: an admin ending
    the person's sessions, a disable, a forced password reset or a lockout moves the
    account's epoch on, and every Actor still carrying the old one is refused.
    """

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    session_epoch: int = 0
    must_change_password: bool = False

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
        raise InvalidInput("error.unknown_role", role=", ".join(unknown))
    return roles


# Primary-key lookup: one small indexed read per gated call.
_CURRENT_ACCOUNT_SQL = """
    SELECT id, username, display_name, roles, is_active, locked_until, session_epoch,
           must_change_password
    FROM ops.staff WHERE id = :id"""


def _is_int(value: object) -> bool:
    # bool is an int subclass: True must not pass for staff id 1.
    return isinstance(value, int) and not isinstance(value, bool)


@contextmanager
def _console_connection(offered: object) -> Iterator[Connection]:
    """A connection of the console's own engine for the account read.

    The caller's connection is used when it is one of that engine's: a second checkout
    per call would deadlock the pool once as many actions run at once as it holds
    connections (each holding one, each waiting for another). Any other connection (a
    script's engine, an object that only looks like one) is not trusted: a connection of
    the console's own is taken instead.
    """
    from console import db

    engine = db.get_engine()
    if isinstance(offered, Connection) and offered.engine is engine and not offered.closed:
        yield offered
    else:
        with engine.connect() as conn:
            yield conn


def current_actor(staff_id: int, *, session_epoch: int, conn: object = None) -> Actor:
    """The account as it is now, or PermissionDenied saying why the session no longer holds.

    Read through the console's engine (see _console_connection), never trusting the
    caller's account data.
    """
    from console import clock, db

    if not (_is_int(staff_id) and _is_int(session_epoch)):
        raise PermissionDenied("error.not_signed_in")
    if not -2**63 <= staff_id < 2**63:  # a bigint id; anything larger is nobody
        raise PermissionDenied("error.actor_unknown")
    with _console_connection(conn) as read:
        row = db.fetch_one(read, _CURRENT_ACCOUNT_SQL, id=staff_id)
    if row is None:
        raise PermissionDenied("error.actor_unknown")
    if not row["is_active"]:
        raise PermissionDenied("auth.disabled")
    if row["locked_until"] is not None and row["locked_until"] > clock.now():
        raise PermissionDenied("auth.locked", until=row["locked_until"])
    if row["session_epoch"] != session_epoch:
        raise PermissionDenied("error.session_ended")
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]), session_epoch=row["session_epoch"],
                 must_change_password=row["must_change_password"])


def resolve(claimed: object, *allowed: str, conn: object = None) -> Actor:
    """The caller's account re-read now, holding one of ``allowed``; the claim's roles are ignored."""
    if not isinstance(claimed, Actor):   # None, a dict, a look-alike: nobody signed in
        raise PermissionDenied("error.not_signed_in")
    actor = current_actor(claimed.id, session_epoch=claimed.session_epoch, conn=conn)
    if actor.must_change_password:
        raise PermissionDenied("auth.password_change_required")
    return require_role(actor, *allowed)


# Registry of every protected service function and the roles it admits; the role-matrix
# test compares it with the checked-in table tests/data/role_matrix.csv.
PROTECTED: dict[str, frozenset[str]] = {}


# The level of a gated call's log line (CONSOLE_LOG_LEVEL chooses what is written): a read
# that succeeded is routine (debug), a decision (a call that wrote) is info, a refusal a
# warning (a role missing, a lost race, a stale version), an unexpected error an error.
LEVELS = {"read": logging.DEBUG, "decision": logging.INFO, "refused": logging.WARNING,
          "failed": logging.ERROR}


def _log_call(what: str, started: float, status: str, err: Exception | None = None, *,
              wrote: bool = False) -> None:
    """One JSON line per gated call (console/logs.py): what, who, how long, and of an error
    its class only."""
    level = LEVELS[status if status != "ok" else "decision" if wrote else "read"]
    logs.event(what, level=level, ms=(time.perf_counter() - started) * 1000, status=status,
               error=type(err).__name__ if err is not None else None)


def _logged(what: str, started: float, call, *, log_ok: bool = True):
    """Run ``call``; log a refusal or failure, and (when ``log_ok``) the success, at the
    level of a decision when a statement of the call wrote a row, else of a read."""
    from console import db

    with db.watch_writes() as writes:
        try:
            result = call()
        except ConsoleError as err:   # a refusal, with its words for the person
            _log_call(what, started, "refused", err)
            raise
        except Exception as err:
            _log_call(what, started, "failed", err)
            raise
    if log_ok:
        _log_call(what, started, "ok", wrote=writes["wrote"])
    return result


def requires(*allowed: str, replica: bool = False):
    """Decorator for a service function taking ``actor=``: re-read the actor, check its roles
    and the arguments, then run the body with the Actor just read.

    Every refusal happens before the body: a refused call has read one ops.staff row and
    written nothing.

    ``replica=True`` marks a read-only service (a dashboard, a read-only page): with a
    streaming replica configured (READ_DATABASE_URL) its body reads the standby instead of
    the ``conn`` it was handed, unless the caller reads its own writes (console/db.py
    ``replica_reads``). The account is read on the primary all the same, so a sign-out or a
    disable holds at once, however far the standby lags.
    """

    def wrap(fn):
        what = "service." + fn.__module__.removeprefix("console.services.") + "." + fn.__name__

        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            from console import boundary  # the module attribute, so the hook can be replaced

            started = time.perf_counter()
            claimed = getattr(kwargs.get("actor"), "id", None)
            # A refused call is logged under the id it claimed (an int only; a forged value
            # is not written to the log), a checked one under the account read back.
            with logs.acting_as(staff_id=claimed if type(claimed) is int else None):
                def check():
                    kwargs["actor"] = resolve(kwargs.get("actor"), *allowed,
                                              conn=kwargs.get("conn"))
                    return boundary.check_arguments(fn, kwargs)
                checked = _logged(what, started, check, log_ok=False)
            actor = checked["actor"]
            with logs.acting_as(staff_id=actor.id, username=actor.username):
                return _logged(what, started, lambda: _run_body(fn, args, checked, replica))

        guarded.allowed_roles = frozenset(allowed)
        guarded.reads_replica = replica
        PROTECTED[f"{fn.__module__}.{fn.__qualname__}"] = frozenset(allowed)
        return guarded

    return wrap


def _run_body(fn, args, checked: dict, replica: bool):
    """The body, on the standby when it is marked ``replica`` and the gateway allows it.

    A read the standby cancelled for a conflict with its recovery (replaying a lock or a
    vacuum the read was in the way of: the ETL's rebuild of a mart) is read again once on
    the caller's connection, the primary, with one log line, rather than failing the page."""
    if not replica:
        return fn(*args, **checked)
    from console import db

    with db.replica_reads(checked.get("conn")) as standby:
        if standby is None:
            return fn(*args, **checked)
        try:
            return fn(*args, **{**checked, "conn": standby})
        except Exception as err:
            if not db.is_recovery_conflict(err):
                raise
            logs.event("db.replica_conflict", level=logging.WARNING, status="read_on_primary",
                       error=type(getattr(err, "orig", None) or err).__name__)
    return fn(*args, **checked)
