"""Honest freshness (issue #14): the badge compares the newest source event with the clock
and warns past a threshold per mart; a period still in progress is marked partial, never
compared as a drop. Real PostgreSQL, with the business clock moved."""
from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from console import clock, db, freshness
from console.services import data_quality, growth
from console.services.growth import GrowthFilters
from tests import growth_rows, trust_rows
from tests.apptest import page_script_as

SHANGHAI = clock.business_tz()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def move_clock(monkeypatch):
    def _move(text: str) -> datetime:
        moment = at(text)
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment
    return _move


@pytest.fixture
def sources(engine):
    """A merchant registered 2026-03-20 10:00 and its login on 2026-03-25 09:00, a
    listing published 2026-03-24 18:00, and an event in the future (a skewed source)."""
    city = trust_rows.city(engine)
    m = trust_rows.merchant(engine, city_id=city)
    trim = trust_rows.trim(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET registered_at = :t WHERE id = :m"),
                     {"t": at("2026-03-20 10:00"), "m": m})
        conn.execute(sa.text(
            """INSERT INTO app.events (merchant_id, event_type, occurred_at)
               VALUES (:m, 'login', :a), (:m, 'login', :future)"""),
            {"m": m, "a": at("2026-03-25 09:00"), "future": at("2027-01-01 00:00")})
    trust_rows.listing(engine, merchant_id=m, trim_id=trim, city_id=city)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET published_at = :t"),
                     {"t": at("2026-03-24 18:00")})
    return m


def test_the_newest_source_event_and_its_age_per_job(engine, sources, move_clock):
    now = move_clock("2026-03-26 09:00")
    with engine.connect() as conn:
        fresh = freshness.source_freshness(conn, ["daily_kpis", "cohort_activity", "supply_demand"])
    kpis = fresh["daily_kpis"]
    # the login a day ago (the future event does not count), 24 h old, under 36 h
    assert (kpis.newest_event, kpis.age_hours, kpis.threshold_hours, kpis.stale) == (
        at("2026-03-25 09:00"), 24.0, 36, False)
    assert kpis.checked_at == now
    # supply/demand reads merchants, listings and requests, not events: the listing, 39 h
    sd = fresh["supply_demand"]
    assert (sd.newest_event, sd.age_hours, sd.stale) == (at("2026-03-24 18:00"), 39.0, True)


def test_eleven_days_without_a_registration_is_stale_whatever_the_validation(
        engine, sources, move_clock, make_actor):
    manager = make_actor("manager")
    growth_rows.insert_all(engine)
    with engine.begin() as conn:   # the ETL ran and every check passed
        for job, marts in (("daily_kpis", ["daily_kpis", "kpi_periods", "daily_kpis_segment",
                                           "daily_kpis_brand"]),
                           ("funnel_facts", ["funnel_facts"])):
            growth_rows.log_run(conn, job=job, marts=marts, status="succeeded",
                                finished="2026-04-05 09:00", checks=[True])
    move_clock("2026-03-25 20:00")
    with engine.connect() as conn:
        fresh = growth.freshness(conn=conn, actor=manager)
    assert (fresh["kpis"].state, fresh["kpis"].event_age_hours) == ("ok", 11.0)
    move_clock("2026-04-05 09:00")       # eleven days later, nothing new arrived
    with engine.connect() as conn:
        fresh = growth.freshness(conn=conn, actor=manager)
    kpis = fresh["kpis"]
    assert (kpis.state, kpis.validation_passed, kpis.stale) == ("stale", True, True)
    assert (kpis.newest_event, kpis.event_age_hours, kpis.threshold_hours) == (
        at("2026-03-25 09:00"), 264.0, 36)


def test_the_threshold_comes_from_the_settings(engine, sources, move_clock, settings_env):
    move_clock("2026-03-26 09:00")
    settings_env(CONSOLE_FRESHNESS_HOURS="supply_demand=48,nonsense=1,daily_kpis=x")
    with engine.connect() as conn:
        fresh = freshness.source_freshness(conn, ["supply_demand", "daily_kpis"])
    assert (fresh["supply_demand"].threshold_hours, fresh["supply_demand"].stale) == (48, False)
    assert fresh["daily_kpis"].threshold_hours == 36
    assert freshness.freshness_hours() == {**freshness.DEFAULT_FRESHNESS_HOURS, "supply_demand": 48}


def test_no_source_event_at_all_is_stale(engine, move_clock):
    move_clock("2026-03-26 09:00")
    with engine.connect() as conn:
        fresh = freshness.source_freshness(conn, ["daily_kpis"])
    assert (fresh["daily_kpis"].newest_event, fresh["daily_kpis"].stale) == (None, True)


def test_the_data_quality_page_lists_each_marts_newest_source_event(engine, sources, move_clock,
                                                                   make_actor):
    move_clock("2026-03-26 09:00")
    admin = make_actor("admin")
    with engine.connect() as conn:
        rows = data_quality.source_freshness(conn=conn, actor=admin)
    by_job = rows.set_index("job")
    assert by_job.loc["daily_kpis", ["event_age_hours", "threshold_hours", "stale"]].tolist() == [
        24.0, 36, False]
    assert by_job.loc["supply_demand", ["event_age_hours", "stale"]].tolist() == [39.0, True]
    assert sorted(rows["job"]) == sorted(freshness.DEFAULT_FRESHNESS_HOURS)


