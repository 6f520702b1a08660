"""Real browser (issue 19): an order loan above the second-approval amount is approved by one
risk officer and then by another, disbursed to the seller, and repaid in two payments; the
balance and the certificate follow on the loan page."""
from decimal import Decimal as D

from console import db
from console.finance import loans
from tests import finance_rows as fr
from tests import trust_rows as rows
from tests.browser.live import browser_page, open_page, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD


def metric_value(page, label: str) -> str:
    metric = page.locator("[data-testid='stMetric']").filter(has_text=label)
    return metric.locator("[data-testid='stMetricValue']").first.inner_text().strip()


def take_and_approve(page, base, officer, loan_id):
    sign_in(page, base, officer.username, TEST_PASSWORD)
    open_page(page, "订单贷审批", page.get_by_role("heading", name="订单贷审批队列"))
    page.get_by_role("button", name="领取下一笔").click()
    page.get_by_role("heading", name=f"#{loan_id} · 审批中").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="批准").click()
    page.get_by_text("已批准。").wait_for()
    wait_idle(page)


def test_two_officers_approve_the_seller_is_paid_and_repayments_release_the_certificate(
        live_console, engine, make_actor):
    w = fr.world(engine, line_yuan=1_000_000)
    order_id = fr.new_order(engine, w, 1_000_000)
    bd, first, second = make_actor("bd"), make_actor("risk"), make_actor("risk")
    with db.transaction() as conn:
        loan_id = loans.apply(conn=conn, actor=bd, merchant_id=w["buyer"], order_id=order_id,
                              principal=D("600000.00"), term_days=60,
                              certificate_no="WDZ-JOURNEY-1").loan_id

    with browser_page() as page:
        take_and_approve(page, live_console, first, loan_id)
        # above ¥500,000: back in the queue for a second officer, still under review
        page.get_by_role("heading", name=f"#{loan_id} · 审批中").wait_for()
    assert rows.value(engine, "SELECT approved_by FROM fin.loans WHERE id = :i", i=loan_id) == first.id

    with browser_page() as page:
        take_and_approve(page, live_console, second, loan_id)
        page.get_by_role("heading", name=f"#{loan_id} · 已批准，待放款").wait_for()
        page.get_by_role("button", name="放款给卖方").click()
        page.get_by_text(f"已放款，付款流水号 BT-loan-{loan_id}-disbursement", exact=False).wait_for()
        page.get_by_role("heading", name=f"#{loan_id} · 已放款，未结清").wait_for()
        wait_idle(page)
        assert metric_value(page, "合格证") == "平台质押中"
        assert metric_value(page, "剩余应还") == "¥600,000.00"

        for amount, reference in (("100000", "BK-JOURNEY-1"), ("500000", "BK-JOURNEY-2")):
            page.get_by_label("金额（元）", exact=True).fill(amount)
            page.get_by_label("金额（元）", exact=True).press("Tab")
            page.get_by_label("支付流水号", exact=True).fill(reference)
            page.get_by_role("button", name="记录还款").click()
            page.get_by_text("已记录：冲抵利息 ¥0.00", exact=False).wait_for()
            wait_idle(page)
            if reference.endswith("1"):
                assert metric_value(page, "剩余应还") == "¥500,000.00"
                assert metric_value(page, "合格证") == "平台质押中"
        page.get_by_role("heading", name=f"#{loan_id} · 已结清").wait_for()
        assert metric_value(page, "剩余应还") == "¥0.00"
        assert metric_value(page, "合格证") == "已释放"
        page.screenshot(path="/tmp/loan_journey_done.png", full_page=True)
    assert rows.value(engine, "SELECT status || '/' || certificate_state FROM fin.loans "
                              "WHERE id = :i", i=loan_id) == "repaid/released"
    assert rows.value(engine, "SELECT committed FROM fin.credit_lines WHERE merchant_id = :m",
                      m=w["buyer"]) == D("0.00")
