"""Real browser: a manager opens the growth dashboard over the hand-built marts and sees the
funnel, the KPI cards, the cohort heatmap and supply/demand; screenshots of each tab."""
from tests import growth_rows
from tests.test_growth_page import recent_source_event
from tests.browser.live import browser_page, open_page, open_tab, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

SHOTS = "/tmp/growth_{tab}.png"


def test_manager_reads_the_growth_dashboard(live_console, engine, make_actor):
    growth_rows.insert_all(engine, bd_owner_id=make_actor("bd", username="wangbd").id)
    recent_source_event(engine)      # fresh sources: the badges speak of validation
    with engine.begin() as conn:
        growth_rows.log_run(conn, job="funnel_facts", marts=["mart.funnel_facts"],
                            status="succeeded", finished="2026-04-06 09:05", checks=[True])
        growth_rows.log_run(conn, job="daily_kpis", marts=["mart.daily_kpis", "mart.kpi_periods"],
                            status="succeeded", finished="2026-04-06 10:00", checks=[True, False])
    actor = make_actor("manager")
    with browser_page(height=2200) as page:
        sign_in(page, live_console, actor.username, TEST_PASSWORD)
        open_page(page, "增长看板", page.get_by_role("heading", name="增长看板"))
        page.get_by_text("校验通过").first.wait_for()
        page.get_by_text("流失名单", exact=True).wait_for()   # not its CSV button
        page.locator(".js-plotly-plot").first.wait_for()
        page.screenshot(path=SHOTS.format(tab="funnel"))

        open_tab(page, "核心指标")
        page.get_by_text("校验未通过（1 项）").first.wait_for()
        page.get_by_text("新注册", exact=True).first.wait_for()
        wait_idle(page)
        page.screenshot(path=SHOTS.format(tab="kpis"))

        open_tab(page, "留存同期群")
        page.get_by_text("2026-03 (6)").first.wait_for()
        page.screenshot(path=SHOTS.format(tab="cohorts"))

        open_tab(page, "供需平衡")
        page.get_by_text("适用筛选：城市等级、商户类型、品牌（当前快照，日期不适用）").wait_for()
        page.locator(".js-plotly-plot >> visible=true").first.wait_for()
        wait_idle(page)
        page.screenshot(path=SHOTS.format(tab="supply_demand"))
