"""Entry point: `streamlit run app.py` (the Makefile applies streamlit_config.toml).

Signs the user in, applies idle expiry and the language switch, re-reads the account on
every run (a disabled or locked account, or sessions an admin ended, sign the person out),
asks for a new password first after an admin's forced reset, then builds the navigation
from the page registry for the signed-in person's roles.
"""
from __future__ import annotations

import streamlit as st

from datetime import datetime

from console import db
from console.auth import authenticate, change_own_password, session_expired
from console.errors import ConsoleError
from console.i18n import LANGUAGES
from console.roles import Actor
from console.ui import (current_actor, fmt_time, lang, localise_widget_placeholders, show_error,
                        sign_in, sign_out, t, touch_session)
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


def sign_in_notice() -> None:
    """Why the last session ended (idle, disabled, locked, ended by an admin), once."""
    notice = st.session_state.pop("sign_in_notice", None)
    if notice is not None:
        key, params = notice
        st.warning(t(key, **{k: fmt_time(v) if isinstance(v, datetime) else v
                             for k, v in params.items()}))


def login_page() -> None:
    st.title(t("app.title"))
    st.caption(t("app.subtitle"))
    sign_in_notice()
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
        sign_in(actor)
        st.rerun()


def change_password_page(actor: Actor) -> None:
    """After a forced reset: the only page until the person has chosen a new password."""
    st.title(t("login.change_password_title"))
    st.info(t("login.change_password_intro"))
    with st.form("change_password"):
        new = st.text_input(t("login.new_password"), type="password", key="new_password",
                            help=t("login.password_rules"))
        repeated = st.text_input(t("login.repeat_password"), type="password",
                                 key="repeat_password")
        submitted = st.form_submit_button(t("login.change_password_submit"), type="primary")
    if submitted:
        try:
            changed = change_own_password(engine=db.get_engine(), actor=actor,
                                          new_password=new, repeated=repeated)
        except ConsoleError as err:
            show_error(err)
            return
        sign_in(changed)   # the change ended every other session; this one goes on
        st.session_state["password_changed"] = True
        st.rerun()


def signed_in_sidebar(actor: Actor) -> None:
    roles_text = "、".join(t(f"role.{r}") for r in sorted(actor.roles))
    st.sidebar.caption(t("signed_in_as", name=actor.display_name, roles=roles_text))
    if st.session_state.pop("password_changed", False):
        st.sidebar.success(t("login.password_changed"))
    if st.sidebar.button(t("logout"), icon=":material/logout:"):
        sign_out()
        st.rerun()


def main() -> None:
    brand()
    language_switch()
    last_seen = st.session_state.get("last_seen")
    if st.session_state.get("staff_id") and last_seen and session_expired(last_seen=last_seen):
        sign_out(ConsoleError("login.expired"))
    actor = current_actor() if st.session_state.get("staff_id") else None
    if actor is None:
        st.navigation([st.Page(login_page, title=t("login.title"), icon=":material/login:")]).run()
        return
    touch_session()
    signed_in_sidebar(actor)
    if actor.must_change_password:
        def change_password() -> None:
            change_password_page(actor)

        st.navigation([st.Page(change_password, title=t("login.change_password_title"),
                               icon=":material/password:", url_path="change-password")]).run()
        return
    sections: dict[str, list] = {}
    for spec in pages_for(actor.roles):
        sections.setdefault(t(spec.section), []).append(
            st.Page(spec.path, title=t(spec.title_key), icon=spec.icon, url_path=spec.url_path,
                    default=spec.url_path == "home"))
    st.navigation(sections, expanded=True).run()


main()
