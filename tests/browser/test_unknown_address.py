"""Real browser: an address that names no page shows the console's own words in the person's
language over the sign-in (or home), never Streamlit's English "Page not found"
(console/ui/addresses.py)."""
from tests.browser.live import browser_page, console_server, wait_idle, wait_session_cookie
from tests.conftest import TEST_PASSWORD

ZH = "这个地址没有对应的页面，已为你打开首页。请检查链接是否完整，或从左侧菜单进入。"
EN = ("There is no page at this address; the start page is shown instead. "
      "Check that the link is complete, or use the menu on the left.")


def no_streamlit_dialog(page) -> None:
    wait_idle(page)
    page.wait_for_timeout(500)   # the dialog came with the first run's messages
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_text("You have requested page").count() == 0


def test_an_unknown_address_signed_out_shows_our_words_over_the_sign_in(live_console,
                                                                       make_actor):
    person = make_actor("ops")
    with browser_page() as page:
        page.goto(f"{live_console}/nonexistent")
        page.get_by_text(ZH).wait_for(timeout=30_000)
        page.get_by_role("button", name="登录").wait_for()
        no_streamlit_dialog(page)
        page.screenshot(path="/tmp/unknown_address_signed_out.png")
        # The sign-in still works from there, and the words do not follow the person.
        page.get_by_label("用户名").fill(person.username)
        page.get_by_label("密码").fill(TEST_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("heading", name=f"{person.display_name}，你好").wait_for(timeout=30_000)
        wait_session_cookie(page)
        wait_idle(page)
        assert page.get_by_text(ZH).count() == 0
        # Home's own address, signed in: Streamlit serves the default page at / only, and
        # drew its "Page not found" over home for /home.
        page.goto(f"{live_console}/home")
        page.get_by_role("heading", name=f"{person.display_name}，你好").wait_for(timeout=30_000)
        no_streamlit_dialog(page)
        assert page.get_by_text(ZH).count() == 0
        # Signed in too, and a hostile address is not echoed. (A path of several segments,
        # /a/b, is redirected to one: tests/browser/test_daily_use_leftovers.py.)
        page.goto(f"{live_console}/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        page.get_by_text(ZH).wait_for(timeout=30_000)
        page.get_by_role("heading", name=f"{person.display_name}，你好").wait_for()
        no_streamlit_dialog(page)
        assert "<script>" not in page.inner_text("body")


def test_an_unknown_address_speaks_the_consoles_language(fresh_db, engine, make_actor,
                                                        monkeypatch):
    # A new page load starts a new session: its language is the console's default.
    monkeypatch.setenv("CONSOLE_LANGUAGE", "en")
    person = make_actor("admin")
    with console_server(fresh_db) as url, browser_page() as page:
        page.goto(f"{url}/staff-typo")
        page.get_by_text(EN).wait_for(timeout=30_000)
        page.get_by_role("button", name="Sign in").wait_for()
        no_streamlit_dialog(page)
        page.get_by_label("Username").fill(person.username)
        page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name=f"Hello, {person.display_name}").wait_for(timeout=30_000)
        page.goto(f"{url}/staff-typo")
        page.get_by_text(EN).wait_for(timeout=30_000)
        page.get_by_role("heading", name=f"Hello, {person.display_name}").wait_for()
        no_streamlit_dialog(page)
        page.screenshot(path="/tmp/unknown_address_en.png")
