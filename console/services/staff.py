"""Staff accounts: admin creates, disables and re-roles accounts, forces a password reset and
ends a person's open sessions; every change is audited in the same transaction."""
from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.auth import check_password_strength, hash_password
from console.errors import Conflict, InvalidInput, NotFound
from console.roles import Actor, requires, validate_roles
from console.settings import get_settings


STAFF_FILTERS = ("active", "locked")


@requires("admin")
def list_staff(*, conn: Connection, actor: Actor, status: str | None = None) -> pd.DataFrame:
    """Every account, or only the enabled ones (``status='active'``) or those locked now
    (``'locked'``): the home tiles' counts, as lists."""
    if status is not None and status not in STAFF_FILTERS:
        raise InvalidInput("links.bad_filter")
    return db.fetch_df(conn, """SELECT id, username, display_name, roles, is_active,
                                       must_change_password, last_login_at, locked_until,
                                       created_at
                                FROM ops.staff
                                WHERE (CAST(:st AS text) IS NULL
                                       OR (:st = 'active' AND is_active)
                                       OR (:st = 'locked' AND locked_until > now()))
                                ORDER BY id""", st=status)


@requires("admin")
def create_staff(*, conn: Connection, actor: Actor, username: str, display_name: str,
                 password: str, roles: list[str], must_change_password: bool = False) -> int:
    """A new account; with ``must_change_password`` the person replaces the password the
    admin chose at the first sign-in."""
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not username or not display_name:
        raise InvalidInput("error.required_fields")
    roles = validate_roles(roles)
    if not roles:
        raise InvalidInput("error.role_missing")
    check_password_strength(password, username=username)
    if db.scalar(conn, "SELECT 1 FROM ops.staff WHERE username = :u", u=username):
        raise Conflict("error.username_taken", username=username)
    staff_id = db.scalar(conn, """INSERT INTO ops.staff (username, display_name, password_hash, roles,
                                                         must_change_password)
                                  VALUES (:u, :d, :h, :r, :m) RETURNING id""",
                         u=username, d=display_name, h=hash_password(password), r=roles,
                         m=bool(must_change_password))
    write_audit(conn=conn, actor_id=actor.id, action="staff.create", entity_type="staff",
                entity_id=staff_id, after={"username": username, "display_name": display_name,
                                           "roles": roles,
                                           **({"must_change_password": True}
                                              if must_change_password else {})})
    return staff_id


def _lock_row(conn: Connection, staff_id: int):
    row = db.fetch_one(conn, """SELECT id, username, roles, is_active, session_epoch, version
                                FROM ops.staff WHERE id = :id FOR UPDATE""", id=staff_id)
    if row is None:
        raise NotFound("error.not_found")
    return row


@requires("admin")
def set_roles(*, conn: Connection, actor: Actor, staff_id: int, roles: list[str],
              reason: str) -> None:
    roles = validate_roles(roles)
    if not roles:
        raise InvalidInput("error.role_missing")
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    row = _lock_row(conn, staff_id)
    if staff_id == actor.id and "admin" not in roles:
        raise InvalidInput("error.cannot_drop_own_admin")
    db.execute(conn, """UPDATE ops.staff SET roles = :r, updated_at = now(), version = version + 1
                        WHERE id = :id""", r=roles, id=staff_id)
    write_audit(conn=conn, actor_id=actor.id, action="staff.set_roles", entity_type="staff",
                entity_id=staff_id, before={"roles": list(row["roles"])}, after={"roles": roles},
                reason=reason.strip())


@requires("admin")
def set_active(*, conn: Connection, actor: Actor, staff_id: int, active: bool, reason: str) -> None:
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    if staff_id == actor.id and not active:
        raise InvalidInput("error.cannot_disable_self")
    row = _lock_row(conn, staff_id)
    if row["is_active"] == active:
        raise Conflict("error.already_in_state")
    # Disabling also ends the open sessions, so a later re-enable does not revive them.
    db.execute(conn, """UPDATE ops.staff SET is_active = :a, updated_at = now(), version = version + 1,
                               session_epoch = session_epoch + CASE WHEN :a THEN 0 ELSE 1 END
                        WHERE id = :id""", a=active, id=staff_id)
    write_audit(conn=conn, actor_id=actor.id, action="staff.enable" if active else "staff.disable",
                entity_type="staff", entity_id=staff_id, before={"is_active": row["is_active"]},
                after={"is_active": active}, reason=reason.strip())


@requires("admin")
def unlock(*, conn: Connection, actor: Actor, staff_id: int) -> None:
    _lock_row(conn, staff_id)
    db.execute(conn, "UPDATE ops.staff SET failed_attempts = 0, locked_until = NULL WHERE id = :id",
               id=staff_id)
    write_audit(conn=conn, actor_id=actor.id, action="staff.unlock", entity_type="staff",
                entity_id=staff_id)


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("error.reason_required")
    return reason.strip()


