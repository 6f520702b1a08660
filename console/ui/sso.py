"""The sign-in page's single sign-on (console/sso.py): the button that starts ``st.login``
when SSO is configured, and the step of app.py that turns the identity Streamlit brings back
from the provider into the console's own server-side session, once."""
from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from console import db, sso
from console.errors import PermissionDenied
from console.ui import start_session, t

_log = logging.getLogger("console.ui.sso")
_TRIED = "_sso_tried"   # the id_token (issuer, subject, nonce) this tab already offered


def sign_in_button() -> None:
    """"Sign in with …" under the password form, only when SSO is configured."""
    cfg = sso.config()
    if cfg is None:
        return
    st.caption(t("sso.or"))
    if st.button(t("sso.button", provider=t(f"sso.provider.{cfg.provider}")),
                 icon=":material/key:", key="sso_sign_in", width="stretch"):
        st.login(cfg.provider)   # to the provider; back at / with the identity cookie


def take_identity() -> bool:
    """Sign this tab in with the identity the provider signed (st.user), if any; True if it
    did. A refusal worth telling (no account, disabled, locked) is the sign-in page's notice;
    an id_token used before or too old (Streamlit's identity cookie stays for 30 days) is
    passed over in silence, so a signed-out person sees the plain sign-in page."""
    if not sso.configured():
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
    return True
