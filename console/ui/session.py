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
_TOKEN = "_session_cookie_token"    # this tab signed in afresh with this token
_CLEAR = "_session_cookie_clear"    # this tab signed out: the browser drops its token


def browser_token() -> str | None:
    """The token the browser sent when this connection opened, if it looks like one."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:   # no browser behind this run (AppTest, a bare script run)
        return None
    return value if sessions.is_token(value) else None


def client_ip() -> str | None:
    """The address an admin reads in the person's session list (information, not a control).

    Staff reach the console through the office's reverse proxy on the same machine, so the
    connection comes from 127.0.0.1 (st.context.ip_address says None) and the person's
    address is the right-most X-Forwarded-For entry, the one our proxy added (entries left
    of it are whatever the browser claimed).
    """
    try:
        direct = st.context.ip_address
        if direct is not None:
            return direct
        forwarded = st.context.headers.get("X-Forwarded-For") or ""
    except Exception:
        return None
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-1][:64] if hops else "127.0.0.1"


def user_agent() -> str | None:
    try:
        return st.context.headers.get("User-Agent")
    except Exception:
        return None


def remember(token: str) -> None:
    """Have the browser keep ``token``."""
    if sessions.is_token(token):
        st.session_state[_TOKEN] = token
        st.session_state.pop(_CLEAR, None)


def forget() -> None:
    """Have the browser drop its token."""
    if st.session_state.pop(_TOKEN, None) is not None or browser_token() is not None:
        st.session_state[_CLEAR] = True


def _script(value: str, age: int) -> str:
    return ("<script>(function(){var c='%s=%s; Path=/; Max-Age=%d; SameSite=Strict';"
            "if(location.protocol==='https:'){c+='; Secure';}document.cookie=c;})();</script>"
            % (COOKIE, value, age))


def write_pending() -> None:
    """Put the cookie script on the page, from every run of the main script.

    Setting: on every run while this tab holds a token it signed in with. A run can be
    replaced before the browser draws it (the sign-in's rerun lands on /sign-in, which
    switches to home), so a one-off element could be lost; the same element on every run
    is mounted once, so the script runs once. Clearing: once, after a sign-out (a token
    left behind opens nothing: the server ended it).
    """
    token = st.session_state.get(_TOKEN)
    if token is not None and sessions.is_token(token):
        html = _script(token, COOKIE_DAYS * 86_400)
    elif st.session_state.pop(_CLEAR, None):
        html = _script("", 0)
    else:
        return
    with st.sidebar:
        st.html(html, unsafe_allow_javascript=True)
