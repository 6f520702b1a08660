"""Managers and BD leads: funnel, KPIs, cohort retention and supply/demand balance.

Each chart's data is cached per filter set and per its marts' freshness stamp (a new ETL
run shows at once); the freshness itself is read on every run, it is a cheap view.
Figure names and hover definitions come from the metric catalogue (console/metrics);
periods younger than a figure's maturity are drawn dashed / hatched and labelled immature.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from console import clock, db, fmt, metrics
from console.errors import ConsoleError
from console.services import growth
from console.ui import (enum_label, fmt_time, keep_choices, lang, pager, read, require_actor,
                        run_query, show_error, t)
from console.ui.replica import replica_badge

CHART_GROUPS = 8          # groups drawn in a breakdown chart (the table lists all)
SD_TOP = 20               # brands drawn in the supply/demand chart
WINDOWS = [7, 14, 30, 60, 0]   # 0 = any time (a None option reads as "nothing picked")

actor = require_actor()
st.title(t("growth.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
st.caption(t("growth.caption"))
fresh = run_query(growth.freshness, actor=actor)
if fresh is None:
    st.stop()
options = run_query(growth.filter_options, actor=actor) or {"brands": {}, "last_day": None}


# ---------------------------------------------------------------- cached service calls
@st.cache_data(ttl=900, show_spinner=False, max_entries=256)
def cached(name: str, stamp: str, key: tuple, _actor, **extra: Any) -> Any:
    """One growth service call, cached by (service, freshness stamp, filters, options).

    A refusal is returned (not raised) so that the page shows it outside the cache.
    """
    start, end, tiers, types, brands = key
    filters = growth.GrowthFilters(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end),
                                   tiers=tiers, merchant_types=types, brands=brands)
    try:
        with read() as conn:
            return getattr(growth, name)(conn=conn, actor=_actor, filters=filters, **extra)
    except ConsoleError as err:
        return err


def stamp(chart: str) -> str:
    """The cache stamp: a new ETL run or a recomputed mart makes cached answers stale."""
    f = fresh[chart]
    return f"{f.computed_at}|{f.last_run_at}"


def call(name: str, chart: str, **extra: Any) -> Any:
    result = cached(name, stamp(chart), filter_key, actor, **extra)
    if isinstance(result, ConsoleError):
        show_error(result)
        return None
    return result


def export(step: str, window: int | None) -> bytes:
    """The drop-off CSV for the download button, built on click; a refusal is raised, to show
    in its place. Not cached, and in a transaction that commits: every file built is audited."""
    start, end, tiers, types, brands = filter_key
    filters = growth.GrowthFilters(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end),
                                   tiers=tiers, merchant_types=types, brands=brands)
    with db.transaction() as conn:
        return growth.drop_off_export(conn=conn, actor=actor, filters=filters, step=step,
                                      window_days=window, lang=lang())


def freshness_line(chart: str) -> None:
    """The badge every chart carries: computed when, last run, validation verdict."""
    f = fresh[chart]
    badge, detail = st.columns([2, 5], vertical_alignment="center")
    with badge:
        if f.state == "broken":  # a mart's contract failed: before freshness, in red
            st.badge(t("growth.fresh.contract_failed", n=f.failed_contracts),
                     icon=":material/error:", color="red")
        elif f.state == "stale":  # validation may have passed, on sources that went quiet
            st.badge(t("growth.fresh.stale_short", age=age_text(f.event_age_hours))
                     if f.newest_event is not None else t("growth.fresh.no_events"),
                     icon=":material/schedule:", color="orange")
        elif f.state == "ok":
            st.badge(t("growth.fresh.ok"), icon=":material/check_circle:", color="green")
        elif f.last_run_status == "failed":
            st.badge(t("growth.fresh.run_failed"), icon=":material/warning:", color="orange")
        elif f.state == "warning":
            st.badge(t("growth.fresh.warning", n=f.failed_expectations),
                     icon=":material/warning:", color="orange")
        else:
            st.badge(t("growth.fresh.unknown"), icon=":material/help:", color="gray")
    source = ""
    if f.newest_event is not None:
        source = " · " + (t("growth.fresh.stale", newest=fmt_time(f.newest_event),
                            age=age_text(f.event_age_hours), threshold=f.threshold_hours)
                          if f.stale else t("growth.fresh.source", newest=fmt_time(f.newest_event),
                                            age=age_text(f.event_age_hours)))
    detail.caption(t("growth.fresh.detail", computed=fmt_time(f.computed_at),
                     run=fmt_time(f.last_run_at),
                     status=t(f"growth.run_status.{f.last_run_status or 'none'}")) + source)
    st.caption(t(f"growth.applies.{chart}"))


def m_name(key: str) -> str:
    return metrics.name(key, lang())


def m_help(key: str) -> str:
    return metrics.definition(key, lang())


IMMATURE_FILL = "rgba(120,120,120,0.12)"


def mark_immature(fig: go.Figure, flags: list[bool]) -> None:
    """Shade the trailing immature periods of a category x axis and label them."""
    if not any(flags):
        return
    first = flags.index(True)
    fig.add_vrect(x0=first - 0.5, x1=len(flags) - 0.5, fillcolor=IMMATURE_FILL, line_width=0,
                  layer="below", annotation_text=t("growth.immature.label"),
                  annotation_position="top left", annotation_font_size=11)


def labels(mapping: dict) -> Any:
    """A format_func over labels translated now (the widget may call it outside this run)."""
    return lambda value: mapping.get(value, str(value))


def pct(value: float | None) -> str:
    return fmt.percent(value)


def age_text(hours: float | None) -> str:
    """30 h reads as hours; two days and more as whole days."""
    if hours is None:
        return fmt.MISSING
    if hours >= 48:
        return t("fresh.age.days", n=fmt.number(hours // 24))
    return t("fresh.age.hours", n=fmt.number(hours, digits=0))


# ---------------------------------------------------------------- page-wide filters
# The choices below survive a language switch, in the new language's words.
keep_choices("g_tiers", "g_types", "g_brands", "g_window", "g_breakdown", "g_lost", "g_grain",
             "g_sd_by", page="growth")
st.session_state.setdefault("g_window", WINDOWS[1])   # defaults here, not index=: see
st.session_state.setdefault("g_grain", growth.GRAINS[1])   # keep_choices
last_day = options.get("last_day") or clock.today()
with st.container(border=True):
    st.markdown(f"**{t('growth.filter.title')}**")
    c1, c2, c3, c4 = st.columns([3, 2, 2, 3])
    picked = c1.date_input(t("growth.filter.date_range"),
                           value=(last_day - dt.timedelta(days=179), last_day), key="g_dates")
    tiers = c2.multiselect(t("growth.filter.tier"), growth.TIERS, key="g_tiers",
                           format_func=labels({v: enum_label("tier", v) for v in growth.TIERS}),
                           placeholder=t("growth.filter.all"))
    types = c3.multiselect(t("growth.filter.merchant_type"), growth.MERCHANT_TYPES, key="g_types",
                           format_func=labels({v: enum_label("merchant_type", v) for v in growth.MERCHANT_TYPES}),
                           placeholder=t("growth.filter.all"))
    brand_names: dict[int, str] = options.get("brands") or {}
    brands = c4.multiselect(t("growth.filter.brand"), list(brand_names), key="g_brands",
                            format_func=labels(brand_names),
                            placeholder=t("growth.filter.all"))
dates = list(picked) if isinstance(picked, (tuple, list)) else [picked]
start, end = dates[0], dates[-1]          # while picking, the range has one date
filter_key = (start.isoformat(), end.isoformat(), tuple(sorted(tiers)), tuple(sorted(types)),
              tuple(sorted(brands)))

tab_funnel, tab_kpis, tab_cohorts, tab_sd = st.tabs(
    [t("growth.tab.funnel"), t("growth.tab.kpis"), t("growth.tab.cohorts"),
     t("growth.tab.supply_demand")])


# ---------------------------------------------------------------- funnel
def step_label(step: str) -> str:
    return m_name(f"funnel.{step}")


def group_label(breakdown: str | None, value: str) -> str:
    if not breakdown:
        return t("growth.breakdown.all")
    if value in ("", None):
        return t("growth.breakdown.unknown")
    if breakdown in ("channel", "merchant_type"):
        return enum_label(breakdown, value)
    if breakdown == "tier":
        return enum_label("tier", value)
    return value


def funnel_chart(data: pd.DataFrame, breakdown: str | None) -> go.Figure:
    data = data.assign(step_label=data["step"].map(step_label))
    if not breakdown:
        fig = go.Figure(go.Funnel(
            y=data["step_label"], x=data["merchants"], textposition="auto",
            texttemplate="%{value} (%{percentInitial:.1%})",
            customdata=[[m_help(f"funnel.{s}"), fmt.number(w)]
                        for s, w in zip(data["step"], data["in_progress"])],
            hovertemplate="%{y}: %{x}<br>" + t("growth.funnel.in_progress") + ": %{customdata[1]}"
                          "<br>%{customdata[0]}<extra></extra>"))
    else:
        top = (data[data["step_no"] == 1].nlargest(CHART_GROUPS, "merchants")["group"]).tolist()
        shown = data[data["group"].isin(top)].assign(
            group_label=lambda d: d["group"].map(lambda g: group_label(breakdown, g)))
        fig = px.bar(shown, x="step_label", y="merchants", color="group_label", barmode="group",
                     labels={"step_label": t("growth.funnel.step"),
                             "merchants": t("growth.funnel.merchants"),
                             "group_label": t(f"growth.breakdown.{breakdown}")})
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def funnel_table(data: pd.DataFrame, breakdown: str | None) -> pd.DataFrame:
    table = data.assign(step=data["step"].map(step_label),
                        group=data["group"].map(lambda g: group_label(breakdown, g)))
    cols = ["group", "step", "merchants", "in_progress", "dropped", "conv_prev", "conv_first",
            "median_hours", "p90_hours"]
    table = fmt.frame(table[cols if breakdown else cols[1:]],
                      {"merchants": "number", "in_progress": "number", "dropped": "number",
                       "conv_prev": "percent", "conv_first": "percent",
                       "median_hours": "decimal", "p90_hours": "decimal"}, lang=lang())
    return table.rename(columns={c: funnel_header(c) for c in table.columns})


def funnel_header(column: str) -> str:
    return m_name(f"funnel.{column}") if metrics.get(f"funnel.{column}") \
        else t(f"growth.funnel.{column}")


def funnel_help() -> dict[str, Any]:
    """Hover definitions on the funnel table's headers (the steps' own in the step column)."""
    steps = "；".join(f"{m_name(f'funnel.{s}')}：{m_help(f'funnel.{s}')}"
                     for s in growth.STEP_NAMES) if lang() == "zh" else " ".join(
        f"{m_name(f'funnel.{s}')}: {m_help(f'funnel.{s}')}" for s in growth.STEP_NAMES)
    out = {t("growth.funnel.step"): st.column_config.TextColumn(help=steps)}
    for c in ("merchants", "in_progress", "dropped", "conv_prev", "conv_first", "median_hours",
              "p90_hours"):
        out[funnel_header(c)] = st.column_config.Column(help=m_help(f"funnel.{c}"))
    return out


with tab_funnel:
    w1, w2 = st.columns(2)
    window = w1.selectbox(t("growth.window.label"), WINDOWS, key="g_window",
                          format_func=labels({w: t("growth.window.days", days=w) if w
                                              else t("growth.window.any") for w in WINDOWS})) or None
    breakdown = w2.selectbox(t("growth.breakdown.label"), ["none", *growth.BREAKDOWNS],
                             key="g_breakdown",
                             format_func=labels({b: t(f"growth.breakdown.{b}")
                                                for b in ["none", *growth.BREAKDOWNS]}))
    breakdown = None if breakdown == "none" else breakdown
    freshness_line("funnel")
    data = call("funnel", "funnel", window_days=window, breakdown=breakdown)
    if data is not None and data.empty:
        st.info(t("growth.funnel.empty"))
    elif data is not None:
        st.plotly_chart(funnel_chart(data, breakdown), width="stretch", key="g_funnel_chart")
        if breakdown and data["group"].nunique() > CHART_GROUPS:
            st.caption(t("growth.breakdown.top", n=CHART_GROUPS))
        if window and int(data["in_progress"].sum()):
            st.caption(t("growth.funnel.in_progress_note", days=window))
        st.dataframe(funnel_table(data, breakdown), hide_index=True, width="stretch",
                     column_config=funnel_help())
        st.subheader(t("growth.dropoff.title"))
        lost_step = st.selectbox(t("growth.dropoff.step"), growth.STEP_NAMES[1:], key="g_lost",
                                 format_func=labels({s: step_label(s) for s in growth.STEP_NAMES}),
                                 on_change=lambda: st.session_state.update({"g_lost__page": 1}))
        offset = (st.session_state.get("g_lost__page", 1) - 1) * growth.DROP_OFF_PAGE
        lost = call("drop_off_page", "funnel", step=lost_step, window_days=window, offset=offset,
                    limit=growth.DROP_OFF_PAGE)
        if lost is not None:
            st.caption(t("growth.dropoff.count", n=fmt.number(lost.total - lost.in_progress),
                         waiting=fmt.number(lost.in_progress)))
            rows = lost.rows.assign(
                channel=lambda d: d["channel"].map(lambda v: enum_label("channel", v)),
                merchant_type=lambda d: d["merchant_type"].map(
                    lambda v: enum_label("merchant_type", v)),
                tier_level=lambda d: d["tier_level"].map(
                    lambda v: enum_label("tier", int(v)) if pd.notna(v) else "—"),
                registered_at=lambda d: d["registered_at"].map(fmt_time),
                reached_previous_at=lambda d: d["reached_previous_at"].map(fmt_time),
                window_open=lambda d: d["window_open"].map(
                    lambda v: t("growth.dropoff.state.in_progress") if v
                    else t("growth.dropoff.state.dropped")),
                merchant_name=lambda d: d["merchant_name"].fillna("—"),
                bd_owner=lambda d: d["bd_owner"].fillna("—"))
            st.dataframe(rows.rename(columns={c: t(f"growth.dropoff.{c}") for c in rows.columns}),
                         hide_index=True, width="stretch")
            if pager(key="g_lost", total=lost.total, page_size=growth.DROP_OFF_PAGE) != offset:
                st.rerun()
            # Built only when clicked: the whole list, not the page, goes into the file.
            st.download_button(t("growth.dropoff.export"),
                               data=lambda: export(lost_step, window),
                               file_name=f"dropoffs_{lost_step}_{start}_{end}.csv",
                               mime="text/csv", icon=":material/download:", key="g_export")


# ---------------------------------------------------------------- KPIs
KPI_CARDS = ("new_registrations", "newly_certified", "active_merchants", "live_posts",
             "match_rate", "deposit_rate", "median_hours_to_match", "deals_completed", "gmv",
             "take_rate")
RATE_METRICS = {"match_rate", "deposit_rate", "take_rate"}


def kpi_label(metric: str, grain: str) -> str:
    if metric == "active_merchants":
        return t(f"growth.kpi.active.{grain}")
    return m_name(f"kpi.{metric}")


def card_help(metric: str, grain: str) -> str:
    """The card's hover: the catalogue's definition, under the figure's full name."""
    return f"**{kpi_label(metric, grain)}** — {m_help(f'kpi.{metric}')}"


