"""AppTest helpers: the console signed in as a given actor, in a given language."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from console.settings import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")


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
