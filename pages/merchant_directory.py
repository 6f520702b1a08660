"""Merchant directory (车商名录): filter, page through on the server, export, open a profile."""
import streamlit as st

from console import fmt
from console.grades import GRADES
from console.masking import can_see_phone
from console.services import merchants
from console.services.credit import ON_HOLD
from console.services.merchants import DirectoryFilters
from console.settings import get_settings
from console.ui import enum_label, labelled, pager, require_actor, run_action, run_query, show_flash, t
from console.ui.replica import replica_badge
from console.ui.links import requested_choice

actor = require_actor()
st.title(t("directory.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
show_flash()

cities = run_query(merchants.list_cities, actor=actor)
owners = run_query(merchants.list_bd_staff, actor=actor)
if cities is None or owners is None:
    st.stop()

ANY = None
NO_OWNER = -1
city_names = dict(zip(cities["id"].astype(int), cities["name"]))
owner_names = dict(zip(owners["id"].astype(int), owners["display_name"]))


def _opt(options):
    return [ANY, *options]


with st.form("directory_filter_form"):
    c1, c2, c3, c4 = st.columns(4)
    name = c1.text_input(t("directory.f.name"))
    if can_see_phone(actor):
        phone = c2.text_input(t("directory.f.phone"), help=t("directory.f.phone_help"))
    else:
        phone = ""
        c2.caption(t("directory.f.phone_hidden"))
    uscc = c3.text_input(t("directory.f.uscc"))
    city_id = c4.selectbox(t("directory.f.city"), _opt(city_names),
                           format_func=lambda v: t("common.all") if v is None else city_names[v])
    c1, c2, c3, c4 = st.columns(4)
    tier = c1.selectbox(t("directory.f.tier"), _opt(range(1, 7)),
                        format_func=lambda v: t("common.all") if v is None else enum_label("tier", v))
    mtype = c2.selectbox(t("directory.f.type"), _opt(merchants.MERCHANT_TYPES),
                         format_func=lambda v: t("common.all") if v is None else enum_label("merchant_type", v))
    status = c3.selectbox(t("directory.f.status"), _opt(merchants.MERCHANT_STATUSES),
                          format_func=lambda v: t("common.all") if v is None else enum_label("merchant_status", v))
    cert_level = c4.selectbox(t("directory.f.cert_level"), _opt(merchants.CERT_LEVELS),
                              format_func=lambda v: t("common.all") if v is None else enum_label("cert_level", v))
    c1, c2, c3, c4 = st.columns(4)
    cert_status = c1.selectbox(
        t("directory.f.cert_status"), _opt(merchants.CERT_STATUSES),
        format_func=lambda v: t("common.all") if v is None else (
            t("directory.cert_status.none") if v == "none" else enum_label("cert_status", v)))
    grade = None
    if actor.has(*merchants.CREDIT_READERS):
        grade = c2.selectbox(
            t("directory.f.credit_grade"), _opt((*GRADES, merchants.UNRATED)),
            format_func=lambda v: t("common.all") if v is None else (
                t("directory.unrated") if v == merchants.UNRATED else v))
    owner = c3.selectbox(
        t("directory.f.bd_owner"), _opt([NO_OWNER, *owner_names]),
        format_func=lambda v: t("common.all") if v is None else (
            t("directory.no_owner") if v == NO_OWNER else owner_names[v]))
    # No min/max: Streamlit would refuse out-of-range input in English; the service's
    # boundary refuses it in the reader's language (input.days).
    active_days = c4.number_input(t("directory.f.active_days"), value=0, step=7,
                                  help=t("directory.f.active_days_help"))
    sort = st.radio(t("directory.sort"), list(merchants.SORTS), horizontal=True,
                    format_func=lambda v: t(f"directory.sort.{v}"))
    if st.form_submit_button(t("common.search"), type="primary"):
        st.session_state["directory_filters"] = DirectoryFilters(
            name=name, phone=phone, uscc=uscc, city_id=city_id, tier_level=tier,
            merchant_type=mtype, status=status, cert_level=cert_level, cert_status=cert_status,
            credit_grade=grade, bd_owner_id=owner if owner not in (None, NO_OWNER) else None,
            no_bd_owner=owner == NO_OWNER, active_within_days=active_days or None)
        st.session_state["directory_sort"] = sort
        st.session_state["directory__page"] = 1
        st.session_state.pop("directory_export", None)

# A home tile opens the list filtered to my merchants (/merchants?owner=me, console/ui/links.py):
# applied once, then the form's own filters take over.
if requested_choice("merchants", "owner") == "me":
    st.session_state["directory_filters"] = DirectoryFilters(bd_owner_id=actor.id)
    st.session_state["directory__page"] = 1
    del st.query_params["owner"]
filters = st.session_state.get("directory_filters", DirectoryFilters())
sort = st.session_state.get("directory_sort", "last_active")
page_size = get_settings().page_size

total = run_query(merchants.count_directory, actor=actor, filters=filters)
if total is None:
    st.stop()
offset = pager(key="directory", total=total, page_size=page_size)
page = run_query(merchants.search_directory, actor=actor, filters=filters, offset=offset,
                 limit=page_size, sort=sort)
if page is None:
    st.stop()
if page.rows.empty:
    st.info(t("common.none"))
else:
    rows = page.rows.assign(
        merchant_type=page.rows["merchant_type"].map(lambda v: enum_label("merchant_type", v)),
        status=page.rows["status"].map(lambda v: enum_label("merchant_status", v)),
        cert_level=page.rows["cert_level"].map(lambda v: enum_label("cert_level", v)),
        cert_status=page.rows["cert_status"].map(
            lambda v: t("directory.cert_status.none") if v == "none" else enum_label("cert_status", v)),
        tier_level=page.rows["tier_level"].map(lambda v: enum_label("tier", v)),
        # A suspended merchant's grade does not hold: the service leaves it out and says
        # why (on_hold); its status shows instead (credit.shown_terms).
        credit_grade=page.rows["credit_grade"].fillna(
            t("directory.unrated") if actor.has(*merchants.CREDIT_READERS) else "—").where(
            page.rows["on_hold"].isna(), page.rows["on_hold"].map(
                lambda s: t(f"standing.{s}") if s in ON_HOLD else None)),
        # the membership in force (金卡…), as on the profile; text, so a tier and "suspended"
        # share a column
        vip_tier=page.rows["vip_tier"].map(
            lambda v: fmt.MISSING if fmt.is_missing(v) else t(f"finance.vip.tier.{v}")).where(
            page.rows["on_hold"].isna(),
            page.rows["on_hold"].map(lambda s: t(f"standing.{s}") if s in ON_HOLD else None)),
    ).drop(columns=["size_class", "on_hold"])
    event = st.dataframe(labelled(rows, "directory.col"), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="directory_table")
    st.caption(t("directory.pick_hint"))
    chosen = event.selection.rows if event is not None else []
    if chosen:
        merchant_id = int(page.rows["id"].iloc[chosen[0]])
        st.session_state["profile_merchant_id"] = merchant_id
        st.switch_page("pages/merchant_profile.py", query_params={"id": str(merchant_id)})

# Export: prepared on request (it is audited), then offered for download.
if st.button(t("directory.export_prepare"), icon=":material/download:"):
    out = run_action(merchants.export_directory, actor=actor, filters=filters, sort=sort)
    if out:
        st.session_state["directory_export"] = out.value
if st.session_state.get("directory_export"):
    st.download_button(t("common.export_csv"), st.session_state["directory_export"],
                       file_name="merchants.csv", mime="text/csv", type="primary")
