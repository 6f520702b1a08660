"""Hand-made rows for the trust-queue tests: a city, a vehicle, merchants, cases, listings.

Each helper inserts exactly what it is asked for, so a test states its own world.
"""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.checks import make_id_number, make_uscc, make_vin

_seq = itertools.count(1)
NOW = datetime.now(timezone.utc)


def _one(engine: Engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def city(engine: Engine, *, name: str = "杭州市", tier: int = 2) -> int:
    n = next(_seq)
    return _one(engine, """INSERT INTO app.cities (name, short_name, adcode, province, tier_level,
                                                   tier_name, longitude, latitude)
                           VALUES (:n, :s, :a, '浙江省', :t, :tn, 120.2, 30.3) RETURNING id""",
                n=name, s=name.removesuffix("市"), a=f"{330100 + n}", t=tier, tn=f"tier{tier}")


def trim(engine: Engine, *, guide: float = 200_000) -> int:
    n = next(_seq)
    brand = _one(engine, "INSERT INTO app.brands (name) VALUES (:n) RETURNING id", n=f"品牌{n}")
    series = _one(engine, """INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price,
                                                    max_guide_price, energy_type, origin)
                             VALUES (:b, :n, '厂商', :g, :g, 'ice', 'domestic') RETURNING id""",
                  b=brand, n=f"车系{n}", g=guide)
    return _one(engine, """INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
                           VALUES (:s, '2025款 1.5T 豪华型', 2025, :g, 'ice') RETURNING id""",
                s=series, g=guide)


def merchant(engine: Engine, *, city_id: int, name: str | None = None, phone: str | None = None,
             merchant_type: str = "secondary") -> int:
    n = next(_seq)
    return _one(engine, """INSERT INTO app.merchants (name, merchant_type, city_id, channel,
                                                      registered_at, phone)
                           VALUES (:n, :t, :c, 'organic', now() - interval '90 days', :p)
                           RETURNING id""",
                n=name or f"车商{n}", t=merchant_type, c=city_id, p=phone or f"139{n:08d}")


def valid_id(n: int | None = None) -> str:
    return make_id_number("110105", date(1985, 3, 14), n if n is not None else next(_seq))


def valid_uscc(n: int | None = None) -> str:
    return make_uscc("330100", f"MA{(n if n is not None else next(_seq)):07d}")


def cert(engine: Engine, *, merchant_id: int, kind: str = "personal",
         age_hours: float = 1.0, status: str = "pending", id_number: str | None = None,
         real_name: str = "张伟", uscc: str | None = None, company_name: str = "某某汽车销售有限公司",
         legal_rep: str = "张伟", assignee_id: int | None = None) -> int:
    personal = kind == "personal"
    decided = status in ("approved", "rejected", "needs_info")
    return _one(engine, """
        INSERT INTO app.certifications (merchant_id, kind, status, real_name, id_number,
                                        company_name, uscc, legal_rep, submitted_at,
                                        assignee_id, decided_at, reason_code)
        VALUES (:m, :k, :s, :rn, :idn, :cn, :u, :lr, now() - make_interval(secs => :age * 3600),
                :a, CASE WHEN :decided THEN now() END,
                CASE WHEN :s = 'rejected' THEN 'other' END)
        RETURNING id""",
                m=merchant_id, k=kind, s=status, rn=real_name if personal else None,
                idn=(id_number or valid_id()) if personal else None,
                cn=None if personal else company_name,
                u=None if personal else (uscc or valid_uscc()),
                lr=None if personal else legal_rep, age=age_hours, a=assignee_id,
                decided=decided)


def listing(engine: Engine, *, merchant_id: int, trim_id: int, city_id: int,
            price: float = 180_000, guide: float = 200_000, vin: str | None = None,
            status: str = "live", age_days: float = 1.0) -> int:
    return _one(engine, """
        INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                                  city_id, price, guide_price, available_from, vin, status,
                                  published_at)
        VALUES (:m, :t, '白', '黑', 1, :c, :p, :g, current_date, :vin, :s,
                now() - make_interval(secs => :age * 86400))
        RETURNING id""", m=merchant_id, t=trim_id, c=city_id, p=price, g=guide, vin=vin,
                s=status, age=age_days)


def good_vin(n: int | None = None) -> str:
    return make_vin("LFV", "2A21K", "S", "3", f"{(n if n is not None else next(_seq)):06d}")


def rows(engine: Engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def value(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()
