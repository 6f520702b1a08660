"""Real browser (issue 19): a risk officer opens /vip's fee discount tab, widens it to every
term, reads the member orders charged more than the tier's fee with the refund due, and
switches to English: the window stays on every term, in English, with the same figures."""
from playwright.sync_api import expect

from console.i18n import translate
from tests.browser.live import browser_page, choose_option, open_tab, sign_in, wait_idle
from tests.browser.test_import_docs_journey import switch_language
from tests.conftest import TEST_PASSWORD
from tests.test_vip_fees import members  # noqa: F401 - the fixture


def test_risk_reads_the_refunds_due_and_keeps_the_window_in_english(live_console, members,
                                                                     make_actor):
    risk = make_actor("risk")
    zh = lambda key, **kw: translate(key, "zh", **kw)     # noqa: E731
    en = lambda key, **kw: translate(key, "en", **kw)     # noqa: E731
    with browser_page() as page:
        sign_in(page, live_console, risk.username, TEST_PASSWORD)
        page.goto(f"{live_console}/vip")
        page.get_by_role("heading", name=zh("finance.vip.page.title")).wait_for(timeout=30_000)
        wait_idle(page)
        open_tab(page, zh("finance.vip.page.tab.fees"))
        choose_option(page, page.locator(".st-key-vip_fee_window"), zh("finance.vip.fees.window_all"))
        wait_idle(page)
        page.get_by_text(zh("finance.vip.fees.refund", amount="¥170.00"), exact=False).wait_for()

        switch_language(page, "English")
        open_tab(page, en("finance.vip.page.tab.fees"))
        # The choice is the combobox's shown value (an input's value, not text).
        window = page.locator(".st-key-vip_fee_window").get_by_role("combobox")
        expect(window).to_have_value(en("finance.vip.fees.window_all"))
        page.get_by_text(en("finance.vip.fees.refund", amount="¥170.00"), exact=False).wait_for()
        page.screenshot(path="/tmp/vip_fees_journey_en.png", full_page=True)
