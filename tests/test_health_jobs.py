"""`python -m console health` holds every scheduled job to its own last success (issue 18):
the jobs' steps write their runs (etl.job_runs, migration 094), each job has a limit from the
settings, `python -m etl run` counts for the etl step once every ETL job succeeded, and
`--serving` is the load balancer's check: a late job does not take a console out of rotation.
On real PostgreSQL, through the command line's own entry point."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from console import jobs
from console.jobs import STEP_NAMES, run_all
from console.settings import get_settings
from etl.jobs import JOBS
from tests.test_service_health import _health, _run, _step


def _runs(engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT job, status, error_class FROM etl.job_runs ORDER BY id"))]


def test_each_step_that_ran_writes_its_run_and_a_skipped_one_none(engine, jobs_engine):
    run_all(engine=jobs_engine, echo=lambda _: None, only=["prechecks", "listing_flags"])
    assert _runs(engine) == [("prechecks", "succeeded", None),
                             ("listing_flags", "succeeded", None)]
    with engine.connect() as holder:     # another run holds the matching step's lock
        holder.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext('matching'))"),
                       {"ns": jobs.LOCK_NAMESPACE})
        holder.commit()
        [skipped] = run_all(engine=jobs_engine, echo=lambda _: None, only=["matching"])
    assert skipped.skipped and len(_runs(engine)) == 2
    with engine.connect() as conn:       # written by the jobs' role, times in order
        row = conn.execute(sa.text("""SELECT finished_at >= started_at, finished_at <= now()
                                      FROM etl.job_runs WHERE job = 'prechecks'""")).one()
    assert tuple(row) == (True, True)


def test_a_failed_step_writes_a_failed_run_with_its_error_class(engine, jobs_engine,
                                                                monkeypatch, capsys):
    def broken(_engine):
        raise ZeroDivisionError("13812345678")

    monkeypatch.setattr(jobs, "steps", lambda *, full: [("credit", broken)])
    run_all(engine=jobs_engine, echo=lambda _: None)
    assert _runs(engine) == [("credit", "failed", "ZeroDivisionError")]
    for job in (j for j in STEP_NAMES if j != "credit"):
        _step(engine, job, "succeeded", 3)
    code, checks, _ = _health(capsys)
    assert code == 1
    assert checks["job credit"][0] == "FAILED"
    assert checks["job credit"][1].startswith("no successful run yet (limit 60 min); failed ")
    assert checks["job credit"][1].endswith(" ago (ZeroDivisionError); "
                                            "run python -m console jobs credit")
    assert "13812345678" not in checks["job credit"][1]


def test_each_job_has_its_own_limit(engine, settings_env, capsys):
    """Credit scored nightly: 1500 minutes for it, the common hour for the others."""
    settings_env(CONSOLE_HEALTH_JOB_AGE_MINUTES="credit=1500,no_such_job=1")
    for job in STEP_NAMES:
        _step(engine, job, "succeeded", 10 if job != "credit" else 20 * 60)
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (0, "healthy")
    assert checks["job credit"] == ("ok", "20 h 00 min ago, limit 1500 min")
    assert checks["job matching"] == ("ok", "10 min ago, limit 60 min")
    settings_env(CONSOLE_HEALTH_JOB_AGE_MINUTES="credit=1000,matching=5")
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (1, "unhealthy")
    assert checks["job credit"] == ("FAILED", "20 h 00 min ago, limit 1000 min")
    assert checks["job matching"] == ("FAILED", "10 min ago, limit 5 min")
    assert checks["job etl"] == ("ok", "10 min ago, limit 60 min")


def test_the_etl_alone_counts_once_every_etl_job_succeeded(engine, capsys):
    for job in STEP_NAMES:
        if job != "etl":
            _step(engine, job, "succeeded", 1)
    names = list(JOBS)
    for i, job in enumerate(names[:-1]):
        _run(engine, job, "succeeded", 10 + i)
    _run(engine, names[-1], "failed", 2)
    code, checks, _ = _health(capsys)
    assert code == 1
    assert checks["job etl"][0] == "FAILED"      # one ETL job never succeeded
    _run(engine, names[-1], "succeeded", 30)
    code, checks, _ = _health(capsys)
    assert code == 0
    assert checks["job etl"] == ("ok", "30 min ago, limit 60 min")   # the oldest of them
    _step(engine, "etl", "succeeded", 4)                              # a newer step run wins
    code, checks, _ = _health(capsys)
    assert checks["job etl"] == ("ok", "4 min ago, limit 60 min")


def test_serving_ignores_late_jobs_and_a_lagging_replica_but_not_the_database(
        engine, monkeypatch, capsys):
    code, checks, verdict = _health(capsys)           # no job has run
    assert (code, verdict) == (1, "unhealthy")
    code, checks, verdict = _health(capsys, "--serving")
    assert (code, verdict) == (0, "healthy")
    assert list(checks) == ["database", "migrations"]

    with engine.begin() as conn:                      # a migration pending: cannot serve
        conn.execute(sa.text("DELETE FROM public.schema_migrations WHERE version = "
                             "(SELECT max(version) FROM public.schema_migrations)"))
    code, checks, _ = _health(capsys, "--serving")
    assert code == 1 and checks["migrations"][0] == "FAILED"

    url = make_url(engine.url).set(database="no_such_database", username="dh_console")
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    code, checks, verdict = _health(capsys, "--serving")
    assert (code, verdict) == (1, "unhealthy")
    assert checks["database"][0] == "FAILED"
    assert checks["migrations"] == ("FAILED", "not checked: no database")
