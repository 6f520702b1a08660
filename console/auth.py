"""Staff authentication: argon2 hashes, the password policy, lockout after repeated failures,
idle expiry, and the password change a forced reset demands."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from console import db
from console.audit import write_audit
from console.boundary import bad_character
from console.errors import InvalidInput, PermissionDenied
from console.roles import Actor, current_actor
from console.settings import PROJECT_ROOT, get_settings

_hasher = PasswordHasher()
# A hash of a random string: verifying against it on unknown users keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-real-account-password")

MIN_PASSWORD_LENGTH = 10
USERNAME_MAX = 40                 # ops.staff.username: ^[a-z0-9_.-]{3,40}$
# Far above any passphrase; argon2's cost grows with the length, so it is capped.
MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS = PROJECT_ROOT / "console" / "data" / "common_passwords.txt"
# Shorter cores ('a', 'qq', 'abc') would refuse half of all passwords that end in digits.
_MIN_CORE_LENGTH = 4
# Runs people type instead of a password: "1234567890" (9 wraps to 0), "abcdefghij",
# keyboard rows. A password inside one of them, either way round, is a run.
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_EDGE_NOISE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list (console/data/README.md says where it comes from), lower case."""
    return frozenset(line for line in COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
                     if line)


def _is_run_or_repeat(lowered: str) -> bool:
    """'aaaaaaaaaa', 'ababababab', '123123123123', '1234567890', '9876543210', 'qwertyuiop'."""
    for size in (1, 2, 3):
        unit = lowered[:size]
        if unit * (len(lowered) // size) + unit[:len(lowered) % size] == lowered:
            return True
    for run in _RUNS:
        cycle = run * (len(lowered) // len(run) + 2)
        if lowered in cycle or lowered in cycle[::-1]:
            return True
    return False


def _is_common(lowered: str) -> bool:
    """On the list as typed, or once the digits and symbols around it are taken off
    ('Password2024!' is 'password' with a year and a mark)."""
    listed = common_passwords()
    core = _EDGE_NOISE.sub("", lowered)
    return lowered in listed or (len(core) >= _MIN_CORE_LENGTH and core in listed)


def check_password_strength(password: str, *, username: str = "") -> None:
    """Refuse a password that is short, common, the username, or a run of keys; the key says why."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("error.password_too_short", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("error.password_too_long", n=MAX_PASSWORD_LENGTH)
    lowered = password.lower()
    username = (username or "").strip().lower()
    if username and username in lowered:
        raise InvalidInput("error.password_has_username")
    if _is_run_or_repeat(lowered):
        raise InvalidInput("error.password_trivial")
    if _is_common(lowered):
        raise InvalidInput("error.password_common")


def actor_from_row(row) -> Actor:
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]), session_epoch=row["session_epoch"],
                 must_change_password=row["must_change_password"])


def authenticate(*, engine: Engine, username: str, password: str,
                 now: datetime | None = None) -> Actor:
    """Return the Actor for good credentials; count failures and lock after too many.

    The Actor carries the account's session epoch: the session it opens lasts until the
    epoch moves. ``must_change_password`` on it means the page must ask for a new password
    before anything else (every gated service refuses until then).

    Failure bookkeeping commits even though the call then raises, so it uses its own
    transaction rather than the caller's.
    """
    settings = get_settings()
    now = now or datetime.now(timezone.utc)
    username = (username or "").strip().lower()
    if bad_character(username) is not None or len(username) > USERNAME_MAX:
        # No account has such a name (NUL, control characters, too long): a wrong credential,
        # answered like an unknown user, before a query the driver would refuse.
        verify_password(_DUMMY_HASH, password or "")
        raise InvalidInput("auth.bad_credentials")
    refusal: Exception | None = None
    with engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles, password_hash,
                                           is_active, failed_attempts, locked_until,
                                           session_epoch, must_change_password
                                    FROM ops.staff WHERE username = :u FOR UPDATE""", u=username)
        refusal = _check_and_count(conn, row, password, now, settings)
    # Raised only after the block has committed the failure count.
    if refusal is not None:
        raise refusal
    return actor_from_row(row)


def _check_and_count(conn, row, password: str, now: datetime, settings) -> Exception | None:
    if row is None:
        verify_password(_DUMMY_HASH, password or "")
        return InvalidInput("auth.bad_credentials")
    if row["locked_until"] is not None and row["locked_until"] > now:
        return PermissionDenied("auth.locked", until=row["locked_until"])
    if not verify_password(row["password_hash"], password or ""):
        attempts = row["failed_attempts"] + 1
        locked_until = None
        if attempts >= settings.max_failed_logins:
            locked_until = now + timedelta(minutes=settings.lockout_minutes)
            attempts = 0
        # A lockout also ends the sessions already open: whoever is guessing may be the
        # person who already holds one.
        db.execute(conn, """UPDATE ops.staff SET failed_attempts = :a, locked_until = :l,
                                   session_epoch = session_epoch + CASE WHEN :lock THEN 1 ELSE 0 END
                            WHERE id = :id""",
                   a=attempts, l=locked_until, lock=locked_until is not None, id=row["id"])
        if locked_until is not None:
            return PermissionDenied("auth.locked", until=locked_until)
        return InvalidInput("auth.bad_credentials")
    if not row["is_active"]:
        return PermissionDenied("auth.disabled")
    db.execute(conn, """UPDATE ops.staff SET failed_attempts = 0, locked_until = NULL,
                        last_login_at = :now WHERE id = :id""", now=now, id=row["id"])
    return None


def change_own_password(*, engine: Engine, actor: Actor, new_password: str,
                        repeated: str, session_id: int | None = None) -> Actor:
    """The person sets a new password (after an admin's forced reset); returns the Actor
    of the session that goes on.

    The change moves the session epoch on, so every other open session of the person ends;
    the returned Actor carries the new epoch for this one, and ``session_id`` (this
    browser's remembered session, console/sessions.py) moves to it too. Audited in the
    same transaction.
    """
    current = current_actor(actor.id, session_epoch=actor.session_epoch) if isinstance(
        actor, Actor) else None
    if current is None:
        raise PermissionDenied("error.not_signed_in")
    check_password_strength(new_password, username=current.username)
    if new_password != repeated:
        raise InvalidInput("auth.password_mismatch")
    with engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT password_hash, session_epoch, must_change_password
                                    FROM ops.staff WHERE id = :id FOR UPDATE""", id=current.id)
        if row is None or row["session_epoch"] != current.session_epoch:
            raise PermissionDenied("error.session_ended")   # ended between the two reads
        if verify_password(row["password_hash"], new_password):
            raise InvalidInput("auth.password_reused")
        epoch = db.scalar(conn, """UPDATE ops.staff
                                   SET password_hash = :h, must_change_password = false,
                                       password_changed_at = now(), updated_at = now(),
                                       session_epoch = session_epoch + 1, version = version + 1
                                   WHERE id = :id RETURNING session_epoch""",
                          h=hash_password(new_password), id=current.id)
        if session_id is not None:
            db.execute(conn, """UPDATE ops.staff_sessions SET session_epoch = :e
                                WHERE id = :sid AND staff_id = :id AND ended_at IS NULL""",
                       e=epoch, sid=session_id, id=current.id)
        write_audit(conn=conn, actor_id=current.id, action="staff.password_change",
                    entity_type="staff", entity_id=current.id,
                    before={"must_change_password": row["must_change_password"]},
                    after={"must_change_password": False})
    return Actor(id=current.id, username=current.username, display_name=current.display_name,
                 roles=current.roles, session_epoch=epoch, must_change_password=False)


def session_expired(*, last_seen: datetime, now: datetime | None = None) -> bool:
    now = now or datetime.now(timezone.utc)
    return now - last_seen > timedelta(minutes=get_settings().session_idle_minutes)
