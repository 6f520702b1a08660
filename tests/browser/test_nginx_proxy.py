"""The deployment's nginx config (deploy/nginx/console.conf, issue 18) run by nginx itself in
front of two console processes on one database, its addresses only changed (bench/_nginx.py):

- nginx accepts it (``nginx -t``), and the rendering changes no line but the addresses;
- through it, in headless Chromium over https: a person signs in, the page works (its
  websocket passes through: a widget's click reruns the page), a reload keeps them signed
  in, and every request carrying their session cookie goes to one process; that process
  stops, the next page goes to the other one (nginx tried the stopped one first) and the
  person is still signed in there, on the same server-side session;
- a request body above server.maxUploadSize gets 413 from nginx without reaching a console
  (the console refuses the same Content-Length itself); one of exactly that size is passed on.

Which process answered a request is nginx's own record: the test-only access log the
rendering adds (bench/_nginx.py, sticky.log) with the session cookie and $upstream_addr.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import shutil
import ssl
import time
import tomllib

import pytest
import sqlalchemy as sa

from bench import sessions_load
from bench._nginx import CONF, NginxProxy, nginx_binary
from bench._streamlit_client import Session
from console.settings import PROJECT_ROOT
from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, console_server, sign_in, wait_idle
from tests.conftest import TEST_PASSWORD

STREAM = "GET /_stcore/stream "


def _require(*, browser: bool) -> None:
    missing = []
    if nginx_binary() is None:
        missing.append("nginx")
    if browser and not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        missing.append("chromium")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing on CI: .ci/browser-deps.sh "
                        "should have installed it")
        pytest.skip(f"{' and '.join(missing)} not installed (run: bash .ci/browser-deps.sh)")


def _backend(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def _upstream(url: str) -> str:
    return url.split("//")[1]


@contextlib.contextmanager
def _https_page():
    """A Chromium page that accepts the test's own certificate for 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900},
                                          locale="zh-CN", timezone_id="Asia/Shanghai",
                                          ignore_https_errors=True)
            yield context.new_page()
        finally:
            browser.close()


def _wait_for(proxy: NginxProxy, done, what: str, *, timeout_s: float = 60):
    """nginx writes a request's log line when it ends (a websocket's when it closes)."""
    deadline = time.monotonic() + timeout_s
    while not done(hits := proxy.hits()):
        if time.monotonic() > deadline:
            raise AssertionError(f"nginx never logged {what}: {hits}")
        time.sleep(0.2)
    return hits


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _probe_cookies(proxy: NginxProxy, *, most: int = 64) -> dict[str, tuple[str, str]]:
    """Health requests with made-up session cookies, two each, until both processes have
    answered one (each cookie lands on either with even odds: 64 all on one would be a
    chance of 2^-63): cookie -> (process of the first request, of the second)."""
    probes: dict[str, tuple[str, str]] = {}
    for i in range(most):
        cookie = f"probe{i}"
        for _ in range(2):
            conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=_tls(),
                                               timeout=60)
            conn.request("GET", "/_stcore/health", headers={"Cookie": f"dh_session={cookie}"})
            assert conn.getresponse().status == 200
            conn.close()
        first, second = [h.served_by for h in _wait_for(
            proxy, lambda hs: sum(h.cookie == cookie for h in hs) == 2, cookie)
            if h.cookie == cookie]
        probes[cookie] = (first, second)
        if len({served for served, _ in probes.values()}) == 2:
            break
    return probes


def test_nginx_accepts_the_config_changed_only_in_its_addresses(tmp_path):
    _require(browser=False)
    proxy = NginxProxy([("127.0.0.1", 18501), ("127.0.0.1", 18502)], tmp_path, port=18443)
    checked = proxy.check()
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    original = CONF.read_text(encoding="utf-8").splitlines()
    rendered = (tmp_path / "console.conf").read_text(encoding="utf-8").splitlines()
    assert [l for l in original if l not in rendered] == [
        "    server 127.0.0.1:8501 max_fails=3 fail_timeout=10s;",
        "    server 127.0.0.1:8502 max_fails=3 fail_timeout=10s;",
        "    listen 443 ssl;",
        "    ssl_certificate     /etc/ssl/dealerhub/console.crt;",
        "    ssl_certificate_key /etc/ssl/dealerhub/console.key;",
        "    access_log /var/log/nginx/console.access.log console_upstream;"]
    assert [l for l in rendered if l not in original] == [
        "    server 127.0.0.1:18501 max_fails=3 fail_timeout=10s;",
        "    server 127.0.0.1:18502 max_fails=3 fail_timeout=10s;",
        "    listen 127.0.0.1:18443 ssl;",
        f"    ssl_certificate     {tmp_path / 'console.crt'};",
        f"    ssl_certificate_key {tmp_path / 'console.key'};",
        f"    access_log {tmp_path / 'access.log'} console_upstream;",
        f"    access_log {tmp_path / 'sticky.log'} sticky;"]


