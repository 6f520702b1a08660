"""Manual credit lines (人工授信): requests awaiting a second risk officer, a merchant's line and
the form to propose one, and the decisions made."""
from datetime import timedelta

import streamlit as st

from console import clock, fmt
from console.finance.line_requests import MAX_LINE_DAYS
from console.services import credit_lines
from console.ui import (flash, fmt_time, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.credit_line import section
from console.ui.links import parse_id

actor = require_actor()
st.title(t("finance.lines.page.title"))
st.caption(t("finance.lines.page.caption"))
show_flash()

inbox = run_query(credit_lines.line_inbox, actor=actor)
if inbox is None:
    st.stop()
shown_lang = lang()


def wan(value) -> str:
    return fmt.wan(value, lang=shown_lang)


# ---------------------------------------------------------------- awaiting a second officer
st.subheader(t("finance.lines.inbox"))
if inbox.empty:
    st.caption(t("finance.lines.inbox.empty"))
for row in inbox.itertuples():
    with st.container(border=True):
        st.markdown(f"**{row.merchant}** · #{row.merchant_id} · "
                    + t("finance.lines.inbox.change", from_line=wan(row.from_line),
                        line=f"**{wan(row.line)}**"))
        st.caption(t("finance.lines.inbox.figures", grade=row.grade or fmt.MISSING,
                     grade_line=wan(row.grade_line), line_now=wan(row.line_now),
                     committed=wan(row.committed)))
        st.caption(t("finance.lines.inbox.meta", who=row.proposed_by, at=fmt_time(row.proposed_at),
                     until=fmt.expiry_day(row.expires_at),
                     code=t(f"credit.override_reason.{row.reason_code}")))
        st.write(row.reason)
        if row.mine:
            st.caption(t("finance.lines.inbox.own"))
            continue
        note = st.text_input(t("finance.lines.note"), key=f"line_note_{row.id}")
        c1, c2 = st.columns(2)
        if c1.button(t("finance.lines.approve"), key=f"line_approve_{row.id}", type="primary"):
            if run_action(credit_lines.approve_line, actor=actor, request_id=row.id, note=note,
                          expected_version=row.version):
                flash(t("finance.lines.approved"))
                st.rerun()
        if c2.button(t("finance.lines.reject"), key=f"line_reject_{row.id}"):
            if run_action(credit_lines.reject_line, actor=actor, request_id=row.id, note=note,
                          expected_version=row.version):
                flash(t("finance.lines.rejected"))
                st.rerun()

# ---------------------------------------------------------------- one merchant: its line, a proposal
st.subheader(t("finance.lines.propose"))
# A link names the merchant (/credit-lines?merchant=12, from the profile or the rating card);
# anything but a plain positive id is ignored, never echoed.
from_url = parse_id(st.query_params.get("merchant"))
if from_url is not None and from_url != st.session_state.get("lines_merchant_shown"):
    st.session_state["lines_merchant_pick"] = from_url
st.session_state.setdefault("lines_merchant_pick", None)    # empty until one is typed or linked
merchant_id = st.number_input(t("finance.lines.merchant_id"), step=1,
                              key="lines_merchant_pick", placeholder=t("finance.lines.pick"))
if merchant_id:
    merchant_id = int(merchant_id)
    st.session_state["lines_merchant_shown"] = merchant_id
    if st.query_params.get("merchant") != str(merchant_id):
        st.query_params["merchant"] = str(merchant_id)
    view = section(actor=actor, merchant_id=merchant_id, link=False)
    if view is not None and view.pending_line is not None:
        st.caption(t("finance.lines.has_pending"))
    elif view is not None and view.on_hold is None:
        with st.form(f"line_propose_{merchant_id}"):
            amount = st.text_input(t("finance.lines.amount"), help=t("finance.lines.amount_help"),
                                   max_chars=40)
            code = st.selectbox(t("finance.lines.reason_code"), credit_lines.REASONS,
                                format_func=lambda c: t(f"credit.override_reason.{c}"))
            reason = st.text_area(t("finance.lines.reason"))
            expires_on = st.date_input(t("finance.lines.expires_on"),
                                       value=clock.today() + timedelta(days=90),
                                       min_value=clock.today(),
                                       max_value=clock.today() + timedelta(days=MAX_LINE_DAYS))
            if st.form_submit_button(t("finance.lines.submit"), type="primary"):
                if run_action(credit_lines.propose_line, actor=actor, merchant_id=merchant_id,
                              line=amount, reason_code=code, reason=reason,
                              expires_on=expires_on, expected_line=view.line):
                    flash(t("finance.lines.proposed"))
                    st.rerun()
else:
    st.caption(t("finance.lines.pick"))

# ---------------------------------------------------------------- decisions
st.subheader(t("finance.lines.history"))
history = run_query(credit_lines.line_history, actor=actor)
if history is not None and not history.empty:
    shown = history.assign(
        status=history["status"].map(lambda s: t(f"credit.status.{s}")),
        reason_code=history["reason_code"].map(lambda c: t(f"credit.override_reason.{c}")))
    shown = fmt.frame(shown, {"from_line": "wan", "line": "wan", "expires_at": "expiry",
                              "decided_at": "when"}, lang=shown_lang)
    st.dataframe(labelled(shown, "finance.lines.col"), hide_index=True, width="stretch")
else:
    st.caption(t("common.none"))
