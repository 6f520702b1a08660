"""The browser's half of a lasting sign-in: a cookie holding the session's opaque token.

How the token reaches the browser, and why this way (Streamlit 1.67):

- Streamlit has no API to set a cookie. ``st.context.cookies`` is read-only: the cookies the
  browser sent with the request that opened the connection (the page load, a reload, a
  reconnect after a console restart). So reading is native, and writing is done by the
  browser itself: ``st.html(..., unsafe_allow_javascript=True)`` renders into the page (not
  an iframe) and runs a two-line script setting ``document.cookie``.
- The cookie is ``SameSite=Strict`` (never sent on a request another site starts), ``Path=/``,
  ``Secure`` when the console is served over https (the reverse proxy), and lasts
  COOKIE_DAYS; the server decides whether it still opens anything (idle expiry, sign-out,
  an admin ending it: console/sessions.py).
- The trade-off: a cookie written by script cannot be ``HttpOnly``, so script injected into
  the page could read it. The console renders no untrusted HTML (st.html only here, with a
  token we generated; markdown is Streamlit's sanitised renderer), the token is random and
  only its hash is stored, and an admin can end the session. The alternative, the token in
  the URL (st.query_params), was refused: it would be copied with every record link,
  land in browser history and proxy logs, and be lost on a link without it.
- Streamlit's own websocket carries the cookie (same origin), which is how
  ``st.context.cookies`` sees it on the next connection.

The token's format is checked before any use (console.sessions.is_token); the script is
built from that checked value only.
"""
from __future__ import annotations

import streamlit as st

from console import sessions

COOKIE = "dh_session"
COOKIE_DAYS = 30
_PENDING = "_session_cookie_pending"   # the token to write, or "" to clear it


def browser_token() -> str | None:
    """The token the browser sent when this connection opened, if it looks like one."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:   # no browser behind this run (AppTest, a bare script run)
        return None
    return value if sessions.is_token(value) else None


def client_ip() -> str | None:
    try:
        return st.context.ip_address
    except Exception:
        return None


def user_agent() -> str | None:
    try:
        return st.context.headers.get("User-Agent")
    except Exception:
        return None


def remember(token: str) -> None:
    """Have the browser keep ``token`` (written on the next run's render)."""
    if sessions.is_token(token):
        st.session_state[_PENDING] = token


def forget() -> None:
    """Have the browser drop its token."""
    st.session_state[_PENDING] = ""


def write_pending() -> None:
    """Write (or clear) the cookie if a sign-in or sign-out asked for it; once."""
    pending = st.session_state.pop(_PENDING, None)
    if pending is None:
        return
    if pending and sessions.is_token(pending):
        value, age = pending, COOKIE_DAYS * 86_400
    else:
        value, age = "", 0
    script = (
        "<script>(function(){var c='%s=%s; Path=/; Max-Age=%d; SameSite=Strict';"
        "if(location.protocol==='https:'){c+='; Secure';}document.cookie=c;})();</script>"
        % (COOKIE, value, age))
    with st.sidebar:
        st.html(script, unsafe_allow_javascript=True)
