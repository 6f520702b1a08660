"""ETL job segment_kpis: daily KPIs by merchant segment and by brand, on the ETL seed
(tests/test_etl.py). Hand-computed values; the segments (brands) add up to mart.daily_kpis;
an incremental run after changes equals a full rebuild; freshness rows for both marts."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from etl import run_all, run_job
from tests.test_etl import change, q, seed

SEGMENT_COLUMNS = (
    "new_registrations", "newly_certified", "active_merchants", "listings_created",
    "requests_created", "live_listings", "open_requests", "requests_with_match",
    "requests_with_deposit", "matches_created", "orders_created", "deposits_paid",
    "deals_completed", "orders_cancelled", "gmv", "fee_amount", "deposit_held",
    "deposit_released", "deposit_refunded", "deposit_disputed", "pay_wechat", "pay_alipay",
    "pay_bank")
BRAND_COLUMNS = ("listings_created", "requests_created", "live_listings", "open_requests",
                 "matches_created", "orders_created", "deals_completed", "gmv")


@pytest.fixture
def seeded(engine):
    seed(engine)
    return engine


def _segment(engine, day: str, tier: int, mtype: str, *cols: str) -> tuple:
    rows = q(engine, f"""SELECT {', '.join(cols)} FROM mart.daily_kpis_segment
                         WHERE day = :d AND tier_level = :t AND merchant_type = :m""",
             d=day, t=tier, m=mtype)
    return tuple(rows[0]) if rows else None


def _brand(engine, day: str, brand: int, *cols: str) -> tuple:
    rows = q(engine, f"""SELECT {', '.join(cols)} FROM mart.daily_kpis_brand
                         WHERE day = :d AND brand_id = :b""", d=day, b=brand)
    return tuple(rows[0]) if rows else None


def test_segments_hold_the_hand_computed_values(seeded):
    run_all(engine=seeded)
    # Seed: M1 4S in Shanghai (tier 1), M2 and M4 secondary dealers in Luoyang (tier 4),
    # M3 resource dealer in Shanghai. 02-15: M2 buys listing 2 from M1 (95,000, fee 500).
    # The deal goes to the buyer's segment; each side's event makes one active merchant.
    # Request 1 was matched that day: not open at the end of it (issue 15: end of day).
    assert _segment(seeded, "2025-02-15", 4, "secondary", "active_merchants", "deals_completed",
                    "gmv", "fee_amount", "open_requests") == (1, 1, Decimal("95000.00"),
                                                              Decimal("500.00"), 0)
    assert _segment(seeded, "2025-02-14", 4, "secondary", "open_requests") == (1,)
    # M1 on 02-15: its own event, and only listing 1 live at the end of the day (listing 2
    # was sold that day: it is not live at the day's end); the seller gets no deal.
    assert _segment(seeded, "2025-02-15", 1, "4s", "active_merchants", "live_listings",
                    "deals_completed", "gmv") == (1, 1, 0, Decimal("0.00"))
    # 02-11: M4 (buyer) orders listing 1 with a 10,000 deposit paid by Alipay (released).
    assert _segment(seeded, "2025-02-11", 4, "secondary", "orders_created", "deposits_paid",
                    "deposit_released", "pay_alipay") == (1, 1, Decimal("10000.00"),
                                                          Decimal("10000.00"))
    assert _segment(seeded, "2025-02-11", 1, "4s", "orders_created", "deposits_paid") == (0, 0)
    # Registrations and first approvals to the merchant's own segment.
    assert _segment(seeded, "2025-02-03", 1, "resource", "new_registrations") == (1,)
    assert _segment(seeded, "2025-01-23", 4, "secondary", "newly_certified") == (1,)
    # Request 1 (M2, 01-25) was matched and got a deposit; match 1 (01-26) counts to M2.
    assert _segment(seeded, "2025-01-25", 4, "secondary", "requests_created",
                    "requests_with_match", "requests_with_deposit") == (1, 1, 1)
    assert _segment(seeded, "2025-01-26", 4, "secondary", "matches_created") == (1,)
    # A day with nothing for a segment has no row.
    assert _segment(seeded, "2025-01-06", 1, "4s", "new_registrations") is None


def test_brands_hold_the_hand_computed_values(seeded):
    run_all(engine=seeded)
    cols = ("live_listings", "open_requests", "deals_completed", "gmv")
    # End of 02-15: Toyota (1) has listing 1 live; BYD (2) listing 3 live (listing 2 was sold
    # and request 1 matched that day: neither counts at the day's end), and the 95,000 deal
    # of listing 2. The day before, both were still live / open.
    assert _brand(seeded, "2025-02-15", 1, *cols) == (1, 0, 0, Decimal("0.00"))
    assert _brand(seeded, "2025-02-15", 2, *cols) == (1, 0, 1, Decimal("95000.00"))
    assert _brand(seeded, "2025-02-14", 2, "live_listings", "open_requests") == (2, 1)
    assert _brand(seeded, "2025-01-25", 2, "requests_created") == (1,)
    # Matches by the brand of the listing: match 1 (listing 2, BYD), match 2 (listing 1, Toyota).
    assert _brand(seeded, "2025-01-26", 2, "matches_created") == (1,)
    assert _brand(seeded, "2025-02-21", 1, "matches_created", "open_requests") == (1, 1)
    assert _brand(seeded, "2025-02-11", 1, "orders_created") == (1,)


def _sum_mismatches(engine, mart: str, columns: tuple[str, ...]) -> list:
    """Days on which a column summed over the mart's segments (brands) differs from
    mart.daily_kpis (a missing row counts as zero)."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in columns)
    differs = " OR ".join(f"coalesce(s.{c}, 0) <> coalesce(d.{c}, 0)" for c in columns)
    return q(engine, f"""
        WITH s AS (SELECT day, {sums} FROM {mart} GROUP BY day)
        SELECT coalesce(s.day, d.day) AS day FROM s FULL JOIN mart.daily_kpis d USING (day)
        WHERE {differs}""")


