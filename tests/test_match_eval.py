"""The offline evaluation (issue 16) on a small hand-built history, its figures computed by
hand: three requests with board history, two of which closed."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console.services import match_eval
from tests.test_matching_support import AS_OF, build_world


def card(engine, request_id: int, listing_id: int, stage: str, *, hours: float = 0) -> int:
    with engine.begin() as conn:
        return conn.execute(sa.text("""
            INSERT INTO ops.matches (request_id, listing_id, source, stage, lost_reason, created_at)
            VALUES (:r, :l, 'auto', :s, CASE WHEN :s = 'lost' THEN 'price_too_high' END, :at)
            RETURNING id"""), {"r": request_id, "l": listing_id, "s": stage,
                               "at": AS_OF + timedelta(hours=hours)}).scalar_one()


@pytest.fixture
def history(engine):
    w = build_world(engine)
    w.city_west_of("近城", "上海", km=469)
    w.city_west_of("远城", "上海", km=936)
    b1, b2, b3 = w.merchant(), w.merchant(), w.merchant()
    s1, s2, s3 = w.merchant(), w.merchant(), w.merchant()
    # Request 1 (the audit's request 4835): the buyer took the cheaper, farther car.
    near = w.listing(merchant_id=s1, price=266_200, guide_price=340_000, city="近城", quantity=3)
    far = w.listing(merchant_id=s2, price=256_600, guide_price=340_000, city="远城", quantity=3)
    r1 = w.request(merchant_id=b1, quantity=3, max_price=300_000)
    # Request 2: one candidate, and it closed.
    only = w.listing(merchant_id=s3, trim_id=w.trim_b, price=200_000, guide_price=220_000)
    r2 = w.request(merchant_id=b2, trim_id=w.trim_b, max_price=210_000)
    # Request 3: a card that went nowhere.
    other = w.listing(merchant_id=s3, trim_id=w.other_series_trim, price=280_000,
                      guide_price=300_000)
    r3 = w.request(merchant_id=b3, trim_id=w.other_series_trim, series_id=None, max_price=290_000)
    with engine.begin() as conn:      # request 3 is of the other series
        conn.execute(sa.text("""UPDATE app.requests SET series_id = (SELECT series_id FROM app.trims
                                WHERE id = :t) WHERE id = :r"""), {"t": w.other_series_trim, "r": r3})
    card(engine, r1, near, "lost")
    card(engine, r1, far, "won", hours=1)
    card(engine, r2, only, "won")
    card(engine, r3, other, "contacted")
    return {"r1": r1, "r2": r2, "r3": r3, "near": near, "far": far, "only": only, "other": other}


def test_ranks_of_the_closing_listings_under_both_policies(engine, history):
    with engine.connect() as conn:
        ranked = match_eval.rank_pairs(match_eval.candidate_pairs(conn))
    got = {(int(r.request_id), int(r.listing_id)): (int(r.rank_previous), int(r.rank_current))
           for r in ranked.itertuples()}
    h = history
    assert got == {
        # the previous score saturated price on both and ranked the nearer one first
        (h["r1"], h["near"]): (1, 2), (h["r1"], h["far"]): (2, 1),
        (h["r2"], h["only"]): (1, 1), (h["r3"], h["other"]): (1, 1)}


def test_figures_computed_by_hand(engine, history):
    with engine.connect() as conn:
        figures = match_eval.evaluate(conn)
    prev, cur = figures["previous"], figures["current"]
    # closed requests: 1 (closing rank 2 previous / 1 current) and 2 (rank 1 under both)
    assert (prev.closed_requests, cur.closed_requests) == (2, 2)
    assert (prev.hit_rate_at_1, cur.hit_rate_at_1) == (0.5, 1.0)
    assert (prev.hit_rate_at_5, cur.hit_rate_at_5) == (1.0, 1.0)
    assert prev.ndcg == pytest.approx((1 / math.log2(3) + 1) / 2)     # 0.8155
    assert cur.ndcg == 1.0
    assert (prev.mean_rank, cur.mean_rank) == (1.5, 1.0)
    # top 5 of both: 4 pairs; taken forward: the two that won (near was lost, other stalled)
    assert (prev.acceptance, cur.acceptance) == (0.5, 0.5)


def test_a_closing_listing_flagged_at_the_time_is_a_miss_for_the_current_policy(engine, history):
    with engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, raised_at)
                                SELECT id, merchant_id, 'reported_fake', :at FROM app.listings
                                WHERE id = :l"""), {"l": history["only"], "at": AS_OF - timedelta(days=1)})
    with engine.connect() as conn:
        figures = match_eval.evaluate(conn)
    assert figures["current"].hit_rate_at_1 == 0.5          # request 2's closer not suggested
    assert figures["current"].ndcg == 0.5
    assert figures["previous"].hit_rate_at_1 == 0.5
