"""The nightly accrual of order loans (console/finance/accrual.py), as dh_jobs: interest per day
rounded half-up to the fen, DPD and buckets with their events, the default day, idempotence;
and the jobs' step under its lock."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock
from console.finance import accrual
from tests import finance_rows as fr


@pytest.fixture
def w(engine):
    return fr.world(engine, buyer_grade="BBB")


@pytest.fixture
def risk(make_actor):
    return make_actor("risk")


def disbursed_loan(engine, w, risk, *, principal="140000.00", rate="0.000400", term=30,
                   days_ago=0) -> int:
    """A loan disbursed ``days_ago`` days before today (Shanghai), as disbursement leaves it."""
    order_id = fr.new_order(engine, w, 1_000_000)
    day = clock.today() - timedelta(days=days_ago)
    with engine.begin() as conn:
        return conn.execute(sa.text("""
            INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no, order_amount,
                principal, term_days, daily_rate, grade, needs_second, status, approved_by,
                approved_at, disbursed_by, disbursed_at, due_date, accrued_through,
                certificate_state)
            VALUES (:m, :o, :s, :c, 1000000, :p, :t, :r, 'BBB', false, 'disbursed', :k, now(),
                    :k, now(), :due, :through, 'held')
            RETURNING id"""), {"m": w["buyer"], "o": order_id, "s": w["seller"],
                                "c": fr.certificate(), "p": D(principal), "t": term,
                                "r": D(rate), "k": risk.id,
                                "due": day + timedelta(days=term),
                                "through": day - timedelta(days=1)}).scalar()


def row(engine, loan_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("""SELECT interest_accrued, accrued_through, dpd, bucket,
                                              default_at, updated_at, version
                                       FROM fin.loans WHERE id = :id"""),
                            {"id": loan_id}).mappings().one()


def events(engine, loan_id):
    with engine.connect() as conn:
        return [(k, d) for k, d in conn.execute(sa.text(
            """SELECT kind, detail FROM fin.loan_events WHERE loan_id = :l ORDER BY id"""),
            {"l": loan_id})]


def accrue(jobs_engine, today):
    with jobs_engine.begin() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar() == "dh_jobs"
        return accrual.run(conn, today=today)


def test_interest_accrues_per_day_up_to_yesterday_and_a_second_run_changes_nothing(
        engine, jobs_engine, w, risk):
    loan_id = disbursed_loan(engine, w, risk)      # 140,000.00 at 万四: 56.00 a day
    start = clock.today()
    result = accrue(jobs_engine, start + timedelta(days=5))
    # the disbursement day and the four after it: 5 × 56.00
    assert (result.loans_updated, result.loans_accrued, result.interest) == (1, 1, D("280.00"))
    r = row(engine, loan_id)
    assert (r["interest_accrued"], r["accrued_through"], r["dpd"], r["bucket"]) == (
        D("280.00"), start + timedelta(days=4), 0, "current")
    again = accrue(jobs_engine, start + timedelta(days=5))
    assert (again.loans_updated, again.interest, again.bucket_moves) == (0, 0, 0)
    assert row(engine, loan_id) == r          # not even updated_at moved
    assert events(engine, loan_id) == []


def test_each_days_interest_is_rounded_half_up_in_sql_too(engine, jobs_engine, w, risk):
    # 10,010.00 × 0.0005 = 5.005 -> 5.01 a day; 3 days 15.03 (not 15.015 rounded)
    loan_id = disbursed_loan(engine, w, risk, principal="10010.00", rate="0.000500")
    accrue(jobs_engine, clock.today() + timedelta(days=3))
    assert row(engine, loan_id)["interest_accrued"] == D("15.03")
    # 10,009.00 × 0.0005 = 5.0045 -> 5.00
    other = disbursed_loan(engine, w, risk, principal="10009.00", rate="0.000500")
    accrue(jobs_engine, clock.today() + timedelta(days=4))
    assert row(engine, other)["interest_accrued"] == D("20.00")     # from today: 4 × 5.00
    assert row(engine, loan_id)["interest_accrued"] == D("20.04")   # one more day: 4 × 5.01


def test_days_past_due_move_the_bucket_and_the_91st_is_the_default(engine, jobs_engine, w,
                                                                    risk):
    loan_id = disbursed_loan(engine, w, risk)
    due = clock.today() + timedelta(days=30)
    path = []
    for dpd in (0, 1, 30, 31, 60, 61, 90, 91, 92):
        accrue(jobs_engine, due + timedelta(days=dpd))
        r = row(engine, loan_id)
        path.append((r["dpd"], r["bucket"], r["default_at"]))
    default_day = due + timedelta(days=91)
    assert path == [(0, "current", None), (1, "dpd_1_30", None), (30, "dpd_1_30", None),
                    (31, "dpd_31_60", None), (60, "dpd_31_60", None), (61, "dpd_61_90", None),
                    (90, "dpd_61_90", None), (91, "dpd_90p", default_day),
                    (92, "dpd_90p", default_day)]
    assert [(k, d) for k, d in events(engine, loan_id)] == [
        ("bucket", {"from": "current", "to": "dpd_1_30", "dpd": 1}),
        ("bucket", {"from": "dpd_1_30", "to": "dpd_31_60", "dpd": 31}),
        ("bucket", {"from": "dpd_31_60", "to": "dpd_61_90", "dpd": 61}),
        ("bucket", {"from": "dpd_61_90", "to": "dpd_90p", "dpd": 91}),
        ("defaulted", {"default_at": default_day.isoformat(), "dpd": 91})]
    # interest ran on at the same rate: from the disbursement day to the day before the last
    # run, 30 + 92 days × 56.00
    assert row(engine, loan_id)["interest_accrued"] == D("56.00") * 122


def test_missed_nights_catch_up_with_one_move_and_the_true_default_day(engine, jobs_engine, w,
                                                                       risk):
    loan_id = disbursed_loan(engine, w, risk, term=60)
    due = clock.today() + timedelta(days=60)
    result = accrue(jobs_engine, due + timedelta(days=100))
    assert (result.bucket_moves, result.defaults) == (1, 1)
    r = row(engine, loan_id)
    assert (r["dpd"], r["bucket"], r["default_at"], r["interest_accrued"]) == (
        100, "dpd_90p", due + timedelta(days=91), D("56.00") * 160)
    assert [k for k, _ in events(engine, loan_id)] == ["bucket", "defaulted"]


def test_only_disbursed_loans_accrue(engine, jobs_engine, w, risk):
    loan_id = disbursed_loan(engine, w, risk)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE fin.loans SET status = 'repaid', repaid_at = now(),
                                certificate_state = 'released', principal_paid = principal
                                WHERE id = :id"""), {"id": loan_id})
    result = accrue(jobs_engine, clock.today() + timedelta(days=40))
    assert result.loans_updated == 0
    assert row(engine, loan_id)["interest_accrued"] == D("0.00")


def test_the_jobs_step_runs_it_under_its_lock(engine, jobs_engine, w, risk):
    from console.jobs import job_lock, run_step, steps

    loan_id = disbursed_loan(engine, w, risk, days_ago=3)
    step = dict(steps(full=False))["loan_accrual"]
    with job_lock(jobs_engine, "loan_accrual") as got:        # another run holds it
        assert got
        skipped = run_step("loan_accrual", step, engine=jobs_engine)
    assert skipped.skipped and row(engine, loan_id)["interest_accrued"] == D("0.00")
    done = run_step("loan_accrual", step, engine=jobs_engine)
    assert done.ok and not done.skipped, done.detail
    assert "interest=168.00" in done.detail                  # 3 days × 56.00
    assert row(engine, loan_id)["accrued_through"] == clock.today() - timedelta(days=1)
    again = run_step("loan_accrual", step, engine=jobs_engine)
    assert again.ok and "loans updated=0" in again.detail
