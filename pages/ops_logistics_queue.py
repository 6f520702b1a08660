"""The logistics desk's queue (找物流): every open transport request, oldest first, filtered by
status, lane and ready date, with its age and SLA while it waits for a quote; "next" and
"take" assign a request to the person; the desk enters a request for a merchant. Managers
read it all; a BD person the requests of their own deals."""
from datetime import date

import streamlit as st

from console import fmt
from console.logistics import requests as lr
from console.logistics import tracking as tr
from console.settings import get_settings
from console.ui import (enum_label, flash, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)

TRANSPORT_PAGE = "pages/ops_transport.py"
COLUMNS = ["id", "sla", "status", "merchant", "lane", "ready_date", "wanted_by", "cars",
           "declared_value", "carrier", "assignee", "age_hours"]

actor = require_actor()
desk = actor.has("ops")
st.title(t("lgx.queue.title"))
st.caption(t("lgx.queue.caption", hours=get_settings().logistics_sla_hours))
show_flash()


def open_request(request_id: int) -> None:
    st.switch_page(TRANSPORT_PAGE, query_params={"request": str(int(request_id))})


# ---------------------------------------------------------------- the header (the desk)
if desk:
    counts = run_query(tr.queue_counts, actor=actor)
    if counts is not None:
        c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 1.4])
        c1.metric(t("lgx.queue.unassigned"), fmt.number(counts["unassigned"]))
        c2.metric(t("lgx.queue.mine"), fmt.number(counts["mine"]))
        c3.metric(t("lgx.queue.late"), fmt.number(counts["late"]))
        c4.metric(t("lgx.queue.exceptions"), fmt.number(counts["exceptions"]))
        if c5.button(t("lgx.queue.next"), type="primary", icon=":material/skip_next:",
                     key="lgx_next", width="stretch"):
            taken = run_action(tr.next_request, actor=actor)
            if taken and taken.value is None:
                st.info(t("lgx.queue.nothing_next"))
            elif taken:
                flash(t("lgx.queue.took", id=taken.value))
                open_request(taken.value)
elif not tr.sees_every_request(actor):
    st.info(t("lgx.queue.bd_note"), icon=":material/visibility:")

# ---------------------------------------------------------------- filters
city_rows = run_query(tr.cities, actor=actor)
if city_rows is None:
    st.stop()
city_names = {int(r.id): f"{r.province} · {r.name}" for r in city_rows.itertuples()}
f1, f2, f3, f4, f5 = st.columns([2.2, 1.6, 1.6, 1.2, 1.2])
statuses = f1.multiselect(t("lgx.queue.f.status"), list(tr.OPEN), key="lgxq_status",
                          format_func=lambda s: enum_label("lgx_status", s),
                          placeholder=t("lgx.queue.f.status_all"))
from_city = f2.selectbox(t("lgx.queue.f.from"), [None, *city_names], key="lgxq_from",
                         format_func=lambda i: t("common.all") if i is None else city_names[i])
to_city = f3.selectbox(t("lgx.queue.f.to"), [None, *city_names], key="lgxq_to",
                       format_func=lambda i: t("common.all") if i is None else city_names[i])
ready_from = f4.date_input(t("lgx.queue.f.ready_from"), value=None, key="lgxq_ready_from")
ready_to = f5.date_input(t("lgx.queue.f.ready_to"), value=None, key="lgxq_ready_to")
view = "all"
if desk:
    view = st.radio(t("lgx.queue.f.view"), list(tr.QUEUE_VIEWS), horizontal=True,
                    key="lgxq_view", format_func=lambda v: t(f"lgx.queue.view.{v}"))
filters = tr.QueueFilters(statuses=tuple(statuses), from_city_id=from_city, to_city_id=to_city,
                          ready_from=ready_from if isinstance(ready_from, date) else None,
                          ready_to=ready_to if isinstance(ready_to, date) else None, view=view)

