"""BD: the lead pool (抢线索), my leads with their suggestions or offers, manager assignment."""
import streamlit as st

from console import fmt, match_policy
from console.finance import vip
from console.services import deals, leads, matching, notify
from console.ui import (enum_label, flash, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui.aged_stock import boost_editor, points_help
from console.ui.bd_credit import badge as credit_badge, buyers_credit
from console.ui.links import record_url, requested_choice, requested_id
from console.ui.pins import pin_card

PAGE_SIZE = 20


def vip_points_help() -> str:
    """The score's VIP part in words: each tier's match points (console/finance/vip_tiers.toml)
    and the policy's weight now (CONSOLE_MATCH_VIP_WEIGHT)."""
    sep = "、" if lang() == "zh" else ", "
    tiers = sep.join(f"{t(f'finance.vip.tier.{tier.code}')} {fmt.number(tier.match_points, digits=1)}"
                     for tier in vip.load_config().tiers)
    return t("matching.leads.points_help_vip", tiers=tiers,
             weight=fmt.number(match_policy.current().score.vip_weight, digits=1))


actor = require_actor()
st.title(t("matching.leads.title"))
show_flash()

status = run_query(leads.lead_status, actor=actor)
if status is None:
    st.stop()
returned = run_action(leads.return_idle_leads, actor=actor)   # idle leads go back on page load
held = run_query(notify.held_back_summary, actor=actor)
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("matching.leads.my_open"), f"{status['open']} / {status['cap']}")
c2.metric(t("matching.leads.idle_rule"), t("matching.leads.hours", n=status["idle_hours"]))
c3.metric(t("matching.notify.held"), held.held_today if held else 0,
          help=t("matching.notify.held_help"))
c4.metric(t("matching.notify.waiting"), held.waiting_quiet if held else 0,
          help=t("matching.notify.waiting_help"))
if returned and returned.value:
    st.caption(t("matching.leads.returned", n=returned.value))


def lead_line(row, key: str = "matching.leads.line") -> str:
    """A lead in one line: markdown for the pool (``matching.leads.line``), plain text for a
    picker (``leads.pick_label``: a selectbox shows markdown as typed)."""
    trim = row.trim_name if isinstance(row.trim_name, str) else t("matching.any_trim")
    deadline = (t("matching.leads.deadline", at=fmt.when(row.bid_deadline))
                if row.mode == "bidding" and not fmt.is_missing(row.bid_deadline) else "")
    return t(key, id=row.request_id, mode=enum_label("request_mode", row.mode),
             series=row.series, trim=trim, qty=row.quantity, max=fmt.number(row.max_price),
             city=row.city, buyer=row.buyer, needed=fmt.day(row.needed_by), deadline=deadline,
             n=row.suggestions if row.mode == "normal" else row.offers)


def card_made(message: str, card_id) -> None:
    """Keep a card just made at the top of its column, and link to it."""
    if card_id is not None:
        pin_card(card_id)
        message += " " + t("leads.card_link", id=int(card_id), url=record_url("card", card_id))
    flash(message)


def take(request_id: int) -> None:
    """A callback, so the click counts even if the lead left the page meanwhile (lost race)."""
    outcome = run_action(leads.take_lead, actor=actor, request_id=request_id)
    if outcome:
        card_made(t("matching.leads.taken", id=request_id), outcome.value)


def pager_beyond_count(shown: int) -> int:
    """The pool's pager when it holds more leads than its count goes to (leads.POOL_COUNT_CAP):
    the same buttons as ``pager``, "next" while this page is full, and a caption that says
    "more than 1,000" instead of a page count."""
    page = st.session_state.get("lead_pool__page", 1)
    cols = st.columns([1, 3, 1])
    if cols[0].button(t("common.prev"), key="lead_pool__prev", disabled=page <= 1):
        page -= 1
    if cols[2].button(t("common.next"), key="lead_pool__next", disabled=shown < PAGE_SIZE):
        page += 1
    st.session_state["lead_pool__page"] = page
    cols[1].caption(t("leads.pool_page_more", page=page, n=fmt.number(leads.POOL_COUNT_CAP)))
    return (page - 1) * PAGE_SIZE


# A link: /leads?request=N opens my lead N; /leads?view=mine|pool opens that tab.
mine = run_query(leads.my_leads, actor=actor)
view = requested_choice("leads", "view")
wanted = requested_id("request")
if wanted is not None and st.session_state.get("leads_linked") != wanted:
    st.session_state["leads_linked"] = wanted
    if mine is not None and wanted in set(mine["request_id"]):
        st.session_state["my_lead"] = wanted
        view = "mine"
    else:
        st.info(t("leads.link_not_mine", id=wanted))
names = [t("matching.leads.pool"), t("matching.leads.mine")]
tabs = st.tabs(names + ([t("matching.leads.assign")] if actor.has("manager") else []),
               default=names[1] if view == "mine" else names[0])

