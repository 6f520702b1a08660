"""Two console processes on one database (issue 18), as behind a proxy that sends a
reconnect to the other process: a person signed in on one is signed in on the other, and
signing out on either ends the sign-in on both. Browser cookies are per host, not per port,
so one browser on 127.0.0.1 meets both processes as it would meet them behind one address."""
import os
import shutil

import pytest

from tests.browser.live import CHROMIUM, browser_page, console_server, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD


def test_a_sign_in_holds_on_another_process_and_a_sign_out_ends_it_on_both(
        fresh_db, engine, make_actor):
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI: .ci/browser-deps.sh should have installed it")
        pytest.skip("Debian chromium not installed (run: bash .ci/browser-deps.sh)")
    person = make_actor("admin")
    greeting = f"{person.display_name}，你好"
    with console_server(fresh_db) as first, console_server(fresh_db) as second, \
            browser_page() as page:
        sign_in(page, first, person.username, TEST_PASSWORD)
        page.get_by_role("heading", name=greeting).wait_for()
        wait_idle(page)
        # The reconnect lands on the other process: still signed in, on a record's URL too.
        page.goto(f"{second}/staff?status=active")
        page.get_by_role("heading", name="员工账号管理").wait_for(timeout=30_000)
        page.get_by_role("button", name="退出登录").wait_for()
        wait_idle(page)
        # Signed out there, the first process does not know the person any more either.
        page.get_by_role("button", name="退出登录").click()
        page.get_by_label("用户名").wait_for(timeout=30_000)
        wait_idle(page)
        page.goto(f"{first}/home")
        page.get_by_label("用户名").wait_for(timeout=30_000)
        wait_idle(page)
        assert page.get_by_role("button", name="退出登录").count() == 0
