"""A real console process and a real Chromium for journeys and screenshots."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from console.__main__ import streamlit_flags
from console.settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def console_server(database_url: str, port: int | None = None) -> Iterator[str]:
    """Start `streamlit run app.py` with the project's config on a free port (or ``port``, to
    restart a console where a browser left it); yield its URL.

    The console connects as its own role (dh_console), as `make run` does, so the journeys
    exercise its grants; ``database_url`` may name any user of the server.
    """
    from console.db import with_user

    port = port or free_port()
    env = {**os.environ, "DATABASE_URL": with_user(database_url, "dh_console")}
    # As `python -m console serve` starts it (console.ui.launch: no pages/ folder walk).
    cmd = [sys.executable, "-m", "console.ui.launch", "run", str(PROJECT_ROOT / "app.py"),
           *streamlit_flags(), f"--server.port={port}"]
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode(errors="replace"))
            time.sleep(0.3)
        else:
            raise RuntimeError("the console did not come up within 60 s")
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


@contextlib.contextmanager
def browser_page(width: int = 1440, height: int = 900):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          locale="zh-CN", timezone_id="Asia/Shanghai")
            page = context.new_page()
            try:
                yield page
            except BaseException:
                _show_failed_page(page)
                raise
        finally:
            browser.close()


def _show_failed_page(page) -> None:
    """What the page showed when a journey failed, in the test's captured output (a CI log
    has no browser to look at) and as a screenshot under /tmp/browser-failures/."""
    with contextlib.suppress(Exception):
        main = page.locator("[data-testid='stMain']")   # the page, not the navigation
        text = (main if main.count() else page.locator("body")).inner_text(timeout=5_000)
        print(f"--- the page at {page.url} when the journey failed:\n{text[:6000]}")
    with contextlib.suppress(Exception):
        folder = "/tmp/browser-failures"
        os.makedirs(folder, exist_ok=True)
        path = f"{folder}/{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.png"
        page.screenshot(path=path, full_page=True, timeout=10_000)
        print(f"--- screenshot: {path}")


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    # exact: with single sign-on configured the page also has "使用Keycloak登录".
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)
    wait_session_cookie(page)


def wait_session_cookie(page, *, timeout_s: float = 30) -> None:
    """Wait until the browser holds the session cookie. The page writes it from a script in a
    component iframe, which runs after the signed-in page shows: a navigation in between (seen
    once in a clean-clone run under load) reaches the server without it and lands signed out."""
    deadline = time.monotonic() + timeout_s
    while not any(c["name"] == "dh_session" for c in page.context.cookies()):
        if time.monotonic() > deadline:
            raise AssertionError("the session cookie was never written")
        page.wait_for_timeout(100)


def wait_idle(page) -> None:
    """Wait until Streamlit has finished the current run (no running indicator)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=30_000)


def fill_until_held(page, box, value: str, *, attempts: int = 3) -> None:
    """Fill a field and check, once the page is idle, that it still holds the value: a rerun
    still drawing (after the previous press, on a loaded machine) can replace the field after
    the fill, and the form then goes off empty (a clean-clone run's stock journey sold to
    nobody: 请填写买方的车商编号)."""
    for attempt in range(attempts):
        wait_idle(page)
        box.fill(value)
        wait_idle(page)
        if box.input_value() == value:
            return
    raise AssertionError(f"the field did not keep {value!r} after {attempts} fills")


def click_until(page, button, done, *, prepare=None, attempts: int = 3,
                timeout_s: float = 20) -> None:
    """Press ``button`` until ``done()`` (a check of the database: the decision is written)
    holds; ``prepare()`` before each press fills its form again. A press that lands while a
    rerun redraws its form reaches a button about to be replaced and submits nothing (a
    clean-clone run under load settled no claim: its failure screenshot shows the settlement
    form open and the claim still open). Pressing again is safe because ``done()`` read that
    nothing was written; a written decision is never pressed twice."""
    for attempt in range(attempts):
        wait_idle(page)
        if done():             # the last press landed after all, only late
            return
        if prepare is not None:
            prepare()
        button.click()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return
            page.wait_for_timeout(250)
    raise AssertionError(f"pressing {button} {attempts} times wrote nothing")


def open_page(page, link: str, landmark, *, attempts: int = 3) -> None:
    """Click a navigation link until ``landmark`` (a locator on the page it opens) shows. A
    click that lands while the previous page's run is still finishing can be overtaken by
    that run: a clean-clone run under load left the manager on the home page for 30 s with
    增长看板 highlighted in the sidebar (its failure screenshot)."""
    for attempt in range(attempts):
        wait_idle(page)
        page.get_by_role("link", name=link).click()
        try:
            landmark.wait_for(timeout=15_000)
            wait_idle(page)
            return
        except Exception:          # playwright's TimeoutError: the navigation was lost
            if attempt == attempts - 1:
                raise


def open_tab(page, name: str, *, attempts: int = 3) -> None:
    """Click a tab until it is the selected one: a click that lands while a rerun redraws the
    tab bar reaches a detached element and switches nothing (a CI run's growth journey stayed
    on its first tab)."""
    tab = page.get_by_role("tab", name=name)
    for attempt in range(attempts):
        wait_idle(page)
        tab.click()
        try:
            page.wait_for_function("el => el.getAttribute('aria-selected') === 'true'",
                                   arg=tab.element_handle(), timeout=5_000)
            return
        except Exception:          # playwright's TimeoutError: the click reached nothing
            if attempt == attempts - 1:
                raise


def choose_option(page, widget, name: str, *, attempts: int = 3) -> None:
    """Open a select/multiselect and click one option. A rerun that lands while the list is
    open closes it (seen on a loaded machine), so the list is opened again, up to `attempts`."""
    option = page.get_by_role("option", name=name)
    for attempt in range(attempts):
        wait_idle(page)
        if not option.is_visible():
            widget.click()
        try:
            option.wait_for(timeout=5_000)
            option.click(timeout=5_000)
            return
        except Exception:          # playwright's TimeoutError: the list closed under us
            if attempt == attempts - 1:
                raise
