"""BD: the deal board. Search and filters, one column per stage (paged), a card moved or
created stays pinned at the top of its new column, and a card opens in a dialog with its
timeline, notes, next action, contact log and deposit state.

The columns are one fragment: a move from a card re-renders the board only, not the page.
"""
from datetime import datetime, time

import streamlit as st

from console import clock, fmt
from console.services import deals, stock
from console.ui import enum_label, flash, keep_choices, lang, labelled, require_actor, run_action, \
    run_query, show_flash, t
from console.ui.bd_credit import badge as credit_badge, buyers_credit
from console.ui.lgx_offer import arrange_transport
from console.ui.links import keep_in_url, record_url, requested_choice, requested_id
from console.ui.pins import pin_card, pinned_cards, unpin_all

OPEN_KEY = "board_open_card"        # the card whose dialog is open
actor = require_actor()
st.title(t("matching.board.title"))
show_flash()

# ------------------------------------------------------------------ scope and filters
def url_says(name: str, value: str | None) -> None:
    """The address bar follows the scope and overdue switches (a link names what it shows),
    so a home tile's or the task list's link (?scope=mine, ?due=overdue) applies each time
    it is followed, and a switch back is not undone by the link still in the URL."""
    if value is None:
        st.query_params.pop(name, None)
    else:
        st.query_params[name] = value


keep_choices("b_scope", "b_owner", "b_brand", "b_sort", page="board")   # through a language switch
# A link's filters win over what the switches held before it was followed.
if requested_choice("board", "scope") == "mine":
    st.session_state["b_scope"] = "mine"
if requested_choice("board", "due") == "overdue":
    st.session_state["b_overdue"] = True      # a home tile's link: my overdue cards
scope, owner_id = "mine", None
if actor.has("manager"):
    c1, c2 = st.columns(2)
    st.session_state.setdefault("b_scope", "mine" if actor.has("bd") else "team")
    scope = c1.radio(t("matching.board.scope"), ["mine", "team"], horizontal=True, key="b_scope",
                     format_func=lambda s: t(f"matching.board.scope_{s}"),
                     on_change=lambda: url_says(
                         "scope", "mine" if st.session_state["b_scope"] == "mine" else None))
    if scope == "team":
        staff = run_query(deals.bd_staff, actor=actor)
        people = dict(zip(staff["id"], staff["display_name"])) if staff is not None else {}
        owner_id = c2.selectbox(t("matching.board.owner"), [None, *people], key="b_owner",
                                format_func=lambda i: t("common.all") if i is None else people[i])

brands = run_query(deals.board_brands, actor=actor, scope=scope, owner_id=owner_id)
brand_names = dict(zip(brands["id"], brands["name"])) if brands is not None else {}
unit = fmt.wan_unit(lang())
c1, c2, c3, c4, c5 = st.columns([2.4, 1.8, 1.4, 1.4, 2])
query = c1.text_input(t("board.f.query"), key="b_query", max_chars=100,
                      placeholder=t("board.f.query_hint"))
brand_id = c2.selectbox(t("board.f.brand"), [0, *brand_names], key="b_brand",   # 0: every brand
                        format_func=lambda i: brand_names.get(i, t("common.all"))) or None
# No min/max on the inputs: the service refuses a bad value in the person's language
# (Streamlit's own range message is English).
vmin = c3.number_input(t("board.f.value_min", unit=unit), value=None, step=10.0, format="%.0f",
                       key="b_vmin")
vmax = c4.number_input(t("board.f.value_max", unit=unit), value=None, step=10.0, format="%.0f",
                       key="b_vmax")
sort = c5.selectbox(t("board.f.sort"), list(deals.SORTS), key="b_sort",
                    format_func=lambda s: t(f"board.sort.{s}"))
c1, c2, c3, _ = st.columns([1.6, 1.6, 1.6, 3])
rotting = c1.toggle(t("board.f.rotting"), key="b_rotting")
overdue = c2.toggle(t("board.f.overdue"), key="b_overdue", on_change=lambda: url_says(
    "due", "overdue" if st.session_state["b_overdue"] else None))
if pinned_cards() and c3.button(t("board.unpin"), key="b_unpin", icon=":material/push_pin:"):
    unpin_all()
if any(v is not None and v < 0 for v in (vmin, vmax)):
    st.error(t("board.error.bad_value"))
    vmin = vmax = None
elif vmin is not None and vmax is not None and vmin > vmax:
    st.error(t("board.error.value_range"))
    vmin = vmax = None
