"""Loan outcomes (issue 19): an order loan 90+ days past due (fin.loans.default_at, the first
day it was) is the scorecard's bad outcome: in the features mart's outcome flags, in the
point-in-time labels of the development and out-of-time samples, and in the population the
credit monitoring page's KS and AUC rest on, which the page shows with its dates.

Hand-built loans on fixed dates in 2025-2026 (they do not depend on the clock); the label
window is 60 days (CONSOLE_CREDIT_LABEL_WINDOW_DAYS's default)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.credit import pit
from console.finance import accrual
from console.services import credit
from console.settings import get_settings
from etl import jobs as etl_jobs
from etl import runner as etl_runner
from tests import finance_rows as fr
from tests import trust_rows
from tests.apptest import app_as
from tests.test_credit_support import hand_card, merchant, one

SHANGHAI = timezone(timedelta(hours=8))
D = date(2026, 4, 1)          # the score date of the point-in-time tests
WINDOW = 60


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def default_day(due: date) -> date:
    """The accrual's rule: the first day more than loan_default_dpd (90) days past due."""
    return due + timedelta(days=get_settings().loan_default_dpd + 1)


@pytest.fixture
def book(engine, make_actor):
    """``loan(borrower, disbursed=…, term=…, defaults=…, repaid=…)`` inserts an order loan of
    ``borrower`` (a fresh order from one seller), disbursed on a Shanghai day; it defaults on
    its default day (due + 91) when ``defaults``, or was repaid in full on ``repaid``."""
    city = trust_rows.city(engine)
    trim = trust_rows.trim(engine)
    seller = trust_rows.merchant(engine, city_id=city)
    officer = make_actor("risk").id

    def loan(borrower: int, *, disbursed: date, term: int = 30, defaults: bool = False,
             repaid: date | None = None) -> dict:
        order = fr.order(engine, buyer=borrower, seller=seller, trim_id=trim, city_id=city)
        due = disbursed + timedelta(days=term)
        gone = default_day(due) if defaults else None
        paid = repaid is not None
        loan_id = one(engine, """
            INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no,
                order_amount, principal, term_days, daily_rate, grade, needs_second, status,
                approved_by, approved_at, disbursed_by, disbursed_at, due_date,
                principal_paid, interest_accrued, interest_paid, dpd, bucket, default_at,
                certificate_state, repaid_at, applied_at)
            VALUES (:m, :o, :s, :c, 200000, 150000, :t, 0.0004, 'A', false, :st,
                    :k, :at, :k, :at, :due, :pp, :ia, :ip, :dpd, :bucket, :gone, :cs, :ra,
                    :at - interval '1 day')
            RETURNING id""", m=borrower, o=order, s=seller, c=fr.certificate(), t=term,
            st="repaid" if paid else "disbursed", k=officer,
            at=datetime(disbursed.year, disbursed.month, disbursed.day, 10, tzinfo=SHANGHAI),
            due=due, pp=150000 if paid else 0, ia=1200 if paid else 0, ip=1200 if paid else 0,
            dpd=0 if paid or not defaults else 91, bucket="dpd_90p" if defaults else "current",
            gone=gone, cs="released" if paid else "held",
            ra=midnight(repaid) + timedelta(hours=11) if paid else None)
        return {"id": loan_id, "due": due, "default_at": gone}

    return {"loan": loan, "city": city, "trim": trim, "seller": seller}


