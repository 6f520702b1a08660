"""The deal board BD staff work on all day (issue 14): search and filters, paged columns,
cards that stay in view after a move or a take, the card's dialog (timeline, notes, next
action, contact log, deposit state), my tasks, and decision notes in the audit rows."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.services import deals, leads, matching
from tests.apptest import app_as
from tests.races import race, wide_engine
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


def make_card(engine, world, bd, *, price=180_000, quantity=1, buyer_name=None, seller_name=None,
              trim_id=None) -> int:
    buyer = world.merchant(name=buyer_name)
    seller = world.merchant(name=seller_name)
    listing = world.listing(merchant_id=seller, price=price, quantity=quantity, trim_id=trim_id)
    req = world.request(merchant_id=buyer, quantity=quantity, trim_id=trim_id or "a")
    with engine.begin() as conn:
        return deals.create_match(conn=conn, actor=bd, request_id=req, listing_id=listing)


def set_card(engine, card_id, **columns):
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE ops.matches SET {sets} WHERE id = :id"), {"id": card_id, **columns})


def board(engine, actor, **kw):
    with engine.connect() as conn:
        return deals.board(conn=conn, actor=actor, **kw)


def ids(b, stage=None):
    cards = b.cards if stage is None else b.cards[b.cards["stage"] == stage]
    return list(cards["id"])


def move(engine, actor, card_id, to, **kw):
    with engine.begin() as conn:
        return deals.move_stage(conn=conn, actor=actor, match_id=card_id, to_stage=to, **kw)


def audit_rows(engine, action):
    with engine.connect() as conn:
        return conn.execute(sa.text("""SELECT entity_id, reason, after FROM ops.audit_log
                                       WHERE action = :a ORDER BY id"""), {"a": action}).all()


# ------------------------------------------------------------------ search and filters

def test_search_finds_a_card_by_number_merchant_or_series(engine, world, make_actor):
    bd = make_actor("bd")
    a = make_card(engine, world, bd, buyer_name="廊坊锦辉车行", seller_name="广州利吉4S店")
    b = make_card(engine, world, bd, buyer_name="株洲隆丰车行", seller_name="合肥腾丰汽车贸易",
                  trim_id=world.other_series_trim)
    for query, found in [(str(a), [a]), (f"#{b}", [b]), ("锦辉", [a]), ("腾丰", [b]),
                         ("汉兰达", [b]), ("丰田", [a, b]), ("没有这家", []), ("100%_", [])]:
        got = board(engine, bd, filters=deals.BoardFilters(query=query))
        assert sorted(ids(got)) == sorted(found), query
        assert int(got.columns.set_index("stage").loc["suggested", "count"]) == len(found), query


def test_filters_brand_value_rotting_overdue(engine, world, make_actor, settings_env):
    settings_env(CONSOLE_ROT_DAYS="suggested=3")
    bd = make_actor("bd")
    cheap = make_card(engine, world, bd, price=100_000)             # 10 万元
    dear = make_card(engine, world, bd, price=300_000)              # 30 万元
    old = make_card(engine, world, bd, price=200_000)
    set_card(engine, old, stage_entered_at=clock.now() - timedelta(days=4),
             next_action_at=clock.now() - timedelta(hours=2))
    with engine.begin() as conn:
        other_brand = conn.execute(sa.text("INSERT INTO app.brands (name) VALUES ('比亚迪') RETURNING id")).scalar()
    F = deals.BoardFilters
    assert sorted(ids(board(engine, bd, filters=F(brand_id=world.brand_id)))) == sorted([cheap, dear, old])
    assert ids(board(engine, bd, filters=F(brand_id=other_brand))) == []
    assert sorted(ids(board(engine, bd, filters=F(value_min=150_000.0)))) == sorted([dear, old])
    assert ids(board(engine, bd, filters=F(value_min=150_000.0, value_max=250_000.0))) == [old]
    assert ids(board(engine, bd, filters=F(rotting=True))) == [old]
    assert ids(board(engine, bd, filters=F(overdue=True))) == [old]
    with pytest.raises(InvalidInput) as err:
        board(engine, bd, filters=F(value_min=300_000.0, value_max=100_000.0))
    assert err.value.key == "board.error.value_range"
    with pytest.raises(InvalidInput) as err:
        board(engine, bd, filters=F(sort="id; DROP TABLE ops.matches"))
    assert err.value.key == "board.error.unknown_sort"


def test_sort_within_a_column(engine, world, make_actor):
    bd = make_actor("bd")
    a = make_card(engine, world, bd, price=100_000)
    b = make_card(engine, world, bd, price=300_000)
    c = make_card(engine, world, bd, price=200_000)
    now = clock.now()
    for card, days, nxt in ((a, 1, 5), (b, 3, 1), (c, 2, None)):
        set_card(engine, card, stage_entered_at=now - timedelta(days=days),
                 next_action_at=now + timedelta(hours=nxt) if nxt else None)
    order = {s: ids(board(engine, bd, filters=deals.BoardFilters(sort=s))) for s in deals.SORTS}
    assert order == {"stage_age": [b, c, a], "newest": [a, c, b], "value": [b, c, a],
                     "next_action": [b, a, c]}


def test_a_column_pages_beyond_its_first_page(engine, world, make_actor, monkeypatch):
    monkeypatch.setattr(deals, "CARDS_PER_COLUMN", 2)
    bd = make_actor("bd")
    cards = [make_card(engine, world, bd) for _ in range(5)]
    for i, card in enumerate(cards):
        set_card(engine, card, stage_entered_at=clock.now() - timedelta(days=10 - i))
    first = board(engine, bd)
    assert ids(first) == cards[:2]
    cols = first.columns.set_index("stage")
    assert (cols.loc["suggested", "count"], cols.loc["suggested", "shown"]) == (5, 2)
    assert ids(board(engine, bd, pages=(2,))) == cards[:4]
    assert ids(board(engine, bd, pages=(3,))) == cards
    with pytest.raises(InvalidInput):
        board(engine, bd, pages=(deals.MAX_PAGES + 1,))


# ------------------------------------------------------------------ cards stay in view

def test_a_moved_card_stays_in_view_pinned_in_its_new_column(engine, world, make_actor, monkeypatch):
    """Before: a column showed its 50 oldest cards, so a card moved into a full column
    (its newest) vanished. Pinned, it is first in its new column, whatever the filters."""
    monkeypatch.setattr(deals, "CARDS_PER_COLUMN", 2)
    bd = make_actor("bd")
    cards = [make_card(engine, world, bd) for _ in range(4)]
    for i, card in enumerate(cards[:3]):           # three cards long in 'contacted'
        move(engine, bd, card, "contacted")
        set_card(engine, card, stage_entered_at=clock.now() - timedelta(days=5 - i))
    moved = cards[3]
    move(engine, bd, moved, "contacted")
    unpinned = board(engine, bd)
    assert moved not in ids(unpinned)               # the column's first page is full
    pinned = board(engine, bd, pinned=(moved,))
    assert ids(pinned, "contacted") == [moved, cards[0], cards[1]]
    assert list(pinned.cards["pinned"]) == [True, False, False]
    searched = board(engine, bd, pinned=(moved,), filters=deals.BoardFilters(query="没有这家"))
    assert ids(searched) == [moved]                 # in view even outside the filters
    only_suggested = board(engine, bd, pinned=(moved,), stages=("suggested",))
    assert ids(only_suggested) == [moved]           # drawn by the column it was moved from
    other = make_actor("bd")
    assert ids(board(engine, other, pinned=(moved,))) == []    # not on someone else's board


def test_the_card_made_by_taking_a_lead_is_on_the_board(engine, world, make_actor, monkeypatch):
    monkeypatch.setattr(deals, "CARDS_PER_COLUMN", 1)
    bd = make_actor("bd")
    older = make_card(engine, world, bd)
    set_card(engine, older, stage_entered_at=clock.now() - timedelta(days=3))
    buyer, seller = world.merchant(), world.merchant()
    world.listing(merchant_id=seller)
    req = world.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=bd, request_id=req)
    assert card is not None
    assert ids(board(engine, bd, pinned=(card,)), "suggested") == [card, older]
    assert ids(board(engine, bd, filters=deals.BoardFilters(sort="newest"))) == [card]


# ------------------------------------------------------------------ the card

def test_contact_log_is_recorded_and_audited_in_one_transaction(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    at = clock.now() - timedelta(minutes=30)
    with engine.begin() as conn:
        contact = deals.log_contact(conn=conn, actor=bd, match_id=card, channel="wechat",
                                    direction="inbound", party="seller",
                                    body="  卖家确认白色现车两台  ", at=at)
    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT match_id, channel, direction, party, summary, at,
                                             staff_id FROM ops.deal_contacts WHERE id = :id"""),
                           {"id": contact}).one()
        detail = deals.card_detail(conn=conn, actor=bd, match_id=card)
    assert tuple(row) == (card, "wechat", "inbound", "seller", "卖家确认白色现车两台", at, bd.id)
    (entity, reason, after), = audit_rows(engine, "match.contact")
    assert (entity, reason) == (str(card), "卖家确认白色现车两台")
    assert (after["channel"], after["direction"], after["party"]) == ("wechat", "inbound", "seller")
    assert list(detail.contacts["summary"]) == ["卖家确认白色现车两台"]
    assert list(detail.timeline["kind"]) == ["stage", "contact"]   # newest first: made, then
                                                                    # the contact 30 min before


