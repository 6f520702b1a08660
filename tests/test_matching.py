"""Automatic suggestions on hand-built cases: candidate rules, score order, recompute paths."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock
from console.services import matching
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


def suggested(engine, request_id: int) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT listing_id FROM ops.match_suggestions WHERE request_id = :r ORDER BY rank"),
            {"r": request_id})]


def all_suggestions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            """SELECT request_id, listing_id, rank, score, components
               FROM ops.match_suggestions ORDER BY request_id, rank"""))]


def full(engine, k: int = 5):
    with engine.begin() as conn:
        return matching.rematch_full(conn=conn, top_k=k, as_of=AS_OF)


@pytest.mark.parametrize("change, expected_match", [
    ({}, True),
    ({"color": "红"}, False),                        # buyer accepts 白/黑 only
    ({"price": 190_000.01}, False),                   # above max price 190,000
    ({"price": 190_000}, True),                       # exactly the max is fine
    ({"quantity": 2}, False),                         # buyer wants 3
    ({"quantity": 3}, True),
    ({"days_after_need": 1}, False),                  # available the day after it is needed
    ({"days_after_need": 0}, True),                   # available on the day it is needed
    ({"status": "sold"}, False),
    ({"trim": "b"}, False),                           # other trim of the series
    ({"trim": "other"}, False),
])
def test_candidate_rules(engine, world, change, expected_match):
    buyer, seller = world.merchant(), world.merchant()
    trim = {"b": world.trim_b, "other": world.other_series_trim}.get(change.pop("trim", None))
    needed_by = clock.today() + timedelta(days=60)
    if "days_after_need" in change:
        change["available_from"] = needed_by + timedelta(days=change.pop("days_after_need"))
    listing = world.listing(merchant_id=seller, quantity=change.pop("quantity", 5),
                            trim_id=trim, **change)
    req = world.request(merchant_id=buyer, colors=["白", "黑"], quantity=3, max_price=190_000,
                        needed_by=needed_by)
    full(engine)
    assert suggested(engine, req) == ([listing] if expected_match else [])


def test_empty_colour_list_accepts_any_colour(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    red = world.listing(merchant_id=seller, color="红")
    req = world.request(merchant_id=buyer, colors=[])
    full(engine)
    assert suggested(engine, req) == [red]


def test_series_level_request_takes_every_trim_of_the_series(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    a = world.listing(merchant_id=seller, trim_id=world.trim_a, price=170_000)
    b = world.listing(merchant_id=seller, trim_id=world.trim_b, price=185_000, guide_price=220_000)
    world.listing(merchant_id=seller, trim_id=world.other_series_trim, price=150_000,
                  guide_price=300_000)
    req = world.request(merchant_id=buyer, trim_id=None)
    full(engine)
    assert sorted(suggested(engine, req)) == sorted([a, b])


def test_suspended_seller_and_own_listings_are_excluded(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    suspended = world.merchant(status="suspended")
    ok = world.listing(merchant_id=seller)
    world.listing(merchant_id=suspended)
    world.listing(merchant_id=buyer)                  # the buyer's own stock
    req = world.request(merchant_id=buyer)
    full(engine)
    assert suggested(engine, req) == [ok]


def test_score_orders_cheaper_nearer_fresher_first(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    best = world.listing(merchant_id=seller, price=160_000, city="上海", published_days_ago=0)
    far = world.listing(merchant_id=seller, price=160_000, city="乌鲁木齐", published_days_ago=0)
    dear = world.listing(merchant_id=seller, price=188_000, city="上海", published_days_ago=0)
    stale = world.listing(merchant_id=seller, price=160_000, city="上海", published_days_ago=40)
    req = world.request(merchant_id=buyer, city="上海")
    full(engine)
    assert suggested(engine, req) == [best, stale, far, dear]


def test_components_are_stored_and_add_up_to_the_score(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    world.listing(merchant_id=seller, price=180_000, city="杭州", published_days_ago=3)
    req = world.request(merchant_id=buyer, city="上海", max_price=190_000)
    full(engine)
    (_, _, rank, score, comp), = all_suggestions(engine)
    assert rank == 1
    assert 150 < comp["km"] < 180                     # 上海–杭州 ≈ 165 km great-circle
    km = comp["km"]
    freight = 1.5 * 1.25 * km                         # ¥1.5 per car-km, road 1.25 x great-circle
    assert comp["freight"] == pytest.approx(freight, abs=1)
    assert comp["saving"] == pytest.approx(190_000 - 180_000 - freight, abs=1)
    # 1 point = 1% of the buyer's maximum, on the delivered cost, no cap
    assert comp["cost"] == pytest.approx(100 * (10_000 - freight) / 190_000, abs=0.002)
    assert comp["credit"] == 2.0                      # neutral: half of 4, no ratings yet
    assert comp["grade"] is None
    assert comp["freshness"] == pytest.approx(2 * 0.5 ** (3 / 7), abs=0.001)   # half-life 7 days
    assert comp["response"] == 1.5                    # no history: half of 3
    assert comp["norm"] == 0                          # no usual discount known: no deduction
    assert comp["available"] == 2
    total = sum(comp[name] for name in matching.COMPONENTS)
    assert float(score) == pytest.approx(total, abs=1e-9)


def test_seller_response_history_moves_the_score(engine, world, make_actor):
    buyer, quiet, lively = world.merchant(), world.merchant(), world.merchant()
    q = world.listing(merchant_id=quiet)
    lv = world.listing(merchant_id=lively)
    other_buyer = world.merchant()
    other_req = world.request(merchant_id=other_buyer)
    with engine.begin() as conn:     # history: the quiet seller went silent, the lively one answered
        for listing, stage, reason in ((q, "lost", "seller_unresponsive"), (lv, "contacted", None)):
            conn.execute(sa.text("""INSERT INTO ops.matches (request_id, listing_id, source, stage, lost_reason)
                                    VALUES (:r, :l, 'manual', :s, :why)"""),
                         {"r": other_req, "l": listing, "s": stage, "why": reason})
    req = world.request(merchant_id=buyer)
    full(engine)
    assert suggested(engine, req) == [lv, q]
    comps = {r[1]: r[4] for r in all_suggestions(engine) if r[0] == req}
    assert comps[lv]["response_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert comps[q]["response_rate"] == pytest.approx(1 / 3, abs=1e-3)


def test_top_k_keeps_only_the_best_k(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    listings = [world.listing(merchant_id=seller, price=150_000 + 1000 * i) for i in range(7)]
    req = world.request(merchant_id=buyer)
    full(engine, k=3)
    assert suggested(engine, req) == listings[:3]


def _mixed_market(world):
    buyers = [world.merchant(city=c) for c in ("上海", "成都", "杭州")]
    sellers = [world.merchant(city=c) for c in ("上海", "成都", "乌鲁木齐", "杭州")]
    listings = []
    for i in range(16):
        listings.append(world.listing(
            merchant_id=sellers[i % 4], trim_id=(world.trim_a, world.trim_b)[i % 2],
            price=160_000 + 2_500 * i, guide_price=(200_000, 220_000)[i % 2],
            color=("白", "黑", "红")[i % 3], city=("上海", "成都", "乌鲁木齐", "杭州")[i % 4],
            published_days_ago=i % 9, quantity=1 + i % 3))
    requests = [
        world.request(merchant_id=buyers[0], trim_id=None, max_price=200_000),
        world.request(merchant_id=buyers[1], colors=["白"], max_price=195_000),
        world.request(merchant_id=buyers[2], trim_id=world.trim_b, quantity=2, max_price=210_000),
        world.request(merchant_id=buyers[0], trim_id=None, colors=["黑", "红"], max_price=185_000),
    ]
    return sellers, listings, requests


def test_incremental_listing_updates_equal_a_full_recompute(engine, world):
    sellers, listings, requests = _mixed_market(world)
    full(engine, k=3)
    # A new cheap listing, one that leaves the market, and one whose price rises.
    new = world.listing(merchant_id=sellers[0], trim_id=world.trim_b, price=150_000,
                        guide_price=220_000, quantity=3)
    top = suggested(engine, requests[0])[0]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET status = 'sold' WHERE id = :id"), {"id": top})
        conn.execute(sa.text("UPDATE app.listings SET price = 184_000 WHERE id = :id"),
                     {"id": listings[2]})
        matching.rematch_listings(conn=conn, listing_ids=[new, top, listings[2]], top_k=3, as_of=AS_OF)
    incremental = all_suggestions(engine)
    assert new in [r[1] for r in incremental] and top not in [r[1] for r in incremental]
    full(engine, k=3)
    assert all_suggestions(engine) == incremental


def test_incremental_request_update_equals_full(engine, world):
    _, _, requests = _mixed_market(world)
    full(engine, k=3)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.requests SET accepted_colors = '{}', max_price = 230000 "
                             "WHERE id = :id"), {"id": requests[1]})
        conn.execute(sa.text("UPDATE app.requests SET status = 'cancelled' WHERE id = :id"),
                     {"id": requests[2]})
        matching.rematch_requests(conn=conn, request_ids=[requests[1], requests[2]], top_k=3,
                                  as_of=AS_OF)
    incremental = all_suggestions(engine)
    assert requests[2] not in {r[0] for r in incremental}
    full(engine, k=3)
    assert all_suggestions(engine) == incremental


def test_rematch_changed_uses_the_watermark(engine, world):
    buyer, seller = world.merchant(), world.merchant()
    req = world.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_changed(conn=conn, as_of=AS_OF)          # first run: full
    assert suggested(engine, req) == []
    listing = world.listing(merchant_id=seller)
    with engine.begin() as conn:    # the marketplace stamps updated_at after the watermark
        conn.execute(sa.text("UPDATE app.listings SET updated_at = :t WHERE id = :id"),
                     {"t": AS_OF + timedelta(minutes=5), "id": listing})
        matching.rematch_changed(conn=conn, as_of=AS_OF + timedelta(minutes=10))
    assert suggested(engine, req) == [listing]
    with engine.begin() as conn:    # the seller is suspended: its listings leave the lists
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended', updated_at = :t WHERE id = :id"),
                     {"t": AS_OF + timedelta(minutes=15), "id": seller})
        matching.rematch_changed(conn=conn, as_of=AS_OF + timedelta(minutes=20))
    assert suggested(engine, req) == []


def test_suggestions_for_request_shows_points_per_component(engine, world, make_actor):
    buyer, seller = world.merchant(), world.merchant()
    world.listing(merchant_id=seller, price=180_000)
    req = world.request(merchant_id=buyer)
    full(engine)
    with engine.connect() as conn:
        df = matching.suggestions_for_request(conn=conn, actor=make_actor("bd"), request_id=req)
    assert list(df["rank"]) == [1]
    assert df.loc[0, "pts_credit"] == 2.0             # neutral: half of 4 points
    assert df.loc[0, "pts_response"] == 1.5
    assert df.loc[0, "saving"] == 10_000              # same city: no freight
    assert matching.reason_text(df.loc[0, "why"], lang="zh") == (
        "比最高价低 ¥10,000（同城，免运费）· 卖家未评级 · 1 天前确认有车")
    assert matching.reason_text(df.loc[0, "why"], lang="en") == (
        "¥10,000 under the maximum (same city, no freight) · seller not rated"
        " · stock confirmed a day ago")


def test_bid_offers_rank_by_price_then_score(engine, world, make_actor):
    buyer = world.merchant(city="上海")
    near, far, cheap = (world.merchant(city=c) for c in ("上海", "乌鲁木齐", "成都"))
    req = world.request(merchant_id=buyer, mode="bidding", bid_deadline=AS_OF + timedelta(days=1))
    b_far = world.bid(request_id=req, seller_id=far, price=180_000)
    b_near = world.bid(request_id=req, seller_id=near, price=180_000)
    b_cheap = world.bid(request_id=req, seller_id=cheap, price=175_000)
    with engine.connect() as conn:
        df = matching.bid_offers(conn=conn, actor=make_actor("bd"), request_id=req)
    assert list(df["bid_id"]) == [b_cheap, b_near, b_far]
    assert list(df["rank"]) == [1, 2, 3]