# ---------------------------------------------------------------- a period in progress
def test_a_week_in_progress_is_partial_not_a_drop(engine, make_actor, move_clock):
    manager = make_actor("manager")
    growth_rows.insert_all(engine)
    # Wednesday 2026-03-18: the week of 03-16 has begun. The range ends in the future.
    move_clock("2026-03-18 12:00")
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=manager, grain="week",
                        filters=GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 31)))
    # The cards compare the last whole week (03-09) with 03-02; the chart marks 03-16 partial.
    assert (r.current_period, r.previous_period, r.current_partial) == (
        date(2026, 3, 9), date(2026, 3, 2), False)
    assert r.series[["period_start", "partial"]].values.tolist() == [
        [date(2026, 3, 9), False], [date(2026, 3, 16), True]]
    # Only a week in progress and nothing whole: shown, marked partial, never compared.
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=manager, grain="week",
                        filters=GrowthFilters(start=date(2026, 3, 16), end=date(2026, 3, 31)))
    assert (r.current_period, r.current_partial) == (date(2026, 3, 16), True)
    cmp = r.comparison.set_index("metric")
    assert cmp.loc["new_registrations", ["previous", "change", "partial"]].tolist() == [
        5, None, "in_progress"]
    assert cmp["change"].isna().all()


def test_the_kpi_card_says_week_in_progress_instead_of_minus_100(engine, make_actor, move_clock):
    manager = make_actor("manager")
    growth_rows.insert_all(engine)
    move_clock("2026-03-18 12:00")
    at_ = page_script_as(manager, "pages/mgr_growth.py", lang="zh")
    at_.date_input(key="g_dates").set_value((date(2026, 3, 16), date(2026, 3, 31))).run()
    assert not at_.exception
    deltas = {m.label: m.delta for m in at_.metric}
    assert deltas["新注册"] == "本周未完"
    assert "-100.0%" not in deltas.values() and "−100.0%" not in deltas.values()
    at_.session_state["lang"] = "en"
    at_.run()
    assert {m.delta for m in at_.metric} == {"week in progress"}


def test_the_data_quality_page_warns_of_stale_sources(engine, sources, move_clock, make_actor):
    move_clock("2026-03-26 09:00")
    at_ = page_script_as(make_actor("admin"), "pages/admin_data_quality.py", lang="en")
    assert not at_.exception
    # funnel_facts and supply_demand (newest: the listing, 39 h) and bd_performance (the
    # registration, 143 h) are over 36 h; the others read the login 24 h ago
    assert [w.value for w in at_.warning] == ["3 jobs read stale sources."]
    table = next(d.value for d in at_.dataframe if "Newest source event" in d.value.columns)
    rows = table.set_index("Job")
    assert rows.loc["supply_demand", ["Newest source event", "Age (h)", "Threshold (h)", "State"]
                    ].tolist() == ["2026-03-24 18:00", "39.0", "36", "🟠 Stale"]
    assert rows.loc["daily_kpis", "State"] == "Fresh"


def test_the_growth_badge_says_stale_with_the_newest_event(engine, sources, move_clock, make_actor):
    growth_rows.insert_all(engine)
    with engine.begin() as conn:
        growth_rows.log_run(conn, job="daily_kpis", marts=["daily_kpis", "kpi_periods"],
                            status="succeeded", finished="2026-04-05 09:00", checks=[True])
    move_clock("2026-04-05 09:00")
    at_ = page_script_as(make_actor("manager"), "pages/mgr_growth.py", lang="zh")
    assert not at_.exception
    text = " ".join(m.value for m in at_.markdown)
    assert "数据已过时：11 天无新数据" in text and "校验通过" not in text
    assert any(c.value.endswith("· 最新源事件 2026-03-25 09:00（11 天前，超过阈值 36 小时）")
               for c in at_.caption)


def test_a_period_the_sources_stopped_feeding_is_not_a_drop(engine, sources, move_clock,
                                                             make_actor):
    manager = make_actor("manager")
    growth_rows.insert_all(engine)
    with engine.begin() as conn:   # the sources' last event: Wednesday 03-18 10:00
        conn.execute(sa.text("UPDATE app.events SET occurred_at = :t WHERE occurred_at < :f"),
                     {"t": at("2026-03-18 10:00"), "f": at("2026-12-01 00:00")})
        conn.execute(sa.text("UPDATE app.listings SET published_at = :t"), {"t": at("2026-03-17 10:00")})
        conn.execute(sa.text("UPDATE app.merchants SET registered_at = :t"), {"t": at("2026-03-16 10:00")})
    move_clock("2026-03-30 09:00")     # twelve days later
    week = GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 22))
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=manager, grain="week", filters=week)
    # the week of 03-16 is whole by the calendar, but the sources stopped on its Wednesday
    assert (r.current_period, r.current_partial, r.sources_stopped) == (
        date(2026, 3, 16), False, at("2026-03-18 10:00"))
    cmp = r.comparison.set_index("metric")
    assert cmp.loc["new_registrations", ["current", "previous", "change", "partial"]].tolist() == [
        10, 5, None, "stale"]
    at_ = page_script_as(manager, "pages/mgr_growth.py", lang="zh")
    at_.date_input(key="g_dates").set_value((date(2026, 3, 9), date(2026, 3, 22))).run()
    assert {m.delta for m in at_.metric} == {"源数据停更"}
    assert "源数据自 2026-03-18 10:00 起没有新事件：本期数字不完整，不与上期比较。" in [
        w.value for w in at_.warning]
    # fresh sources again (a registration an hour before the clock): compared as usual
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET registered_at = :t"), {"t": at("2026-03-30 08:00")})
    with engine.connect() as conn:
        again = growth.kpis(conn=conn, actor=manager, grain="week", filters=week)
    assert again.sources_stopped is None
    assert again.comparison.set_index("metric").loc["new_registrations", "change"] == 1.0
