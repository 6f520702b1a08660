"""Ops: listing authenticity review — flagged listings, next flag, confirm or clear."""
from datetime import timedelta

import streamlit as st

from console import clock, fmt
from console.i18n import has_key
from console.services import flag_evidence
from console.services import listing_review as lr
from console.services.listing_review import FlagFilters
from console.settings import get_settings
from console.ui import (enum_label, flash, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui import import_details as import_ui
from console.ui.links import keep_in_url, record_link, requested_id
from console.ui.trust import AGE_OPTIONS, apply_url_filters, field_line, sla_or_decided

actor = require_actor()
st.title(t("trust.listing.title"))
show_flash()
from_url = requested_id("flag")   # /listing-review?flag=N opens that flag
if from_url is not None and st.session_state.get("flag_from_url") != from_url:
    st.session_state["flag_from_url"] = from_url
    st.session_state["flag_id"] = from_url

counts = run_query(lr.queue_counts, actor=actor)
if counts is None:
    st.stop()
c1, c2, c3, c4, c5, c6 = st.columns(6)
c1.metric(t("trust.count.unassigned"), f"{counts['unassigned']:,}")
c2.metric(t("trust.count.mine"), f"{counts['mine']:,}")
c3.metric(t("trust.count.late"), f"{counts['late']:,}")
if c4.button(t("trust.next_flag"), type="primary", icon=":material/skip_next:", key="flag_next"):
    taken = run_action(lr.next_flag, actor=actor)
    if taken and taken.value is None:
        st.info(t("trust.queue_empty"))
    elif taken:
        st.session_state["flag_id"] = taken.value
        flash(t("trust.took_flag", id=taken.value))
        st.rerun()
if c5.button(t("trust.auto_assign"), icon=":material/group_add:", key="flag_auto_assign"):
    given = run_action(lr.auto_assign, actor=actor)
    if given:
        flash(t("trust.auto_assigned", n=sum(given.value.values()), people=len(given.value)))
        st.rerun()
if c6.button(t("trust.listing.scan"), icon=":material/radar:", key="flag_scan"):
    raised = run_action(lr.scan_now, actor=actor)
    if raised:
        flash(t("trust.listing.scanned", n=sum(raised.value.values())))
        st.rerun()

from_tile = apply_url_filters("listing-review", "fq")   # a home tile's link
with st.expander(t("trust.filters"), expanded=from_tile, icon=":material/filter_list:"):
    f1, f2, f3, f4 = st.columns(4)
    view = f1.radio(t("trust.filter.assignee"), ("any", "me", "unassigned"), horizontal=True,
                    format_func=lambda v: t(f"trust.assignee.{v}"), key="fq_view")
    kinds = f2.multiselect(t("trust.filter.flag_kind"), lr.KINDS, key="fq_kinds",
                           format_func=lambda v: t(f"trust.flag_kind.{v}"))
    statuses = f3.multiselect(t("trust.filter.status"), lr.STATUSES,
                              default=None if "fq_statuses" in st.session_state
                              else ["pending", "in_review"], key="fq_statuses",
                              format_func=lambda v: t(f"trust.flag_status.{v}"))
    age = f4.selectbox(t("trust.filter.age"), list(AGE_OPTIONS), key="fq_age",
                       format_func=lambda v: t(f"trust.age.{v}"))
    g1, g2, g3, g4 = st.columns(4)
    tiers = g1.multiselect(t("trust.filter.tier"), lr.TIERS, key="fq_tiers",
                           format_func=lambda v: enum_label("tier", v))
    mtypes = g2.multiselect(t("trust.filter.merchant_type"), lr.MERCHANT_TYPES, key="fq_mtypes",
                            format_func=lambda v: enum_label("merchant_type", v))
    sort = g3.selectbox(t("trust.filter.sort"), list(lr.SORTS), key="fq_sort",
                        format_func=lambda v: t(f"trust.sort.{v}"))
    descending = g4.checkbox(t("trust.filter.descending"), key="fq_desc")
    include_snoozed = g4.checkbox(t("trust.filter.include_snoozed"), key="fq_snoozed")

min_age, max_age = AGE_OPTIONS[age]
filters = FlagFilters(kinds=tuple(kinds), statuses=tuple(statuses), tiers=tuple(tiers),
                      merchant_types=tuple(mtypes), min_age_hours=min_age, max_age_hours=max_age,
                      assignee=view, include_snoozed=include_snoozed)
size = get_settings().page_size
offset = (st.session_state.get("flag_queue__page", 1) - 1) * size
page = run_query(lr.list_queue, actor=actor, filters=filters, sort=sort, descending=descending,
                 limit=size, offset=offset)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("trust.queue_empty"))
