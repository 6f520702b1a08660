"""Risk: one order loan (订单贷) — its money, the checks at application, the decision, the
disbursement, repayments, collection notes and promises, and its timeline. BD: a loan they
filed, read-only but for withdrawing it before disbursement, the borrower's ID number masked."""
import streamlit as st

from console import clock, fmt
from console.finance import loans
from console.ui import (enum_label, flash, fmt_time, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import keep_in_url, record_link, requested_id

actor = require_actor()
st.title(t("finance.loans.page.title"))
show_flash()

loan_id = requested_id("loan")
if loan_id is None:   # no loan named: the applications in my hands, as links
    # risk: the cases I hold; BD: the applications I filed
    mine = run_query(loans.list_queue, actor=actor,
                     view="mine" if loans.sees_every_loan(actor) else "filed")
    if mine is None:
        st.stop()
    st.info(t("finance.loans.page.pick"))
    for row in mine.rows.itertuples():
        st.markdown(record_link("loan", row.id, t("finance.loans.page.mine_item", id=row.id,
                                                  merchant=row.merchant_name,
                                                  principal=fmt.yuan(row.principal, digits=2))))
    st.stop()
keep_in_url("loan", loan_id)
view = run_query(loans.get_loan, actor=actor, loan_id=loan_id)
if view is None:
    st.stop()
loan = view.loan


def money(value) -> str:
    return fmt.yuan(value, digits=2)


# ---------------------------------------------------------------- the loan
st.subheader(t("finance.loans.page.heading", id=loan["id"],
               status=t(f"finance.loans.status.{loan['status']}")))
st.markdown(t("finance.loans.page.parties",
              borrower=record_link("merchant", loan["merchant_id"], loan["merchant_name"]),
              seller=record_link("merchant", loan["seller_id"], loan["seller_name"]),
              order=loan["order_id"]))
# The borrower's contact, masked for this person's roles by the service (console/masking.py).
st.caption(t("finance.loans.page.borrower_contact",
             contact=loan["borrower_contact"] or fmt.MISSING,
             phone=loan["borrower_phone"] or fmt.MISSING,
             id_number=loan["borrower_id_number"] or fmt.MISSING))
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("finance.loans.principal"), money(loan["principal"]))
c2.metric(t("finance.loans.balance"), money(loan["balance"]))
c3.metric(t("finance.loans.rate", grade=loan["grade"]), t(
    "finance.loans.rate_value", rate=fmt.number(float(loan["daily_rate"]) * 10_000, digits=1)))
c4.metric(t("finance.loans.term"), t("finance.loans.days", n=loan["term_days"]))
d1, d2, d3, d4 = st.columns(4)
d1.metric(t("finance.loans.certificate"),
          t(f"finance.loans.certificate.{loan['certificate_state']}"),
          help=loan["certificate_no"])
d2.metric(t("finance.loans.due_date"), fmt.day(loan["due_date"]))
d3.metric(t("finance.loans.dpd"), f"{loan['dpd']:,}",
          help=t(f"finance.loans.bucket.{loan['bucket']}"))
d4.metric(t("finance.loans.paid"), money(loan["principal_paid"] + loan["interest_paid"]),
          help=t("finance.loans.paid_help", interest=money(loan["interest_paid"]),
                 principal=money(loan["principal_paid"]),
                 accrued=money(loan["interest_accrued"])))
if loan["default_at"] is not None:
    st.error(t("finance.loans.defaulted_on", day=fmt.day(loan["default_at"])))

# ---------------------------------------------------------------- the checks at application
if view.checks:
    with st.expander(t("finance.loans.checks"), expanded=loan["status"] == "applied",
                     icon=":material/rule:"):
        for name in ("grade", "line", "overdue", "seller_exposure", "brand_exposure", "escrow"):
            check = view.checks.get(name)
            if check is None:
                continue
            mark = "✅" if check["ok"] else "⚠️"
            figures = {k: money(v) if k in ("line", "available", "principal", "exposure", "limit")
                       else v for k, v in check.items() if k != "ok"}
            if name == "grade":
                figures["daily_rate"] = fmt.number(float(check["daily_rate"]) * 10_000, digits=1)
            if name == "escrow":
                figures = {"status": enum_label("order_status", check["status"]),
                           "escrow_state": enum_label("escrow_state", check["escrow_state"])}
            st.markdown(f"{mark} **{t(f'finance.loans.check.{name}')}** · "
                        + t(f"finance.loans.check.{name}.detail", **figures))

# ---------------------------------------------------------------- what can be done now
status, version = loan["status"], loan["version"]
can_decide = actor.has("risk")
if status == "applied" and can_decide:
    if loan["assignee_id"] is None:
        if st.button(t("finance.loans.take"), key="loan_take"):
            if run_action(loans.assign_case, actor=actor, loan_id=loan_id, version=version,
                          assignee_id=actor.id):
                st.rerun()
    elif loan["assignee_id"] == actor.id:
        with st.form("loan_decide"):
            note = st.text_area(t("finance.loans.note"))
            b1, b2 = st.columns(2)
            approve = b1.form_submit_button(t("finance.loans.approve"), type="primary")
            reject = b2.form_submit_button(t("finance.loans.reject"))
        if approve and run_action(loans.approve, actor=actor, loan_id=loan_id, version=version,
                                  note=note):
            flash(t("finance.loans.approved"))
            st.rerun()
        if reject and run_action(loans.reject, actor=actor, loan_id=loan_id, version=version,
                                 reason=note):
            flash(t("finance.loans.rejected"))
            st.rerun()
    else:
        st.caption(t("finance.loans.held_by", name=loan["assignee"]))
