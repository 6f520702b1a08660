"""Single sign-on in a real browser against a real OpenID Connect provider (issue 18): the
provider is its own process (tests/oidc_provider.py: discovery, JWKS, a sign-in form, the
code exchange with PKCE, signed id_tokens); the console is started as `serve` starts it, with
CONSOLE_SSO_* set. Nothing is mocked between the browser, Streamlit's st.login (Authlib) and
the provider.

- A person whose identity an admin linked lands signed in, with their account's roles, on
  the record's link they began at; the sign-in is the console's own server-side session (it
  survives a reload and holds on another console process), and signing out leaves them
  signed out although Streamlit's identity cookie is still in the browser.
- A person without a linked account reads the refusal, and nothing else; once an admin
  links the identity they are let in on the next try.
"""
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console.services import sso_identities
from tests.browser.live import (CHROMIUM, browser_page, choose_option, console_server, free_port,
                                wait_idle)
from tests.conftest import TEST_PASSWORD
from tests.oidc_provider import running_provider

CLIENT_ID = "dealerhub-console"
CLIENT_SECRET = "provider-client-secret-for-tests"
USERS = {
    "li.na": {"password": "pw-li-na-2026", "sub": "f3a1c2d4-0b6e-4c1e-9a57-6f0d2e1b7c11",
              "email": "li.na@example.cn", "name": "李娜"},
    "wang.wei": {"password": "pw-wang-wei-2026", "sub": "0c9d8e7f-1a2b-4c3d-8e9f-a0b1c2d3e4f5",
                 "email": "wang.wei@example.cn", "name": "王伟"},
}
SHOTS = Path(os.environ.get("SSO_SHOTS_DIR", "")) if os.environ.get("SSO_SHOTS_DIR") else None


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI: .ci/browser-deps.sh should have installed it")
        pytest.skip("Debian chromium not installed (run: bash .ci/browser-deps.sh)")


@pytest.fixture
def sso_console(chromium, fresh_db, engine, monkeypatch):
    """A provider process and a console configured for it; yields (console URL, issuer)."""
    console_port, provider_port = free_port(), free_port()
    redirect_uri = f"http://127.0.0.1:{console_port}/oauth2callback"
    with running_provider(port=provider_port, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          redirect_uri=redirect_uri, users=USERS) as issuer:
        for name, value in {"CONSOLE_SSO_PROVIDER": "keycloak",
                            "CONSOLE_SSO_METADATA_URL": f"{issuer}/.well-known/openid-configuration",
                            "CONSOLE_SSO_CLIENT_ID": CLIENT_ID,
                            "CONSOLE_SSO_CLIENT_SECRET": CLIENT_SECRET,
                            "CONSOLE_SSO_REDIRECT_URI": redirect_uri,
                            "CONSOLE_SSO_COOKIE_SECRET": "console-cookie-secret-" + "x" * 20}.items():
            monkeypatch.setenv(name, value)
        with console_server(fresh_db, port=console_port) as url:
            yield url, issuer


def sign_in_at_provider(page, address: str, username: str) -> None:
    """From the console's sign-in page (at ``address``) through the provider's form and back."""
    page.goto(address)
    page.get_by_role("button", name="使用Keycloak登录").click(timeout=30_000)
    page.get_by_role("heading", name="Test identity provider").wait_for(timeout=30_000)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(USERS[username]["password"])
    page.get_by_role("button", name="Sign in at the provider").click()


def password_sign_in(page, url: str, username: str) -> None:
    """live.sign_in's steps, with the button named exactly: "使用Keycloak登录" holds "登录" too."""
    page.goto(url)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(TEST_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)