filters = deals.BoardFilters(
    query=query or "", brand_id=brand_id, rotting=rotting, overdue=overdue, sort=sort,
    value_min=vmin * 10_000 if vmin is not None else None,
    value_max=vmax * 10_000 if vmax is not None else None)


# ------------------------------------------------------------------ the card dialog
def close_card() -> None:
    st.session_state.pop(OPEN_KEY, None)
    st.session_state.pop("board_linked", None)
    keep_in_url("card", None)


def open_card(card_id: int) -> None:
    st.session_state[OPEN_KEY] = int(card_id)
    st.session_state["board_open_now"] = True


def stage_label(stage) -> str:   # NULL (a card's creation, a note) arrives as None or NaN
    return enum_label("match_stage", stage) if isinstance(stage, str) else ""


def timeline_text(row) -> str:
    if row.kind == "contact":
        return t("board.contact_line", channel=t(f"board.channel.{row.channel}"),
                 direction=t(f"board.direction.{row.direction}"),
                 party=t(f"board.party.{row.party}"), summary=row.text)
    if row.kind == "stage" and isinstance(row.to_stage, str):
        moved = (f"{stage_label(row.from_stage)} → {stage_label(row.to_stage)}"
                 if isinstance(row.from_stage, str) else t("board.created_in",
                                                            stage=stage_label(row.to_stage)))
        return moved + (f" · {row.text}" if isinstance(row.text, str) and row.text else "")
    return row.text if isinstance(row.text, str) else ""


