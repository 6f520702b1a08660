"""Issue 14's leftovers from a walk through the console (AppTest and plain checks; the
browser journeys are in tests/browser/test_daily_use_leftovers.py)."""
from __future__ import annotations

import asyncio

import pytest

from console.ui.addresses import OneSegment, one_segment_location


# ---------------------------------------------------------------- 1. /a/b: one segment

@pytest.mark.parametrize("raw, query, base, expected", [
    ("/a/b", "", "", "/a%2Fb"),
    ("/a/b/", "x=1", "", "/a%2Fb?x=1"),
    ("/merchant/12/docs", "", "", "/merchant%2F12%2Fdocs"),
    ("/%3Cscript%3E/x", "", "", "/%3Cscript%3E%2Fx"),      # escapes kept as sent
    ("/console/a/b", "", "console", "/console/a%2Fb"),    # behind a base URL path
    ("/a", "", "", None),                 # one segment: app.py's own unknown-address words
    ("/", "", "", None),
    ("/console/a", "", "/console/", None),
    ("/other/a/b", "", "console", None),   # outside the base URL path
    ("/_stcore/stream", "", "", None),     # Streamlit's own routes pass through
    ("/static/js/index.js", "", "", None),
    ("/media/abc.png", "", "", None),
    ("/component/x/index.html", "", "", None),
    ("/app/static/logo.png", "", "", None),
])
def test_an_address_of_several_segments_goes_to_one(raw, query, base, expected):
    assert one_segment_location(raw, query, base=base) == expected


def _call(scope: dict) -> list[dict]:
    """Run OneSegment around an app that answers 200, collect what it sends."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"page"})

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    asyncio.run(OneSegment(app)(scope, receive, send))
    return sent


def _scope(path: bytes, accept: bytes, method: str = "GET", query: bytes = b"") -> dict:
    return {"type": "http", "method": method, "path": path.decode(), "raw_path": path,
            "query_string": query, "headers": [(b"accept", accept)]}


def test_a_page_load_of_several_segments_is_redirected_and_nothing_else():
    html = b"text/html,application/xhtml+xml,*/*;q=0.8"
    sent = _call(_scope(b"/a/b", html, query=b"case=3"))
    assert sent[0]["status"] == 302
    assert dict(sent[0]["headers"])[b"location"] == b"/a%2Fb?case=3"
    # The redirected address is one segment: it reaches the page (no loop).
    assert _call(_scope(b"/a%2Fb", html))[0]["status"] == 200
    # A script or a fetch (no HTML asked for), a POST, one segment: passed through.
    assert _call(_scope(b"/a/static/js/index.js", b"*/*"))[0]["status"] == 200
    assert _call(_scope(b"/a/b", html, method="POST"))[0]["status"] == 200
    assert _call(_scope(b"/a", html))[0]["status"] == 200