@pytest.mark.parametrize("kw, key", [
    ({"body": "   "}, "board.error.contact_empty"),
    ({"channel": "fax"}, "board.error.unknown_channel"),
    ({"direction": "sideways"}, "board.error.unknown_direction"),
    ({"party": "dealer"}, "board.error.unknown_party"),
    ({"at": "future"}, "board.error.contact_future"),
    ({"body": "长" * 2_001}, "board.error.contact_long"),
])
def test_a_bad_contact_is_refused_and_writes_nothing(engine, world, make_actor, kw, key):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    args = {"body": "电话没人接", **kw}
    if args.get("at") == "future":
        args["at"] = clock.now() + timedelta(hours=1)
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        deals.log_contact(conn=conn, actor=bd, match_id=card, **args)
    assert err.value.key == key
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.deal_contacts")).scalar() == 0
    assert audit_rows(engine, "match.contact") == []


def test_only_the_owner_or_a_manager_logs_contacts_but_any_bd_may_view(engine, world, make_actor):
    owner, other, boss = make_actor("bd"), make_actor("bd"), make_actor("manager")
    card = make_card(engine, world, owner)
    with pytest.raises(PermissionDenied), engine.begin() as conn:
        deals.log_contact(conn=conn, actor=other, match_id=card, body="我也打了")
    with engine.begin() as conn:
        deals.log_contact(conn=conn, actor=boss, match_id=card, body="经理回访")
    with engine.connect() as conn:
        assert deals.card_detail(conn=conn, actor=other, match_id=card).may_work is False
        assert deals.card_detail(conn=conn, actor=boss, match_id=card).may_work is True
        with pytest.raises(NotFound) as err:
            deals.card_detail(conn=conn, actor=other, match_id=card + 1000)
    assert err.value.key == "board.error.no_card"


