"""One transport request (/transport?request=<id>): its cars, lane, dates and value; its status
and the moves the desk may make now (an exception and back, a cancellation, the delivery with
its handover); the carriers' quotes (the quotes panel), claims and the merchant's rating (the
claims panel); and its timeline. Managers and BD (a request of their deal) read it."""
import importlib.util
from datetime import datetime, time

import streamlit as st

from console import clock, fmt
from console.logistics import tracking as tr
from console.ui import (enum_label, flash, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import page_url, parse_id, record_link

actor = require_actor()
desk = actor.has("ops")
st.title(t("lgx.page.title"))
show_flash()

# ---------------------------------------------------------------- which request
raw = st.query_params.get("request")
request_id = parse_id(raw)
if raw not in (None, "") and request_id is None:
    st.error(t("links.bad_id", kind=t("lgx.page.kind")))
if request_id is None:   # none named: the requests in my hands (the desk) or the oldest open
    mine = run_query(tr.list_queue, actor=actor, limit=20,
                     filters=tr.QueueFilters(view="mine" if desk else "all"))
    if mine is None:
        st.stop()
    st.info(t("lgx.page.pick"))
    for row in mine.rows.itertuples():
        st.markdown(t("lgx.page.pick_item", link=f"[#{row.id}]({page_url('transport', request=row.id)})",
                      status=enum_label("lgx_status", row.status), merchant=row.merchant,
                      lane=f"{row.from_city} → {row.to_city}"))
    st.stop()
view = run_query(tr.get_request, actor=actor, request_id=request_id)
if view is None:
    st.stop()
req = view.request
version = int(req["version"])


def yuan(value) -> str:
    return fmt.yuan(value, digits=2)


# ---------------------------------------------------------------- the request
status_text = enum_label("lgx_status", req["status"])
if req["status"] == "exception":
    status_text += " · " + enum_label("lgx_exception", req["exception_kind"])
st.subheader(t("lgx.page.heading", id=req["id"], status=status_text))
st.markdown(t("lgx.page.who", merchant=record_link("merchant", req["merchant_id"], req["merchant"]),
              source=enum_label("lgx_source", req["source"]),
              assignee=req["assignee"] or fmt.MISSING))
if req["match_id"] is not None:
    st.caption(t("lgx.page.from_deal", card=record_link("card", req["match_id"]),
                 order=req["order_id"] or fmt.MISSING))
st.markdown(t("lgx.page.lane_line", lane=f"{req['from_city']} → {req['to_city']}",
              provinces=f"{req['from_province']} → {req['to_province']}",
              ready=fmt.day(req["ready_date"]), wanted=fmt.day(req["wanted_by"])))
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("lgx.page.cars"), fmt.number(req["cars"]))
c2.metric(t("lgx.page.value"), yuan(req["declared_value"]))
if req["carrier_id"] is not None:
    st.markdown(t("lgx.page.carrier_line", carrier=req["carrier"],
                  truck=enum_label("lgx_truck", req["truck_type"]),
                  contact=req["carrier_contact"] or fmt.MISSING,
                  phone=req["carrier_phone"] or fmt.MISSING))
    st.caption(t("lgx.page.times_line", ordered=fmt.when(req["ordered_at"]),
                 picked=fmt.when(req["picked_up_at"]),
                 delivered=fmt.when(req["delivered_at"])))
    d1, d2, d3, _ = st.columns(4)
    d1.metric(t("lgx.page.price"), yuan(req["price_to_merchant"]))
    d2.metric(t("lgx.page.cost"), yuan(req["cost_from_carrier"]))
    d3.metric(t("lgx.page.margin"), yuan(req["margin"]))
cars = view.cars
st.dataframe(labelled(cars.assign(
    vin=cars["vin"].fillna(fmt.MISSING),
    listing_id=cars["listing_id"].map(lambda v: fmt.MISSING if fmt.is_missing(v) else f"#{int(v)}"),
)[["vin", "series", "trim", "quantity", "listing_id"]], "lgx.page.car"), hide_index=True,
    width="stretch")

