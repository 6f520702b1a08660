"""A URL for every record, and the one way a page reads the record (or filter) it was opened on.

Every record the console shows has a link a person can copy to a colleague; opened by
someone whose role may see the page, it shows the same record (opened while signed out,
it goes through sign-in to that record: app.py remembers the page and its query).

Record kinds, their page (url path from console/ui/nav.py) and query parameter:

    =========  ===================  =========  =================================
    kind       page (url path)      parameter  the record
    =========  ===================  =========  =================================
    merchant   merchant             id         a merchant's profile
    case       cert-case            case       a certification case
    flag       listing-review       flag       a listing authenticity flag
    card       board                card       a deal card (ops.matches.id)
    request    leads                request    a car-finding request (app.requests.id)
    listing    car-search           listing    a car source listing (app.listings.id)
    rating     rating-card          merchant   a merchant's rating card
    loan       loan                 loan       an order loan (fin.loans.id)
    =========  ===================  =========  =================================

For links:

    record_url("case", 123)            -> "/cert-case?case=123"   (relative to the site root)
    record_link("case", 123)           -> "[#123](/cert-case?case=123)"  markdown, for
                                          st.markdown / table cells; opens in a new tab
    record_page_link("case", 123, "…") -> st.page_link to the record in this tab
    open_record("case", 123)           -> st.switch_page to the record (after a button)

For the page that shows the record, at its top:

    case_id = requested_id("case")     # int, or None when the URL names none; a value that
                                       # is not a plain positive id is refused on screen
                                       # (catalogue message) and gives None
    keep_in_url("case", case_id)       # after the page's own picker changed the record,
                                       # so the address bar is a link to what is shown

List filters a home tile opens a list with (FILTERS below) are read with
``requested_choice(page, name)``: the value if it is one the page knows, else None after
a refusal on screen. The tiles and the filter each opens are console/services/home.py LINKS;
tests/test_links.py holds every LINKS value to FILTERS. The parameters, per page:

    cert-queue      status=pending|in_review  assignee=none|me  sla=late   (the queue's page)
    listing-review  status=pending|in_review  assignee=none|me  sla=late   (the review page)
    leads           view=pool|mine                                         (the leads page)
    board           scope=mine  due=overdue   (due=overdue: next action in the past)
    merchants       owner=me                  (read by pages/merchant_directory.py)
    staff           status=active|locked      (read by pages/admin_staff.py)
    credit-overrides  view=to_approve|mine    (read by pages/risk_overrides.py)
    data-quality    runs=failed_24h           (the data-quality page)
    disputes        status=open               (the dispute desk)

A page marked "(the … page)" reads its parameters itself: its owner calls
requested_choice(url_path, name) / requested_id(kind) at the top of the page.

Values are never echoed back into the page: a hostile query string (script, SQL, a huge
number) only ever produces the catalogue's refusal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from console.ui import t
from console.ui.nav import PAGES


@dataclass(frozen=True)
class RecordKind:
    url_path: str     # the page's url path in console/ui/nav.py
    param: str        # the query parameter carrying the record's id


KINDS: dict[str, RecordKind] = {
    "merchant": RecordKind("merchant", "id"),
    "case": RecordKind("cert-case", "case"),
    "flag": RecordKind("listing-review", "flag"),
    "card": RecordKind("board", "card"),
    "request": RecordKind("leads", "request"),
    "listing": RecordKind("car-search", "listing"),
    "rating": RecordKind("rating-card", "merchant"),
    "loan": RecordKind("loan", "loan"),
}

# url path -> {parameter: allowed values}: the filters a list page can be opened with.
FILTERS: dict[str, dict[str, frozenset[str]]] = {
    "cert-queue": {"status": frozenset({"pending", "in_review"}),
                   "assignee": frozenset({"none", "me"}), "sla": frozenset({"late"})},
    "listing-review": {"status": frozenset({"pending", "in_review"}),
                       "assignee": frozenset({"none", "me"}), "sla": frozenset({"late"})},
    "leads": {"view": frozenset({"pool", "mine"})},
    "board": {"scope": frozenset({"mine"}), "due": frozenset({"overdue"})},
    "merchants": {"owner": frozenset({"me"})},
    "staff": {"status": frozenset({"active", "locked"})},
    "credit-overrides": {"view": frozenset({"to_approve", "mine"})},
    "data-quality": {"runs": frozenset({"failed_24h"})},
    "disputes": {"status": frozenset({"open"})},
}

# A bigint id: 1 to 2**63 - 1, written as plain digits (no sign, no spaces, no leading zero).
_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ID = 2**63 - 1


def _kind(kind: str) -> RecordKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown record kind {kind!r}; known: {', '.join(KINDS)}") from None


def parse_id(value: object) -> int | None:
    """A record id from a query string value, or None unless it is a plain positive bigint."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= _MAX_ID else None


