"""The demo's sold stock cars are deals, as the desk's sales are (console/demo/inventory.py
through console/inventory/sales.record_order): each has the completed order a live sale
writes, to a buyer that could buy then, at the moment of the sale; and after the real ETL,
GMV's self-operated part over the stock's selling days is what the raw tables say: exactly the
sum of the sold cars' prices. Only the platform's merchant lists self-operated cars, so no other
deal is self-operated (console/demo/generate.py flags none of the generated listings)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from console import db
from console.demo import inventory as demo_inventory
from console.inventory import sales
from console.roles import Actor
from console.services import growth
from console.services.growth import GrowthFilters
from tests.conftest import TEST_PASSWORD_HASH

# The deal's shape, without its ids, price and moment: what a sale writes whoever writes it.
SHAPE = """o.listing_id = c.listing_id AS on_its_listing, o.buyer_id = c.sold_to AS to_its_buyer,
           o.seller_id = l.merchant_id AS by_the_lister, l.status AS listing_status,
           o.quantity, o.deposit_amount, o.fee_amount, o.status, o.escrow_state, o.match_id,
           o.request_id, o.deposit_paid_at, o.cancelled_at, o.cancelled_by,
           o.unit_price = c.sold_price AND o.amount = c.sold_price AS at_its_price,
           o.created_at = c.sold_at AND o.completed_at = c.sold_at AS at_its_moment"""


def rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def test_every_sold_demo_car_is_the_deal_a_desk_sale_writes(demo_engine):
    demo = rows(demo_engine, f"""
        SELECT DISTINCT {SHAPE}, l.updated_at = c.sold_at AS left_the_market_then,
               m.name = :platform AS platform_sells
        FROM inv.stock_cars c
        JOIN app.orders o ON o.id = c.order_id
        JOIN app.listings l ON l.id = c.listing_id
        JOIN app.merchants m ON m.id = o.seller_id
        WHERE c.status = 'sold'""", platform=demo_inventory.PLATFORM)
    sold, with_order, without = rows(demo_engine, """
        SELECT count(*) FILTER (WHERE status = 'sold') AS sold,
               count(*) FILTER (WHERE status = 'sold' AND order_id IS NOT NULL) AS with_order,
               count(*) FILTER (WHERE status <> 'sold' AND order_id IS NOT NULL) AS without
        FROM inv.stock_cars""")[0].values()
    assert sold > 50 and with_order == sold and without == 0
    # one shape for every demo sale, the listing sold at the sale's moment
    assert demo == [{"on_its_listing": True, "to_its_buyer": True, "by_the_lister": True,
                     "listing_status": "sold", "quantity": 1,
                     "deposit_amount": Decimal("0.00"), "fee_amount": Decimal("0.00"),
                     "status": "completed", "escrow_state": "none", "match_id": None,
                     "request_id": None, "deposit_paid_at": None, "cancelled_at": None,
                     "cancelled_by": None, "at_its_price": True, "at_its_moment": True,
                     "left_the_market_then": True, "platform_sells": True}]
    # one order per car, and nothing but the cars' orders sold by the platform
    assert rows(demo_engine, """
        SELECT count(*) AS orders, count(DISTINCT c.id) AS cars
        FROM app.orders o JOIN app.merchants m ON m.id = o.seller_id AND m.name = :p
        LEFT JOIN inv.stock_cars c ON c.order_id = o.id""", p=demo_inventory.PLATFORM) == [
        {"orders": sold, "cars": sold}]

    # a live sale at the desk on the same database writes the same shape
    with demo_engine.begin() as conn:
        staff = conn.execute(sa.text(
            """INSERT INTO ops.staff (username, display_name, password_hash, roles)
               VALUES ('desk.ops', '车库运营', :h, ARRAY['ops']) RETURNING id"""),
            {"h": TEST_PASSWORD_HASH}).scalar_one()
        car = conn.execute(sa.text(
            """SELECT id, version, asking_price FROM inv.stock_cars WHERE status = 'in_stock'
               ORDER BY id LIMIT 1""")).mappings().one()
        buyer = conn.execute(sa.text(
            "SELECT sold_to FROM inv.stock_cars WHERE status = 'sold' ORDER BY id LIMIT 1")).scalar_one()
    ops = Actor(id=staff, username="desk.ops", display_name="车库运营", roles=frozenset({"ops"}))
    with db.transaction() as conn:
        sales.sell(conn=conn, actor=ops, stock_car_id=car["id"], version=car["version"],
                   merchant_id=buyer, sold_price=f"{car['asking_price']:.0f}")
    live = rows(demo_engine, f"""
        SELECT {SHAPE} FROM inv.stock_cars c JOIN app.orders o ON o.id = c.order_id
        JOIN app.listings l ON l.id = c.listing_id WHERE c.id = :id""", id=car["id"])
    expected = {k: v for k, v in demo[0].items()
                if k not in ("left_the_market_then", "platform_sells")}
    assert live == [expected]


def test_the_demo_sells_and_reserves_to_dealers_that_could_buy_then(demo_engine):
    # active, not the platform, a buyer on the platform (a request posted), certified before
    # the sale or reservation
    bad = rows(demo_engine, """
        SELECT c.id, c.status, b.name FROM inv.stock_cars c
        JOIN app.merchants b ON b.id = coalesce(c.sold_to, c.reserved_for)
        WHERE b.status <> 'active' OR b.name = :p
           OR NOT EXISTS (SELECT 1 FROM app.requests r WHERE r.merchant_id = b.id)
           OR NOT EXISTS (SELECT 1 FROM app.certifications x
                          WHERE x.merchant_id = b.id AND x.status = 'approved'
                            AND x.decided_at < coalesce(c.sold_at, c.reserved_at))""",
               p=demo_inventory.PLATFORM)
    assert bad == []
    spread = rows(demo_engine, """
        SELECT count(DISTINCT sold_to) AS buyers, count(*) AS sold FROM inv.stock_cars
        WHERE status = 'sold'""")[0]
    assert spread["buyers"] >= 0.5 * spread["sold"]     # many dealers, not a few


# The small demo after the ETL, with a manager's account: the GMV split tests' fixture.
from tests.test_growth_selfop_split import demo  # noqa: E402,F401


# From the raw tables, by Shanghai day: the sold stock cars' prices; and the completed deals
# on self-operated listings that are no stock car's, which must be none.
STOCK_SQL = """
SELECT coalesce(sum(sold_price), 0) FROM inv.stock_cars
WHERE status = 'sold' AND (sold_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN :start AND :end"""
OTHER_SQL = """
SELECT coalesce(sum(o.amount), 0) FROM app.orders o JOIN app.listings l ON l.id = o.listing_id
WHERE l.is_self_operated AND o.status = 'completed'
  AND NOT EXISTS (SELECT 1 FROM inv.stock_cars c WHERE c.order_id = o.id)
  AND (o.completed_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN :start AND :end"""


def test_self_operated_gmv_over_the_stocks_selling_days_is_its_sales(demo):
    engine, manager = demo
    with engine.connect() as conn:
        first, last = conn.execute(sa.text("""
            SELECT min((sold_at AT TIME ZONE 'Asia/Shanghai')::date),
                   max((sold_at AT TIME ZONE 'Asia/Shanghai')::date)
            FROM inv.stock_cars WHERE status = 'sold'""")).one()
        windows = [(first, last), (first, first + timedelta(days=29)),
                   (last - timedelta(days=29), last)]
        for start, end in windows:
            stock = conn.execute(sa.text(STOCK_SQL), {"start": start, "end": end}).scalar_one()
            other = conn.execute(sa.text(OTHER_SQL), {"start": start, "end": end}).scalar_one()
            mart = conn.execute(sa.text(
                """SELECT coalesce(sum(gmv_self_operated), 0) FROM mart.daily_kpis
                   WHERE day BETWEEN :start AND :end"""), {"start": start, "end": end}).scalar_one()
            page = growth.kpis(conn=conn, actor=manager, grain="day",
                               filters=GrowthFilters(start=start, end=end))
            shown = page.gmv_split.set_index("part")["amount"]["self_operated"]
            assert stock > 0 and other == 0, (start, end, stock, other)
            assert (mart, shown) == (stock, stock), (start, end, stock)


def test_only_the_platforms_merchant_lists_self_operated_cars(demo_engine):
    assert rows(demo_engine, """
        SELECT m.name, count(*) AS listings,
               count(*) FILTER (WHERE c.id IS NULL) AS without_a_stock_car
        FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
        LEFT JOIN inv.stock_cars c ON c.listing_id = l.id
        WHERE l.is_self_operated GROUP BY m.name""") == [
        {"name": demo_inventory.PLATFORM, "listings": demo_inventory.CARS["small"],
         "without_a_stock_car": 0}]