else:
    rows = page.rows
    shown = fmt.frame(rows.assign(
        kind=rows["kind"].map(lambda v: t(f"trust.flag_kind.{v}")),
        status=rows["status"].map(lambda v: t(f"trust.flag_status.{v}")),
        merchant_type=rows["merchant_type"].map(lambda v: enum_label("merchant_type", v)),
        sla=[sla_or_decided(s, d) for s, d in zip(rows["sla"], rows["decided_at"])],
    ), {"price": "number", "points": "decimal", "raised_at": "when"}, lang=lang())[
        ["id", "sla", "kind", "status", "listing_id", "merchant_name", "merchant_type", "city",
         "price", "points", "vin", "raised_at", "assignee"]]
    event = st.dataframe(labelled(shown, "trust.col"), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="flag_queue_table")
    if event is not None and event.selection.rows:
        st.session_state["flag_id"] = int(rows.iloc[event.selection.rows[0]]["id"])
if pager(key="flag_queue", total=page.total, page_size=size) != offset:
    st.rerun()

# ------------------------------------------------------------------ the selected flag
flag_id = st.session_state.get("flag_id")
if not flag_id:
    st.caption(t("trust.listing.pick_hint"))
    st.stop()
def flag_rows(frame):
    """Other flags as staff read them: kinds, statuses and reasons in words, local times."""
    return fmt.frame(frame.assign(
        kind=frame["kind"].map(lambda v: t(f"trust.flag_kind.{v}")),
        status=frame["status"].map(lambda v: t(f"trust.flag_status.{v}")),
        reason_code=frame["reason_code"].map(
            lambda c: t(f"trust.reason.{c}") if isinstance(c, str) else fmt.MISSING)),
        {"raised_at": "when", "decided_at": "when"}, lang=lang())


fv = run_query(lr.get_flag, actor=actor, flag_id=int(flag_id))
if fv is None:
    st.stop()
flag = fv.flag
keep_in_url("flag", flag["id"])   # the address bar is a link to this flag
version = int(flag["version"])
st.divider()
st.subheader(t("trust.listing.flag_title", id=flag["id"], kind=t(f"trust.flag_kind.{flag['kind']}")))
st.caption(field_line(t("ops.flag.link"), record_link("flag", flag["id"])))
d1, d2 = st.columns(2)
with d1:
    shown_value = {"price": fmt.yuan(flag["price"]), "guide_price": fmt.yuan(flag["guide_price"]),
                   "listing_status": enum_label("listing_status", flag["listing_status"]),
                   "merchant_name": record_link("merchant", flag["merchant_id"],
                                                flag["merchant_name"]),
                   "merchant_confirmed_fakes": fmt.number(flag["merchant_confirmed_fakes"])}
    for name in ("vehicle", "merchant_name", "city", "price", "guide_price", "vin",
                 "listing_status", "merchant_confirmed_fakes"):
        st.markdown(field_line(t(f"trust.field.{name}"), shown_value.get(name, flag[name])))
    if flag["is_parallel_import"]:   # no guide price of its own: its reference instead
        import_ui.show_details(flag, reference=flag["import_reference"])
        if actor.has("ops"):
            import_ui.correction_form(actor, listing_id=flag["listing_id"],
                                      version=int(flag["import_version"]), current=flag,
                                      key="flag_import")