def card_label(metric: str, grain: str) -> str:
    if metric == "active_merchants":
        return t(f"growth.kpi.active.{grain}")
    return t(f"growth.card.{metric}")


def kpi_value(metric: str, value: float | None) -> str:
    if value is None or pd.isna(value):
        return fmt.MISSING
    if metric in RATE_METRICS:
        return fmt.percent(value)
    if metric == "median_hours_to_match":
        return fmt.number(value, digits=1)
    if metric == "gmv":
        return fmt.wan(value, lang=lang())
    return fmt.number(value)


def kpi_delta(row: pd.Series, grain: str) -> str | None:
    """The change as the card shows it; a period in progress says so instead of a drop.
    An ASCII minus: Streamlit colours the delta by its leading "-"."""
    if row.get("partial") == "stale":
        return t("growth.kpi.stale_delta")
    if row.get("partial") == "immature":
        return t("growth.kpi.immature_delta")
    if row.get("partial"):
        return t(f"growth.kpi.partial_delta.{grain}")
    change = row["change"]
    if change is None or pd.isna(change):
        return None
    if row["change_kind"] == "pp":
        text = t("growth.kpi.pp", sign="+" if change >= 0 else "-",
                 n=fmt.number(abs(change) * 100, digits=1))
    else:
        text = fmt.change(change)
    return text.replace(fmt.MINUS, "-")


