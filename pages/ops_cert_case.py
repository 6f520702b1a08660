"""Ops: one certification case — submitted fields, pre-checks, history, timeline, decisions."""
from datetime import timedelta

import streamlit as st

from console import clock
from console.services import certification as cert
from console.ui import (enum_label, flash, labelled, require_actor, run_action, run_query,
                        show_flash, t)

QUEUE_PAGE = "pages/ops_cert_queue.py"
SLA_COLOUR = {"ok": "green", "warn": "orange", "late": "red"}
OUTCOME_COLOUR = {"pass": "green", "fail": "red", "skip": "gray"}

actor = require_actor()
show_flash()
counts = run_query(cert.queue_counts, actor=actor)  # also refuses anyone outside ops
if counts is None:
    st.stop()
st.caption(t("trust.case.queue_counts", unassigned=counts["unassigned"], mine=counts["mine"]))

from_url = st.query_params.get("case")
default_id = int(from_url) if from_url and from_url.isdigit() else \
    st.session_state.get("cert_case_id")
case_id = st.number_input(t("trust.case.pick"), min_value=1, step=1, value=default_id,
                          key="cert_case_pick")
if not case_id:
    st.info(t("trust.case.none_picked"))
    st.stop()
st.session_state["cert_case_id"] = int(case_id)
view = run_query(cert.get_case, actor=actor, case_id=int(case_id))
if view is None:
    st.stop()
case = view.case
version = int(case["version"])


def done(message_key: str, *, back_to_queue: bool = False, **params) -> None:
    flash(t(message_key, **params))
    if back_to_queue:
        st.switch_page(QUEUE_PAGE)
    st.rerun()


def detail_text(detail) -> str:
    if not detail:
        return ""
    if detail.startswith("merchant:"):
        return t("trust.detail.merchant", id=detail.split(":", 1)[1])
    return t(f"trust.detail.{detail}")


# ------------------------------------------------------------------ header
st.title(t("trust.case.title", id=case["id"]))
h1, h2, h3, h4 = st.columns(4)
with h1:
    st.badge(enum_label("cert_status", case["status"]), color="blue")
with h2:
    sla_text = t("trust.sla." + case["sla"])
    st.badge(f"{sla_text} · {t('trust.hours', h=case['age_hours'])}",
             color=SLA_COLOUR[case["sla"]])
h3.caption(t("trust.case.assignee", name=case["assignee"] or t("trust.assignee.nobody")))
if case["snoozed_until"]:
    h4.caption(t("trust.case.snoozed_until", at=case["snoozed_until"]))

left, right = st.columns([1, 1])
with left:
    st.subheader(t("trust.case.fields"))
    personal = case["kind"] == "personal"
    fields = ["kind", "merchant_name", "merchant_type", "city", "cert_level", "submitted_at"]
    fields += ["real_name", "id_number"] if personal else ["company_name", "uscc", "legal_rep"]
    fields += ["previous_id"]
    labels = {"kind": enum_label("cert_kind", case["kind"]),
              "merchant_type": enum_label("merchant_type", case["merchant_type"]),
              "cert_level": enum_label("cert_level", case["cert_level"])}
    for name in fields:
        value = labels.get(name, case.get(name))
        st.markdown(f"**{t(f'trust.field.{name}')}**：{'—' if value is None else value}")
with right:
    st.subheader(t("trust.case.prechecks"))
    if view.prechecks.empty:
        st.caption(t("trust.case.prechecks_pending"))
    for check in view.prechecks.itertuples():
        if check.outcome == "skip" and not check.detail:
            continue
        st.badge(f"{t(f'trust.check.{check.check_code}')} · {t(f'trust.outcome.{check.outcome}')}",
                 color=OUTCOME_COLOUR[check.outcome],
                 icon=":material/priority_high:" if check.is_hard and check.outcome == "fail" else None)
        if check.detail:
            st.caption(detail_text(check.detail))

# ------------------------------------------------------------------ work on the case
st.divider()
mine = case["assignee_id"] == actor.id
if not view.is_open:
    st.info(t("trust.case.frozen", status=enum_label("cert_status", case["status"]),
              reviewer=case["reviewer"] or "—"))
    if case["reason_code"]:
        reason_text = t("trust.reason." + case["reason_code"])
        st.caption(f"{t('trust.field.reason_code')}：{reason_text} · {case['reason_note'] or ''}")
    if case["requested_doc"]:
        doc_text = t("trust.doc." + case["requested_doc"])
        st.caption(f"{t('trust.field.requested_doc')}：{doc_text}")
