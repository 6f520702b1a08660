"""Risk: the order-loan application queue (订单贷审批) — next case, stages, SLA, and entering an
application for a merchant. BD: the applications they filed, read-only (the service shows them
nothing else), and the form to file one."""
import streamlit as st

from console import fmt
from console.finance import loans
from console.settings import get_settings
from console.ui import (flash, labelled, lang, pager, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import open_record

COLUMNS = ["id", "sla", "stage", "merchant_name", "seller_name", "principal", "term_days",
           "grade", "assignee", "applied_at"]

actor = require_actor()
st.title(t("finance.loans.queue.title"))
st.caption(t("finance.loans.queue.caption", hours=get_settings().loan_sla_hours,
             threshold=fmt.yuan(get_settings().loan_second_approval_yuan)))
show_flash()

if actor.has("risk"):
    if st.button(t("finance.loans.next_case"), type="primary", icon=":material/skip_next:",
                 key="loan_next_case"):
        taken = run_action(loans.next_case, actor=actor)
        if taken and taken.value is None:
            st.info(t("finance.loans.queue.empty"))
        elif taken:
            flash(t("finance.loans.took", id=taken.value))
            open_record("loan", taken.value)

if not loans.sees_every_loan(actor):   # BD: the applications they filed, to follow them
    st.info(t("finance.loans.queue.filer_note"), icon=":material/visibility:")
view = st.radio(t("finance.loans.queue.view"), loans.views_for(actor), horizontal=True,
                format_func=lambda v: t(f"finance.loans.view.{v}"), key="loan_queue_view")
size = get_settings().page_size
offset = (st.session_state.get("loan_queue__page", 1) - 1) * size
page = run_query(loans.list_queue, actor=actor, view=view, limit=size, offset=offset)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("finance.loans.queue.none_filed" if view == "filed" else "finance.loans.queue.empty"))
else:
    rows = page.rows
    shown = fmt.frame(rows.assign(
        sla=rows["sla"].map(lambda v: fmt.MISSING if v is None else t(f"finance.loans.sla.{v}")),
        # a decided application (the view of what I filed) reads as its status
        stage=[t(f"finance.loans.status.{s}") if g == "closed" else t(f"finance.loans.stage.{g}")
               for g, s in zip(rows["stage"], rows["status"])],
        principal=rows["principal"].map(lambda v: fmt.yuan(v, digits=2)),
        assignee=rows["assignee"].fillna(fmt.MISSING),
    ), {"applied_at": "when"}, lang=lang())[COLUMNS]
    event = st.dataframe(labelled(shown, "finance.loans.col"), hide_index=True,
                         width="stretch", on_select="rerun", selection_mode="single-row",
                         key="loan_queue_table")
    picked = event.selection.rows if event is not None else []
    if picked and st.button(t("finance.loans.open", id=int(rows.iloc[picked[0]]["id"])),
                            key="loan_open_selected"):
        open_record("loan", int(rows.iloc[picked[0]]["id"]))
if pager(key="loan_queue", total=page.total, page_size=size) != offset:
    st.rerun()

if actor.has("risk", "bd"):
    with st.expander(t("finance.loans.apply.title"), icon=":material/add_card:"):
        with st.form("loan_apply"):
            c1, c2 = st.columns(2)
            merchant_id = c1.number_input(t("finance.loans.apply.merchant_id"), step=1, value=None)
            order_id = c2.number_input(t("finance.loans.apply.order_id"), step=1, value=None)
            c3, c4, c5 = st.columns(3)
            principal = c3.number_input(t("finance.loans.apply.principal"), step=1000.0,
                                        value=None, format="%.2f")
            term = c4.selectbox(t("finance.loans.apply.term"), loans.terms()["terms_days"],
                                format_func=lambda d: t("finance.loans.days", n=d))
            certificate = c5.text_input(t("finance.loans.apply.certificate"), max_chars=40)
            if st.form_submit_button(t("finance.loans.apply.submit"), type="primary"):
                done = run_action(loans.apply, actor=actor, merchant_id=int(merchant_id or 0),
                                  order_id=int(order_id or 0), principal=principal or 0,
                                  term_days=term, certificate_no=certificate)
                if done:
                    flash(t("finance.loans.applied", id=done.value.loan_id))
                    open_record("loan", done.value.loan_id)
