"""The growth page (AppTest) over the hand-built marts: what a manager reads on it."""
from __future__ import annotations

from datetime import date

import pytest
import streamlit as st

from tests import growth_rows, trust_rows
from tests.apptest import app_as, page_script_as

PAGE = "pages/mgr_growth.py"


def recent_source_event(engine) -> None:
    """A registration an hour ago: the sources are fresh, so a badge speaks of validation."""
    import sqlalchemy as sa
    m = trust_rows.merchant(engine, city_id=trust_rows.city(engine))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET registered_at = now() - interval '1 hour' "
                             "WHERE id = :m"), {"m": m})


@pytest.fixture(autouse=True)
def fresh_cache():
    # The page caches per filter set: tests on different databases must not share it.
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def manager(engine, make_actor):
    growth_rows.insert_all(engine, bd_owner_id=make_actor("bd", username="wangbd").id)
    recent_source_event(engine)
    with engine.begin() as conn:
        growth_rows.log_run(conn, job="funnel_facts", marts=["mart.funnel_facts"],
                            status="succeeded", finished="2026-04-06 09:05", checks=[True])
        growth_rows.log_run(conn, job="daily_kpis", marts=["mart.daily_kpis", "mart.kpi_periods"],
                            status="succeeded", finished="2026-04-06 10:00", checks=[True, False])
    return make_actor("manager")


def _in_march(at):
    at.date_input(key="g_dates").set_value((date(2026, 3, 1), date(2026, 3, 31))).run()
    assert not at.exception, at.exception
    return at


def _table(at, index=0):
    return at.dataframe[index].value


def test_funnel_table_drop_offs_and_export(manager):
    at = _in_march(app_as(manager, page=PAGE))
    funnel = _table(at)
    assert funnel["商户数"].tolist() == ["6", "3", "2", "2", "1", "1", "1"]
    # one decimal for every percentage, as in the chart (not 77.83% beside 16.5%)
    assert funnel["较上一步转化率"].tolist()[:3] == ["100.0%", "50.0%", "66.7%"]
    assert funnel["步骤"].tolist()[:3] == ["注册", "提交认证", "认证通过"]
    # The drop-off list defaults to the first step after registration: M8, M4, M3.
    # March's windows have all closed: nobody is in progress, everyone missing dropped.
    assert funnel["已流失"].tolist()[:3] == ["0", "3", "1"]
    assert funnel["进行中"].tolist()[:3] == ["0", "0", "0"]
    assert ("3 家商户在此步流失（窗口已结束），另有 0 家仍在转化窗口内（进行中，不算流失）；最近的在前"
            in [c.value for c in at.caption])
    assert "第 1 / 1 页，共 3 条" in [c.value for c in at.caption]
    assert _table(at, 1)["商户ID"].tolist() == [8, 4, 3]
    assert _table(at, 1)["商户名称"].tolist() == ["津八平行进口", "京四汽车", "苏三车行"]
    at.selectbox(key="g_lost").set_value("first_match").run()
    lost = _table(at, 1)
    assert lost["商户ID"].tolist() == [2] and lost["负责BD"].tolist() == ["WANGBD"]
    assert not at.error


def test_drop_off_list_pages_on_the_server(manager, monkeypatch):
    from console.services import growth
    monkeypatch.setattr(growth, "DROP_OFF_PAGE", 2)
    at = _in_march(app_as(manager, page=PAGE))
    assert _table(at, 1)["商户ID"].tolist() == [8, 4]
    assert "第 1 / 2 页，共 3 条" in [c.value for c in at.caption]
    at.button(key="g_lost__next").click().run()
    assert _table(at, 1)["商户ID"].tolist() == [3]
    assert "第 2 / 2 页，共 3 条" in [c.value for c in at.caption]
    # Another step starts again on its first page.
    at.selectbox(key="g_lost").set_value("certified").run()
    assert "第 1 / 1 页，共 1 条" in [c.value for c in at.caption]
    assert not at.exception, at.exception


def test_any_time_window_and_breakdown(manager):
    at = _in_march(app_as(manager, page=PAGE))
    at.selectbox(key="g_window").set_value(0).run()
    assert _table(at)["商户数"].tolist() == ["6", "4", "3", "2", "2", "1", "1"]
    at.selectbox(key="g_breakdown").set_value("channel").run()
    table = _table(at)
    bd_visit = table[table["分组"] == "地推拜访"]
    assert bd_visit["商户数"].tolist() == ["2", "2", "2", "1", "1", "1", "1"]


def test_page_filters_narrow_the_funnel(manager):
    at = _in_march(app_as(manager, page=PAGE))
    at.multiselect(key="g_tiers").set_value([1]).run()
    assert _table(at)["商户数"].tolist() == ["2", "1", "1", "1", "1", "1", "1"]


