"""Real browser (issue 4): an ops user opens the certification queue, takes the next case,
approves it, and sees it leave the queue."""
from tests import trust_rows as rows
from tests.browser.live import browser_page, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD


def metric_value(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(has_text=label)
    return metric.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_ops_takes_next_case_and_approves_it(live_console, engine, make_actor):
    ops = make_actor("ops")
    city = rows.city(engine)
    merchant = rows.merchant(engine, city_id=city, name="华东汽贸")
    case_id = rows.cert(engine, merchant_id=merchant, age_hours=30)
    with browser_page() as page:
        sign_in(page, live_console, ops.username, TEST_PASSWORD)
        page.get_by_role("link", name="认证审核队列").click()
        page.get_by_role("heading", name="认证审核队列").wait_for()
        wait_idle(page)
        assert metric_value(page, "待分配") == "1"

        page.get_by_role("button", name="下一个案件").click()
        page.get_by_text(f"已领取案件 #{case_id}。").wait_for()
        page.get_by_text("华东汽贸").first.wait_for()
        wait_idle(page)

        page.get_by_role("button", name="通过").click()
        page.get_by_text(f"案件 #{case_id} 已通过。").wait_for()
        page.get_by_role("heading", name="认证审核队列").wait_for()
        wait_idle(page)
        assert metric_value(page, "待分配") == "0"
        assert metric_value(page, "我处理中") == "0"
        page.get_by_text("队列中没有待处理的案件。").wait_for()
        page.screenshot(path="/tmp/ops_journey_done.png", full_page=True)
    assert rows.value(engine, "SELECT status FROM app.certifications WHERE id = :i", i=case_id) == "approved"
    assert rows.value(engine, "SELECT cert_level FROM app.merchants WHERE id = :i", i=merchant) == "personal"
