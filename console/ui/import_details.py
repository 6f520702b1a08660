"""A parallel import's details as staff read them (issue 21): its market version, port,
in stock or arriving, documents, VIN reading and price reference; the ops form that corrects
them; and the import columns of a page of search results. Rendering only: the values come
from console/imports (details.py, prices.py) and the search service."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from console import fmt
from console.imports import details
from console.imports.prices import PriceReference
from console.services.search import IMPORT_COLUMNS
from console.ui import flash, lang, run_action, t
from console.ui.trust import field_line


def _label(group: str, value: Any) -> str | None:
    return t(f"imports.listing.{group}.{value}") if isinstance(value, str) else None


def arrival_text(availability: Any, expected_arrival: Any) -> str | None:
    """'现车', or '期货，预计 2026-12-20 到港'; None when not recorded."""
    if availability == "future" and not fmt.is_missing(expected_arrival):
        return t("imports.listing.arrival", day=fmt.day(expected_arrival))
    return _label("availability", availability)


def reference_text(ref: PriceReference | None) -> str | None:
    """The reference with the count it rests on, or why there is none."""
    if ref is None:
        return None
    if ref.median is None:
        return t(f"imports.reference.none.{ref.reason}", days=ref.window_days,
                 count=ref.count, min=ref.min_count)
    return t("imports.reference.value", median=fmt.yuan(ref.median), count=ref.count,
             deals=ref.deals, listings=ref.listings, days=ref.window_days)


def docs_text(missing: tuple[str, ...] | list[str]) -> str:
    if not missing:
        return t("imports.listing.docs_complete")
    sep = "、" if lang() == "zh" else ", "
    return t("imports.listing.docs_missing",
             kinds=sep.join(t(f"imports.listing.doc.{k}") for k in missing))


def show_details(info: Mapping[str, Any], *, reference: PriceReference | None,
                 missing_documents: tuple[str, ...] | None = None) -> None:
    """The import box: one line a field. ``info`` holds market_version, port, availability,
    expected_arrival and vin_reason (a listing review flag or an ImportDetails' fields)."""
    st.markdown(f"**{t('imports.listing.title')}**")
    if info.get("market_version") is None:
        st.caption(t("imports.listing.not_recorded"))
    lines = [("market_version", _label("market", info.get("market_version"))),
             ("port", _label("port", info.get("port"))),
             ("availability", arrival_text(info.get("availability"),
                                           info.get("expected_arrival"))),
             ("reference", reference_text(reference))]
    if missing_documents is not None:
        lines.append(("documents", docs_text(missing_documents)))
    if info.get("vin"):
        reading = info.get("vin_reason") or "valid"
        lines.append(("vin", f"{info['vin']} · {t(f'imports.listing.vin.{reading}')}"))
    for name, value in lines:
        st.markdown(field_line(t(f"imports.listing.field.{name}"), value))


def correction_form(actor, *, listing_id: int, version: int, current: Mapping[str, Any],
                    key: str) -> None:
    """Ops correct the details (console.imports.details.correct_import_details); the
    service checks every value, so a forged one is refused there with its message."""
    with st.expander(t("imports.listing.correct"), icon=":material/edit:"):
        with st.form(f"{key}_form"):
            c1, c2 = st.columns(2)
            market = c1.selectbox(
                t("imports.listing.field.market_version"), details.MARKET_VERSIONS,
                index=_index(details.MARKET_VERSIONS, current.get("market_version")),
                format_func=lambda v: t(f"imports.listing.market.{v}"), key=f"{key}_market")
            port = c2.selectbox(
                t("imports.listing.field.port"), details.PORTS,
                index=_index(details.PORTS, current.get("port")),
                format_func=lambda v: t(f"imports.listing.port.{v}"), key=f"{key}_port")
            availability = c1.radio(
                t("imports.listing.field.availability"), details.AVAILABILITIES,
                index=_index(details.AVAILABILITIES, current.get("availability")),
                format_func=lambda v: t(f"imports.listing.availability.{v}"), horizontal=True,
                key=f"{key}_availability")
            stored = current.get("expected_arrival")
            arrival = c2.date_input(t("imports.listing.field.expected_arrival"),
                                    value=None if fmt.is_missing(stored) else stored,
                                    help=t("imports.listing.arrival_hint"),
                                    key=f"{key}_arrival")
            reason = st.text_input(t("imports.listing.reason"), key=f"{key}_reason")
            if st.form_submit_button(t("imports.listing.save"), type="primary"):
                done = run_action(details.correct_import_details, actor=actor,
                                  listing_id=int(listing_id), version=int(version),
                                  market_version=market, port=port, availability=availability,
                                  expected_arrival=arrival if availability == "future" else None,
                                  reason=reason)
                if done:
                    flash(t("imports.listing.saved", id=listing_id))
                    st.rerun()


def _index(choices: tuple[str, ...], value: Any) -> int:
    return choices.index(value) if value in choices else 0


def search_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """A page of search results with the import columns in words (issue 21): version, port,
    in stock or arriving, documents, and the reference with its count (left a number: the
    page writes it in ten-thousands of yuan with its prices, search.SHOWN_FORMATS); '—' on a
    domestic listing. The columns keep their names; ``rename_columns`` labels them."""
    if "market_version" not in rows.columns:
        return rows
    if not rows["is_parallel_import"].fillna(False).astype(bool).any():
        return rows.drop(columns=[c for c in IMPORT_COLUMNS if c in rows.columns])
    docs = rows["docs_missing"].map(
        lambda v: None if v is None or fmt.is_missing(v)
        else t("imports.search.docs_missing") if bool(v) else t("imports.search.docs_complete"))
    out = rows.assign(
        market_version=rows["market_version"].map(lambda v: _label("market", v)),
        port=rows["port"].map(lambda v: _label("port", v)),
        arrival=[arrival_text(a, d) for a, d in zip(rows["availability"],
                                                   rows["expected_arrival"])],
        docs=docs,
        import_reference_count=[n if bool(pi) else None for n, pi in zip(
            rows["import_reference_count"], rows["is_parallel_import"])],
    )
    return out.drop(columns=["availability", "expected_arrival", "docs_missing"])


def rename_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The import columns' headers (after ``labelled(…, 'matching.col')``, which leaves a
    name it has no words for as its key)."""
    names = {f"matching.col.{c}": t(f"imports.search.col.{c}", unit=fmt.wan_unit(lang()))
             for c in ("market_version", "port", "arrival", "docs", "import_reference",
                       "import_reference_count")}
    return frame.rename(columns=names)
