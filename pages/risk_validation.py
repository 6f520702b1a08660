"""Model validation: the active scorecard version and the candidates side by side on the
same point-in-time samples (ranking with confidence intervals, calibration per grade,
stability against the development sample, information value with leakage alarms), and the
promotion gate: one risk officer proposes a candidate, a second person approves."""
import streamlit as st

from console import fmt
from console.credit import calibration, validation
from console.services import credit
from console.settings import get_settings
from console.ui import (flash, fmt_time, labelled, lang, require_actor, run_action, run_query,
                        show_flash, t)

ICON = {"stable": "🟢", "investigate": "🟡", "shifted": "🔴", "unknown": "⚪",
        "ok": "🟢", "weak": "⚪", "leak": "🔴"}

actor = require_actor()
st.title(t("credit.validation.title"))
show_flash()

# The report is computed by the scheduled jobs' step after credit scoring (or the command, or
# the button below) and stored per version: the page reads it, it never computes it.
found = run_query(credit.validation_report, actor=actor)
if found is None:
    st.stop()


def recompute_button() -> None:
    if not actor.has("risk"):
        return
    if st.button(t("credit.validation.recompute"), help=t("credit.validation.recompute_help"),
                 key="validation_recompute", icon=":material/refresh:"):
        with st.spinner(t("credit.validation.recomputing")):
            done = run_action(credit.recompute_validation, actor=actor)
        if done:
            flash(t("credit.validation.recomputed", seconds=fmt.number(done.value.seconds, digits=1)))
            st.rerun()


def computed_note(stored) -> str:
    who = (t("credit.validation.by_person", name=stored.requested_by) if stored.requested_by
           else t("credit.validation.by_job"))
    return t("credit.validation.computed", at=fmt_time(stored.computed_at),
             seconds=fmt.number(stored.seconds, digits=1), who=who,
             events=fmt_time(stored.events_watermark),
             run=f"#{stored.run_id}" if stored.run_id is not None else t("credit.validation.no_run"))


def stale_reasons(stored) -> str:
    hours = fmt.number(get_settings().credit_validation_max_age_hours)
    return t("credit.calibration.list_sep").join(
        t(f"credit.validation.stale.{r}", hours=hours) if r == "age" else
        t(f"credit.validation.stale.{r}") for r in stored.reasons)


kept = [v.stored for v in found.versions if v.stored is not None]
if not kept:
    st.info(t("credit.validation.none_stored"))
    recompute_button()
else:
    newest = max(kept, key=lambda s: (s.computed_at, s.id))
    badge, note = st.columns([1, 5], vertical_alignment="center")
    with badge:
        if any(s.stale for s in kept):
            st.badge(t("credit.validation.stale"), icon=":material/history:", color="orange")
        else:
            st.badge(t("credit.validation.fresh"), icon=":material/check_circle:", color="green")
    note.caption(computed_note(newest))
    for reasons in dict.fromkeys(stale_reasons(s) for s in kept if s.stale):
        st.warning(t("credit.validation.stale_because", reasons=reasons))
    recompute_button()
    plan = found.plan
    st.caption(t("credit.validation.plan", end=found.data_end.isoformat(), window=plan.window_days,
                 dev=", ".join(d.isoformat() for d in plan.development),
                 oot=plan.out_of_time.isoformat()))
    st.caption(t("credit.validation.method"))


def num(value, digits: int = 3) -> str:
    return fmt.number(value, digits=digits)


def ci(pair) -> str:
    return f"[{num(pair[0])}, {num(pair[1])}]"


def heading(item: credit.VersionValidation) -> str:
    best = " ★" if item.version == found.better else ""
    return f"{item.version} · {t(f'credit.version_status.{item.status}')}{best}"


# A version that cannot be validated on these samples takes a line, not a column: the
# columns of the versions with a report keep room for their calibration tables.
measured = [v for v in found.versions if v.report is not None] if kept else []
for item in found.versions if kept else []:
    if item.stored is None:
        st.info(t("credit.calibration.version_note", version=heading(item),
                  text=t("credit.validation.not_stored_version")))
    elif item.report is None and item.unrebuilt:
        st.warning(t("credit.calibration.version_note", version=heading(item), text=t(
            "credit.calibration.unrebuilt", factors=t("credit.calibration.list_sep").join(
                t(f"credit.factor.{f}") for f in item.unrebuilt))))
    elif item.report is None:
        st.info(t("credit.calibration.version_note", version=heading(item),
                  text=t("credit.validation.no_sample")))