with d2:
    st.markdown(f"**{t('ops.evidence.title')}**")
    with st.container(border=True, key="flag_evidence"):
        for sentence in flag_evidence.render(flag["evidence"], lang()):
            st.markdown(sentence)
    st.caption(t("trust.case.assignee", name=flag["assignee"] or t("trust.assignee.nobody")))
    if not fv.other_flags.empty:
        st.markdown(f"**{t('trust.listing.other_flags')}**")
        st.dataframe(labelled(flag_rows(fv.other_flags), "trust.col"), hide_index=True,
                     width="stretch")

mine = flag["assignee_id"] == actor.id
if not fv.is_open:
    st.info(t("trust.listing.frozen", status=t(f"trust.flag_status.{flag['status']}")))
elif actor.has("ops"):
    a1, a2, a3 = st.columns(3)
    if flag["assignee_id"] is None:
        if a1.button(t("trust.assign_me"), type="primary", key="flag_assign_me"):
            if run_action(lr.assign_flag, actor=actor, flag_id=flag["id"], version=version,
                          assignee_id=actor.id):
                flash(t("trust.assigned"))
                st.rerun()
    elif mine:
        if a1.button(t("trust.unassign"), key="flag_unassign"):
            if run_action(lr.unassign_flag, actor=actor, flag_id=flag["id"], version=version):
                flash(t("trust.unassigned"))
                st.rerun()
    else:
        a1.warning(t("trust.case.held_by_other", name=flag["assignee"]))
    if flag["assignee_id"] in (None, actor.id):
        until = a3.date_input(t("trust.snooze_until"), value=clock.today() + timedelta(days=1),
                              key="flag_snooze_date")
        if a3.button(t("trust.snooze"), key="flag_snooze"):
            if run_action(lr.snooze_flag, actor=actor, flag_id=flag["id"], version=version,
                          until=until):
                flash(t("trust.snoozed", at=until))
                st.rerun()
    if mine and flag["status"] == "in_review":
        # Nothing preselected: taking a listing down is a choice the reviewer makes.
        decision = st.radio(t("trust.case.decision"), ("confirm", "clear"), horizontal=True,
                            index=None, format_func=lambda d: t(f"trust.listing.{d}"),
                            key="flag_decision")
        reason = st.selectbox(t("trust.field.reason_code"),
                              fv.options[decision] if decision else [], index=None,
                              format_func=lambda c: t(f"trust.reason.{c}"), key=f"flag_reason_{decision}",
                              disabled=decision is None)
        note = st.text_area(t("trust.note"), key="flag_note",
                            placeholder=t("ops.decision.note_needed") if decision == "confirm"
                            else None)
        label = t(f"trust.listing.{decision}") if decision else t("ops.decision.submit")
        if st.button(label, type="primary", key="flag_decide"):
            if decision is None:
                st.error(t("ops.error.choose_decision"))
            elif run_action(lr.decide_flag, actor=actor, flag_id=flag["id"], version=version,
                            decision=decision, reason_code=reason, note=note):
                st.session_state.pop("flag_id", None)
                keep_in_url("flag", None)
                flash(t(f"trust.listing.decided.{decision}", id=flag["id"]))
                st.rerun()

history, timeline = st.tabs([t("trust.listing.merchant_history"), t("trust.case.timeline")])
with history:
    if fv.merchant_history.empty:
        st.caption(t("common.none"))
    else:
        st.dataframe(labelled(flag_rows(fv.merchant_history), "trust.col"), hide_index=True,
                     width="stretch")
with timeline:
    for item in fv.timeline.itertuples():
        what = item.text if item.kind == "note" else t(f"trust.action.{item.action.split('.')[-1]}")
        if item.kind != "note" and item.text:  # the decision's note (or its reason code)
            said = t(f"trust.reason.{item.text}") if has_key(f"trust.reason.{item.text}") \
                else item.text
            what = t("ops.timeline.with_note", what=what, note=said)
        st.markdown(f"`{fmt.when(item.at)}` **{item.who or t('trust.system')}** · {what}")
    if actor.has("ops"):
        with st.form("flag_note", clear_on_submit=True):
            body = st.text_area(t("trust.case.add_note"))
            if st.form_submit_button(t("trust.case.save_note")):
                if run_action(lr.add_note, actor=actor, flag_id=flag["id"], body=body):
                    flash(t("trust.note_added"))
                    st.rerun()
