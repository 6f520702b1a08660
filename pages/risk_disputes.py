"""Escrow dispute desk (定金担保纠纷): open disputes oldest first; both sides' statements and
evidence beside the deal and its escrow; release, refund or split with a reason, and a
second risk officer above the configured amount. Managers read; risk decides."""
import unicodedata
from decimal import Decimal

import pandas as pd
import streamlit as st

from console import fmt
from console.services import disputes
from console.settings import get_settings
from console.ui import (enum_label, flash, labelled, pager, require_actor, run_action,
                        run_query, show_flash, t)

actor = require_actor()
st.title(t("disputes.title"))
show_flash()


def money(value) -> str:
    """A single deposit in yuan; fen only when there are any."""
    if fmt.is_missing(value):
        return fmt.MISSING
    return fmt.yuan(value, digits=0 if Decimal(value) == Decimal(value).to_integral() else 2)


def whole_yuan(text: str, label: str) -> tuple[int | None, bool]:
    """A filter's whole number of yuan (full-width digits read as digits); (value, ok)."""
    text = unicodedata.normalize("NFKC", text or "").replace(",", "").strip()
    if not text:
        return None, True
    if text.isascii() and text.isdigit() and len(text) <= 12:
        return int(text), True
    st.error(t("disputes.f.bad_number", field=label))
    return None, False


# ---------------------------------------------------------------- filters and queue
c = st.columns([2, 2, 2, 2, 3])
reason = c[0].selectbox(t("disputes.f.reason"), ["", *disputes.REASONS], key="dsp_reason",
                        format_func=lambda r: enum_label("dispute_reason", r) if r else t("common.all"))
min_label, max_label = t("disputes.f.min_deposit"), t("disputes.f.max_deposit")
min_dep, ok_min = whole_yuan(c[1].text_input(min_label, key="dsp_min"), min_label)
max_dep, ok_max = whole_yuan(c[2].text_input(max_label, key="dsp_max"), max_label)
age = c[3].selectbox(t("disputes.f.min_age_days"), [0, 1, 3, 7, 14], key="dsp_age",
                     format_func=lambda d: t("disputes.age", days=d) if d else t("common.all"))
query = c[4].text_input(t("disputes.f.query"), key="dsp_query")
awaiting = st.toggle(t("disputes.f.awaiting_second"), key="dsp_awaiting")
if not (ok_min and ok_max):
    st.stop()

filters = disputes.QueueFilters(reason=reason or None, min_deposit=min_dep, max_deposit=max_dep,
                                min_age_days=age or None, query=query, awaiting_second=awaiting)
page_size = get_settings().page_size
offset = st.session_state.get("dsp__offset", 0)
queue = run_query(disputes.dispute_queue, actor=actor, filters=filters, limit=page_size,
                  offset=offset)
if queue is None:
    st.stop()
st.caption(t("disputes.intro", threshold=money(queue.threshold_yuan)))
st.subheader(t("disputes.queue", total=fmt.number(queue.total)))

rows = queue.rows
picked_id = None
if rows.empty:
    st.info(t("common.none"))
else:
    shown = pd.DataFrame({
        "dispute_id": rows["dispute_id"].map(lambda v: f"#{v}"),
        "order_id": rows["order_id"].map(lambda v: f"#{v}"),
        "reason": rows["reason"].map(lambda v: enum_label("dispute_reason", v)),
        "deposit_amount": rows["deposit_amount"].map(money),
        "age_days": rows["age_days"].map(lambda d: t("disputes.age", days=fmt.number(d, digits=1))),
        "created_at": rows["created_at"].map(fmt.when),
        "buyer": rows["buyer"], "seller": rows["seller"],
        "raised_by_side": rows["raised_by_side"].map(lambda s: t(f"disputes.side.{s}")),
        "proposed_kind": rows["proposed_kind"].map(
            lambda k: t(f"disputes.kind.{k}") if isinstance(k, str) else fmt.MISSING),
    })
    event = st.dataframe(labelled(shown, "disputes.col"), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="dsp_table")
    chosen = event.selection.rows if event is not None else []
    if chosen:
        picked_id = int(rows.iloc[chosen[0]]["dispute_id"])
