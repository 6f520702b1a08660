"""The UI layer's helpers: language, the signed-in actor, running a service call safely.

Only pages and this package import streamlit; services never do.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from console import db
from console.clock import business_tz
from console.errors import ConsoleError, PermissionDenied
from console.i18n import translate
from console.roles import Actor, current_actor as account_now
from console.settings import get_settings

T = TypeVar("T")
_log = logging.getLogger("console.ui")


def lang() -> str:
    return st.session_state.get("lang", get_settings().default_language)


def t(key: str, /, **params: Any) -> str:
    return translate(key, lang(), **params)


def enum_label(group: str, value: Any) -> str:
    """Label of an enumeration value, e.g. enum_label('merchant_type', '4s') -> '4S店'."""
    return t(f"enum.{group}.{value}")


SESSION_KEYS = ("staff_id", "session_epoch", "last_seen", "session_id")


def sign_in(actor: Actor, *, session_id: int | None = None, token: str | None = None) -> None:
    """Open this browser session for ``actor``: it lasts while the account's epoch stays.

    ``session_id``: the remembered session (console/sessions.py) this tab runs on, which a
    refresh, a reconnect or a restart resumes; ``token``: its new token, for the browser to
    keep (console/ui/session.py). Without them (a test, the password change that goes on in
    the same session) the tab's own session goes on as it is.
    """
    from console.ui import session as browser

    st.session_state["staff_id"] = actor.id
    st.session_state["session_epoch"] = actor.session_epoch
    if session_id is not None:
        st.session_state["session_id"] = session_id
    if token is not None:
        browser.remember(token)
    touch_session()
    _account_language(actor)


# The language lives in the plain session key "lang" (lang() reads it). The radio has a key
# of its own, set from "lang" before each draw: a widget's own state is dropped by Streamlit
# when a run ends without it (the sign-in's rerun and switch to home did that, and the tab
# fell back to Chinese), a plain key is not.
_LANG_WIDGET = "_lang_switch"
_LANG_CHOSEN_SIGNED_OUT = "_lang_chosen_signed_out"


def _account_language(actor: Actor) -> None:
    """At sign-in: the language kept on the account opens the console (console/preferences.py);
    one the person picked on the sign-in page itself is kept on the account instead."""
    from console import preferences

    try:
        if st.session_state.pop(_LANG_CHOSEN_SIGNED_OUT, False):
            preferences.set_own_language(engine=db.get_engine(), actor=actor, language=lang())
            return
        with db.connection() as conn:
            stored = preferences.own_language(conn=conn, staff_id=actor.id)
    except (ConsoleError, SQLAlchemyError) as err:   # the tab goes on in its language
        _log.error("language preference of staff %s not read or kept: %s", actor.id,
                   type(err).__name__)
        return
    if stored is not None:
        st.session_state["lang"] = stored


def _language_chosen() -> None:
    """The radio's on_change: this tab's language, kept on the signed-in person's account,
    or, signed out, remembered as chosen here (kept on the account at sign-in)."""
    from console import preferences

    st.session_state["lang"] = st.session_state[_LANG_WIDGET]
    actor = current_actor() if st.session_state.get("staff_id") else None
    if actor is None:
        st.session_state[_LANG_CHOSEN_SIGNED_OUT] = True
        return
    try:
        preferences.set_own_language(engine=db.get_engine(), actor=actor, language=lang())
    except (ConsoleError, SQLAlchemyError) as err:   # this tab switches all the same
        _log.error("language of staff %s not kept: %s", actor.id, type(err).__name__)


def language_switch() -> None:
    """The sidebar's zh/en switch, showing the tab's language (the person's own, kept on
    their account, once signed in): call it after the session is resumed, before any text
    of the run."""
    from console.i18n import LANGUAGES

    st.session_state["lang"] = lang()
    st.session_state[_LANG_WIDGET] = lang()
    st.sidebar.radio(t("lang.label"), LANGUAGES, key=_LANG_WIDGET, horizontal=True,
                     format_func=lambda code: t(f"lang.{code}"), on_change=_language_chosen)


def keep_choices(*keys: str, page: str) -> None:
    """Keep the choices of a page's select boxes, radios and multiselects (their ``keys``)
    through a language switch, and show them in the new language. Call it before the widgets.

    Streamlit's browser side holds such a widget's choice as the label it showed (the Chinese word for "month"), not
    the value; after a switch the labels are English, the Chinese label matches none of them, and the
    choice was lost or kept its Chinese label. In the first run in a new language each
    choice is read back (with the previous run's labels) and set again as a value, so the
    widget is drawn with it, in the new language. A widget with such a key must take its
    default from session state, not index=, or Streamlit warns about both.
    """
    seen_key = f"_choices_lang:{page}"
    seen = st.session_state.get(seen_key)
    if seen is not None and seen != lang():
        for key in keys:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]
    st.session_state[seen_key] = lang()


def start_session(actor: Actor) -> None:
    """After a good password: a remembered session (audited as staff.sign_in), this tab
    signed in on it, and its token on the way to the browser."""
    from console import sessions
    from console.ui import session as browser

    token, session_id = sessions.open_session(
        engine=db.get_engine(), actor=actor, ip=browser.client_ip(),
        user_agent=browser.user_agent(), replaces=browser.browser_token())
    sign_in(actor, session_id=session_id, token=token)


def sign_out(notice: ConsoleError | None = None, *, chosen: bool = False) -> None:
    """Forget the signed-in person; ``notice`` is what the sign-in page then says and why.

    ``chosen``: the person pressed sign-out, which ends their remembered session everywhere
    (every tab, and the cookie if copied) and is audited. Either way the browser drops its
    token: whatever ended this session, the token opens nothing any more.
    """
    from console import sessions
    from console.ui import session as browser

    session_id, staff_id = st.session_state.get("session_id"), st.session_state.get("staff_id")
    if chosen and session_id is not None and staff_id is not None:
        try:
            sessions.sign_out(engine=db.get_engine(), session_id=session_id, staff_id=staff_id)
        except SQLAlchemyError as err:   # the tab signs out all the same
            _log.error("sign-out could not end session %s: %s", session_id, type(err).__name__)
    for key in SESSION_KEYS:
        st.session_state.pop(key, None)
    browser.forget()
    if notice is not None:
        st.session_state["sign_in_notice"] = (notice.key, notice.params)


def resume_session() -> bool:
    """Sign this tab in from the browser's remembered session (after a refresh, a reconnect
    or a restart); True if it did. Each token is tried once per tab: a refused one (signed
    out, idle, ended by an admin) leaves the sign-in page, with the reason when there is one
    worth telling."""
    from console import sessions
    from console.ui import session as browser

    token = browser.browser_token()
    if token is None:
        return False
    tried = sessions.token_hash(token)
    if st.session_state.get("_session_tried") == tried:
        return False
    st.session_state["_session_tried"] = tried
    try:
        resumed = sessions.resume(engine=db.get_engine(), token=token)
    except PermissionDenied as refusal:
        # A token signed out before is no news to the person who opens the console again.
        quiet = refusal.key in ("error.not_signed_in", "session.signed_out")
        sign_out(None if quiet else refusal)
        return False
    sign_in(resumed.actor, session_id=resumed.session_id)
    return True


def check_session() -> None:
    """Sign this tab out if its remembered session no longer holds (signed out in another
    tab, ended by an admin, idle); note it was seen. Once per run, from app.py."""
    from console import sessions

    session_id = st.session_state.get("session_id")
    if session_id is None:
        return
    try:
        sessions.still_open(engine=db.get_engine(), session_id=session_id)
    except PermissionDenied as refusal:
        sign_out(None if refusal.key == "error.not_signed_in" else refusal)


def current_actor() -> Actor | None:
    """The signed-in person as the database has them now, re-read on every run.

    An account disabled, locked, deleted or whose sessions were ended since the sign-in
    signs this session out, and the sign-in page says why.
    """
    staff_id = st.session_state.get("staff_id")
    if staff_id is None:
        return None
    try:
        # A session opened before epochs existed (or by a test) started at epoch 0.
        return account_now(staff_id, session_epoch=st.session_state.get("session_epoch", 0))
    except PermissionDenied as refusal:
        sign_out(refusal)
        return None


def touch_session() -> None:
    st.session_state["last_seen"] = datetime.now(timezone.utc)


def fmt_time(value: datetime | None) -> str:
    """A timestamp as staff read it: Shanghai time, to the minute."""
    if value is None:
        return "—"
    from console import fmt   # the one format module (issue #14): also NaT, a naive date
    return fmt.when(value)


def show_error(err: ConsoleError) -> None:
    params = {k: fmt_time(v) if isinstance(v, datetime) else v for k, v in err.params.items()}
    st.error(t(err.key, **params))


@contextmanager
def read() -> Iterator[Connection]:
    """A read-only connection for a page's queries."""
    with db.connection() as conn:
        yield conn


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None

    def __bool__(self) -> bool:
        return self.ok


