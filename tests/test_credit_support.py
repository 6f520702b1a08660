"""Hand-built rows for the credit tests: merchants and their features-mart rows."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.credit.scorecard import load

_seq = count(1)
AS_OF = date(2026, 11, 20)

# A small scorecard whose points are easy to compute by hand: 3 factors share the 600 base
# points (200 each) and pdo = 50, so one doubling = 50 points.
#   cert_level:    none 150, personal 200, enterprise 250, missing 150
#   disputes_lost: 0 -> 225, 1 -> 150, >=2 -> 100, missing 200
#   avg_stars:     <4.0 -> 175, >=4.0 -> 225, missing 200
HAND_CARD = """
version = "hand"
[scaling]
base_points = 600
base_odds = 19
pdo = 50
[insufficient_history]
max_months = 0
max_deals = 1
grade = "NEW"
loan_limit = 0
[monitoring]
psi_investigate = 0.10
psi_shifted = 0.25
override_warn = 0.05
override_red = 0.10
[[grades]]
grade = "AAA"
min_score = 700
loan_limit = 5000000
vip = true
[[grades]]
grade = "AA"
min_score = 650
loan_limit = 3000000
vip = true
[[grades]]
grade = "A"
min_score = 600
loan_limit = 2000000
vip = true
[[grades]]
grade = "BBB"
min_score = 550
loan_limit = 1000000
vip = false
[[grades]]
grade = "BB"
min_score = 500
loan_limit = 500000
vip = false
[[grades]]
grade = "B"
min_score = 450
loan_limit = 200000
vip = false
[[grades]]
grade = "C"
loan_limit = 0
vip = false
[[factors]]
name = "cert_level"
categories = { none = -1.0, personal = 0.0, enterprise = 1.0 }
missing = -1.0
[[factors]]
name = "disputes_lost"
direction = "down"
edges = [1, 2]
doublings = [0.5, -1.0, -2.0]
missing = 0.0
[[factors]]
name = "avg_stars"
direction = "up"
edges = [4.0]
doublings = [-0.5, 0.5]
missing = 0.0
"""


def hand_card(tmp_path: Path, text: str = HAND_CARD):
    path = tmp_path / "card.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def one(engine: Engine, sql: str, **params):
    """The first value of a statement's result (None for a statement returning no rows)."""
    with engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.scalar() if result.returns_rows else None


def rows(engine: Engine, sql: str, **params) -> list[dict]:
    with engine.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def age_override(engine: Engine, override_id: int, *, days: int) -> None:
    """Move an override's clock back by ``days`` (as if it had been made that long ago)."""
    one(engine, """UPDATE ops.credit_overrides
                   SET proposed_at = proposed_at - make_interval(days => :d),
                       decided_at = decided_at - make_interval(days => :d),
                       expires_at = expires_at - make_interval(days => :d)
                   WHERE id = :i""", d=days, i=override_id)


def city(engine: Engine) -> int:
    return one(engine, """INSERT INTO app.cities (name, short_name, adcode, province, tier_level,
                                                  tier_name, longitude, latitude)
                          VALUES ('杭州市', '杭州', :ad, '浙江省', 2, '新一线', 120.15, 30.27)
                          ON CONFLICT (adcode) DO UPDATE SET name = EXCLUDED.name
                          RETURNING id""", ad="330100")


def merchant(engine: Engine, *, name: str | None = None, cert_level: str = "enterprise",
             months: int = 24, deals_total: int = 10, **features) -> int:
    """An app.merchants row plus its mart.merchant_features row (features override defaults)."""
    n = next(_seq)
    merchant_id = one(engine, """
        INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at, phone,
                                   cert_level)
        VALUES (:name, '4s', :city, 'organic', :reg, :phone, :cert) RETURNING id""",
        name=name or f"信用车商{n}", city=city(engine), phone=f"139{n:08d}", cert=cert_level,
        reg=datetime(2026, 11, 20, tzinfo=timezone.utc) - timedelta(days=30 * months))
    set_features(engine, merchant_id, cert_level=cert_level, months=months,
                 deals_total=deals_total, **features)
    return merchant_id


def set_features(engine: Engine, merchant_id: int, *, cert_level: str = "enterprise",
                 months: int = 24, deals_total: int = 10, **features) -> None:
    columns = {"merchant_id": merchant_id, "as_of_date": AS_OF, "cert_level": cert_level,
               "merchant_type": "4s", "size_class": "small", "merchant_status": "active",
               "registered_at": datetime(2024, 1, 1, tzinfo=timezone.utc),
               "months_on_platform": months, "deals_total": deals_total, **features}
    names = ", ".join(columns)
    binds = ", ".join(f":{c}" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "merchant_id")
    with engine.begin() as conn:
        conn.execute(sa.text(f"""INSERT INTO mart.merchant_features ({names}) VALUES ({binds})
                                 ON CONFLICT (merchant_id) DO UPDATE SET {updates}"""), columns)


def purchase(engine: Engine, buyer_id: int, amount: float, *, days_before_as_of: int = 30,
             status: str = "completed") -> int:
    """A completed order with ``buyer_id`` as the buyer, ``days_before_as_of`` days before
    the mart's as-of date (AS_OF): what the limit's trailing-12-month purchases count."""
    from tests import trust_rows
    seller = one(engine, """INSERT INTO app.merchants (name, merchant_type, city_id, channel,
                                                       registered_at, phone)
                            VALUES (:n, 'resource', :c, 'organic', '2024-01-01', :p)
                            RETURNING id""",
                 n=f"卖方{next(_seq)}", c=city(engine), p=f"138{next(_seq):08d}")
    listing_id = trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine),
                                    city_id=city(engine))
    at = datetime.combine(AS_OF, datetime.min.time(), tzinfo=timezone(timedelta(hours=8))) \
        - timedelta(days=days_before_as_of)
    return one(engine, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, status, escrow_state, created_at,
                                deposit_paid_at, completed_at)
        VALUES (:l, :b, :s, 1, :a, :a, 5000, :st, 'released', :at - interval '5 days',
                :at - interval '4 days', CASE WHEN :st = 'completed' THEN :at END)
        RETURNING id""", l=listing_id, b=buyer_id, s=seller, a=amount, st=status, at=at)