@st.dialog(t("board.card_title"), width="large", on_dismiss=close_card)
def card_dialog(card_id: int) -> None:
    detail = run_query(deals.card_detail, actor=actor, match_id=card_id)
    if detail is None:
        return
    keep_in_url("card", card_id)
    card = detail.card
    st.markdown(f"### #{card['id']} {card['series']}"
                + (f" :violet-badge[{t('selfop.badge')}]" if card["is_self_operated"] else ""))
    st.caption(f"{card['trim_name']} · {card['exterior_color']} × {card['quantity']} · "
               + t("board.link", url=record_url("card", card_id)))
    c1, c2, c3 = st.columns(3)
    c1.metric(t("board.stage"), enum_label("match_stage", card["stage"]))
    c1.caption(t("board.days_in_stage", days=fmt.number(card["days_in_stage"], digits=1)))
    c2.metric(t("board.deal_value", unit=unit), fmt.wan_number(card["deal_value"]))
    c3.metric(t("board.owner"), card["owner"] or "—")
    st.markdown(t("matching.board.parties", buyer=card["buyer"], bcity=card["buyer_city"],
                  seller=card["seller"], scity=card["seller_city"]))
    buyer_badge = credit_badge(buyers_credit(actor, [card["buyer_id"]]).get(card["buyer_id"]))
    if buyer_badge:      # issue 19: what the buyer could draw for this deal
        st.markdown(f"{t('bd_credit.buyer')}: {buyer_badge}")
    if card["next_action_at"] is not None:
        st.markdown(t("board.next_line", at=fmt.when(card["next_action_at"]),
                      what=card["next_action_note"] or "—"))

    deposit = detail.deposit
    with st.container(border=True):
        st.markdown(f"**{t('board.deposit')}**")
        if deposit is None:
            st.caption(t("board.no_order"))
        else:
            d1, d2, d3, d4 = st.columns(4)
            d1.metric(t("board.order_status"), enum_label("order_status", deposit["status"]))
            d2.metric(t("board.escrow"), enum_label("escrow_state", deposit["escrow_state"]))
            d3.metric(t("board.deposit_amount"), fmt.yuan(deposit["deposit_amount"]))
            d4.metric(t("board.deposit_paid_at"), fmt.when(deposit["deposit_paid_at"]))
    if card["stage"] == "deposit_paid" and card["buyer_city"] != card["seller_city"]:
        arrange_transport(actor=actor, match_id=card_id)     # issue 20: to the logistics desk

    tab_act, tab_log, tab_tl = st.tabs([t("board.tab.work"), t("board.tab.contacts"),
                                        t("board.tab.timeline")])
    with tab_act:
        if not detail.may_work:
            st.info(t("board.not_yours", owner=card["owner"] or "—"))
        elif card["stage"] in ("won", "lost"):
            st.caption(t("board.closed"))
        else:
            moves = [s for s in deals.STAGES if s in deals.ALLOWED_MOVES[card["stage"]]]
            with st.form(f"move_{card_id}"):
                to = st.selectbox(t("board.move_to"), moves, key="d_move_to",
                                  index=moves.index(deals.NEXT_STAGE[card["stage"]]),
                                  format_func=lambda s: enum_label("match_stage", s))
                why = st.selectbox(t("matching.board.lost_reason"), list(deals.LOST_REASONS),
                                   key="d_lost_reason", index=None,   # no reason preselected
                                   format_func=lambda r: t(f"matching.lost.{r}"),
                                   help=t("board.lost_reason_help"))
                note = st.text_area(t("board.move_note"), key="d_move_note", height=68)
                if st.form_submit_button(t("board.move"), type="primary", key="d_move_submit"):
                    if run_action(deals.move_stage, actor=actor, match_id=card_id, to_stage=to,
                                  version=int(card["version"]), note=note,
                                  lost_reason=why if to == "lost" else None):
                        pin_card(card_id)
                        flash(t("matching.board.moved", stage=enum_label("match_stage", to)))
                        close_card()
                        st.rerun()
            with st.form(f"next_{card_id}"):
                n1, n2 = st.columns(2)
                current = card["next_action_at"]
                local = current.astimezone(clock.business_tz()) if current is not None else None
                day = n1.date_input(t("matching.board.next_day"), key="d_next_day",
                                    value=local.date() if local else None)
                at = n2.time_input(t("matching.board.next_time"), key="d_next_time",
                                   value=local.time().replace(second=0, microsecond=0)
                                   if local else time(10, 0))
                what = st.text_input(t("board.next_what"), key="d_next_what", max_chars=500,
                                     value=card["next_action_note"] or "")
                if st.form_submit_button(t("matching.board.set_next"), key="d_next_submit"):
                    when = datetime.combine(day, at, tzinfo=clock.business_tz()) if day else None
                    if run_action(deals.set_next_action, actor=actor, match_id=card_id,
                                  next_action_at=when, version=int(card["version"]),
                                  next_action_note=what):
                        flash(t("common.done"))
                        st.rerun()
            with st.form(f"note_{card_id}", clear_on_submit=True):
                body = st.text_area(t("matching.board.note"), key="d_note", height=68)
                if st.form_submit_button(t("matching.board.add_note"), key="d_note_submit"):
                    if run_action(deals.add_note, actor=actor, match_id=card_id, body=body):
                        flash(t("common.done"))
                        st.rerun()
            with st.form(f"stock_{card_id}", clear_on_submit=True):   # issue 16: freshness
                last = run_query(stock.last_confirmation, actor=actor, match_id=card_id)
                if last is not None:
                    st.caption(t("stock.confirm.last", at=fmt.when(last["stock_confirmed_at"]))
                               if last["stock_confirmed_at"] is not None
                               else t("stock.confirm.never", at=fmt.when(last["published_at"])))
                stock_note = st.text_input(t("stock.confirm.note"), key="d_stock_note",
                                           help=t("stock.confirm.help"))
                if st.form_submit_button(t("stock.confirm.submit"), key="d_stock_submit"):
                    done = run_action(stock.record_stock_confirmation, actor=actor,
                                      match_id=card_id, note=stock_note)
                    if done:
                        flash(t("stock.confirm.done", id=done.value.listing_id))
                        st.rerun()
            if actor.has("manager"):
                with st.form(f"override_{card_id}"):
                    st.caption(t("matching.board.override_help"))
                    target = st.selectbox(t("matching.board.override_to"),
                                          [s for s in deals.STAGES
                                           if s not in (card["stage"], "lost")],
                                          format_func=lambda s: enum_label("match_stage", s))
                    reason = st.text_input(t("common.reason"))
                    if st.form_submit_button(t("matching.board.override"), key="d_override_submit"):
                        if run_action(deals.move_stage, actor=actor, match_id=card_id,
                                      to_stage=target, version=int(card["version"]),
                                      override_reason=reason):
                            pin_card(card_id)
                            flash(t("matching.board.moved",
                                    stage=enum_label("match_stage", target)))
                            close_card()
                            st.rerun()
    with tab_log:
        if detail.may_work:
            with st.form(f"contact_{card_id}", clear_on_submit=True):
                k1, k2, k3 = st.columns(3)
                channel = k1.radio(t("board.channel"), list(deals.CHANNELS), key="d_channel",
                                   format_func=lambda c: t(f"board.channel.{c}"))
                direction = k2.radio(t("board.direction"), list(deals.DIRECTIONS),
                                     key="d_direction",
                                     format_func=lambda c: t(f"board.direction.{c}"))
                party = k3.radio(t("board.party"), list(deals.PARTIES), key="d_party",
                                 format_func=lambda c: t(f"board.party.{c}"))
                summary = st.text_area(t("board.summary"), key="d_summary", height=68)
                if st.form_submit_button(t("board.log_contact"), icon=":material/call:",
                                         key="d_contact_submit"):
                    if run_action(deals.log_contact, actor=actor, match_id=card_id, body=summary,
                                  channel=channel, direction=direction, party=party):
                        flash(t("common.done"))
                        st.rerun()
        contacts = detail.contacts
        if contacts.empty:
            st.caption(t("board.no_contacts"))
        else:
            shown = contacts.assign(
                at=contacts["at"].map(fmt.when),
                channel=contacts["channel"].map(lambda c: t(f"board.channel.{c}")),
                direction=contacts["direction"].map(lambda c: t(f"board.direction.{c}")),
                party=contacts["party"].map(lambda c: t(f"board.party.{c}")))
            st.dataframe(labelled(shown.drop(columns="id"), "board.col"), hide_index=True,
                         width="stretch")
    with tab_tl:
        history = detail.timeline
        if history.empty:
            st.caption(t("board.no_timeline"))
        else:
            shown = history.assign(at=history["at"].map(fmt.when),
                                   kind=history["kind"].map(lambda k: t(f"board.kind.{k}")),
                                   text=[timeline_text(r) for r in history.itertuples()])
            st.dataframe(labelled(shown[["at", "kind", "staff", "text"]], "board.col"),
                         hide_index=True, width="stretch")


