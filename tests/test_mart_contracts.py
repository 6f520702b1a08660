"""Contracts on the marts (etl/contracts.py): on the ETL's seed every contract passes; a
corrupted mart fails the contract that names the defect, through the run that follows and
through a check alone; the dashboards' freshness badges (growth page, data-quality page)
say the mart is broken until a validation passes again."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
import streamlit as st

from console.services import data_quality as dq
from console.services import growth
from etl import check_contracts, run_all, run_job
from etl.contracts import CONTRACTS
from etl.jobs import JOBS
from tests.apptest import app_as, page_script_as
from tests.test_etl import change, q, seed


@pytest.fixture
def seeded(engine, settings_env):
    # The seed's events are dated in the past: these badges speak of the contracts, not of
    # the sources' age (that is tests/test_freshness.py), so no threshold is reached here.
    settings_env(CONSOLE_FRESHNESS_HOURS=",".join(f"{job}=100000000" for job in JOBS))
    seed(engine)
    results = run_all(engine=engine)
    assert [(r.status, r.contracts_failed) for r in results] == [("succeeded", [])] * len(JOBS)
    return engine


def contract_verdicts(engine) -> dict[str, tuple[int, int]]:
    """Per contract suite of the latest validation: (checks, failed)."""
    return {r[0]: (r[1], r[2]) for r in q(engine, """
        SELECT v.suite, count(*), count(*) FILTER (WHERE NOT v.success)
        FROM etl.validation_results v
        WHERE v.suite LIKE 'contract:%'
          AND v.run_id = (SELECT max(x.run_id) FROM etl.validation_results x WHERE x.suite = v.suite)
        GROUP BY 1""")}


def failed_checks(engine, mart: str) -> list[str]:
    return [r[0] for r in q(engine, """
        SELECT expectation FROM etl.validation_results
        WHERE suite = :s AND NOT success
          AND run_id = (SELECT max(run_id) FROM etl.validation_results WHERE suite = :s)
        ORDER BY 1""", s=f"contract:{mart}")]


def badges(engine, make_actor) -> tuple[dict[str, str], dict[str, str]]:
    """What the growth page's badges and the data-quality page's freshness table say."""
    with engine.connect() as conn:
        charts = growth.freshness(conn=conn, actor=make_actor("manager"))
        table = dq.mart_freshness(conn=conn, actor=make_actor("admin"))
    return ({c: f.state for c, f in charts.items()},
            dict(zip(table["mart"], table["contract"])))


def test_every_contract_passes_on_the_seed(seeded, make_actor):
    assert contract_verdicts(seeded) == {
        f"contract:{mart}": (len(contract.checks()), 0) for mart, contract in CONTRACTS.items()}
    charts, table = badges(seeded, make_actor)
    assert charts == {"funnel": "ok", "kpis": "ok", "cohorts": "ok", "supply_demand": "ok"}
    assert set(table.values()) == {"passed"}


def test_a_segment_that_does_not_sum_fails_the_next_run_and_marks_the_kpi_charts(seeded, make_actor):
    # A day the next run does not touch: the corruption survives the incremental load.
    with seeded.begin() as conn:
        assert conn.execute(sa.text("""
            UPDATE mart.daily_kpis_segment SET listings_created = listings_created + 1
            WHERE day = '2025-01-10' AND tier_level = 1 AND merchant_type = '4s'""")).rowcount == 1
    change(seeded)
    results = {r.job: r for r in run_all(engine=seeded)}
    kpis = results["daily_kpis"]
    assert (kpis.status, kpis.contracts_failed) == ("succeeded", ["daily_kpis.segments_sum_to_platform"])
    assert kpis.warnings == 1
    assert all(r.contracts_failed == [] for job, r in results.items() if job != "daily_kpis")
    assert failed_checks(seeded, "mart.daily_kpis") == ["daily_kpis.segments_sum_to_platform"]
    rows = q(seeded, """SELECT details -> 'rows' FROM etl.validation_results
                        WHERE expectation = 'daily_kpis.segments_sum_to_platform' AND NOT success""")
    assert rows == [([{"day": "2025-01-10", "figure": "listings_created", "total": "1",
                       "sum_of_parts": "2"}],)]
    charts, table = badges(seeded, make_actor)
    assert charts == {"funnel": "ok", "kpis": "broken", "cohorts": "ok", "supply_demand": "ok"}
    assert table["mart.daily_kpis"] == "failed" and table["mart.daily_kpis_segment"] == "passed"

    # Fixed by a rebuild: the next validation passes and the mark goes.
    assert run_job("daily_kpis", engine=seeded, full=True).contracts_failed == []
    assert badges(seeded, make_actor)[0]["kpis"] == "ok"


def test_a_run_that_writes_nothing_keeps_the_mark(seeded, make_actor):
    with seeded.begin() as conn:
        conn.execute(sa.text("UPDATE mart.supply_demand SET live_listings = -1 "
                             "WHERE brand_id = 1 AND tier_level = 1"))
    assert check_contracts(engine=seeded, names=["supply_demand"]) == {
        "supply_demand": ["supply_demand.figures_non_negative"]}
    broken = q(seeded, """SELECT details -> 'rows' FROM etl.validation_results
                          WHERE expectation = 'supply_demand.figures_non_negative'
                            AND NOT success""")[0][0]
    assert {(r["brand_id"], r["tier_level"], r["figures"]) for r in broken} == {
        (1, 1, "live_listings")}
    assert run_job("supply_demand", engine=seeded).mart_rows_written == 0
    assert badges(seeded, make_actor)[0]["supply_demand"] == "broken"


@pytest.mark.parametrize("corrupt, job, mart, failed", [
    # A negative count (a stock: listings live at the end of the day).
    ("UPDATE mart.daily_kpis SET live_listings = -2 WHERE day = '2025-01-20'",
     "daily_kpis", "mart.daily_kpis",
     ["daily_kpis.figures_non_negative", "daily_kpis.segments_sum_to_platform"]),
    # A duplicated key: only possible once the primary key is gone (a migration's slip).
    ("""ALTER TABLE mart.supply_demand DROP CONSTRAINT supply_demand_pkey;
        INSERT INTO mart.supply_demand SELECT * FROM mart.supply_demand WHERE brand_id = 2""",
     "supply_demand", "mart.supply_demand", ["supply_demand.key_unique"]),
    # A merchant the marketplace does not know.
    ("""ALTER TABLE mart.funnel_facts DROP CONSTRAINT IF EXISTS funnel_facts_merchant_id_fkey;
        UPDATE mart.funnel_facts SET merchant_id = 999 WHERE merchant_id = 4""",
     "funnel_facts", "mart.funnel_facts", ["funnel_facts.merchant_id_fk"]),
    # A funnel step that grows: the February cohort has one certification submitted (merchant
    # 3's, pending) and would count two merchants certified.
    ("UPDATE mart.funnel_facts SET certified_at = registered_at WHERE cohort_month = '2025-02-01'",
     "funnel_facts", "mart.funnel_facts", ["funnel_facts.steps_never_grow"]),
    # More active merchants than the cohort holds.
    ("""UPDATE mart.cohort_activity_segment SET active_merchants = cohort_size + 1
        WHERE (cohort_month, months_since) = (SELECT cohort_month, months_since
                                              FROM mart.cohort_activity_segment LIMIT 1)""",
     "cohort_activity", "mart.cohort_activity_segment",
     ["cohort_activity_segment.active_within_cohort"]),
])
def test_a_corrupted_mart_fails_the_contract_that_names_it(seeded, make_actor, corrupt, job, mart,
                                                           failed):
    with seeded.begin() as conn:
        conn.connection.cursor().execute(corrupt)
    result = check_contracts(engine=seeded, names=[job])[job]
    assert failed_checks(seeded, mart) == failed
    assert set(failed) <= set(result)
    chart = next(c for c, marts in growth.CHART_MARTS.items() if mart.split(".")[1] in marts)
    charts, table = badges(seeded, make_actor)
    assert charts[chart] == "broken" and table[mart] == "failed"


def test_the_pages_mark_the_broken_mart_in_red(seeded, make_actor):
    st.cache_data.clear()
    with seeded.begin() as conn:
        conn.execute(sa.text("UPDATE mart.supply_demand SET live_listings = -1 "
                             "WHERE brand_id = 1 AND tier_level = 1"))
    check_contracts(engine=seeded, names=["supply_demand"])
    growth_page = app_as(make_actor("manager"), page="pages/mgr_growth.py")
    assert not growth_page.exception
    badges_text = [m.value for m in growth_page.markdown if "校验" in m.value]
    assert any("数据校验未通过（1 项）" in b and ":red-badge" in b for b in badges_text), badges_text
    quality = page_script_as(make_actor("admin"), "pages/admin_data_quality.py", lang="en")
    assert not quality.exception
    assert [e.value for e in quality.error] == [
        "Contract failed: mart.supply_demand. Their figures cannot be trusted and their "
        "dashboards are marked red; see the contract:… suites under “Latest validation per "
        "suite” below."]
    st.cache_data.clear()