def line_chart(series: pd.DataFrame, columns: list[str], grain: str, *, kind: str = "line",
               percent: bool = False) -> go.Figure:
    series = series.assign(period_start=series["period_start"].map(
        lambda d: d.strftime("%Y-%m") if grain == "month" else d.strftime("%m-%d")))
    flags = immature_flags(series, columns)
    fig = go.Figure()
    palette = px.colors.qualitative.Plotly
    for i, column in enumerate(columns):
        name, color = kpi_label(column, grain), palette[i % len(palette)]
        help_text = m_help(f"kpi.{column}")
        own = [bool(v) for v in series.get(f"{column}_immature", [False] * len(series))]
        hover = f"{name}: %{{y}}<br>%{{customdata}}<extra></extra>"
        if kind == "bar":
            # Immature bars hatched: the figure is still changing.
            fig.add_bar(x=series["period_start"], y=series[column], name=name,
                        marker=dict(color=color, pattern=dict(shape=["/" if f else "" for f in own])),
                        customdata=[help_text] * len(series), hovertemplate=hover)
            continue
        solid = [v if not f else None for v, f in zip(series[column], own)]
        if True in own:     # the dashed tail starts at the last mature point
            k = own.index(True)
            tail = [v if (j >= k - 1 and j >= 0) else None for j, v in enumerate(series[column])]
        else:
            tail = [None] * len(series)
        fig.add_scatter(x=series["period_start"], y=solid, name=name, mode="lines+markers",
                        line=dict(color=color), customdata=[help_text] * len(series),
                        hovertemplate=hover)
        fig.add_scatter(x=series["period_start"], y=tail, name=name, mode="lines+markers",
                        line=dict(color=color, dash="dash"), marker=dict(symbol="circle-open"),
                        showlegend=False, customdata=[t("growth.immature.hover")] * len(series),
                        hovertemplate=hover)
    if kind == "bar":
        fig.update_layout(barmode="stack")
    mark_immature(fig, flags)
    fig.update_xaxes(type="category", title_text=t(f"growth.grain.{grain}"))
    fig.update_yaxes(title_text="")
    if percent:
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=28, b=10), legend_title_text="",
                      legend=dict(orientation="h", y=-0.3))
    return fig


