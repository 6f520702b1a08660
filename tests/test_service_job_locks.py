"""Every scheduled job takes its own advisory lock (issue 18, README "Scheduling"): two runs of
the same job at once, one does the work and the other skips it; different jobs still run side
by side. On the seeded small demo database, as dh_jobs."""
from __future__ import annotations


import pytest
import sqlalchemy as sa

import console.__main__ as cli
from console import jobs
from console.jobs import LOCK_NAMESPACE, STEP_NAMES, run_all
from tests.races import at_once


def _etl_runs(engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT status, count(*) FROM etl.runs GROUP BY status ORDER BY status"))]


def _credit_runs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM ops.credit_runs")).scalar_one()


@pytest.fixture
def held(engine_for_lock):
    """Hold the lock of a job, as a run of it in another process does, until the test ends."""
    conns = []

    def _hold(name: str) -> None:
        conn = engine_for_lock.connect()
        conn.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext(:job))"),
                     {"ns": LOCK_NAMESPACE, "job": name})
        conn.commit()
        conns.append(conn)

    yield _hold
    for conn in conns:
        conn.close()


@pytest.fixture
def engine_for_lock(demo_engine):
    return demo_engine


def test_every_step_skips_while_another_run_holds_its_lock(demo_engine, jobs_engine, held):
    for name in STEP_NAMES:
        held(name)
    before = _etl_runs(demo_engine)
    runs = _credit_runs(demo_engine)    # the demo's weekly history (console/demo/override_history.py)
    lines = []
    results = run_all(engine=jobs_engine, echo=lines.append)
    assert [(r.name, r.ok, r.skipped) for r in results] == [
        (name, True, True) for name in STEP_NAMES]
    assert lines[0].startswith("[skipped] prechecks")
    with demo_engine.connect() as conn:
        done = conn.execute(sa.text(
            """SELECT (SELECT count(*) FROM ops.cert_prechecks),
                      (SELECT count(*) FROM ops.match_suggestions),
                      (SELECT count(*) FROM ops.credit_runs)""")).one()
    assert tuple(done) == (0, 0, runs) and runs > 0
    assert _etl_runs(demo_engine) == before == []


def test_a_held_lock_skips_only_its_own_job(demo_engine, jobs_engine, held):
    held("etl")
    results = run_all(engine=jobs_engine, echo=lambda _: None, only=["prechecks", "etl"])
    assert [(r.name, r.ok, r.skipped) for r in results] == [
        ("prechecks", True, False), ("etl", True, True)]
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) > 0 FROM ops.cert_prechecks")).scalar()


def test_two_runs_of_the_etl_at_once_do_the_work_once(demo_engine, jobs_engine):
    outcomes = at_once(
        [lambda: run_all(engine=jobs_engine, echo=lambda _: None, only=["etl"])[0]] * 2,
        timeout=600)
    assert sorted((o.ok, o.skipped) for o in outcomes) == [(True, False), (True, True)], outcomes
    # One set of ETL runs, all succeeded: the second run never reached the ETL's own job
    # locks, which would have refused it job by job (and recorded each refusal).
    import etl
    assert _etl_runs(demo_engine) == [("succeeded", len(etl.job_names()))]


def test_the_jobs_command_exits_2_when_a_job_was_skipped(demo_engine, held, capsys):
    held("listing_flags")
    assert cli.main(["jobs", "prechecks", "listing_flags"]) == 2
    out = capsys.readouterr().out
    assert "[ok] prechecks" in out and "[skipped] listing_flags" in out
    assert cli.main(["jobs", "prechecks"]) == 0


def test_a_lock_is_released_when_the_step_fails(demo_engine, jobs_engine, monkeypatch):
    def broken(_engine):
        raise RuntimeError("boom")

    real = jobs.steps
    monkeypatch.setattr(jobs, "steps", lambda *, full: [("prechecks", broken)])
    assert [(r.ok, r.detail) for r in run_all(engine=jobs_engine, echo=lambda _: None)] == [
        (False, "RuntimeError: boom")]
    monkeypatch.setattr(jobs, "steps", real)
    result = run_all(engine=jobs_engine, echo=lambda _: None, only=["prechecks"])[0]
    assert (result.ok, result.skipped) == (True, False)


def test_the_stand_alone_credit_and_matching_commands_take_their_jobs_locks(
        demo_engine, jobs_engine, held, capsys):
    """`python -m console.credit score|expire` and `python -m console.services.matching
    rematch` do the credit and matching steps' work: while a scheduled run holds the lock
    they skip with exit code 2 and write nothing; with the lock free they run."""
    from console.credit.__main__ import main as credit_main
    from console.services.matching import _main as matching_main
    held("credit")
    held("matching")
    runs = _credit_runs(demo_engine)
    assert credit_main(["score"]) == 2
    assert credit_main(["expire"]) == 2
    assert matching_main(["rematch", "--full"]) == 2
    err = capsys.readouterr().err
    assert "another run holds the credit job's lock" in err
    assert "another run holds the matching job's lock" in err
    with demo_engine.connect() as conn:
        assert tuple(conn.execute(sa.text(
            """SELECT (SELECT count(*) FROM ops.credit_runs),
                      (SELECT count(*) FROM ops.match_suggestions)""")).one()) == (runs, 0)


def test_the_stand_alone_rematch_runs_when_its_lock_is_free(demo_engine, jobs_engine, held,
                                                            capsys):
    from console.services.matching import _main as matching_main
    held("credit")                 # another job's lock does not stop it
    assert matching_main(["rematch", "--full"]) == 0
    assert "suggestions written" in capsys.readouterr().out
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.match_suggestions")).scalar() > 0
