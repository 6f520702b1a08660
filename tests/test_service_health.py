"""`python -m console health` (issue 18): a short report and an exit code for a load balancer
or systemd, 0 healthy, 1 not, on real PostgreSQL in both states."""
from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import console.__main__ as cli
from console.health import WIDTH
from console.jobs import STEP_NAMES
from console.migrate import discover
from console.settings import get_settings
from tests.standby import primary_with_standby, wait_for_replay

FILES = len(discover())
LAST = max(m.version for m in discover())


def _run(engine, job: str, status: str, minutes_ago: int) -> None:
    """An ETL job's run in the ETL's own run log (etl.runs)."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            """INSERT INTO etl.runs (job, started_at, finished_at, status)
               VALUES (:j, now() - make_interval(mins => :m + 1), now() - make_interval(mins => :m),
                       :s)"""), {"j": job, "s": status, "m": minutes_ago})


def _step(engine, job: str, status: str, minutes_ago: int, error: str | None = None) -> None:
    """A scheduled job's run in the jobs' run log (etl.job_runs, migration 094)."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            """INSERT INTO etl.job_runs (job, started_at, finished_at, status, error_class)
               VALUES (:j, now() - make_interval(mins => :m + 1), now() - make_interval(mins => :m),
                       :s, :e)"""), {"j": job, "s": status, "m": minutes_ago, "e": error})


def _every_job_ran(engine, minutes_ago: int = 5) -> None:
    for job in STEP_NAMES:
        _step(engine, job, "succeeded", minutes_ago)


LINE = re.compile(r"(.*?)\s{2,}(ok|FAILED)\s+(.*)")


def _health(capsys, *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    code = cli.main(["health", *args])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    checks = {}
    for line in lines[:-1]:
        name, status, detail = LINE.fullmatch(line).groups()
        checks[name] = (status, detail)
    return code, checks, lines[-1]


JOB_CHECKS = [f"job {job}" for job in STEP_NAMES]


def test_healthy(engine, capsys):
    _every_job_ran(engine)
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (0, "healthy")
    assert list(checks) == ["database", "migrations", "replica", *JOB_CHECKS]
    assert JOB_CHECKS == ["job prechecks", "job listing_flags", "job matching", "job etl",
                          "job credit", "job credit_validation", "job loan_accrual",
                          "job vip_lapse", "job loan_portfolio", "job logistics_mart"]
    assert checks["database"][0] == "ok"
    assert checks["database"][1].startswith("connected as dh_console in ")
    assert checks["migrations"] == ("ok", f"{FILES} applied, none pending")
    assert checks["replica"] == ("ok", "none (READ_DATABASE_URL not set)")
    assert {checks[c] for c in JOB_CHECKS} == {("ok", "5 min ago, limit 60 min")}


def test_no_successful_job_run_yet_is_unhealthy(engine, capsys):
    _run(engine, "daily_kpis", "failed", 1)
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (1, "unhealthy")
    assert checks["job credit"] == (
        "FAILED", "no successful run yet (limit 60 min); run python -m console jobs credit")
    assert checks["job etl"] == (
        "FAILED", "no successful run yet (limit 60 min); run python -m console jobs etl")
    assert checks["database"][0] == checks["migrations"][0] == "ok"


def test_the_job_age_limit_comes_from_the_settings(engine, settings_env, capsys):
    settings_env(CONSOLE_HEALTH_MAX_JOB_AGE_MINUTES=90)
    _every_job_ran(engine, minutes_ago=100)
    code, checks, _ = _health(capsys)
    assert code == 1
    assert {checks[c] for c in JOB_CHECKS} == {("FAILED", "1 h 40 min ago, limit 90 min")}
    for job in STEP_NAMES:
        _step(engine, job, "succeeded", 80)
    _step(engine, "credit", "failed", 2, "RuntimeError")   # a newer failure: named, not counted
    code, checks, _ = _health(capsys)
    assert code == 0
    assert checks["job prechecks"] == ("ok", "1 h 20 min ago, limit 90 min")
    assert checks["job credit"] == ("ok", "1 h 20 min ago, limit 90 min; failed 2 min ago "
                                          "(RuntimeError)")


def test_a_pending_migration_is_unhealthy(engine, capsys):
    _every_job_ran(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM public.schema_migrations WHERE version = :v"),
                     {"v": LAST})
    code, checks, _ = _health(capsys)
    assert code == 1
    assert checks["migrations"] == (
        "FAILED", f"1 pending ({LAST:03d}); run python -m console migrate")


def test_a_database_that_cannot_be_reached_is_unhealthy(engine, monkeypatch, capsys):
    url = make_url(engine.url).set(database="no_such_database", username="dh_console",
                                   password="s3cret-pw")
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    code = cli.main(["health"])
    out = capsys.readouterr().out
    assert code == 1
    assert "s3cret-pw" not in out
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{'database':<{WIDTH}} FAILED  OperationalError: ")
    assert 'database "no_such_database" does not exist' in lines[0]
    assert lines[1:] == [
        f"{'migrations':<{WIDTH}} FAILED  not checked: no database",
        f"{'replica':<{WIDTH}} ok      none (READ_DATABASE_URL not set)",
        *[f"{name:<{WIDTH}} FAILED  not checked: no database" for name in JOB_CHECKS],
        "unhealthy"]


def test_the_replica_is_checked_when_read_database_url_is_set(engine, monkeypatch, capsys):
    _every_job_ran(engine)
    primary = make_url(engine.url).set(username="dh_readonly")
    monkeypatch.setenv("READ_DATABASE_URL", primary.render_as_string(hide_password=False))
    get_settings.cache_clear()
    code, checks, _ = _health(capsys)
    assert code == 0
    assert checks["replica"] == ("ok", "READ_DATABASE_URL is not a standby (reads go to a primary)")

    monkeypatch.setenv("READ_DATABASE_URL",
                       primary.set(database="no_such_replica").render_as_string(hide_password=False))
    get_settings.cache_clear()
    code, checks, _ = _health(capsys)
    assert code == 1
    assert checks["replica"][0] == "FAILED"
    assert 'database "no_such_replica" does not exist' in checks["replica"][1]
    assert checks["database"][0] == checks["job etl"][0] == "ok"


@pytest.mark.parametrize("seconds, words", [(59, "0 min"), (61 * 60, "1 h 01 min"),
                                            (50 * 3600, "2 d 2 h")])
def test_ages_in_words(seconds, words):
    from console.health import _age
    assert _age(seconds) == words


def _replica_lag(checks) -> float:
    status, detail = checks["replica"]
    match = re.fullmatch(r"lag (\d+\.\d) s, limit (\d+) s", detail)
    assert match, detail
    return float(match.group(1))


def test_a_real_standby_is_healthy_caught_up_and_unhealthy_when_its_replay_lags(
        settings_env, monkeypatch, capsys):
    """A streaming standby (pg_basebackup -R, the WAL receiver) of a primary of the test's
    own: health reads its replay lag as dh_readonly; with replay paused and the primary
    writing on, the lag passes the limit and the exit code says so; resumed, it is healthy."""
    with primary_with_standby() as (primary_url, standby_url):
        for name, url in (("DATABASE_URL", primary_url.set(username="dh_console")),
                          ("JOBS_DATABASE_URL", primary_url.set(username="dh_jobs")),
                          ("READ_DATABASE_URL", standby_url.set(username="dh_readonly"))):
            monkeypatch.setenv(name, url.render_as_string(hide_password=False))
        monkeypatch.delenv("MIGRATE_DATABASE_URL", raising=False)
        monkeypatch.delenv("READONLY_DATABASE_URL", raising=False)
        settings_env(CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS=30)
        primary = sa.create_engine(primary_url)
        standby = sa.create_engine(standby_url, isolation_level="AUTOCOMMIT")
        try:
            _every_job_ran(primary, 1)
            wait_for_replay(primary, standby)
            with standby.connect() as conn:   # the job runs reached the standby
                assert conn.execute(sa.text("SELECT count(*) FROM etl.job_runs")).scalar() == len(JOB_CHECKS)
            code, checks, _ = _health(capsys)
            assert code == 0, checks
            assert checks["replica"][0] == "ok" and _replica_lag(checks) < 30, checks

            with standby.connect() as conn:
                conn.execute(sa.text("SELECT pg_wal_replay_pause()"))
            _step(primary, "etl", "succeeded", 0)    # received, not replayed
            with primary.connect() as conn:
                written = conn.execute(sa.text("SELECT pg_current_wal_lsn()")).scalar()
            deadline = time.monotonic() + 30
            with standby.connect() as conn:
                while not conn.execute(sa.text(
                        "SELECT pg_last_wal_receive_lsn() >= CAST(:w AS pg_lsn)"),
                        {"w": written}).scalar():
                    assert time.monotonic() < deadline, "the standby received nothing"
                    time.sleep(0.1)
            time.sleep(1.5)
            settings_env(CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS=1)
            code, checks, _ = _health(capsys)
            assert code == 1
            assert checks["replica"][0] == "FAILED" and _replica_lag(checks) >= 1.5, checks
            assert checks["job etl"][0] == "ok"     # the primary is fine

            with standby.connect() as conn:
                conn.execute(sa.text("SELECT pg_wal_replay_resume()"))
            wait_for_replay(primary, standby)
            settings_env(CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS=30)
            code, checks, _ = _health(capsys)
            assert code == 0, checks
        finally:
            primary.dispose()
            standby.dispose()
