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

An address of several segments (/a/b, /merchant/12) never reached the console at all: the
browser resolved the page's "./static/js/…" script paths against /a/, got the HTML page back
for each script, and drew nothing. ``OneSegment`` (installed by console/ui/launch.py)
redirects such an address to the same words as one segment (/a%2Fb: the slash escaped), so
the page loads and says the address has no page, as /a does.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from console.ui.nav import PAGES

# The addresses app.py registers besides the pages of console/ui/nav.py.
OWN_ADDRESSES = frozenset({"sign-in", "change-password"})

# The default page's own address. Streamlit serves the default page at the site root only
# (its url_path reads ""), so /home, signed in, matched no page and drew "Page not found"
# over home; a request for it is served as the root instead.
ROOT_ALIASES = frozenset({"home"})


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
        if name.strip("/") in ROOT_ALIASES:
            manager.set_script_intent("", "")
            return False
        if name.strip("/") in known_addresses():
            return False
        manager.set_script_intent("", "")
        return True
    except AttributeError:   # not in a script run, or Streamlit's internals moved
        return False


# First segments Streamlit itself serves below (its core, media, components, files, auth):
# never a page address, so never redirected.
STREAMLIT_PREFIXES = frozenset({"_stcore", "media", "component", "static", "app", "auth",
                                "oauth2callback"})


def one_segment_location(raw_path: str, query: str = "", *, base: str = "") -> str | None:
    """Where a page address of several segments goes instead: the same path as one segment
    (its slashes escaped), with its query; None for any other path.

    ``raw_path`` is the path as the browser sent it (percent-escapes kept); ``base`` is
    Streamlit's server.baseUrlPath.
    """
    prefix = "/" + base.strip("/") if base.strip("/") else ""
    if prefix and not (raw_path == prefix or raw_path.startswith(prefix + "/")):
        return None
    rest = raw_path[len(prefix):].strip("/")
    if "/" not in rest or rest.split("/", 1)[0] in STREAMLIT_PREFIXES:
        return None
    return f"{prefix}/{rest.replace('/', '%2F')}" + (f"?{query}" if query else "")


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class OneSegment:
    """ASGI middleware: a page opened at an address of several segments is redirected
    (302) to ``one_segment_location``. Only a browser's page load (GET or HEAD asking for
    HTML) is redirected; scripts, the websocket and Streamlit's own routes pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            accept = dict(scope.get("headers") or ()).get(b"accept", b"")
            if b"text/html" in accept:
                from streamlit import config

                raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
                location = one_segment_location(
                    raw.split("?", 1)[0], scope.get("query_string", b"").decode("latin-1"),
                    base=config.get_option("server.baseUrlPath") or "")
                if location is not None:
                    await send({"type": "http.response.start", "status": 302,
                                "headers": [(b"location", location.encode("latin-1")),
                                            (b"cache-control", b"no-cache"),
                                            (b"content-length", b"0")]})
                    await send({"type": "http.response.body", "body": b""})
                    return
        await self.app(scope, receive, send)
