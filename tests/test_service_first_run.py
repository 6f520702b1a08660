"""`python -m console serve` on a real database (issue 18): it migrates and makes one admin
account while there is none, and writes no demo dealers, listings or staff unless asked with
--demo. On real PostgreSQL: each test's own freshly migrated database, with DATABASE_URL set
as a deployment sets it (the `engine` fixture)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import console.__main__ as cli
from console import clock
import console.demo.__main__ as demo_cli
from console.auth import authenticate
from console.demo.generate import STAFF
from console.first_run import ensure_first_admin, seeds_demo
from console.settings import PROJECT_ROOT
from tests.races import at_once


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            """SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
               WHERE schemaname IN ('app', 'ops', 'mart', 'etl', 'fin') ORDER BY 1""")).scalars().all()
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


@pytest.fixture
def started(monkeypatch):
    """serve up to the point where it would start Streamlit: the command it would run."""
    calls = []
    monkeypatch.setattr(cli.subprocess, "call",
                        lambda command, env, cwd: calls.append((command, env)) or 0)
    return calls


@pytest.fixture
def no_credentials_file(monkeypatch, tmp_path):
    """The demo's credentials table goes to a file of the test, not the checkout's."""
    path = tmp_path / ".demo-credentials"
    monkeypatch.setattr(demo_cli, "CREDENTIALS_FILE", path)
    return path


def test_serve_on_a_real_database_makes_one_admin_and_nothing_else(
        engine, console_engine, started, capsys, no_credentials_file):
    real_file = PROJECT_ROOT / ".demo-credentials"
    real_before = real_file.stat().st_mtime_ns if real_file.exists() else None
    before = _row_counts(engine)

    assert cli.main(["serve"]) == 0
    out = capsys.readouterr().out

    after = _row_counts(engine)
    grown = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert grown == {"ops.staff": 1, "ops.audit_log": 1}
    with engine.connect() as conn:
        staff = conn.execute(sa.text(
            "SELECT username, roles, must_change_password, is_active FROM ops.staff")).one()
        audit = conn.execute(sa.text(
            "SELECT actor_id, action, after->>'username' FROM ops.audit_log")).one()
    assert tuple(staff) == ("admin", ["admin"], True, True)
    assert tuple(audit) == (None, "staff.create", "admin")
    # The password is printed once, and it is the account's.
    printed = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert len(printed) == 1
    password = printed[0]
    assert out.count(password) == 1
    actor = authenticate(engine=console_engine, username="admin", password=password)
    assert actor.roles == frozenset({"admin"}) and actor.must_change_password
    # No demo table anywhere: not printed, not written.
    assert "ops1" not in out and "Staff accounts" not in out
    assert not no_credentials_file.exists()
    assert (real_file.stat().st_mtime_ns if real_file.exists() else None) == real_before
    assert len(started) == 1

    # Started again (a restart, a second process): no second account, no password.
    assert cli.main(["serve"]) == 0
    out_again = capsys.readouterr().out
    assert "password" not in out_again
    assert _row_counts(engine) == after
    assert len(started) == 2


def test_an_account_made_by_hand_means_no_first_admin(engine, make_actor, started, capsys):
    make_actor("ops", username="first_ops")
    assert cli.main(["serve"]) == 0
    assert "password" not in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT array_agg(username) FROM ops.staff")).scalar() == [
            "first_ops"]


def test_two_processes_starting_at_once_make_one_admin(engine, console_engine):
    outcomes = at_once([lambda: ensure_first_admin(engine=console_engine)] * 2, timeout=60)
    made = [o for o in outcomes if o is not None]
    assert len(made) == 1 and not isinstance(made[0], Exception), outcomes
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.staff")).scalar() == 1
        assert conn.execute(sa.text(
            "SELECT count(*) FROM ops.audit_log WHERE action = 'staff.create'")).scalar() == 1


def test_demo_data_only_on_the_embedded_server_or_when_asked():
    assert seeds_demo(demo_flag=False, database_url=None)                      # make run
    assert not seeds_demo(demo_flag=False, database_url="postgresql://db/x")   # production
    assert seeds_demo(demo_flag=True, database_url="postgresql://db/x")        # serve --demo


def test_serve_demo_seeds_a_real_database_when_asked(engine, started, capsys,
                                                     no_credentials_file):
    assert cli.main(["serve", "--demo", "--scale", "small", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    with engine.connect() as conn:
        merchants, staff, admin = conn.execute(sa.text(
            """SELECT (SELECT count(*) FROM app.merchants), (SELECT count(*) FROM ops.staff),
                      (SELECT count(*) FROM ops.staff WHERE username = 'admin')""")).one()
    assert merchants > 0
    assert (staff, admin) == (len(STAFF), 0)
    assert "Staff accounts" in out and no_credentials_file.exists()
    # The demo world's "now" is the start of today, not the generator's fixed test anchor:
    # its newest listing was published yesterday or today, and nothing lies in the future.
    with engine.connect() as conn:
        newest, future = conn.execute(sa.text(
            """SELECT max(published_at AT TIME ZONE 'Asia/Shanghai')::date,
                      count(*) FILTER (WHERE published_at > now())
               FROM app.listings""")).one()
    assert newest in (clock.today() - timedelta(days=1), clock.today())
    assert future == 0


def test_serve_demo_refuses_a_database_with_its_first_admin(engine, started, capsys):
    assert cli.main(["serve"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit, match="no demo data seeded"):
        cli.main(["serve", "--demo", "--scale", "small"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM app.merchants")).scalar() == 0