def test_the_card_shows_its_deposit_state(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd, price=180_000, quantity=2)
    with engine.connect() as conn:
        assert deals.card_detail(conn=conn, actor=bd, match_id=card).deposit is None
    with engine.begin() as conn:
        m = conn.execute(sa.text("""SELECT m.request_id, m.listing_id, r.merchant_id AS buyer,
                                           l.merchant_id AS seller
                                    FROM ops.matches m JOIN app.requests r ON r.id = m.request_id
                                    JOIN app.listings l ON l.id = m.listing_id WHERE m.id = :id"""),
                         {"id": card}).one()
        conn.execute(sa.text("""INSERT INTO app.orders (match_id, request_id, listing_id, buyer_id,
                                    seller_id, quantity, unit_price, amount, deposit_amount, status,
                                    escrow_state, created_at, deposit_paid_at)
                                VALUES (:m, :r, :l, :b, :s, 2, 180000, 360000, 20000, 'deposit_paid',
                                        'held', now(), now())"""),
                     {"m": card, "r": m.request_id, "l": m.listing_id, "b": m.buyer, "s": m.seller})
    with engine.connect() as conn:
        deposit = deals.card_detail(conn=conn, actor=bd, match_id=card).deposit
    assert (deposit["status"], deposit["escrow_state"], float(deposit["deposit_amount"]),
            deposit["disputed"]) == ("deposit_paid", "held", 20_000.0, False)


