"""The deal board's stage machine, lost reasons, overrides, board columns, rot, leaderboard."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import deals, matching
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


@pytest.fixture
def card(engine, world, make_actor):
    """A manual match owned by a BD person: (match id, the BD actor)."""
    buyer, seller = world.merchant(), world.merchant()
    listing = world.listing(merchant_id=seller, price=180_000, quantity=2)
    req = world.request(merchant_id=buyer, quantity=2)
    bd = make_actor("bd")
    with engine.begin() as conn:
        match_id = deals.create_match(conn=conn, actor=bd, request_id=req, listing_id=listing)
    return match_id, bd


def stage_of(engine, match_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT stage FROM ops.matches WHERE id = :id"),
                            {"id": match_id}).scalar()


def move(engine, actor, match_id, to, **kw):
    with engine.begin() as conn:
        return deals.move_stage(conn=conn, actor=actor, match_id=match_id, to_stage=to, **kw)


def test_manual_match_makes_the_lead_mine_and_values_the_deal(engine, card):
    match_id, bd = card
    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT m.owner_id, m.deal_value, m.source, c.owner_id
                                      FROM ops.matches m JOIN ops.lead_claims c USING (request_id)
                                      WHERE m.id = :id"""), {"id": match_id}).one()
    assert tuple(row) == (bd.id, 360_000, "manual", bd.id)


def test_happy_path_to_won_is_on_the_timeline(engine, card):
    match_id, bd = card
    for stage in ("contacted", "negotiating", "deposit_paid", "won"):
        move(engine, bd, match_id, stage)
    with engine.connect() as conn:
        tl = deals.timeline(conn=conn, actor=bd, match_id=match_id)
        actions = conn.execute(sa.text("""SELECT before->>'stage', after->>'stage' FROM ops.audit_log
                                          WHERE action = 'match.move' ORDER BY id""")).all()
    assert list(tl["to_stage"]) == ["suggested", "contacted", "negotiating", "deposit_paid", "won"]
    assert [tuple(a) for a in actions] == [("suggested", "contacted"), ("contacted", "negotiating"),
                                           ("negotiating", "deposit_paid"), ("deposit_paid", "won")]


@pytest.mark.parametrize("path, illegal", [
    ((), "won"),                              # suggested -> won without a deposit
    ((), "deposit_paid"),
    (("contacted",), "won"),
    (("contacted", "negotiating", "deposit_paid"), "negotiating"),
    (("contacted", "negotiating", "deposit_paid", "won"), "lost"),   # closed stays closed
])
def test_illegal_moves_are_refused_and_change_nothing(engine, card, path, illegal):
    match_id, bd = card
    for stage in path:
        move(engine, bd, match_id, stage)
    before = stage_of(engine, match_id)
    with pytest.raises(InvalidInput) as err:
        move(engine, bd, match_id, illegal, lost_reason="other", note="x")
    assert err.value.key == "matching.error.illegal_move"
    assert stage_of(engine, match_id) == before


def test_manager_override_needs_a_reason_and_is_marked(engine, card, make_actor):
    match_id, _ = card
    boss = make_actor("manager")
    with pytest.raises(InvalidInput) as err:
        move(engine, boss, match_id, "won")
    assert err.value.key == "matching.error.override_reason_required"
    move(engine, boss, match_id, "won", override_reason="线下已全款成交")
    with engine.connect() as conn:
        row = conn.execute(sa.text("""SELECT is_override, reason FROM ops.match_stage_history
                                      WHERE match_id = :id AND to_stage = 'won'"""), {"id": match_id}).one()
    assert tuple(row) == (True, "线下已全款成交")
    assert stage_of(engine, match_id) == "won"


@pytest.mark.parametrize("reason, note, key", [
    (None, "买家已在别处购买", "matching.error.lost_reason_required"),
    ("made_up", "买家已在别处购买", "matching.error.lost_reason_required"),
    ("bought_elsewhere", "  ", "matching.error.lost_note_required"),
])
def test_lost_needs_a_known_reason_and_a_note(engine, card, reason, note, key):
    match_id, bd = card
    with pytest.raises(InvalidInput) as err:
        move(engine, bd, match_id, "lost", lost_reason=reason, note=note)
    assert err.value.key == key
    assert stage_of(engine, match_id) == "suggested"