# ------------------------------------------------------------------ the columns
# Each column is a fragment: a move from a card re-renders the column it was clicked in,
# nothing else. The moved card is pinned: the fragment that drew its button draws it on,
# at the top of its new column (the landing slot there, created outside the fragments), so
# it shows in its new place within one fragment run. A full run (filters, the dialog's
# actions) redraws everything the same way.
DRAWN_BY = "board_drawn_by"          # pinned card id -> the column whose fragment draws it
PREFETCH = "board_full_run"          # the full run's board: every column, asked once


def move_card(card_id: int, to_stage: str, version: int, drawn_by: str) -> None:
    """A callback: the move runs before the column's fragment re-renders."""
    ok = run_action(deals.move_stage, actor=actor, match_id=card_id, to_stage=to_stage,
                  version=version)
    if ok:
        pin_card(card_id)
        st.session_state.setdefault(DRAWN_BY, {})[card_id] = drawn_by
        st.toast(t("matching.board.moved", stage=enum_label("match_stage", to_stage)),
                 icon=":material/check:")


def more_cards(stage: str) -> None:
    key = f"b_pages_{stage}"
    st.session_state[key] = min(st.session_state.get(key, 1) + 1, deals.MAX_PAGES)


def card_tile(card, drawn_by: str, credits: dict) -> None:
    with st.container(border=True, key=f"card_{card.id}"):
        badges = []
        if card.pinned:
            badges.append(f":blue-badge[:material/push_pin: {t('board.just_moved')}]")
        if card.rotting:
            badges.append(f":red-badge[{t('matching.board.rotting')}]")
        if card.overdue:
            badges.append(f":orange-badge[{t('board.overdue')}]")
        if card.is_self_operated:
            badges.append(f":violet-badge[{t('selfop.badge')}]")
        if card.is_parallel_import:   # its market version, and whether its documents are in
            badges.append(":gray-badge[" + (t(f"imports.listing.market.{card.import_market}")
                                            if isinstance(card.import_market, str)
                                            else t("imports.listing.market.unknown")) + "]")
            if card.import_docs_missing:
                badges.append(f":orange-badge[{t('imports.search.docs_missing')}]")
        lines = [f"**#{card.id} {card.series}**", " ".join(badges),
                 f"{card.buyer} ← {card.seller}",
                 credit_badge(credits.get(int(card.buyer_id))),    # issue 19: the buyer's
                 t("board.tile_value", value=fmt.wan(card.deal_value, lang=lang()),
                   days=fmt.number(card.days_in_stage, digits=0))]
        if not fmt.is_missing(card.next_action_at):
            lines.append(t("board.tile_next", at=fmt.when(card.next_action_at)))
        if scope == "team":
            lines.append(t("matching.board.owned_by", owner=card.owner))
        st.markdown("  \n".join(x for x in lines if x))
        nxt = deals.NEXT_STAGE.get(card.stage)
        if nxt is not None:
            st.button(t(f"board.short.{nxt}"), key=f"mv_{card.id}", icon=":material/arrow_forward:",
                      width="stretch", on_click=move_card,
                      args=(int(card.id), nxt, int(card.version), drawn_by))
        st.button(t("board.open"), key=f"open_{card.id}",   # closed columns are narrow: no icon
                  icon=":material/open_in_full:" if nxt is not None else None,
                  width="stretch", on_click=open_card, args=(int(card.id),))


