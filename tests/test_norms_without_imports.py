"""A series' usual discount leaves parallel imports out (migration 116): an import has no
Chinese guide price, so its "discount" off the domestic guide price says nothing about the
domestic market. Hand-computed on hand-built listings: the figure the authenticity scan
flags against and the match score caps at, the series -> brand fallback it counts for, the
scan's flag, and the match score, which never applies the domestic figure to an import (its
own price reference does, through the scan's flag: console/imports/prices.py).

The market (build_world: Toyota, joint venture), every listing live at a guide price of
200,000 (凯美瑞) or 300,000 (汉兰达):
- 凯美瑞, domestic: 下10, 11, 12, 13, 14 and 21点 -> median 12.5 of six;
- 汉兰达, domestic: 下20, 21, 22, 23点 -> four, too few for its own median: its brand's ten
  joint-venture listings, 10 11 12 13 14 | 20 21 21 22 23 -> (14 + 20) / 2 = 17.0;
- the imports at odd prices: a 凯美瑞 at 下40点 and a 汉兰达 at 下45点. Counted, they would make
  凯美瑞 13.0 (median of seven) and give 汉兰达 five listings of its own, 22.0.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from console.services import listing_review, match_eval, matching
from tests.test_matching_support import AS_OF, build_world

GAP = 8.0


@pytest.fixture
def world(engine):
    return build_world(engine)


def q(engine, sql: str, **params):
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else []


def import_listing(world, *, seller: int, trim_id: int, guide: float, points: float) -> int:
    """A parallel import (flag and details: a Gulf-spec car in stock at Tianjin)."""
    listing = world.listing(merchant_id=seller, trim_id=trim_id, guide_price=guide,
                            price=guide * (100 - points) / 100, parallel=True)
    q(world.engine, """INSERT INTO app.listing_imports (listing_id, market_version, port,
                                                       availability)
                       VALUES (:l, 'middle_east', 'tianjin', 'in_stock')""", l=listing)
    return listing


@pytest.fixture
def market(world):
    seller, importer = world.merchant(), world.merchant(merchant_type="parallel_import")
    out = {"seller": seller, "importer": importer}
    for points in (10, 11, 12, 13, 14, 21):
        out[f"camry_{points}"] = world.listing(merchant_id=seller,
                                               price=200_000 * (100 - points) / 100)
    for points in (20, 21, 22, 23):
        out[f"highlander_{points}"] = world.listing(
            merchant_id=seller, trim_id=world.other_series_trim, guide_price=300_000,
            price=300_000 * (100 - points) / 100)
    return out


def add_imports(world, market) -> None:
    market["camry_import"] = import_listing(world, seller=market["importer"],
                                            trim_id=world.trim_a, guide=200_000, points=40)
    market["highlander_import"] = import_listing(world, seller=market["importer"],
                                                 trim_id=world.other_series_trim,
                                                 guide=300_000, points=45)


def norms(engine, world) -> dict[str, tuple]:
    rows = q(engine, """SELECT series_id, usual_points, basis, listings FROM ops.series_norms
                        WHERE series_id IN (SELECT series_id FROM app.trims WHERE id IN (:a, :b))""",
             a=world.trim_a, b=world.other_series_trim)
    camry = q(engine, "SELECT series_id FROM app.trims WHERE id = :t", t=world.trim_a)[0][0]
    return {("camry" if r[0] == camry else "highlander"): tuple(r[1:]) for r in rows}


def refresh(engine) -> int:
    with engine.begin() as conn:
        return matching.refresh_series_norms(conn)


def test_an_import_at_an_odd_price_leaves_the_usual_discount_unchanged(engine, world, market):
    refresh(engine)
    want = {"camry": (12.5, "series", 6), "highlander": (17.0, "brand", 4)}
    assert norms(engine, world) == want
    add_imports(world, market)
    # nothing moved: no series queued for a rematch, the same figures and counts
    assert refresh(engine) == 0
    assert norms(engine, world) == want
    # the function the scan and the demo read gives them too (5 = the scan's minimum sample)
    derived = {r[0]: tuple(r[1:]) for r in q(engine, """
        SELECT series_id, usual_points, basis, listings FROM ops.series_norms_derived(5)""")}
    assert derived[world.series_id] == want["camry"]


def test_the_scan_flags_domestic_listings_against_the_domestic_figure_only(engine, world, market):
    add_imports(world, market)
    with engine.begin() as conn:
        raised = listing_review.raise_listing_flags(conn=conn, price_gap=GAP)
    rows = q(engine, """SELECT listing_id, detail FROM ops.listing_flags
                        WHERE kind = 'price_below_guide' ORDER BY listing_id""")
    # 下21点 is beyond 12.5 + 8 = 20.5 (with the import counted, 13 + 8 = 21: not beyond). The
    # imports are not judged on a guide price, and have no reference of their own (one each
    # of their trim and version, under the 3 a reference needs): no flag.
    assert [(r[0], r[1]) for r in rows] == [
        (market["camry_21"], {"points": 21.0, "usual": 12.5, "gap": GAP, "basis": "series"})]
    assert raised["price_below_guide"] == 1


def test_matching_never_caps_an_import_at_the_domestic_usual_discount(engine, world, market):
    add_imports(world, market)
    refresh(engine)                       # the figures, without the scan's flags
    buyer = world.merchant()
    req = world.request(merchant_id=buyer, max_price=200_000)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, top_k=10, as_of=AS_OF)
    comp = {r[0]: r[1] for r in q(engine, """SELECT listing_id, components
                                              FROM ops.match_suggestions WHERE request_id = :r""",
                                  r=req)}
    # Same city, no freight. The domestic 下21点 is 0.5 beyond 12.5 + 8: counted as if at
    # 下12.5点 (175,000: cost 100 x 25,000 / 200,000 = 12.5) and 0.5 off. The import at 下40点
    # is its own price: 100 x 80,000 / 200,000 = 40.0, nothing off.
    domestic, imported = comp[market["camry_21"]], comp[market["camry_import"]]
    assert (domestic["cost"], domestic["norm"], domestic["over_norm"]) == (12.5, -0.5, 0.5)
    assert (imported["cost"], imported["norm"], imported["over_norm"]) == (40.0, 0, 0)
    assert (comp[market["camry_14"]]["cost"], comp[market["camry_14"]]["norm"]) == (14.0, 0)


def test_the_offline_evaluation_scores_an_import_as_matching_does(engine, world, market):
    add_imports(world, market)
    refresh(engine)
    buyer = world.merchant()
    req = world.request(merchant_id=buyer, max_price=200_000)
    q(engine, """INSERT INTO ops.matches (request_id, listing_id, source, created_at)
                 VALUES (:r, :l, 'auto', now())""", r=req, l=market["camry_14"])
    with engine.connect() as conn:
        pairs = match_eval.candidate_pairs(conn).set_index("listing_id")
    usual = pairs["usual_points"]
    assert usual[market["camry_21"]] == 12.5
    assert usual.isna()[market["camry_import"]]
