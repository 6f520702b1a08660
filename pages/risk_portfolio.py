"""The loan portfolio (risk, managers): outstanding, income and loss by grade, expected loss,
vintage curves, roll rates between DPD buckets, concentration; read from the portfolio mart
(console/finance/portfolio.py), with its freshness badge."""
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from console import fmt
from console.finance import portfolio
from console.ui import lang, require_actor, run_query, t
from console.ui.build_badge import build_badge
from console.ui.replica import replica_badge

actor = require_actor()
st.title(t("portfolio.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
st.caption(t("portfolio.caption"))


def month_label(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m")


def state_label(state: str) -> str:
    return t(f"portfolio.state.{state}")


# ---------------------------------------------------------------- freshness
fresh = run_query(portfolio.freshness, actor=actor)
if fresh is None:
    st.stop()
build_badge(fresh, words="portfolio.fresh", run_status="portfolio.run_status")
if fresh.computed_at is None:
    st.info(t("portfolio.empty"))
    st.stop()

# ---------------------------------------------------------------- totals and grades
grades = run_query(portfolio.by_grade, actor=actor)
if grades is None:
    st.stop()
unit = fmt.wan_unit(lang())
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("portfolio.metric.loans_open"), fmt.number(grades["loans_open"].sum()))
c2.metric(f"{t('portfolio.metric.outstanding')} ({unit})",
          fmt.wan_number(grades["outstanding"].sum()))
c3.metric(f"{t('portfolio.metric.interest')} ({unit})",
          fmt.wan_number(grades["interest_received"].sum()),
          help=t("portfolio.metric.interest_help"))
c4.metric(f"{t('portfolio.metric.loss')} ({unit})", fmt.wan_number(grades["loss"].sum()),
          help=t("portfolio.metric.loss_help", n=fmt.number(grades["defaulted_loans"].sum())))
# A grade without a calibrated PD has no expected loss, and then neither has the total: a
# sum over the others would pass for the portfolio's (min_count: NaN unless every grade has one).
c5.metric(f"{t('portfolio.metric.expected_loss')} ({unit})",
          fmt.wan_number(grades["expected_loss"].sum(min_count=len(grades))),
          help=t("portfolio.metric.el_help", lgd=fmt.percent(float(grades["lgd"].iloc[0]))
                 if len(grades) else fmt.MISSING))

st.subheader(t("portfolio.grades.title"))
if grades.empty:
    st.info(t("portfolio.empty"))
else:
    bars = grades.melt(id_vars="grade", value_vars=["outstanding", "loss", "expected_loss"],
                       var_name="figure", value_name="yuan")
    bars["wan"] = bars["yuan"] / 10_000
    bars["figure"] = bars["figure"].map(lambda f: t(f"portfolio.col.{f}"))
    fig = px.bar(bars, x="grade", y="wan", color="figure", barmode="group",
                 labels={"grade": t("portfolio.col.grade"), "figure": "",
                         "wan": fmt.wan_unit(lang())})
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=1.12))
    st.plotly_chart(fig, width="stretch")
    table = fmt.frame(grades[["grade", "loans_open", "outstanding", "interest_received",
                              "interest_accrued", "defaulted_loans", "loss", "pd", "lgd",
                              "expected_loss"]],
                      {"loans_open": "number", "outstanding": "wan", "interest_received": "wan",
                       "interest_accrued": "wan", "defaulted_loans": "number", "loss": "wan",
                       "pd": "percent", "lgd": "percent", "expected_loss": "wan"}, lang=lang())
    unit = fmt.wan_unit(lang())
    table.columns = [t(f"portfolio.col.{c}") + (f" ({unit})" if c in (
        "outstanding", "interest_received", "interest_accrued", "loss", "expected_loss") else "")
        for c in table.columns]
    st.dataframe(table, hide_index=True, width="stretch")
    without_pd = grades.loc[grades["pd"].isna(), "grade"].tolist()
    version = str(grades["pd_version"].iloc[0])
    if without_pd:
        st.caption(t("portfolio.grades.note_no_pd", version=version, grades=" / ".join(without_pd)))
    else:
        st.caption(t("portfolio.grades.note", version=version))

