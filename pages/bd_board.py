"""BD: the deal board. One card per match; stage moves, lost with a reason, notes, next action."""
from datetime import datetime, time

import streamlit as st

from console.services import deals
from console.ui import (enum_label, flash, labelled, require_actor, run_action, run_query,
                        show_flash, t)

actor = require_actor()
st.title(t("matching.board.title"))
show_flash()

scope, owner_id = "mine", None
if actor.has("manager"):
    c1, c2 = st.columns(2)
    scope = c1.radio(t("matching.board.scope"), ["mine", "team"], horizontal=True, key="b_scope",
                     index=0 if actor.has("bd") else 1,
                     format_func=lambda s: t(f"matching.board.scope_{s}"))
    if scope == "team":
        staff = run_query(deals.bd_staff, actor=actor)
        people = dict(zip(staff["id"], staff["display_name"])) if staff is not None else {}
        owner_id = c2.selectbox(t("matching.board.owner"), [None, *people], key="b_owner",
                                format_func=lambda i: t("common.all") if i is None else people[i])

data = run_query(deals.board, actor=actor, scope=scope, owner_id=owner_id)
if data is None:
    st.stop()
cards = data.cards


def forget_lost_card() -> None:
    st.session_state.pop("lost_card", None)


# The open dialog is remembered in session state so that it survives a full rerun.
@st.dialog(t("matching.board.lost_title"), on_dismiss=forget_lost_card)
def lost_dialog(card_id: int, version: int) -> None:
    reason = st.selectbox(t("matching.board.lost_reason"), list(deals.LOST_REASONS),
                          format_func=lambda r: t(f"matching.lost.{r}"), key="lost_reason")
    note = st.text_area(t("matching.board.lost_note"), key="lost_note")
    if st.button(t("common.confirm"), type="primary", key="lost_confirm"):
        if run_action(deals.move_stage, actor=actor, match_id=card_id, to_stage="lost",
                      version=version, lost_reason=reason, note=note):
            forget_lost_card()
            flash(t("matching.board.moved", stage=enum_label("match_stage", "lost")))
            st.rerun()


late = run_query(deals.unattended, actor=actor, scope=scope, owner_id=owner_id)
if late is not None and late.total:
    rows = late.rows
    with st.expander(t("matching.board.unattended", n=late.total), icon=":material/alarm:"):
        if late.total > len(rows):
            st.caption(t("matching.board.unattended_shown", shown=len(rows), n=late.total))
        st.dataframe(labelled(rows[["id", "series", "buyer", "seller", "stage", "owner",
                                    "next_action_at"]].assign(stage=rows["stage"].map(
                                        lambda s: enum_label("match_stage", s))), "matching.col"),
                     hide_index=True, width="stretch")


def card_body(card) -> None:
    rot = f" :red-badge[{t('matching.board.rotting')}]" if card.rotting else ""
    st.markdown(f"**#{card.id} {card.series}**{rot}")
    st.caption(f"{card.trim_name} · {card.exterior_color} × {card.quantity}")
    st.markdown(t("matching.board.parties", buyer=card.buyer, bcity=card.buyer_city,
                  seller=card.seller, scity=card.seller_city))
    st.markdown(t("matching.board.value", value=f"{card.deal_value:,.0f}",
                  days=f"{card.days_in_stage:.1f}"))
    if card.escrow_state != "none":
        st.markdown(t("matching.board.escrow", state=enum_label("escrow_state", card.escrow_state)))
    if card.next_action_at is not None and str(card.next_action_at) != "NaT":
        flag = " :orange-badge[!]" if card.overdue else ""
        st.caption(t("matching.board.next", at=f"{card.next_action_at:%m-%d %H:%M}") + flag)
    if scope == "team":
        st.caption(t("matching.board.owned_by", owner=card.owner))