with tabs[0]:
    mode = st.radio(t("matching.leads.mode"), [None, "normal", "bidding"], horizontal=True,
                    key="lead_mode", format_func=lambda m: t("common.all") if m is None
                    else enum_label("request_mode", m))
    offset = st.session_state.get("lead_pool__offset", 0)
    found = run_query(leads.pool, actor=actor, mode=mode, offset=offset, limit=PAGE_SIZE)
    stale = run_query(leads.stale_leads, actor=actor, mode=mode)
    if stale and stale > leads.POOL_COUNT_CAP:     # the count stops there (see leads.py)
        st.caption(t("leads.stale_hidden_more", n=fmt.number(leads.POOL_COUNT_CAP)))
    elif stale:
        st.caption(t("leads.stale_hidden", n=fmt.number(stale)))
    if found is not None:
        page, total = found
        if page.empty:
            st.info(t("matching.leads.pool_empty"))
        credits = buyers_credit(actor, page["buyer_id"])    # the page's buyers: one query
        for row in page.itertuples():
            with st.container(border=True):
                left, right = st.columns([6, 1])
                left.markdown("  \n".join(x for x in (
                    lead_line(row), credit_badge(credits.get(int(row.buyer_id)))) if x))
                right.button(t("matching.leads.take"), key=f"take_{row.request_id}", type="primary",
                             on_click=take, args=(int(row.request_id),))
        new_offset = (pager(key="lead_pool", total=total, page_size=PAGE_SIZE)
                      if total <= leads.POOL_COUNT_CAP else pager_beyond_count(len(page)))
        if new_offset != offset:
            st.session_state["lead_pool__offset"] = new_offset
            st.rerun()

with tabs[1]:
    if mine is not None and mine.empty:
        st.info(t("matching.leads.none_mine"))
    elif mine is not None:
        lines = {int(r.request_id): lead_line(r, "leads.pick_label") for r in mine.itertuples()}
        request_id = st.selectbox(t("matching.leads.pick"), list(lines), format_func=lines.get,
                                  key="my_lead")
        lead = mine.set_index("request_id").loc[request_id]
        st.caption(t("matching.leads.touched", at=fmt.when(lead["last_touched_at"]),
                     owner=lead["owner"]))
        # The buyer who would draw an order loan on any of its suggestions or offers (issue 19).
        buyer_badge = credit_badge(buyers_credit(actor, [lead["buyer_id"]]).get(
            int(lead["buyer_id"])))
        if buyer_badge:
            st.markdown(f"{t('bd_credit.buyer')}: {buyer_badge}")
        if lead["mode"] == "bidding":
            offers = run_query(matching.bid_offers, actor=actor, request_id=request_id)
            if offers is not None:
                st.subheader(t("matching.leads.offers"))
                st.dataframe(labelled(offers, "matching.col"), hide_index=True, width="stretch")
        sugg = run_query(matching.suggestions_for_request, actor=actor, request_id=request_id)
        if sugg is not None and not sugg.empty:
            st.subheader(t("matching.leads.suggestions"))
            st.caption(t("matching.leads.points_help") + " " + vip_points_help())
            st.caption(points_help(actor))    # the aged-stock part (issue 21)
            sugg.insert(1, "reason", [matching.reason_text(c, lang=lang()) for c in sugg.pop("why")])
            st.dataframe(labelled(sugg, "matching.col"), hide_index=True, width="stretch")
            choice = st.selectbox(t("matching.leads.work_which"), list(sugg["listing_id"]),
                                  key="work_listing",
                                  format_func=lambda i: t("matching.leads.listing_label", id=i))
            if st.button(t("matching.leads.work"), key="work_btn"):
                made = run_action(deals.create_match, actor=actor, request_id=request_id,
                                  listing_id=int(choice))
                if made:
                    card_made(t("matching.search.created"), made.value)
                    st.rerun()
        with st.form("release"):
            reason = st.text_input(t("common.reason"))
            if st.form_submit_button(t("matching.leads.release")):
                if run_action(leads.release_lead, actor=actor, request_id=request_id, reason=reason):
                    flash(t("common.done"))
                    st.rerun()

if actor.has("manager"):
    boost_editor(actor)     # the match policy's aged-stock boost (issue 21)
    with tabs[2]:
        staff = run_query(deals.bd_staff, actor=actor)
        if staff is not None and staff.empty:
            st.info(t("matching.leads.no_bd"))
        elif staff is not None:
            people = dict(zip(staff["id"], staff["display_name"]))
            with st.form("assign"):
                # No min_value: the service refuses a bad id in the person's language.
                rid = st.number_input(t("matching.leads.request_id"), value=None, step=1,
                                      key="assign_rid")
                to = st.selectbox(t("matching.leads.assignee"), list(people), format_func=people.get)
                reason = st.text_input(t("common.reason"))
                if st.form_submit_button(t("matching.leads.assign"), type="primary"):
                    if rid is None:
                        st.error(t("input.id"))
                    elif run_action(leads.assign_lead, actor=actor, request_id=int(rid),
                                    to_staff_id=int(to), reason=reason):
                        flash(t("common.done"))
                        st.rerun()
            team = run_query(leads.my_leads, actor=actor, scope="team")
            if team is not None and not team.empty:
                st.dataframe(labelled(team[["request_id", "series", "buyer", "owner", "claimed_at",
                                            "last_touched_at"]], "matching.col"),
                             hide_index=True, width="stretch")