# ---------------------------------------------------------------- the table
size = get_settings().page_size
offset = (st.session_state.get("lgx_queue__page", 1) - 1) * size
page = run_query(tr.list_queue, actor=actor, filters=filters, limit=size, offset=offset)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("lgx.queue.empty"))
else:
    rows = page.rows
    shown = fmt.frame(rows.assign(
        sla=rows["sla"].map(lambda v: t(f"lgx.sla.{v}") if isinstance(v, str) else fmt.MISSING),
        status=rows["status"].map(lambda s: enum_label("lgx_status", s)),
        lane=[f"{a} → {b}" for a, b in zip(rows["from_city"], rows["to_city"])],
        declared_value=rows["declared_value"].map(fmt.wan_number),
        carrier=rows["carrier"].fillna(fmt.MISSING),
        assignee=rows["assignee"].fillna(fmt.MISSING),
    ), {"ready_date": "day", "wanted_by": "day", "cars": "number", "age_hours": "hours"},
        lang=lang())[COLUMNS]
    # the value in 万元, the unit once in the column's header
    event = st.dataframe(labelled(shown, "lgx.queue.col"), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="lgx_queue_table")
    picked = event.selection.rows if event is not None else []
    if picked:
        chosen = rows.iloc[picked[0]]
        b1, b2, _ = st.columns([1.2, 1.2, 4])
        if b1.button(t("lgx.queue.open", id=int(chosen["id"])), key="lgx_open_selected",
                     icon=":material/open_in_new:"):
            open_request(int(chosen["id"]))
        if desk and b2.button(t("lgx.queue.take"), key="lgx_take_selected",
                              icon=":material/front_hand:",
                              disabled=not (chosen["assignee_id"] is None
                                            or fmt.is_missing(chosen["assignee_id"]))):
            if run_action(tr.assign, actor=actor, request_id=int(chosen["id"]),
                          version=int(chosen["version"]), assignee_id=actor.id):
                flash(t("lgx.queue.took", id=int(chosen["id"])))
                st.rerun()
if pager(key="lgx_queue", total=page.total, page_size=size) != offset:
    st.rerun()

# ---------------------------------------------------------------- a request entered by the desk
if desk:
    with st.expander(t("lgx.new.title"), icon=":material/add_road:"):
        with st.form("lgx_new_request"):
            n1, n2, n3 = st.columns(3)
            merchant_id = n1.number_input(t("lgx.new.merchant_id"), step=1, value=None,
                                          key="lgx_new_merchant")
            new_from = n2.selectbox(t("lgx.new.from"), list(city_names), index=None,
                                    format_func=city_names.get, key="lgx_new_from")
            new_to = n3.selectbox(t("lgx.new.to"), list(city_names), index=None,
                                  format_func=city_names.get, key="lgx_new_to")
            d1, d2, d3 = st.columns(3)
            new_ready = d1.date_input(t("lgx.new.ready"), key="lgx_new_ready")
            new_wanted = d2.date_input(t("lgx.new.wanted"), key="lgx_new_wanted")
            value = d3.text_input(t("lgx.new.value"), max_chars=40, key="lgx_new_value",
                                  placeholder=t("lgx.new.value_hint"))
            vins = st.text_area(t("lgx.new.vins"), key="lgx_new_vins", height=80,
                                placeholder=t("lgx.new.vins_hint"))
            k1, k2, k3 = st.columns(3)
            trim_id = k1.number_input(t("lgx.new.trim_id"), step=1, value=None, key="lgx_new_trim")
            quantity = k2.number_input(t("lgx.new.quantity"), step=1, value=1,
                                       key="lgx_new_qty")
            order_id = k3.number_input(t("lgx.new.order_id"), step=1, value=None,
                                       key="lgx_new_order")
            note = st.text_area(t("lgx.new.note"), key="lgx_new_note", height=68)
            if st.form_submit_button(t("lgx.new.submit"), type="primary"):
                cars = [lr.CarLine(vin=line.strip()) for line in (vins or "").splitlines()
                        if line.strip()]
                if trim_id is not None:
                    cars.append(lr.CarLine(trim_id=int(trim_id), quantity=int(quantity)))
                if new_from is None or new_to is None:
                    st.error(t("lgx.new.pick_cities"))
                else:
                    done = run_action(lr.create_request, actor=actor,
                                      merchant_id=int(merchant_id or 0), from_city_id=new_from,
                                      to_city_id=new_to, ready_date=new_ready,
                                      wanted_by=new_wanted, declared_value=value or "",
                                      cars=tuple(cars), note=note,
                                      order_id=int(order_id) if order_id else None)
                    if done:
                        flash(t("lgx.new.created", id=done.value.request_id))
                        open_request(done.value.request_id)
