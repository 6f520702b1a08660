"""`python -m console.ui.launch run app.py …`: `streamlit run`, minus the pages/ folder walk.

Streamlit (1.67) decides once per process, when the first browser connects, whether the app
uses its old multipage mode: if a folder named ``pages/`` sits beside the main script, the
first run after a start lists every file in it by file name in the sidebar (the "raw page
list" staff saw for about a second) and answers any other address with its English "Page
not found" — before app.py's own st.navigation call has run and switched the mode off for
the rest of the process. Clicking one of those raw entries ran a page file directly while
the real navigation was being built: the import race of the first clicks.

The console registers every page itself (app.py, console/ui/nav.py), so the old mode is
switched off here, before the server starts and any browser connects. Everything else is
Streamlit's own command line, unchanged.
"""
from __future__ import annotations

import sys


def main() -> int:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    # The flag is read when the first session starts; False means "st.navigation decides".
    PagesManager.uses_pages_directory = False
    return cli.main()   # click reads sys.argv: run app.py --server.port=…


if __name__ == "__main__":
    sys.exit(main())