def run_action(fn: Callable[..., Any], /, **kwargs: Any) -> Outcome:
    """Run one service call in one transaction; show a refusal instead of a traceback.

    On any ConsoleError the transaction rolls back, so nothing is half-written.
    """
    try:
        with db.transaction() as conn:
            return Outcome(True, fn(conn=conn, **kwargs))
    except ConsoleError as err:
        show_error(err)
        return Outcome(False)
    except SQLAlchemyError as err:
        _database_failure(fn, err)
        return Outcome(False)


def flash(message: str) -> None:
    """A success message that survives the st.rerun() after an action."""
    st.session_state.setdefault("_flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("_flash", []):
        st.success(message)


def run_query(fn: Callable[..., T], /, **kwargs: Any) -> T | None:
    """Run a read service; a refusal (e.g. a missing role) is shown, not raised."""
    try:
        with db.connection() as conn:
            return fn(conn=conn, **kwargs)
    except ConsoleError as err:
        show_error(err)
        return None
    except SQLAlchemyError as err:
        _database_failure(fn, err)
        return None


def _database_failure(fn: Callable[..., Any], err: SQLAlchemyError) -> None:
    """A database failure (timeout, lost connection, a bug) the service did not turn into a
    refusal: the person reads the project's own message, the log gets the service and the
    SQLSTATE only, never the statement's values or the driver's text."""
    code = getattr(getattr(err, "orig", None), "pgcode", None)
    _log.error("service %s.%s failed in the database: %s (SQLSTATE %s)",
               fn.__module__, fn.__qualname__, type(err).__name__, code or "-")
    st.error(t("error.unexpected"))


def require_actor() -> Actor:
    """The page's actor; stops the script with a refusal when nobody is signed in."""
    actor = current_actor()
    if actor is None:
        st.error(t("error.not_signed_in"))
        st.stop()
    return actor


def local_times(df):
    """Timestamp columns as staff read them: Shanghai time, to the minute ('2026-11-20 09:30').

    The ISO text sorts like the time it shows, so sorting the rendered table still works.
    """
    import pandas as pd

    zone = business_tz()
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[col] = series.dt.tz_convert(zone).dt.strftime("%Y-%m-%d %H:%M").fillna("—")
        elif (pd.api.types.is_string_dtype(series) or series.dtype == object) and series.isna().any():
            # An empty text cell reads "None" in st.dataframe; staff expect a dash.
            out[col] = series.astype(object).where(series.notna(), "—")
    return out


def labelled(df, prefix: str):
    """Rename a frame's columns through the catalogue (column 'x' -> t(f'{prefix}.x')) and
    show its timestamps in Shanghai time."""
    return local_times(df).rename(columns={c: t(f"{prefix}.{c}") for c in df.columns})


def pager(*, key: str, total: int, page_size: int) -> int:
    """Server-side paging control; returns the zero-based offset to query."""
    pages = max(1, -(-total // page_size))
    state_key = f"{key}__page"
    page = min(st.session_state.get(state_key, 1), pages)
    cols = st.columns([1, 3, 1])
    if cols[0].button(t("common.prev"), key=f"{key}__prev", disabled=page <= 1):
        page -= 1
    if cols[2].button(t("common.next"), key=f"{key}__next", disabled=page >= pages):
        page += 1
    st.session_state[state_key] = page
    cols[1].caption(t("common.page", page=page, pages=pages, total=total))
    return (page - 1) * page_size


def _localised(method: Callable[..., Any], key: str) -> Callable[..., Any]:
    import functools

    @functools.wraps(method)
    def wrapped(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("placeholder") is None:
            kwargs["placeholder"] = t(key)
        return method(self, *args, **kwargs)

    wrapped.localised = True  # type: ignore[attr-defined]
    return wrapped


def localise_widget_placeholders() -> None:
    """Streamlit's own placeholders ("Choose options") are English whatever the language:
    give every multiselect and selectbox the catalogue's text unless the page set one, and
    every table "—" for a missing value (Streamlit writes "None")."""
    import types

    from streamlit.delta_generator import DeltaGenerator

    for name, key in (("multiselect", "common.choose_options"), ("selectbox", "common.choose_option"),
                      ("dataframe", "common.missing_value")):
        method = getattr(DeltaGenerator, name)
        if not getattr(method, "localised", False):
            setattr(DeltaGenerator, name, _localised(method, key))
        setattr(st, name, types.MethodType(getattr(DeltaGenerator, name), st._main))