def test_next_action_has_a_date_and_words(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    when = datetime(2026, 12, 24, 10, 0, tzinfo=clock.business_tz())
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        deals.set_next_action(conn=conn, actor=bd, match_id=card, next_action_at=None,
                              next_action_note="回电话")
    assert err.value.key == "board.error.next_needs_date"
    with engine.begin() as conn:
        deals.set_next_action(conn=conn, actor=bd, match_id=card, next_action_at=when,
                              next_action_note=" 回电话确认颜色 ")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT next_action_at, next_action_note FROM ops.matches WHERE id = :id"),
                           {"id": card}).one()
    assert tuple(row) == (when, "回电话确认颜色")
    (_, reason, after), = audit_rows(engine, "match.next_action")
    assert (reason, after["next_action_note"]) == ("回电话确认颜色", "回电话确认颜色")


def test_decision_notes_are_in_their_audit_rows(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    move(engine, bd, card, "contacted", note="买家确认预算")
    with engine.begin() as conn:
        deals.add_note(conn=conn, actor=bd, match_id=card, body="约了周五看车")
    move(engine, bd, card, "lost", lost_reason="price_gap", note="差价三千谈不拢")
    reasons = [r.reason for r in audit_rows(engine, "match.move")]
    assert reasons == ["买家确认预算", "差价三千谈不拢"]
    assert [r.reason for r in audit_rows(engine, "match.note")] == ["约了周五看车"]


def test_two_people_moving_one_card_from_the_same_version_move_it_once(engine, world, make_actor,
                                                                        fresh_db):
    bd, boss = make_actor("bd"), make_actor("manager")
    card = make_card(engine, world, bd)
    with wide_engine(fresh_db, 2) as eng:
        outcomes = race(eng, [(deals.move_stage, {"actor": bd, "match_id": card,
                                                  "to_stage": "contacted", "version": 1}),
                              (deals.move_stage, {"actor": boss, "match_id": card,
                                                  "to_stage": "contacted", "version": 1})])
    assert sorted(o[0] for o in outcomes) == ["ok", "refused"]
    assert [o[1] for o in outcomes if o[0] == "refused"] == [(Conflict.__name__, "error.stale")]
    with engine.connect() as conn:
        moves = conn.execute(sa.text("""SELECT count(*) FROM ops.match_stage_history
                                        WHERE match_id = :m AND to_stage = 'contacted'"""),
                             {"m": card}).scalar()
    assert moves == 1 and len(audit_rows(engine, "match.move")) == 1


# ------------------------------------------------------------------ my tasks

def test_tasks_are_my_open_cards_due_today_or_overdue(engine, world, make_actor):
    bd, other = make_actor("bd"), make_actor("bd")
    now = clock.now()
    end_of_today = datetime.combine(clock.today(), datetime.max.time(), tzinfo=clock.business_tz())
    overdue, today, tomorrow, closed = (make_card(engine, world, bd) for _ in range(4))
    theirs = make_card(engine, world, other)
    set_card(engine, overdue, next_action_at=now - timedelta(days=2))
    set_card(engine, today, next_action_at=end_of_today - timedelta(minutes=1))
    set_card(engine, tomorrow, next_action_at=end_of_today + timedelta(minutes=2))
    set_card(engine, closed, next_action_at=now - timedelta(days=1))
    set_card(engine, theirs, next_action_at=now - timedelta(days=1))
    move(engine, bd, closed, "lost", lost_reason="other", note="买家放弃")
    with engine.connect() as conn:
        due = deals.tasks(conn=conn, actor=bd)
    assert list(due["id"]) == [overdue, today]


# ------------------------------------------------------------------ the pages

def test_board_search_move_and_the_card_stays_visible(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd, buyer_name="廊坊锦辉车行")
    make_card(engine, world, bd, buyer_name="株洲隆丰车行")
    at = app_as(bd, page="pages/bd_board.py")
    assert not at.exception and not at.error
    at.text_input(key="b_query").input("锦辉").run()
    tiles = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert len(tiles) == 1 and tiles[0].startswith(f"**#{card} ")
    at.button(key=f"mv_{card}").click().run()
    assert not at.exception and not at.error
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT stage FROM ops.matches WHERE id = :id"),
                            {"id": card}).scalar() == "contacted"
    tiles = [m.value for m in at.markdown if m.value.startswith(f"**#{card} ")]
    assert len(tiles) == 1 and "刚操作" in tiles[0]            # still in view, marked
    assert at.button(key=f"mv_{card}").label == "洽谈"          # its next move: from 已联系


