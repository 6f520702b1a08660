"""BD leaderboard: matches won, GMV brokered, median time from lead to deposit."""
import plotly.express as px
import streamlit as st

from console import fmt
from console.services import deals
from console.ui import labelled, lang, require_actor, run_query, t
from console.ui.replica import replica_badge

actor = require_actor()
st.title(t("matching.lb.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
days = st.radio(t("matching.lb.window"), [30, 90, 365], index=1, horizontal=True, key="lb_days",
                format_func=lambda d: t("matching.f.days", n=d))
table = run_query(deals.leaderboard, actor=actor, days=days)
if table is None:
    st.stop()
if table.empty:
    st.info(t("common.none"))
    st.stop()
unit = fmt.wan_unit(lang())
shown = fmt.frame(table.drop(columns=["staff_id"]),
                  {"won": "number", "gmv": "wan", "median_hours_to_deposit": "decimal",
                   "open_cards": "number"}, lang=lang())
st.dataframe(labelled(shown, "matching.lb.col").rename(
                 columns={t("matching.lb.col.gmv"): t("lb.col.gmv", unit=unit)}),
             hide_index=True, width="stretch")
# The bars are GMV in 万元, and each bar's label is its own value.
chart = table.assign(gmv_wan=table["gmv"].astype(float) / 10_000)
chart["label"] = [fmt.wan_number(v) for v in table["gmv"]]
fig = px.bar(chart, x="staff", y="gmv_wan", text="label",
             labels={"staff": t("matching.lb.col.staff"), "gmv_wan": t("lb.col.gmv", unit=unit)})
fig.update_traces(textposition="outside", cliponaxis=False,
                  hovertemplate="%{x}<br>%{text} " + unit + "<extra></extra>")
fig.update_yaxes(tickformat=",.0f")
st.plotly_chart(fig, width="stretch")
