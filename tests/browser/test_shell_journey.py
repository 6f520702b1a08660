"""Real browser: sign in, switch the language, open each role's home page, sign out."""
import pytest

from tests.browser.live import browser_page, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

ROLE_GREETING_METRIC = {
    "ops": "待分配认证", "bd": "开放寻车", "risk": "未结纠纷",
    "manager": "在架车源+寻车", "admin": "在用员工账号",
}


@pytest.mark.parametrize("role", sorted(ROLE_GREETING_METRIC))
def test_each_role_signs_in_and_sees_its_home(live_console, make_actor, role):
    actor = make_actor(role)
    with browser_page() as page:
        sign_in(page, live_console, actor.username, TEST_PASSWORD)
        page.get_by_role("heading", name=f"{actor.display_name}，你好").wait_for()
        page.get_by_text(ROLE_GREETING_METRIC[role]).first.wait_for()
        page.screenshot(path=f"/tmp/home_{role}.png")


def test_language_switch_and_sign_out(live_console, make_actor):
    actor = make_actor("manager", "admin")
    with browser_page() as page:
        sign_in(page, live_console, actor.username, TEST_PASSWORD)
        page.get_by_text("English", exact=True).click()
        page.get_by_role("heading", name=f"Hello, {actor.display_name}").wait_for()
        page.get_by_role("link", name="Staff accounts").wait_for()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for()
        wait_idle(page)


def test_wrong_password_keeps_the_visitor_out(live_console, make_actor):
    actor = make_actor("ops")
    with browser_page() as page:
        page.goto(live_console)
        page.get_by_label("用户名").fill(actor.username)
        page.get_by_label("密码").fill("wrong-password")
        page.get_by_role("button", name="登录").click()
        page.get_by_text("用户名或密码错误。").wait_for()
