"""Sign-in sessions long over are deleted (console/sessions.py purge_old): at each sign-in,
every person's sessions that ended, or expired idle, more than
CONSOLE_SESSION_RETENTION_DAYS ago (default 30) go; open ones and recent ones stay."""
from __future__ import annotations

import hashlib

import sqlalchemy as sa

from console import sessions

# name -> (ended this many days ago or None, last seen this many days ago)
ROWS = {
    "ended_31_days_ago": (31, 31),
    "ended_29_days_ago": (29, 29),
    "ended_an_hour_ago": (1 / 24, 1 / 24),
    "idle_since_40_days": (None, 40),      # never marked ended: expired idle 40 days ago
    "idle_since_20_days": (None, 20),
    "seen_a_minute_ago": (None, 1 / 1440),
}


def _plant(engine, staff_id: int) -> dict[str, int]:
    ids = {}
    with engine.begin() as conn:
        for name, (ended, seen) in ROWS.items():
            ids[name] = conn.execute(sa.text(
                """INSERT INTO ops.staff_sessions (staff_id, token_hash, session_epoch, created_at,
                                                  last_seen_at, ended_at, ended_reason)
                   VALUES (:s, :h, 0, now() - make_interval(secs => :seen * 86400 + 60),
                           now() - make_interval(secs => :seen * 86400),
                           now() - make_interval(secs => :ended * 86400),
                           CASE WHEN CAST(:ended AS float) IS NOT NULL THEN 'sign_out' END)
                   RETURNING id"""),
                {"s": staff_id, "h": hashlib.sha256(name.encode()).hexdigest(),
                 "seen": seen, "ended": ended}).scalar_one()
    return ids


def _left(engine, ids: dict[str, int]) -> list[str]:
    with engine.connect() as conn:
        kept = set(conn.execute(sa.text("SELECT id FROM ops.staff_sessions")).scalars())
    return [name for name, i in ids.items() if i in kept]


def test_a_sign_in_deletes_every_persons_sessions_over_for_30_days(engine, console_engine,
                                                                     make_actor):
    other, person = make_actor("ops"), make_actor("bd")
    ids = _plant(engine, other.id)
    _, new_id = sessions.open_session(engine=console_engine, actor=person)
    assert _left(engine, ids) == ["ended_29_days_ago", "ended_an_hour_ago", "idle_since_20_days",
                                  "seen_a_minute_ago"]
    with engine.connect() as conn:   # the new session, and its sign-in in the audit log
        assert conn.execute(sa.text("SELECT ended_at FROM ops.staff_sessions WHERE id = :i"),
                            {"i": new_id}).scalar_one() is None
        assert conn.execute(sa.text("SELECT count(*) FROM ops.audit_log "
                                    "WHERE action = 'staff.sign_in'")).scalar_one() == 1


def test_the_retention_is_a_setting(engine, console_engine, make_actor, settings_env):
    settings_env(CONSOLE_SESSION_RETENTION_DAYS=7)
    person = make_actor("bd")
    ids = _plant(engine, person.id)
    sessions.open_session(engine=console_engine, actor=person)
    assert _left(engine, ids) == ["ended_an_hour_ago", "seen_a_minute_ago"]
    with engine.begin() as conn:   # nothing more to delete: a second purge finds none
        conn.execute(sa.text("SET LOCAL ROLE dh_console"))
        assert sessions.purge_old(conn) == 0