def immature_flags(series: pd.DataFrame, columns: list[str]) -> list[bool]:
    """Per period: is any of the columns immature there (younger than its maturity)?"""
    flags = [False] * len(series)
    for column in columns:
        if f"{column}_immature" in series:
            flags = [a or bool(b) for a, b in zip(flags, series[f"{column}_immature"])]
    return flags


def chart_or_note(columns: list[str], unavailable: tuple[str, ...], draw: Any, key: str) -> None:
    """Draw the chart, unless none of its series exists under the current filters."""
    if all(c in unavailable for c in columns):
        st.caption(t("growth.kpi.unavailable"))
    else:
        st.plotly_chart(draw(), width="stretch", key=key)


def in_wan(metric: str, grain: str) -> str:
    """A money series' legend name with its unit."""
    return (f"{kpi_label(metric, grain)}（{fmt.wan_unit('zh')}）" if lang() == "zh"
            else f"{kpi_label(metric, grain)} ({fmt.wan_unit('en')})")


def deals_chart(series: pd.DataFrame, grain: str, *, split: bool = False) -> go.Figure:
    """GMV bars with the deal count as a line on its own axis; ``split``: the bars stacked
    self-operated / marketplace (issue 21)."""
    periods = series["period_start"].map(
        lambda d: d.strftime("%Y-%m") if grain == "month" else d.strftime("%m-%d"))
    hatched = immature_flags(series, ["gmv", "deals_completed"])
    pattern = dict(pattern=dict(shape=["/" if f else "" for f in hatched]))
    bars = ([go.Bar(x=periods, y=series[f"gmv_{part}"] / 10_000, marker=dict(color=color, **pattern),
                    name=in_wan(f"gmv_{part}", grain))
             for part, color in zip(growth.GMV_PARTS, ("#7B2CBF", "#2E86AB"))] if split
            else [go.Bar(x=periods, y=series["gmv"] / 10_000, marker=pattern,
                         name=in_wan("gmv", grain))])
    fig = go.Figure([
        *bars,
        go.Scatter(x=periods, y=series["deals_completed"], name=kpi_label("deals_completed", grain),
                   yaxis="y2", mode="lines+markers", line=dict(color="#F18F01")),
    ])
    if split:
        fig.update_layout(barmode="stack")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=28, b=10),
                      xaxis=dict(type="category", title_text=t(f"growth.grain.{grain}")),
                      yaxis2=dict(overlaying="y", side="right", showgrid=False, rangemode="tozero",
                                  tickformat=",.0f"),
                      legend=dict(orientation="h", y=-0.35))
    mark_immature(fig, hatched)
    return fig


