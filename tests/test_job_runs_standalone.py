"""The stand-alone commands a site may schedule on their own write the jobs' run log
(etl.job_runs, console/job_runs.py) under the name of the `python -m console jobs` step whose
work they do, so `python -m console health` holds them to the same age (issue 18): a cron
line of `python -m console.credit score` alone no longer reads as "no successful run yet".
A failure is recorded with its error class only, and health still says how old the last
success is. On the seeded small demo database, through each command's own entry function."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.credit import validation_store
from console.credit.__main__ import main as credit_main
from console.errors import Conflict
from console.finance.__main__ import main as finance_main
from console.finance.portfolio_mart import main as portfolio_main
from console.finance.vip import main as vip_main
from console.jobs import STEP_NAMES
from console.logistics.mart import main as logistics_mart_main
from console.services import listing_review, prechecks
from console.services.matching import _main as matching_main
from etl import __main__ as etl_main
from etl.runner import RunResult
from tests.test_service_health import _health, _step


def _runs(engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT job, status, error_class FROM etl.job_runs ORDER BY id"))]


FRESH = re.compile(r"\d+ min ago, limit 60 min")


def test_every_stand_alone_job_command_writes_its_steps_run_and_health_counts_it(
        demo_engine, jobs_engine, capsys):
    code, checks, _ = _health(capsys)                 # nothing ran yet
    assert code == 1
    assert all(checks[f"job {job}"][1].startswith("no successful run yet")
               for job in STEP_NAMES)

    assert prechecks.main([]) == 0
    assert listing_review.main(["scan"]) == 0
    assert matching_main(["rematch", "--changed"]) == 0
    assert etl_main.main(["run"]) == 0
    assert credit_main(["score"]) == 0
    assert credit_main(["validate"]) == 0
    assert finance_main(["accrue"]) == 0
    assert vip_main(["lapse"]) == 0
    assert portfolio_main(["rebuild"]) == 0
    assert logistics_mart_main(["rebuild"]) == 0
    assert _runs(demo_engine) == [("prechecks", "succeeded", None),
                                  ("listing_flags", "succeeded", None),
                                  ("matching", "succeeded", None),
                                  ("etl", "succeeded", None),
                                  ("credit", "succeeded", None),
                                  ("credit_validation", "succeeded", None),
                                  ("loan_accrual", "succeeded", None),
                                  ("vip_lapse", "succeeded", None),
                                  ("loan_portfolio", "succeeded", None),
                                  ("logistics_mart", "succeeded", None)]
    with demo_engine.connect() as conn:               # the ETL's own log has them too
        assert conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE status <> 'succeeded') FROM etl.runs")).scalar() == 0

    capsys.readouterr()                               # the commands' own output
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (0, "healthy")
    for job in STEP_NAMES:
        status, detail = checks[f"job {job}"]
        assert status == "ok" and FRESH.fullmatch(detail), (job, detail)


def test_commands_that_do_only_part_of_a_step_write_no_run(demo_engine, jobs_engine, capsys):
    """Expiring overrides alone, checking a scorecard file, a rematch of one request, an
    ETL run of some of its jobs: not the step's work, so no row."""
    with demo_engine.connect() as conn:
        request_id = conn.execute(sa.text("SELECT min(id) FROM app.requests")).scalar()
    assert credit_main(["expire"]) == 0
    assert credit_main(["check"]) == 0
    assert matching_main(["rematch", "--request", str(request_id)]) == 0
    assert matching_main(["propose-bids"]) == 0
    assert etl_main.main(["run", "merchant_features"]) == 0
    assert _runs(demo_engine) == []


def test_a_failed_stand_alone_run_is_recorded_and_health_keeps_the_last_success(
        demo_engine, jobs_engine, monkeypatch, settings_env, capsys):
    settings_env(CONSOLE_HEALTH_JOB_AGE_MINUTES="credit=1500")
    assert etl_main.main(["run"]) == 0
    assert credit_main(["score"]) == 0
    with demo_engine.begin() as conn:                 # that success, two hours ago
        conn.execute(sa.text("""UPDATE etl.job_runs
                                SET started_at = now() - interval '2 hours 1 minute',
                                    finished_at = now() - interval '2 hours'
                                WHERE job = 'credit'"""))
    for job in STEP_NAMES:
        if job not in ("credit", "etl"):
            _step(demo_engine, job, "succeeded", 1)

    def broken(conn, card=None, **_):
        raise ZeroDivisionError("13812345678")

    monkeypatch.setattr(credit_engine, "score_all", broken)
    with pytest.raises(ZeroDivisionError):
        credit_main(["score"])
    assert _runs(demo_engine)[-1] == ("credit", "failed", "ZeroDivisionError")

    def refused(conn, card=None, **_):
        raise Conflict("credit.error.no_active_version")

    monkeypatch.setattr(credit_engine, "score_all", refused)
    assert credit_main(["score"]) == 1
    assert _runs(demo_engine)[-1] == ("credit", "failed", "Conflict")

    assert "13812345678" not in capsys.readouterr().out
    code, checks, verdict = _health(capsys)
    assert (code, verdict) == (0, "healthy")          # within its 1500 minutes
    status, detail = checks["job credit"]
    assert status == "ok"
    assert re.fullmatch(r"2 h 0\d min ago, limit 1500 min; failed \d+ min ago \(Conflict\)",
                        detail), detail
    with demo_engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT count(*) FROM etl.job_runs
                                       WHERE job = 'credit' AND status = 'succeeded'""")
                            ).scalar() == 1


def test_a_failed_etl_job_is_the_etl_runs_error_class_and_a_refusal_writes_none(
        demo_engine, jobs_engine, monkeypatch, capsys):
    def one_failed(**_):
        return [RunResult("merchant_features", 1, "succeeded"),
                RunResult("daily_kpis", 2, "failed",
                          error="UniqueViolation: duplicate key value (13812345678)")]

    monkeypatch.setattr(etl_main, "run_all", one_failed)
    assert etl_main.main(["run"]) == 1
    assert _runs(demo_engine) == [("etl", "failed", "UniqueViolation")]

    def one_refused(**_):
        return [RunResult("merchant_features", None, "refused", error="job is already running")]

    monkeypatch.setattr(etl_main, "run_all", one_refused)
    assert etl_main.main(["run"]) == 2
    assert _runs(demo_engine) == [("etl", "failed", "UniqueViolation")]


def test_a_validation_another_computation_is_at_work_on_writes_no_run(
        demo_engine, jobs_engine, capsys):
    """A risk officer's recompute holds the versions' computation lock: the command is
    refused (exit 1) like the scheduled step skips, and writes no failed run."""
    with demo_engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text(
            "SELECT id FROM ops.credit_scorecard_versions"))]
    assert ids
    with demo_engine.connect() as holder:
        for version_id in ids:
            holder.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :v)"),
                           {"ns": validation_store.LOCK_NAMESPACE, "v": version_id})
        assert credit_main(["validate"]) == 1
        holder.rollback()
    assert "validate refused: credit.error.validation_running" in capsys.readouterr().err
    assert _runs(demo_engine) == []
