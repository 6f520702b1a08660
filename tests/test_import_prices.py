"""A parallel import's price reference (console/imports/prices.py) and the authenticity rule
"far below the usual price" judging imports by it (console/services/listing_review.py), with
hand-computed medians.

The world: one trim (guide 1,200,000, a number no import is priced from). Middle-East
versions: the subject S at 900,000 and two more live listings L1 1,180,000 and L2 1,200,000;
deals on two sold Middle-East imports, 1,220,000 (completed 10 days ago) and 1,190,000
(deposit paid 6 days ago). Never counted: a cancelled deal (1,000,000), a deal 120 days old
(500,000), a withdrawn Middle-East listing (700,000), a US version (1,500,000), a Middle-East
import of another trim (2,000,000), a domestic listing of the same trim (1,150,000), an
import whose version was never given (600,000).
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from console import db
from console.imports import prices
from console.services import flag_evidence
from console.services import listing_review as lr
from tests import import_rows as ir
from tests import trust_rows as tr


def scan(**kw) -> dict[str, int]:
    with db.transaction() as conn:
        return lr.raise_listing_flags(conn=conn, **kw)


def reference(trim_id, market, exclude=None):
    with db.connection() as conn:
        return prices.reference_for(conn, trim_id=trim_id, market_version=market,
                                    exclude_listing_id=exclude)


def listing_reference(listing_id):
    with db.connection() as conn:
        return prices.listing_reference(conn, listing_id=listing_id)


@pytest.fixture
def w(engine):
    city = tr.city(engine)
    trim = tr.trim(engine, guide=1_200_000)
    other_trim = tr.trim(engine, guide=2_200_000)
    seller = tr.merchant(engine, city_id=city, name="津港平行进口", merchant_type="parallel_import")
    buyer = tr.merchant(engine, city_id=city, name="沪上车行")

    def imp(price, **kw):
        return ir.imported(engine, merchant_id=seller, trim_id=kw.pop("trim", trim),
                           city_id=city, price=price, **kw)

    s = imp(900_000)
    l1, l2 = imp(1_180_000), imp(1_200_000)
    sold1, sold2 = imp(1_230_000, status="sold"), imp(1_195_000, status="sold")
    ir.deal(engine, listing_id=sold1, buyer=buyer, seller=seller, unit_price=1_220_000)
    ir.deal(engine, listing_id=sold2, buyer=buyer, seller=seller, unit_price=1_190_000,
            status="deposit_paid", days_ago=5)
    ir.deal(engine, listing_id=sold2, buyer=buyer, seller=seller, unit_price=1_000_000,
            status="cancelled")
    old = imp(510_000, status="sold")
    ir.deal(engine, listing_id=old, buyer=buyer, seller=seller, unit_price=500_000, days_ago=120)
    imp(700_000, status="withdrawn")
    us = imp(1_500_000, market="us")
    imp(2_000_000, trim=other_trim, guide=2_200_000)
    tr.listing(engine, merchant_id=seller, trim_id=trim, city_id=city, price=1_150_000,
               guide=1_200_000)
    unknown = imp(600_000, market=None)
    return {"trim": trim, "S": s, "L1": l1, "L2": l2, "us": us, "unknown": unknown}


def test_the_reference_is_the_median_of_recent_deals_and_live_listings_of_the_version(w):
    # S's reference leaves S out: 1,180,000 1,190,000 1,200,000 1,220,000 (even count):
    # the mean of the two middle ones, (1,190,000 + 1,200,000) / 2 = 1,195,000.
    ref = listing_reference(w["S"])
    assert (ref.median, ref.count, ref.deals, ref.listings) == (D("1195000.00"), 4, 2, 2)
    assert (ref.market_version, ref.window_days, ref.min_count, ref.reason) == (
        "middle_east", 90, 3, None)
    # (1,195,000 - 900,000) / 1,195,000 = 24.69 % -> 24.7 points below.
    assert ref.below_points(900_000) == 24.7
    # Everyone of the version (nobody left out): 900,000 1,180,000 1,190,000 1,200,000
    # 1,220,000 (odd count): the middle one, 1,190,000.
    everyone = reference(w["trim"], "middle_east")
    assert (everyone.median, everyone.count, everyone.deals) == (D("1190000.00"), 5, 2)
    # L2's leaves L2 out: 900,000 1,180,000 1,190,000 1,220,000 -> (1,180,000 + 1,190,000) / 2.
    assert listing_reference(w["L2"]).median == D("1185000.00")


def test_too_few_prices_give_no_reference_and_say_how_many(w, settings_env):
    us = listing_reference(w["us"])                 # the only US version: nothing else
    assert (us.median, us.count, us.reason) == (None, 0, "too_few")
    assert reference(w["trim"], "us").count == 1
    assert reference(w["trim"], "us").median is None
    settings_env(CONSOLE_IMPORT_PRICE_MIN_COUNT=1)
    assert reference(w["trim"], "us").median == D("1500000.00")
    assert listing_reference(w["unknown"]).reason == "no_version"


def test_the_window_is_a_setting(w, settings_env):
    settings_env(CONSOLE_IMPORT_PRICE_WINDOW_DAYS=200)
    # The 120-day-old deal now counts: 500,000 1,180,000 1,190,000 1,200,000 1,220,000 -> 1,190,000.
    ref = listing_reference(w["S"])
    assert (ref.median, ref.count, ref.deals, ref.window_days) == (D("1190000.00"), 5, 3, 200)
    settings_env(CONSOLE_IMPORT_PRICE_WINDOW_DAYS=3)
    # Only the live listings are left: 1,180,000 1,200,000: two, fewer than three.
    assert (listing_reference(w["S"]).median, listing_reference(w["S"]).count) == (None, 2)


def test_the_scan_judges_an_import_by_its_reference_not_by_the_guide_price(engine, make_actor, w):
    raised = scan(price_gap=8)
    flagged = {(r["listing_id"], r["kind"]): r["detail"] for r in tr.rows(
        engine, "SELECT listing_id, kind, detail FROM ops.listing_flags")}
    # Only S: 24.7 points below its reference. L1 is 1.3 below its own (1,195,000), L2 above
    # its own, the US version and the version-less import have none; the withdrawn 700,000
    # and the 600,000 import are far below the guide price but are no live domestic listing.
    assert list(flagged) == [(w["S"], "price_below_guide")]
    assert raised["price_below_guide"] == 1
    assert flagged[(w["S"], "price_below_guide")] == {
        "points": 24.7, "gap": 8, "basis": "import_reference", "reference": 1195000.00,
        "count": 4, "market_version": "middle_east"}
    ops = make_actor("ops")
    flag_id = tr.value(engine, "SELECT id FROM ops.listing_flags")
    with db.transaction() as conn:
        view = lr.get_flag(conn=conn, actor=ops, flag_id=flag_id)
    assert view.flag["import_reference"].median == D("1195000.00")
    assert flag_evidence.render(view.flag["evidence"], "zh") == [
        "平行进口车无国内指导价：报价比同车型中东版的参考价 ¥1,195,000（4 个价格的中位数）"
        "低 24.7 点，超出阈值 8 点。"]
    assert flag_evidence.render(view.flag["evidence"], "en") == [
        "A parallel import has no Chinese guide price: the price is 24.7 points below the "
        "Middle East reference of its trim, ¥1,195,000 (the median of 4 prices), more than "
        "the 8-point threshold."]


def test_the_rule_needs_its_gap_and_its_minimum_count(w, settings_env):
    assert scan(price_gap=25)["price_below_guide"] == 0       # 24.7 is not more than 25
    settings_env(CONSOLE_IMPORT_PRICE_MIN_COUNT=5)            # S rests on 4
    assert scan(price_gap=8)["price_below_guide"] == 0


def test_a_page_read_at_once_gives_each_listing_the_reference_it_gets_alone(w):
    with db.connection() as conn:
        page = prices.references_of(conn, listings=[
            (w["S"], w["trim"], "middle_east"), (w["L1"], w["trim"], "middle_east"),
            (w["L2"], w["trim"], "middle_east"), (w["us"], w["trim"], "us"),
            (w["unknown"], w["trim"], None)])
    assert set(page) == {w["S"], w["L1"], w["L2"], w["us"]}
    for name in ("S", "L1", "L2", "us"):
        assert page[w[name]] == listing_reference(w[name]), name
    # The page's median: the middle of an odd count, the mean of an even one, half a fen up.
    assert prices.median([D("3"), D("1"), D("2")]) == D("2.00")
    assert prices.median([D("1.01"), D("1.02")]) == D("1.02")
