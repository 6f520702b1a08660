"""Model monitoring: performance on outcomes (KS, ROC-AUC, default rate per grade),
stability between two runs (PSI of the score and of each factor, grade migration),
the override rate, and the scoring runs."""
import plotly.express as px
import streamlit as st

from console.services import credit
from console.ui import flash, fmt_time, labelled, require_actor, run_action, run_query, show_flash, t

LEVEL_ICON = {"stable": "🟢", "investigate": "🟡", "shifted": "🔴", "unknown": "⚪",
              "ok": "🟢", "warn": "🟡", "red": "🔴"}

actor = require_actor()
st.title(t("credit.monitor.title"))
show_flash()

runs = run_query(credit.list_runs, actor=actor)
if runs is None:
    st.stop()
if actor.has("risk") and st.button(t("credit.monitor.run_now"), icon=":material/play_arrow:"):
    if run_action(credit.run_scoring, actor=actor):
        flash(t("credit.monitor.run_done"))
        st.rerun()
done = runs[runs["status"] == "succeeded"]
if done.empty:
    st.info(t("credit.no_run"))
    st.stop()

ids = done["run_id"].tolist()
label = {r.run_id: f"#{r.run_id} · {fmt_time(r.finished_at)} · {r.version}" for r in done.itertuples()}
c1, c2 = st.columns(2)
run_b = c2.selectbox(t("credit.monitor.run_b"), ids, index=0, format_func=label.get)
older = [i for i in ids if i < run_b]
run_a = c1.selectbox(t("credit.monitor.run_a"), older, index=0, format_func=label.get) if older else None

report = run_query(credit.monitoring_report, actor=actor, run_a=run_a, run_b=run_b)
if report is None:
    st.stop()


def fmt(value, pattern="{:.3f}"):
    return "—" if value is None or value != value else pattern.format(value)


def performance_metrics(perf: credit.Performance) -> st.delta_generator.DeltaGenerator:
    """KS, AUC and bad / assessed in three columns; the fourth column is returned."""
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("KS", fmt(perf.ks), help=t("credit.monitor.ks_help"))
    c2.metric("ROC-AUC", fmt(perf.auc), help=t("credit.monitor.auc_help"))
    c3.metric(t("credit.monitor.outcomes"), f"{perf.bad:,} / {perf.outcomes:,}")
    return c4


def grade_table(perf: credit.Performance) -> None:
    st.dataframe(labelled(perf.by_grade, "credit.col"), hide_index=True, width="stretch",
                 column_config={t("credit.col.default_rate"): st.column_config.NumberColumn(format="percent")})


inside = report.in_sample
st.subheader(t("credit.monitor.performance"))
rate = report.override
performance_metrics(inside).metric(
    t("credit.override_rate"), f"{LEVEL_ICON[rate.level]} {rate.rate:.1%}",
    help=t("credit.override_rate.help", warn=f"{rate.warn:.0%}", red=f"{rate.red:.0%}"))
if rate.level != "ok":
    (st.warning if rate.level == "warn" else st.error)(
        t(f"credit.override_rate.{rate.level}", rate=f"{rate.rate:.1%}"))
if inside.outcomes:
    fig = px.bar(inside.by_grade, x="grade", y="default_rate", text_auto=".1%",
                 labels={"grade": t("credit.col.grade"), "default_rate": t("credit.col.default_rate")})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
    if inside.monotonic is False:
        st.warning(t("credit.monitor.not_monotonic"))
grade_table(inside)
st.caption(t("credit.monitor.in_sample_note"))

st.subheader(t("credit.monitor.out_of_time", days=credit.OOT_WINDOW_DAYS))
oot, elapsed = report.out_of_time, report.days_since_run or 0
performance_metrics(oot).metric(t("credit.monitor.days_since_run"),
                                f"{elapsed} / {credit.OOT_WINDOW_DAYS}")
if elapsed < credit.OOT_WINDOW_DAYS:
    st.info(t("credit.monitor.window_open", days=elapsed, window=credit.OOT_WINDOW_DAYS))
if oot.bad:
    grade_table(oot)

st.subheader(t("credit.monitor.stability"))
if report.run_a is None:
    st.info(t("credit.monitor.needs_two_runs"))
else:
    st.metric(t("credit.monitor.score_psi"),
              f"{LEVEL_ICON[report.score_psi_level]} {fmt(report.score_psi)}",
              help=t("credit.monitor.psi_help"))
    psi = report.factor_psi.assign(
        factor=report.factor_psi["factor"].map(lambda f: t(f"credit.factor.{f}")),
        level=report.factor_psi["level"].map(lambda v: f"{LEVEL_ICON[v]} {t(f'credit.psi.{v}')}"))
    st.dataframe(labelled(psi, "credit.col"), hide_index=True, width="stretch")
    st.markdown(f"**{t('credit.monitor.migration')}**")
    st.caption(t("credit.monitor.migration_help", a=report.run_a, b=report.run_b))
    fig = px.imshow(report.migration, text_auto=True, color_continuous_scale="Blues",
                    labels={"x": t("credit.monitor.after"), "y": t("credit.monitor.before"),
                            "color": t("credit.col.merchants")})
    st.plotly_chart(fig, width="stretch")

st.subheader(t("credit.monitor.runs"))
st.dataframe(labelled(runs.assign(status=runs["status"].map(lambda s: t(f"credit.run_status.{s}"))),
                      "credit.col"), hide_index=True, width="stretch")
