"""Ops: the certification queue — filters, server-side paging, next case, auto-assignment."""
import streamlit as st

from console import fmt
from console.services import certification as cert
from console.services.certification import CertFilters
from console.services.prechecks import ALL_CHECKS
from console.settings import get_settings
from console.ui import (enum_label, flash, keep_choices, labelled, lang, pager, require_actor,
                        run_action, run_query, show_flash, t)
from console.ui.links import open_record
from console.ui.trust import AGE_OPTIONS, apply_url_filters, sla_or_decided

CASE_PAGE = "pages/ops_cert_case.py"
# The table's columns and their widths in pixels: together within the content width at
# 1280 px (about 820 px beside the sidebar, the row-select column included), so no column
# is cut at the edge and no cell is cut short. A case's age is its SLA mark and submission
# time; the merchant's type and city are filters above and on the case page.
COLUMNS = {"id": 56, "sla": 100, "kind": 76, "status": 88, "merchant_name": 156,
           "submitted_at": 124, "flags": 120, "assignee": 64}

actor = require_actor()
st.title(t("trust.cert_queue.title"))
show_flash()


def open_case(case_id: int) -> None:
    st.session_state["cert_case_id"] = int(case_id)
    open_record("case", case_id)   # /cert-case?case=N: a link to the case


counts = run_query(cert.queue_counts, actor=actor)
if counts is None:
    st.stop()
run_action(cert.check_new_submissions, actor=actor)  # new submissions get their badges first
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1.2, 1.2])
c1.metric(t("trust.count.unassigned"), f"{counts['unassigned']:,}")
c2.metric(t("trust.count.mine"), f"{counts['mine']:,}")
c3.metric(t("trust.count.late"), f"{counts['late']:,}")
if c4.button(t("trust.next_case"), type="primary", icon=":material/skip_next:",
             key="cert_next_case"):
    taken = run_action(cert.next_case, actor=actor)
    if taken and taken.value is None:
        st.info(t("trust.queue_empty"))
    elif taken:
        flash(t("trust.took_case", id=taken.value))
        open_case(taken.value)
if c5.button(t("trust.auto_assign"), icon=":material/group_add:", key="cert_auto_assign"):
    given = run_action(cert.auto_assign, actor=actor)
    if given:
        flash(t("trust.auto_assigned", n=sum(given.value.values()), people=len(given.value)))
        st.rerun()

keep_choices("cq_view", "cq_kinds", "cq_statuses", "cq_age", "cq_flags", "cq_tiers", "cq_mtypes",
             "cq_sort", page="cert-queue")   # through a language switch, in its words
apply_url_filters("cert-queue", "cq")   # a home tile's link: /cert-queue?sla=late …
with st.expander(t("trust.filters"), expanded=True, icon=":material/filter_list:"):
    f1, f2, f3, f4 = st.columns([1, 1, 1.3, 1])   # the status picker holds two chips
    view = f1.radio(t("trust.filter.assignee"), ("any", "me", "unassigned"), horizontal=True,
                    format_func=lambda v: t(f"trust.assignee.{v}"), key="cq_view")
    kinds = f2.multiselect(t("trust.filter.kind"), cert.KINDS, key="cq_kinds",
                           format_func=lambda v: enum_label("cert_kind", v))
    statuses = f3.multiselect(t("trust.filter.status"), cert.STATUSES,
                              default=None if "cq_statuses" in st.session_state
                              else ["pending", "in_review"], key="cq_statuses",
                              format_func=lambda v: enum_label("cert_status", v))
    age = f4.selectbox(t("trust.filter.age"), list(AGE_OPTIONS), key="cq_age",
                       format_func=lambda v: t(f"trust.age.{v}"))
    g1, g2, g3, g4 = st.columns(4)
    flags = g1.multiselect(t("trust.filter.flags"), ALL_CHECKS, key="cq_flags",
                           format_func=lambda v: t(f"trust.check.{v}"))
    tiers = g2.multiselect(t("trust.filter.tier"), cert.TIERS, key="cq_tiers",
                           format_func=lambda v: enum_label("tier", v))
    mtypes = g3.multiselect(t("trust.filter.merchant_type"), cert.MERCHANT_TYPES, key="cq_mtypes",
                            format_func=lambda v: enum_label("merchant_type", v))
    sort = g4.selectbox(t("trust.filter.sort"), list(cert.SORTS), key="cq_sort",
                        format_func=lambda v: t(f"trust.sort.{v}"))
    h1, h2, h3 = st.columns(3)
    flagged_only = h1.checkbox(t("trust.filter.flagged_only"), key="cq_flagged")
    include_snoozed = h2.checkbox(t("trust.filter.include_snoozed"), key="cq_snoozed")
    descending = h3.checkbox(t("trust.filter.descending"), key="cq_desc")

min_age, max_age = AGE_OPTIONS[age]
filters = CertFilters(kinds=tuple(kinds), statuses=tuple(statuses), flags=tuple(flags),
                      flagged_only=flagged_only, tiers=tuple(tiers),
                      merchant_types=tuple(mtypes), min_age_hours=min_age,
                      max_age_hours=max_age, assignee=view, include_snoozed=include_snoozed)
size = get_settings().page_size
offset = (st.session_state.get("cert_queue__page", 1) - 1) * size
page = run_query(cert.list_queue, actor=actor, filters=filters, sort=sort,
                 descending=descending, limit=size, offset=offset)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("trust.queue_empty"))
else:
    rows = page.rows
    shown = fmt.frame(rows.assign(
        kind=rows["kind"].map(lambda v: enum_label("cert_kind", v)),
        status=rows["status"].map(lambda v: enum_label("cert_status", v)),
        merchant_type=rows["merchant_type"].map(lambda v: enum_label("merchant_type", v)),
        # A decided case shows when it was decided, not an SLA it no longer runs against.
        sla=[sla_or_decided(s, d) for s, d in zip(rows["sla"], rows["decided_at"])],
        flags=rows["flags"].map(lambda fs: t("ops.list_sep").join(
            t(f"trust.check_short.{f}") for f in fs)),
    ), {"submitted_at": "when"}, lang=lang())[list(COLUMNS)]
    config = {t(f"trust.col.{c}"): st.column_config.Column(width=w) for c, w in COLUMNS.items()}
    config[t("trust.col.flags")] = st.column_config.Column(width=COLUMNS["flags"],
                                                           help=t("trust.col.flags_help"))
    event = st.dataframe(labelled(shown, "trust.col"), hide_index=True, width="stretch",
                         column_config=config, on_select="rerun",
                         selection_mode="single-row", key="cert_queue_table")
    picked = event.selection.rows if event is not None else []
    if picked and st.button(t("trust.open_case", id=int(rows.iloc[picked[0]]["id"])),
                            key="cert_open_selected"):
        open_case(int(rows.iloc[picked[0]]["id"]))
if pager(key="cert_queue", total=page.total, page_size=size) != offset:
    st.rerun()