def gmv_split_section(report: growth.KpiReport, cards: pd.DataFrame, grain: str) -> None:
    """The compared period's two parts as cards, and the periods shown in yuan to the fen."""
    for col, metric in zip(st.columns(2), ("gmv_self_operated", "gmv_marketplace")):
        row = cards.loc[metric]
        partial = bool(row.get("partial"))
        col.metric(card_label(metric, grain), kpi_value("gmv", row["current"]),
                   delta=kpi_delta(row, grain), delta_arrow="off" if partial else "auto",
                   delta_color="off" if partial else "normal", help=card_help(metric, grain),
                   border=True)
    split = report.gmv_split.set_index("part")
    total = split.loc["total", "amount"]
    if not total:
        st.caption(t("selfop.growth.split_none"))
        return
    st.caption(t("selfop.growth.split_total",
                 self_operated=fmt.yuan(split.loc["self_operated", "amount"], digits=2),
                 self_share=fmt.percent(split.loc["self_operated", "share"]),
                 marketplace=fmt.yuan(split.loc["marketplace", "amount"], digits=2),
                 market_share=fmt.percent(split.loc["marketplace", "share"]),
                 total=fmt.yuan(total, digits=2)))


with tab_kpis:
    grain = st.radio(t("growth.grain.label"), growth.GRAINS, horizontal=True,
                     key="g_grain", format_func=labels({g: t(f"growth.grain.{g}") for g in growth.GRAINS}))
    freshness_line("kpis")
    report = call("kpis", "kpis", grain=grain)
    if report is not None and report.series.empty:
        st.info(t("growth.kpi.empty"))
    elif report is not None:
        if report.previous_period is not None:
            st.caption(t("growth.kpi.period", current=report.current_period,
                         previous=report.previous_period))
        else:
            st.caption(t("growth.kpi.no_previous", current=report.current_period))
        if report.current_partial:
            st.caption(t("growth.kpi.partial"))
        if report.immature and not report.current_partial:
            st.caption(t("growth.kpi.immature", metrics="、".join(
                kpi_label(m, grain) for m in report.immature if m in KPI_CARDS)
                if lang() == "zh" else ", ".join(
                kpi_label(m, grain) for m in report.immature if m in KPI_CARDS)))
        if report.sources_stopped is not None:
            st.warning(t("growth.kpi.sources_stopped", at=fmt_time(report.sources_stopped)),
                       icon=":material/schedule:")
        if report.basis != "platform":
            st.caption(t(f"growth.kpi.basis.{report.basis}"))
        cards = report.comparison.set_index("metric")
        for row_start in range(0, len(KPI_CARDS), 5):
            for col, metric in zip(st.columns(5), KPI_CARDS[row_start:row_start + 5]):
                row = cards.loc[metric]
                missing_fees = metric == "take_rate" and row["current"] is None
                partial = bool(row.get("partial"))
                col.metric(card_label(metric, grain), kpi_value(metric, row["current"]),
                           delta=kpi_delta(row, grain),
                           delta_arrow="off" if partial else "auto",
                           help=t("growth.kpi.unavailable") if metric in report.unavailable
                           else t("growth.kpi.take_rate_none") if missing_fees
                           else card_help(metric, grain),
                           delta_color="off" if partial else "inverse"
                           if metric == "median_hours_to_match" else "normal",
                           border=True)
        posts = report.milestone_posts
        st.progress(min(1.0, posts / report.milestone),
                    text=t("growth.kpi.milestone", posts=fmt.number(posts),
                           goal=fmt.number(report.milestone)))
        st.caption(t("growth.kpi.milestone_all", n=fmt.number(report.milestone_all_posts)),
                   help=m_help("kpi.milestone_posts") + " " + t(
                       "growth.kpi.milestone_all", n=fmt.number(report.milestone_all_posts)))
        series, missing = report.series, report.unavailable
        left, right = st.columns(2)
        with left:
            st.markdown(f"**{t('growth.chart.registrations')}**")
            chart_or_note(["new_registrations", "newly_certified"], missing,
                          lambda: line_chart(series, ["new_registrations", "newly_certified"],
                                             grain, kind="bar"), "g_kpi_reg")
            st.markdown(f"**{t('growth.chart.rates')}**")
            chart_or_note(["match_rate", "deposit_rate"], missing,
                          lambda: line_chart(series, ["match_rate", "deposit_rate"], grain,
                                             percent=True), "g_kpi_rates")
            st.markdown(f"**{t('growth.chart.deals')}**")
            split = st.toggle(t("selfop.growth.split_toggle"), key="g_gmv_split",
                              help=t("selfop.growth.split_help"))
            st.plotly_chart(deals_chart(series, grain, split=split), width="stretch",
                            key="g_kpi_gmv")
            if split:
                gmv_split_section(report, cards, grain)
            st.markdown(f"**{t('growth.chart.payment_mix')}**")

            def payment_pie() -> go.Figure:
                mix = report.payment_mix.assign(
                    channel=lambda d: d["channel"].map(lambda c: enum_label("payment_channel", c)))
                pie = px.pie(mix, names="channel", values="amount", hole=0.5)
                pie.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
                return pie
            chart_or_note(["pay_wechat", "pay_alipay", "pay_bank"], missing, payment_pie,
                          "g_kpi_mix")
        with right:
            st.markdown(f"**{t('growth.chart.active')}**")
            chart_or_note(["active_merchants"], missing,
                          lambda: line_chart(series, ["active_merchants"], grain), "g_kpi_active")
            st.markdown(f"**{t('growth.chart.time_to_match')}**")
            chart_or_note(["median_hours_to_match"], missing,
                          lambda: line_chart(series, ["median_hours_to_match"], grain), "g_kpi_ttm")
            st.markdown(f"**{t('growth.chart.deposits')}**")
            deposit_series = ["deposit_held", "deposit_released", "deposit_refunded",
                              "deposit_disputed"]
            chart_or_note(deposit_series, missing,
                          lambda: line_chart(series, deposit_series, grain, kind="bar"),
                          "g_kpi_dep")
            st.markdown(f"**{t('growth.chart.posts')}**")
            posts_fig = line_chart(series, ["live_listings", "open_requests", "live_posts"], grain)
            posts_fig.add_hline(y=report.milestone, line_dash="dash", line_color="firebrick")
            st.plotly_chart(posts_fig, width="stretch", key="g_kpi_posts")