def test_through_nginx_a_person_stays_on_one_process_and_moves_to_the_other_when_it_stops(
        fresh_db, engine, make_actor, tmp_path):
    _require(browser=True)
    # The staff list is in id order: a disabled account first, then the admin signing in.
    disabled = make_actor("ops")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET is_active = false WHERE id = :i"),
                     {"i": disabled.id})
    person = make_actor("admin")
    # Each console process in its own stack, to stop one; nginx and the browser in theirs.
    with contextlib.ExitStack() as first_stack, contextlib.ExitStack() as second_stack, \
            contextlib.ExitStack() as front:
        first = first_stack.enter_context(console_server(fresh_db))
        second = second_stack.enter_context(console_server(fresh_db))
        stacks = {_upstream(first): first_stack, _upstream(second): second_stack}
        proxy = front.enter_context(
            NginxProxy([_backend(first), _backend(second)], tmp_path).running())
        page = front.enter_context(_https_page())

        def staff_page_works() -> None:
            """Signed in on the staff list; choosing a filter reruns it over the websocket."""
            page.get_by_role("heading", name="员工账号管理").wait_for(timeout=30_000)
            page.get_by_role("button", name="退出登录").wait_for()
            wait_idle(page)
            picked = page.locator(".st-key-staff_pick input")
            assert picked.input_value() == f"{disabled.username} · {disabled.display_name}"
            page.get_by_role("button", name="启用", exact=True).wait_for()
            page.locator(".st-key-staff_status").get_by_text("在用账号", exact=True).click()
            page.get_by_role("button", name="停用", exact=True).wait_for(timeout=30_000)
            wait_idle(page)
            assert picked.input_value() == f"{person.username} · {person.display_name}"
            assert page.get_by_role("button", name="登录", exact=True).count() == 0

        # Sticky by the cookie, not the address: from this one address, made-up cookies are
        # spread over both processes, each cookie's requests always to the same one.
        probes = _probe_cookies(proxy)
        assert {served for served, _ in probes.values()} == {_upstream(first), _upstream(second)}
        assert all(served == again for served, again in probes.values())
        seen = len(proxy.hits())

        sign_in(page, proxy.url, person.username, TEST_PASSWORD)
        [token] = [c["value"] for c in page.context.cookies() if c["name"] == "dh_session"]
        page.goto(f"{proxy.url}/staff")
        staff_page_works()
        page.reload()
        staff_page_works()
        page.goto("about:blank")           # the page's websocket closes: nginx logs it
        hits = _wait_for(proxy, lambda hs: sum(h.cookie == token and h.request.startswith(STREAM)
                                               for h in hs) >= 2,
                         "the two signed-in pages' websockets")[seen:]
        signed_out = [h for h in hits if h.cookie is None]
        signed_in = [h for h in hits if h.cookie is not None]
        # Before the cookie, by address: one process; with it, every request to one process.
        assert len({h.served_by for h in signed_out}) == 1
        assert {h.cookie for h in signed_in} == {token}
        [pinned] = {h.served_by for h in signed_in}
        [other] = {_upstream(first), _upstream(second)} - {pinned}
        # The two pages' websockets (one more only if Streamlit reconnected one), all upgraded.
        streams = [h.status for h in signed_in if h.request.startswith(STREAM)]
        assert len(streams) >= 2 and set(streams) == {101}
        assert all(h.upstreams == (pinned,) for h in signed_in)

        stacks[pinned].close()             # that process stops (a deploy, a crash)
        seen = len(proxy.hits())
        page.goto(f"{proxy.url}/staff")
        staff_page_works()
        page.goto("about:blank")
        hits = _wait_for(proxy, lambda hs: any(h.request.startswith(STREAM) for h in hs[seen:]),
                         "the websocket after the stop")
        after = hits[seen:]
        assert {h.cookie for h in after} == {token}
        assert {h.served_by for h in after} == {other}
        # The page's first request met the stopped process, then went to the other one.
        assert after[0].request.startswith("GET /staff ")
        assert after[0].upstreams == (pinned, other)
        assert {h.status for h in after if h.request.startswith(STREAM)} == {101}
    # One sign-in, one server-side session, resumed on the other process.
    with engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT count(*) FROM ops.staff_sessions
                                       WHERE staff_id = :s AND ended_at IS NULL"""),
                            {"s": person.id}).scalar() == 1


def test_nginx_passes_a_body_up_to_the_console_s_upload_limit_and_refuses_one_above(
        fresh_db, engine, tmp_path):
    _require(browser=False)
    with open(PROJECT_ROOT / "streamlit_config.toml", "rb") as fh:
        upload_mb = tomllib.load(fh)["server"]["maxUploadSize"]
    # Streamlit refuses an upload whose Content-Length is above maxUploadSize MB (1024 x 1024).
    limit = upload_mb * 1024 * 1024
    tls = _tls()
    path = "/_stcore/upload_file/no-session/no-file"      # the upload box PUTs here
    with console_server(fresh_db) as url:
        # Both of the config's processes are this one console.
        proxy = NginxProxy([_backend(url), _backend(url)], tmp_path, tls=True)
        with proxy.running():
            above = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=tls, timeout=60)
            above.putrequest("PUT", path)
            above.putheader("Content-Type", "application/octet-stream")
            above.putheader("Content-Length", str(limit + 1))
            above.endheaders()                 # nginx answers from the header alone
            refused = above.getresponse()
            refused_body = refused.read().decode()
            above.close()
            at = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=tls, timeout=120)
            at.request("PUT", path, body=b"\0" * limit,
                       headers={"Content-Type": "application/octet-stream"})
            passed = at.getresponse()
            passed.read()
            at.close()
            hits = _wait_for(proxy, lambda hs: len(hs) == 2, "both requests")
    assert (refused.status, "413 Request Entity Too Large" in refused_body) == (413, True)
    assert (hits[0].status, hits[0].upstreams) == (413, ())
    # At the limit nginx passes it on to the console. (Which refuses it before reading it, as
    # it refuses any upload without its XSRF token and a live session, and closes the
    # connection while nginx is still sending: nginx tries the config's other entry, a PUT
    # being safe to repeat, here the same console, then answers 502.)
    assert len(hits[1].upstreams) >= 1 and set(hits[1].upstreams) == {_upstream(url)}
    assert hits[1].status == passed.status != 413


def test_the_sessions_load_test_runs_its_sessions_through_nginx(fresh_db, engine, make_actor,
                                                                tmp_path):
    """bench/sessions_load.py puts nginx (the deploy config without TLS) in front of its two
    processes when nginx is installed; its websocket driver signs in and reconnects through it
    (here both of the config's processes are one console)."""
    _require(browser=False)
    person = make_actor("ops")
    with console_server(fresh_db) as url:
        proxy = sessions_load.sticky_proxy([url, url], str(tmp_path))
        assert (type(proxy), proxy.tls, proxy.url) == (NginxProxy, False,
                                                       f"http://127.0.0.1:{proxy.port}")

        async def sign_in_then_reconnect():
            tab = Session(proxy.url)
            await tab.connect()
            try:
                await tab.open("home")
                await tab.sign_in(person.username, TEST_PASSWORD)
                await tab.reconnect()          # a reload: the cookie now goes with it
                return tab.token, await tab.open("cert-queue")
            finally:
                await tab.close()

        with proxy.running():
            token, queue = asyncio.run(sign_in_then_reconnect())
        hits = proxy.hits()
    assert queue.headings[0] == "认证审核队列"
    assert queue.widget("login_username") is None and queue.errors == []
    assert [(h.cookie, h.status, h.served_by) for h in hits if h.request.startswith(STREAM)] == [
        (None, 101, _upstream(url)), (token, 101, _upstream(url))]
    # One cookie held; both of the config's entries are this console, counted as the last.
    assert sessions_load.sessions_per_process(proxy) == {1: 1}