def test_segments_and_brands_add_up_to_the_daily_kpis(seeded):
    run_all(engine=seeded)
    assert q(seeded, "SELECT count(DISTINCT (tier_level, merchant_type)) FROM mart.daily_kpis_segment") == [(3,)]
    assert _sum_mismatches(seeded, "mart.daily_kpis_segment", SEGMENT_COLUMNS) == []
    assert _sum_mismatches(seeded, "mart.daily_kpis_brand", BRAND_COLUMNS) == []
    change(seeded)
    run_all(engine=seeded)
    assert _sum_mismatches(seeded, "mart.daily_kpis_segment", SEGMENT_COLUMNS) == []
    assert _sum_mismatches(seeded, "mart.daily_kpis_brand", BRAND_COLUMNS) == []


def _contents(engine) -> dict[str, list[tuple]]:
    out = {}
    for mart, cols in (("mart.daily_kpis_segment", ("day", "tier_level", "merchant_type", *SEGMENT_COLUMNS)),
                       ("mart.daily_kpis_brand", ("day", "brand_id", *BRAND_COLUMNS))):
        col_list = ", ".join(cols)
        out[mart] = [tuple(r) for r in q(engine, f"SELECT {col_list} FROM {mart} ORDER BY {col_list}")]
    return out


def test_incremental_after_changes_equals_full_rebuild(seeded):
    run_job("daily_kpis", engine=seeded)
    before = _contents(seeded)
    change(seeded)
    incremental = run_job("daily_kpis", engine=seeded)
    assert incremental.status == "succeeded" and incremental.rows_in > 0
    after = _contents(seeded)
    assert after != before
    # The change: M4 (tier 4 secondary) buys listing 3 from M3 on 03-05 (180,000, fee 900).
    assert _segment(seeded, "2025-03-05", 4, "secondary", "deals_completed", "gmv",
                    "fee_amount", "active_merchants") == (1, Decimal("180000.00"),
                                                          Decimal("900.00"), 1)
    assert _segment(seeded, "2025-03-05", 1, "resource", "active_merchants", "deals_completed") == (1, 0)
    assert _brand(seeded, "2025-03-05", 2, "deals_completed", "gmv") == (1, Decimal("180000.00"))
    full = run_job("daily_kpis", engine=seeded, full=True)
    assert full.status == "succeeded"
    assert _contents(seeded) == after