if status == "approved" and can_decide:
    st.info(t("finance.loans.ready", seller=loan["seller_name"], amount=money(loan["principal"])))
    if st.button(t("finance.loans.disburse"), type="primary", key="loan_disburse"):
        done = run_action(loans.disburse, actor=actor, loan_id=loan_id, version=version)
        if done:
            flash(t("finance.loans.disbursed", reference=done.value.payout_reference,
                    due=fmt.day(done.value.due_date)))
            st.rerun()
if status in loans.OPEN_STATUSES and actor.has("risk", "bd"):
    with st.expander(t("finance.loans.cancel"), icon=":material/cancel:"):
        with st.form("loan_cancel"):
            reason = st.text_input(t("finance.loans.reason"))
            if st.form_submit_button(t("finance.loans.cancel")):
                if run_action(loans.cancel, actor=actor, loan_id=loan_id, version=version,
                              reason=reason):
                    flash(t("finance.loans.cancelled"))
                    st.rerun()
if status == "disbursed" and can_decide:
    r1, r2 = st.columns(2)
    with r1.form("loan_repay"):
        st.markdown(f"**{t('finance.loans.repayment')}**")
        amount = st.number_input(t("finance.loans.amount"), step=1000.0, value=None,
                                 format="%.2f")
        channel = st.selectbox(t("finance.loans.channel"), loans.CHANNELS,
                               format_func=lambda c: t(f"finance.loans.channel.{c}"))
        reference = st.text_input(t("finance.loans.reference"), max_chars=64)
        if st.form_submit_button(t("finance.loans.record"), type="primary"):
            done = run_action(loans.record_repayment, actor=actor, loan_id=loan_id,
                              amount=amount or 0, channel=channel, reference=reference)
            if done:
                flash(t("finance.loans.recorded", interest=money(done.value.to_interest),
                        principal=money(done.value.to_principal),
                        balance=money(done.value.balance_after)))
                st.rerun()
    with r2.form("loan_collect"):
        st.markdown(f"**{t('finance.loans.collection')}**")
        note = st.text_area(t("finance.loans.collection_note"))
        promise_on = st.date_input(t("finance.loans.promise_date"), value=None)
        promise_amount = st.number_input(t("finance.loans.promise_amount"), step=1000.0,
                                         value=None, format="%.2f")
        if st.form_submit_button(t("finance.loans.save_collection")):
            ok = (run_action(loans.add_promise_to_pay, actor=actor, loan_id=loan_id,
                             promise_date=promise_on, amount=promise_amount or 0,
                             note=note or None)
                  if promise_on is not None else
                  run_action(loans.add_collection_note, actor=actor, loan_id=loan_id,
                             note=note))
            if ok:
                flash(t("finance.loans.collection_saved"))
                st.rerun()

# ---------------------------------------------------------------- repayments and timeline
st.subheader(t("finance.loans.repayments"))
if view.repayments.empty:
    st.caption(t("common.none"))
else:
    reps = view.repayments.assign(
        channel=view.repayments["channel"].map(lambda c: t(f"finance.loans.channel.{c}")),
        recorded_by=view.repayments["recorded_by"].fillna(t("audit.system")),
        **{c: view.repayments[c].map(money) for c in ("amount", "to_interest", "to_principal")})
    st.dataframe(labelled(fmt.frame(reps, {"received_at": "when"}, lang=lang())
                          .drop(columns=["id"]), "finance.loans.col"),
                 hide_index=True, width="stretch")

st.subheader(t("finance.loans.timeline"))
for e in view.timeline.itertuples():
    what = t(f"finance.loans.event.{e.kind}")
    extra = []
    if e.amount is not None and e.amount == e.amount:
        extra.append(money(e.amount))
    if e.promise_date is not None and str(e.promise_date) != "NaT":
        extra.append(t("finance.loans.by_day", day=fmt.day(e.promise_date)))
    if e.kind == "bucket":
        extra.append(t("finance.loans.bucket_move", **{
            "from": t(f"finance.loans.bucket.{e.detail['from']}"),
            "to": t(f"finance.loans.bucket.{e.detail['to']}")}))
    if e.kind == "repayment":
        extra.append(t("finance.loans.split", interest=money(e.detail.get("to_interest")),
                       principal=money(e.detail.get("to_principal")),
                       reference=e.detail.get("reference")))
    if e.kind == "disbursed":
        extra.append(t("finance.loans.payout_ref", reference=e.detail.get("payout_reference")))
    who = e.who if isinstance(e.who, str) else t("audit.system")
    line = f"{fmt_time(e.at)} · {who} · **{what}**" + (" · " + " · ".join(extra) if extra else "")
    st.markdown(line)
    if isinstance(e.note, str) and e.note:
        st.caption(e.note)
st.caption(t("finance.loans.today", day=fmt.day(clock.today())))
