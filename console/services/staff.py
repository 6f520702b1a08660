"""Staff accounts: admin creates, disables and re-roles accounts; every change is audited."""
from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.auth import check_password_strength, hash_password
from console.errors import Conflict, InvalidInput, NotFound
from console.roles import Actor, requires, validate_roles


@requires("admin")
def list_staff(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    return db.fetch_df(conn, """SELECT id, username, display_name, roles, is_active,
                                       last_login_at, locked_until, created_at
                                FROM ops.staff ORDER BY id""")


@requires("admin")
def create_staff(*, conn: Connection, actor: Actor, username: str, display_name: str,
                 password: str, roles: list[str]) -> int:
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not username or not display_name:
        raise InvalidInput("error.required_fields")
    roles = validate_roles(roles)
    if not roles:
        raise InvalidInput("error.role_missing")
    check_password_strength(password)
    if db.scalar(conn, "SELECT 1 FROM ops.staff WHERE username = :u", u=username):
        raise Conflict("error.username_taken", username=username)
    staff_id = db.scalar(conn, """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                                  VALUES (:u, :d, :h, :r) RETURNING id""",
                         u=username, d=display_name, h=hash_password(password), r=roles)
    write_audit(conn=conn, actor_id=actor.id, action="staff.create", entity_type="staff",
                entity_id=staff_id, after={"username": username, "display_name": display_name,
                                           "roles": roles})
    return staff_id


def _lock_row(conn: Connection, staff_id: int):
    row = db.fetch_one(conn, """SELECT id, username, roles, is_active, version FROM ops.staff
                                WHERE id = :id FOR UPDATE""", id=staff_id)
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
    db.execute(conn, """UPDATE ops.staff SET is_active = :a, updated_at = now(), version = version + 1
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


@requires("admin", "manager")
def audit_trail(*, conn: Connection, actor: Actor, limit: int = 200) -> pd.DataFrame:
    return db.fetch_df(conn, """SELECT a.at, s.username AS actor, a.action, a.entity_type,
                                       a.entity_id, a.before, a.after, a.reason
                                FROM ops.audit_log a LEFT JOIN ops.staff s ON s.id = a.actor_id
                                ORDER BY a.id DESC LIMIT :n""", n=limit)
