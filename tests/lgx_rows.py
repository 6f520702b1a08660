"""Hand-made rows for the logistics tests (claims, ratings, scores, the dashboard): two
cities in different provinces, a merchant, carriers, and transport requests in any state,
inserted directly (as the superuser) in the shape migration 104's CHECKs require, so each
test states its own world."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import clock
from tests import trust_rows as rows

_seq = itertools.count(1)
CARRIED = ("ordered", "picked_up", "in_transit", "arrived", "delivered", "exception")


def _one(engine: Engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def city(engine: Engine, *, name: str, province: str, lon: float, lat: float) -> int:
    n = next(_seq)
    return _one(engine, """INSERT INTO app.cities (name, short_name, adcode, province, tier_level,
                                                   tier_name, longitude, latitude)
                           VALUES (:n, :s, :a, :p, 2, 'tier2', :lon, :lat) RETURNING id""",
                n=name, s=name.removesuffix("市"), a=f"{900000 + n}", p=province, lon=lon,
                lat=lat)


def carrier(engine: Engine, *, cover_per_car: Decimal | int = 100_000, name: str | None = None,
            status: str = "active") -> int:
    n = next(_seq)
    return _one(engine, """
        INSERT INTO lgx.carriers (name, contact_name, contact_phone, truck_types,
                                  cover_per_car, status)
        VALUES (:n, '王师傅', :ph, ARRAY['large','single'], :c, :s) RETURNING id""",
                n=name or f"承运商{n}", ph=f"1380000{n:04d}", c=cover_per_car, s=status)


def world(engine: Engine) -> dict:
    """Shanghai → Chengdu (different provinces), a merchant in Shanghai."""
    sh = city(engine, name="上海市", province="上海市", lon=121.47, lat=31.23)
    cd = city(engine, name="成都市", province="四川省", lon=104.07, lat=30.57)
    merchant = rows.merchant(engine, city_id=sh)
    return {"from": sh, "to": cd, "merchant": merchant, "trim": rows.trim(engine)}


def _at(day: date, hour: int = 15) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=clock.business_tz())


def request(engine: Engine, w: dict, *, status: str = "delivered", carrier_id: int | None = None,
            cars: int = 1, ready: date | None = None, wanted_by: date | None = None,
            delivered_on: date | None = None, delivered_hour: int = 15,
            price: Decimal | int = 2_000, cost: Decimal | int = 1_800,
            ordered_on: date | None = None, from_city: int | None = None,
            to_city: int | None = None, merchant_id: int | None = None,
            declared_value: Decimal | int = 200_000, exception_from: str = "in_transit",
            exception_kind: str = "damage", load_id: int | None = None,
            truck_type: str = "large") -> int:
    """A request in ``status``. Carried statuses get the carrier and the money of an order;
    'delivered' its delivery time (``delivered_on`` at ``delivered_hour`` Shanghai time)."""
    today = clock.today()
    ready = ready or today - timedelta(days=20)
    wanted_by = wanted_by or ready + timedelta(days=7)
    carried = status in CARRIED
    ordered_on = ordered_on or ready - timedelta(days=1)
    delivered = status == "delivered"
    delivered_on = delivered_on or wanted_by
    created = _at(ordered_on - timedelta(days=1), 10)
    req = _one(engine, """
        INSERT INTO lgx.requests (merchant_id, source, from_city_id, to_city_id, ready_date,
            wanted_by, declared_value, cars, status, status_before_exception, exception_kind,
            carrier_id, truck_type, load_id, price_to_merchant, cost_from_carrier,
            created_at, ordered_at, picked_up_at, delivered_at)
        VALUES (:m, 'ops', :f, :t, :ready, :wanted, :value, :cars, :status, :before, :kind,
            :carrier, :truck, :load, :price, :cost, :created, :ordered, :picked, :delivered)
        RETURNING id""",
                m=merchant_id or w["merchant"], f=from_city or w["from"],
                t=to_city or w["to"], ready=ready, wanted=wanted_by, value=declared_value,
                cars=cars, status=status,
                before=exception_from if status == "exception" else None,
                kind=exception_kind if status == "exception" else None,
                carrier=carrier_id if carried else None, truck=truck_type if carried else None,
                load=load_id, price=price if carried else None, cost=cost if carried else None,
                created=created, ordered=_at(ordered_on, 11) if carried else None,
                picked=_at(ready, 9) if carried and status != "ordered" else None,
                delivered=_at(delivered_on, delivered_hour) if delivered else None)
    _one(engine, """INSERT INTO lgx.request_cars (request_id, trim_id, quantity)
                    VALUES (:r, :trim, :q) RETURNING id""", r=req, trim=w["trim"], q=cars)
    return req


def claim(engine: Engine, *, request_id: int, carrier_id: int, kind: str = "damage",
          amount: Decimal | int = 3_000, cover: Decimal | int = 100_000,
          status: str = "open", settled_amount: Decimal | int | None = None,
          staff_id: int) -> int:
    decided = status in ("settled", "rejected")
    return _one(engine, """
        INSERT INTO lgx.claims (request_id, carrier_id, kind, amount, cover, evidence_ref,
                                description, status, settled_amount, filed_by, decided_by,
                                decided_at)
        VALUES (:r, :c, :k, :a, :cov, 'photo://claim', '车门划痕', :s, :sa, :by,
                CASE WHEN :decided THEN CAST(:by AS bigint) END,
                CASE WHEN :decided THEN now() END)
        RETURNING id""",
                r=request_id, c=carrier_id, k=kind, a=amount, cov=cover, s=status,
                sa=(settled_amount if settled_amount is not None else amount)
                if status == "settled" else None, by=staff_id, decided=decided)


def rating(engine: Engine, *, request_id: int, stars: int, complaint: bool = False) -> None:
    _one(engine, """
        INSERT INTO lgx.ratings (request_id, merchant_id, carrier_id, stars, complaint)
        SELECT id, merchant_id, carrier_id, :s, :c FROM lgx.requests WHERE id = :r
        RETURNING request_id""", r=request_id, s=stars, c=complaint)


def staff(engine: Engine) -> int:
    n = next(_seq)
    return _one(engine, """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                           VALUES (:u, :d, 'x', ARRAY['ops']) RETURNING id""",
                u=f"lgx_rows_{n}", d=f"物流{n}")
