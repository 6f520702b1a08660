"""The quotes panel of a transport request (pages/ops_transport.py): every active carrier's
estimate on the lane with its price, transit days and score, best carrier first; the
quotes recorded; for the desk, a carrier's actual quote to record and a quote or estimate to
book (console/logistics/quotes.py). Prices of one request in yuan (console/fmt.py yuan)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from console import fmt
from console.logistics import quotes
from console.roles import Actor
from console.ui import enum_label, flash, labelled, run_action, run_query, t


def _yuan(value) -> str:
    return fmt.yuan(value, digits=2)


def _estimates_table(est: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({
        "carrier": est["carrier"],
        "truck_type": est["truck_type"].map(lambda v: enum_label("lgx_truck", v)),
        "price_per_car": est["price_per_car"].map(_yuan),
        "total": est["total"].map(_yuan),
        "transit_days": est["transit_days"].map(fmt.number),
        "trucks": est["trucks"].map(fmt.number),
        "score": est["score"].map(lambda v: fmt.number(v, digits=1)),
        "on_time_rate": est["on_time_rate"].map(fmt.percent),
        "delivered": est["delivered"].map(fmt.number),
        "flag": est["flagged_high"].map(lambda v: "⚠" if v else ""),
    })
    return labelled(shown, "lgx.quotes.col")


def _quotes_table(q: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({
        "id": q["id"].map(lambda v: f"#{int(v)}"),
        "kind": q["kind"].map(lambda v: enum_label("lgx_quote_kind", v)),
        "carrier": q["carrier"],
        "truck_type": q["truck_type"].map(lambda v: enum_label("lgx_truck", v)),
        "price_per_car": q["price_per_car"].map(_yuan),
        "total": q["total"].map(_yuan),
        "transit_days": q["transit_days"].map(fmt.number),
        "lane_median_per_car": q["lane_median_per_car"].map(_yuan),
        "flag": q["flagged_high"].map(lambda v: "⚠" if v else ""),
        "booked": q["booked"].map(lambda v: "✓" if v else ""),
        "recorded_by": q["recorded_by"].fillna(fmt.MISSING),
        "recorded_at": q["recorded_at"].map(fmt.when),
        "note": q["note"].fillna(""),
    })
    return labelled(shown, "lgx.quotes.col")


def render_quotes(*, request_id: int, actor: Actor) -> None:
    """The panel under its own heading; nothing for roles that do not read quotes."""
    if not actor.has(*quotes.READERS):
        return
    view = run_query(quotes.request_quotes, actor=actor, request_id=request_id)
    if view is None:
        return
    lane = view.request
    st.subheader(t("lgx.quotes.title"))
    medians = " · ".join(f"{enum_label('lgx_truck', truck)} {_yuan(view.lane_medians[truck])}"
                         for truck in ("large", "small", "single") if truck in view.lane_medians)
    median = (t("lgx.quotes.median", median=medians,
                factor=fmt.number(view.high_factor, digits=1))
              if medians else t("lgx.quotes.no_median"))
    st.caption(t("lgx.quotes.lane", km=fmt.number(lane.distance_km),
                 lane=f"{lane.provinces[0]} → {lane.provinces[1]}", cars=lane.cars,
                 median=median))
    est = view.estimates
    if est.empty:
        st.info(t("lgx.quotes.no_estimates"), icon=":material/info:")
    else:
        st.dataframe(_estimates_table(est), hide_index=True, width="stretch")
        if est["flagged_high"].any():
            st.caption(t("lgx.quotes.flag_help"))
    if not view.quotes.empty:
        st.markdown(f"**{t('lgx.quotes.recorded')}**")
        st.dataframe(_quotes_table(view.quotes), hide_index=True, width="stretch")
        if view.quotes["flagged_high"].any():
            st.warning(t("lgx.quotes.flagged_warning"), icon=":material/warning:")
    if not actor.has(*quotes.DESK) or lane.status not in quotes.QUOTABLE:
        return
    book_col, record_col = st.columns(2)
    with book_col, st.form(f"lgx_book_{request_id}"):
        st.markdown(f"**{t('lgx.quotes.book_title')}**")
        options = [("estimate", int(r.carrier_id), r.truck_type, r.total)
                   for r in est.itertuples()]
        options += [("quote", int(r.id), r.carrier, r.total) for r in view.quotes.itertuples()
                    if r.kind == "actual"]

        def label(o) -> str:
            if o[0] == "estimate":
                name = est.loc[est["carrier_id"] == o[1], "carrier"].iloc[0]
                return t("lgx.quotes.option_estimate", carrier=name,
                         truck=enum_label("lgx_truck", o[2]), total=_yuan(o[3]))
            return t("lgx.quotes.option_quote", id=o[1], carrier=o[2], total=_yuan(o[3]))

        pick = st.selectbox(t("lgx.quotes.book_pick"), options, format_func=label, index=None,
                            key=f"lgx_book_pick_{request_id}",
                            placeholder=t("lgx.quotes.book_placeholder"))
        st.caption(t("lgx.quotes.book_help"))
        if st.form_submit_button(t("lgx.quotes.book"), type="primary", disabled=not options):
            if pick is None:
                st.error(t("lgx.quotes.book_none"))
            else:
                if pick[0] == "estimate":
                    done = run_action(quotes.book_estimate, actor=actor, request_id=request_id,
                                      version=lane.version, carrier_id=pick[1],
                                      truck_type=pick[2])
                else:
                    done = run_action(quotes.book_quote, actor=actor, request_id=request_id,
                                      version=lane.version, quote_id=pick[1])
                if done:
                    flash(t("lgx.quotes.booked", cost=_yuan(done.value.cost_from_carrier),
                            price=_yuan(done.value.price_to_merchant),
                            margin=_yuan(done.value.margin)))
                    st.rerun()
    with record_col, st.form(f"lgx_record_{request_id}", clear_on_submit=True):
        st.markdown(f"**{t('lgx.quotes.record_title')}**")
        carriers = view.lane_carriers
        names = dict(zip(carriers["id"].astype(int), carriers["name"])) if len(carriers) else {}
        carrier_id = st.selectbox(t("lgx.quotes.carrier"), list(names), index=None,
                                  format_func=lambda c: names[c],
                                  key=f"lgx_record_carrier_{request_id}",
                                  placeholder=t("lgx.quotes.carrier_placeholder"))
        truck = st.radio(t("lgx.quotes.truck"), ["large", "small", "single"], horizontal=True,
                         format_func=lambda v: enum_label("lgx_truck", v),
                         key=f"lgx_record_truck_{request_id}")
        p1, p2 = st.columns(2)
        price = p1.text_input(t("lgx.quotes.price_per_car"), max_chars=40,
                              key=f"lgx_record_price_{request_id}",
                              placeholder=t("lgx.quotes.price_hint"))
        days = p2.number_input(t("lgx.quotes.transit_days"), value=None, step=1,
                               key=f"lgx_record_days_{request_id}",
                               placeholder=t("lgx.quotes.days_hint"))
        note = st.text_input(t("lgx.quotes.note"), max_chars=200,
                             key=f"lgx_record_note_{request_id}")
        if st.form_submit_button(t("lgx.quotes.record"), disabled=not names):
            if carrier_id is None:
                st.error(t("lgx.quotes.carrier_none"))
            else:
                done = run_action(quotes.record_quote, actor=actor, request_id=request_id,
                                  version=lane.version, carrier_id=carrier_id, truck_type=truck,
                                  price_per_car=price,
                                  transit_days=int(days) if days is not None else None,
                                  note=note)
                if done:
                    flash(t("lgx.quotes.recorded_high" if done.value.flagged_high
                            else "lgx.quotes.recorded_ok",
                            median=_yuan(done.value.lane_median_per_car)))
                    st.rerun()
