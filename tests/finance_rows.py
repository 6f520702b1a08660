"""Hand-made rows for the order-loan tests: a buyer with a grade and a credit line, a seller,
orders in escrow on cars of a brand. Each helper inserts what it is asked for (as the
superuser), so a test states its own world."""
from __future__ import annotations

import itertools
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests import trust_rows as rows

_seq = itertools.count(1)


def _one(engine: Engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def grade(engine: Engine, merchant_id: int, grade: str) -> None:
    """The merchant's current grade (ops.merchant_credit reads it)."""
    version = _one(engine, "SELECT id FROM ops.credit_scorecard_versions ORDER BY id LIMIT 1")
    if version is None:
        version = _one(engine, """
            INSERT INTO ops.credit_scorecard_versions (version, config_sha256, config, status,
                base_points, base_odds, pdo, ih_min_months, ih_min_deals, ih_grade, ih_loan_limit)
            VALUES ('loans-test', 'x', '{}', 'active', 600, 19, 40, 3, 1, 'B', 0)
            RETURNING id""")
    run = _one(engine, """INSERT INTO ops.credit_runs (version_id, status, finished_at)
                          VALUES (:v, 'succeeded', now()) RETURNING id""", v=version)
    _one(engine, """
        INSERT INTO ops.merchant_grade_current (merchant_id, run_id, scored_at, score, grade,
            insufficient_history, score_loan_limit, score_vip_eligible)
        VALUES (:m, :r, now(), 600, :g, false, 1000000, false)
        ON CONFLICT (merchant_id) DO UPDATE SET grade = EXCLUDED.grade, run_id = EXCLUDED.run_id
        RETURNING merchant_id""", m=merchant_id, r=run, g=grade)


def line(engine: Engine, merchant_id: int, amount: Decimal | int, *, committed: int = 0) -> None:
    _one(engine, """
        INSERT INTO fin.credit_lines (merchant_id, grade_line, committed) VALUES (:m, :a, :c)
        ON CONFLICT (merchant_id) DO UPDATE SET grade_line = EXCLUDED.grade_line
        RETURNING merchant_id""", m=merchant_id, a=amount, c=committed)


def order(engine: Engine, *, buyer: int, seller: int, trim_id: int, city_id: int,
          amount: int | Decimal = 200_000, status: str = "deposit_paid",
          escrow: str = "held") -> int:
    listing = rows.listing(engine, merchant_id=seller, trim_id=trim_id, city_id=city_id,
                           price=float(amount), vin=rows.good_vin())
    return _one(engine, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, escrow_state, status, created_at,
                                deposit_paid_at)
        VALUES (:l, :b, :s, 1, :a, :a, 5000, :e, :st, now() - interval '2 days',
                CASE WHEN :st <> 'created' THEN now() - interval '1 day' END)
        RETURNING id""", l=listing, b=buyer, s=seller, a=amount, e=escrow, st=status)


def world(engine: Engine, *, line_yuan: int = 1_000_000, buyer_grade: str = "A") -> dict:
    """A buyer (grade A unless told, a line of 1,000,000), a seller, a trim of its own brand."""
    city = rows.city(engine)
    trim = rows.trim(engine)
    seller = rows.merchant(engine, city_id=city)
    buyer = rows.merchant(engine, city_id=city)
    grade(engine, buyer, buyer_grade)
    line(engine, buyer, line_yuan)
    return {"city": city, "trim": trim, "seller": seller, "buyer": buyer}


def new_order(engine: Engine, w: dict, amount: int | Decimal = 200_000, **kw) -> int:
    return order(engine, buyer=w["buyer"], seller=w["seller"], trim_id=w["trim"],
                 city_id=w["city"], amount=amount, **kw)


def certificate() -> str:
    return f"WDZ{next(_seq):08d}"


def counts(engine: Engine, merchant_id: int) -> dict:
    """What a refused call must leave as it was: every fin row count, the line's committed
    amount, the audit log's size, and every loan's money and state."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM fin.loans) AS loans,
                   (SELECT count(*) FROM fin.loan_events) AS events,
                   (SELECT count(*) FROM fin.loan_repayments) AS repayments,
                   (SELECT count(*) FROM ops.audit_log) AS audit,
                   (SELECT committed FROM fin.credit_lines WHERE merchant_id = :m) AS committed,
                   (SELECT string_agg(concat_ws('/', id, status, version, principal_paid,
                                                interest_paid, interest_accrued,
                                                certificate_state, assignee_id, approved_by),
                                      ';' ORDER BY id) FROM fin.loans) AS loans_state
        """), {"m": merchant_id}).mappings().one())