columns = st.columns(len(measured)) if measured else []
for column, item in zip(columns, measured):
    with column:
        st.subheader(heading(item))
        st.caption(t(f"credit.version_source.{item.source}"))
        if item.stored.sample_key != newest.sample_key:     # not the newest computation's
            st.caption(t("credit.validation.other_samples", version=item.version,
                         at=fmt_time(item.stored.computed_at)))
        report = item.report
        oot, dev = report.out_of_time, report.development
        c1, c2, c3 = st.columns(3)
        c1.metric("AUC", num(oot.auc), help=t("credit.validation.auc_help"))
        c2.metric("Gini", num(oot.gini))
        c3.metric("KS", num(oot.ks), help=t("credit.validation.ks_help"))
        st.caption(t("credit.validation.cis", auc=ci(oot.auc_ci), gini=ci(oot.gini_ci),
                     ks=ci(oot.ks_ci), rows=fmt.number(oot.rows), bad=fmt.number(oot.bad),
                     dev_auc=num(dev.auc), dev_rows=fmt.number(dev.rows),
                     dev_bad=fmt.number(dev.bad)))
        basis = "calibrated" if report.calibrated else "scaling"
        st.markdown(f"**{t(f'credit.calibration.heading_{basis}')}**")
        if report.calibrated:
            stated = item.calibration or {}
            st.caption(t("credit.calibration.fitted_on",
                         dates=", ".join(stated.get("score_dates", [])),
                         window=stated.get("window_days", "—"),
                         rows=fmt.number(stated.get("rows")), bad=fmt.number(stated.get("bad")),
                         floor=fmt.percent(stated.get("floor", 0), digits=2)))
        grades = report.by_grade[report.by_grade["merchants"] > 0]
        columns = ["grade", "merchants", "bad", "bad_rate", "promised_pd", "binomial_p",
                   "jeffreys_p"]
        columns += ["scaling_pd"] if report.calibrated else []
        table = fmt.frame(grades[columns],
                          {"merchants": "number", "bad": "number", "bad_rate": "percent",
                           "promised_pd": "percent", "scaling_pd": "percent"}, lang=lang())
        for column in ("binomial_p", "jeffreys_p"):
            table[column] = grades[column].map(lambda p: num(p, 4)).to_numpy()
        for column in ("promised_pd", "scaling_pd"):     # a PD of 0.05% must not read 0.1%
            if column in table:
                table[column] = grades[column].map(lambda v: fmt.percent(v, digits=2)).to_numpy()
        # two versions side by side, about 450 px each at 1440: short headers, each column as
        # narrow as its figures, so all eight are in view without scrolling the table; the
        # full name is the header's tooltip
        widths = {"grade": 46, "merchants": 50, "bad": 42, "bad_rate": 60, "promised_pd": 64,
                  "binomial_p": 64, "jeffreys_p": 70, "scaling_pd": 62}
        st.dataframe(labelled(table, "credit.validation.col_short"), hide_index=True,
                     width="stretch", column_config={
                         t(f"credit.validation.col_short.{c}"): st.column_config.Column(
                             width=widths[c], help=t(f"credit.col.{c}"))
                         for c in table.columns})
        st.caption(t("credit.calibration.tests_note", expected=num(validation.HL_MIN_EXPECTED, 0),
                     thin=fmt.number(calibration.MIN_GRADE_MERCHANTS)))
        overall = report.overall
        st.caption(t("credit.calibration.in_the_large", rows=fmt.number(overall.rows),
                     bad=fmt.number(overall.bad), observed=fmt.percent(overall.observed),
                     promised=fmt.percent(overall.promised), p=f"{overall.binomial_p:.3g}"))
        hl_ok = report.calibration_holds
        (st.success if hl_ok else st.error)(
            t("credit.validation.hl", stat=num(report.hl_stat, 2), df=report.hl_df,
              p=f"{report.hl_p:.3g}") + "\n\n" +
            t("credit.calibration.holds" if hl_ok else "credit.calibration.fails"))
        if report.pd_too_low:
            st.warning(t("credit.calibration.pd_too_low", grades=t("credit.calibration.list_sep").join(
                report.pd_too_low), alpha=num(validation.JEFFREYS_ALPHA, 2)))
        if not report.grades_monotonic:
            st.warning(t("credit.validation.not_monotonic"))
        st.metric(t("credit.validation.score_psi"),
                  f"{ICON[report.score_psi_level]} {num(report.score_psi)}",
                  help=t("credit.monitor.psi_help"))
        st.markdown(f"**{t('credit.validation.factors')}**")
        factors = report.factors.assign(
            factor=report.factors["factor"].map(lambda f: t(f"credit.factor.{f}")),
            iv=report.factors["iv"].map(num),
            iv_alarm=report.factors["iv_alarm"].map(lambda v: f"{ICON[v]} {t(f'credit.iv.{v}')}"),
            csi=report.factors["csi"].map(num),
            csi_level=report.factors["csi_level"].map(lambda v: f"{ICON[v]} {t(f'credit.psi.{v}')}"))
        st.dataframe(labelled(factors, "credit.col"), hide_index=True, width="stretch",
                     height=35 * (len(factors) + 1) + 3)
        for name in report.leak_alarms:
            st.error(t("credit.validation.leak", factor=t(f"credit.factor.{name}")))

