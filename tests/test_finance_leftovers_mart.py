"""The portfolio mart runs when it has something new (issue 19's leftovers): the jobs' step
rebuilds it only after a loan, repayment or loan event changed, or on a new day; two cycles
with nothing new build once; two runs at once build once; the freshness badge stays truthful
(when it was computed, and that a run since found it current)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock, jobs
from console.finance import portfolio, portfolio_mart
from tests import portfolio_rows as pr
from tests.races import at_once

STEP = "loan_portfolio"


@pytest.fixture
def risk(make_actor):
    return make_actor("risk")


@pytest.fixture
def book(engine, risk):
    return pr.build(engine, risk.id)


def builds(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, as_of, loans FROM mart.loan_portfolio_builds ORDER BY id"))]


def notes(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM mart.loan_portfolio_changes")).scalar()


def cycle(jobs_engine, only=("loan_accrual", STEP)) -> dict[str, str]:
    """One jobs cycle of the finance steps, as cron runs them: the accrual, then the mart."""
    results = jobs.run_all(engine=jobs_engine, only=list(only), echo=lambda _: None)
    assert all(r.ok and not r.skipped for r in results), results
    return {r.name: r.detail for r in results}


def outstanding_now(engine, loan_id) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("""
            SELECT outstanding FROM mart.loan_month_end
            WHERE loan_id = :l AND month = date_trunc('month', CAST(:d AS date))::date"""),
            {"l": loan_id, "d": clock.today()}).scalar())


def test_two_cycles_with_nothing_new_build_once(engine, book, jobs_engine):
    first = cycle(jobs_engine)
    assert builds(engine) == [(1, clock.today(), 7)] and notes(engine) == 0
    assert first[STEP].startswith(f"portfolio as of {clock.today()}: loans=7")
    second = cycle(jobs_engine)
    assert builds(engine) == [(1, clock.today(), 7)]       # the accrual's second run wrote nothing
    assert second[STEP].endswith("not rebuilt") and "unchanged since the build" in second[STEP]
    with engine.connect() as conn:
        finished, checked = conn.execute(sa.text(
            "SELECT finished_at, checked_at FROM mart.loan_portfolio_builds")).one()
    assert checked > finished


def test_a_repayment_from_the_console_makes_the_next_cycle_rebuild(engine, book, jobs_engine,
                                                                   console_engine):
    cycle(jobs_engine)
    l2 = book["loans"]["L2"]
    before = outstanding_now(engine, l2)
    assert before == 141_000                  # 200,000 - 50,000 - 9,000
    with console_engine.begin() as conn:      # written as dh_console: the note is the owner's
        conn.execute(sa.text("""
            INSERT INTO fin.loan_repayments (loan_id, amount, to_interest, to_principal, channel,
                                             reference, received_at)
            VALUES (:l, 10500, 500, 10000, 'bank', 'LEFT-1', now())"""), {"l": l2})
        conn.execute(sa.text("""UPDATE fin.loans SET principal_paid = principal_paid + 10000,
                                interest_paid = interest_paid + 500 WHERE id = :l"""), {"l": l2})
    assert notes(engine) == 2                 # one per statement
    cycle(jobs_engine)
    assert [b[0] for b in builds(engine)] == [1, 2] and notes(engine) == 0
    assert outstanding_now(engine, l2) == 131_000
    cycle(jobs_engine)
    assert len(builds(engine)) == 2


def test_a_loan_event_alone_is_news_too(engine, book, jobs_engine, console_engine, risk):
    cycle(jobs_engine)
    with console_engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO fin.loan_events (loan_id, kind, staff_id, note)
                                VALUES (:l, 'collection_note', :s, '电话催收')"""),
                     {"l": book["loans"]["L3"], "s": risk.id})
    cycle(jobs_engine)
    assert len(builds(engine)) == 2


def test_a_new_day_makes_the_next_cycle_rebuild(engine, book, jobs_engine, monkeypatch):
    cycle(jobs_engine)
    tomorrow = clock.today() + timedelta(days=1)
    monkeypatch.setattr(clock, "today", lambda: tomorrow)
    later = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert notes(engine) == 0                 # the day alone (the step without the accrual)
    cycle(jobs_engine, only=[STEP])
    assert [b[1] for b in builds(engine)] == [clock.today() - timedelta(days=1), tomorrow]
    cycle(jobs_engine, only=[STEP])           # the new day's second run: nothing new
    assert len(builds(engine)) == 2


def test_two_runs_of_the_step_at_once_build_once(engine, book, jobs_engine):
    step = dict(jobs.steps(full=False))[STEP]
    results = at_once([lambda: jobs.run_step(STEP, step, engine=jobs_engine)] * 2)
    assert all(r.ok for r in results), results
    assert len(builds(engine)) == 1
    built = [r for r in results if r.detail.startswith("portfolio as of") and "loans=" in r.detail]
    assert len(built) == 1
    # the other was skipped at the step's lock, or came after and found the build current
    other = [r for r in results if r is not built[0]][0]
    assert other.skipped or other.detail.endswith("not rebuilt")


def test_two_refreshes_at_once_outside_the_jobs_lock_build_once(engine, book, jobs_engine):
    def refresh():
        with jobs_engine.begin() as conn:
            return portfolio_mart.refresh(conn)
    results = at_once([refresh, refresh])
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["BuildResult", "Unchanged"], results
    assert len(builds(engine)) == 1


def test_the_badge_counts_its_age_from_the_last_run_that_found_the_mart_current(
        engine, book, jobs_engine, console_engine, risk, settings_env):
    settings_env(CONSOLE_FRESHNESS_HOURS="loan_portfolio=24")
    cycle(jobs_engine)
    with engine.begin() as conn:              # built 30 hours ago (today's day, nothing since)
        conn.execute(sa.text("""UPDATE mart.loan_portfolio_builds
                                SET started_at = now() - interval '30 hours 1 minute',
                                    finished_at = now() - interval '30 hours',
                                    checked_at = NULL"""))
    with console_engine.connect() as conn:
        fresh = portfolio.freshness(conn=conn, actor=risk)
    assert (fresh.state, fresh.age_hours) == ("stale", 30.0)
    cycle(jobs_engine)                        # a run finds nothing new: current, not rebuilt
    assert len(builds(engine)) == 1
    with console_engine.connect() as conn:
        fresh = portfolio.freshness(conn=conn, actor=risk)
    # still computed 30 hours ago (the badge's detail says so), current as of the last run
    assert (fresh.state, fresh.age_hours, fresh.checked_hours) == ("ok", 30.0, 0.0)
    assert fresh.last_run_status == "succeeded"
