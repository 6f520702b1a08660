"""The logistics dashboard (managers and the desk): orders, cars moved, on-time and damage
rates, cost per car-km and margin in total, by month and by lane, with a map of the busiest
lanes; read from the logistics mart (console/logistics/dashboard.py), with its freshness
badge."""
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from console import fmt
from console.logistics import dashboard
from console.ui import lang, require_actor, run_query, t
from console.ui.build_badge import build_badge
from console.ui.replica import replica_badge

WINDOWS = (3, 6, 12, 0)        # months; 0 = every month
MAP_LANES = 15                 # lanes drawn on the map and the bar chart (the table lists 50)

actor = require_actor()
st.title(t("lgx.dash.title"))
replica_badge(actor)
st.caption(t("lgx.dash.caption"))



def lane_name(row) -> str:
    return f"{row['from_city']} → {row['to_city']}"


# ---------------------------------------------------------------- freshness
fresh = run_query(dashboard.freshness, actor=actor)
if fresh is None:
    st.stop()
build_badge(fresh, words="lgx.dash.fresh", run_status="lgx.dash.run_status")
if fresh.computed_at is None:
    st.info(t("lgx.dash.empty"))
    st.stop()

months = st.segmented_control(
    t("lgx.dash.window"), WINDOWS, default=6, key="lgx_dash_window",
    format_func=lambda m: t("lgx.dash.window.all") if m == 0 else t("lgx.dash.window.months",
                                                                     n=m)) or 6

# ---------------------------------------------------------------- totals
tot = run_query(dashboard.totals, actor=actor, months=months)
if tot is None:
    st.stop()
unit = fmt.wan_unit(lang())
c = st.columns(7)
c[0].metric(t("lgx.dash.metric.orders"), fmt.number(tot["orders"]))
c[1].metric(t("lgx.dash.metric.cars"), fmt.number(tot["cars"]))
c[2].metric(t("lgx.dash.metric.on_time"), fmt.percent(tot["on_time_rate"]),
            help=t("lgx.dash.metric.on_time_help", n=fmt.number(tot["delivered"])))
c[3].metric(t("lgx.dash.metric.damage"), fmt.percent(tot["damage_rate"]),
            help=t("lgx.dash.metric.damage_help"))
c[4].metric(t("lgx.dash.metric.cost_per_car_km"), fmt.yuan(tot["cost_per_car_km"], digits=2),
            help=t("lgx.dash.metric.cost_per_car_km_help"))
c[5].metric(f"{t('lgx.dash.metric.margin')} ({unit})", fmt.wan_number(tot["margin"]),
            help=t("lgx.dash.metric.margin_help", share=fmt.percent(tot["margin_share"])))
c[6].metric(t("lgx.dash.metric.margin_per_order"), fmt.yuan(tot["margin_per_order"]))
if not tot["orders"]:
    st.info(t("lgx.dash.no_orders"))
    st.stop()

# ---------------------------------------------------------------- by month
monthly = run_query(dashboard.by_month, actor=actor, months=months)
if monthly is not None and not monthly.empty:
    st.subheader(t("lgx.dash.month.title"))
    left, right = st.columns(2)
    monthly = monthly.assign(label=[pd.Timestamp(m).strftime("%Y-%m") for m in monthly["month"]])
    bars = monthly.melt(id_vars="label", value_vars=["orders", "cars"], var_name="figure",
                        value_name="n")
    bars["figure"] = bars["figure"].map(lambda f: t(f"lgx.dash.metric.{f}"))
    fig = px.bar(bars, x="label", y="n", color="figure", barmode="group",
                 labels={"label": "", "n": "", "figure": ""})
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=1.15))
    left.plotly_chart(fig, width="stretch")
    rates = monthly.melt(id_vars="label", value_vars=["on_time_rate", "damage_rate"],
                         var_name="figure", value_name="rate")
    rates["pct"] = rates["rate"] * 100
    rates["figure"] = rates["figure"].map(
        lambda f: t("lgx.dash.metric.on_time" if f == "on_time_rate" else "lgx.dash.metric.damage"))
    fig = px.line(rates, x="label", y="pct", color="figure", markers=True,
                  labels={"label": "", "pct": "", "figure": ""})
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_ticksuffix="%",
                      legend=dict(orientation="h", y=1.15))
    right.plotly_chart(fig, width="stretch")

# ---------------------------------------------------------------- busiest lanes
lanes = run_query(dashboard.by_lane, actor=actor, months=months, top=50)
if lanes is None or lanes.empty:
    st.stop()
lanes = lanes.assign(lane=[lane_name(r) for _, r in lanes.iterrows()])
st.subheader(t("lgx.dash.lanes.title", n=min(MAP_LANES, len(lanes))))
top = lanes.head(MAP_LANES)
left, right = st.columns([3, 2])
with left:
    widest = max(int(top["cars"].max()), 1)
    fig = go.Figure()
    for _, r in top.iterrows():
        fig.add_trace(go.Scatter(
            x=[r["from_lon"], r["to_lon"]], y=[r["from_lat"], r["to_lat"]], mode="lines",
            line=dict(width=1.5 + 8 * r["cars"] / widest, color="rgba(31,119,180,0.55)"),
            hoverinfo="text", showlegend=False,
            text=t("lgx.dash.lanes.hover", lane=r["lane"], cars=fmt.number(r["cars"]),
                   orders=fmt.number(r["orders"]), km=fmt.number(r["road_km"]))))
    ends = pd.concat([
        top[["from_city", "from_lon", "from_lat", "cars"]].set_axis(["city", "lon", "lat", "cars"],
                                                                    axis=1),
        top[["to_city", "to_lon", "to_lat", "cars"]].set_axis(["city", "lon", "lat", "cars"],
                                                              axis=1)])
    ends = ends.groupby(["city", "lon", "lat"], as_index=False)["cars"].sum()
    fig.add_trace(go.Scatter(x=ends["lon"], y=ends["lat"], mode="markers+text",
                             text=ends["city"], textposition="top center",
                             marker=dict(size=7, color="#d62728"), hoverinfo="text",
                             showlegend=False))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title=t("lgx.dash.lanes.lon"), showgrid=False),
                      yaxis=dict(title=t("lgx.dash.lanes.lat"), scaleanchor="x",
                                 scaleratio=1.15, showgrid=False))
    st.plotly_chart(fig, width="stretch")
    st.caption(t("lgx.dash.lanes.map_note"))
with right:
    bar = top.iloc[::-1]
    fig = px.bar(bar, x="cars", y="lane", orientation="h", text="cars",
                 labels={"cars": t("lgx.dash.metric.cars"), "lane": ""})
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch")

st.subheader(t("lgx.dash.table.title"))
table = fmt.frame(
    lanes[["lane", "road_km", "orders", "cars", "on_time_rate", "damage_rate",
           "cost_per_car_km", "revenue", "cost", "margin", "margin_per_order"]],
    {"road_km": "number", "orders": "number", "cars": "number", "on_time_rate": "percent",
     "damage_rate": "percent", "revenue": "wan", "cost": "wan", "margin": "wan"}, lang=lang())
table["cost_per_car_km"] = [fmt.number(v, digits=2) for v in lanes["cost_per_car_km"]]
table["margin_per_order"] = [fmt.yuan(v) for v in lanes["margin_per_order"]]
table.columns = [t(f"lgx.dash.col.{c}") + (f" ({unit})" if c in ("revenue", "cost", "margin")
                                           else "") for c in table.columns]
st.dataframe(table, hide_index=True, width="stretch")
st.caption(t("lgx.dash.table.note"))
