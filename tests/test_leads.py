"""The lead pool: atomic takes under a race, caps, idle return, manager assignment."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import leads, matching
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


def open_requests_with_suggestions(engine, world, n: int) -> list[int]:
    seller = world.merchant()
    world.listing(merchant_id=seller, quantity=5)
    buyers = [world.merchant() for _ in range(3)]
    reqs = [world.request(merchant_id=buyers[i % 3]) for i in range(n)]
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    return reqs


def owners(engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT request_id, owner_id FROM ops.lead_claims")).all())


def test_take_puts_the_best_suggestion_on_my_board(engine, world, make_actor):
    req, = open_requests_with_suggestions(engine, world, 1)
    bd = make_actor("bd")
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=bd, request_id=req)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT request_id, owner_id, stage, source FROM ops.matches WHERE id = :id"),
                           {"id": card}).one()
        audit = conn.execute(sa.text("SELECT action, actor_id FROM ops.audit_log WHERE entity_type = 'lead'")).all()
        pool, total = leads.pool(conn=conn, actor=bd)
    assert tuple(row) == (req, bd.id, "suggested", "auto")
    assert [tuple(a) for a in audit] == [("lead.take", bd.id)]
    assert total == 0 and pool.empty


def test_second_taker_gets_a_conflict(engine, world, make_actor):
    req, = open_requests_with_suggestions(engine, world, 1)
    first, second = make_actor("bd"), make_actor("bd")
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=first, request_id=req)
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        leads.take_lead(conn=conn, actor=second, request_id=req)
    assert err.value.key == "matching.error.lead_taken"
    assert owners(engine) == {req: first.id}


def test_request_without_suggestions_is_not_a_lead(engine, world, make_actor):
    req = world.request(merchant_id=world.merchant())
    with pytest.raises(InvalidInput), engine.begin() as conn:
        leads.take_lead(conn=conn, actor=make_actor("bd"), request_id=req)


def test_bidding_request_is_a_lead_without_suggestions(engine, world, make_actor):
    req = world.request(merchant_id=world.merchant(), mode="bidding",
                        bid_deadline=clock.now() + timedelta(days=2))
    bd = make_actor("bd")
    with engine.connect() as conn:
        page, total = leads.pool(conn=conn, actor=bd, mode="bidding")
    assert total == 1 and list(page["request_id"]) == [req]
    with engine.begin() as conn:
        assert leads.take_lead(conn=conn, actor=bd, request_id=req) is None   # no offer yet
    assert owners(engine) == {req: bd.id}


def test_twenty_threads_race_for_100_leads(engine, world, make_actor, settings_env):
    reqs = open_requests_with_suggestions(engine, world, 100)
    people = [make_actor("bd") for _ in range(20)]
    settings_env(CONSOLE_LEAD_CAP=4)          # 20 x 4 = 80 < 100: the caps bind
    wins: dict[int, list[int]] = {p.id: [] for p in people}
    barrier = threading.Barrier(len(people))

    def grab(person):
        order = reqs[:]
        random.Random(person.id).shuffle(order)
        barrier.wait()
        for req in order:
            try:
                with engine.begin() as conn:
                    leads.take_lead(conn=conn, actor=person, request_id=req)
                wins[person.id].append(req)
            except Conflict as err:
                if err.key == "matching.error.cap_reached":
                    return

    threads = [threading.Thread(target=grab, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = owners(engine)
    assert len(claimed) == 80
    assert all(len(w) == 4 for w in wins.values())
    assert sorted(r for w in wins.values() for r in w) == sorted(claimed)   # one owner each
    assert {r: o for o, w in wins.items() for r in w} == claimed
    with engine.connect() as conn:
        cards = conn.execute(sa.text("SELECT request_id, owner_id FROM ops.matches")).all()
    assert dict(cards) == claimed                                        # one card per lead


def test_idle_leads_return_to_the_pool_with_an_audit_row(engine, world, make_actor):
    old, fresh = open_requests_with_suggestions(engine, world, 2)
    bd = make_actor("bd")
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=bd, request_id=old)
        leads.take_lead(conn=conn, actor=bd, request_id=fresh)
        conn.execute(sa.text("UPDATE ops.lead_claims SET last_touched_at = now() - interval '49 hours' "
                             "WHERE request_id = :r"), {"r": old})
        returned = leads.return_untouched(conn=conn, idle_hours=48)
    assert returned == 1
    assert owners(engine) == {fresh: bd.id}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT owner_id FROM ops.matches WHERE id = :id"),
                            {"id": card}).scalar() is None
        audit = conn.execute(sa.text("""SELECT actor_id, entity_id, before->>'owner_id'
                                        FROM ops.audit_log WHERE action = 'lead.auto_return'""")).all()
    assert [tuple(a) for a in audit] == [(None, str(old), str(bd.id))]
    other = make_actor("bd")            # the next taker inherits the card
    with engine.begin() as conn:
        assert leads.take_lead(conn=conn, actor=other, request_id=old) is None
        assert conn.execute(sa.text("SELECT owner_id FROM ops.matches WHERE id = :id"),
                            {"id": card}).scalar() == other.id


def test_manager_assigns_and_reassigns_within_caps(engine, world, make_actor, settings_env):
    a, b = open_requests_with_suggestions(engine, world, 2)
    boss, ann, bob = make_actor("manager"), make_actor("bd"), make_actor("bd")
    settings_env(CONSOLE_LEAD_CAP=1)
    with engine.begin() as conn:
        leads.assign_lead(conn=conn, actor=boss, request_id=a, to_staff_id=ann.id)
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:    # reassign needs a reason
        leads.assign_lead(conn=conn, actor=boss, request_id=a, to_staff_id=bob.id)
    assert err.value.key == "error.reason_required"
    with engine.begin() as conn:
        leads.assign_lead(conn=conn, actor=boss, request_id=a, to_staff_id=bob.id,
                          reason="客户指定")
    with pytest.raises(Conflict) as err, engine.begin() as conn:       # bob is at his cap
        leads.assign_lead(conn=conn, actor=boss, request_id=b, to_staff_id=bob.id)
    assert err.value.key == "matching.error.cap_reached"
    assert owners(engine) == {a: bob.id}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT owner_id FROM ops.matches WHERE request_id = :r"),
                            {"r": a}).scalar() == bob.id
    with pytest.raises(PermissionDenied), engine.begin() as conn:
        leads.assign_lead(conn=conn, actor=ann, request_id=b, to_staff_id=ann.id)


def lose(engine, actor, card: int) -> None:
    """The BD marks the card lost and puts the lead back in the pool."""
    from console.services import deals
    with engine.begin() as conn:
        deals.move_stage(conn=conn, actor=actor, match_id=card, to_stage="lost",
                         lost_reason="no_stock", note="卖家已无现车")
        leads.release_lead(conn=conn, actor=actor, request_id=cards_request(conn, card),
                           reason="卖家无车")


def cards_request(conn, card: int) -> int:
    return conn.execute(sa.text("SELECT request_id FROM ops.matches WHERE id = :id"),
                        {"id": card}).scalar_one()


def board_of(engine, request_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            """SELECT listing_id, stage, owner_id FROM ops.matches WHERE request_id = :r
               ORDER BY id"""), {"r": request_id})]


def test_a_lead_whose_match_was_lost_is_taken_again_with_its_next_suggestion(
        engine, world, make_actor):
    """A lost card closes that pairing for good (lost is final on the board); whoever takes
    the lead next gets a card for the best suggestion not yet tried. Taking it used to fail
    with match_exists for ever, because the top suggestion was the lost pair."""
    buyer = world.merchant()
    best = world.listing(merchant_id=world.merchant(), price=170_000)
    second = world.listing(merchant_id=world.merchant(), price=185_000)
    req = world.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
        ranked = [r for (r,) in conn.execute(sa.text(
            "SELECT listing_id FROM ops.match_suggestions WHERE request_id = :r ORDER BY rank"),
            {"r": req})]
    assert ranked == [best, second]
    first_bd, next_bd = make_actor("bd"), make_actor("bd")
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=first_bd, request_id=req)
    lose(engine, first_bd, card)
    with engine.connect() as conn:
        page, total = leads.pool(conn=conn, actor=next_bd)
    assert (total, list(page["request_id"])) == (1, [req])
    with engine.begin() as conn:
        again = leads.take_lead(conn=conn, actor=next_bd, request_id=req)
    assert owners(engine) == {req: next_bd.id}
    assert board_of(engine, req) == [(best, "lost", first_bd.id),
                                     (second, "suggested", next_bd.id)]
    # Both suggestions tried and lost: the lead can still be taken, with no card to show;
    # its new owner pairs it by hand (search) or releases it.
    lose(engine, next_bd, again)
    with engine.begin() as conn:
        assert leads.take_lead(conn=conn, actor=first_bd, request_id=req) is None
    assert owners(engine) == {req: first_bd.id}
    assert [stage for _, stage, _ in board_of(engine, req)] == ["lost", "lost"]


def test_a_manager_assigns_a_lead_whose_match_was_lost(engine, world, make_actor):
    req, = open_requests_with_suggestions(engine, world, 1)
    bd, boss, other = make_actor("bd"), make_actor("manager"), make_actor("bd")
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=bd, request_id=req)
    lose(engine, bd, card)
    with engine.begin() as conn:
        leads.assign_lead(conn=conn, actor=boss, request_id=req, to_staff_id=other.id)
    assert owners(engine) == {req: other.id}
    assert [stage for _, stage, _ in board_of(engine, req)] == ["lost"]


def test_stale_requests_leave_the_pool_and_are_counted(engine, world, make_actor):
    """Issue 14: a request past its needed-by day, or whose bidding closed more than
    BID_CLOSED_GRACE_DAYS ago, is no lead: the pool leaves it out, counts it, and refuses it."""
    now, today = clock.now(), clock.today()
    fresh = world.request(merchant_id=world.merchant(), mode="bidding",
                          bid_deadline=now + timedelta(days=1))
    just_closed = world.request(merchant_id=world.merchant(), mode="bidding",      # in grace
                                bid_deadline=now - timedelta(days=leads.BID_CLOSED_GRACE_DAYS - 1))
    closed = world.request(merchant_id=world.merchant(), mode="bidding",
                           bid_deadline=now - timedelta(days=42))               # six weeks ago
    past_due = world.request(merchant_id=world.merchant(), mode="bidding",
                             bid_deadline=now + timedelta(days=1),
                             needed_by=today - timedelta(days=1))
    due_today = world.request(merchant_id=world.merchant(), mode="bidding",
                              bid_deadline=now + timedelta(days=1), needed_by=today)
    bd = make_actor("bd")
    with engine.connect() as conn:
        page, total = leads.pool(conn=conn, actor=bd)
        hidden = leads.stale_leads(conn=conn, actor=bd)
        hidden_normal = leads.stale_leads(conn=conn, actor=bd, mode="normal")
    assert sorted(page["request_id"]) == sorted([fresh, just_closed, due_today]) and total == 3
    assert (hidden, hidden_normal) == (2, 0)
    for stale in (closed, past_due):
        with pytest.raises(InvalidInput) as err, engine.begin() as conn:
            leads.take_lead(conn=conn, actor=bd, request_id=stale)
        assert err.value.key == "matching.error.not_a_lead"
    assert owners(engine) == {}
    with engine.begin() as conn:                 # a stale lead somebody owns is not counted
        conn.execute(sa.text("INSERT INTO ops.lead_claims (request_id, owner_id) VALUES (:r, :o)"),
                     {"r": closed, "o": bd.id})
    with engine.connect() as conn:
        assert leads.stale_leads(conn=conn, actor=bd) == 1