def test_lost_with_reason_and_note(engine, card):
    match_id, bd = card
    move(engine, bd, match_id, "lost", lost_reason="price_gap", note="差价3000谈不拢")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT stage, lost_reason, lost_note FROM ops.matches WHERE id = :id"),
                           {"id": match_id}).one()
    assert tuple(row) == ("lost", "price_gap", "差价3000谈不拢")


def test_stale_version_and_other_peoples_cards_are_refused(engine, card, make_actor):
    match_id, bd = card
    v2 = move(engine, bd, match_id, "contacted", version=1)
    assert v2 == 2
    with pytest.raises(Conflict):
        move(engine, bd, match_id, "negotiating", version=1)
    with pytest.raises(PermissionDenied):
        move(engine, make_actor("bd"), match_id, "negotiating")
    assert stage_of(engine, match_id) == "contacted"


def test_board_columns_rot_escrow_and_unattended(engine, world, card, make_actor, settings_env):
    match_id, bd = card
    move(engine, bd, match_id, "contacted")
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.matches SET stage_entered_at = now() - interval '4 days',
                                       next_action_at = now() - interval '1 hour' WHERE id = :id"""),
                     {"id": match_id})
        m = conn.execute(sa.text("SELECT request_id, listing_id FROM ops.matches WHERE id = :id"),
                         {"id": match_id}).one()
        buyer, seller = conn.execute(sa.text("""SELECT r.merchant_id, l.merchant_id FROM app.requests r,
                                                app.listings l WHERE r.id = :r AND l.id = :l"""),
                                     {"r": m.request_id, "l": m.listing_id}).one()
        conn.execute(sa.text("""INSERT INTO app.orders (match_id, request_id, listing_id, buyer_id, seller_id,
                                    quantity, unit_price, amount, deposit_amount, status, escrow_state, created_at)
                                VALUES (:m, :r, :l, :b, :s, 2, 180000, 360000, 10000, 'deposit_paid', 'held', now())"""),
                     {"m": match_id, "r": m.request_id, "l": m.listing_id, "b": buyer, "s": seller})
    with engine.connect() as conn:
        settings_env(CONSOLE_ROT_DAYS="contacted=3")      # 4 days in 'contacted': rotting
        b = deals.board(conn=conn, actor=bd)
        late = deals.unattended(conn=conn, actor=bd)
        settings_env(CONSOLE_ROT_DAYS="contacted=5")
        strict = deals.board(conn=conn, actor=bd)
    cols = b.columns.set_index("stage")
    assert cols.loc["contacted", "count"] == 1 and cols.loc["contacted", "total"] == 360_000
    assert cols.loc["suggested", "count"] == 0
    assert list(b.cards["rotting"]) == [True]
    assert list(strict.cards["rotting"]) == [False]
    assert list(b.cards["escrow_state"]) == ["held"]
    assert (late.total, list(late.rows["id"])) == (1, [match_id])


def test_unattended_lists_the_most_overdue_and_counts_all(engine, world, card, make_actor):
    match_id, bd = card
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.matches SET next_action_at = now() - interval '2 hours' "
                             "WHERE id = :id"), {"id": match_id})
        request_id = conn.execute(sa.text("SELECT request_id FROM ops.matches WHERE id = :id"),
                                  {"id": match_id}).scalar()
    for hours in (5, 1):   # two more of this BD's cards on the same request, 5 h and 1 h overdue
        listing = world.listing(merchant_id=world.merchant(), price=180_000, quantity=2)
        with engine.begin() as conn:
            conn.execute(sa.text("""INSERT INTO ops.matches (request_id, listing_id, source, stage,
                                        owner_id, stage_entered_at, next_action_at)
                                    VALUES (:r, :l, 'manual', 'contacted', :o, now(),
                                            now() - make_interval(hours => :h))"""),
                         {"r": request_id, "l": listing, "o": bd.id, "h": hours})
    with engine.connect() as conn:
        top = deals.unattended(conn=conn, actor=bd, limit=2)
        with pytest.raises(InvalidInput):
            deals.unattended(conn=conn, actor=bd, limit=0)
    assert top.total == 3
    assert len(top.rows) == 2 and top.rows["id"].iloc[1] == match_id   # 5 h, then 2 h overdue


def test_team_board_is_for_managers_only(engine, card, make_actor):
    match_id, bd = card
    with pytest.raises(PermissionDenied), engine.connect() as conn:
        deals.board(conn=conn, actor=bd, scope="team")
    with engine.connect() as conn:
        team = deals.board(conn=conn, actor=make_actor("manager"), scope="team")
        mine = deals.board(conn=conn, actor=make_actor("bd"), scope="mine")
    assert list(team.cards["id"]) == [match_id]
    assert mine.cards.empty


def test_leaderboard_counts_wins_gmv_and_median_time_to_deposit(engine, world, make_actor):
    bd = make_actor("bd")
    seller = world.merchant()
    ids = []
    for hours in (10, 30):   # two won deals, 10 h and 30 h from lead to deposit
        listing = world.listing(merchant_id=seller, price=100_000, quantity=1)
        req = world.request(merchant_id=world.merchant(), quantity=1)
        with engine.begin() as conn:
            mid = deals.create_match(conn=conn, actor=bd, request_id=req, listing_id=listing)
        for stage in ("contacted", "negotiating", "deposit_paid", "won"):
            move(engine, bd, mid, stage)
        with engine.begin() as conn:
            conn.execute(sa.text("""UPDATE ops.match_stage_history SET at = now() - make_interval(hours => :h)
                                    WHERE match_id = :m AND from_stage IS NULL"""), {"h": hours, "m": mid})
        ids.append(mid)
    with engine.connect() as conn:
        lb = deals.leaderboard(conn=conn, actor=bd)
    row = lb.set_index("staff_id").loc[bd.id]
    assert int(row["won"]) == 2
    assert float(row["gmv"]) == 200_000
    assert float(row["median_hours_to_deposit"]) == pytest.approx(20.0, abs=0.1)


def test_best_offer_is_proposed_after_the_deadline(engine, world, make_actor):
    buyer = world.merchant()
    s1, s2 = world.merchant(), world.merchant()
    l1 = world.listing(merchant_id=s1)
    l2 = world.listing(merchant_id=s2)
    deadline = datetime.now(timezone.utc) + timedelta(hours=1)
    req = world.request(merchant_id=buyer, mode="bidding", bid_deadline=deadline)
    world.bid(request_id=req, seller_id=s1, listing_id=l1, price=181_000)
    world.bid(request_id=req, seller_id=s2, listing_id=l2, price=179_500)
    with engine.begin() as conn:
        assert deals.propose_best_offers(conn=conn) == 0                 # before the deadline
        assert deals.propose_best_offers(conn=conn, now=deadline + timedelta(minutes=1)) == 1
        assert deals.propose_best_offers(conn=conn, now=deadline + timedelta(minutes=2)) == 0
        row = conn.execute(sa.text("SELECT listing_id, source, stage FROM ops.matches WHERE request_id = :r"),
                           {"r": req}).one()
    assert tuple(row) == (l2, "bid", "suggested")


def test_a_column_shows_its_oldest_cards_and_counts_them_all(engine, world, make_actor, monkeypatch):
    monkeypatch.setattr(deals, "CARDS_PER_COLUMN", 2)
    buyer, seller = world.merchant(), world.merchant()
    req = world.request(merchant_id=buyer, quantity=1)
    bd = make_actor("bd")
    ids = []
    with engine.begin() as conn:
        for price in (170_000, 180_000, 190_000, 160_000):
            listing = world.listing(merchant_id=seller, price=price, quantity=1)
            ids.append(deals.create_match(conn=conn, actor=bd, request_id=req, listing_id=listing))
        # Ages in 'suggested': 3, 1 and 2 days; the fourth card was lost 40 days ago.
        for match_id, days in zip(ids, (3, 1, 2)):
            conn.execute(sa.text("UPDATE ops.matches SET stage_entered_at = now() - make_interval(days => :d) "
                                 "WHERE id = :id"), {"d": days, "id": match_id})
        conn.execute(sa.text("""UPDATE ops.matches SET stage = 'lost', lost_reason = 'price_gap',
                                       stage_entered_at = now() - interval '40 days' WHERE id = :id"""),
                     {"id": ids[3]})
    with engine.connect() as conn:
        b = deals.board(conn=conn, actor=bd)
    assert list(b.cards["id"]) == [ids[0], ids[2]]               # the two oldest, oldest first
    cols = b.columns.set_index("stage")
    assert cols.loc["suggested", "count"] == 3
    assert cols.loc["suggested", "total"] == 540_000
    assert cols.loc["lost", "count"] == 0                         # closed beyond the 30 days shown
