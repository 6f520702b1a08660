"""Car-carrier loads (/loads): the day's proposals — requests on nearby lanes that can leave that
day, on one large truck — with what each costs alone and together and the saving per car; a
person confirms one; the open loads, their bookings, and booking a request on or off one
(console/logistics/loads.py). Managers read it."""
from datetime import timedelta

import pandas as pd
import streamlit as st

from console import clock, fmt
from console.logistics import loads as ld
from console.ui import (enum_label, flash, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import page_url

actor = require_actor()
desk = actor.has(*ld.DESK)
st.title(t("lgx.loads.title"))
st.caption(t("lgx.loads.caption"))
show_flash()
shown_lang = lang()


def yuan(value) -> str:
    return fmt.yuan(value, digits=2)


def request_link(request_id: int) -> str:
    return page_url("transport", request=int(request_id))


def show_requests(df: pd.DataFrame) -> None:
    """A table whose 'request' column links each request's page, shown as its number."""
    st.dataframe(labelled(df, "lgx.loads.col"), hide_index=True, width="stretch",
                 column_config={t("lgx.loads.col.request"): st.column_config.LinkColumn(
                     display_text=r"request=(\d+)")})


# ---------------------------------------------------------------- the day's proposals
st.subheader(t("lgx.loads.proposals"))
day = st.date_input(t("lgx.loads.day"), value=clock.today() + timedelta(days=1),
                    min_value=clock.today(), max_value=clock.today() + timedelta(days=90),
                    key="lgxl_day")
found = run_query(ld.proposals, actor=actor, day=day)
if found is None:
    st.stop()
if not found:
    st.info(t("lgx.loads.no_proposals", day=fmt.day(day)))
for i, p in enumerate(found):
    with st.container(border=True):
        st.markdown(t("lgx.loads.proposal_head", carrier=p.carrier, lane=f"{p.from_city} → {p.to_city}",
                      cars=p.cars, capacity=p.capacity, requests=len(p.members)))
        m1, m2, m3 = st.columns(3)
        m1.metric(t("lgx.loads.separately"), yuan(p.separately))
        m2.metric(t("lgx.loads.together"), yuan(p.together))
        m3.metric(t("lgx.loads.saving_per_car"), yuan(p.saving_per_car))
        members = pd.DataFrame([{
            "request": request_link(m.request_id), "status": enum_label("lgx_status", m.status),
            "lane": f"{m.from_city} → {m.to_city}", "cars": fmt.number(m.cars),
            "distance_km": fmt.number(m.distance_km), "separately": yuan(m.separately),
            "together": yuan(m.together),
            "saving": yuan(m.separately - m.together)} for m in p.members])
        show_requests(members)
        if desk and st.button(t("lgx.loads.confirm"), key=f"lgxl_confirm_{i}", type="primary",
                              icon=":material/local_shipping:"):
            made = run_action(ld.confirm_load, actor=actor, carrier_id=p.carrier_id,
                              from_city_id=p.from_city_id, to_city_id=p.to_city_id,
                              depart_date=p.depart_date,
                              request_ids=tuple(m.request_id for m in p.members),
                              versions=tuple(m.version for m in p.members))
            if made:
                flash(t("lgx.loads.confirmed", id=made.value, cars=p.cars))
                st.rerun()
st.caption(t("lgx.loads.rule"))

# ---------------------------------------------------------------- open loads
st.subheader(t("lgx.loads.open"))
board = run_query(ld.open_loads, actor=actor)
if board is None:
    st.stop()
if board.empty:
    st.caption(t("lgx.loads.no_open"))
    st.stop()
table = board.assign(
    lane=board["from_city"] + " → " + board["to_city"],
    truck_type=board["truck_type"].map(lambda v: enum_label("lgx_truck", v)),
    places=[f"{int(b)} / {int(c)}" for b, c in zip(board["cars_booked"], board["capacity"])],
)[["id", "carrier", "truck_type", "lane", "depart_date", "places", "free", "requests",
   "confirmed_by", "confirmed_at"]]
st.dataframe(labelled(fmt.frame(table, {"depart_date": "day", "confirmed_at": "when"},
                                lang=shown_lang), "lgx.loads.col"),
             hide_index=True, width="stretch")
names = {int(r.id): f"#{int(r.id)} · {r.carrier} · {r.from_city} → {r.to_city} · "
                    f"{fmt.day(r.depart_date)}" for r in board.itertuples()}
load_id = st.selectbox(t("lgx.loads.pick"), list(names), format_func=names.get, key="lgxl_pick")
load = board.set_index("id").loc[load_id]
booked = run_query(ld.load_bookings, actor=actor, load_id=int(load_id))
if booked is None:
    st.stop()
if booked.empty:
    st.caption(t("lgx.loads.no_bookings"))
else:
    show_requests(pd.DataFrame({
        "request": booked["id"].map(request_link),
        "status": booked["status"].map(lambda s: enum_label("lgx_status", s)),
        "lane": booked["from_city"] + " → " + booked["to_city"],
        "cars": booked["cars"].map(fmt.number),
        "cost_from_carrier": booked["cost_from_carrier"].map(yuan),
        "price_to_merchant": booked["price_to_merchant"].map(yuan),
        "margin": booked["margin"].map(yuan)}))
if not desk:
    st.stop()

go = "departed" if int(load["cars_booked"]) > 0 else "cancelled"
if st.button(t("lgx.loads.depart" if go == "departed" else "lgx.loads.cancel"),
             key=f"lgxl_move_{load_id}", icon=":material/departure_board:"
             if go == "departed" else ":material/block:"):
    if run_action(ld.move_load, actor=actor, load_id=int(load_id), version=int(load["version"]),
                  to_status=go):
        flash(t("lgx.loads.departed" if go == "departed" else "lgx.loads.cancelled",
                id=int(load_id)))
        st.rerun()
b1, b2 = st.columns(2)
with b1, st.form(f"lgxl_book_{load_id}"):
    st.markdown(f"**{t('lgx.loads.book_title', free=int(load['free']))}**")
    fits = run_query(ld.loadable_requests, actor=actor, load_id=int(load_id))
    fits = fits if fits is not None else pd.DataFrame(columns=["id"])
    options = {int(r.id): (int(r.version), t("lgx.loads.fit_option", id=int(r.id),
                                             lane=f"{r.from_city} → {r.to_city}", cars=int(r.cars),
                                             status=enum_label("lgx_status", r.status)))
               for r in fits.itertuples()}
    pick = st.selectbox(t("lgx.loads.book_pick"), list(options), index=None,
                        format_func=lambda r: options[r][1],
                        placeholder=t("lgx.loads.book_none") if not options
                        else t("lgx.loads.book_placeholder"))
    if st.form_submit_button(t("lgx.loads.book"), type="primary", disabled=not options):
        if pick is not None and run_action(ld.book_onto_load, actor=actor, load_id=int(load_id),
                                           request_id=pick, version=options[pick][0]):
            flash(t("lgx.loads.booked", id=pick, load=int(load_id)))
            st.rerun()
with b2, st.form(f"lgxl_unbook_{load_id}"):
    st.markdown(f"**{t('lgx.loads.unbook_title')}**")
    on = {int(r.id): int(r.version) for r in booked.itertuples()} if not booked.empty else {}
    off = st.selectbox(t("lgx.loads.unbook_pick"), list(on), index=None,
                       format_func=lambda r: f"#{r}")
    reason = st.text_input(t("lgx.loads.reason"), max_chars=200)
    if st.form_submit_button(t("lgx.loads.unbook"), disabled=not on):
        if off is not None and run_action(ld.unbook_from_load, actor=actor, load_id=int(load_id),
                                          request_id=off, version=on[off], reason=reason):
            flash(t("lgx.loads.unbooked", id=off, load=int(load_id)))
            st.rerun()
