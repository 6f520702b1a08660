"""Every figure of the growth page against its independent computation (issue 15).

Hand-built raw tables (app.*, ops.*), dated relative to today, go through the real ETL; each
figure is then computed again by plain SQL over the raw tables, as a person would define it
(tests/growth_truth.py, from the metric catalogue's definitions), and must equal what the
mart holds and what the growth service returns. The cases the issue names are in the data:
posts that went off during a day (end-of-day snapshot), events done to a merchant (a match on
its listing, a deposit it received: not retention), a week without events (0, not "—"),
suspended merchants' and past-date posts (the milestone), and a day whose requests are still
being matched (immature: marked and not compared).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from console import clock
from console.freshness import source_freshness
from console.services import growth, home
from console.services.growth import GrowthFilters
from etl import run_all
from tests import growth_truth as truth

T = clock.today()
D = T - timedelta(days=20)        # a mature day with posts that went off during it


def ts(day: date, hhmm: str) -> str:
    return f"{day.isoformat()} {hhmm}+08"


def days(n: int) -> date:
    return T + timedelta(days=n)


def seed(engine) -> None:
    d = D
    sql = f"""
INSERT INTO app.cities (id, name, short_name, adcode, province, tier_level, tier_name, longitude, latitude)
VALUES (1, '上海市', '上海', '310000', '上海', 1, '一线', 121.47, 31.23);
INSERT INTO app.brands (id, name) VALUES (1, '丰田');
INSERT INTO app.series (id, brand_id, name, manufacturer, min_guide_price, max_guide_price, energy_type, origin)
VALUES (1, 1, '凯美瑞', '广汽丰田', 170000, 260000, 'ice', 'joint_venture');
INSERT INTO app.trims (id, series_id, name, model_year, guide_price, energy_type)
VALUES (1, 1, '2025款 2.0E 精英版', 2025, 200000, 'ice');
INSERT INTO ops.staff (id, username, display_name, password_hash, roles)
VALUES (900, 'bd_fig', 'BD Fig', 'x', '{{bd}}');
-- M1 and M5 sell, M2 buys, M3 is suspended, M4 registered three days ago and did nothing yet.
INSERT INTO app.merchants (id, name, merchant_type, size_class, city_id, channel, registered_at, status, phone)
VALUES (1, '沪一4S', '4s', 'large', 1, 'bd_visit', '{ts(days(-100), "10:00")}', 'active', '13800000001'),
       (2, '沪二车行', 'secondary', 'small', 1, 'organic', '{ts(days(-95), "10:00")}', 'active', '13800000002'),
       (3, '沪三资源', 'resource', 'large', 1, 'referral', '{ts(days(-90), "10:00")}', 'suspended', '13800000003'),
       (4, '沪四新店', 'secondary', 'small', 1, 'ad', '{ts(days(-3), "10:00")}', 'active', '13800000004'),
       (5, '沪五4S', '4s', 'large', 1, 'event', '{ts(days(-100), "08:00")}', 'active', '13800000005');
INSERT INTO app.certifications (id, merchant_id, kind, status, real_name, id_number, submitted_at, decided_at)
VALUES (1, 1, 'personal', 'approved', '张三', '110101199003074477', '{ts(days(-99), "09:00")}', '{ts(days(-98), "09:00")}'),
       (2, 2, 'personal', 'approved', '李四', '110101199003074477', '{ts(days(-94), "09:00")}', '{ts(days(-93), "09:00")}');
