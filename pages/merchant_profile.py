"""Merchant profile (客户管理): everything on one merchant, and the staff actions on it."""
from datetime import timedelta

import streamlit as st

from console import clock
from console.finance import vip
from console.ui import lang as ui_lang
from console.services import merchants
from console.services.credit import ON_HOLD, shown_terms
from console.ui import (enum_label, flash, labelled, require_actor, run_action, run_query,
                        show_flash, t)
from console.ui.credit_line import section as credit_line_section
from console.ui.links import keep_in_url, requested_id

actor = require_actor()
st.title(t("profile.title"))
show_flash()

# My follow-ups due within a week: also the page's role check before anything is shown.
due = run_query(merchants.follow_ups_due, actor=actor, within_days=7)
if due is None:
    st.stop()

# The merchant comes from a link (/merchant?id=12, console/ui/links.py: the directory, a
# case, a card) or is typed here; the URL then names the merchant shown, so it can be copied.
from_url = requested_id("merchant")
if from_url is not None and from_url != st.session_state.get("profile_merchant_id"):
    st.session_state["profile_merchant_pick"] = from_url
default_id = from_url or st.session_state.get("profile_merchant_id")
merchant_id = st.number_input(t("profile.merchant_id"), min_value=1, step=1, key="profile_merchant_pick",
                              value=default_id, placeholder=t("profile.pick_hint"))
keep_in_url("merchant", int(merchant_id) if merchant_id else None)
if not merchant_id:
    st.info(t("profile.pick_hint"))
    st.subheader(t("profile.follow_ups"))
    if due.empty:
        st.caption(t("common.none"))
    else:
        shown = due.assign(kind=due["kind"].map(lambda v: enum_label("contact_kind", v)))
        st.dataframe(labelled(shown, "profile.due"), hide_index=True, width="stretch")
    st.stop()
merchant_id = int(merchant_id)
st.session_state["profile_merchant_id"] = merchant_id

profile = run_query(merchants.merchant_profile, actor=actor, merchant_id=merchant_id)
if profile is None:
    st.stop()
me = profile.identity


def table(df, prefix: str, enums: dict[str, str] | None = None) -> None:
    """A section's rows with enum codes shown as labels, or 'nothing here'."""
    if df.empty:
        st.caption(t("common.none"))
        return
    shown = df.copy()
    for column, group in (enums or {}).items():
        shown[column] = shown[column].map(lambda v, g=group: enum_label(g, v) if v else v)
    st.dataframe(labelled(shown, prefix), hide_index=True, width="stretch")


# ---------------------------------------------------------------- header
st.header(me["name"])
if me["status"] != "active":
    st.warning(t("profile.not_active", status=enum_label("merchant_status", me["status"])))
c = st.columns(4)
c[0].metric(t("directory.col.merchant_type"), enum_label("merchant_type", me["merchant_type"]))
c[1].metric(t("directory.col.city"), f"{me['city']} · {enum_label('tier', me['tier_level'])}")
c[2].metric(t("directory.col.cert_level"), enum_label("cert_level", me["cert_level"]))
c[3].metric(t("directory.col.bd_owner"), me["bd_owner"] or t("directory.no_owner"))
st.caption(t("profile.identity_line", phone=me["phone"], contact=me["contact_name"] or "—",
             channel=enum_label("channel", me["channel"]), registered=me["registered_at"],
             active=me["last_active_at"] or "—"))
# VIP membership (issue 19): the term in force, or why not (console/finance/vip.py). The one
# VIP on this page: the marketplace's old app.merchants.vip_level number is not shown beside
# it. A suspended or closed merchant's benefits do not apply (issue 14), whatever it holds.
membership = run_query(vip.merchant_vip, actor=actor, merchant_id=merchant_id)
if membership is not None:
    status = vip.status_line(membership, lang=ui_lang())
    if me["status"] in ON_HOLD:
        status = t("finance.vip.profile.on_hold", status=t(f"standing.{me['status']}"),
                   line=status)
    st.caption(":material/workspace_premium: " + t("finance.vip.profile.line", status=status))

tabs = st.tabs([t(f"profile.tab.{k}") for k in (
    "certs", "credit", "listings", "requests", "deals", "reviews", "disputes", "notifications",
    "contacts", "history")])
with tabs[0]:
    table(profile.certifications, "profile.cert", {"kind": "cert_kind", "status": "cert_status"})
