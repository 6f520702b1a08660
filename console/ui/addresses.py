"""An address that names no page (http://host/nonexistent): the console's own words.

Streamlit (1.67) answers a URL path that matches no registered page with an English
"Page not found" dialog over whatever the default page is, the Chinese sign-in included.
It cannot be told otherwise: st.Page takes no catch-all url_path (and none with a "/").
So before app.py builds its navigation, ``unknown_address`` looks at the page name the
browser asked for; when it names none of the console's pages, it clears that request, so
Streamlit runs the default page (sign-in, or home) without its dialog, and app.py says in
the person's language that the address has no page. The path itself is never shown.

It reads Streamlit's page request from the script run context (``pages_manager``, the
object st.navigation resolves the page with); if that ever moves, the function does
nothing and Streamlit's own dialog is back, which tests/browser/test_unknown_address.py
would notice.
"""
from __future__ import annotations

from console.ui.nav import PAGES

# The addresses app.py registers besides the pages of console/ui/nav.py.
OWN_ADDRESSES = frozenset({"sign-in", "change-password"})


def known_addresses() -> frozenset[str]:
    return frozenset(spec.url_path for spec in PAGES) | OWN_ADDRESSES


def unknown_address() -> bool:
    """True when this run's address names no page of the console (its request is then
    cleared, and the default page runs without Streamlit's "Page not found")."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        manager = get_script_run_ctx().pages_manager
        name = manager.intended_page_name
        if manager.intended_page_script_hash or not name:
            return False   # a page chosen in the app (by its hash), or the site root
        if name.strip("/") in known_addresses():
            return False
        manager.set_script_intent("", "")
        return True
    except AttributeError:   # not in a script run, or Streamlit's internals moved
        return False
