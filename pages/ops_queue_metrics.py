"""Ops and managers: how the trust queues are doing — backlog, speed, reviewers, checks."""
import plotly.express as px
import streamlit as st

from console import fmt
from console.services.trust_metrics import queue_metrics
from console.ui import enum_label, labelled, lang, require_actor, run_query, t
from console.ui.replica import replica_badge

actor = require_actor()
st.title(t("trust.metrics.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
m = run_query(queue_metrics, actor=actor)
if m is None:
    st.stop()


def hours(value) -> str:
    return fmt.hours(value, lang=lang())


c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("trust.metrics.open"), fmt.number(m.open_cases))
c2.metric(t("trust.count.unassigned"), fmt.number(m.unassigned))
c3.metric(t("trust.metrics.oldest"), hours(m.oldest_age_hours),
          help=t("trust.metrics.oldest_help", at=fmt.when(m.oldest_submitted_at)))
c4.metric(t("trust.metrics.median_7d"), hours(m.median_hours_7d))
c5.metric(t("trust.metrics.median_30d"), hours(m.median_hours_30d))

left, right = st.columns(2)
with left:
    st.subheader(t("trust.metrics.per_reviewer"))
    if m.decisions_per_reviewer.empty:
        st.caption(t("common.none"))
    else:
        df = m.decisions_per_reviewer.assign(
            decision=m.decisions_per_reviewer["decision"].map(lambda v: enum_label("cert_status", v)))
        fig = px.bar(df, x="reviewer", y="n", color="decision",
                     labels={"reviewer": t("trust.metrics.reviewer"), "n": t("trust.metrics.decisions"),
                             "decision": t("trust.metrics.decision")})
        fig.update_yaxes(tickformat=",d", rangemode="tozero",
                         dtick=1 if m.decisions_per_reviewer.groupby("reviewer")["n"].sum().max()
                         <= 10 else None)   # decisions are counted in whole numbers
        st.plotly_chart(fig, width="stretch")
with right:
    st.subheader(t("trust.metrics.approval_by_check"))
    if m.approval_by_check.empty:
        st.caption(t("common.none"))
    else:
        df = m.approval_by_check.assign(
            check=m.approval_by_check["check_code"].map(lambda c: t(f"trust.check.{c}")),
            rate_text=m.approval_by_check["rate"].map(fmt.percent))
        fig = px.bar(df, x="check", y="rate", text="rate_text",
                     hover_data={"decided": True, "approved": True, "rate": False,
                                 "rate_text": True},
                     labels={"check": t("trust.metrics.check"), "rate": t("trust.metrics.rate"),
                             "rate_text": t("trust.metrics.rate"),
                             "decided": t("ops.metrics.decided"),
                             "approved": t("ops.metrics.approved")},
                     range_y=[0, 1])
        fig.update_yaxes(tickformat=".0%")   # the axis as percentages, the bars' labels 1 decimal
        st.plotly_chart(fig, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader(t("trust.metrics.rejections"))
    if m.rejections_by_reason.empty:
        st.caption(t("common.none"))
    else:
        df = m.rejections_by_reason.assign(reason=m.rejections_by_reason["reason_code"].map(
            lambda c: t(f"trust.reason.{c}")))
        st.plotly_chart(px.pie(df, names="reason", values="n"), width="stretch")
with right:
    st.subheader(t("trust.metrics.flags"))
    if m.flags_by_kind.empty:
        st.caption(t("common.none"))
    else:
        df = fmt.frame(m.flags_by_kind.assign(kind=m.flags_by_kind["kind"].map(
            lambda k: t(f"trust.flag_kind.{k}"))),
            {"open": "number", "confirmed": "number", "cleared": "number",
             "confirm_rate": "percent"}, lang=lang())
        st.dataframe(labelled(df, "trust.col"), hide_index=True, width="stretch")