# ---------------------------------------------------------------- the desk's moves
if desk and req["status"] not in tr.FINAL:
    if req["assignee_id"] != actor.id and st.button(
            t("lgx.page.take"), icon=":material/front_hand:", key="lgx_take",
            disabled=req["assignee_id"] is not None):
        if run_action(tr.assign, actor=actor, request_id=request_id, version=version,
                      assignee_id=actor.id):
            flash(t("lgx.queue.took", id=request_id))
            st.rerun()
    if req["status"] in ("awaiting_quote", "quoted"):
        st.info(t("lgx.page.book_to_order"))
    if view.moves:
        with st.form("lgx_move"):
            st.markdown(f"**{t('lgx.page.move_title')}**")
            to = st.selectbox(t("lgx.page.move_to"), list(view.moves), key="lgx_move_to",
                              format_func=lambda s: enum_label("lgx_status", s))
            kind = None
            if "exception" in view.moves:
                kind = st.radio(t("lgx.page.exception_kind"), list(tr.EXCEPTION_KINDS),
                                horizontal=True, index=None, key="lgx_move_kind",
                                format_func=lambda k: enum_label("lgx_exception", k),
                                help=t("lgx.page.exception_help"))
            receiver = at_day = at_time = photo = None
            if "delivered" in view.moves:
                st.caption(t("lgx.page.handover_help"))
                h1, h2, h3, h4 = st.columns([1.4, 1, 1, 1.6])
                receiver = h1.text_input(t("lgx.page.receiver"), max_chars=60,
                                         key="lgx_move_receiver")
                at_day = h2.date_input(t("lgx.page.handover_day"), value=clock.today(),
                                       key="lgx_move_day")
                at_time = h3.time_input(t("lgx.page.handover_time"), value=time(10, 0),
                                        key="lgx_move_time")
                photo = h4.text_input(t("lgx.page.photo"), max_chars=300, key="lgx_move_photo",
                                      placeholder=t("lgx.page.photo_hint"))
            note = st.text_area(t("lgx.page.note"), key="lgx_move_note", height=68,
                                help=t("lgx.page.note_help"))
            if st.form_submit_button(t("lgx.page.move"), type="primary"):
                handover_at = (datetime.combine(at_day, at_time, tzinfo=clock.business_tz())
                               if to == "delivered" and at_day and at_time else None)
                done = run_action(
                    tr.move, actor=actor, request_id=request_id, version=version, to_status=to,
                    note=note, exception_kind=kind if to == "exception" else None,
                    handover_receiver=receiver if to == "delivered" else None,
                    handover_at=handover_at,
                    handover_photo_ref=photo if to == "delivered" else None)
                if done:
                    flash(t("lgx.page.moved", status=enum_label("lgx_status", to)))
                    st.rerun()
    with st.form("lgx_note", clear_on_submit=True):
        body = st.text_area(t("lgx.page.add_note"), key="lgx_note_body", height=68)
        if st.form_submit_button(t("lgx.page.add_note_submit")):
            if run_action(tr.add_note, actor=actor, request_id=request_id, note=body):
                flash(t("common.done"))
                st.rerun()


# ---------------------------------------------------------------- the other desks' panels
def panel(module: str, function: str) -> None:
    """The quotes panel (console/ui/lgx_quotes.py) and the claims panel (console/ui/
    lgx_claims.py) are their modules' own; called here when they are installed."""
    if importlib.util.find_spec(module) is None:
        return
    getattr(importlib.import_module(module), function)(request_id=request_id, actor=actor)


# >>> the quotes panel: L2's console/ui/lgx_quotes.py render_quotes(request_id=, actor=)
panel("console.ui.lgx_quotes", "render_quotes")
# >>> the claims and rating panel: L3's console/ui/lgx_claims.py render_claims(request_id=, actor=)
panel("console.ui.lgx_claims", "render_claims")

# ---------------------------------------------------------------- the timeline
st.markdown(f"**{t('lgx.page.timeline')}**")


def event_text(row) -> str:
    if row.kind == "status" and isinstance(row.to_status, str):
        text = (f"{enum_label('lgx_status', row.from_status)} → "
                f"{enum_label('lgx_status', row.to_status)}")
        if isinstance(row.handover_receiver, str):
            text += " · " + t("lgx.page.handover_line", receiver=row.handover_receiver,
                              at=fmt.when(row.handover_at), photo=row.handover_photo_ref)
        return text
    if row.kind == "assigned":
        return t("lgx.page.assigned_to", who=row.assignee or fmt.MISSING)
    if row.kind == "claim" and isinstance(row.to_status, str):   # the claim's own status
        before = (enum_label("lgx_claim_status", row.from_status)
                  if isinstance(row.from_status, str) else fmt.MISSING)
        return f"{before} → {enum_label('lgx_claim_status', row.to_status)}"
    return ""


timeline = view.timeline
if timeline.empty:
    st.caption(t("lgx.page.no_timeline"))
else:
    shown = timeline.assign(
        at=timeline["at"].map(fmt.when),
        kind=timeline["kind"].map(lambda k: enum_label("lgx_event", k)),
        what=[event_text(r) for r in timeline.itertuples()],
        note=timeline["note"].fillna(""),
        who=timeline["who"].fillna(t("lgx.page.merchant_side")))
    st.dataframe(labelled(shown[["at", "kind", "what", "note", "who"]], "lgx.page.tl"),
                 hide_index=True, width="stretch")
