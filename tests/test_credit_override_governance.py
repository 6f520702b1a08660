"""Override governance with hand-built cases: upgrade and downgrade rates apart over graded
merchants, the notch cap, approval seniority by the limit an override creates, re-examination
when a new score moves the merchant, and overridden merchants' later outcomes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console.clock import today
from console.credit import engine as credit_engine
from console.errors import InvalidInput, PermissionDenied
from console.services import credit
from tests import trust_rows
from tests.test_credit_support import (age_override, city, hand_card, merchant, one, purchase,
                                       rows, set_features)

IN_30_DAYS = today() + timedelta(days=30)


@pytest.fixture
def scored(engine, tmp_path):
    """good 700 AAA, weak 525 BB, mid 600 A, new (no deal) NEW; everyone bought 40M (caps bind)."""
    ids = {"good": merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6),
           "weak": merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0),
           "mid": merchant(engine, cert_level="personal", disputes_lost=0, avg_stars=3.5),
           "new": merchant(engine, cert_level="enterprise", months=1, deals_total=0)}
    for key in ("good", "weak", "mid"):
        purchase(engine, ids[key], 40_000_000)
    card = hand_card(tmp_path)
    with engine.begin() as conn:
        credit_engine.score_all(conn, card)
    ids["card"] = card
    return ids


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def override(engine, proposer, approver, merchant_id, new_grade):
    oid = call(engine, credit.propose_override, actor=proposer, merchant_id=merchant_id,
               new_grade=new_grade, reason_code="guarantee", reason="担保函", expires_on=IN_30_DAYS)
    call(engine, credit.approve_override, actor=approver, override_id=oid, note="同意")
    return oid


def test_upgrade_and_downgrade_rates_apart_over_graded_merchants_only(engine, make_actor, scored):
    alice, head = make_actor("risk"), make_actor("risk", "manager")
    assert rows(engine, "SELECT grade FROM ops.merchant_credit ORDER BY merchant_id") == [
        {"grade": "AAA"}, {"grade": "BB"}, {"grade": "A"}, {"grade": "NEW"}]
    override(engine, alice, head, scored["weak"], "BBB")     # up one notch
    override(engine, alice, head, scored["good"], "AA")      # down one notch
    override(engine, alice, head, scored["new"], "A")        # NEW: not in the rates
    with engine.connect() as conn:
        rate = credit.grade_overview(conn=conn, actor=alice)["override"]
    assert (rate.scored, rate.upgrades, rate.downgrades, rate.new_overridden) == (3, 1, 1, 1)
    assert (rate.up_rate, rate.down_rate, rate.rate) == pytest.approx((1 / 3, 1 / 3, 2 / 3))
    assert (rate.up_level, rate.down_level, rate.level) == ("red", "red", "red")
    # The NEW merchant overridden to A holds at most the starter limit (50,000), not A's cap.
    assert rows(engine, """SELECT effective_grade, loan_limit FROM ops.merchant_credit
                           WHERE merchant_id = :m""", m=scored["new"]) == [
        {"effective_grade": "A", "loan_limit": 50_000}]


@pytest.mark.parametrize("merchant, new_grade, allowed", [
    ("weak", "A", True),      # BB -> A: two notches, the cap
    ("weak", "AA", False),    # three
    ("good", "BBB", False),   # AAA -> BBB: three down
    ("good", "A", True),
    ("new", "AAA", True),     # NEW: no scored grade to count from; the starter limit holds
])
def test_an_override_moves_at_most_the_notch_cap(engine, make_actor, scored, merchant, new_grade, allowed):
    alice = make_actor("risk")
    propose = lambda: call(engine, credit.propose_override, actor=alice,  # noqa: E731
                           merchant_id=scored[merchant], new_grade=new_grade,
                           reason_code="guarantee", reason="担保函", expires_on=IN_30_DAYS)
    if allowed:
        assert propose() > 0
    else:
        with pytest.raises(InvalidInput) as err:
            propose()
        assert err.value.key == "credit.error.too_many_notches"


def test_approval_seniority_scales_with_the_limit_the_override_creates(engine, make_actor, scored):
    alice, bob, head = make_actor("risk"), make_actor("risk"), make_actor("risk", "manager")
    # weak BB -> A: A's cap 2,000,000 (0.25 x 40M = 10M does not bind) > 1,000,000 senior limit
    oid = call(engine, credit.propose_override, actor=alice, merchant_id=scored["weak"],
               new_grade="A", reason_code="guarantee", reason="担保函", expires_on=IN_30_DAYS)
    with pytest.raises(PermissionDenied) as err:
        call(engine, credit.approve_override, actor=bob, override_id=oid)
    assert err.value.key == "credit.error.senior_approval"
    call(engine, credit.approve_override, actor=head, override_id=oid)
    assert one(engine, "SELECT approved_limit FROM ops.credit_overrides WHERE id = :i", i=oid) == 2_000_000
    # weak's neighbour mid A -> BBB: a downgrade to a 1,000,000 limit: any second officer
    down = call(engine, credit.propose_override, actor=alice, merchant_id=scored["mid"],
                new_grade="BBB", reason_code="adverse_news", reason="负面", expires_on=IN_30_DAYS)
    call(engine, credit.approve_override, actor=bob, override_id=down)
    assert one(engine, "SELECT status FROM ops.credit_overrides WHERE id = :i", i=down) == "approved"


def rescore(engine, card):
    with engine.begin() as conn:
        return credit_engine.score_all(conn, card)


def test_an_override_is_re_examined_when_a_new_score_moves_the_merchant(engine, make_actor, scored):
    alice, head = make_actor("risk"), make_actor("risk", "manager")
    oid = override(engine, alice, head, scored["weak"], "BBB")
    rescore(engine, scored["card"])                               # nothing moved
    with engine.connect() as conn:
        assert credit.overrides_to_review(conn=conn, actor=alice).empty
    # weak loses its dispute history: 150 + 225 + 225 = 600 -> A
    set_features(engine, scored["weak"], cert_level="none", disputes_lost=0, avg_stars=4.0)
    rescore(engine, scored["card"])
    with engine.connect() as conn:
        due = credit.overrides_to_review(conn=conn, actor=alice)
    assert due[["id", "basis_grade", "review_grade", "new_grade"]].to_dict("records") == [
        {"id": oid, "basis_grade": "BB", "review_grade": "A", "new_grade": "BBB"}]
    call(engine, credit.review_override, actor=alice, override_id=oid, keep=True, note="担保仍有效")
    with engine.connect() as conn:
        assert credit.overrides_to_review(conn=conn, actor=alice).empty
    # moves again (two disputes lost: 150 + 100 + 225 = 475 -> B): revoked, the score holds
    set_features(engine, scored["weak"], cert_level="none", disputes_lost=2, avg_stars=4.0)
    rescore(engine, scored["card"])
    call(engine, credit.review_override, actor=alice, override_id=oid, keep=False, note="恶化")
    assert rows(engine, """SELECT grade, effective_grade, is_override FROM ops.merchant_credit
                           WHERE merchant_id = :m""", m=scored["weak"]) == [
        {"grade": "B", "effective_grade": "B", "is_override": False}]
    trail = rows(engine, """SELECT action FROM ops.audit_log WHERE entity_type = 'credit_override'
                            AND entity_id = :i ORDER BY id""", i=str(oid))
    assert [r["action"] for r in trail][-2:] == ["credit.override.keep", "credit.override.revoke"]


def deposit_default(engine, buyer, *, days_ago: int) -> None:
    c = city(engine)
    seller = trust_rows.merchant(engine, city_id=c)
    listing = trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine), city_id=c)
    one(engine, """INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price,
                                           amount, deposit_amount, status, escrow_state,
                                           cancelled_by, created_at, deposit_paid_at, cancelled_at)
                   VALUES (:l, :b, :s, 1, 200000, 200000, 5000, 'cancelled', 'refunded', 'buyer',
                           now() - make_interval(days => :d + 3), now() - make_interval(days => :d + 2),
                           now() - make_interval(days => :d))""",
        l=listing, b=buyer, s=seller, d=days_ago)


def test_overridden_merchants_later_outcomes_against_peers_of_the_same_grade(engine, make_actor, scored, tmp_path):
    alice, head = make_actor("risk"), make_actor("risk", "manager")
    peers = [merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=3.5)   # 650 AA
             for _ in range(3)]
    for p in peers:
        purchase(engine, p, 40_000_000)
    run = rescore(engine, scored["card"])
    oid = override(engine, alice, head, scored["good"], "AA")        # AAA -> AA
    # 20 days ago, all of it: the run, the approval; then the overridden merchant and one
    # of the three AA peers default on a deposit within the window, another peer after it.
    one(engine, "UPDATE ops.credit_runs SET finished_at = finished_at - interval '20 days' WHERE id = :r", r=run)
    age_override(engine, oid, days=20)
    deposit_default(engine, scored["good"], days_ago=10)
    deposit_default(engine, peers[0], days_ago=5)
    deposit_default(engine, peers[1], days_ago=25)                   # before the run: not an outcome
    with engine.connect() as conn:
        table = credit.override_outcomes(conn=conn, actor=alice)
    got = table.set_index("grade").loc["AA"]
    assert (got["overridden"], got["overridden_bad"], got["peers"], got["peers_bad"]) == (1, 1, 3, 1)
    assert (got["overridden_rate"], got["peers_rate"]) == pytest.approx((1.0, 1 / 3))
    assert got["window_open"] == 4                                   # 60-day window: still open
