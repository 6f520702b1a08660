"""Admin (managers read): ETL run history, quarantine, latest validations, mart freshness,
and a button to run a job now."""
import plotly.express as px
import streamlit as st

from console import fmt
from console.services import data_quality as dq
from console.settings import get_settings
from console.ui import (enum_label, flash, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui.links import requested_choice

actor = require_actor()
st.title(t("dq.title"))
show_flash()

# ---------------------------------------------------------------- run a job (admin)
jobs = run_query(dq.job_names, actor=actor) or []
if actor.has("admin") and jobs:
    with st.form("dq_run"):
        cols = st.columns([3, 1, 1])
        job = cols[0].selectbox(t("dq.run.job"), jobs)
        full = cols[1].checkbox(t("dq.run.full"), help=t("dq.run.full.help"))
        submitted = cols[2].form_submit_button(t("dq.run.submit"), type="primary")
    if submitted:
        with st.status(t("dq.run.running", job=job), expanded=True) as status:
            bar = st.progress(0.0)

            def show(step: str, fraction: float) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=step)

            outcome = run_action(dq.run_job_now, actor=actor, job=job, full=full, progress=show)
            if outcome and outcome.value.status == "succeeded":
                status.update(label=t("dq.run.done", job=job), state="complete")
                flash(t("dq.run.summary", job=job, rows_in=outcome.value.rows_in,
                        loaded=outcome.value.rows_loaded,
                        quarantined=outcome.value.rows_quarantined))
            else:
                status.update(label=t("dq.run.failed", job=job), state="error")
                if outcome:
                    st.error(outcome.value.error)

def with_status_labels(df):
    """Run statuses (succeeded/failed/refused/running) in the reader's language."""
    cols = [c for c in ("status", "last_run_status") if c in df.columns]
    return df.assign(**{c: df[c].map(lambda v: enum_label("run_status", v) if isinstance(v, str)
                                      else "—") for c in cols})


# ---------------------------------------------------------------- freshness
st.subheader(t("dq.freshness"))
fresh = run_query(dq.mart_freshness, actor=actor)
if fresh is not None:
    if fresh.empty:
        st.info(t("common.none"))
    else:
        broken = fresh.loc[fresh["contract"] == "failed", "mart"].tolist()
        if broken:  # a mart that broke its contract: in red, above the table
            st.error(t("dq.contract.broken", marts=", ".join(broken)), icon=":material/error:")
        shown = with_status_labels(fresh).assign(contract=fresh["contract"].map(
            lambda v: ("🔴 " if v == "failed" else "") + t(f"dq.contract.{v}")))
        shown = fmt.frame(shown, {"computed_at": "when", "last_run_at": "when",
                                  "age_hours": "decimal", "failed_expectations": "number",
                                  "failed_contracts": "number"}, lang=lang())
        st.dataframe(labelled(shown, "dq.col"), hide_index=True, width="stretch")

# The newest source event behind each job's marts: a passed validation of data that
# stopped arriving days ago is not fresh.
st.markdown(f"**{t('dq.sources')}**", help=t("dq.sources.help"))
sources = run_query(dq.source_freshness, actor=actor)
if sources is not None and not sources.empty:
    stale = int(sources["stale"].sum())
    if stale:
        st.warning(t("dq.sources.stale", n=stale), icon=":material/schedule:")
    shown = fmt.frame(sources.assign(stale=sources["stale"].map(
        lambda v: ("🟠 " + t("dq.stale.yes")) if v else t("dq.stale.no"))),
        {"newest_event": "when", "event_age_hours": "decimal", "threshold_hours": "number"},
        lang=lang())
    st.dataframe(labelled(shown, "dq.col"), hide_index=True, width="stretch")

# ---------------------------------------------------------------- run history
st.subheader(t("dq.history"))
# The admin home tile "failed runs (24 h)" opens this list with ?runs=failed_24h: the
# toggle starts on once per link and stays the person's to switch off.
if requested_choice("data-quality", "runs") == "failed_24h" and "dq_failed_24h" not in st.session_state:
    st.session_state["dq_failed_24h"] = True
c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
job_filter = c1.selectbox(t("dq.filter.job"), [""] + jobs,
                          format_func=lambda j: j or t("dq.filter.all"))
failed_24h = c2.toggle(t("shell.dq.failed_24h"), key="dq_failed_24h")
history = run_query(dq.run_history, actor=actor, job=job_filter or None, failed_24h=failed_24h)
if history is not None:
    if history.empty:
        st.info(t("common.none"))
    else:
        # Full runs say why (asked, or the job's SQL changed since its marts were built).
        history["full_reason"] = history["full_reason"].map(
            lambda r: t(f"dq.full.{r}") if isinstance(r, str) else "")
        history = fmt.frame(with_status_labels(history),
                            {"started_at": "when", "finished_at": "when", "seconds": "decimal",
                             "rows_in": "number", "rows_loaded": "number",
                             "rows_quarantined": "number", "mart_rows_written": "number",
                             "warnings": "number"}, lang=lang())
        st.dataframe(labelled(history, "dq.col"), hide_index=True, width="stretch")

# ---------------------------------------------------------------- quarantine trend
st.subheader(t("dq.trend"))
trend = run_query(dq.quarantine_trend, actor=actor, days=30)
if trend is not None:
    if trend.empty:
        st.info(t("dq.trend.none"))
    else:
        fig = px.bar(trend, x="day", y="rows", color="job",
                     labels={"day": t("dq.col.day"), "rows": t("dq.col.rows"), "job": t("dq.col.job")})
        st.plotly_chart(fig, width="stretch")

# ---------------------------------------------------------------- latest validation per suite
st.subheader(t("dq.validation"))
validation = run_query(dq.latest_validation, actor=actor)
if validation is not None:
    if validation.empty:
        st.info(t("common.none"))
    else:
        for suite, rows in validation.groupby("suite", sort=True):
            failed = int((~rows["success"]).sum())
            label = t("dq.validation.suite", suite=suite, failed=failed, total=len(rows))
            with st.expander(("⚠️ " if failed else "✅ ") + label, expanded=bool(failed)):
                # observed_value mixes counts and ratios (numeric of any scale): as text.
                shown = fmt.frame(rows.drop(columns=["suite"]),
                                  {"observed_value": "measure", "failing_rows": "number",
                                   "element_count": "number", "validated_at": "when"},
                                  lang=lang())
                st.dataframe(labelled(shown, "dq.col"), hide_index=True, width="stretch")

# ---------------------------------------------------------------- quarantined rows
st.subheader(t("dq.quarantine"))
size = get_settings().page_size
first = run_query(dq.quarantined_rows, actor=actor, job=job_filter or None, offset=0, limit=1)
if first is not None:
    total, _ = first
    offset = pager(key="dq_quarantine", total=total, page_size=size)
    _, rows = run_query(dq.quarantined_rows, actor=actor, job=job_filter or None,
                        offset=offset, limit=size) or (0, None)
    if rows is None or rows.empty:
        st.info(t("common.none"))
    else:
        st.dataframe(labelled(rows, "dq.col"), hide_index=True, width="stretch")
