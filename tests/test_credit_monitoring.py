"""Model monitoring: in-sample performance against out-of-time performance of one run."""
from __future__ import annotations

from datetime import datetime, timezone

from console.credit import engine as credit_engine
from console.services import credit
from tests.test_credit_support import hand_card, merchant, one

RUN_AT = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)        # the run scored then
AT = lambda y, m, d: datetime(y, m, d, tzinfo=timezone.utc)    # noqa: E731


def test_out_of_time_counts_only_what_went_bad_after_the_run(engine, tmp_path, make_actor):
    # A never goes bad; B defaults on a loan two months after the run; C had defaulted on a
    # deposit before it (the score could see that: left out); D loses a dispute eight months
    # after (outside the 180-day window: good for this run).
    merchant(engine, name="A")
    merchant(engine, name="B", outcome_loan_default=True, first_loan_default_at=AT(2026, 3, 1))
    merchant(engine, name="C", outcome_deposit_default=True, deposit_defaults=1,
             first_deposit_default_at=AT(2025, 12, 1))
    merchant(engine, name="D", disputes_lost=1, first_dispute_lost_at=AT(2026, 9, 1))
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
        conn.exec_driver_sql("UPDATE ops.credit_runs SET finished_at = %(t)s", {"t": RUN_AT})
    run_id = one(engine, "SELECT max(id) FROM ops.credit_runs")
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk"), run_b=run_id)
    # In sample: every merchant that traded, bad if an outcome flag is set (B and C).
    assert (report.in_sample.outcomes, report.in_sample.bad) == (4, 2)
    # Out of time: A, B, D assessed; only B went bad within the window.
    oot = report.out_of_time
    assert (oot.outcomes, oot.bad) == (3, 1)
    assert oot.by_grade["merchants"].sum() == 3 and oot.by_grade["bad"].sum() == 1
    assert report.days_since_run >= credit.OOT_WINDOW_DAYS     # the window has closed


def test_a_fresh_run_has_no_out_of_time_outcomes_yet(engine, tmp_path, make_actor):
    merchant(engine, name="E", outcome_loan_default=True, first_loan_default_at=AT(2025, 6, 1))
    merchant(engine, name="F")
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("manager"))
    assert (report.in_sample.outcomes, report.in_sample.bad) == (2, 1)
    assert (report.out_of_time.outcomes, report.out_of_time.bad, report.out_of_time.ks) == (1, 0, None)
    assert report.days_since_run == 0