# ---------------------------------------------------------------- vintages
st.subheader(t("portfolio.vintage.title"))
curves = run_query(portfolio.vintages, actor=actor)
if curves is not None and not curves.empty:
    curves = curves.assign(cohort=curves["origination_month"].map(month_label),
                           pct=curves["default_rate"] * 100)
    fig = px.line(curves, x="mob", y="pct", color="cohort", markers=True,
                  custom_data=["loans", "defaulted_loans"],
                  labels={"mob": t("portfolio.vintage.mob"), "pct": t("portfolio.vintage.rate"),
                          "cohort": t("portfolio.vintage.cohort")})
    fig.update_traces(hovertemplate=t("portfolio.vintage.hover"))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), yaxis_ticksuffix="%")
    fig.update_xaxes(dtick=1)
    st.plotly_chart(fig, width="stretch")
    st.caption(t("portfolio.vintage.note"))

# ---------------------------------------------------------------- roll rates
st.subheader(t("portfolio.roll.title"))
roll = run_query(portfolio.roll_rates, actor=actor, month=st.session_state.get("pf_roll_month"))
if roll is not None and roll.month is None:
    st.info(t("portfolio.roll.none"))
elif roll is not None:
    st.selectbox(t("portfolio.roll.month"), roll.months, format_func=month_label,
                 index=roll.months.index(roll.month), key="pf_roll_month")
    # Cells are shares of the balance (BRIEF.md's roll rate), so the loans and the balance
    # behind each are in its hover and the table: a 100% may be one small loan.
    shares, counts, month = roll.shares, roll.counts, roll.month
    rows = [state_label(s) for s in shares.index]
    cols = [state_label(s) for s in shares.columns]
    text = [[fmt.percent(v) if pd.notna(v) and counts.iloc[i, j] else ""
             for j, v in enumerate(r)] for i, r in enumerate(shares.to_numpy())]
    hover = [[[fmt.number(n), fmt.wan(b, lang=lang())] for n, b in zip(nr, br)]
             for nr, br in zip(counts.to_numpy(), roll.balances.to_numpy())]
    fig = go.Figure(go.Heatmap(z=shares.to_numpy() * 100, x=cols, y=rows, text=text,
                               texttemplate="%{text}", colorscale="Reds", zmin=0, zmax=100,
                               customdata=hover, showscale=False,
                               hovertemplate=t("portfolio.roll.hover")))
    before = month_label(pd.Timestamp(month) - pd.DateOffset(months=1))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(autorange="reversed", title=t("portfolio.roll.from", month=before)),
                      xaxis=dict(title=t("portfolio.roll.to", month=month_label(month)), side="top"))
    st.plotly_chart(fig, width="stretch")
    table = shares.copy()
    table.insert(0, "n", counts.sum(axis=1))
    table.insert(1, "balance", roll.balances.sum(axis=1))
    table = table.reset_index(names="from")
    table["from"] = table["from"].map(state_label)
    table = fmt.frame(table, {"n": "number", "balance": "wan",
                              **{c: "percent" for c in shares.columns}}, lang=lang())
    table.columns = [t("portfolio.roll.col_from"), t("portfolio.roll.col_n"),
                     f"{t('portfolio.roll.col_balance')} ({fmt.wan_unit(lang())})",
                     *[state_label(c) for c in shares.columns]]
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(t("portfolio.roll.note"))

# ---------------------------------------------------------------- concentration
st.subheader(t("portfolio.conc.title"))
held = run_query(portfolio.concentration, actor=actor) or {}
tabs = st.tabs([t(f"portfolio.conc.{d}") for d in portfolio.DIMENSIONS])
for tab, dimension in zip(tabs, portfolio.DIMENSIONS):
    with tab:
        conc = held.get(dimension)
        if conc is None or conc.rows.empty:
            st.info(t("portfolio.empty"))
            continue
        table = fmt.frame(conc.rows[["name", "loans", "outstanding", "share"]],
                          {"loans": "number", "outstanding": "wan", "share": "percent"},
                          lang=lang())
        table.columns = [t(f"portfolio.conc.col.{dimension}"), t("portfolio.col.loans_open"),
                         f"{t('portfolio.col.outstanding')} ({fmt.wan_unit(lang())})",
                         t("portfolio.conc.col.share")]
        st.dataframe(table, hide_index=True, width="stretch")
        st.caption(t("portfolio.conc.note", n=fmt.number(len(conc.rows)),
                     holders=fmt.number(conc.holders),
                     share=fmt.percent(float(conc.rows["share"].sum())),
                     hhi=fmt.number(conc.hhi * 10_000)))
