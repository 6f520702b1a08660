"""Structured JSON logs (issue 18): who, what and how long for the jobs and the service
commands, slow statements above CONSOLE_SLOW_QUERY_MS, and never a bound value, a phone or
ID number or an error's message. On real PostgreSQL; the lines are read from standard error
as a journal or cron's `2>&1` would collect them."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

import console.__main__ as cli
from console import db, jobs, logs
from console.jobs import run_all

PHONE = "13812345678"
ID_NUMBER = "110101199003071234"


def _lines(err: str, what: str | None = None) -> list[dict]:
    found = []
    for raw in err.splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if what is None or line["what"] == what:
                found.append(line)
    return found


def test_a_job_run_writes_one_json_line(engine, jobs_engine, capsys):
    results = run_all(engine=jobs_engine, echo=lambda _: None, only=["prechecks"])
    assert [r.ok for r in results] == [True]
    err = capsys.readouterr().err
    [line] = [entry for entry in _lines(err) if entry["what"].startswith("job.")]
    assert set(line) == {"ts", "level", "what", "who", "job", "role", "ms", "status"}
    assert (line["level"], line["what"], line["who"], line["job"], line["role"],
            line["status"]) == ("info", "job.prechecks", "system", "prechecks", "dh_jobs", "ok")
    assert isinstance(line["ms"], int) and 0 <= line["ms"] <= results[0].seconds * 1000 + 1
    assert line["ts"].endswith("Z")


def test_a_failed_job_is_logged_by_its_error_class_only(engine, jobs_engine, monkeypatch, capsys):
    def broken(_engine):
        raise RuntimeError(f"duplicate key (phone)=({PHONE}), id {ID_NUMBER}")

    monkeypatch.setattr(jobs, "steps", lambda *, full: [("prechecks", broken)])
    run_all(engine=jobs_engine, echo=lambda _: None)
    err = capsys.readouterr().err
    [line] = _lines(err, "job.prechecks")
    assert (line["level"], line["status"], line["error"]) == ("error", "failed", "RuntimeError")
    assert PHONE not in err and ID_NUMBER not in err and "duplicate" not in err


def test_a_skipped_job_says_so(engine, jobs_engine, capsys):
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext('etl'))"),
                       {"ns": jobs.LOCK_NAMESPACE})
        holder.commit()
        run_all(engine=jobs_engine, echo=lambda _: None, only=["etl"])
    [line] = _lines(capsys.readouterr().err, "job.etl")
    assert (line["level"], line["status"]) == ("info", "skipped")


# Four decimals: the line's timestamp has three, so it cannot hold the value by chance (a
# clean-clone run failed on "0.4" inside the timestamp 15:57:50.498Z).
SLEEP_S = 0.4123


def test_a_slow_statement_is_logged_without_its_values(console_engine, settings_env, capsys):
    settings_env(CONSOLE_SLOW_QUERY_MS=250)
    with console_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        conn.execute(sa.text("SELECT pg_sleep(:s), CAST(:phone AS text), CAST(:pw AS text)"),
                     {"s": SLEEP_S, "phone": PHONE, "pw": "hunter2-secret"})
    err = capsys.readouterr().err
    [line] = _lines(err)   # the fast SELECT 1 wrote nothing
    assert set(line) == {"ts", "level", "what", "who", "ms", "status", "role", "purpose",
                         "statement"}
    assert (line["level"], line["what"], line["who"], line["status"], line["role"],
            line["purpose"]) == ("warning", "db.slow_query", "system", "ok", "dh_console", "ui")
    assert line["statement"] == "SELECT pg_sleep(%(s)s), CAST(%(phone)s AS text), CAST(%(pw)s AS text)"
    assert 412 <= line["ms"] < 5000
    assert PHONE not in err and "hunter2" not in err and str(SLEEP_S) not in err


def test_below_the_threshold_nothing_is_logged(console_engine, settings_env, capsys):
    settings_env(CONSOLE_SLOW_QUERY_MS=2000)
    with console_engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_sleep(0.3)"))
    assert _lines(capsys.readouterr().err) == []


def test_a_slow_statement_names_the_person_and_hides_literals(console_engine, settings_env,
                                                                capsys):
    settings_env(CONSOLE_SLOW_QUERY_MS=100)
    with logs.acting_as(staff_id=7, username="ops1"), console_engine.connect() as conn:
        conn.execute(sa.text(f"SELECT pg_sleep(0.2), '{PHONE}', '{ID_NUMBER}'"))
    err = capsys.readouterr().err
    [line] = _lines(err, "db.slow_query")
    assert (line["who"], line["staff_id"], line["username"]) == ("staff:7", 7, "ops1")
    assert line["statement"] == "SELECT pg_sleep(0.2), '[phone]', '[id]'"
    assert PHONE not in err and ID_NUMBER not in err


def test_a_statement_cancelled_by_its_timeout_is_logged_as_failed(engine, settings_env, capsys):
    settings_env(CONSOLE_STATEMENT_TIMEOUT_MS=300, CONSOLE_SLOW_QUERY_MS=200)
    ui = db.make_engine(db.role_url("console"))
    try:
        with pytest.raises(sa.exc.OperationalError), ui.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": 3})
    finally:
        ui.dispose()
    [line] = _lines(capsys.readouterr().err, "db.slow_query")
    assert (line["status"], line["error"], line["statement"]) == (
        "failed", "QueryCanceled", "SELECT pg_sleep(%(s)s)")
    assert 300 <= line["ms"] < 3000


def test_migrate_and_health_write_their_lines(engine, capsys):
    assert cli.main(["migrate"]) == 0
    assert cli.main(["health"]) == 1      # no job has run on this database yet
    err = capsys.readouterr().err
    [migrated] = _lines(err, "migrate")
    [health] = _lines(err, "health")
    assert (migrated["status"], migrated["applied"], migrated["who"]) == ("ok", 0, "system")
    assert (health["status"], health["who"]) == ("unhealthy", "system")
    assert isinstance(health["ms"], int)


def test_a_service_call_names_the_person_and_a_refusal_its_class(console_engine, make_actor,
                                                                  settings_env, capsys):
    from console.errors import PermissionDenied
    from console.services import home, staff
    settings_env(CONSOLE_LOG_LEVEL="debug")   # a read that succeeded is a debug line
    bd = make_actor("bd")
    with console_engine.connect() as conn:
        home.waiting_counts(conn=conn, actor=bd)
        with pytest.raises(PermissionDenied):
            staff.list_staff(conn=conn, actor=bd)
    err = capsys.readouterr().err
    [ok] = _lines(err, "service.home.waiting_counts")
    [refused] = _lines(err, "service.staff.list_staff")
    assert set(ok) == {"ts", "level", "what", "who", "staff_id", "username", "ms", "status"}
    assert (ok["level"], ok["who"], ok["staff_id"], ok["username"], ok["status"]) == (
        "debug", f"staff:{bd.id}", bd.id, bd.username, "ok")
    assert isinstance(ok["ms"], int)
    # Refused before the account was read back: the id it claimed, the class, no message.
    assert (refused["level"], refused["who"], refused["status"], refused["error"]) == (
        "warning", f"staff:{bd.id}", "refused", "PermissionDenied")
    assert "username" not in refused


def test_a_slow_statement_is_logged_without_its_comment_block(console_engine, settings_env,
                                                                capsys):
    settings_env(CONSOLE_SLOW_QUERY_MS=100)
    with console_engine.connect() as conn:
        conn.execute(sa.text("-- Why this query exists, at length.\n-- More words.\n"
                             "SELECT pg_sleep(0.2) -- a trailing note\n, 1"))
    [line] = _lines(capsys.readouterr().err, "db.slow_query")
    assert line["statement"] == "SELECT pg_sleep(0.2) , 1"
