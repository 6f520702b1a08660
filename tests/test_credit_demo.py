"""On the demo data the scorecard must rank: the default rate falls steadily from C to AAA.

The generator draws every bad outcome from one hidden merchant quality; the ETL's
merchant-features job turns the marketplace into features and outcomes; scoring grades them;
the monitoring report measures them over the merchants that traded. If the default rate is
not monotonic, the scorecard or the generator is wrong.
"""
from __future__ import annotations

import pytest

from console import demo
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.services import credit
from etl import jobs as etl_jobs
from etl import runner as etl_runner


@pytest.fixture
def demo_scored(engine):
    demo.seed(engine=engine, scale="small", seed=7)
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    with engine.begin() as conn:
        return credit_engine.score_all(conn, load(DEFAULT_CONFIG))


def test_default_rate_per_grade_is_monotonic_on_demo_data(engine, make_actor, demo_scored):
    with engine.connect() as conn:
        report = credit.monitoring_report(conn=conn, actor=make_actor("risk", username="credit_probe"))
    table = report.in_sample.by_grade
    populated = table[table["merchants"] > 0]
    assert report.in_sample.bad > 0 and len(populated) >= 4, table.to_string()   # spread over grades
    rates = populated["default_rate"].tolist()
    assert rates == sorted(rates), table.to_string()                     # C worst … AAA best
    assert rates[0] < rates[-1]
    assert report.in_sample.monotonic is True
    assert report.in_sample.auc > 0.75 and report.in_sample.ks > 0.3