INSERT INTO app.listings (id, merchant_id, trim_id, exterior_color, interior_color, quantity, city_id, price, guide_price, available_from, status, published_at, updated_at)
VALUES
  (10, 1, 1, '白', '黑', 1, 1, 180000, 200000, '{days(-70)}', 'live',      '{ts(days(-70), "10:00")}', '{ts(days(-70), "10:00")}'),
  (11, 1, 1, '白', '黑', 2, 1, 180000, 200000, '{d}', 'live',              '{ts(d - timedelta(days=5), "10:00")}', '{ts(d - timedelta(days=5), "10:00")}'),
  -- sold during D: live at the end of D-1, not at the end of D
  (12, 1, 1, '黑', '黑', 1, 1, 180000, 200000, '{d}', 'sold',              '{ts(d - timedelta(days=5), "10:00")}', '{ts(d, "10:00")}'),
  (13, 1, 1, '红', '黑', 1, 1, 180000, 200000, '{d}', 'withdrawn',         '{ts(d - timedelta(days=3), "10:00")}', '{ts(d + timedelta(days=1), "10:00")}'),
  -- a suspended merchant's listing: live, not matchable
  (14, 3, 1, '白', '白', 3, 1, 180000, 200000, '{d}', 'live',              '{ts(d - timedelta(days=2), "10:00")}', '{ts(d - timedelta(days=2), "10:00")}'),
  -- published and sold the same day: never live at a day's end
  (15, 2, 1, '白', '黑', 1, 1, 180000, 200000, '{d}', 'sold',              '{ts(d, "09:00")}', '{ts(d, "15:00")}'),
  (16, 5, 1, '蓝', '黑', 1, 1, 180000, 200000, '{days(-100)}', 'live',     '{ts(days(-100), "09:00")}', '{ts(days(-100), "09:00")}');
INSERT INTO app.requests (id, merchant_id, series_id, trim_id, quantity, city_id, max_price, needed_by, status, created_at, updated_at)
VALUES
  (20, 2, 1, 1, 1, 1, 200000, '{days(30)}', 'open',     '{ts(d - timedelta(days=4), "10:00")}', '{ts(d - timedelta(days=4), "10:00")}'),
  -- open but past its needed-by date: not matchable
  (21, 2, 1, 1, 2, 1, 200000, '{days(-1)}', 'open',     '{ts(d - timedelta(days=4), "11:00")}', '{ts(d - timedelta(days=4), "11:00")}'),
  -- matched during D: open at the end of D-1, not at the end of D
  (22, 2, 1, 1, 1, 1, 200000, '{days(30)}', 'matched',  '{ts(d - timedelta(days=3), "10:00")}', '{ts(d, "12:00")}'),
  (23, 3, 1, 1, 1, 1, 200000, '{days(10)}', 'open',     '{ts(d - timedelta(days=1), "10:00")}', '{ts(d - timedelta(days=1), "10:00")}'),
  -- T-3: one request, matched within the hour (100%); T-2: two requests, one matched so far (50%)
  (24, 2, 1, 1, 1, 1, 200000, '{days(30)}', 'matched',  '{ts(days(-3), "08:00")}', '{ts(days(-3), "09:00")}'),
  (25, 2, 1, 1, 1, 1, 200000, '{days(30)}', 'open',     '{ts(days(-2), "09:00")}', '{ts(days(-2), "09:00")}'),
  (26, 2, 1, 1, 1, 1, 200000, '{days(30)}', 'matched',  '{ts(days(-2), "10:00")}', '{ts(days(-1), "10:00")}');
INSERT INTO ops.matches (id, request_id, listing_id, source, stage, owner_id, deal_value, lost_reason, stage_entered_at, created_at, updated_at)
VALUES (30, 22, 12, 'manual', 'won', 900, 180000, NULL, '{ts(d, "11:00")}', '{ts(d - timedelta(days=1), "10:00")}', '{ts(d, "11:00")}'),
       -- BD opened a match on M5's listing: done to M5, not by it
       (31, 20, 16, 'manual', 'lost', 900, 0, 'price', '{ts(d - timedelta(days=2), "10:00")}', '{ts(d - timedelta(days=2), "10:00")}', '{ts(d - timedelta(days=2), "10:00")}'),
       (32, 24, 11, 'manual', 'contacted', 900, 0, NULL, '{ts(days(-3), "09:00")}', '{ts(days(-3), "09:00")}', '{ts(days(-3), "09:00")}'),
       (33, 26, 11, 'auto', 'suggested', NULL, 0, NULL, '{ts(days(-1), "10:00")}', '{ts(days(-1), "10:00")}', '{ts(days(-1), "10:00")}');