def test_freshness_badges_show_the_failed_validation(manager):
    at = _in_march(app_as(manager, page=PAGE))
    text = " ".join(m.value for m in at.markdown)
    assert "校验通过" in text                               # funnel: the run passed
    assert "校验未通过（1 项）" in text                     # KPIs: one expectation failed
    assert "暂无 ETL 运行记录" in text                      # cohorts, supply/demand: no run
    assert any(c.value.startswith("数据计算于 2026-04-06 09:05 · 最近运行 2026-04-06 09:00（成功） · "
                                  "最新源事件 ") and c.value.endswith("（1 小时前）") for c in at.caption)


def test_kpi_cards_compare_weeks(manager):
    at = app_as(manager, page=PAGE)
    at.date_input(key="g_dates").set_value((date(2026, 3, 9), date(2026, 3, 22))).run()
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards["新注册"] == ("10", "+100.0%")
    assert cards["周活 WAU"] == ("50", "+25.0%")
    assert cards["BD撮合率"] == ("70.0%", "+20.0 个百分点")
    assert cards["定金率"] == ("30.0%", "+15.0 个百分点")
    assert cards["撮合耗时（小时）"] == ("10.0", "-20.0%")
    assert cards["平台费率"] == ("—", "")                 # no fees this week
    assert cards["GMV"] == ("25.00 万元", "-50.0%")
    at.radio(key="g_grain").set_value("month").run()
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards["月活 MAU"] == ("70", "本月未完")       # March runs past the 22nd: not compared


def test_kpi_cards_follow_the_tier_and_brand_filters(manager):
    at = app_as(manager, page=PAGE)
    at.date_input(key="g_dates").set_value((date(2026, 3, 9), date(2026, 3, 22))).run()
    at.multiselect(key="g_tiers").set_value([1]).run()
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards["新注册"] == ("5", "+66.7%")               # tier 1: 5 against 3
    assert cards["BD撮合率"] == ("100.0%", "+50.0 个百分点")
    assert cards["周活 WAU"] == ("—", "")                   # does not add up across segments
    captions = [c.value for c in at.caption]
    assert any(c.startswith("按所选城市等级/商户类型汇总") for c in captions)
    assert "适用筛选：日期范围、城市等级、商户类型、品牌（未选等级/类型/品牌时为全平台口径）" in captions
    assert not any("等级/类型/品牌不适用" in c for c in captions)   # the old note is gone
    at.multiselect(key="g_brands").set_value([2]).run()
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards["GMV"] == ("10.00 万元", "-50.0%")
    assert cards["新注册"] == ("—", "")
    assert any(c.value.startswith("按所选品牌汇总") for c in at.caption)
    assert not at.error and not at.exception


def test_english_page_renders_everything(manager):
    at = _in_march(app_as(manager, lang="en", page=PAGE))
    assert at.title[0].value == "Growth dashboard"
    assert _table(at)["Merchants"].tolist() == ["6", "3", "2", "2", "1", "1", "1"]
    assert [t.label for t in at.tabs] == ["Funnel", "KPIs", "Cohort retention", "Supply & demand"]
    assert not at.error


def test_supply_demand_table_says_where_to_push(manager):
    at = _in_march(app_as(manager, page=PAGE))
    sd = at.dataframe[-1].value
    assert sd["名称"].tolist() == ["奥迪", "比亚迪"]
    # 奥迪: 24 units for sale, 20 wanted (gap beyond 10%): find buyers; 比亚迪: 5 vs 20.
    assert sd["BD 着力方向"].tolist() == ["找买家", "补车源"]
    at.multiselect(key="g_brands").set_value([2]).run()       # 比亚迪 only
    assert at.dataframe[-1].value["名称"].tolist() == ["比亚迪"]
    at.multiselect(key="g_brands").set_value([]).run()
    at.radio(key="g_sd_by").set_value("tier").run()
    sd = at.dataframe[-1].value
    assert sd["名称"].tolist() == ["二线城市", "一线城市", "四线城市"]
    assert sd["BD 着力方向"].tolist() == ["补车源", "找买家", "找买家"]


def test_bd_may_read_ops_may_not(engine, make_actor):
    assert not page_script_as(make_actor("bd"), PAGE).error
    refused = page_script_as(make_actor("ops"), PAGE)
    assert any("无权访问" in e.value for e in refused.error)
    assert not refused.dataframe


def test_a_new_etl_run_refreshes_the_cached_chart(manager, engine):
    at = _in_march(app_as(manager, page=PAGE))
    assert _table(at)["商户数"].tolist()[0] == "6"
    with engine.begin() as conn:   # a late registration arrives with the next run
        conn.exec_driver_sql("""
            INSERT INTO mart.funnel_facts (merchant_id, registered_at, cohort_month, channel,
                                           merchant_type, size_class)
            VALUES (9, '2026-03-05 10:00+08', '2026-03-01', 'ad', '4s', 'small')""")
    at.run()
    assert _table(at)["商户数"].tolist()[0] == "6"          # same stamp: served from the cache
    with engine.begin() as conn:
        growth_rows.log_run(conn, job="funnel_facts", marts=["mart.funnel_facts"],
                            status="succeeded", finished="2026-04-07 09:05", checks=[True])
    at.run()
    assert _table(at)["商户数"].tolist()[0] == "7"