def test_a_run_without_changes_writes_nothing_and_freshness_names_both_marts(seeded):
    first = run_job("daily_kpis", engine=seeded)
    again = run_job("daily_kpis", engine=seeded)
    assert (again.status, again.rows_in, again.mart_rows_written) == ("succeeded", 0, 0)
    fresh = q(seeded, """SELECT mart, job, last_run_status, validation_passed FROM mart.freshness
                         WHERE mart LIKE 'mart.daily_kpis_%' ORDER BY mart""")
    assert [tuple(r) for r in fresh] == [
        ("mart.daily_kpis_brand", "daily_kpis", "succeeded", True),
        ("mart.daily_kpis_segment", "daily_kpis", "succeeded", True)]
    assert first.mart_rows_written > 0
    assert q(seeded, "SELECT min(day) FROM mart.daily_kpis_segment") == [(date(2025, 1, 5),)]


def test_funnel_facts_carry_the_merchant_name(seeded):
    run_job("funnel_facts", engine=seeded)
    assert q(seeded, "SELECT merchant_id, merchant_name FROM mart.funnel_facts ORDER BY 1") == [
        (1, "沪上4S"), (2, "洛阳二网"), (3, "资源商甲"), (4, "新来的")]
    with seeded.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET name = '洛阳二网车行', updated_at = now() WHERE id = 2"))
    assert run_job("funnel_facts", engine=seeded).mart_rows_written == 1
    assert q(seeded, "SELECT merchant_name FROM mart.funnel_facts WHERE merchant_id = 2") == [("洛阳二网车行",)]


FLAG_CHANGES = """
-- Request 2 (M2, 02-20, Toyota) gets a paid deposit through a new order.
INSERT INTO app.orders (id, request_id, listing_id, buyer_id, seller_id, quantity, unit_price,
                        amount, deposit_amount, status, escrow_state, created_at,
                        deposit_paid_at, updated_at)
VALUES (4, 2, 1, 2, 1, 1, 180000, 180000, 9000, 'deposit_paid', 'held',
        '2025-03-02 10:00+08', '2025-03-02 11:00+08', now());
-- A new request by M1 on 02-20, matched on 03-03.
INSERT INTO app.requests (id, merchant_id, series_id, quantity, city_id, max_price, needed_by,
                          status, created_at, updated_at)
VALUES (5, 1, 2, 1, 1, 99000, '2025-05-01', 'open', '2025-02-20 15:00+08', now());
INSERT INTO ops.matches (id, request_id, listing_id, source, stage, stage_entered_at,
                         created_at, updated_at)
VALUES (5, 5, 3, 'auto', 'suggested', '2025-03-03 10:00+08', '2025-03-03 10:00+08', now());
-- Listing 3 was entered under the wrong trim: it is a Toyota, not a BYD.
UPDATE app.listings SET trim_id = 1, price = 185000, guide_price = 200000, updated_at = now()
WHERE id = 3;
"""


def test_request_flags_and_brand_moves_follow_incremental_runs(seeded):
    run_all(engine=seeded)
    assert _segment(seeded, "2025-02-20", 4, "secondary", "requests_created",
                    "requests_with_match", "requests_with_deposit") == (1, 1, 0)
    with seeded.begin() as conn:
        conn.connection.cursor().execute(FLAG_CHANGES)
    assert all(r.status == "succeeded" for r in run_all(engine=seeded))
    # The flags turned on the requests' own day, though neither request row changed.
    assert _segment(seeded, "2025-02-20", 4, "secondary", "requests_created",
                    "requests_with_match", "requests_with_deposit") == (1, 1, 1)
    assert _segment(seeded, "2025-02-20", 1, "4s", "requests_created",
                    "requests_with_match", "requests_with_deposit") == (1, 1, 0)
    # Listing 3 moved brand: created on 02-05 under Toyota now, and live there since.
    assert _brand(seeded, "2025-02-05", 1, "listings_created", "live_listings") == (1, 2)
    assert _brand(seeded, "2025-02-05", 2, "listings_created", "live_listings") == (0, 1)
    # Summed over segments and brands, still the platform's figures recounted day by day.
    assert _sum_mismatches(seeded, "mart.daily_kpis_segment", SEGMENT_COLUMNS) == []
    assert _sum_mismatches(seeded, "mart.daily_kpis_brand", BRAND_COLUMNS) == []
    incremental = _contents(seeded)
    assert run_job("daily_kpis", engine=seeded, full=True).status == "succeeded"
    assert _contents(seeded) == incremental