INSERT INTO app.orders (id, match_id, request_id, listing_id, buyer_id, seller_id, quantity, unit_price, amount, deposit_amount, fee_amount, status, escrow_state, created_at, deposit_paid_at, completed_at, updated_at)
VALUES (40, 30, 22, 12, 2, 1, 1, 180000, 180000, 10000, 900, 'completed', 'released',
        '{ts(d - timedelta(days=1), "11:00")}', '{ts(d - timedelta(days=1), "12:00")}', '{ts(d, "11:00")}', '{ts(d, "11:00")}');
-- M2 pays a deposit on M5's listing: M5 receives it, which is not M5's own doing
INSERT INTO app.orders (id, listing_id, buyer_id, seller_id, quantity, unit_price, amount, deposit_amount, fee_amount, status, escrow_state, created_at, deposit_paid_at, updated_at)
VALUES (41, 16, 2, 5, 1, 180000, 180000, 10000, 0, 'deposit_paid', 'held',
        '{ts(d - timedelta(days=2), "12:00")}', '{ts(d - timedelta(days=2), "13:00")}', '{ts(d - timedelta(days=2), "13:00")}');
INSERT INTO app.payments (id, order_id, kind, channel, amount, status, paid_at, created_at)
VALUES (50, 40, 'deposit', 'wechat', 10000, 'succeeded', '{ts(d - timedelta(days=1), "12:00")}', '{ts(d - timedelta(days=1), "12:00")}'),
       (51, 40, 'balance', 'bank', 170000, 'succeeded', '{ts(d, "10:00")}', '{ts(d, "10:00")}'),
       (52, 41, 'deposit', 'alipay', 10000, 'succeeded', '{ts(d - timedelta(days=2), "13:00")}', '{ts(d - timedelta(days=2), "13:00")}');
INSERT INTO app.events (id, merchant_id, event_type, entity_id, occurred_at, props) VALUES
  (60, 1, 'listing_created', 10, '{ts(days(-70), "10:00")}', '{{}}'),
  (61, 1, 'listing_created', 11, '{ts(d - timedelta(days=5), "10:00")}', '{{}}'),
  (62, 1, 'listing_created', 12, '{ts(d - timedelta(days=5), "10:00")}', '{{}}'),
  (63, 1, 'listing_created', 13, '{ts(d - timedelta(days=3), "10:00")}', '{{}}'),
  (64, 3, 'listing_created', 14, '{ts(d - timedelta(days=2), "10:00")}', '{{}}'),
  (65, 2, 'listing_created', 15, '{ts(d, "09:00")}', '{{}}'),
  (66, 5, 'listing_created', 16, '{ts(days(-100), "09:00")}', '{{}}'),
  (67, 2, 'request_created', 20, '{ts(d - timedelta(days=4), "10:00")}', '{{}}'),
  (68, 2, 'request_created', 21, '{ts(d - timedelta(days=4), "11:00")}', '{{}}'),
  (69, 2, 'request_created', 22, '{ts(d - timedelta(days=3), "10:00")}', '{{}}'),
  (70, 3, 'request_created', 23, '{ts(d - timedelta(days=1), "10:00")}', '{{}}'),
  (71, 2, 'request_created', 24, '{ts(days(-3), "08:00")}', '{{}}'),
  (72, 2, 'request_created', 25, '{ts(days(-2), "09:00")}', '{{}}'),
  (73, 2, 'request_created', 26, '{ts(days(-2), "10:00")}', '{{}}'),
  (74, 2, 'match_created', 30, '{ts(d - timedelta(days=1), "10:00")}', '{{"role": "buyer"}}'),
  (75, 1, 'match_created', 30, '{ts(d - timedelta(days=1), "10:00")}', '{{"role": "seller"}}'),
  (76, 2, 'match_created', 31, '{ts(d - timedelta(days=2), "10:00")}', '{{"role": "buyer"}}'),
  (77, 5, 'match_created', 31, '{ts(d - timedelta(days=2), "10:00")}', '{{"role": "seller"}}'),
  (78, 2, 'deposit_paid', 40, '{ts(d - timedelta(days=1), "12:00")}', '{{"role": "buyer"}}'),
  (79, 1, 'deposit_paid', 40, '{ts(d - timedelta(days=1), "12:00")}', '{{"role": "seller"}}'),
  (80, 2, 'deposit_paid', 41, '{ts(d - timedelta(days=2), "13:00")}', '{{"role": "buyer"}}'),
  (81, 5, 'deposit_paid', 41, '{ts(d - timedelta(days=2), "13:00")}', '{{"role": "seller"}}'),
  (82, 2, 'deal_completed', 40, '{ts(d, "11:00")}', '{{"role": "buyer"}}'),
  (83, 1, 'deal_completed', 40, '{ts(d, "11:00")}', '{{"role": "seller"}}'),
  (84, 4, 'login', NULL, '{ts(days(-3), "11:00")}', '{{}}'),
  (85, 2, 'match_created', 32, '{ts(days(-3), "09:00")}', '{{"role": "buyer"}}'),
  (86, 2, 'match_created', 33, '{ts(days(-1), "10:00")}', '{{"role": "buyer"}}');
