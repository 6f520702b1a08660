"""A database failure inside a service reaches the person as the project's own message and the
log as the service and SQLSTATE, never with the statement's bound values."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from console import db
from console.ui import Outcome, run_action, run_query

SECRET = "argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LWhhc2g"


def _fails_in_the_database(*, conn, **_):
    # A unique violation carrying a secret as a bound value, as the account creation once did.
    conn.execute(sa.text("CREATE TEMP TABLE t (v text UNIQUE)"))
    conn.execute(sa.text("INSERT INTO t VALUES (:v), (:v)"), {"v": SECRET})


def test_a_failing_action_rolls_back_and_logs_no_bound_value(engine, caplog):
    caplog.set_level(logging.DEBUG)
    assert run_action(_fails_in_the_database) == Outcome(False)
    assert run_query(_fails_in_the_database) is None
    logged = [r for r in caplog.records if r.name == "console.ui"]
    assert [r.getMessage() for r in logged] == [
        "service tests.test_ui_failures._fails_in_the_database failed in the database: "
        "IntegrityError (SQLSTATE 23505)"] * 2
    assert SECRET not in caplog.text
    with db.connection() as conn:   # the action's transaction left nothing behind
        assert db.scalar(conn, "SELECT to_regclass('pg_temp.t') IS NULL")