with tabs[1]:
    credit = profile.credit
    if not credit.visible:
        st.caption(t("profile.credit.not_for_role"))
    elif not credit.rated:
        st.info(t("profile.credit.not_rated"))
    else:
        # A suspended merchant's grade and limit do not hold (credit.shown_terms).
        terms = shown_terms(merchant_status=credit.on_hold or me["status"], grade=credit.grade,
                            loan_limit=credit.details.get("loan_limit"),
                            vip_eligible=credit.details.get("vip_eligible"))
        word = t(f"standing.{terms.on_hold}") if terms.held else None
        if terms.held:
            st.error(t("standing.card_banner", status=word), icon=":material/block:")
        c = st.columns(3)
        c[0].metric(t("profile.credit.grade"), word or terms.grade,
                    help=t("standing.scored_grade", grade=credit.held_grade) if terms.held else None)
        c[1].metric(t("profile.credit.score"), credit.score)
        c[2].metric(t("profile.credit.loan_limit"),
                    word or f"{terms.loan_limit or 0:,.0f}")
        if credit.details.get("is_override") and not terms.held:
            st.warning(t("profile.credit.override", grade=credit.details.get("grade"),
                         until=credit.details.get("override_expires_at")))
        if credit.details.get("insufficient_history"):
            st.caption(t("profile.credit.insufficient"))
        if credit.reasons:
            st.markdown(t("profile.credit.reasons") + "\n\n" + "\n".join(
                f"- {t(f'credit.factor.{r}')}" for r in credit.reasons))
    if credit.visible:   # the line, used and available (issue 19)
        credit_line_section(actor=actor, merchant_id=merchant_id)
with tabs[2]:
    st.subheader(t("profile.live"))
    table(profile.listings_live, "profile.listing", {"status": "listing_status"})
    st.subheader(t("profile.past"))
    table(profile.listings_past, "profile.listing", {"status": "listing_status"})
with tabs[3]:
    st.subheader(t("profile.live"))
    table(profile.requests_live, "profile.request", {"mode": "request_mode", "status": "request_status"})
    st.subheader(t("profile.past"))
    table(profile.requests_past, "profile.request", {"mode": "request_mode", "status": "request_status"})
with tabs[4]:
    st.subheader(t("profile.matches"))
    table(profile.matches, "profile.match", {"side": "deal_side", "stage": "match_stage"})
    st.subheader(t("profile.deals"))
    table(profile.deals, "profile.deal", {"side": "deal_side", "status": "order_status",
                                          "escrow_state": "escrow_state"})
with tabs[5]:
    st.subheader(t("profile.reviews_received"))
    table(profile.reviews_received, "profile.review")
    st.subheader(t("profile.reviews_given"))
    table(profile.reviews_given, "profile.review")
with tabs[6]:
    table(profile.disputes, "profile.dispute", {"side": "dispute_side", "reason": "dispute_reason"})
with tabs[7]:
    table(profile.notifications, "profile.notification")
with tabs[8]:
    table(profile.contact_log, "profile.contact", {"kind": "contact_kind"})
with tabs[9]:
    table(profile.staff_history, "audit")

# ---------------------------------------------------------------- actions
if actor.has(*merchants.CONTACT_ROLES):
    with st.expander(t("profile.contact.add"), icon=":material/call:"):
        with st.form("contact_log", clear_on_submit=True):
            kind = st.radio(t("profile.contact.kind"), merchants.CONTACT_KINDS, horizontal=True,
                            format_func=lambda v: enum_label("contact_kind", v))
            body = st.text_area(t("profile.contact.body"), max_chars=merchants.CONTACT_BODY_MAX)
            follow = st.date_input(t("profile.contact.next"), value=clock.today() + timedelta(days=7))
            if st.form_submit_button(t("common.save"), type="primary"):
                if run_action(merchants.add_contact, actor=actor, merchant_id=merchant_id,
                              kind=kind, body=body, next_follow_up=follow):
                    flash(t("profile.contact.saved"))
                    st.rerun()

if actor.has(*merchants.OWNER_CHANGE_ROLES):
    owners = run_query(merchants.list_bd_staff, actor=actor)
    if owners is not None:
        names = dict(zip(owners["id"].astype(int), owners["display_name"]))
        with st.expander(t("profile.owner.change"), icon=":material/swap_horiz:"):
            with st.form("change_owner"):
                new_owner = st.selectbox(t("profile.owner.new"), [None, *names],
                                         format_func=lambda v: t("directory.no_owner") if v is None else names[v])
                reason = st.text_input(t("common.reason"))
                if st.form_submit_button(t("profile.owner.change"), type="primary"):
                    if run_action(merchants.change_owner, actor=actor, merchant_id=merchant_id,
                                  new_owner_id=new_owner, reason=reason,
                                  expected_version=me["version"]):
                        flash(t("profile.owner.changed"))
                        st.rerun()

if actor.has(*merchants.STATUS_ROLES) and me["status"] in ("active", "suspended"):
    suspending = me["status"] == "active"
    label = t("profile.status.suspend" if suspending else "profile.status.reinstate")
    codes = merchants.SUSPEND_REASONS if suspending else merchants.REINSTATE_REASONS
    with st.expander(label, icon=":material/block:" if suspending else ":material/check_circle:"):
        if suspending:
            st.caption(t("profile.status.suspend_help"))
        with st.form("merchant_status"):
            code = st.selectbox(t("common.reason"), codes,
                                format_func=lambda v: t(f"directory.reason.{v}"))
            note = st.text_input(t("profile.status.note"))
            if st.form_submit_button(label, type="primary"):
                fn = merchants.suspend_merchant if suspending else merchants.reinstate_merchant
                if run_action(fn, actor=actor, merchant_id=merchant_id, reason_code=code,
                              note=note, expected_version=me["version"]):
                    flash(t("common.done"))
                    st.rerun()