# ---------------------------------------------------------------- cohorts
with tab_cohorts:
    freshness_line("cohorts")
    cells = call("cohorts", "cohorts")
    if cells is not None and cells.empty:
        st.info(t("growth.cohort.empty"))
    elif cells is not None:
        st.markdown(f"**{t('growth.cohort.title')}**", help=m_help("cohort.retention") + " "
                    + m_help("cohort.active_merchants"))
        cells = cells.assign(row=lambda d: d.apply(
            lambda r: f"{r['cohort_month']:%Y-%m} ({int(r['cohort_size'])})", axis=1))
        grid = cells.pivot(index="row", columns="months_since", values="retention").sort_index()
        young = cells.pivot(index="row", columns="months_since", values="immature").sort_index()
        marks = [["" if pd.isna(v) else pct(v) + (" *" if y is True else "")
                  for v, y in zip(r, yr)] for r, yr in zip(grid.values, young.values)]
        heat = go.Figure(go.Heatmap(
            z=grid.values.astype(float), x=[str(c) for c in grid.columns], y=list(grid.index),
            colorscale="Blues", zmin=0, zmax=1, text=marks,
            texttemplate="%{text}", hoverongaps=False, colorbar=dict(tickformat=".0%"),
            hovertemplate="%{y} · %{x}: %{text}<extra></extra>"))
        # Cells of the month in progress: a dashed outline and a star (still changing).
        for i, row in enumerate(young.values):
            for j, flag in enumerate(row):
                if flag is True:
                    heat.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                                   line=dict(color="#444", dash="dot", width=1.5))
        heat.update_layout(height=max(260, 38 * len(grid) + 80), margin=dict(l=10, r=10, t=10, b=10),
                           xaxis_title=t("growth.cohort.since"), yaxis_title=t("growth.cohort.month"),
                           yaxis=dict(autorange="reversed", type="category"),
                           xaxis=dict(type="category"))
        st.plotly_chart(heat, width="stretch", key="g_cohort_heat")
        st.caption(t("growth.cohort.immature"))


