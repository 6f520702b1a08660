"""Hand-made rows for the stock desk's tests: a warehouse, the platform's merchant, buyers, and
stock cars bought a given number of Shanghai days ago, each with its live listing."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import clock
from tests import trust_rows as rows


def _one(engine: Engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def world(engine: Engine) -> dict:
    city = rows.city(engine, name="天津市")
    wh = _one(engine, """INSERT INTO inv.warehouses (name, city_id, address)
                         VALUES ('天津东疆仓', :c, '东疆港区 1 号') RETURNING id""", c=city)
    wh2 = _one(engine, """INSERT INTO inv.warehouses (name, city_id, address)
                          VALUES ('天津滨海仓', :c, '滨海新区 2 号') RETURNING id""", c=city)
    return {"city": city, "wh": wh, "wh2": wh2,
            "platform": rows.merchant(engine, city_id=city, name="平台自营",
                                      merchant_type="resource"),
            "buyer": rows.merchant(engine, city_id=city, name="华北车行"),
            "buyer2": rows.merchant(engine, city_id=city, name="津门汽贸"),
            "trim": rows.trim(engine, guide=220_000), "trim2": rows.trim(engine, guide=160_000)}


def car(engine: Engine, w: dict, *, cost: str, days: int, asking: str, floor: str,
        trim: str = "trim", warehouse: str = "wh") -> int:
    """A car in stock bought ``days`` Shanghai days ago, listed at its asking price."""
    bought = clock.today() - timedelta(days=days)
    listing = rows.listing(engine, merchant_id=w["platform"], trim_id=w[trim], city_id=w["city"],
                           price=float(asking), guide=220_000, vin=rows.good_vin())
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET is_self_operated = true WHERE id = :l"),
                     {"l": listing})
    return _one(engine, """
        INSERT INTO inv.stock_cars (listing_id, trim_id, vin, exterior_color, warehouse_id,
                                    purchase_cost, purchase_date, asking_price, floor_price)
        SELECT l.id, l.trim_id, l.vin, '白色', :wh, :cost, :bought, :asking, :floor
        FROM app.listings l WHERE l.id = :l RETURNING id""",
                l=listing, wh=w[warehouse], cost=Decimal(cost), bought=bought,
                asking=Decimal(asking), floor=Decimal(floor))