def trader(engine, city: int) -> int:
    """A merchant registered in 2025 with one completed purchase on 2026-01-05: graded on D."""
    m = trust_rows.merchant(engine, city_id=city)
    one(engine, "UPDATE app.merchants SET registered_at = '2025-01-01 10:00+08' WHERE id = :m", m=m)
    seller = trust_rows.merchant(engine, city_id=city)
    listing = trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine),
                                 city_id=city)
    one(engine, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, status, escrow_state, created_at,
                                deposit_paid_at, completed_at)
        VALUES (:l, :b, :s, 1, 200000, 200000, 5000, 'completed', 'released',
                '2026-01-02 10:00+08', '2026-01-03 10:00+08', '2026-01-05 10:00+08')
        RETURNING id""", l=listing, b=m, s=seller)
    return m


def rows_as_of(conn, day: date, window: int = WINDOW) -> pd.DataFrame:
    return pit.features_as_of(conn, as_of=day, window_days=window).set_index("merchant_id")


# ---------------------------------------------------------------- point-in-time labels
def test_a_loan_reaching_90_dpd_after_the_score_date_within_the_window_is_bad(engine, book):
    bad = trader(engine, book["city"])
    before = trader(engine, book["city"])
    repaid = trader(engine, book["city"])
    late = book["loan"](bad, disbursed=date(2026, 1, 10), defaults=True)     # due 02-09
    early = book["loan"](before, disbursed=date(2025, 11, 1), defaults=True)  # due 12-01
    book["loan"](repaid, disbursed=date(2026, 2, 1), repaid=date(2026, 2, 25))
    # By hand: 02-09 + 91 days = 05-11 (in [04-01, 05-31)); 2025-12-01 + 91 = 2026-03-02.
    assert (late["default_at"], early["default_at"]) == (date(2026, 5, 11), date(2026, 3, 2))

    with engine.connect() as conn:
        frame = rows_as_of(conn, D)
        # 90+ DPD on 05-11, 40 days after D: bad, and a loan default among the bad.
        assert (frame.loc[bad, "bad"], frame.loc[bad, "loan_bad"],
                frame.loc[bad, "loan_defaults"]) == (1, 1, 0)
        assert frame.loc[bad, "next_order_loan_default_at"] == midnight(date(2026, 5, 11))
        assert frame.loc[bad, "next_loan_default_at"] == midnight(date(2026, 5, 11))
        # Defaulted on 03-02, before D: an input of D (loan_defaults), not D's outcome; as
        # pit does for a deposit default or a lost dispute before the date.
        assert (frame.loc[before, "bad"], frame.loc[before, "loan_bad"],
                frame.loc[before, "loan_defaults"]) == (0, 0, 1)
        assert pd.isna(frame.loc[before, "next_loan_default_at"])
        # Repaid on time: good, no default anywhere.
        assert (frame.loc[repaid, "bad"], frame.loc[repaid, "loan_bad"],
                frame.loc[repaid, "loan_defaults"]) == (0, 0, 0)
        # The default day itself: scored at its midnight, the default comes after: the label.
        on_day = rows_as_of(conn, date(2026, 5, 11)).loc[bad]
        assert (on_day["bad"], on_day["loan_bad"], on_day["loan_defaults"]) == (1, 1, 0)
        # The next day it is an input and no longer the label.
        after = rows_as_of(conn, date(2026, 5, 12)).loc[bad]
        assert (after["bad"], after["loan_bad"], after["loan_defaults"]) == (0, 0, 1)
        # The window ends 60 days after D (exclusive): from 03-13 the 05-11 default is in
        # [03-13, 05-12), from 03-12 it is not ([03-12, 05-11)).
        assert rows_as_of(conn, date(2026, 3, 13)).loc[bad, "bad"] == 1
        assert rows_as_of(conn, date(2026, 3, 12)).loc[bad, "bad"] == 0
        # The graded sample of D: all three (a completed deal before D); two good, one bad.
        sample = pit.sample(conn, dates=[D], window_days=WINDOW).set_index("merchant_id")
        assert sample.loc[[bad, before, repaid], "bad"].tolist() == [1, 0, 0]


def test_a_loan_disbursed_after_the_score_date_changes_nothing_in_its_features(engine, book):
    m = trader(engine, book["city"])
    book["loan"](m, disbursed=date(2026, 1, 10), repaid=date(2026, 2, 8))
    with engine.connect() as conn:
        baseline = rows_as_of(conn, D)
    # Disbursed 04-15, after D, 90 days, never repaid: default day 07-14 + 91 = 10-13.
    later = book["loan"](m, disbursed=date(2026, 4, 15), term=90, defaults=True)
    assert later["default_at"] == date(2026, 10, 13)
    with engine.connect() as conn:
        again = rows_as_of(conn, D)
        pd.testing.assert_frame_equal(again, baseline)            # every column, every merchant
        assert again.loc[m, "loan_defaults"] == 0 and again.loc[m, "bad"] == 0
        # It is an outcome, never a feature: a window long enough to reach 10-13 labels it.
        long = rows_as_of(conn, D, window=200).loc[m]
        assert (long["bad"], long["loan_bad"], long["loan_defaults"]) == (1, 1, 0)
        # As of the day after its default it is an input.
        assert rows_as_of(conn, date(2026, 10, 14)).loc[m, "loan_defaults"] == 1


# ---------------------------------------------------------------- the features mart (ETL)
def test_the_features_mart_flags_loan_defaults_as_dh_jobs_and_follows_the_accrual(
        engine, jobs_engine, book):
    bad = trader(engine, book["city"])
    repaid = trader(engine, book["city"])
    record = trader(engine, book["city"])
    open_ = trader(engine, book["city"])
    book["loan"](bad, disbursed=date(2026, 1, 10), defaults=True)
    book["loan"](repaid, disbursed=date(2026, 2, 1), repaid=date(2026, 2, 25))
    opened = book["loan"](open_, disbursed=date(2026, 2, 1))
    # The older, outcome-only record of a loan closed as defaulted still counts.
    one(engine, """INSERT INTO app.loan_applications (merchant_id, amount, status, applied_at,
                                                      decided_at, due_at, closed_at)
                   VALUES (:m, 80000, 'defaulted', '2025-12-01 10:00+08', '2025-12-02 10:00+08',
                           '2026-01-01 10:00+08', '2026-01-31 10:00+08') RETURNING id""",
        m=record)
    job = etl_jobs.JOBS["merchant_features"]
    result = etl_runner.run_job(job, engine=jobs_engine, full=True)    # the jobs' own role
    assert result.status == "succeeded", result.error

    def flags() -> dict:
        with engine.connect() as conn:
            return {r.merchant_id: (r.outcome_loan_default, r.first_loan_default_at)
                    for r in conn.execute(sa.text(
                        "SELECT merchant_id, outcome_loan_default, first_loan_default_at "
                        "FROM mart.merchant_features WHERE merchant_id IN (:a, :b, :c, :d)"),
                        {"a": bad, "b": repaid, "c": record, "d": open_})}

    assert flags() == {bad: (True, midnight(date(2026, 5, 11))), repaid: (False, None),
                       record: (True, datetime(2026, 1, 31, 10, tzinfo=SHANGHAI)),
                       open_: (False, None)}
    # The nightly accrual (as dh_jobs) of 06-02 finds the open loan 91 days past due and
    # defaults it; the next incremental run (fin.loans staged as a source) recomputes its
    # borrower the same day, not only when the date moves on.
    with jobs_engine.begin() as conn:
        done = accrual.run(conn, today=date(2026, 6, 2), loan_id=opened["id"])
    assert done.defaults == 1
    result = etl_runner.run_job(job, engine=jobs_engine)
    assert result.status == "succeeded", result.error
    assert result.rows_in == 1                                      # the loan, nothing else
    assert flags()[open_] == (True, midnight(date(2026, 6, 2)))     # 03-03 + 91 days


# ---------------------------------------------------------------- the monitoring page
RUN_AT = datetime(2026, 4, 1, 10, tzinfo=SHANGHAI)     # the run finished at 10:00 on 04-01


def _monitored_world(engine, book, tmp_path) -> dict:
    """Six graded merchants and one NEW, scored by a run that finished at RUN_AT:

      m1  order loan 90+ DPD on 05-11 (in the window)            bad, loan default
      m2  older loan record closed as defaulted on 05-01          bad
      m3  order loan 90+ DPD on 04-01 (dated its midnight, before the run finished)   good
      m4  order loan repaid on time                                good
      m5  order loan 90+ DPD on 06-15 (past the window's end, 05-31 10:00)            good
      m6  order loan 90+ DPD on 05-31 (its midnight, before the window's end)  bad, loan default
      new no completed deal: not graded, not in the population (default on 05-11)
    """
    ids = {f"m{k}": merchant(engine, name=f"样本{k}") for k in range(1, 7)}
    ids["new"] = merchant(engine, name="样本NEW", deals_total=0)
    loan = book["loan"]
    # disbursed so that due + 91 is the default day wanted
    loan(ids["m1"], disbursed=date(2026, 1, 10), defaults=True)                      # 05-11
    one(engine, """INSERT INTO app.loan_applications (merchant_id, amount, status, applied_at,
                                                      decided_at, due_at, closed_at)
                   VALUES (:m, 80000, 'defaulted', '2026-02-01 10:00+08', '2026-02-02 10:00+08',
                           '2026-03-02 10:00+08', '2026-05-01 12:00+08') RETURNING id""",
        m=ids["m2"])
    assert loan(ids["m3"], disbursed=date(2025, 12, 1), defaults=True)["default_at"] == date(2026, 4, 1)
    loan(ids["m4"], disbursed=date(2026, 3, 1), repaid=date(2026, 3, 30))
    assert loan(ids["m5"], disbursed=date(2026, 2, 14), defaults=True)["default_at"] == date(2026, 6, 15)
    assert loan(ids["m6"], disbursed=date(2026, 1, 30), defaults=True)["default_at"] == date(2026, 5, 31)
    loan(ids["new"], disbursed=date(2026, 1, 10), defaults=True)
    with engine.begin() as conn:
        run_id = credit_engine.score_all(conn, hand_card(tmp_path))
    one(engine, "UPDATE ops.credit_runs SET finished_at = :t WHERE id = :r RETURNING id",
        t=RUN_AT, r=run_id)
    ids["run"] = run_id
    return ids


def test_monitoring_shows_the_population_its_loan_defaults_and_dates(engine, book, tmp_path,
                                                                      make_actor):
    world = _monitored_world(engine, book, tmp_path)
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk"), run_b=world["run"])
    perf = report.performance
    # m1-m6 assessed; m1, m2, m6 bad; of them m1 and m6 with an order loan 90+ DPD.
    assert (perf.outcomes, perf.bad, perf.loan_bad) == (6, 3, 2)
    assert (report.score_date, report.window_from, report.window_to) == (
        date(2026, 4, 1), date(2026, 4, 1), date(2026, 5, 31))
    assert report.window_days == WINDOW and not report.window_open
    grades = perf.by_grade.set_index("grade")
    assert (grades.loc["AA", "merchants"], grades.loc["AA", "bad"]) == (6, 3)


def test_the_monitoring_page_states_the_population_in_both_languages(engine, book, tmp_path,
                                                                    make_actor):
    world = _monitored_world(engine, book, tmp_path)
    run = world["run"]
    expected = {
        "zh": (f"样本：第 {run} 次评分的已评级商户 6 家（评分日 2026-04-01），其中坏样本 3 家，"
               "坏样本中订单贷逾期 90 天以上 2 家；结果观察窗口 2026-04-01 至 2026-05-31。",
               "其中订单贷违约", "坏样本 = 评分完成后 60 天内有一笔订单贷逾期 90 天以上"),
        "en": (f"Population: 6 graded merchants of run {run} (score date 2026-04-01), 3 of them "
               "bad, of which 2 with an order loan 90+ days past due; outcome window 2026-04-01 "
               "to 2026-05-31.",
               "Order-loan defaults",
               "Bad = a graded merchant (NEW left out) with an order loan reaching 90+ days past "
               "due within 60 days after the run finished"),
    }
    for lang, (population, metric, definition) in expected.items():
        at = app_as(make_actor("manager"), lang=lang, page="pages/risk_monitoring.py")
        assert not at.exception and not at.error
        assert population in [m.value for m in at.markdown], [m.value for m in at.markdown]
        assert [m.value for m in at.metric if m.label == metric] == ["2"]
        assert any(c.value.startswith(definition) for c in at.caption), \
            [c.value for c in at.caption]


# ---------------------------------------------------------------- the demo
def test_the_demo_gives_the_monitoring_page_loan_defaults(engine, make_actor):
    """The world ``make run`` seeds (scale demo, seed 42): its year of order loans holds five
    defaults (90+ DPD on 2026-06-12, 08-31, 09-25, 10-11 and 10-30), and the weekly runs
    whose window holds one show them among the bad. The small demo (the ``demo_engine``
    fixture) has none: its book of a few dozen loans is too thin for any grade's rate to
    round to a default (console/demo/loans.py), so this test seeds the demo scale."""
    from console import demo
    demo.seed(engine=engine, scale="demo", seed=42)
    actor = make_actor("risk", username="outcomes_risk")
    with engine.connect() as conn:
        days = conn.execute(sa.text("SELECT default_at FROM fin.loans WHERE default_at IS NOT NULL "
                                    "AND default_at < '2026-11-20' ORDER BY 1")).scalars().all()
        runs = conn.execute(sa.text("SELECT id FROM ops.credit_runs WHERE status = 'succeeded' "
                                    "ORDER BY id")).scalars().all()
        reports = {r: credit.monitoring_report(conn=conn, actor=actor, run_b=r) for r in runs}
    assert days == [date(2026, 6, 12), date(2026, 8, 31), date(2026, 9, 25), date(2026, 10, 11),
                    date(2026, 10, 30)]
    # The runs whose window closed by the anchor (2026-11-20): the history decided their
    # outcomes (later windows may still gain the loans the nightly accrual finds unpaid).
    closed = {r: rep.performance.loan_bad for r, rep in reports.items()
              if rep.window_to <= date(2026, 11, 20)}
    assert len(closed) == 17 and sum(n >= 1 for n in closed.values()) == 15
    assert max(closed.values()) == 3
    # The run of 2026-09-03: its window to 11-02 holds the defaults of 09-25, 10-11, 10-30.
    run = next(r for r, rep in reports.items() if rep.score_date == date(2026, 9, 3))
    rep = reports[run]
    assert (rep.performance.outcomes, rep.performance.bad, rep.performance.loan_bad) == (819, 42, 3)
    assert (rep.window_from, rep.window_to) == (date(2026, 9, 3), date(2026, 11, 2))
    # The page, that run chosen: the population and its loan defaults.
    at = app_as(make_actor("manager", username="outcomes_manager"), lang="zh",
                page="pages/risk_monitoring.py")
    next(s for s in at.selectbox if s.label == "当前评分").select(run).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric if m.label == "其中订单贷违约"] == ["3"]
    assert (f"样本：第 {run} 次评分的已评级商户 819 家（评分日 2026-09-03），其中坏样本 42 家，"
            "坏样本中订单贷逾期 90 天以上 3 家；结果观察窗口 2026-09-03 至 2026-11-02。"
            in [m.value for m in at.markdown])