@requires("admin")
def force_password_reset(*, conn: Connection, actor: Actor, staff_id: int, reason: str,
                         temporary_password: str | None = None) -> None:
    """The person must choose a new password at the next sign-in; their open sessions end now.

    With ``temporary_password`` (someone who forgot theirs) the account signs in with it
    once; without it, the current password still opens the sign-in that asks for a new one.
    """
    reason = _reason(reason)
    row = _lock_row(conn, staff_id)
    new_hash = None
    if temporary_password:
        check_password_strength(temporary_password, username=row["username"])
        new_hash = hash_password(temporary_password)
    db.execute(conn, """UPDATE ops.staff
                        SET must_change_password = true, session_epoch = session_epoch + 1,
                            password_hash = COALESCE(:h, password_hash),
                            updated_at = now(), version = version + 1
                        WHERE id = :id""", h=new_hash, id=staff_id)
    write_audit(conn=conn, actor_id=actor.id, action="staff.force_password_reset",
                entity_type="staff", entity_id=staff_id,
                before={"session_epoch": row["session_epoch"]},
                after={"must_change_password": True, "session_epoch": row["session_epoch"] + 1,
                       "temporary_password_set": new_hash is not None},
                reason=reason)


@requires("admin")
def end_sessions(*, conn: Connection, actor: Actor, staff_id: int, reason: str) -> int:
    """Sign the person out everywhere: each open session is refused at its next step.

    The epoch moving on refuses every session, remembered or not; the remembered ones
    (ops.staff_sessions) are also marked ended by this admin, so the list says so.
    Returns how many remembered sessions were open.
    """
    reason = _reason(reason)
    row = _lock_row(conn, staff_id)
    db.execute(conn, """UPDATE ops.staff SET session_epoch = session_epoch + 1, updated_at = now(),
                                             version = version + 1
                        WHERE id = :id""", id=staff_id)
    ended = db.scalar(conn, """WITH ended AS (
                                   UPDATE ops.staff_sessions
                                   SET ended_at = now(), ended_reason = 'admin', ended_by = :by
                                   WHERE staff_id = :id AND ended_at IS NULL RETURNING 1)
                               SELECT count(*) FROM ended""", id=staff_id, by=actor.id)
    write_audit(conn=conn, actor_id=actor.id, action="staff.end_sessions", entity_type="staff",
                entity_id=staff_id, before={"session_epoch": row["session_epoch"]},
                after={"session_epoch": row["session_epoch"] + 1}, reason=reason)
    return int(ended)


# The state an admin reads for each remembered session (ops.staff_sessions, migration 070).
SESSION_STATES = ("open", "idle", "revoked", "sign_out", "admin", "superseded")


@requires("admin")
def list_sessions(*, conn: Connection, actor: Actor, staff_id: int,
                  limit: int = 50) -> pd.DataFrame:
    """A person's sign-in sessions, newest first: created, last seen, IP, browser, state.

    state: open; idle (past settings.session_idle_minutes); revoked (the account's epoch
    moved on: a disable, a forced reset, a lockout or an older 'end all sessions'); or how
    it ended: sign_out, admin, superseded (signed in again in that browser).
    """
    if not db.scalar(conn, "SELECT 1 FROM ops.staff WHERE id = :id", id=staff_id):
        raise NotFound("error.not_found")
    return db.fetch_df(conn, """
        SELECT ss.id, ss.created_at, ss.last_seen_at, ss.ip, ss.user_agent,
               CASE WHEN ss.ended_at IS NOT NULL THEN ss.ended_reason
                    WHEN ss.session_epoch <> s.session_epoch THEN 'revoked'
                    WHEN ss.last_seen_at < now() - make_interval(mins => :idle) THEN 'idle'
                    ELSE 'open' END AS state,
               ss.ended_at
        FROM ops.staff_sessions ss JOIN ops.staff s ON s.id = ss.staff_id
        WHERE ss.staff_id = :id
        ORDER BY ss.created_at DESC, ss.id DESC LIMIT :n""",
        id=staff_id, idle=get_settings().session_idle_minutes, n=limit)


@requires("admin")
def end_session(*, conn: Connection, actor: Actor, staff_id: int, session_id: int,
                reason: str) -> None:
    """End one of the person's sessions (a lost laptop): refused at its next step, the
    person's other sessions go on. Audited as staff.end_session."""
    reason = _reason(reason)
    _lock_row(conn, staff_id)
    ended = db.fetch_one(conn, """UPDATE ops.staff_sessions
                                  SET ended_at = now(), ended_reason = 'admin', ended_by = :by
                                  WHERE id = :sid AND staff_id = :id AND ended_at IS NULL
                                  RETURNING id, ip""", sid=session_id, id=staff_id, by=actor.id)
    if ended is None:
        if db.scalar(conn, "SELECT 1 FROM ops.staff_sessions WHERE id = :sid AND staff_id = :id",
                     sid=session_id, id=staff_id):
            raise Conflict("error.already_in_state")
        raise NotFound("error.not_found")
    write_audit(conn=conn, actor_id=actor.id, action="staff.end_session", entity_type="staff",
                entity_id=staff_id, after={"session_id": session_id, "ip": ended["ip"]},
                reason=reason)


@requires("admin", "manager")
def audit_trail(*, conn: Connection, actor: Actor, limit: int = 200) -> pd.DataFrame:
    return db.fetch_df(conn, """SELECT a.at, s.username AS actor, a.action, a.entity_type,
                                       a.entity_id, a.before, a.after, a.reason
                                FROM ops.audit_log a LEFT JOIN ops.staff s ON s.id = a.actor_id
                                ORDER BY a.id DESC LIMIT :n""", n=limit)