elif actor.has("ops"):
    a1, a2, a3 = st.columns(3)
    if case["assignee_id"] is None:
        if a1.button(t("trust.assign_me"), type="primary", key="case_assign_me"):
            if run_action(cert.assign_case, actor=actor, case_id=case["id"], version=version,
                          assignee_id=actor.id):
                done("trust.assigned")
    elif mine:
        if a1.button(t("trust.unassign"), key="case_unassign"):
            if run_action(cert.unassign_case, actor=actor, case_id=case["id"], version=version):
                done("trust.unassigned")
    else:
        a1.warning(t("trust.case.held_by_other", name=case["assignee"]))
    if case["assignee_id"] in (None, actor.id):
        people = run_query(cert.reviewers, actor=actor)
        if people is not None and not people.empty:
            names = dict(zip(people["id"].astype(int), people["display_name"]))
            colleague = a2.selectbox(t("trust.assign_to"), list(names), key="case_colleague",
                                     format_func=lambda i: names[i])
            if a2.button(t("trust.assign_colleague"), key="case_assign_colleague"):
                if run_action(cert.assign_case, actor=actor, case_id=case["id"],
                              version=version, assignee_id=colleague):
                    done("trust.assigned")
        until = a3.date_input(t("trust.snooze_until"), value=clock.today() + timedelta(days=1),
                              key="case_snooze_date")
        if a3.button(t("trust.snooze"), key="case_snooze"):
            if run_action(cert.snooze_case, actor=actor, case_id=case["id"], version=version,
                          until=until):
                done("trust.snoozed", at=until)

    if mine and case["status"] == "in_review":
        st.subheader(t("trust.case.decision"))
        d1, d2, d3 = st.columns(3)
        with d1:
            st.caption(t("trust.case.approve_hint"))
            if st.button(t("trust.approve"), type="primary", icon=":material/verified:",
                         key="case_approve"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="approve"):
                    done("trust.decided.approved", back_to_queue=True, id=case["id"])
        with d2, st.form("case_reject"):
            reason = st.selectbox(t("trust.field.reason_code"), view.options["reject"],
                                  format_func=lambda c: t(f"trust.reason.{c}"))
            note = st.text_area(t("trust.note"), key="reject_note")
            if st.form_submit_button(t("trust.reject"), icon=":material/block:"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="reject", reason_code=reason, note=note):
                    done("trust.decided.rejected", back_to_queue=True, id=case["id"])
        with d3, st.form("case_needs_info"):
            doc = st.selectbox(t("trust.field.requested_doc"), view.options[f"doc.{case['kind']}"],
                               format_func=lambda c: t(f"trust.doc.{c}"))
            why = st.selectbox(t("trust.field.reason_code"), view.options["needs_info"],
                               format_func=lambda c: t(f"trust.reason.{c}"))
            info_note = st.text_area(t("trust.note"), key="info_note")
            if st.form_submit_button(t("trust.needs_info"), icon=":material/upload_file:"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="needs_info", reason_code=why, note=info_note,
                              requested_doc=doc):
                    done("trust.decided.needs_info", back_to_queue=True, id=case["id"])

# ------------------------------------------------------------------ history and timeline
history, timeline = st.tabs([t("trust.case.history"), t("trust.case.timeline")])
with history:
    for title_key, frame in (("trust.case.earlier_cases", view.earlier_cases),
                             ("trust.case.listings", view.listings),
                             ("trust.case.disputes", view.disputes)):
        st.markdown(f"**{t(title_key)}**")
        if frame.empty:
            st.caption(t("common.none"))
        else:
            st.dataframe(labelled(frame, "trust.col"), hide_index=True, width="stretch")
with timeline:
    if view.timeline.empty:
        st.caption(t("common.none"))
    for item in view.timeline.itertuples():
        what = item.text if item.kind == "note" else t(f"trust.action.{item.action.split('.')[-1]}")
        st.markdown(f"`{item.at:%Y-%m-%d %H:%M}` **{item.who or t('trust.system')}** · {what}")
    if actor.has("ops"):
        with st.form("case_note", clear_on_submit=True):
            body = st.text_area(t("trust.case.add_note"))
            if st.form_submit_button(t("trust.case.save_note")):
                if run_action(cert.add_note, actor=actor, case_id=case["id"], body=body):
                    done("trust.note_added")