new_offset = pager(key="dsp", total=queue.total, page_size=page_size)
if new_offset != offset:
    st.session_state["dsp__offset"] = new_offset
    st.rerun()

# A link names a dispute (?dispute=123); a pick in the table wins over it.
param = st.query_params.get("dispute")
if picked_id is None and isinstance(param, str) and param.isascii() and param.isdigit() \
        and 0 < len(param) <= 18:
    picked_id = int(param)
if picked_id is None:
    st.caption(t("disputes.pick"))
    st.stop()
if st.query_params.get("dispute") != str(picked_id):
    st.query_params["dispute"] = str(picked_id)

# ---------------------------------------------------------------- one dispute
view = run_query(disputes.dispute_view, actor=actor, dispute_id=picked_id)
if view is None:
    st.stop()
d = view.dispute
st.divider()
st.header(t("disputes.view.header", id=d["id"], order=d["order_id"]))
side_word = {s: t(f"disputes.side.{s}") for s in ("buyer", "seller")}
st.markdown(t("disputes.view.parties", buyer=d["buyer"], buyer_id=d["buyer_id"], seller=d["seller"],
              seller_id=d["seller_id"], side=side_word[d["raised_by_side"]],
              reason=enum_label("dispute_reason", d["reason"])))
for side in ("buyer", "seller"):
    if d[f"{side}_status"] != "active":
        st.warning(t("disputes.view.party_not_active", side=side_word[side], name=d[side],
                     status=enum_label("merchant_status", d[f"{side}_status"])))
if d["status"] != "open":
    st.success(t("disputes.view.resolved", at=fmt.when(d["resolved_at"]),
                 outcome=t(f"disputes.outcome.{d['outcome']}")))

st.subheader(t("disputes.view.deal"))
st.markdown(t("disputes.view.vehicle_line", vehicle=d["vehicle"] or fmt.MISSING,
              qty=fmt.number(d["quantity"]), unit=money(d["unit_price"]),
              paid=fmt.when(d["deposit_paid_at"])))
m = st.columns(4)
m[0].metric(t("disputes.view.amount"), money(d["amount"]))
m[1].metric(t("disputes.view.deposit"), money(d["deposit_amount"]))
m[2].metric(t("disputes.view.escrow"), enum_label("escrow_state", d["escrow_state"]))
m[3].metric(t("disputes.view.order_status"), enum_label("order_status", d["order_status"]))

st.subheader(t("disputes.view.statements"))
cols = st.columns(2)
for col, side in zip(cols, ("buyer", "seller")):
    with col.container(border=True):
        st.markdown(f"**{side_word[side]} · {d[side]}**")
        said = view.statements[view.statements["side"] == side]
        if said.empty:
            st.caption(t("disputes.view.no_statement", side=side_word[side]))
        for s in said.itertuples():
            st.caption(t("disputes.view.statement_meta", at=fmt.when(s.created_at)))
            st.write(s.body)
            if s.evidence:
                st.markdown(t("disputes.view.evidence") + "\n" + "\n".join(
                    "- " + t("disputes.view.evidence_item", title=e.get("title", ""),
                             kind=t(f"disputes.evidence.{e.get('kind', 'photo')}"))
                    for e in s.evidence if isinstance(e, dict)))
            else:
                st.caption(t("disputes.view.no_evidence"))


def event_text(event: str, params: dict) -> str:
    words = dict(params)
    if "side" in words:
        words["side"] = side_word[words["side"]]
    if "reason" in words:
        words["reason"] = enum_label("dispute_reason", words["reason"])
    if "amount" in words:
        words["amount"] = money(words["amount"])
    if event == "payment":
        words["kind"] = t(f"disputes.payment_kind.{params['kind']}")
        words["status"] = t(f"disputes.payment_status.{params['status']}")
    elif "kind" in words:
        words["kind"] = t(f"disputes.kind.{words['kind']}")
    if "outcome" in words:
        words["outcome"] = t(f"disputes.outcome.{words['outcome']}")
    return t(f"disputes.event.{event}", **words)