columns = st.columns(len(deals.STAGES))
summary = data.columns.set_index("stage")
for col, stage in zip(columns, deals.STAGES):
    with col:
        st.markdown(f"#### {enum_label('match_stage', stage)}")
        st.caption(t("matching.board.column", n=int(summary.loc[stage, "count"]),
                     total=f"{summary.loc[stage, 'total']:,.0f}"))
        stage_cards = cards[cards["stage"] == stage]
        if len(stage_cards) < int(summary.loc[stage, "count"]):
            st.caption(t("matching.board.oldest_shown", shown=len(stage_cards)))
        for card in stage_cards.itertuples():
            with st.container(border=True):
                card_body(card)
                if stage in deals.NEXT_STAGE:
                    nxt = deals.NEXT_STAGE[stage]
                    b1, b2 = st.columns(2)
                    if b1.button(f"→ {enum_label('match_stage', nxt)}", key=f"mv_{card.id}"):
                        if run_action(deals.move_stage, actor=actor, match_id=int(card.id),
                                      to_stage=nxt, version=int(card.version)):
                            flash(t("matching.board.moved", stage=enum_label("match_stage", nxt)))
                            st.rerun()
                    if b2.button(t("matching.board.mark_lost"), key=f"lost_{card.id}"):
                        st.session_state["lost_card"] = (int(card.id), int(card.version))

if "lost_card" in st.session_state:
    lost_dialog(*st.session_state["lost_card"])

if cards.empty:
    st.info(t("matching.board.empty"))
    st.stop()

st.divider()
open_cards = cards[cards["stage"].isin(deals.OPEN_STAGES)]
all_labels = {int(c.id): f"#{c.id} {c.series} · {c.buyer} ← {c.seller}" for c in cards.itertuples()}
card_id = st.selectbox(t("matching.board.detail"), list(all_labels), format_func=all_labels.get,
                       key="b_detail")
card = cards.set_index("id").loc[card_id]
history = run_query(deals.timeline, actor=actor, match_id=card_id)
if history is not None and not history.empty:
    def stage_label(stage) -> str:  # NULL (a card's creation, a note) arrives as None or NaN
        return enum_label("match_stage", stage) if isinstance(stage, str) else ""

    shown = history.assign(
        from_stage=history["from_stage"].map(stage_label),
        to_stage=history["to_stage"].map(stage_label),
        kind=history["kind"].map(lambda k: t(f"matching.timeline.{k}")),
        text=history["text"].fillna(""))
    st.dataframe(labelled(shown, "matching.tl"), hide_index=True, width="stretch")
if card_id in set(open_cards["id"]):
    c1, c2 = st.columns(2)
    with c1.form("note"):
        body = st.text_area(t("matching.board.note"))
        if st.form_submit_button(t("matching.board.add_note")):
            if run_action(deals.add_note, actor=actor, match_id=card_id, body=body):
                flash(t("common.done"))
                st.rerun()
    with c2.form("next_action"):
        day = st.date_input(t("matching.board.next_day"), value=None)
        at = st.time_input(t("matching.board.next_time"), value=time(10, 0))
        if st.form_submit_button(t("matching.board.set_next")):
            when = datetime.combine(day, at) if day else None
            if run_action(deals.set_next_action, actor=actor, match_id=card_id,
                          next_action_at=when, version=int(card["version"])):
                flash(t("common.done"))
                st.rerun()
    if actor.has("manager"):
        with st.form("override"):
            st.caption(t("matching.board.override_help"))
            to = st.selectbox(t("matching.board.override_to"), [s for s in deals.STAGES
                                                                if s not in (card["stage"], "lost")],
                              format_func=lambda s: enum_label("match_stage", s))
            why = st.text_input(t("common.reason"))
            if st.form_submit_button(t("matching.board.override")):
                if run_action(deals.move_stage, actor=actor, match_id=card_id, to_stage=to,
                              version=int(card["version"]), override_reason=why):
                    flash(t("matching.board.moved", stage=enum_label("match_stage", to)))
                    st.rerun()
