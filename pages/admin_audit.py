"""Admin and managers: the audit log in words (who, what, which record, what changed, the
note), filtered by person, action, record and dates, paged and exported; the hash chain's
last verification, and a button to verify it now."""
import pandas as pd
import streamlit as st

from console.audit import describe_chain
from console.services import audit_log
from console.services.audit_log import AuditFilters
from console.settings import get_settings
from console.ui import fmt_time, lang, pager, require_actor, run_action, run_query, t
from console.ui.replica import replica_badge

actor = require_actor()
st.title(t("audit.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one

# ---------------------------------------------------------------- the chain
last = run_query(audit_log.last_verification, actor=actor)
chain_box = st.container()
if st.button(t("audit.verify.button"), help=t("audit.verify.help"), key="audit_verify"):
    with st.spinner(t("audit.verify.help")):
        done = run_action(audit_log.verify_now, actor=actor)
    if done:
        last = audit_log.Verification(report=done.value, by=actor.display_name)
with chain_box:
    if last is None:
        st.info(t("audit.verify.never"))
    else:
        key, params = describe_chain(last.report)
        message = t(key, **{**params, "at": fmt_time(params["at"])})
        (st.success if last.report.intact else st.error)(message)
        st.caption(t("audit.verify.last", by=last.by or t("audit.system"),
                     at=fmt_time(last.report.verified_at)))

# ---------------------------------------------------------------- filters
people = run_query(audit_log.people, actor=actor)
if people is None:
    st.stop()
names = dict(zip(people["id"].tolist(), people["display_name"].tolist()))
codes = audit_log.action_codes()
types = audit_log.entity_types()
current: AuditFilters = st.session_state.get("audit_filters", AuditFilters())

with st.form("audit_filter_form"):
    c1, c2, c3, c4 = st.columns([2, 3, 2, 1])
    person = c1.selectbox(t("audit.f.person"), [None, *names], format_func=lambda v: (
        t("audit.f.all") if v is None else names[v]),
        index=([None, *names].index(current.actor_id) if current.actor_id in names else 0))
    action = c2.selectbox(t("audit.f.action"), [None, *codes], format_func=lambda v: (
        t("audit.f.all") if v is None else audit_log.action_label(v, lang())),
        index=([None, *codes].index(current.action) if current.action in codes else 0))
    etype = c3.selectbox(t("audit.f.entity_type"), [None, *types], format_func=lambda v: (
        t("audit.f.all") if v is None else audit_log.entity_label(v, lang())),
        index=([None, *types].index(current.entity_type) if current.entity_type in types else 0))
    eid = c4.text_input(t("audit.f.entity_id"), value=current.entity_id)
    d1, d2, d3 = st.columns([3, 1, 1])
    dates = d1.date_input(t("audit.f.dates"), value=tuple(
        d for d in (current.date_from, current.date_to) if d), format="YYYY-MM-DD")
    applied = d2.form_submit_button(t("audit.f.apply"), type="primary")
    cleared = d3.form_submit_button(t("audit.f.clear"))
if applied or cleared:
    if cleared:
        current = AuditFilters()
    else:
        picked = list(dates) if isinstance(dates, (tuple, list)) else [dates]
        current = AuditFilters(actor_id=person, action=action, entity_type=etype,
                               entity_id=eid.strip(),
                               date_from=picked[0] if picked else None,
                               date_to=picked[-1] if picked else None)
    st.session_state["audit_filters"] = current
    st.session_state["audit__page"] = 1
    st.session_state.pop("audit_export", None)

# ---------------------------------------------------------------- the rows
total = run_query(audit_log.count_audit, actor=actor, filters=current)
if total is None:
    st.stop()
page_size = get_settings().page_size
offset = pager(key="audit", total=total, page_size=page_size)
rows = run_query(audit_log.search_audit, actor=actor, filters=current, offset=offset,
                 limit=page_size, lang=lang())
if rows is None:
    st.stop()
if rows.empty:
    st.info(t("common.none"))
else:
    shown = rows.rename(columns={c: t(f"audit.col.{c}") for c in rows.columns})
    picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="single-row", key="audit_table", column_config={
                              t("audit.col.changes"): st.column_config.TextColumn(width="large"),
                              t("audit.col.reason"): st.column_config.TextColumn(width="medium")})
    chosen = picked.selection.rows if picked else []
    if chosen and chosen[0] < len(shown):
        # The whole row, wrapped: long changes and notes are cut in the table's cells.
        # st.table renders values as plain text, never as markdown.
        row = shown.iloc[chosen[0]]
        st.table(pd.DataFrame({t("audit.detail.value"): [str(v) for v in row.values]},
                              index=list(shown.columns)))
    else:
        st.caption(t("audit.detail.hint"))

# ---------------------------------------------------------------- export (audited)
if st.button(t("audit.export_prepare"), icon=":material/download:", disabled=not total):
    out = run_action(audit_log.export_audit, actor=actor, filters=current, lang=lang())
    if out:
        st.session_state["audit_export"] = out.value
if st.session_state.get("audit_export"):
    st.download_button(t("common.export_csv"), st.session_state["audit_export"],
                       file_name="audit_log.csv", mime="text/csv", type="primary")
