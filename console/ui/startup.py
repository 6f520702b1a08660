"""Start-up: every module the pages use is imported once, under a lock, before any page runs.

Streamlit runs each browser session's script in its own thread. Right after a start, the
first clicks of two people (or two tabs) can run two pages at once, and both threads then
import the same modules (pandas, plotly, the services) for the first time. Python's import
machinery takes a lock per module, but a chain of imports that loops back (a package
importing a submodule that imports the package) can hand the second thread a module that
is still half-initialised: "ImportError: cannot import name … from partially initialized
module". The console's first run imports them all here, in one thread, while the others
wait on the lock; after that every import is a dictionary look-up.

The list is read from the pages themselves (their import statements), so a page that
starts using a new module is covered without anyone remembering to add it here.
"""
from __future__ import annotations

import ast
import importlib
import logging
import threading
from pathlib import Path

from console.settings import PROJECT_ROOT

_log = logging.getLogger("console.startup")
_lock = threading.Lock()
_done = False


def page_imports(pages_dir: Path = PROJECT_ROOT / "pages") -> list[str]:
    """The modules the page scripts import (sorted, each once)."""
    names: set[str] = set()
    for path in sorted(pages_dir.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                # "from console.services import deals": deals is a module too.
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(names)


def preload() -> None:
    """Import every module the pages use, once per process; concurrent callers wait."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        for name in page_imports():
            try:
                importlib.import_module(name)
            except ImportError:
                # "from x import a_function": not a module; its package is imported above.
                continue
            except Exception:  # a broken page module shows its own error when opened
                _log.exception("preloading %s failed", name)
        _done = True
