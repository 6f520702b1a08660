"""BD leaderboard: matches won, GMV brokered, median time from lead to deposit."""
import plotly.express as px
import streamlit as st

from console.services import deals
from console.ui import labelled, require_actor, run_query, t

actor = require_actor()
st.title(t("matching.lb.title"))
days = st.radio(t("matching.lb.window"), [30, 90, 365], index=1, horizontal=True, key="lb_days",
                format_func=lambda d: t("matching.f.days", n=d))
table = run_query(deals.leaderboard, actor=actor, days=days)
if table is None:
    st.stop()
if table.empty:
    st.info(t("common.none"))
    st.stop()
shown = table.drop(columns=["staff_id"])
st.dataframe(labelled(shown, "matching.lb.col"), hide_index=True, width="stretch")
chart = shown.assign(gmv_wan=shown["gmv"].astype(float) / 10_000)
fig = px.bar(chart, x="staff", y="gmv_wan", text="won",
             labels={"staff": t("matching.lb.col.staff"), "gmv_wan": t("matching.lb.gmv_wan"),
                     "won": t("matching.lb.col.won")})
st.plotly_chart(fig, width="stretch")
