"""Real browser: issue 14's leftovers (tests/test_daily_use_leftovers.py has the rest)."""
from __future__ import annotations

import urllib.error
import urllib.request

from tests.browser.live import browser_page, open_page, sign_in, wait_idle, wait_session_cookie
from tests.conftest import TEST_PASSWORD

UNKNOWN_ZH = "这个地址没有对应的页面，已为你打开首页。请检查链接是否完整，或从左侧菜单进入。"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_an_address_of_several_segments_says_it_has_no_page(live_console, make_actor):
    # The server answers a page load of /a/b with the address as one segment.
    request = urllib.request.Request(f"{live_console}/a/b?case=1",
                                     headers={"Accept": "text/html"})
    try:
        urllib.request.build_opener(_NoRedirect).open(request)
        raise AssertionError("no redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 302
        assert answer.headers["Location"] == "/a%2Fb?case=1"
    person = make_actor("ops")
    with browser_page() as page:
        # Signed out: the words over the sign-in (it was a blank page).
        page.goto(f"{live_console}/a/b")
        page.get_by_text(UNKNOWN_ZH).wait_for(timeout=30_000)
        page.get_by_role("button", name="登录").wait_for()
        page.get_by_label("用户名").fill(person.username)
        page.get_by_label("密码").fill(TEST_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("heading", name=f"{person.display_name}，你好").wait_for(timeout=30_000)
        wait_session_cookie(page)
        # Signed in, a record-like path under a real page: the words over home.
        page.goto(f"{live_console}/cert-case/12")
        page.get_by_text(UNKNOWN_ZH).wait_for(timeout=30_000)
        page.get_by_role("heading", name=f"{person.display_name}，你好").wait_for()
        wait_idle(page)
        assert page.get_by_text("Page not found").count() == 0


def test_a_reload_keeps_the_language_the_person_chose(live_console, make_actor):
    person = make_actor("admin")
    with browser_page() as page:
        sign_in(page, live_console, person.username, TEST_PASSWORD)
        wait_idle(page)
        page.get_by_role("radiogroup", name="语言 / Language").get_by_text(
            "English", exact=True).click()
        page.get_by_role("heading", name=f"Hello, {person.display_name}").wait_for()
        open_page(page, "Staff accounts", page.get_by_role("heading", name="Staff accounts"))
        page.reload()   # a new session, resumed from the cookie: still English
        page.get_by_role("heading", name="Staff accounts").wait_for(timeout=30_000)
        page.get_by_role("button", name="Sign out").wait_for()
        wait_idle(page)
        assert page.get_by_text("退出登录").count() == 0
    # Another browser (no cookie): the sign-in page in the console's default language, then
    # the person's own language once signed in.
    with browser_page() as other:
        other.goto(live_console)
        other.get_by_label("用户名").fill(person.username)
        other.get_by_label("密码").fill(TEST_PASSWORD)
        other.get_by_role("button", name="登录").click()
        other.get_by_role("heading", name=f"Hello, {person.display_name}").wait_for(
            timeout=30_000)