# ---------------------------------------------------------------- supply / demand
def push_label(gap: int, supply: int, demand: int) -> str:
    # Within 10% of the larger side counts as balanced: not worth a BD's call.
    if abs(gap) <= 0.1 * max(supply, demand, 1):
        return t("growth.sd.push.balanced")
    return t("growth.sd.push.supply") if gap > 0 else t("growth.sd.push.demand")


with tab_sd:
    by = st.radio(t("growth.sd.by"), ["brand", "tier"], horizontal=True, key="g_sd_by",
                  format_func=labels({b: t(f"growth.sd.by.{b}") for b in ("brand", "tier")}))
    freshness_line("supply_demand")
    st.caption(t("growth.applies.sd_matchable"))
    balance = call("supply_demand", "supply_demand", by=by)
    if balance is not None and balance.empty:
        st.info(t("growth.sd.empty"))
    elif balance is not None:
        balance = balance.assign(
            name=balance["key"].map(lambda k: enum_label("tier", int(k))) if by == "tier"
            else balance["name"],
            push=[push_label(g, s, d) for g, s, d in
                  zip(balance["gap"], balance["listing_units"], balance["request_units"])])
        top = balance.head(SD_TOP)
        long = top.melt(id_vars="name", value_vars=["listing_units", "request_units"],
                        var_name="side")
        totals = {"listing_units": top["all_listing_units"], "request_units": top["all_request_units"]}
        long["all"] = [int(totals[s].iloc[list(top["name"]).index(n)])
                       for s, n in zip(long["side"], long["name"])]
        long["side"] = long["side"].map(lambda s: m_name(f"sd.{s}"))
        fig = px.bar(long, y="name", x="value", color="side", barmode="group", orientation="h",
                     labels={"name": "", "value": "", "side": ""}, custom_data=["all"],
                     color_discrete_sequence=["#2E86AB", "#F18F01"])
        fig.update_traces(hovertemplate="%{y} · %{fullData.name}: %{x}<br>"
                          + t("growth.sd.all_label") + ": %{customdata[0]}<extra></extra>")
        fig.update_layout(height=max(280, 28 * len(top) + 80), margin=dict(l=10, r=10, t=10, b=10),
                          yaxis=dict(autorange="reversed"), legend_title_text="")
        st.plotly_chart(fig, width="stretch", key="g_sd_chart")
        if len(balance) > SD_TOP:
            st.caption(t("growth.sd.top", n=SD_TOP))
        shown = ["live_listings", "listing_units", "open_requests", "request_units", "gap",
                 "demand_per_supply", "push", "all_live_listings", "all_open_requests"]
        table = balance[["name", *shown]]
        config = {m_name(f"sd.{c}"): st.column_config.Column(help=m_help(f"sd.{c}"))
                  for c in shown}
        config[m_name("sd.demand_per_supply")] = st.column_config.NumberColumn(
            format="%.2f", help=m_help("sd.demand_per_supply"))
        st.dataframe(table.rename(columns={c: m_name(f"sd.{c}") if c != "name"
                                           else t("growth.sd.name") for c in table.columns}),
                     hide_index=True, width="stretch", column_config=config)
