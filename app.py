"""Entry point: `streamlit run app.py` (the Makefile applies streamlit_config.toml).

Signs the user in, applies idle expiry and the language switch, then builds the
navigation from the page registry for the signed-in person's roles.
"""
from __future__ import annotations

import streamlit as st

from console import db
from console.auth import authenticate, session_expired
from console.errors import ConsoleError
from console.i18n import LANGUAGES
from console.ui import (current_actor, lang, localise_widget_placeholders, show_error, t,
                        touch_session)
from console.ui.nav import pages_for

st.set_page_config(page_title=t("app.title"), page_icon=":material/directions_car:", layout="wide")
localise_widget_placeholders()


def brand() -> None:
    st.sidebar.markdown(f"### :material/directions_car: {t('app.title')}")
    st.sidebar.caption(t("app.subtitle"))


def language_switch() -> None:
    st.session_state.setdefault("lang", lang())
    st.sidebar.radio(t("lang.label"), LANGUAGES, key="lang", horizontal=True,
                     format_func=lambda code: t(f"lang.{code}"))


def sign_out(expired: bool = False) -> None:
    for key in ("staff_id", "last_seen"):
        st.session_state.pop(key, None)
    if expired:
        st.session_state["expired_notice"] = True


def login_page() -> None:
    st.title(t("app.title"))
    st.caption(t("app.subtitle"))
    if st.session_state.pop("expired_notice", False):
        st.info(t("login.expired"))
    with st.form("login"):
        st.subheader(t("login.title"))
        username = st.text_input(t("login.username"), key="login_username")
        password = st.text_input(t("login.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("login.submit"), type="primary")
    if submitted:
        try:
            actor = authenticate(engine=db.get_engine(), username=username, password=password)
        except ConsoleError as err:
            show_error(err)
            return
        st.session_state["staff_id"] = actor.id
        touch_session()
        st.rerun()


def main() -> None:
    brand()
    language_switch()
    last_seen = st.session_state.get("last_seen")
    if st.session_state.get("staff_id") and last_seen and session_expired(last_seen=last_seen):
        sign_out(expired=True)
    actor = current_actor() if st.session_state.get("staff_id") else None
    if actor is None:
        sign_out()
        st.navigation([st.Page(login_page, title=t("login.title"), icon=":material/login:")]).run()
        return
    touch_session()
    roles_text = "、".join(t(f"role.{r}") for r in sorted(actor.roles))
    st.sidebar.caption(t("signed_in_as", name=actor.display_name, roles=roles_text))
    if st.sidebar.button(t("logout"), icon=":material/logout:"):
        sign_out()
        st.rerun()
    sections: dict[str, list] = {}
    for spec in pages_for(actor.roles):
        sections.setdefault(t(spec.section), []).append(
            st.Page(spec.path, title=t(spec.title_key), icon=spec.icon, url_path=spec.url_path,
                    default=spec.url_path == "home"))
    st.navigation(sections, expanded=True).run()


main()
