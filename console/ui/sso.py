"""The sign-in page's single sign-on (console/sso.py): the button that starts ``st.login``
when SSO is configured, and the step of app.py that turns the identity Streamlit brings back
from the provider into the console's own server-side session, once.

A record's link opened while signed out (/cert-case?case=12) survives a password sign-in,
whose rerun keeps the address; the trip through the provider does not (Streamlit brings the
browser back to /). So the sign-in page keeps its own address in a short-lived cookie,
``dh_sso_next``, and after a good single sign-on app.py opens that page with its query
(``follow_target``). The cookie only says where to go: the address must name one of the
console's pages, and the page checks the person's roles as always.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from console import db, sso
from console.errors import PermissionDenied
from console.ui import start_session, t

_log = logging.getLogger("console.ui.sso")
_TRIED = "_sso_tried"   # the id_token (issuer, subject, nonce) this tab already offered
_NEXT = "_sso_next"     # the page (url path, query) to open once signed in
NEXT_COOKIE = "dh_sso_next"
NEXT_SECONDS = 900      # the trip through the provider takes seconds to minutes
NEXT_MAX = 300          # characters of a page address kept


def sign_in_button() -> None:
    """"Sign in with …" under the password form, only when SSO is configured."""
    cfg = sso.config()
    if cfg is None:
        return
    st.caption(t("sso.or"))
    if st.button(t("sso.button", provider=t(f"sso.provider.{cfg.provider}")),
                 icon=":material/key:", key="sso_sign_in", width="stretch"):
        st.login(cfg.provider)   # to the provider; back at / with the identity cookie
    _remember_here()


def _target(address: str) -> tuple[str, dict[str, str]] | None:
    """(url path, query) of an address 'cert-case?case=12' when it names one of the
    console's pages other than sign-in; else None."""
    from console.ui.addresses import OWN_ADDRESSES, known_addresses

    if not isinstance(address, str) or len(address) > NEXT_MAX:
        return None
    name, _, query = address.partition("?")
    if name not in known_addresses() or name in OWN_ADDRESSES:
        return None
    params = dict(parse_qsl(query, keep_blank_values=False))
    if any(not k.isprintable() or not v.isprintable() for k, v in params.items()):
        return None
    return name, params


def _here() -> str | None:
    """This sign-in page's own address ('cert-case?case=12'), when it names a page."""
    try:
        url = st.context.url
        query = st.query_params.to_dict()
    except Exception:   # noqa: BLE001 - no browser behind this run
        return None
    name = urlsplit(url or "").path.rstrip("/").rsplit("/", 1)[-1]
    address = name + (f"?{urlencode(query)}" if query else "")
    return address if _target(address) is not None else None


def _remember_here() -> None:
    """Keep this page's address in the browser for after the provider (or forget the one
    kept before, at an address that names no page): a script on every sign-in page run,
    like console/ui/session.py's token; the value is percent-encoded, so the script holds
    only [A-Za-z0-9%._~-]."""
    here = _here()
    value, age = (quote(here, safe=""), NEXT_SECONDS) if here else ("", 0)
    with st.sidebar:   # out of the page's layout, as the session cookie's script
        st.html("<script>(function(){var c='%s=%s; Path=/; Max-Age=%d; SameSite=Strict';"
                "if(location.protocol==='https:'){c+='; Secure';}document.cookie=c;})();"
                "</script>" % (NEXT_COOKIE, value, age), unsafe_allow_javascript=True)


def _kept_target() -> tuple[str, dict[str, str]] | None:
    try:
        raw = st.context.cookies.get(NEXT_COOKIE)
    except Exception:   # noqa: BLE001 - no browser behind this run
        return None
    return _target(unquote(raw)) if raw else None


def follow_target(allowed: set[str] | frozenset[str]) -> None:
    """Once, right after a single sign-on: open the page the sign-in was asked from, with
    its query, when it is one of ``allowed`` (the person's own pages); else stay (home).
    Call after st.navigation, before running its page."""
    target = st.session_state.pop(_NEXT, None)
    if target is None or target[0] not in allowed:
        return
    from console.ui.links import page_file

    name, params = target
    st.switch_page(page_file(name), query_params=params)


def take_identity() -> bool:
    """Sign this tab in with the identity the provider signed (st.user), if any; True if it
    did. A refusal worth telling (no account, disabled, locked) is the sign-in page's notice;
    an id_token used before or too old (Streamlit's identity cookie stays for 30 days) is
    passed over in silence, so a signed-out person sees the plain sign-in page."""
    if not sso.configured():
        return False
    from streamlit import config

    if config.get_option("server.trustedUserHeaders"):
        # st.user would also hold whatever those request headers say: no identity from it.
        _log.error("single sign-on is off while server.trustedUserHeaders is set")
        return False
    try:
        claims = st.user.to_dict()
    except Exception:   # noqa: BLE001 - no browser behind this run (AppTest, a bare script)
        return False
    identity = sso.identity_from_claims(claims)
    if identity is None:
        return False
    offered = (identity.issuer, identity.subject, identity.nonce)
    if st.session_state.get(_TRIED) == offered:
        return False
    st.session_state[_TRIED] = offered
    try:
        actor = sso.sign_in(engine=db.get_engine(), identity=identity)
    except PermissionDenied as refusal:
        if refusal.key in sso.TOLD:
            st.session_state["sign_in_notice"] = (refusal.key, refusal.params)
        return False
    except SQLAlchemyError as err:   # the sign-in page stays; the person can try again
        _log.error("single sign-on failed in the database: %s", type(err).__name__)
        st.session_state["sign_in_notice"] = ("error.unexpected", {})
        return False
    start_session(actor)   # the same server-side session a password opens
    target = _kept_target()
    if target is not None:
        st.session_state[_NEXT] = target
    return True
