"""Credit grades: the distribution of effective grades, its trend over runs, and export."""
import plotly.express as px
import streamlit as st

from console import db, fmt
from console.services import credit
from console.ui import fmt_time, labelled, require_actor, run_query, t
from console.ui.replica import replica_badge

actor = require_actor()
st.title(t("credit.grades.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one

overview = run_query(credit.grade_overview, actor=actor)
if overview is None:
    st.stop()
latest = overview["latest_run"]
if latest is None:
    st.info(t("credit.no_run"))
    st.stop()

st.caption(t("credit.latest_run", run=latest["id"], at=fmt_time(latest["finished_at"]),
             version=latest["version"], n=f"{latest['merchants_scored']:,}"))
rate = overview["override"]
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("credit.merchants_scored"), f"{latest['merchants_scored']:,}")
c2.metric(t("credit.override_rate"), f"{rate.rate:.1%}",
          help=t("credit.override_rate.help", warn=f"{rate.warn:.0%}", red=f"{rate.red:.0%}"))
c3.metric(t("credit.overrides_active"), f"{rate.active:,}")
# Suspended and closed merchants hold no grade: counted here, not in the distribution.
c4.metric(t("standing.suspended_count"), fmt.number(overview["on_hold"]),
          help=t("standing.suspended_count.help"))
if rate.level != "ok":
    alert = st.warning if rate.level == "warn" else st.error
    alert(t(f"credit.override_rate.{rate.level}", rate=f"{rate.rate:.1%}"))

st.subheader(t("credit.grades.distribution"))
dist = overview["distribution"]
fig = px.bar(dist, x="grade", y="merchants", text="merchants",
             category_orders={"grade": list(credit.ALL_GRADES)},
             labels={"grade": t("credit.col.grade"), "merchants": t("credit.col.merchants")})
st.plotly_chart(fig, width="stretch")
st.dataframe(labelled(dist, "credit.col"), hide_index=True, width="stretch")

st.subheader(t("credit.grades.trend"))
trend = overview["trend"]
if trend["run_id"].nunique() < 2:
    st.info(t("credit.grades.trend_needs_two"))
else:
    trend = trend.assign(share=trend["merchants"] / trend.groupby("run_id")["merchants"].transform("sum"))
    fig = px.area(trend, x="finished_at", y="share", color="grade",
                  category_orders={"grade": list(credit.ALL_GRADES)},
                  labels={"finished_at": t("credit.col.finished_at"), "share": t("credit.col.share"),
                          "grade": t("credit.col.grade")})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")

if actor.has(*credit.MONITORS):
    st.subheader(t("credit.export.title"))
    choice = st.selectbox(t("credit.col.effective_grade"), ["", *credit.ALL_GRADES],
                          format_func=lambda g: g or t("common.all"), key="credit_export_grade")

    def export() -> bytes:
        """Built on click, in a transaction that commits: every file built is audited."""
        with db.transaction() as conn:
            return credit.export_csv(conn=conn, actor=actor, grade=choice or None)

    st.download_button(t("common.export_csv"), data=export,
                       file_name=f"credit_ratings_{choice or 'all'}.csv", mime="text/csv",
                       icon=":material/download:")
