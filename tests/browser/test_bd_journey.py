"""Real browser (issue 5): a BD takes a lead, moves the card to contacted, then marks it
lost with a reason and a note."""
import sqlalchemy as sa

from console.services import matching
from tests.browser.live import browser_page, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD
from tests.test_matching_support import AS_OF, build_world


def card(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, stage, owner_id, lost_reason, lost_note FROM ops.matches")).one()


def test_bd_takes_a_lead_moves_it_and_marks_it_lost(live_console, engine, make_actor):
    w = build_world(engine)
    buyer, seller = w.merchant(name="买家车行"), w.merchant(name="卖家车行")
    w.listing(merchant_id=seller)
    request_id = w.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    bd = make_actor("bd")
    with browser_page() as page:
        sign_in(page, live_console, bd.username, TEST_PASSWORD)
        page.get_by_role("link", name="抢线索").click()
        wait_idle(page)
        page.get_by_role("button", name="抢线索").first.click()
        page.get_by_text(f"已抢到线索 #{request_id}").wait_for()
        card_id, stage, owner, _, _ = card(engine)
        assert (stage, owner) == ("suggested", bd.id)

        page.get_by_role("link", name="撮合看板").click()
        page.get_by_text(f"#{card_id}").first.wait_for()
        wait_idle(page)
        page.get_by_role("button", name="→ 已联系").click()
        page.get_by_text("已移至“已联系”。").wait_for()
        wait_idle(page)
        assert card(engine)[1] == "contacted"

        page.get_by_role("button", name="失败").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("标记为失败").wait_for()
        dialog.locator("[data-testid='stSelectbox']").click()
        page.get_by_role("option", name="价格谈不拢").click()
        dialog.get_by_label("说明").fill("买家嫌贵，差价两千")
        dialog.get_by_label("说明").press("Control+Enter")
        wait_idle(page)
        dialog.get_by_role("button", name="确认").click()
        page.get_by_text("已移至“失败”。").wait_for()
        wait_idle(page)
        page.screenshot(path="/tmp/bd_journey_done.png", full_page=True)
    assert tuple(card(engine))[1:] == ("lost", bd.id, "price_gap", "买家嫌贵，差价两千")
