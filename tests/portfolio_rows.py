"""A small loan portfolio with known dates, for the portfolio mart's and page's tests.

Fixed, hand-built dates in 2025 (they do not depend on the clock); the mart is built as of
AS_OF. Eight loans, two borrowers (each in its own city, buying cars of its own brand):

  loan  borrower grade principal disbursed   term due         repayments (Shanghai day: to interest / to principal)
  L1    b1       A     100,000   2025-01-10  30   2025-02-09  02-05: 1,200 / 100,000 (closed in Feb)
  L2    b1       A     200,000   2025-01-20  60   2025-03-21  03-10: 2,000 / 50,000; 06-16 (after AS_OF): 1,000 / 9,000
  L3    b1       BB    100,000   2025-01-05  30   2025-02-04  none (default day 05-06)
  L4    b2       B      50,000   2025-02-15  30   2025-03-17  04-01 00:30 (03-31 16:30 UTC): 1,000 / 50,000
  L5    b2       B      80,000   2025-02-03  30   2025-03-05  none (default day 06-04)
  L6    b2       C      60,000   2025-02-10  90   2025-05-11  05-20: 2,000 / 30,000; 06-10: 500 / 30,000
  L7    b2       A      40,000   2025-02-20  30   2025-03-22  03-20: 400 / 40,000
  L8    b2       A      70,000   applied, never disbursed (not in the portfolio)
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.credit.scorecard import CHALLENGER_CONFIG, load
from tests import finance_rows as fr
from tests import trust_rows as rows

AS_OF = date(2025, 6, 15)

# (name, borrower, grade, principal, disbursed (Shanghai), term, interest accrued, repayments)
LOANS = (
    ("L1", "b1", "A", 100_000, "2025-01-10 10:00+08", 30, 1_200,
     [("2025-02-05 11:00+08", 1_200, 100_000)]),
    ("L2", "b1", "A", 200_000, "2025-01-20 10:00+08", 60, 9_000,
     [("2025-03-10 09:00+08", 2_000, 50_000), ("2025-06-16 01:00+08", 1_000, 9_000)]),
    ("L3", "b1", "BB", 100_000, "2025-01-05 10:00+08", 30, 8_000, []),
    ("L4", "b2", "B", 50_000, "2025-02-15 10:00+08", 30, 1_000,
     [("2025-03-31 16:30+00", 1_000, 50_000)]),
    ("L5", "b2", "B", 80_000, "2025-02-03 10:00+08", 30, 5_000, []),
    ("L6", "b2", "C", 60_000, "2025-02-10 10:00+08", 90, 2_500,
     [("2025-05-20 15:00+08", 2_000, 30_000), ("2025-06-10 15:00+08", 500, 30_000)]),
    ("L7", "b2", "A", 40_000, "2025-02-20 10:00+08", 30, 400,
     [("2025-03-20 15:00+08", 400, 40_000)]),
)


def build(engine: Engine, staff_id: int) -> dict:
    """Insert the portfolio (as the superuser); returns the ids: loans by name, borrowers,
    cities and brands."""
    out: dict = {"loans": {}}
    for b, city_name in (("b1", "杭州市"), ("b2", "苏州市")):
        city = rows.city(engine, name=city_name)
        trim = rows.trim(engine)
        seller = rows.merchant(engine, city_id=city)
        buyer = rows.merchant(engine, city_id=city, name=f"车商{b}")
        fr.grade(engine, buyer, "A")
        out[b] = {"city": city, "trim": trim, "seller": seller, "buyer": buyer}
    # The active scorecard version (finance_rows made a bare one): the challenger's file, so
    # the PD shown is the active version's, not the default file's.
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_scorecard_versions
                                SET config = CAST(:raw AS jsonb), version = 'c1-active'
                                WHERE status = 'active'"""),
                     {"raw": json.dumps(load(CHALLENGER_CONFIG).raw, ensure_ascii=False)})
    with engine.begin() as conn:
        for b in ("b1", "b2"):
            out[b]["brand"] = conn.execute(sa.text(
                "SELECT se.brand_id FROM app.trims t JOIN app.series se ON se.id = t.series_id "
                "WHERE t.id = :t"), {"t": out[b]["trim"]}).scalar()
    for name, b, grade, principal, disbursed, term, accrued, repayments in LOANS:
        w = out[b]
        order = fr.order(engine, buyer=w["buyer"], seller=w["seller"], trim_id=w["trim"],
                         city_id=w["city"], amount=1_000_000)
        paid_i = sum(D(i) for _, i, _ in repayments)
        paid_p = sum(D(p) for _, _, p in repayments)
        repaid = paid_p == principal
        with engine.begin() as conn:
            loan = conn.execute(sa.text("""
                INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no,
                    order_amount, principal, term_days, daily_rate, grade, needs_second, status,
                    approved_by, approved_at, disbursed_by, disbursed_at, due_date,
                    principal_paid, interest_accrued, interest_paid, certificate_state,
                    repaid_at, applied_at)
                VALUES (:m, :o, :s, :c, 1000000, :p, :t, 0.0004, :g, false, :st, :k,
                        CAST(:d AS timestamptz), :k, CAST(:d AS timestamptz),
                        (CAST(:d AS timestamptz) AT TIME ZONE 'Asia/Shanghai')::date + :t,
                        :pp, :ia, :ip, :cs, :ra, CAST(:d AS timestamptz) - interval '1 day')
                RETURNING id"""), {
                    "m": w["buyer"], "o": order, "s": w["seller"], "c": fr.certificate(),
                    "p": principal, "t": term, "g": grade,
                    "st": "repaid" if repaid else "disbursed", "k": staff_id, "d": disbursed,
                    "pp": paid_p, "ia": accrued, "ip": paid_i,
                    "cs": "released" if repaid else "held",
                    "ra": repayments[-1][0] if repaid else None}).scalar()
            for n, (at, i, p) in enumerate(repayments):
                conn.execute(sa.text("""
                    INSERT INTO fin.loan_repayments (loan_id, amount, to_interest, to_principal,
                        channel, reference, received_at)
                    VALUES (:l, :a, :i, :p, 'bank', :r, CAST(:at AS timestamptz))"""),
                    {"l": loan, "a": i + p, "i": i, "p": p, "r": f"pf-{loan}-{n}", "at": at})
        out["loans"][name] = loan
    # L8: an application, never disbursed
    w = out["b2"]
    order = fr.order(engine, buyer=w["buyer"], seller=w["seller"], trim_id=w["trim"],
                     city_id=w["city"], amount=1_000_000)
    with engine.begin() as conn:
        out["loans"]["L8"] = conn.execute(sa.text("""
            INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no, order_amount,
                principal, term_days, daily_rate, grade, needs_second, applied_at)
            VALUES (:m, :o, :s, :c, 1000000, 70000, 30, 0.0004, 'A', false,
                    '2025-03-01 10:00+08') RETURNING id"""),
            {"m": w["buyer"], "o": order, "s": w["seller"], "c": fr.certificate()}).scalar()
    return out
