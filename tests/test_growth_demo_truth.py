"""Done-when of issue 15: on the demo data, every figure of the growth page and the home page
equals its independent computation from the raw tables (tests/growth_truth.py), after the
real ETL ran. Differences are listed with the period, the figure and both values."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console import clock
from console.services import growth, home
from console.services.growth import GrowthFilters
from etl import run_all
from tests import growth_truth as truth


@pytest.fixture
def demo(demo_engine, make_actor):
    results = run_all(engine=demo_engine)
    assert all(r.status == "succeeded" for r in results), [(r.job, r.error) for r in results]
    return demo_engine, make_actor("manager")


def test_the_growth_and_home_figures_equal_the_raw_tables_on_the_demo_data(demo):
    engine, actor = demo
    end = clock.today()
    start = end - timedelta(days=179)          # the page's default range
    quarantined = []
    with engine.connect() as conn:
        from sqlalchemy import text
        quarantined = conn.execute(text(
            "SELECT job, source_table, count(*) FROM etl.excluded_rows GROUP BY 1, 2")).all()
        for grain in ("day", "week", "month"):
            report = growth.kpis(conn=conn, actor=actor,
                                 filters=GrowthFilters(start=start, end=end), grain=grain)
            want = (truth.daily(conn, report.series["period_start"].min(), end) if grain == "day"
                    else truth.periods(conn, start, end, grain))
            assert len(report.series) > 0
            assert truth.compare_series(report.series, want) == [], (grain, quarantined)
            if grain == "day":
                # The demo data stops at its anchor day: the match rates of its last 14 days
                # never got their matches. They are immature (not a collapse), earlier ones not.
                last = conn.execute(text(
                    "SELECT max(created_at AT TIME ZONE 'Asia/Shanghai')::date FROM app.requests "
                    "WHERE created_at <= now()")).scalar()
                flags = dict(zip(report.series["period_start"], report.series["match_rate_immature"]))
                assert [bool(flags[last - timedelta(days=k)]) for k in (0, 13, 14, 30)] == [
                    True, True, False, False]
        raw = truth.matchable(conn)
        assert (report.milestone_posts, report.milestone_all_posts) == (
            raw["listings"] + raw["requests"], raw["all_listings"] + raw["all_requests"])
        sd = growth.supply_demand(conn=conn, actor=actor,
                                  filters=GrowthFilters(start=start, end=end), by="tier")
        assert [int(sd[c].sum()) for c in ("live_listings", "listing_units", "open_requests",
                                           "request_units")] == [
            raw["listings"], raw["listing_units"], raw["requests"], raw["request_units"]]
        cells = growth.cohorts(conn=conn, actor=actor,
                               filters=GrowthFilters(start=end - timedelta(days=3650), end=end))
        service = {(r.cohort_month, int(r.months_since)): (int(r.cohort_size), int(r.active_merchants))
                   for r in cells.itertuples() if r.active_merchants}
        assert service == truth.cohorts(conn)
        tiles = {c.label_key: c for c in home.waiting_counts(conn=conn, actor=actor)}
        assert tiles["home.manager.live_posts"].value == raw["listings"] + raw["requests"]
        assert tiles["home.manager.new_merchants_7d"].value == conn.execute(
            text(truth.NEW_MERCHANTS_7D)).scalar()
