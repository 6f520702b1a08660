"""Entry point: `streamlit run app.py` (the Makefile applies streamlit_config.toml).

Signs the user in (or back in, from the browser's remembered session after a refresh, a
reconnect or a restart: console/sessions.py, console/ui/session.py), applies idle expiry
and the language switch, re-reads the account on every run (a disabled or locked account,
or sessions an admin ended, sign the person out), asks for a new password first after an
admin's forced reset, then builds the navigation from the page registry.

Every page's URL is registered on every run, signed in or not, before anything renders:
a link opened while signed out shows the sign-in form at that URL and, once signed in,
the page it names with its query (a record's id); a page outside the person's roles says
so in the catalogue's words, and so does an address that names no page at all
(console/ui/addresses.py), over the sign-in or home instead of Streamlit's English
"Page not found".
"""
from __future__ import annotations

import streamlit as st

from datetime import datetime

from console import db
from console.auth import authenticate, change_own_password, session_expired
from console.errors import ConsoleError
from console.roles import Actor
from console.ui import (check_session, current_actor, fmt_time, language_switch,
                        localise_widget_placeholders, resume_session, show_error, sign_in,
                        sign_out, start_session, t, touch_session)
from console.ui import session as browser
from console.ui.addresses import unknown_address
from console.ui.nav import PAGES
from console.ui.sso import follow_target, sign_in_button as sso_button, take_identity
from console.ui.startup import preload

st.set_page_config(page_title=t("app.title"), page_icon=":material/directions_car:", layout="wide")
localise_widget_placeholders()
preload()   # every page's imports, once per process, before any page runs (no import race)


def brand() -> None:
    st.sidebar.markdown(f"### :material/directions_car: {t('app.title')}")
    st.sidebar.caption(t("app.subtitle"))


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
        else:
            start_session(actor)
            st.rerun()
    sso_button()   # "Sign in with …" when single sign-on is configured (console/sso.py)


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
                                          new_password=new, repeated=repeated,
                                          session_id=st.session_state.get("session_id"))
        except ConsoleError as err:
            show_error(err)
            return
        sign_in(changed)   # the change ended every other session; this one goes on
        st.session_state["password_changed"] = True
        st.rerun()


def signed_in_sidebar(actor: Actor) -> None:
    roles_text = "、".join(t(f"role.{r}") for r in sorted(actor.roles))
    st.sidebar.caption(t("signed_in_as", name=actor.display_name, roles=roles_text))
    changed = st.session_state.pop("password_changed", False)
    st.session_state["_password_changed_this_run"] = changed   # to_home carries it over
    if changed:
        st.sidebar.success(t("login.password_changed"))
    if st.sidebar.button(t("logout"), icon=":material/logout:"):
        sign_out(chosen=True)
        st.rerun()


def not_for_role() -> None:
    """A registered page outside the person's roles: said in the catalogue's words."""
    st.warning(t("session.not_for_role"))


def to_home() -> None:
    """The sign-in and password pages' own addresses, once past them: home, keeping the
    "password changed" note the sidebar showed in this (discarded) run."""
    if st.session_state.get("_password_changed_this_run"):
        st.session_state["password_changed"] = True
    st.switch_page("pages/home.py")


def every_url(run, *, except_: frozenset[str] = frozenset()) -> list:
    """A hidden page at every registered url path (but ``except_``), each running ``run``."""
    return [st.Page(run, title=t(spec.title_key), icon=spec.icon, url_path=spec.url_path,
                    visibility="hidden")
            for spec in PAGES if spec.url_path not in except_]


def main() -> None:
    if st.session_state.get("staff_id"):
        check_session()   # signed out elsewhere, ended by an admin, idle: this tab too
    last_seen = st.session_state.get("last_seen")
    if (st.session_state.get("staff_id") and st.session_state.get("session_id") is None
            and last_seen and session_expired(last_seen=last_seen)):
        sign_out(ConsoleError("login.expired"))
    if not st.session_state.get("staff_id"):
        resume_session()   # a refresh, a reconnect, a restart: the browser's remembered session
    if not st.session_state.get("staff_id"):
        take_identity()    # back from the SSO provider: the identity it signed, once
    brand()
    language_switch()   # after the resume: the person's own language (kept on the account)
    if unknown_address():   # an address with no page: our words, not Streamlit's English
        st.warning(t("shell.unknown_address"), icon=":material/link_off:")
    actor = current_actor() if st.session_state.get("staff_id") else None
    browser.write_pending()
    if actor is None:
        # The sign-in form at every page's address: the URL (and its query) survive the
        # sign-in, so the person lands on the record the link named.
        st.navigation([st.Page(login_page, title=t("login.title"), icon=":material/login:",
                               url_path="sign-in", default=True),
                       *every_url(login_page)]).run()
        return
    touch_session()
    signed_in_sidebar(actor)
    if actor.must_change_password:
        def change_password() -> None:
            change_password_page(actor)

        st.navigation([st.Page(change_password, title=t("login.change_password_title"),
                               icon=":material/password:", url_path="change-password",
                               default=True),
                       *every_url(change_password)]).run()
        return
    sections: dict[str, list] = {}
    mine = set()
    for spec in PAGES:
        if spec.roles & actor.roles:
            mine.add(spec.url_path)
            sections.setdefault(t(spec.section), []).append(
                st.Page(spec.path, title=t(spec.title_key), icon=spec.icon,
                        url_path=spec.url_path, default=spec.url_path == "home"))
    hidden = [*every_url(not_for_role, except_=frozenset(mine)),
              st.Page(to_home, title=t("login.title"), url_path="sign-in", visibility="hidden"),
              st.Page(to_home, title=t("login.change_password_title"),
                      url_path="change-password", visibility="hidden")]
    sections.setdefault(t("nav.section.work"), []).extend(hidden)
    page = st.navigation(sections, expanded=True)
    follow_target(frozenset(mine))   # after a single sign-on: the record's link it began at
    page.run()


main()