def _base() -> str:
    """The site root the console is served under ('' or '/some/base')."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def page_url(url_path: str, **params: object) -> str:
    """The relative URL of a page with query parameters, e.g. page_url('cert-queue', sla='late')."""
    query = urlencode({k: str(v) for k, v in params.items() if v is not None})
    return f"{_base()}/{url_path}" + (f"?{query}" if query else "")


def record_url(kind: str, record_id: int) -> str:
    """The relative URL of one record: record_url('case', 123) -> '/cert-case?case=123'."""
    spec = _kind(kind)
    return page_url(spec.url_path, **{spec.param: int(record_id)})


def record_link(kind: str, record_id: int, label: str | None = None) -> str:
    """A markdown link to the record (label defaults to '#id'); Streamlit opens markdown links
    in a new tab, which stays signed in (the session cookie, see console/ui/session.py)."""
    text = label if label is not None else f"#{int(record_id)}"
    # Square brackets would end the link text early; the label is ours, but be safe.
    text = text.replace("[", "(").replace("]", ")")
    return f"[{text}]({record_url(kind, record_id)})"


def page_file(url_path: str) -> str:
    """The registered script of a url path (for st.switch_page / st.page_link)."""
    for spec in PAGES:
        if spec.url_path == url_path:
            return spec.path
    raise ValueError(f"no page with url path {url_path!r} in console/ui/nav.py")


def record_page_link(kind: str, record_id: int, label: str, **kwargs) -> None:
    """An in-app link (same tab) to the record; kwargs go to st.page_link (icon, help, ...)."""
    spec = _kind(kind)
    st.page_link(page_file(spec.url_path), label=label,
                 query_params={spec.param: str(int(record_id))}, **kwargs)


def open_record(kind: str, record_id: int) -> None:
    """Go to the record's page now (after a button click)."""
    spec = _kind(kind)
    st.switch_page(page_file(spec.url_path), query_params={spec.param: str(int(record_id))})


def requested_id(kind: str) -> int | None:
    """The id of ``kind`` this page was opened with (its query parameter), or None.

    A value that is not a plain positive id ('abc', '-1', '1 OR 1=1', 99999999999999999999)
    is refused with the catalogue's message and gives None; the value is not shown.
    """
    spec = _kind(kind)
    raw = st.query_params.get(spec.param)
    if raw is None or raw == "":
        return None
    number = parse_id(raw)
    if number is None:
        st.error(t("links.bad_id", kind=t(f"links.kind.{kind}")))
    return number


def keep_in_url(kind: str, record_id: int | None) -> None:
    """Make the address bar name the record now shown (or none), so it can be copied."""
    spec = _kind(kind)
    wanted = None if record_id is None else str(int(record_id))
    if st.query_params.get(spec.param) != wanted:
        if wanted is None:
            del st.query_params[spec.param]
        else:
            st.query_params[spec.param] = wanted


def requested_choice(url_path: str, name: str) -> str | None:
    """A list filter this page was opened with (see FILTERS), or None.

    A value the page does not know is refused with the catalogue's message and gives None.
    """
    allowed = FILTERS.get(url_path, {}).get(name)
    if allowed is None:
        raise ValueError(f"page {url_path!r} declares no filter {name!r} in FILTERS")
    raw = st.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        st.error(t("links.bad_filter"))
        return None
    return raw
