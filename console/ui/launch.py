"""`python -m console.ui.launch run app.py …`: `streamlit run`, minus the pages/ folder walk.

Streamlit (1.67) decides once per process, when the first browser connects, whether the app
uses its old multipage mode: if a folder named ``pages/`` sits beside the main script, the
first run after a start lists every file in it by file name in the sidebar (the "raw page
list" staff saw for about a second) and answers any other address with its English "Page
not found" — before app.py's own st.navigation call has run and switched the mode off for
the rest of the process. Clicking one of those raw entries ran a page file directly while
the real navigation was being built: the import race of the first clicks.

The console registers every page itself (app.py, console/ui/nav.py), so the old mode is
switched off here, before the server starts and any browser connects.

An address of several segments (/a/b) was a blank page (its scripts resolved against /a/):
the server redirects it to one segment (console/ui/addresses.py OneSegment), whose page says
in the person's language that the address has no page. Everything else is Streamlit's own
command line, unchanged.
"""
from __future__ import annotations

import sys


def install_one_segment() -> None:
    """Add console.ui.addresses.OneSegment to the middleware Streamlit's server is built
    with (innermost: Streamlit's path checks run first)."""
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    from console.ui.addresses import OneSegment

    streamlit_own = starlette_app.create_streamlit_middleware
    if getattr(streamlit_own, "one_segment", False):
        return

    def with_one_segment() -> list:
        return [*streamlit_own(), Middleware(OneSegment)]

    with_one_segment.one_segment = True   # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = with_one_segment


def main() -> int:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    # The flag is read when the first session starts; False means "st.navigation decides".
    PagesManager.uses_pages_directory = False
    install_one_segment()
    # Single sign-on: st.login's provider from the settings into Streamlit's secrets, in this
    # process, before the server is built (console/sso.py); half a configuration stops here.
    from console import sso
    try:
        sso.feed_streamlit()
    except sso.ConfigurationError as err:
        print(f"console: {err}", file=sys.stderr)
        return 2
    return cli.main()   # click reads sys.argv: run app.py --server.port=…


if __name__ == "__main__":
    sys.exit(main())
