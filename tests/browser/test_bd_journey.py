"""Real browser (issues 5 and 14): a BD takes a lead, finds its card on the board by search,
moves it and still sees it in its new column, logs a call in the card's dialog (which stays
open), then marks the card lost from it.

The move's time from the click to the card shown in its new column is measured in the
browser and printed; the journey asserts only that the card is there (timing targets belong
to the bench, on a quiet machine)."""
import sqlalchemy as sa

from console.services import matching
from tests.browser.live import (browser_page, choose_option, click_until, fill_until_held,
                                open_page, sign_in, wait_idle)
from tests.conftest import TEST_PASSWORD
from tests.test_matching_support import AS_OF, build_world

# Which board column (0 = 待联系) holds the card, or -1 when it is not on the page.
COLUMN_OF = """(id) => {
    const el = document.querySelector('.st-key-card_' + id);
    if (!el) return -1;
    const col = el.closest('[data-testid="stColumn"]');
    return Array.from(col.parentElement.children).indexOf(col);
}"""


def card(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, stage, owner_id, lost_reason, lost_note FROM ops.matches")).one()


def contacts(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM ops.deal_contacts")).scalar_one()


def test_bd_searches_the_board_moves_a_card_and_still_sees_it(live_console, engine, make_actor):
    w = build_world(engine)
    buyer, seller = w.merchant(name="买家车行"), w.merchant(name="卖家车行")
    w.listing(merchant_id=seller)
    request_id = w.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    bd = make_actor("bd")
    with browser_page() as page:
        sign_in(page, live_console, bd.username, TEST_PASSWORD)
        open_page(page, "抢线索", page.get_by_role("button", name="抢线索").first)
        page.get_by_role("button", name="抢线索").first.click()
        page.get_by_text(f"已抢到线索 #{request_id}").wait_for()
        card_id, stage, owner, _, _ = card(engine)
        assert (stage, owner) == ("suggested", bd.id)

        open_page(page, "撮合看板", page.locator(f".st-key-card_{card_id}"))
        page.get_by_label("搜索").fill(str(card_id))
        page.get_by_label("搜索").press("Enter")
        wait_idle(page)
        assert page.locator("[class*='st-key-card_']").count() == 1
        assert page.evaluate(COLUMN_OF, card_id) == 0

        page.evaluate("() => { window.__clicked = performance.now(); }")
        page.locator(f".st-key-mv_{card_id} button").first.click()
        page.wait_for_function(f"() => ({COLUMN_OF})({card_id}) === 1", polling="raf",
                               timeout=30_000)
        ms = page.evaluate("() => performance.now() - window.__clicked")
        print(f"\nmove: click to the card in its new column: {ms:.0f} ms")
        wait_idle(page)
        assert card(engine)[1] == "contacted"
        assert page.locator(f".st-key-card_{card_id}").is_visible()       # still in view
        assert "刚操作" in page.locator(f".st-key-card_{card_id}").inner_text()

        page.locator(f".st-key-open_{card_id} button").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text(f"#{card_id} ").first.wait_for()
        wait_idle(page)
        dialog.get_by_role("tab", name="联系记录").click()              # log a call
        # fill_until_held/click_until: a clean-clone run under load lost the summary to a
        # rerun redrawing the dialog, and the press logged nothing (its failure screenshot)
        summary = dialog.get_by_label("内容摘要")
        click_until(page, dialog.locator(".st-key-d_contact_submit button"),
                    lambda: contacts(engine) > 0,
                    prepare=lambda: fill_until_held(page, summary, "买家确认要白色，周五看车"))
        wait_idle(page)
        dialog = page.get_by_role("dialog")                              # the dialog stays open
        dialog.get_by_text(f"#{card_id} ").first.wait_for()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT channel, summary FROM ops.deal_contacts")).all() == [
                ("call", "买家确认要白色，周五看车")]
        dialog.get_by_role("tab", name="推进").click()
        # choose_option opens the list again when a rerun closed it (the clean-clone run at
        # ac5cd11 waited 30 s for 价格谈不拢 on a loaded machine)
        choose_option(page, dialog.locator(".st-key-d_move_to [data-testid='stSelectbox']"), "失败")
        choose_option(page, dialog.locator(".st-key-d_lost_reason [data-testid='stSelectbox']"),
                      "价格谈不拢")
        note = dialog.get_by_label("说明（移至“失败”时必填）")
        click_until(page, dialog.locator(".st-key-d_move_submit button"),
                    lambda: card(engine)[1] == "lost",
                    prepare=lambda: fill_until_held(page, note, "买家嫌贵，差价两千"))
        page.get_by_text("已移至“失败”。").wait_for()
        wait_idle(page)
        # In 失败 now, pinned, and only there (the run's leftovers are gone once it ends).
        page.wait_for_function(
            f"() => document.querySelectorAll('.st-key-card_{card_id}').length === 1"
            f" && ({COLUMN_OF})({card_id}) === 5", timeout=10_000)
        assert page.locator(f".st-key-card_{card_id}").is_visible()
        page.screenshot(path="/tmp/bd_journey_done.png", full_page=True)
    assert tuple(card(engine))[1:] == ("lost", bd.id, "price_gap", "买家嫌贵，差价两千")
