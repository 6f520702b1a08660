"""Model monitoring: the override rate, a run's performance on point-in-time labels (bad
events after the run within the label window, order loans 90+ days past due among them: KS,
ROC-AUC, the population and its dates, default rate per grade),
stability between two runs (PSI of the score and of each factor, grade migration), and the
scoring runs."""
import plotly.express as px
import streamlit as st

from console import fmt
from console.services import credit
from console.ui import (flash, fmt_time, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.replica import replica_badge

LEVEL_ICON = {"stable": "🟢", "investigate": "🟡", "shifted": "🔴", "unknown": "⚪",
              "ok": "🟢", "warn": "🟡", "red": "🔴"}

actor = require_actor()
st.title(t("credit.monitor.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
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
version = dict(zip(done["run_id"], done["version"]))
# Only earlier runs of run_b's own version: a score or a bin means something else in another.
older = [i for i in ids if i < run_b and version[i] == version[run_b]]
run_a = c1.selectbox(t("credit.monitor.run_a"), older, index=0, format_func=label.get) if older else None

report = run_query(credit.monitoring_report, actor=actor, run_a=run_a, run_b=run_b)
if report is None:
    st.stop()


def stat(value) -> str:
    """KS, AUC, PSI: three decimals (a statistic, not a share)."""
    return fmt.number(value, digits=3)


def performance_metrics(perf: credit.Performance) -> st.delta_generator.DeltaGenerator:
    """KS, AUC, bad / assessed and the order-loan defaults among the bad in four columns;
    the fifth column is returned."""
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("KS", stat(perf.ks), help=t("credit.monitor.ks_help"))
    c2.metric("ROC-AUC", stat(perf.auc), help=t("credit.monitor.auc_help"))
    c3.metric(t("credit.monitor.outcomes"), f"{fmt.number(perf.bad)} / {fmt.number(perf.outcomes)}")
    c4.metric(t("outcomes.loan_bad"), fmt.number(perf.loan_bad), help=t("outcomes.loan_bad_help"))
    return c5


def grade_table(perf: credit.Performance) -> None:
    table = fmt.frame(perf.by_grade, {"default_rate": "percent"}, lang=lang())
    st.dataframe(labelled(table, "credit.col"), hide_index=True, width="stretch")


rate = report.override
st.metric(t("credit.override_rate"), f"{LEVEL_ICON[rate.level]} {fmt.percent(rate.rate)}",
          help=t("credit.override_rate.help", warn=fmt.percent(rate.warn), red=fmt.percent(rate.red)))
if rate.level != "ok":
    (st.warning if rate.level == "warn" else st.error)(
        t(f"credit.override_rate.{rate.level}", rate=fmt.percent(rate.rate)))

# Point-in-time labels: only bad events after the run count (those before are its inputs).
perf, elapsed, window = report.performance, report.days_since_run or 0, report.window_days
st.subheader(t("credit.monitor.pit_title", days=window))
performance_metrics(perf).metric(t("credit.monitor.days_since_run"),
                                 f"{fmt.number(elapsed)} / {fmt.number(window)}")
# The population the KS and AUC rest on: who, how many bad (order loans 90+ DPD among them),
# the score date and the outcome window's dates.
st.markdown(t("outcomes.population", run=report.run_b, merchants=fmt.number(perf.outcomes),
              score_date=fmt.day(report.score_date), bad=fmt.number(perf.bad),
              loan_bad=fmt.number(perf.loan_bad), window_from=fmt.day(report.window_from),
              window_to=fmt.day(report.window_to)))
st.caption(t("outcomes.definition", days=window))
if report.window_open:
    st.info(t("credit.monitor.window_open", days=elapsed, window=window))
if perf.bad:
    fig = px.bar(perf.by_grade, x="grade", y="default_rate", text_auto=".1%",
                 labels={"grade": t("credit.col.grade"), "default_rate": t("credit.col.default_rate")})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
    if perf.monotonic is False:
        st.warning(t("credit.monitor.not_monotonic"))
grade_table(perf)

st.subheader(t("credit.monitor.stability"))
if report.first_of_version:
    st.info(t("credit.monitor.first_of_version", run=report.run_b, version=report.version_b))
elif report.run_a is None:
    st.info(t("credit.monitor.needs_two_runs"))
else:
    st.caption(t("credit.monitor.same_version", version=report.version_b))
    st.metric(t("credit.monitor.score_psi"),
              f"{LEVEL_ICON[report.score_psi_level]} {stat(report.score_psi)}",
              help=t("credit.monitor.psi_help"))
    psi = report.factor_psi.assign(
        factor=report.factor_psi["factor"].map(lambda f: t(f"credit.factor.{f}")),
        psi=report.factor_psi["psi"].map(stat),
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
