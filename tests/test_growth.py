"""Growth dashboard services over a hand-built mart dataset (tests/growth_rows.py).

Every expected figure below was worked out by hand from those rows; the comments say how.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from console.errors import InvalidInput, PermissionDenied
from console.services import growth
from console.services.growth import GrowthFilters
from tests import growth_rows

MARCH = GrowthFilters(start=date(2026, 3, 1), end=date(2026, 3, 31))
AS_OF = datetime(2026, 4, 4, 16, 0, tzinfo=timezone.utc)   # 2026-04-05 00:00 Shanghai
approx = pytest.approx


@pytest.fixture
def data(engine, make_actor):
    from tests.test_growth_page import recent_source_event
    bd = make_actor("bd", username="wangbd")
    growth_rows.insert_all(engine, bd_owner_id=bd.id)
    recent_source_event(engine)     # the sources are fresh: periods are compared
    return make_actor("manager")


def _steps(frame, column, group=""):
    rows = frame[frame["group"] == group].sort_values("step_no")
    return [None if v is None or v != v else v for v in rows[column].tolist()]


# ---------------------------------------------------------------- funnel
def test_funnel_counts_with_the_default_14_day_window(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=MARCH)
    # In range: M1 M2 M3 M4 M5 M8 (M6 one hour before, M7 half an hour after).
    # Submitted within 14d: M1 M2 M5 (M3 took 20 days); certified: M1 M2; posted: M1 M2
    # (M2 posted before certification: counted); matched within 14d: M1 (M2 took 16 days).
    assert _steps(f, "step") == list(growth.STEP_NAMES)
    assert _steps(f, "merchants") == [6, 3, 2, 2, 1, 1, 1]
    assert _steps(f, "conv_prev") == approx([1, 3 / 6, 2 / 3, 1, 1 / 2, 1, 1])
    assert _steps(f, "conv_first") == approx([1, 1 / 2, 1 / 3, 1 / 3, 1 / 6, 1 / 6, 1 / 6])


def test_funnel_median_and_p90_hours_between_steps(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=MARCH, window_days=14)
    # submit: 12, 24, 30 -> median 24, p90 24 + 0.8*6; certify: 24, 36 -> 30, 24 + 0.9*12;
    # post: 48 and 0 (M2 posted before it was certified) -> 24, 0.9*48; then M1 alone.
    assert _steps(f, "median_hours") == [None, approx(24), approx(30), approx(24),
                                         approx(24), approx(48), approx(48)]
    assert _steps(f, "p90_hours") == [None, approx(28.8), approx(34.8), approx(43.2),
                                      approx(24), approx(48), approx(48)]


def test_funnel_any_time_window(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=MARCH, window_days=None)
    # M3 now submits (480h) and is certified (48h); M2 is matched 384h after posting.
    assert _steps(f, "merchants") == [6, 4, 3, 2, 2, 1, 1]
    assert _steps(f, "conv_prev") == approx([1, 4 / 6, 3 / 4, 2 / 3, 1, 1 / 2, 1])
    # submit hours 12, 24, 30, 480 -> median 27, p90 30 + 0.7*450; match 24, 384 -> 204, 348
    assert _steps(f, "median_hours")[1] == approx(27)
    assert _steps(f, "p90_hours")[1] == approx(345)
    assert _steps(f, "median_hours")[4] == approx(204)
    assert _steps(f, "p90_hours")[4] == approx(348)


def test_a_shorter_window_cuts_more(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=MARCH, window_days=1)
    # 1 day = 24h: M1 24h ok, M2 12h ok, M5 30h out; certify M1 24h ok, M2 36h out.
    assert _steps(f, "merchants") == [6, 2, 1, 0, 0, 0, 0]


def test_funnel_breakdown_by_channel(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=MARCH, breakdown="channel")
    assert list(dict.fromkeys(f["group"])) == ["bd_visit", "organic", "ad", "partner"]
    assert _steps(f, "merchants", "bd_visit") == [2, 1, 1, 1, 1, 1, 1]
    assert _steps(f, "merchants", "organic") == [2, 1, 1, 1, 0, 0, 0]
    assert _steps(f, "conv_prev", "organic") == [1, 0.5, 1, 1, 0, None, None]
    assert _steps(f, "merchants", "ad") == [1, 1, 0, 0, 0, 0, 0]
    assert _steps(f, "merchants", "partner") == [1, 0, 0, 0, 0, 0, 0]


def test_funnel_breakdowns_by_tier_province_and_cohort(engine, data):
    with engine.connect() as conn:
        tier = growth.funnel(conn=conn, actor=data, filters=MARCH, breakdown="tier")
        prov = growth.funnel(conn=conn, actor=data, filters=MARCH, breakdown="province")
        cohort = growth.funnel(conn=conn, actor=data, filters=MARCH, window_days=None,
                               breakdown="cohort_month")
    firsts = lambda f: dict(zip(f[f.step_no == 1]["group"], f[f.step_no == 1]["merchants"]))  # noqa: E731
    assert firsts(tier) == {"1": 2, "3": 2, "5": 1, "2": 1}
    assert firsts(prov) == {"北京": 2, "江苏": 2, "河南": 1, "": 1}   # M8 has no province
    assert _steps(prov, "merchants", "江苏") == [2, 1, 1, 1, 0, 0, 0]
    assert _steps(cohort, "merchants", "2026-03") == [6, 4, 3, 2, 2, 1, 1]


def test_funnel_page_filters_tier_and_type(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data, filters=GrowthFilters(
            start=date(2026, 2, 1), end=date(2026, 3, 31), tiers=(1,), merchant_types=("4s",)))
    # M1, M4 and now M6 (February is in range); M6 posted 1h after certifying, never matched.
    assert _steps(f, "merchants") == [3, 2, 2, 2, 1, 1, 1]


def test_empty_range_gives_an_empty_funnel(engine, data):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=data,
                          filters=GrowthFilters(start=date(2025, 1, 1), end=date(2025, 1, 31)))
    assert f.empty


# ---------------------------------------------------------------- drop-offs and export
def test_drop_off_list_at_certification_submitted(engine, data):
    with engine.connect() as conn:
        lost = growth.drop_offs(conn=conn, actor=data, filters=MARCH, step="cert_submitted",
                                as_of=AS_OF)
    # Reached "registered" but not "submitted" within 14 days: M8, M4, M3 (latest first);
    # only M8's window (until 04-14 23:30) is still open on 04-05.
    assert lost["merchant_id"].tolist() == [8, 4, 3]
    assert lost["merchant_name"].tolist() == ["津八平行进口", "京四汽车", "苏三车行"]
    assert lost["window_open"].tolist() == [True, False, False]
    with engine.connect() as conn:
        any_time = growth.drop_offs(conn=conn, actor=data, filters=MARCH, step="cert_submitted",
                                    window_days=None, as_of=AS_OF)
    assert any_time["merchant_id"].tolist() == [8, 4]


def test_drop_off_page_counts_all_and_shows_one_page(engine, data):
    with engine.connect() as conn:
        first = growth.drop_off_page(conn=conn, actor=data, filters=MARCH, step="cert_submitted",
                                     as_of=AS_OF, limit=2)
        second = growth.drop_off_page(conn=conn, actor=data, filters=MARCH,
                                      step="cert_submitted", as_of=AS_OF, limit=2, offset=2)
        past_end = growth.drop_off_page(conn=conn, actor=data, filters=MARCH,
                                        step="cert_submitted", as_of=AS_OF, limit=2, offset=4)
        listed = growth.drop_offs(conn=conn, actor=data, filters=MARCH, step="cert_submitted")
    # M8, M4, M3 dropped off (latest first): pages of two, the total on every page.
    assert (first.total, first.rows["merchant_id"].tolist()) == (3, [8, 4])
    assert (second.total, second.rows["merchant_id"].tolist()) == (3, [3])
    # A page past the end (the list shrank after an ETL run) still says how many there are.
    assert (past_end.total, past_end.rows.empty) == (3, True)
    assert "total_rows" not in first.rows.columns
    assert first.rows.columns.tolist() == listed.columns.tolist()


@pytest.mark.parametrize("bad", [dict(offset=-1), dict(offset="0"), dict(limit=0),
                                 dict(limit=True), dict(offset=True)])
def test_drop_off_page_refuses_forged_paging(engine, data, bad):
    with engine.connect() as conn, pytest.raises(InvalidInput):
        growth.drop_off_page(conn=conn, actor=data, filters=MARCH, step="certified", **bad)


def test_drop_off_at_first_match_names_the_bd_owner(engine, data):
    with engine.connect() as conn:
        lost = growth.drop_offs(conn=conn, actor=data, filters=MARCH, step="first_match")
    assert lost["merchant_id"].tolist() == [2]
    assert lost["bd_owner"].tolist() == ["WANGBD"]
    # M2 "posted" at its certification moment (it posted before being certified).
    assert lost["reached_previous_at"].iloc[0].isoformat() == "2026-03-04T08:00:00+08:00"


def test_export_carries_the_filters_and_the_rows(engine, data):
    filters = GrowthFilters(start=date(2026, 3, 1), end=date(2026, 3, 31), tiers=(1, 3))
    with engine.connect() as conn:
        csv_bytes = growth.drop_off_export(conn=conn, actor=data, filters=filters,
                                           step="cert_submitted", as_of=AS_OF)
    assert csv_bytes.startswith(b"\xef\xbb\xbf")   # BOM: Excel reads UTF-8 Chinese
    assert csv_bytes.decode("utf-8-sig").splitlines() == [
        "# 流失步骤: 提交认证",
        "# 转化窗口: 14 天",
        "# 日期范围: 2026-03-01 ~ 2026-03-31",
        "# 城市等级: 一线城市、二线城市",
        "# 商户类型: 全部",
        "# 行数: 2",
        "商户ID,商户名称,获客渠道,商户类型,省份,城市等级,注册月份,注册时间,到达上一步时间,"
        "状态,负责BD",
        "4,京四汽车,自然注册,4S店,北京,一线城市,2026-03,2026-03-15 12:00,2026-03-15 12:00,已流失,",
        "3,苏三车行,地推拜访,二网,江苏,二线城市,2026-03,2026-03-10 09:00,2026-03-10 09:00,已流失,",
    ]


def test_export_in_english_with_any_time_window(engine, data):
    with engine.connect() as conn:
        text = growth.drop_off_export(conn=conn, actor=data, filters=MARCH, step="certified",
                                      window_days=None, lang="en", as_of=AS_OF).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[:6] == ["# Dropped off before: Certified", "# Conversion window: Any time",
                         "# Date range: 2026-03-01 ~ 2026-03-31", "# City tier: All",
                         "# Merchant type: All", "# Rows: 1"]
    # Any time: M5 submitted (03-21 06:00) and was never certified.
    assert lines[6].startswith("Merchant ID,Merchant,Channel,")
    assert lines[7] == "5,豫五资源,Advertising,Resource dealer,河南,Tier 4,2026-03,2026-03-20 00:00,2026-03-21 06:00,In progress,"


# ---------------------------------------------------------------- KPIs
def _cmp(report):
    return {r["metric"]: (r["current"], r["previous"], r["change"])
            for r in report.comparison.to_dict("records")}


def test_weekly_kpis_against_the_previous_week(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="week",
                        filters=GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 22)))
    assert [p.isoformat() for p in r.series["period_start"]] == ["2026-03-09", "2026-03-16"]
    assert (r.current_period, r.previous_period) == (date(2026, 3, 16), date(2026, 3, 9))
    week1 = r.series.iloc[0]
    # 03-10 + 03-12: registrations 3+2, certified 1+2, snapshot of 03-12: 120 + 60,
    # match 10/20, deposit 3/20, GMV 500k with 5k fees.
    assert (week1.new_registrations, week1.newly_certified) == (5, 3)
    assert (week1.live_listings, week1.open_requests, week1.live_posts) == (120, 60, 180)
    assert (week1.match_rate, week1.deposit_rate) == (approx(0.5), approx(0.15))
    assert (week1.gmv, week1.take_rate) == (500000, approx(0.01))
    c = _cmp(r)
    assert c["new_registrations"] == (10, 5, approx(1.0))
    assert c["newly_certified"] == (3, 3, approx(0.0))
    assert c["active_merchants"] == (50, 40, approx(0.25))
    assert c["live_posts"] == (220, 180, approx(40 / 180))
    assert c["match_rate"] == (approx(0.7), approx(0.5), approx(0.2))
    assert c["deposit_rate"] == (approx(0.3), approx(0.15), approx(0.15))
    assert c["median_hours_to_match"] == (10.0, 12.5, approx(-0.2))
    assert c["deals_completed"] == (2, 3, approx(-1 / 3))
    assert c["gmv"] == (250000, 500000, approx(-0.5))
    assert c["take_rate"] == (None, approx(0.01), None)      # no fees this week: unknown
    assert c["deposit_held"] == (2000, 15000, approx(-13 / 15))
    assert c["deposit_released"] == (3000, 10000, approx(-0.7))
    assert c["deposit_refunded"] == (1000, 0, None)          # nothing to compare with
    assert c["deposit_disputed"] == (500, 0, None)
    assert c["pay_bank"] == (0, 7000, approx(-1.0))
    mix = r.payment_mix.set_index("channel")
    assert mix["amount"].tolist() == [8000, 4000, 7000]
    assert mix["share"].tolist() == approx([8 / 19, 4 / 19, 7 / 19])


def test_monthly_kpis_take_the_whole_month_and_have_no_previous(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="month",
                        filters=GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 22)))
    assert len(r.series) == 1 and r.previous_period is None
    c = _cmp(r)
    # 1+3+2+4+6 registrations; requests 30 with 17 matched and 6 with a deposit; 750k GMV.
    assert c["new_registrations"] == (16, None, None)
    assert c["match_rate"][0] == approx(17 / 30)
    assert c["deposit_rate"][0] == approx(0.2)
    assert c["take_rate"][0] == approx(5000 / 750000)
    assert c["active_merchants"][0] == 70
    assert c["live_posts"][0] == 220


def test_daily_kpis_compare_with_the_calendar_day_before(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="day",
                        filters=GrowthFilters(start=date(2026, 3, 17), end=date(2026, 3, 17)))
        gap = growth.kpis(conn=conn, actor=data, grain="day",
                          filters=GrowthFilters(start=date(2026, 3, 10), end=date(2026, 3, 12)))
    c = _cmp(r)
    assert c["new_registrations"] == (6, 4, approx(0.5))
    assert c["active_merchants"] == (9, 12, approx(-0.25))
    assert c["median_hours_to_match"] == (8.0, None, None)
    assert c["live_posts"] == (220, 200, approx(0.1))
    # 03-11 has no row: the 03-12 figures have nothing to compare with.
    assert gap.current_period == date(2026, 3, 12) and gap.previous_period is None


# ---------------------------------------------------------------- KPIs under the page filters
MARCH_WEEKS = dict(start=date(2026, 3, 9), end=date(2026, 3, 22))
ADDITIVE = ("new_registrations", "newly_certified", "active_merchants", "live_listings",
            "open_requests", "requests_created", "requests_with_match", "requests_with_deposit",
            "deals_completed", "gmv", "fee_amount", "deposit_held", "deposit_released",
            "deposit_refunded", "deposit_disputed", "pay_wechat", "pay_alipay", "pay_bank")


def test_the_segment_mart_adds_up_to_the_platform_mart(engine, data):
    sums = ", ".join(f"sum(s.{c}) AS {c}" for c in ADDITIVE)
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM d.{c}" for c in ADDITIVE)
    with engine.connect() as conn:
        days = conn.exec_driver_sql(f"""
            WITH s AS (SELECT day, {sums} FROM mart.daily_kpis_segment s GROUP BY day)
            SELECT d.day, s.day IS NOT NULL AS split, ({differs}) AS differs
            FROM mart.daily_kpis d LEFT JOIN s USING (day) ORDER BY d.day""").all()
    assert [(d.day.isoformat(), d.split, d.differs) for d in days] == [
        (day, True, False) for day in ("2026-03-05", "2026-03-10", "2026-03-12", "2026-03-16",
                                       "2026-03-17")]


def test_every_segment_picked_gives_the_platform_figures(engine, data):
    every_tier = GrowthFilters(**MARCH_WEEKS, tiers=growth.TIERS)
    with engine.connect() as conn:
        plain = growth.kpis(conn=conn, actor=data, grain="week", filters=GrowthFilters(**MARCH_WEEKS))
        split = growth.kpis(conn=conn, actor=data, grain="week", filters=every_tier)
        plain_day = growth.kpis(conn=conn, actor=data, grain="day",
                                filters=GrowthFilters(start=date(2026, 3, 17), end=date(2026, 3, 17)))
        split_day = growth.kpis(conn=conn, actor=data, grain="day", filters=GrowthFilters(
            start=date(2026, 3, 17), end=date(2026, 3, 17), merchant_types=growth.MERCHANT_TYPES))
    assert (plain.basis, split.basis) == ("platform", "segment")
    same = [m for m, _ in growth.KPI_METRICS if m not in ("active_merchants", "median_hours_to_match")]
    assert {m: v for m, v in _cmp(split).items() if m in same} == \
        {m: v for m, v in _cmp(plain).items() if m in same}
    # A week's distinct merchants and the median do not add up across segments.
    assert _cmp(split)["active_merchants"] == (None, None, None)
    assert _cmp(split)["median_hours_to_match"] == (None, None, None)
    assert split.unavailable == ("median_hours_to_match", "active_merchants")
    # A day's do: DAU 9 against 12 either way.
    assert _cmp(split_day)["active_merchants"] == _cmp(plain_day)["active_merchants"] == \
        (9, 12, approx(-0.25))


def test_weekly_kpis_of_one_tier(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="week",
                        filters=GrowthFilters(**MARCH_WEEKS, tiers=(1,)))
    # Tier 1 (the 4S segment): week of 03-09 = 03-10 + 03-12, week of 03-16 = 03-16 + 03-17.
    c = _cmp(r)
    assert c["new_registrations"] == (5, 3, approx(2 / 3))       # 3+2 against 2+1
    assert c["newly_certified"] == (2, 2, approx(0.0))
    assert c["live_posts"] == (135, 115, approx(20 / 115))       # 90+45 (03-17), 80+35 (03-12)
    assert c["match_rate"] == (approx(1.0), approx(0.5), approx(0.5))   # 3/3 against 5/10
    assert c["deposit_rate"] == (approx(1 / 3), approx(0.1), approx(1 / 3 - 0.1))
    assert c["deals_completed"] == (1, 2, approx(-0.5))
    assert c["gmv"] == (150000, 300000, approx(-0.5))
    assert c["take_rate"] == (None, approx(0.01), None)          # 3,000 fees on 300,000
    assert c["deposit_refunded"] == (1000, 0, None)
    assert r.payment_mix.set_index("channel")["amount"].tolist() == [8000, 0, 7000]
    with engine.connect() as conn:
        day = growth.kpis(conn=conn, actor=data, grain="day", filters=GrowthFilters(
            start=date(2026, 3, 17), end=date(2026, 3, 17), merchant_types=("4s",)))
    assert _cmp(day)["active_merchants"] == (4, 7, approx(-3 / 7))


def test_weekly_kpis_of_one_brand(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="week",
                        filters=GrowthFilters(**MARCH_WEEKS, brands=(2,), tiers=(1,)))
    # 比亚迪: snapshots of 03-17 (60 + 35) and 03-12 (50 + 25); deals 0+1 and 1+0.
    # The brand mart is not split by segment: the tier filter does not narrow it.
    assert r.basis == "brand"
    c = _cmp(r)
    assert c["live_posts"] == (95, 75, approx(20 / 75))
    assert c["deals_completed"] == (1, 1, approx(0.0))
    assert c["gmv"] == (100000, 200000, approx(-0.5))
    for metric in ("new_registrations", "active_merchants", "match_rate", "take_rate",
                   "deposit_held", "pay_wechat", "median_hours_to_match"):
        assert metric in r.unavailable and c[metric] == (None, None, None), metric


# ---------------------------------------------------------------- cohorts
FEB_APR = GrowthFilters(start=date(2026, 2, 1), end=date(2026, 4, 30))


def _cells(frame):
    return {(c.strftime("%Y-%m"), s): (n, a) for c, s, n, a in
            zip(frame.cohort_month, frame.months_since, frame.cohort_size, frame.active_merchants)}


def test_cohort_retention_cells_from_the_cohort_mart(engine, data):
    with engine.connect() as conn:
        cells = growth.cohorts(conn=conn, actor=data, filters=FEB_APR)
    # The data reaches May 2026, so every cohort has cells up to May; missing = 0 active.
    assert _cells(cells) == {
        ("2026-02", 0): (1, 1), ("2026-02", 1): (1, 1), ("2026-02", 2): (1, 0), ("2026-02", 3): (1, 1),
        ("2026-03", 0): (6, 3), ("2026-03", 1): (6, 2), ("2026-03", 2): (6, 1),
        ("2026-04", 0): (1, 1), ("2026-04", 1): (1, 0)}
    march = cells[cells.cohort_month == date(2026, 3, 1)]
    assert march["retention"].tolist() == approx([0.5, 1 / 3, 1 / 6])


def test_filtered_cohorts_agree_with_the_mart_and_narrow_it(engine, data):
    every_type = GrowthFilters(start=FEB_APR.start, end=FEB_APR.end,
                               merchant_types=growth.MERCHANT_TYPES)
    tier1 = GrowthFilters(start=FEB_APR.start, end=FEB_APR.end, tiers=(1,))
    with engine.connect() as conn:
        plain = growth.cohorts(conn=conn, actor=data, filters=FEB_APR)
        same = growth.cohorts(conn=conn, actor=data, filters=every_type)
        narrow = growth.cohorts(conn=conn, actor=data, filters=tier1)
    assert _cells(same) == _cells(plain)
    # Tier 1: M6 (Feb; active Feb, Mar, May) and M1 + M4 (Mar; M1 active Mar, Apr).
    assert _cells(narrow) == {
        ("2026-02", 0): (1, 1), ("2026-02", 1): (1, 1), ("2026-02", 2): (1, 0), ("2026-02", 3): (1, 1),
        ("2026-03", 0): (2, 1), ("2026-03", 1): (2, 1), ("2026-03", 2): (2, 0)}


def test_cohorts_of_one_merchant_type_come_from_its_segments(engine, data):
    secondary = GrowthFilters(start=FEB_APR.start, end=FEB_APR.end, merchant_types=("secondary",))
    with engine.connect() as conn:
        cells = growth.cohorts(conn=conn, actor=data, filters=secondary)
    # March: M2 (active Mar, May) and M3 (Apr); April: M7 (Apr). Up to May, 0 where nobody.
    assert _cells(cells) == {
        ("2026-03", 0): (2, 1), ("2026-03", 1): (2, 1), ("2026-03", 2): (2, 1),
        ("2026-04", 0): (1, 1), ("2026-04", 1): (1, 0)}


def test_cohort_range_keeps_only_cohorts_inside(engine, data):
    with engine.connect() as conn:
        cells = growth.cohorts(conn=conn, actor=data, filters=GrowthFilters(
            start=date(2026, 3, 15), end=date(2026, 3, 31)))
    assert sorted({c.strftime("%Y-%m") for c in cells.cohort_month}) == ["2026-03"]


# ---------------------------------------------------------------- supply / demand
def _sd(frame):
    return {n: (ll, lu, o, ru, g) for n, ll, lu, o, ru, g in zip(
        frame["name"], frame.live_listings, frame.listing_units, frame.open_requests,
        frame.request_units, frame.gap)}


def test_supply_demand_by_brand_and_tier(engine, data):
    with engine.connect() as conn:
        brands = growth.supply_demand(conn=conn, actor=data, filters=MARCH, by="brand")
        tiers = growth.supply_demand(conn=conn, actor=data, filters=MARCH, by="tier")
    assert brands["name"].tolist() == ["奥迪", "比亚迪"]
    assert _sd(brands) == {"奥迪": (14, 24, 11, 20, -4), "比亚迪": (4, 5, 9, 20, 15)}
    assert brands["demand_per_supply"].tolist() == approx([20 / 24, 4.0])
    assert tiers["key"].tolist() == [3, 1, 5]
    assert _sd(tiers) == {"二线": (7, 7, 15, 32, 25), "一线": (10, 20, 5, 8, -12),
                          "四线": (1, 2, 0, 0, -2)}
    # The matchable counts above; every live / open post (2 listings and 1 request of Audi
    # in tier 1 cannot be matched) comes along for the tooltip.
    assert brands[["all_live_listings", "all_listing_units", "all_open_requests",
                   "all_request_units"]].values.tolist() == [[16, 27, 12, 22], [4, 5, 9, 20]]


def test_supply_demand_filters_brand_and_type(engine, data):
    byd = GrowthFilters(start=MARCH.start, end=MARCH.end, brands=(2,))
    dealers = GrowthFilters(start=MARCH.start, end=MARCH.end, merchant_types=("4s",))
    with engine.connect() as conn:
        by_tier = growth.supply_demand(conn=conn, actor=data, filters=byd, by="tier")
        by_brand = growth.supply_demand(conn=conn, actor=data, filters=dealers, by="brand")
    assert _sd(by_tier) == {"二线": (3, 3, 9, 20, 17), "四线": (1, 2, 0, 0, -2)}
    assert _sd(by_brand) == {"奥迪": (10, 20, 5, 8, -12), "比亚迪": (3, 3, 9, 20, 17)}


# ---------------------------------------------------------------- freshness
def test_freshness_per_chart(engine, data):
    with engine.begin() as conn:
        growth_rows.log_run(conn, job="funnel", marts=["funnel_facts"], status="succeeded",
                            finished="2026-04-06 09:05", checks=[True, True])
        growth_rows.log_run(conn, job="kpis", marts=["mart.daily_kpis", "mart.kpi_periods"],
                            status="succeeded", finished="2026-04-06 10:00", checks=[True, False])
        growth_rows.log_run(conn, job="supply", marts=["supply_demand"], status="succeeded",
                            finished="2026-04-06 07:10", checks=[True])
        growth_rows.log_run(conn, job="supply", marts=["supply_demand"], status="failed",
                            finished="2026-04-06 11:00")
    with engine.connect() as conn:
        fresh = growth.freshness(conn=conn, actor=data)
    iso = lambda v: v.isoformat() if v else None  # noqa: E731
    assert fresh["funnel"].state == "ok"
    assert iso(fresh["funnel"].computed_at) == "2026-04-06T09:05:00+08:00"
    assert iso(fresh["funnel"].last_run_at) == "2026-04-06T09:00:00+08:00"
    assert (fresh["kpis"].state, fresh["kpis"].failed_expectations) == ("warning", 1)
    # The failed run left the marts as the last success computed them.
    assert fresh["supply_demand"].state == "warning"
    assert fresh["supply_demand"].last_run_status == "failed"
    assert iso(fresh["supply_demand"].computed_at) == "2026-04-06T07:10:00+08:00"
    # No run logged for the cohort marts: the rows' own stamp, and "unknown".
    assert fresh["cohorts"].state == "unknown"
    assert iso(fresh["cohorts"].computed_at) == "2026-04-06T08:00:00+08:00"


# ---------------------------------------------------------------- refusals
def test_other_roles_are_refused(engine, data, make_actor):
    with engine.connect() as conn:
        for role in ("ops", "risk", "admin"):
            with pytest.raises(PermissionDenied):
                growth.funnel(conn=conn, actor=make_actor(role), filters=MARCH)
        bd = make_actor("bd")
        assert growth.funnel(conn=conn, actor=bd, filters=MARCH)["merchants"].iloc[0] == 6


@pytest.mark.parametrize("call, key", [
    (lambda c, a: growth.funnel(conn=c, actor=a, filters=MARCH, breakdown="phone"),
     "growth.error.bad_breakdown"),
    (lambda c, a: growth.funnel(conn=c, actor=a, filters=MARCH, window_days=0),
     "growth.error.bad_window"),
    (lambda c, a: growth.funnel(conn=c, actor=a, filters=GrowthFilters(
        start=date(2026, 4, 1), end=date(2026, 3, 1))), "growth.error.date_order"),
    (lambda c, a: growth.funnel(conn=c, actor=a, filters=GrowthFilters(
        start=MARCH.start, end=MARCH.end, tiers=(9,))), "growth.error.bad_filter"),
    (lambda c, a: growth.funnel(conn=c, actor=a, filters=GrowthFilters(
        start=MARCH.start, end=MARCH.end, merchant_types=("x' OR 1=1",))), "growth.error.bad_filter"),
    (lambda c, a: growth.drop_offs(conn=c, actor=a, filters=MARCH, step="registered"),
     "growth.error.bad_step"),
    (lambda c, a: growth.kpis(conn=c, actor=a, filters=MARCH, grain="year"),
     "growth.error.bad_grain"),
    (lambda c, a: growth.supply_demand(conn=c, actor=a, filters=MARCH, by="city"),
     "growth.error.bad_breakdown"),
])
def test_bad_input_is_refused_with_a_catalogue_key(engine, data, call, key):
    with engine.connect() as conn, pytest.raises(InvalidInput) as err:
        call(conn, data)
    assert err.value.key == key


def test_a_week_in_progress_is_not_compared(engine, data):
    with engine.connect() as conn:
        r = growth.kpis(conn=conn, actor=data, grain="week",
                        filters=GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 18)))
    # The week of 03-16 runs past 03-18: the cards compare the whole week of 03-09 with
    # the week of 03-02 (one registration on 03-05); the chart still shows both weeks.
    assert len(r.series) == 2
    assert (r.current_period, r.previous_period) == (date(2026, 3, 9), date(2026, 3, 2))
    assert _cmp(r)["new_registrations"] == (5, 1, approx(4.0))
    assert not r.current_partial
    with engine.connect() as conn:
        month = growth.kpis(conn=conn, actor=data, grain="month",
                            filters=GrowthFilters(start=date(2026, 3, 9), end=date(2026, 3, 22)))
    assert month.current_partial       # March does not end on the 22nd, and nothing else is whole