if found.better:
    st.info(t("credit.validation.better", version=found.better))

# ---------------------------------------------------------------- the promotion gate
st.subheader(t("credit.promotion.title"))
decisions = run_query(credit.promotions, actor=actor)
if decisions is None:
    st.stop()
open_rows = decisions[decisions["status"] == "proposed"]
for row in open_rows.itertuples():
    with st.container(border=True):
        st.markdown(t("credit.promotion.open", version=row.version, from_version=row.from_version or "—",
                      who=row.proposed_by, at=fmt_time(row.proposed_at), better=row.better or "—"))
        st.caption(row.reason)
        if row.mine:
            st.info(t("credit.promotion.needs_second"))
        elif actor.has("risk", "manager"):
            note = st.text_input(t("credit.col.decision_note"), key=f"promo_note_{row.id}")
            a, r = st.columns(2)
            if a.button(t("credit.promotion.approve"), key=f"promo_ok_{row.id}", type="primary"):
                if run_action(credit.approve_promotion, actor=actor, promotion_id=int(row.id), note=note):
                    flash(t("credit.promotion.approved", version=row.version))
                    st.rerun()
            if r.button(t("credit.promotion.reject"), key=f"promo_no_{row.id}"):
                if run_action(credit.reject_promotion, actor=actor, promotion_id=int(row.id), note=note):
                    flash(t("credit.promotion.rejected", version=row.version))
                    st.rerun()

candidates = [v for v in found.versions if v.status == "candidate"]
if actor.has("risk") and candidates and open_rows.empty:
    with st.form("propose_promotion"):
        choice = st.selectbox(t("credit.promotion.candidate"), [v.version for v in candidates])
        reason = st.text_area(t("credit.col.reason"), max_chars=2000)
        if st.form_submit_button(t("credit.promotion.propose")):
            picked = next(v for v in candidates if v.version == choice)
            if run_action(credit.propose_promotion, actor=actor, version_id=picked.version_id,
                          reason=reason):
                flash(t("credit.promotion.proposed", version=choice))
                st.rerun()

done = decisions[decisions["status"] != "proposed"]
if not done.empty:
    shown = done.drop(columns=["mine"]).assign(
        status=done["status"].map(lambda s: t(f"credit.promotion.status.{s}")))
    # the decision's short facts first, all in view at 1440 px; then the explanation and the
    # note, cut to their column, and the id
    order = ["version", "from_version", "status", "better", "proposed_by", "proposed_at",
             "decided_by", "decided_at", "reason", "decision_note", "id"]
    st.dataframe(labelled(shown, "credit.col"), hide_index=True, width="stretch",
                 column_order=[t(f"credit.col.{c}") for c in order], column_config={
                     t(f"credit.col.{c}"): st.column_config.TextColumn(width=160)
                     for c in ("reason", "decision_note")})
