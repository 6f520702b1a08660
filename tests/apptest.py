"""AppTest helpers: the console signed in as a given actor, in a given language.

Every AppTest runs the app as it is served (``serve_as_launched`` and
``run_options_as_served``, applied when this module is imported; tests/conftest.py imports
it, so it holds for every test, helpers or not).
"""
from __future__ import annotations

from streamlit import config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from console.__main__ import streamlit_options
from console.settings import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")


def serve_as_launched() -> None:
    """Keep Streamlit's legacy pages/ folder mode off in AppTest, as console/ui/launch.py
    keeps it off for the served console.

    AppTest resets ``PagesManager.uses_pages_directory`` before every run, and with a
    ``pages/`` folder beside app.py the flag comes back on: from the second run of an
    AppTest on, Streamlit would run a page file whose name matches the page's URL
    (pages/home.py for /home) bare, without app.py and its sidebar, which the served
    console never does. Idempotent; process-wide (AppTest runs in this process).
    """
    if getattr(PagesManager.__init__, "as_served", False):
        return
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    init.as_served = True
    PagesManager.__init__ = init


def run_options_as_served() -> None:
    """Run scripts with streamlit_config.toml's [runner] options, as the served console does
    (its other sections concern the server and the browser, which AppTest has none of).

    Without this AppTest runs with magic on, and magic parses each page with ``ast.parse``.
    CPython 3.11 keeps that parser's recursion depth per interpreter, not per thread, so two
    threads parsing at once can fail with "SystemError: AST constructor recursion depth
    mismatch" (cpython#106905): a clean-clone run under load failed an AppTest of the task
    page with it. With magic off, as served, no page is parsed into Python AST objects.
    """
    for key, value in streamlit_options().items():
        if key.startswith("runner."):
            config.set_option(key, value)


serve_as_launched()
run_options_as_served()


def app_as(actor=None, *, lang: str = "zh", page: str | None = None) -> AppTest:
    """Run the console signed in as ``actor`` and, if given, switch to ``page`` (pages/x.py)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if actor is not None:
        at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def page_script_as(actor, path: str, *, lang: str = "zh") -> AppTest:
    """Run one page script directly, outside the navigation (as a URL guess would)."""
    at = AppTest.from_file(str(PROJECT_ROOT / path), default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    return at.run()