st.subheader(t("disputes.view.timeline"))
timeline = pd.DataFrame({"at": view.timeline["at"].map(fmt.when),
                         "event": [event_text(e, p) for e, p in
                                   zip(view.timeline["event"], view.timeline["params"])]})
st.dataframe(labelled(timeline, "disputes.col"), hide_index=True, width="stretch")

if not view.decisions.empty:
    st.subheader(t("disputes.view.decisions"))
    x = view.decisions
    shown = pd.DataFrame({
        "kind": x["kind"].map(lambda k: t(f"disputes.kind.{k}")),
        "status": x["status"].map(lambda s: t(f"disputes.status.{s}")),
        "seller_amount": x["seller_amount"].map(money), "buyer_amount": x["buyer_amount"].map(money),
        "reason_text": x["reason"], "proposed_by": x["proposed_by"],
        "proposed_at": x["proposed_at"].map(fmt.when),
        "decided_by": x["decided_by"], "decided_at": x["decided_at"].map(fmt.when),
        "decision_note": x["decision_note"]})
    st.dataframe(labelled(shown, "disputes.col"), hide_index=True, width="stretch")

# ---------------------------------------------------------------- deciding (risk only)
if not actor.has(*disputes.DECIDERS):
    st.caption(t("disputes.read_only"))
    st.stop()
if d["status"] != "open":
    st.stop()

pending = view.pending
if pending is not None:
    st.info(t("disputes.pending.info", who=pending["proposed_by"], at=fmt.when(pending["proposed_at"]),
              kind=t(f"disputes.kind.{pending['kind']}"), seller=money(pending["seller_amount"]),
              buyer=money(pending["buyer_amount"]), reason=pending["reason"]))
    if int(pending["proposed_by_id"]) == actor.id:
        st.caption(t("disputes.pending.own"))
        st.stop()
    with st.form("dsp_second"):
        note = st.text_area(t("disputes.pending.note"), key="dsp_note")
        a, r = st.columns(2)
        approve = a.form_submit_button(t("disputes.pending.approve"), type="primary")
        reject = r.form_submit_button(t("disputes.pending.reject"))
    if approve and run_action(disputes.approve, actor=actor, decision_id=int(pending["id"]), note=note):
        flash(t("disputes.pending.approved"))
        st.rerun()
    if reject and run_action(disputes.reject, actor=actor, decision_id=int(pending["id"]), note=note):
        flash(t("disputes.pending.rejected"))
        st.rerun()
    st.stop()

st.subheader(t("disputes.decide.title"))
if view.needs_second:
    st.warning(t("disputes.decide.needs_second", deposit=money(d["deposit_amount"]),
                 threshold=money(view.threshold_yuan)))
with st.form("dsp_decide"):
    # Nothing is preselected: each choice moves money.
    kind = st.radio(t("disputes.decide.kind"), disputes.KINDS, index=None, horizontal=True,
                    format_func=lambda k: t(f"disputes.kind.{k}"), key="dsp_kind")
    st.caption(t("disputes.decide.split_hint", deposit=money(d["deposit_amount"])))
    a, b = st.columns(2)
    seller_amount = a.text_input(t("disputes.decide.seller_amount"), key="dsp_seller")
    buyer_amount = b.text_input(t("disputes.decide.buyer_amount"), key="dsp_buyer")
    reason_text = st.text_area(t("disputes.decide.reason"), key="dsp_reason_text")
    submitted = st.form_submit_button(t("disputes.decide.submit"), type="primary")
if submitted:
    if kind is None:
        st.error(t("disputes.error.bad_kind"))
    else:
        split = kind == "split"
        out = run_action(disputes.decide, actor=actor, dispute_id=int(d["id"]), kind=kind,
                         reason=reason_text, seller_amount=seller_amount if split else None,
                         buyer_amount=buyer_amount if split else None)
        if out:
            decision = out.value
            flash(t("disputes.decide.applied", kind=t(f"disputes.kind.{kind}"),
                    buyer=money(decision.buyer_amount), seller=money(decision.seller_amount))
                  if decision.status == "applied" else t("disputes.decide.proposed"))
            st.rerun()