@pytest.mark.parametrize("lang, labels", [
    ("zh", {"已联系", "洽谈", "付定金", "成交", "详情"}),
    ("en", {"Contact", "Talks", "Deposit", "Won", "Open"}),
])
def test_card_buttons_have_short_readable_labels(engine, world, make_actor, lang, labels):
    bd = make_actor("bd")
    cards = [make_card(engine, world, bd) for _ in range(5)]
    for card, path in zip(cards, ([], ["contacted"], ["contacted", "negotiating"],
                                  ["contacted", "negotiating", "deposit_paid"],
                                  ["contacted", "negotiating", "deposit_paid", "won"])):
        for stage in path:
            move(engine, bd, card, stage)
    at = app_as(bd, lang=lang, page="pages/bd_board.py")
    shown = {b.label for b in at.button if b.key and b.key.startswith(("mv_", "open_"))}
    assert shown == labels
    assert all(len(label) <= 9 for label in shown)     # no "→ …" or "失.." at 1280 px


def test_a_card_link_opens_its_dialog_and_logs_a_contact(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    at = app_as(bd)
    at.query_params["card"] = str(card)
    at.switch_page("pages/bd_board.py").run()
    assert not at.exception and not at.error
    assert any(m.value.startswith(f"### #{card} ") for m in at.markdown)
    at.text_area(key="d_summary").input("电话：买家要白色两台")
    at.radio(key="d_channel").set_value("call")
    at.button(key="d_contact_submit").click().run()
    assert not at.exception and not at.error
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT summary FROM ops.deal_contacts WHERE match_id = :m"),
                            {"m": card}).scalar() == "电话：买家要白色两台"


def test_a_bad_card_link_is_refused_in_words(engine, world, make_actor):
    bd = make_actor("bd")
    at = app_as(bd)
    at.query_params["card"] = "1 OR 1=1"
    at.switch_page("pages/bd_board.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["链接中的撮合卡片编号无效，已忽略。请检查链接是否完整。"]
    assert not any(m.value.startswith("### #") for m in at.markdown)      # no dialog opened


def test_the_task_list_shows_my_due_cards_and_opens_one(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    with engine.begin() as conn:
        deals.set_next_action(conn=conn, actor=bd, match_id=card,
                              next_action_at=clock.now() - timedelta(hours=1),
                              next_action_note="回电话确认颜色")
    at = app_as(bd, page="pages/bd_tasks.py")
    assert not at.exception and not at.error
    texts = [m.value for m in at.markdown]
    assert any("回电话确认颜色" in x and f"#{card} " in x and "已逾期" in x for x in texts)
    at.button(key=f"open_task_{card}").click().run()
    assert not at.exception
    assert any(m.value.startswith(f"### #{card} ") for m in at.markdown)


def test_a_bad_value_filter_is_refused_once_in_words(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    at = app_as(bd, page="pages/bd_board.py")
    at.number_input(key="b_vmin").set_value(50.0)
    at.number_input(key="b_vmax").set_value(10.0).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["金额下限不能高于上限。"]
    assert any(m.value.startswith(f"**#{card} ") for m in at.markdown)    # the board still shows
    at.number_input(key="b_vmin").set_value(-5.0).run()
    assert [e.value for e in at.error] == ["金额须为不小于 0 的数字。"]
    with pytest.raises(InvalidInput) as err:
        board(engine, bd, filters=deals.BoardFilters(value_min=-1.0))
    assert err.value.key == "board.error.bad_value"


def test_lost_from_the_dialog_needs_a_chosen_reason(engine, world, make_actor):
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    at = app_as(bd)
    at.query_params["card"] = str(card)
    at.switch_page("pages/bd_board.py").run()
    assert at.selectbox(key="d_lost_reason").value is None          # nothing preselected
    at.selectbox(key="d_move_to").set_value("lost")
    at.text_area(key="d_move_note").input("买家不要了")
    at.button(key="d_move_submit").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["请从列表中选择失败原因。"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT stage FROM ops.matches WHERE id = :id"),
                            {"id": card}).scalar() == "suggested"