SELECT setval(pg_get_serial_sequence(t, 'id'), 1000) FROM unnest(ARRAY[
  'app.merchants','app.certifications','app.listings','app.requests','ops.matches','app.orders',
  'app.payments','app.events']) t;
"""
    with engine.begin() as conn:
        conn.connection.cursor().execute(sql)


@pytest.fixture
def built(engine, make_actor):
    seed(engine)
    results = run_all(engine=engine)
    assert [(r.job, r.status, r.rows_quarantined) for r in results] == [
        (r.job, "succeeded", 0) for r in results]
    return make_actor("manager")


def _kpis(engine, actor, start, end, grain):
    with engine.connect() as conn:
        return growth.kpis(conn=conn, actor=actor, filters=GrowthFilters(start=start, end=end),
                           grain=grain)


def _mart(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_every_kpi_figure_equals_the_raw_tables(engine, built, grain):
    start, end = days(-100), T
    report = _kpis(engine, built, start, end, grain)
    with engine.connect() as conn:
        want = (truth.daily(conn, start, end) if grain == "day"
                else truth.periods(conn, start, end, grain))
        sources = source_freshness(conn, ["daily_kpis"])["daily_kpis"]
    # The hand-built events stop yesterday: fresh or stale by the time of day the test runs
    # (test_stale_sources_end_the_chart_at_the_newest_event fixes the clock).
    if sources.stale:
        last_day = sources.newest_event.astimezone(clock.business_tz()).date()
        want = {p: figures for p, figures in want.items() if p <= last_day}
    assert report.series["period_start"].max() == max(want)
    assert len(report.series) == len(want)
    assert truth.compare_series(report.series, want) == []


def test_stale_sources_end_the_chart_at_the_newest_event(engine, built, monkeypatch):
    """Three days after the last event the sources are stale: the days after it are left
    off the chart (no data, not zeros); the days up to it keep their figures."""
    with engine.connect() as conn:
        newest = source_freshness(conn, ["daily_kpis"])["daily_kpis"].newest_event
    last_day = newest.astimezone(clock.business_tz()).date()
    later = datetime.combine(last_day + timedelta(days=3), time(12), clock.business_tz())
    monkeypatch.setattr(clock, "now", lambda: later)
    report = _kpis(engine, built, days(-30), last_day + timedelta(days=3), "day")
    with engine.connect() as conn:
        assert source_freshness(conn, ["daily_kpis"])["daily_kpis"].stale
        want = truth.daily(conn, days(-30), last_day)
    assert report.series["period_start"].max() == last_day
    assert truth.compare_series(report.series, want) == []


def test_end_of_day_snapshot_leaves_out_posts_that_went_off_that_day(engine, built):
    # End of D-1: listings 10, 11, 12, 13, 14, 16; requests 20, 21, 22, 23.
    # End of D: 12 was sold and 15 published and sold during D, 22 matched during D.
    expected = {D - timedelta(days=1): (6, 4), D: (5, 3), D + timedelta(days=1): (4, 3)}
    with engine.connect() as conn:
        raw = truth.daily(conn, D - timedelta(days=1), D + timedelta(days=1))
    mart = dict((r.day, (r.live_listings, r.open_requests)) for r in _mart(
        engine, "SELECT day, live_listings, open_requests FROM mart.daily_kpis "
                "WHERE day BETWEEN :a AND :b", a=D - timedelta(days=1), b=D + timedelta(days=1)))
    series = _kpis(engine, built, D - timedelta(days=1), D + timedelta(days=1), "day").series
    service = {r.period_start: (int(r.live_listings), int(r.open_requests))
               for r in series.itertuples()}
    assert {k: (int(v["live_listings"]), int(v["open_requests"])) for k, v in raw.items()} \
        == mart == service == expected


def test_a_week_without_events_reads_0_active_merchants(engine, built):
    empty_week = days(-50) - timedelta(days=days(-50).weekday())
    with engine.connect() as conn:
        raw = conn.execute(sa.text(truth.PERIOD_ACTIVE),
                           {"p0": empty_week, "p1": empty_week + timedelta(days=7)}).scalar()
    series = _kpis(engine, built, empty_week, empty_week + timedelta(days=6), "week").series
    row = series[series["period_start"] == empty_week].iloc[0]
    assert raw == 0
    assert row["active_merchants"] == 0             # 0, not None ("—")
    # The mart has no row for a period without any event; the service reads that as 0.
    assert _mart(engine, "SELECT active_merchants FROM mart.kpi_periods "
                         "WHERE grain = 'week' AND period_start = :p", p=empty_week) in ([], [(0,)])


def test_retention_counts_only_the_merchants_own_actions(engine, built):
    with engine.connect() as conn:
        raw = truth.cohorts(conn)
        cells = growth.cohorts(conn=conn, actor=built,
                               filters=GrowthFilters(start=days(-130), end=T))
    mart = {(r.cohort_month, r.months_since): (r.cohort_size, r.active_merchants)
            for r in _mart(engine, "SELECT * FROM mart.cohort_activity")}
    service = {(r.cohort_month, int(r.months_since)): (int(r.cohort_size), int(r.active_merchants))
               for r in cells.itertuples()}
    # Cells with nobody active are 0 in the mart and the service, absent from the raw count.
    assert {k: v for k, v in mart.items() if v[1]} == raw
    assert {k: v for k, v in service.items() if v[1]} == raw
    # M5's events after its first month are a match BD opened on its listing and a deposit
    # it received (D-2): not its own doing, so M5 is active in its first month only.
    with engine.connect() as conn:
        months = {r[0] for r in conn.execute(sa.text(
            "SELECT month FROM mart.merchant_active_months WHERE merchant_id = 5"))}
    assert months == {days(-100).replace(day=1)}     # its own listing only
    # The current month's cells are marked immature, the others not.
    this_month = T.replace(day=1)
    for r in cells.itertuples():
        cell = r.cohort_month
        for _ in range(int(r.months_since)):
            cell = truth._next_period(cell, "month")
        assert bool(r.immature) == (cell == this_month)


def test_milestone_and_supply_demand_count_matchable_posts(engine, built):
    # Matchable: listings 10, 11, 16 (14 is a suspended merchant's); requests 20, 25
    # (21 is past its date, 23 a suspended merchant's). Every post: 4 listings + 4 requests.
    with engine.connect() as conn:
        raw = truth.matchable(conn)
        report = growth.kpis(conn=conn, actor=built, filters=GrowthFilters(start=days(-7), end=T),
                             grain="week")
        sd = growth.supply_demand(conn=conn, actor=built,
                                  filters=GrowthFilters(start=days(-7), end=T), by="tier")
        tiles = {c.label_key: c for c in home.waiting_counts(conn=conn, actor=built)}
    assert raw == {"listings": 3, "listing_units": 4, "requests": 2, "request_units": 2,
                   "all_listings": 4, "all_requests": 4}
    assert (report.milestone_posts, report.milestone_all_posts) == (5, 8)
    assert sd[["live_listings", "listing_units", "open_requests", "request_units",
               "all_live_listings", "all_open_requests"]].values.tolist() == [[3, 4, 2, 2, 4, 4]]
    assert (tiles["home.manager.live_posts"].value, tiles["home.manager.live_posts"].total) == (5, 8)
    with engine.connect() as conn:
        new = conn.execute(sa.text(truth.NEW_MERCHANTS_7D)).scalar()
    assert tiles["home.manager.new_merchants_7d"].value == new == 1


def test_an_immature_day_is_marked_and_not_compared_as_a_drop(engine, built):
    # T-3: one request, matched (100%). T-2: two requests, one matched so far (50%): its
    # requests are still being matched (match rate matures in 14 days), so it is no drop.
    report = _kpis(engine, built, days(-10), days(-2), "day")
    series = report.series.set_index("period_start")
    with engine.connect() as conn:
        raw = truth.daily(conn, days(-3), days(-2))
    assert (series.loc[days(-3), "match_rate"], series.loc[days(-2), "match_rate"]) == (1.0, 0.5)
    assert (raw[days(-3)]["match_rate"], raw[days(-2)]["match_rate"]) == (1.0, 0.5)
    assert bool(series.loc[days(-2), "match_rate_immature"])
    assert not bool(series.loc[days(-2), "new_registrations_immature"])     # matures at once
    assert report.current_period == days(-2)
    cmp = report.comparison.set_index("metric")
    assert cmp.loc["match_rate", "change"] is None
    assert cmp.loc["match_rate", "partial"] == "immature"
    assert "match_rate" in report.immature and "deposit_rate" in report.immature
    # A day older than every maturity (30 days for the deposit figures) is not immature;
    # D (20 days) still is for deposits, not for the match rate.
    old = _kpis(engine, built, days(-40), days(-31), "day").series.set_index("period_start")
    assert not any(old.loc[days(-31), f"{m}_immature"] for m, _ in growth.KPI_METRICS)
    at_d = _kpis(engine, built, D, D, "day").series.iloc[0]
    assert (bool(at_d["match_rate_immature"]), bool(at_d["deposit_rate_immature"])) == (False, True)


def test_funnel_members_inside_their_window_are_in_progress_not_dropped(engine, built):
    # M4 registered three days ago and has not submitted a certification: in progress.
    with engine.connect() as conn:
        recent = growth.funnel(conn=conn, actor=built, filters=GrowthFilters(start=days(-10), end=T))
        early = growth.funnel(conn=conn, actor=built,
                              filters=GrowthFilters(start=days(-100), end=days(-90)))
        raw = conn.execute(sa.text("""
            SELECT count(*) FILTER (WHERE c.first IS NULL OR c.first > m.registered_at + interval '14 days')
                       AS not_submitted,
                   count(*) FILTER (WHERE (c.first IS NULL OR c.first > now())
                                      AND now() < m.registered_at + interval '14 days') AS waiting
            FROM app.merchants m
            LEFT JOIN (SELECT merchant_id, min(submitted_at) AS first FROM app.certifications
                       GROUP BY 1) c ON c.merchant_id = m.id
            WHERE m.registered_at >= CAST(:a AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
              AND m.registered_at < (CAST(:b AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'"""),
            {"a": days(-10), "b": T}).one()
    step = recent.set_index("step").loc["cert_submitted"]
    assert (raw.not_submitted, raw.waiting) == (1, 1)
    assert (step["merchants"], step["in_progress"], step["dropped"]) == (0, 1, 0)
    # 100 days ago: M3 and M5 never submitted, their windows closed long ago: dropped.
    old = early.set_index("step").loc["cert_submitted"]
    assert (old["merchants"], old["in_progress"], old["dropped"]) == (2, 0, 2)


@pytest.mark.parametrize("window", [14, 7, None])
def test_the_drop_off_list_holds_every_merchant_the_funnel_counts_as_stopped(engine, built, window):
    # The list prefilters by two columns before computing the steps: it must still hold
    # exactly the merchants the funnel counts as dropped or in progress, at every step.
    filters = GrowthFilters(start=days(-100), end=T)
    with engine.connect() as conn:
        table = growth.funnel(conn=conn, actor=built, filters=filters, window_days=window)
        for step in growth.STEP_NAMES[1:]:
            row = table.set_index("step").loc[step]
            page = growth.drop_off_page(conn=conn, actor=built, filters=filters, step=step,
                                        window_days=window)
            assert (page.total, page.in_progress) == (
                row["dropped"] + row["in_progress"], row["in_progress"]), step