@st.fragment
def column_view(stage: str, heads: dict, slots: dict, scope: str, owner_id, filters: deals.BoardFilters) -> None:
    for other in deals.STAGES:      # hold this fragment's place in every landing slot
        slots[other].empty()
    pages = tuple(st.session_state.get(f"b_pages_{s}", 1) for s in deals.STAGES)
    prefetched = st.session_state.get(PREFETCH)
    if prefetched is not None and stage in prefetched["stages"]:   # this full run's board
        prefetched["stages"].discard(stage)
        data, credits = prefetched["board"], prefetched["credits"]
    else:                                                          # this column's own run
        data = run_query(deals.board, actor=actor, scope=scope, owner_id=owner_id,
                         filters=filters, stages=(stage,), pages=pages, pinned=pinned_cards())
        credits = buyers_credit(actor, data.cards["buyer_id"]) if data is not None else {}
    if data is None:
        return
    drawn_by = st.session_state.get(DRAWN_BY, {})
    summary = data.columns.set_index("stage")
    for other in deals.STAGES:      # every column's count: a move changes two of them
        heads[other].caption(t("board.column", n=int(summary.loc[other, "count"]),
                               total=fmt.wan(summary.loc[other, "total"], lang=lang())))
    cards = data.cards
    pinned = cards[cards["pinned"].astype(bool)]
    for card in pinned.itertuples():   # the pinned cards this column draws, in their column
        if drawn_by.get(card.id, card.stage) == stage:
            with slots[card.stage]:
                card_tile(card, stage, credits)
    for card in cards[~cards["pinned"].astype(bool) & (cards["stage"] == stage)].itertuples():
        card_tile(card, stage, credits)
    left = (int(summary.loc[stage, "count"]) - int(summary.loc[stage, "shown"])
            - int((pinned["stage"] == stage).sum()))
    if left > 0 and pages[deals.STAGES.index(stage)] < deals.MAX_PAGES:
        st.button(t("board.more", n=min(left, deals.CARDS_PER_COLUMN), left=left),
                  key=f"more_{stage}", on_click=more_cards, args=(stage,), width="stretch",
                  type="tertiary")
    # A card's Open was clicked in this column: its run (a fragment run) opens the dialog.
    if st.session_state.pop("board_open_now", False) and OPEN_KEY in st.session_state:
        card_dialog(st.session_state[OPEN_KEY])


# A link /board?card=123 opens that card (once: closing it does not open it again).
linked = requested_id("card")
if linked is not None and st.session_state.get("board_linked") != linked:
    st.session_state["board_linked"] = linked
    st.session_state[OPEN_KEY] = linked

# In a full run the page opens the dialog itself (below), never a column.
st.session_state.pop("board_open_now", None)
heads, slots, places = {}, {}, {}
# Open columns wider: their cards carry a move button; won and lost cards only open.
for col, stage in zip(st.columns([1.25, 1.25, 1.25, 1.25, 1, 1], gap="small"), deals.STAGES):
    with col:
        st.markdown(f"**{enum_label('match_stage', stage)}**")
        heads[stage] = st.empty()                 # its count: the latest column run writes it
        slots[stage] = st.container()             # cards landing here from other columns
        places[stage] = st.container()            # its own cards
# A full run asks for every column at once (one call, the column totals counted once), and
# each column's fragment takes its part; a column's own run (a move, "more") asks for its
# column alone. The full run's board is gone when the run ends, so no later fragment run can
# draw from it.
full_board = run_query(deals.board, actor=actor, scope=scope, owner_id=owner_id, filters=filters,
                       pages=tuple(st.session_state.get(f"b_pages_{s}", 1) for s in deals.STAGES),
                       pinned=pinned_cards())
# Every buyer's credit and VIP tier on the board: one query for the whole run (issue 19).
st.session_state[PREFETCH] = {
    "stages": set(deals.STAGES), "board": full_board,
    "credits": buyers_credit(actor, full_board.cards["buyer_id"]) if full_board else {}}
try:
    for stage in deals.STAGES:
        with places[stage]:
            column_view(stage, heads, slots, scope, owner_id, filters)
finally:
    st.session_state.pop(PREFETCH, None)
if OPEN_KEY in st.session_state:     # still open after its own action's full rerun, or linked
    card_dialog(st.session_state[OPEN_KEY])
