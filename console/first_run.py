"""What `python -m console serve` does to a database before the console starts on it.

Demo data (fake dealers, listings and one account per role with printed passwords) goes only
into the embedded server, or into another database when asked for with ``--demo``. A real
database (DATABASE_URL) is migrated and, while it has no staff account at all, given one
admin account whose password is printed once and must be changed at the first sign-in.
Nothing else is written into it.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from console import db
from console.audit import write_audit
from console.auth import check_password_strength, hash_password

ADMIN_USERNAME = "admin"
_BOOTSTRAP_LOCK_KEY = 7_310_060  # advisory lock: two processes starting at once make one admin


def seeds_demo(*, demo_flag: bool, database_url: str | None) -> bool:
    """Whether serve seeds the demo world: on the embedded server (no DATABASE_URL), or
    when ``--demo`` says so."""
    return demo_flag or not database_url


@dataclass(frozen=True)
class FirstAdmin:
    staff_id: int
    username: str
    password: str


def _new_password() -> str:
    while True:  # token_urlsafe(15) is 20 characters; the strength check refuses a fluke
        password = secrets.token_urlsafe(15)
        try:
            check_password_strength(password, username=ADMIN_USERNAME)
            return password
        except Exception:  # noqa: BLE001 - draw again
            continue


def ensure_first_admin(*, engine: Engine) -> FirstAdmin | None:
    """Create the one admin account when ``ops.staff`` is empty; None when any account exists.

    Runs on the console's engine (dh_console). Under an advisory lock: two console processes
    started at the same moment on an empty database create one account, not two."""
    with engine.connect() as conn:  # every later start: no password drawn, nothing hashed
        if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM ops.staff)"):
            return None
    password = _new_password()
    password_hash = hash_password(password)  # slow on purpose (argon2): outside the lock
    with engine.begin() as conn:
        db.execute(conn, "SELECT pg_advisory_xact_lock(:k)", k=_BOOTSTRAP_LOCK_KEY)
        if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM ops.staff)"):
            return None
        staff_id = db.scalar(
            conn, """INSERT INTO ops.staff (username, display_name, password_hash, roles,
                                            must_change_password)
                     VALUES (:u, :d, :h, ARRAY['admin'], true) RETURNING id""",
            u=ADMIN_USERNAME, d="Administrator", h=password_hash)
        write_audit(conn=conn, actor_id=None, action="staff.create", entity_type="staff",
                    entity_id=staff_id,
                    after={"username": ADMIN_USERNAME, "display_name": "Administrator",
                           "roles": ["admin"], "must_change_password": True},
                    reason="first run: the only account of an empty database")
    return FirstAdmin(staff_id, ADMIN_USERNAME, password)
