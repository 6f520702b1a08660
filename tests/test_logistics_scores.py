"""Carrier scores (console/logistics/scores.py) on hand-built deliveries, claims and ratings:
each rate and score below is worked out by hand from the module's formula."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from console import clock
from console.logistics import scores
from tests import lgx_rows as lx


@pytest.fixture
def w(engine):
    return lx.world(engine)


def _scores(engine, ids=None):
    with engine.connect() as conn:
        return scores.carrier_scores(conn, carrier_ids=ids)


def test_rates_and_score_of_a_carrier_worked_by_hand(engine, w, make_actor):
    ops = make_actor("ops").id
    a = lx.carrier(engine)
    wanted = clock.today() - timedelta(days=10)
    on_day = lx.request(engine, w, carrier_id=a, wanted_by=wanted, delivered_on=wanted)
    early_damaged = lx.request(engine, w, carrier_id=a, wanted_by=wanted,
                               delivered_on=wanted - timedelta(days=2))
    # 00:30 the next day in Shanghai is still the wanted day in UTC: late all the same
    late = lx.request(engine, w, carrier_id=a, wanted_by=wanted,
                      delivered_on=wanted + timedelta(days=1), delivered_hour=0)
    last_minute = lx.request(engine, w, carrier_id=a, wanted_by=wanted, delivered_on=wanted,
                             delivered_hour=23)
    lx.request(engine, w, carrier_id=a, status="in_transit")        # not delivered: not counted
    lx.claim(engine, request_id=early_damaged, carrier_id=a, status="settled", staff_id=ops)
    lx.claim(engine, request_id=on_day, carrier_id=a, status="rejected", staff_id=ops)
    lx.claim(engine, request_id=last_minute, carrier_id=a, status="responded", staff_id=ops)
    lx.rating(engine, request_id=on_day, stars=5)
    lx.rating(engine, request_id=early_damaged, stars=3, complaint=True)
    del late

    s = _scores(engine, [a])[a]
    assert (s.delivered, s.on_time, s.damaged, s.rated, s.complaints, s.stars_total) == (
        4, 3, 1, 2, 1, 8)
    assert (s.on_time_rate, s.damage_rate, s.complaint_rate, s.avg_rating) == (
        D("0.7500"), D("0.2500"), D("0.5000"), D("4.00"))
    # 40 × 0.75 + 30 × 0.75 + 15 × 0.5 + 15 × (4 − 1) / 4 = 30 + 22.5 + 7.5 + 11.25 = 71.25
    assert s.score == D("71.3")


def test_a_settled_delay_claim_makes_an_on_time_delivery_late_and_missing_parts_drop_out(
        engine, w, make_actor):
    ops = make_actor("ops").id
    b = lx.carrier(engine)
    first = lx.request(engine, w, carrier_id=b)
    lx.request(engine, w, carrier_id=b)
    lx.claim(engine, request_id=first, carrier_id=b, kind="delay", amount=500, status="settled",
             settled_amount=300, staff_id=ops)
    s = _scores(engine, [b])[b]
    assert (s.delivered, s.on_time, s.damaged, s.rated) == (2, 1, 0, 0)
    assert (s.on_time_rate, s.damage_rate, s.complaint_rate, s.avg_rating) == (
        D("0.5000"), D("0.0000"), None, None)
    # no rating: (40 × 0.5 + 30 × 1) / 70 × 100 = 50 / 70 × 100 = 71.428… → 71.4
    assert s.score == D("71.4")


def test_thirds_are_exact_and_a_new_carrier_has_no_score(engine, w):
    e = lx.carrier(engine)
    new = lx.carrier(engine)
    for stars in (5, 4, 4):
        lx.rating(engine, request_id=lx.request(engine, w, carrier_id=e), stars=stars)
    got = _scores(engine, [e, new])
    s = got[e]
    assert (s.on_time_rate, s.damage_rate, s.complaint_rate, s.avg_rating) == (
        D("1.0000"), D("0.0000"), D("0.0000"), D("4.33"))
    # 40 + 30 + 15 + 15 × (13/3 − 1) / 4 = 85 + 12.5 = 97.5 (exact: the stars' mean is 13/3)
    assert s.score == D("97.5")
    n = got[new]
    assert (n.delivered, n.rated, n.on_time_rate, n.avg_rating, n.score) == (0, 0, None, None,
                                                                             None)


def test_claims_count_against_the_claims_carrier_only_and_only_when_settled(engine, w,
                                                                              make_actor):
    ops = make_actor("ops").id
    a, b = lx.carrier(engine), lx.carrier(engine)
    req_a = lx.request(engine, w, carrier_id=a)
    lx.request(engine, w, carrier_id=b)
    before = _scores(engine)
    assert before[a].score == before[b].score == D("100.0")
    claim = lx.claim(engine, request_id=req_a, carrier_id=a, status="open", staff_id=ops)
    assert _scores(engine)[a].score == D("100.0")       # an open claim is no outcome yet
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""UPDATE lgx.claims SET status = 'settled', settled_amount = 1000,
                                 decided_by = {ops}, decided_at = now() WHERE id = {claim}""")
    after = _scores(engine)
    # damage 1/1: 40 × 1 + 30 × 0 = 40 over the 70 of the parts with data → 57.1
    assert (after[a].damage_rate, after[a].score) == (D("1.0000"), D("57.1"))
    assert after[b].score == D("100.0")


def test_all_carriers_by_default_an_empty_list_is_none_and_the_order(engine, w):
    good, bad, new = lx.carrier(engine), lx.carrier(engine), lx.carrier(engine)
    lx.request(engine, w, carrier_id=good)
    wanted = clock.today() - timedelta(days=5)
    lx.request(engine, w, carrier_id=bad, wanted_by=wanted, delivered_on=wanted + timedelta(3))
    everyone = _scores(engine)
    assert sorted(everyone) == sorted([good, bad, new])
    assert _scores(engine, []) == {}
    assert everyone[bad].score == D("42.9")            # 30 / 70 × 100 = 42.857…
    ranked = sorted([new, bad, good], key=lambda c: scores.order_key(everyone[c]))
    assert ranked == [good, bad, new]
    assert scores.order_key(None) == scores.order_key(everyone[new])


def test_combine_with_every_part():
    assert scores.combine(on_time_rate=None, damage_rate=None, complaint_rate=None,
                          avg_rating=None) is None
    from fractions import Fraction as F
    # 40 × 0.9 + 30 × 0.95 + 15 × 0.9 + 15 × 0.875 = 36 + 28.5 + 13.5 + 13.125 = 91.125 → 91.1
    assert scores.combine(on_time_rate=F(9, 10), damage_rate=F(1, 20),
                          complaint_rate=F(1, 10), avg_rating=F(9, 2)) == D("91.1")