MOVES = """
-- Order 1's completion was entered on the wrong day: 02-18, not 02-15.
UPDATE app.orders SET completed_at = '2025-02-18 10:00+08', updated_at = now() WHERE id = 1;
-- Match 2 was made on 02-22, not 02-21.
UPDATE ops.matches SET created_at = '2025-02-22 10:00+08', updated_at = now() WHERE id = 2;
"""


def test_a_timestamp_moved_to_another_day_leaves_nothing_on_the_old_day(seeded):
    run_all(engine=seeded)
    assert _segment(seeded, "2025-02-15", 4, "secondary", "deals_completed", "gmv") == \
        (1, Decimal("95000.00"))
    with seeded.begin() as conn:
        conn.connection.cursor().execute(MOVES)
    assert all(r.status == "succeeded" for r in run_all(engine=seeded))
    # The deal (M2 buying, BYD) moved from 02-15 to 02-18, in every mart.
    assert _segment(seeded, "2025-02-15", 4, "secondary", "deals_completed", "gmv") == \
        (0, Decimal("0.00"))
    assert _segment(seeded, "2025-02-18", 4, "secondary", "deals_completed", "gmv",
                    "fee_amount") == (1, Decimal("95000.00"), Decimal("500.00"))
    assert _brand(seeded, "2025-02-15", 2, "deals_completed", "gmv") == (0, Decimal("0.00"))
    assert _brand(seeded, "2025-02-18", 2, "deals_completed", "gmv") == (1, Decimal("95000.00"))
    assert q(seeded, "SELECT day, deals_completed FROM mart.daily_kpis WHERE day IN "
                     "('2025-02-15', '2025-02-18') ORDER BY day") == [
        (date(2025, 2, 15), 0), (date(2025, 2, 18), 1)]
    # The match moved to 02-22.
    assert _brand(seeded, "2025-02-21", 1, "matches_created") in (None, (0,))
    assert _brand(seeded, "2025-02-22", 1, "matches_created") == (1,)
    assert _sum_mismatches(seeded, "mart.daily_kpis_segment", SEGMENT_COLUMNS) == []
    incremental = _contents(seeded)
    assert run_job("daily_kpis", engine=seeded, full=True).status == "succeeded"
    assert _contents(seeded) == incremental


def test_days_since_the_last_run_get_their_live_figures_from_the_kept_moves(seeded):
    """An incremental run writes the live-listing / open-request snapshot only from the first
    day whose kept moves changed, or from the last day a run wrote one: days the jobs did not
    run in between (here: the last three days' snapshot rows taken away, as if the last run
    were three days ago) are written by the next run, whatever its batch touched."""
    run_job("daily_kpis", engine=seeded)
    gone = """DELETE FROM {mart} WHERE day > mart.cn_date(now()) - 3"""
    with seeded.begin() as conn:
        for mart in ("mart.daily_kpis_segment", "mart.daily_kpis_brand"):
            conn.execute(sa.text(gone.format(mart=mart)))
        # The next run's batch: one login today, no listing or request.
        conn.execute(sa.text("""INSERT INTO app.events (merchant_id, event_type, occurred_at)
                                SELECT min(id), 'login', now() FROM app.merchants"""))
    assert q(seeded, """SELECT count(*) FROM mart.daily_kpis_segment
                        WHERE day > mart.cn_date(now()) - 3""") == [(0,)]
    assert run_job("daily_kpis", engine=seeded).status == "succeeded"
    incremental = _contents(seeded)
    today_live = q(seeded, """SELECT sum(live_listings) FROM mart.daily_kpis_segment
                              WHERE day = mart.cn_date(now())""")[0][0]
    assert today_live == q(seeded, "SELECT live_listings FROM mart.daily_kpis "
                                   "WHERE day = mart.cn_date(now())")[0][0]
    assert today_live > 0
    assert run_job("daily_kpis", engine=seeded, full=True).status == "succeeded"
    assert _contents(seeded) == incremental
