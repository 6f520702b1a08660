"""On the demo data (scale demo, the console's default seed) the scorecard can be validated
as a validation team would: a development and an out-of-time sample, both with bad cases
that happened after their score dates, no leakage alarm, and no merchant without trading
history holding more than the starter limit."""
from __future__ import annotations

import pandas as pd

from console import demo
from console.credit import engine as credit_engine
from console.credit import pit, validation
from console.credit.scorecard import CHALLENGER_CONFIG, DEFAULT_CONFIG, load
from console.settings import get_settings
from etl import jobs as etl_jobs
from etl import runner as etl_runner


def test_demo_data_gives_a_development_and_an_out_of_time_sample_without_leakage(engine):
    demo.seed(engine=engine, scale="demo", seed=42)
    window = get_settings().credit_label_window_days
    with engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT mart.cn_date(max(occurred_at)) FROM app.events").scalar()
        plan = pit.plan(data_end=validation.data_end(last, last), window_days=window,
                        development_dates=4)
        dev = pit.sample(conn, dates=plan.development, window_days=window)
        oot = pit.sample(conn, dates=[plan.out_of_time], window_days=window)
    assert dev["bad"].sum() >= 15 and oot["bad"].sum() >= 30, (dev["bad"].sum(), oot["bad"].sum())
    # every kind of bad event labels someone out of time, and always after the score date
    start = pd.Timestamp(plan.out_of_time, tz="Asia/Shanghai")
    for column in ("next_deposit_default_at", "next_dispute_lost_at", "next_loan_default_at"):
        events = oot[column].dropna()
        assert len(events) > 0, column
        assert (pd.to_datetime(events, utc=True) >= start).all(), column
    # NEW merchants (no completed deal before the date) are never in a sample
    assert (dev["deals_total"] >= 1).all() and (oot["deals_total"] >= 1).all()
    for card in (load(DEFAULT_CONFIG), load(CHALLENGER_CONFIG)):
        report = validation.validate(card, dev, oot, plan)
        assert report.leak_alarms == [], (card.version, report.factors.to_string())
        assert 0.5 < report.out_of_time.auc < 0.9, (card.version, report.out_of_time)

    # Scored as today: no merchant without a completed deal holds more than the starter limit.
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
    with engine.connect() as conn:
        new, over, graded = conn.exec_driver_sql("""
            SELECT count(*) FILTER (WHERE f.deals_total = 0),
                   count(*) FILTER (WHERE f.deals_total = 0
                                      AND (c.loan_limit > %(s)s OR c.effective_grade <> 'NEW')),
                   count(*) FILTER (WHERE f.deals_total > 0 AND c.effective_grade <> 'NEW')
            FROM ops.merchant_credit c JOIN mart.merchant_features f USING (merchant_id)""",
            {"s": get_settings().credit_starter_limit_yuan}).one()
    assert new > 1000 and graded > 500 and over == 0
