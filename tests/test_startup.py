"""Start-up (issue 14): the pages' modules imported once, under a lock, before any page runs;
the console started without Streamlit's pages/ folder walk."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from console.settings import PROJECT_ROOT
from console.ui import startup


def test_the_preload_list_is_read_from_the_pages():
    names = startup.page_imports()
    # A page's "from console.services import deals" names the module deals, not only the
    # package; a plain "import plotly.express as px" is there as written.
    assert {"console.services.deals", "console.services.certification", "console.ui.links",
            "plotly.express", "streamlit"} <= set(names)
    assert names == sorted(set(names))


def test_eight_first_clicks_at_once_import_everything_once_without_an_error():
    # A fresh interpreter: nothing of the console imported yet, as right after a start.
    script = textwrap.dedent("""
        import sys, threading
        sys.path.insert(0, %r)
        from console.ui import startup
        errors, barrier = [], threading.Barrier(8)
        def click():
            barrier.wait()
            try:
                startup.preload()
            except BaseException as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=click) for _ in range(8)]
        [t.start() for t in threads]
        [t.join(120) for t in threads]
        missing = [n for n in startup.page_imports()
                   if n.startswith("console.services.") and n.count(".") == 2
                   and n not in sys.modules]
        print(errors, missing, startup._done)
    """ % str(PROJECT_ROOT))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=PROJECT_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[] [] True"


def test_the_console_starts_without_the_pages_folder_walk():
    from console.__main__ import streamlit_flags  # noqa: F401  (the serve command's module)

    source = (PROJECT_ROOT / "console" / "__main__.py").read_text(encoding="utf-8")
    assert '"-m", "console.ui.launch", "run"' in source
    out = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['x', '--version']; "
         "from console.ui import launch; from streamlit.runtime.pages_manager import "
         "PagesManager as P\ntry:\n    launch.main()\nexcept SystemExit:\n    pass\n"
         "print(P.uses_pages_directory)"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-2000:]
