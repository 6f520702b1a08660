"""Ops: one certification case — submitted fields, pre-checks, history, timeline, decisions."""
from datetime import timedelta

import streamlit as st

from console import clock
from console.services import certification as cert
from console.ui import (enum_label, flash, labelled, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.links import keep_in_url, requested_id

QUEUE_PAGE = "pages/ops_cert_queue.py"
SLA_COLOUR = {"ok": "green", "warn": "orange", "late": "red"}
OUTCOME_COLOUR = {"pass": "green", "fail": "red", "skip": "gray"}

actor = require_actor()
show_flash()
counts = run_query(cert.queue_counts, actor=actor)  # also refuses anyone outside ops
if counts is None:
    st.stop()
st.caption(t("trust.case.queue_counts", unassigned=counts["unassigned"], mine=counts["mine"]))

# The case comes from the URL (/cert-case?case=123, console/ui/links.py), the queue, or is
# typed here; the URL then names the case shown, so it can be copied to a colleague.
from_url = requested_id("case")
if from_url is not None and from_url != st.session_state.get("cert_case_id"):
    st.session_state["cert_case_pick"] = from_url
default_id = from_url or st.session_state.get("cert_case_id")
case_id = st.number_input(t("trust.case.pick"), min_value=1, step=1, value=default_id,
                          key="cert_case_pick")
if not case_id:
    keep_in_url("case", None)
    st.info(t("trust.case.none_picked"))
    st.stop()
st.session_state["cert_case_id"] = int(case_id)
keep_in_url("case", int(case_id))
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


# ------------------------------------------------------------------ header
from console import fmt  # noqa: E402  (below the page's top part, which reads the URL)
from console.services.prechecks import PrecheckLine  # noqa: E402
from console.i18n import has_key  # noqa: E402
from console.ui import lang  # noqa: E402
from console.ui.links import record_link  # noqa: E402
from console.ui.trust import decided_label, field_line, is_decided  # noqa: E402

TONE_COLOUR = {"ok": "green", "bad": "red", "warn": "orange", "na": "gray"}
ZOOMS = (100, 150, 200, 300)

st.title(t("trust.case.title", id=case["id"]))
h1, h2, h3, h4 = st.columns(4)
with h1:
    st.badge(enum_label("cert_status", case["status"]), color="blue")
with h2:
    if is_decided(case["decided_at"]) and not view.is_open:
        # A decided case is not late, whatever its age: it shows when it was decided.
        st.badge(decided_label(case["decided_at"]), color="gray", icon=":material/done:")
    else:
        sla_text = t("trust.sla." + case["sla"])
        st.badge(f"{sla_text} · {fmt.hours(case['age_hours'], lang=lang())}",
                 color=SLA_COLOUR[case["sla"]])
h3.caption(t("trust.case.assignee", name=case["assignee"] or t("trust.assignee.nobody")))
if case["snoozed_until"]:
    h4.caption(t("trust.case.snoozed_until", at=fmt.when(case["snoozed_until"])))
h4.caption(field_line(t("ops.case.link"), record_link("case", case["id"])))


def image_viewer(image, key: str) -> None:
    """One document image with a zoom: the image fills the frame at 100 % and is panned by
    scrolling the frame when zoomed in."""
    import base64
    zoom = st.select_slider(t("ops.docs.zoom"), ZOOMS, value=100, key=f"zoom_{key}",
                            format_func=lambda z: f"{z}%")
    data = base64.b64encode(image.image).decode("ascii")
    st.html(f'<div style="overflow:auto;max-height:560px;border:1px solid #d0d7de;'
            f'border-radius:6px;background:#f6f8fa">'
            f'<img alt="{t("trust.doc." + image.doc_code)}" '
            f'src="data:{image.content_type};base64,{data}" '
            f'style="width:{int(zoom)}%;max-width:none;display:block"></div>')
    st.caption(t("ops.docs.caption", doc=t("trust.doc." + image.doc_code),
                 w=image.width, h=image.height, at=fmt.when(image.uploaded_at)))


def precheck_line(line: PrecheckLine) -> None:
    answer = f":{TONE_COLOUR[line.tone]}[**{t(line.answer_key)} {line.mark}**]"
    st.markdown(f"{t(line.question_key)} {answer}")
    if line.conflict_merchant_id is not None:
        mid = line.conflict_merchant_id
        name = view.conflicts.get(mid)
        label = f"#{mid} {name}" if name else f"#{mid}"
        st.caption(t("ops.precheck.conflict") + record_link("merchant", mid, label))
    elif line.detail_key:
        st.caption(t(line.detail_key))


docs_col, fields_col = st.columns([3, 2], gap="large")
with docs_col:
    st.subheader(t("ops.docs.title"))
    if case.get("images_withheld"):
        st.caption(t("ops.docs.withheld"))
    elif not view.images:
        st.info(t("ops.docs.none"))
    elif len(view.images) == 1:
        image_viewer(view.images[0], f"{case['id']}_{view.images[0].doc_code}")
    else:
        tabs = st.tabs([t("trust.doc." + im.doc_code) for im in view.images])
        for tab, im in zip(tabs, view.images):
            with tab:
                image_viewer(im, f"{case['id']}_{im.doc_code}")
with fields_col:
    st.subheader(t("trust.case.fields"))
    personal = case["kind"] == "personal"
    fields = ["kind", "merchant_name", "merchant_type", "city", "cert_level", "submitted_at"]
    fields += ["real_name", "id_number"] if personal else ["company_name", "uscc", "legal_rep"]
    fields += ["previous_id"]
    shown = {"kind": enum_label("cert_kind", case["kind"]),
             "merchant_name": record_link("merchant", case["merchant_id"], case["merchant_name"]),
             "merchant_type": enum_label("merchant_type", case["merchant_type"]),
             "cert_level": enum_label("cert_level", case["cert_level"]),
             "submitted_at": fmt.when(case["submitted_at"]),
             "previous_id": record_link("case", case["previous_id"])
             if case["previous_id"] else None}
    for name in fields:
        st.markdown(field_line(t(f"trust.field.{name}"), shown.get(name, case.get(name))))
    st.subheader(t("trust.case.prechecks"))
    if view.prechecks.empty:
        st.caption(t("trust.case.prechecks_pending"))
    else:
        with st.container(border=True, key="case_prechecks"):
            for line in view.checks:
                precheck_line(line)
        st.caption(t("ops.precheck.legend"))

# ------------------------------------------------------------------ work on the case
st.divider()
mine = case["assignee_id"] == actor.id
if not view.is_open:
    st.info(t("trust.case.frozen", status=enum_label("cert_status", case["status"]),
              reviewer=case["reviewer"] or "—"))
    if case["reason_code"]:
        st.caption(field_line(t("trust.field.reason_code"),
                              t("trust.reason." + case["reason_code"])))
    if case["reason_note"]:
        st.caption(field_line(t("trust.note"), case["reason_note"]))
    if case["requested_docs"]:
        st.caption(field_line(t("ops.field.requested_docs"),
                              t("ops.list_sep").join(t("trust.doc." + d)
                                                     for d in case["requested_docs"])))
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
            approve_note = st.text_area(t("ops.approve_note"), key="approve_note", height=80)
            if st.button(t("trust.approve"), type="primary", icon=":material/verified:",
                         key="case_approve"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="approve", note=approve_note):
                    done("trust.decided.approved", back_to_queue=True, id=case["id"])
        with d2, st.form("case_reject"):
            reason = st.selectbox(t("trust.field.reason_code"), view.options["reject"],
                                  index=None, format_func=lambda c: t(f"trust.reason.{c}"),
                                  key="reject_reason")
            note = st.text_area(t("trust.note"), key="reject_note")
            if st.form_submit_button(t("trust.reject"), icon=":material/block:"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="reject", reason_code=reason, note=note):
                    done("trust.decided.rejected", back_to_queue=True, id=case["id"])
        with d3, st.form("case_needs_info"):
            docs = st.multiselect(t("ops.field.requested_docs"),
                                  view.options[f"doc.{case['kind']}"],
                                  format_func=lambda c: t(f"trust.doc.{c}"), key="info_docs")
            why = st.selectbox(t("trust.field.reason_code"), view.options["needs_info"],
                               index=None, format_func=lambda c: t(f"trust.reason.{c}"),
                               key="info_reason")
            info_note = st.text_area(t("trust.note"), key="info_note")
            if st.form_submit_button(t("trust.needs_info"), icon=":material/upload_file:"):
                if run_action(cert.decide, actor=actor, case_id=case["id"], version=version,
                              decision="needs_info", reason_code=why, note=info_note,
                              requested_docs=list(docs)):
                    done("ops.decided.needs_info", back_to_queue=True, id=case["id"],
                         n=len(docs))

# ------------------------------------------------------------------ history and timeline
history, timeline = st.tabs([t("trust.case.history"), t("trust.case.timeline")])
DATES = {"submitted_at": "when", "decided_at": "when", "published_at": "when",
         "created_at": "when", "price": "number", "guide_price": "number"}


def label_codes(frame):
    """Codes in a history table as words."""
    words = {"kind": lambda v: enum_label("cert_kind", v),
             "status": lambda v: enum_label("cert_status", v),
             "reason_code": lambda v: t(f"trust.reason.{v}"),
             "requested_doc": lambda v: t(f"trust.doc.{v}")}
    out = frame.copy()
    for column, word in words.items():
        if column in out.columns:
            out[column] = [word(v) if isinstance(v, str) else fmt.MISSING for v in out[column]]
    return out


with history:
    for title_key, frame in (("trust.case.earlier_cases", label_codes(view.earlier_cases)),
                             ("trust.case.listings", view.listings.assign(
                                 status=[enum_label("listing_status", v)
                                         for v in view.listings["status"]])),
                             ("trust.case.disputes", view.disputes)):
        st.markdown(f"**{t(title_key)}**")
        if frame.empty:
            st.caption(t("common.none"))
        else:
            st.dataframe(labelled(fmt.frame(frame, DATES, lang=lang()), "trust.col"),
                         hide_index=True, width="stretch")
with timeline:
    if view.timeline.empty:
        st.caption(t("common.none"))
    for item in view.timeline.itertuples():
        what = item.text if item.kind == "note" else t(f"trust.action.{item.action.split('.')[-1]}")
        if item.kind != "note" and item.text:  # the decision's note (or its reason code)
            said = t(f"trust.reason.{item.text}") if has_key(f"trust.reason.{item.text}") \
                else item.text
            what = t("ops.timeline.with_note", what=what, note=said)
        st.markdown(f"`{fmt.when(item.at)}` **{item.who or t('trust.system')}** · {what}")
    if actor.has("ops"):
        with st.form("case_note", clear_on_submit=True):
            body = st.text_area(t("trust.case.add_note"))
            if st.form_submit_button(t("trust.case.save_note")):
                if run_action(cert.add_note, actor=actor, case_id=case["id"], body=body):
                    done("trust.note_added")
