"""Staff authentication: argon2 hashes, lockout after repeated failures, idle expiry."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from console import db
from console.errors import InvalidInput, PermissionDenied
from console.roles import Actor
from console.settings import get_settings

_hasher = PasswordHasher()
# A hash of a random string: verifying against it on unknown users keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-real-account-password")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("error.password_too_short", n=MIN_PASSWORD_LENGTH)


def actor_from_row(row) -> Actor:
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]))


def authenticate(*, engine: Engine, username: str, password: str,
                 now: datetime | None = None) -> Actor:
    """Return the Actor for good credentials; count failures and lock after too many.

    Failure bookkeeping commits even though the call then raises, so it uses its own
    transaction rather than the caller's.
    """
    settings = get_settings()
    now = now or datetime.now(timezone.utc)
    username = (username or "").strip().lower()
    refusal: Exception | None = None
    with engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles, password_hash,
                                           is_active, failed_attempts, locked_until
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
        db.execute(conn, """UPDATE ops.staff SET failed_attempts = :a, locked_until = :l
                            WHERE id = :id""", a=attempts, l=locked_until, id=row["id"])
        if locked_until is not None:
            return PermissionDenied("auth.locked", until=locked_until)
        return InvalidInput("auth.bad_credentials")
    if not row["is_active"]:
        return PermissionDenied("auth.disabled")
    db.execute(conn, """UPDATE ops.staff SET failed_attempts = 0, locked_until = NULL,
                        last_login_at = :now WHERE id = :id""", now=now, id=row["id"])
    return None


def load_actor(*, engine: Engine, staff_id: int) -> Actor | None:
    """Re-read the account each request: a disabled account or a role change takes effect at once."""
    with engine.connect() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles FROM ops.staff
                                    WHERE id = :id AND is_active""", id=staff_id)
    return actor_from_row(row) if row else None


def session_expired(*, last_seen: datetime, now: datetime | None = None) -> bool:
    now = now or datetime.now(timezone.utc)
    return now - last_seen > timedelta(minutes=get_settings().session_idle_minutes)
