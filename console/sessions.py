"""Sign-in sessions that outlive the browser tab's connection (migration 070).

Signing in opens one row in ops.staff_sessions and hands the browser an opaque random
token (console/ui/session.py keeps it in a cookie); only the token's SHA-256 is stored.
A refresh, a reconnect or a console restart starts a new Streamlit session, which
``resume`` turns back into the signed-in person while the row holds:

- not ended (sign-out, an admin ending it, idle expiry);
- seen within settings.session_idle_minutes;
- its session_epoch still the account's (migration 062): an admin ending all sessions,
  a disable, a forced reset or a lockout move the epoch on, refusing every older row;
- the account still enabled and not locked (console.roles.current_actor).

No streamlit here: the UI passes the token, the IP and the user agent in.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from console import clock, db
from console.audit import write_audit
from console.errors import PermissionDenied
from console.roles import Actor, current_actor
from console.settings import get_settings

# secrets.token_urlsafe(32): 43 characters of [A-Za-z0-9_-]. Anything else is no token.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# last_seen_at is written at most this often per session (a read on every run, a write
# now and then): the idle limit is in minutes, so this costs it nothing that matters.
TOUCH_EVERY = timedelta(seconds=30)
USER_AGENT_MAX = 400
IP_MAX = 64


@dataclass(frozen=True)
class Resumed:
    actor: Actor
    session_id: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_PATTERN.fullmatch(value) is not None


def _idle_limit() -> timedelta:
    return timedelta(minutes=get_settings().session_idle_minutes)


def _clip(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # No control characters in what an admin reads back.
    cleaned = "".join(ch for ch in value if ch.isprintable())
    return cleaned[:limit] or None


def open_session(*, engine: Engine, actor: Actor, ip: str | None = None,
                 user_agent: str | None = None, replaces: str | None = None) -> tuple[str, int]:
    """A new session for ``actor`` (just authenticated); returns (token, session id).

    ``replaces``: the token this browser held before (its row ends as superseded, so an old
    cookie left behind does not stay valid). Audited as staff.sign_in.
    """
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if is_token(replaces):
            db.execute(conn, """UPDATE ops.staff_sessions
                                SET ended_at = now(), ended_reason = 'superseded'
                                WHERE token_hash = :h AND ended_at IS NULL""",
                       h=token_hash(replaces))
        session_id = db.scalar(conn, """
            INSERT INTO ops.staff_sessions (staff_id, token_hash, session_epoch, ip, user_agent)
            VALUES (:s, :h, :e, :ip, :ua) RETURNING id""",
            s=actor.id, h=token_hash(token), e=actor.session_epoch,
            ip=_clip(ip, IP_MAX), ua=_clip(user_agent, USER_AGENT_MAX))
        write_audit(conn=conn, actor_id=actor.id, action="staff.sign_in", entity_type="staff",
                    entity_id=actor.id, after={"session_id": session_id, "ip": _clip(ip, IP_MAX)})
        purge_old(conn)
    return token, session_id


def purge_old(conn) -> int:
    """Delete every person's sessions that ended, or expired idle, more than
    settings.session_retention_days ago; returns how many. Run at each sign-in (the
    scheduled jobs' role may not read this table). Sign-ins and sign-outs stay in the
    audit log; only the rows of sessions long over go."""
    settings = get_settings()
    return db.scalar(conn, """
        WITH gone AS (
            DELETE FROM ops.staff_sessions
            WHERE COALESCE(ended_at, last_seen_at + make_interval(mins => :idle))
                  < now() - make_interval(days => :keep)
            RETURNING 1)
        SELECT count(*) FROM gone""",
        idle=settings.session_idle_minutes, keep=settings.session_retention_days)


def _end(conn, session_id: int, reason: str, by: int | None = None,
         staff_id: int | None = None) -> bool:
    """End one open session (of ``staff_id`` when given); False if it had already ended."""
    return db.scalar(conn, """UPDATE ops.staff_sessions
                              SET ended_at = now(), ended_reason = :r, ended_by = :b
                              WHERE id = :id AND ended_at IS NULL
                                AND (CAST(:s AS bigint) IS NULL OR staff_id = :s)
                              RETURNING true""",
                     id=session_id, r=reason, b=by, s=staff_id) is not None


def _check(conn, row, now: datetime) -> PermissionDenied | None:
    """Why the session row no longer holds (ending it if idle), or None."""
    if row is None:
        return PermissionDenied("error.not_signed_in")
    if row["ended_at"] is not None:
        if row["ended_reason"] == "idle":
            return PermissionDenied("login.expired")
        if row["ended_reason"] == "admin":
            return PermissionDenied("error.session_ended")
        return PermissionDenied("session.signed_out")   # signed out, or signed in anew
    if now - row["last_seen_at"] > _idle_limit():
        _end(conn, row["id"], "idle")
        return PermissionDenied("login.expired")
    return None


_ROW_SQL = """SELECT id, staff_id, session_epoch, last_seen_at, ended_at, ended_reason
              FROM ops.staff_sessions WHERE {where}"""


def resume(*, engine: Engine, token: str, now: datetime | None = None) -> Resumed:
    """The person a browser's token signs in, or PermissionDenied saying why not.

    An unknown or malformed token: error.not_signed_in; signed out or superseded:
    session.signed_out. Idle: login.expired. Ended by an admin, or the account's
    epoch moved on: error.session_ended. A disabled or locked account: their own keys.
    """
    if not is_token(token):
        raise PermissionDenied("error.not_signed_in")
    now = now or clock.now()
    with engine.begin() as conn:
        row = db.fetch_one(conn, _ROW_SQL.format(where="token_hash = :h") + " FOR UPDATE",
                           h=token_hash(token))
        refusal = _check(conn, row, now)
        if refusal is None:
            db.execute(conn, "UPDATE ops.staff_sessions SET last_seen_at = :now WHERE id = :id",
                       now=now, id=row["id"])
    if refusal is not None:
        raise refusal
    # The account as it is now: disabled, locked or an epoch moved on refuse here.
    actor = current_actor(row["staff_id"], session_epoch=row["session_epoch"])
    return Resumed(actor=actor, session_id=row["id"])


def still_open(*, engine: Engine, session_id: int, now: datetime | None = None) -> None:
    """Refuse (PermissionDenied) unless the session holds; note it was seen now.

    Called once per run of a signed-in page: a sign-out in another tab, an admin ending
    this session or idle expiry sign this tab out at its next step.
    """
    now = now or clock.now()
    with engine.begin() as conn:
        row = db.fetch_one(conn, _ROW_SQL.format(where="id = :id"), id=session_id)
        refusal = _check(conn, row, now)
        if refusal is None and now - row["last_seen_at"] >= TOUCH_EVERY:
            db.execute(conn, """UPDATE ops.staff_sessions SET last_seen_at = :now
                                WHERE id = :id AND ended_at IS NULL""", now=now, id=session_id)
    if refusal is not None:
        raise refusal


def sign_out(*, engine: Engine, session_id: int, staff_id: int) -> bool:
    """End this session everywhere its token is used (other tabs, a copied cookie).

    Audited as staff.sign_out; False when it had already ended.
    """
    with engine.begin() as conn:
        ended = _end(conn, session_id, "sign_out", by=staff_id, staff_id=staff_id)
        if ended:
            write_audit(conn=conn, actor_id=staff_id, action="staff.sign_out",
                        entity_type="staff", entity_id=staff_id,
                        after={"session_id": session_id})
    return ended