def test_a_linked_identity_lands_signed_in_with_its_roles_and_signs_out(
        sso_console, fresh_db, engine, console_engine, make_actor):
    url, issuer = sso_console
    admin, person = make_actor("admin"), make_actor("bd", "manager", username="lina")
    with console_engine.begin() as conn:
        sso_identities.link_identity(conn=conn, actor=admin, staff_id=person.id, issuer=issuer,
                                     subject=USERS["li.na"]["sub"])
    with browser_page() as page:
        page.goto(url)
        page.get_by_role("button", name="使用Keycloak登录").wait_for(timeout=30_000)
        wait_idle(page)
        if SHOTS is not None:
            page.screenshot(path=str(SHOTS / "sign-in-sso.png"))
        # A colleague's link to her own cards on the deal board, opened signed out: after
        # the trip through the provider she is on that page, with its filter.
        sign_in_at_provider(page, f"{url}/board?scope=mine", "li.na")
        page.get_by_text("当前用户：LINA（BD、管理层）").wait_for(timeout=30_000)
        page.wait_for_url(f"{url}/board?scope=mine", timeout=30_000)
        nav = page.get_by_test_id("stSidebarNav")
        assert nav.get_by_text("撮合看板").count() == 1          # BD's and managers' pages
        assert nav.get_by_text("员工账号").count() == 0          # not the admin's
        wait_idle(page)
        # The console's own session: a reload resumes it, and so does another console
        # process (a reconnect the proxy sends elsewhere), where she signs out.
        page.goto(url)
        page.get_by_role("heading", name="LINA，你好").wait_for(timeout=30_000)
        wait_idle(page)
        page.reload()
        page.get_by_role("heading", name="LINA，你好").wait_for(timeout=30_000)
        wait_idle(page)
        with console_server(fresh_db) as other:
            # (/board, not /home: signed in, /home is answered with Streamlit's "Page not
            # found" dialog over home, with or without SSO, as home lives at /; reported.)
            page.goto(f"{other}/board")
            page.get_by_text("当前用户：LINA（BD、管理层）").wait_for(timeout=30_000)
            wait_idle(page)
            page.get_by_role("button", name="退出登录").click()
            page.get_by_label("用户名").wait_for(timeout=30_000)
            wait_idle(page)
        # Streamlit's identity cookie is still in the browser: it signs nobody in again.
        page.goto(f"{url}/home")
        page.get_by_role("button", name="使用Keycloak登录").wait_for(timeout=30_000)
        wait_idle(page)
        assert page.get_by_role("button", name="退出登录").count() == 0
        assert page.get_by_role("alert").count() == 0
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            """SELECT array_agg(action ORDER BY id) FROM ops.audit_log
               WHERE actor_id = %s""", (person.id,)).scalar() == [
            "staff.sso_sign_in", "staff.sign_in", "staff.sign_out"]


def test_an_unlinked_identity_reads_the_refusal_until_an_admin_links_it(
        sso_console, engine, console_engine, make_actor):
    url, issuer = sso_console
    admin, person = make_actor("admin"), make_actor("ops", username="wangwei")
    refusal = ("你用来登录的账号（wang.wei@example.cn）还没有关联后台的员工账号，无法进入后台。"
               "请联系管理员，在「单点登录」页为你关联账号后再登录。")
    with browser_page() as page:
        sign_in_at_provider(page, url, "wang.wei")
        page.get_by_text(refusal).wait_for(timeout=30_000)
        wait_idle(page)
        assert page.get_by_role("button", name="退出登录").count() == 0
        page.get_by_label("用户名").wait_for()       # the sign-in page, nothing else
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM ops.staff_sessions").scalar() == 0
        if SHOTS is not None:
            page.screenshot(path=str(SHOTS / "sign-in-sso-refused.png"))
        # An admin, signed in with a password in another browser, links the identity from
        # the refused attempt on the 单点登录 page; the next try lets him in.
        admin_page = page.context.browser.new_context(
            viewport={"width": 1440, "height": 900}, locale="zh-CN",
            timezone_id="Asia/Shanghai").new_page()
        password_sign_in(admin_page, url, admin.username)
        admin_page.goto(f"{url}/sso")
        admin_page.get_by_role("heading", name="单点登录账号关联").wait_for(timeout=30_000)
        # The refused attempt, picked already in 登录尝试 (its name, email and subject).
        expect(admin_page.get_by_label("用户标识（subject）")).to_have_value(
            USERS["wang.wei"]["sub"], timeout=30_000)
        expect(admin_page.get_by_label("邮箱（参考）")).to_have_value("wang.wei@example.cn")
        choose_option(admin_page, admin_page.get_by_label("员工账号"), "wangwei · WANGWEI")
        admin_page.get_by_role("button", name="关联").click()
        admin_page.get_by_text("已把该单点登录账号关联到 wangwei。").wait_for(timeout=30_000)
        wait_idle(admin_page)
        if SHOTS is not None:
            admin_page.screenshot(path=str(SHOTS / "sso-admin.png"), full_page=True)
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                """SELECT staff_id, issuer, subject, linked_by FROM ops.staff_identities"""
            ).all() == [(person.id, issuer, USERS["wang.wei"]["sub"], admin.id)]
        sign_in_at_provider(page, url, "wang.wei")
        page.get_by_role("heading", name="WANGWEI，你好").wait_for(timeout=30_000)
        page.get_by_text("当前用户：WANGWEI（运营）").wait_for()
