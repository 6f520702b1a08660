"""The deal card's "arrange transport" (安排运输, issue 20): on a card at 已付定金 whose buyer and
seller are in different cities, a button opens the transport form prefilled from the deal
(console.logistics.requests.deal_transport); sending it asks the logistics desk to move the
car (create_from_deal). A deal with a live request shows a link to it instead. Called by
pages/bd_board.py inside the card's dialog."""
from __future__ import annotations

import streamlit as st

from console.logistics import requests as lr
from console.roles import Actor
from console.ui import flash, run_action, run_query, t
from console.ui.links import page_url


def _link(request_id: int) -> str:
    return f"[#{int(request_id)}]({page_url('transport', request=int(request_id))})"


def arrange_transport(*, actor: Actor, match_id: int) -> None:
    """The card's transport line: a link to its live request, or the button and the form."""
    deal = run_query(lr.deal_transport, actor=actor, match_id=match_id)
    if deal is None:
        return
    if deal.live_request_id is not None:
        st.markdown(t("lgx.offer.has_request", link=_link(deal.live_request_id)))
        return
    if deal.refusal is not None or not deal.may_work:
        return
    open_key = f"lgx_offer_open_{match_id}"
    if not st.session_state.get(open_key):
        slot = st.empty()
        if not slot.button(t("lgx.offer.button"), icon=":material/local_shipping:",
                           key=f"lgx_offer_{match_id}"):
            return
        slot.empty()                           # the form takes the button's place
        st.session_state[open_key] = True      # and stays open through its own reruns
    with st.form(f"lgx_offer_form_{match_id}"):
        st.markdown(f"**{t('lgx.offer.title')}**")
        st.caption(t("lgx.offer.lane", car=deal.car, n=deal.quantity, seller=deal.seller,
                     origin=deal.from_city, buyer=deal.merchant, destination=deal.to_city))
        c1, c2, c3 = st.columns(3)
        ready = c1.date_input(t("lgx.new.ready"), value=deal.ready_date,
                              key=f"lgx_offer_ready_{match_id}")
        wanted = c2.date_input(t("lgx.new.wanted"), value=deal.wanted_by,
                               key=f"lgx_offer_wanted_{match_id}")
        value = c3.text_input(t("lgx.new.value"), value=f"{deal.declared_value:.2f}",
                              max_chars=40, key=f"lgx_offer_value_{match_id}")
        note = st.text_input(t("lgx.new.note"), max_chars=500, key=f"lgx_offer_note_{match_id}")
        if st.form_submit_button(t("lgx.offer.submit"), type="primary"):
            done = run_action(lr.create_from_deal, actor=actor, match_id=match_id,
                              ready_date=ready, wanted_by=wanted, declared_value=value or "",
                              note=note)
            if done:
                st.session_state.pop(open_key, None)
                flash(t("lgx.offer.sent", id=done.value.request_id))
                st.rerun()
