"""Real browser (issue 4): an ops user opens the certification queue, takes the next case,
approves it, and sees it leave the queue."""
from playwright.sync_api import expect

from tests import trust_rows as rows
from tests.browser.live import browser_page, choose_option, open_page, sign_in, wait_idle
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
        open_page(page, "认证审核队列", page.get_by_role("heading", name="认证审核队列"))
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


def test_ops_reads_a_flags_evidence_and_cannot_take_it_down_without_a_choice_and_a_note(
        live_console, engine, make_actor):
    """Issue 14: the flag opens from its link, its evidence reads as a sentence, nothing is
    preselected, and taking the listing down needs a note."""
    from console import db
    from console.services import listing_review as lr
    ops = make_actor("ops")
    city = rows.city(engine)
    merchant = rows.merchant(engine, city_id=city, name="华东汽贸")
    listing = rows.listing(engine, merchant_id=merchant, trim_id=rows.trim(engine), city_id=city,
                           vin="1M8GDM9A0KP042788")
    with db.transaction() as conn:
        lr.raise_listing_flags(conn=conn, price_gap=50)
    flag = rows.value(engine, "SELECT id FROM ops.listing_flags")
    with browser_page() as page:
        sign_in(page, live_console, ops.username, TEST_PASSWORD)
        page.goto(f"{live_console}/listing-review?flag={flag}")
        page.get_by_role("heading", name=f"预警 #{flag}：车架号校验失败").wait_for()
        page.get_by_text("车架号 1M8GDM9A0KP042788 第 9 位校验位与按 GB 16735 计算的结果不符。",
                         exact=False).wait_for()
        wait_idle(page)
        page.get_by_role("button", name="分配给我").click()
        page.get_by_text("已分配。").wait_for()
        wait_idle(page)
        assert not page.get_by_role("radio", name="确认违规并下架").is_checked()
        assert not page.get_by_role("radio", name="排除预警").is_checked()
        page.get_by_role("button", name="提交决定").click()
        page.get_by_text("请先选择一个决定。").wait_for()
        page.get_by_text("确认违规并下架", exact=True).click()
        wait_idle(page)
        # The reason list is disabled until a decision is chosen: wait for the rerun's one.
        reason = page.locator("[data-testid='stSelectbox']").filter(has_text="原因").last
        expect(reason.locator("input")).to_be_enabled()
        choose_option(page, reason, "车架号虚假或盗用")   # reopens a list a rerun closed
        wait_idle(page)
        page.get_by_role("button", name="确认违规并下架").click()
        page.get_by_text("确认违规并下架车源时必须填写说明。").wait_for()
        assert rows.value(engine, "SELECT status FROM app.listings WHERE id = :i",
                          i=listing) == "live"
        page.get_by_label("说明").fill("车架号与行驶证不符")
        page.get_by_label("说明").press("Control+Enter")
        wait_idle(page)
        page.get_by_role("button", name="确认违规并下架").click()
        page.get_by_text(f"预警 #{flag} 已确认，车源已下架并通知商户。").wait_for()
        page.screenshot(path="/tmp/ops_flag_journey_done.png", full_page=True)
    assert rows.value(engine, "SELECT status FROM app.listings WHERE id = :i", i=listing) == \
        "taken_down"
    assert rows.value(engine, "SELECT after->>'note' FROM ops.audit_log "
                              "WHERE action = 'listing_flag.confirmed'") == "车架号与行驶证不符"


def test_ops_zooms_into_the_id_card_and_asks_for_two_documents_at_once(live_console, engine,
                                                                       make_actor):
    """Issue 14: the case page shows the uploaded ID card beside the fields, with a zoom;
    several documents are requested in one decision."""
    import pytest

    from console.demo import documents
    if documents.cjk_font_path() is None:
        pytest.skip("needs fonts-noto-cjk")
    ops = make_actor("ops")
    city = rows.city(engine)
    merchant = rows.merchant(engine, city_id=city, name="华东汽贸")
    case_id = rows.cert(engine, merchant_id=merchant, age_hours=30, assignee_id=ops.id,
                        status="in_review")
    assert documents.seed_images(engine) == 1
    from console import db
    from console.services import prechecks
    with db.transaction(role="jobs") as conn:
        prechecks.run_prechecks(conn=conn, certification_ids=[case_id])
    with browser_page() as page:
        sign_in(page, live_console, ops.username, TEST_PASSWORD)
        page.goto(f"{live_console}/cert-case?case={case_id}")
        page.get_by_role("heading", name=f"认证案件 #{case_id}").wait_for()
        wait_idle(page)
        card = page.locator("img[alt='身份证人像面']")
        card.wait_for()
        assert card.evaluate("img => img.naturalWidth") == 856
        assert card.evaluate("img => img.style.width") == "100%"
        thumb = page.get_by_role("slider").first
        thumb.focus()
        thumb.press("ArrowRight")
        wait_idle(page)
        expect(page.locator("img[alt='身份证人像面']")).to_have_attribute(
            "style", "width:150%;max-width:none;display:block")
        page.get_by_text("身份证号是否已被其他商户认证？").wait_for()

        form = page.locator("[data-testid='stForm']").filter(has_text="要求补充材料")
        docs = form.locator("[data-testid='stMultiSelect']")
        choose_option(page, docs, "身份证人像面")
        choose_option(page, docs, "手持身份证照片")
        page.keyboard.press("Escape")
        choose_option(page, form.locator("[data-testid='stSelectbox']"), "材料不清晰")
        form.get_by_label("说明").fill("照片反光，看不清号码")
        form.get_by_role("button", name="要求补充材料").click()
        page.get_by_text(f"已要求案件 #{case_id} 补充 2 份材料。").wait_for()
        page.screenshot(path="/tmp/ops_case_journey_done.png", full_page=True)
    assert rows.rows(engine, "SELECT status, requested_docs FROM app.certifications "
                             "WHERE id = :i", i=case_id) == [
        {"status": "needs_info", "requested_docs": ["id_front", "id_in_hand"]}]
