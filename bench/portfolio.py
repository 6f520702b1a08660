"""The loan portfolio (issue 19): its mart's rebuild and its page, on a book of loans.

- loans_load_s: the order-loan book loaded for the bench when the database has fewer loans
  than the scale's (large: 200k loans and ~2M repayments), set-based SQL in one transaction
  (reported once, when it loads);
- portfolio_build_s: one rebuild of the portfolio mart (console/finance/portfolio_mart.py),
  the jobs' step, the median of three;
- portfolio_page_ms: the portfolio page's data time on a first load through the navigation,
  as a risk officer (bench/pages.py's DataClock: every connection the run opens), the median
  of its runs; target <= 150 ms at the large scale;
- loan_queue_page_ms: the application queue page (/loan-queue) measured the same way, as a
  risk officer, on a queue of QUEUE applications (added once, on orders without a live loan,
  certificates 'BQ…', when the database has no application in flight); target <= 150 ms;
- loan_page_ms: one loan's page (/loan?loan=<id>) measured the same way, as a risk officer,
  on the open bench loan with the most repayments; target <= 150 ms;
- accrual_run_s: the nightly accrual (console/finance/accrual.py, the jobs' loan_accrual
  step) over the whole book, committed; before each of its three runs (untimed) every open
  loan's accrued_through is set back one day, so each run accrues one day of interest on
  every open loan, as a night does (after one untimed run that brings the book up to
  yesterday); target <= 30 s.

The book: loan g (1…N) on an existing order (a loan still open gets an order of its own, as
the live-loan index wants: with fewer orders than open loans, the open loans beyond them are
not loaded, and the note says how many loans there are), disbursed on one of the last 365 days, a 30/60/90-day term, a
grade from AAA to C in believable shares, defaulting with a probability that rises from 0.5%
(AAA) to 25% (C); repaid in 12 instalments up to the due date (a defaulting loan pays four
and stops), each instalment interest first. Loans of the bench carry certificates 'BL…'.
BENCH_LOANS=n sets N (e.g. to load 200k loans on a smaller database).
"""
from __future__ import annotations

import os
import statistics
import time

from bench import _actors
from console import clock, db
from console.finance import portfolio_mart

LOANS = {"small": 2_000, "demo": 20_000, "large": 200_000}
QUEUE = 300
INSTALMENTS = 12

_LOAD_LOANS = """
CREATE TEMP TABLE bench_book ON COMMIT DROP AS
WITH g AS (
    SELECT g,
           (CAST(:today AS date) - 1 - (g * 37 % 365)) AS day,
           (ARRAY[30, 60, 90])[g % 3 + 1] AS term,
           CASE WHEN g % 100 < 3 THEN 'AAA' WHEN g % 100 < 10 THEN 'AA'
                WHEN g % 100 < 30 THEN 'A' WHEN g % 100 < 65 THEN 'BBB'
                WHEN g % 100 < 85 THEN 'BB' WHEN g % 100 < 95 THEN 'B' ELSE 'C' END AS grade,
           ((g::bigint * 7919) % 10007) / 10007.0 AS u,
           (50000 + (g * 131 % 50) * 10000)::numeric(14,2) AS principal
    FROM generate_series(1, :n) g
)
SELECT g.*, :base + g.g AS n, g.day + g.term AS due,
       g.u < CASE g.grade WHEN 'AAA' THEN 0.005 WHEN 'AA' THEN 0.01 WHEN 'A' THEN 0.02
                          WHEN 'BBB' THEN 0.04 WHEN 'BB' THEN 0.08 WHEN 'B' THEN 0.15
                          ELSE 0.25 END AS defaults,
       round(g.principal / 12, 2) AS part,
       round(g.principal * 0.0004 * g.term / 12, 2) AS interest_part
FROM g;
ALTER TABLE bench_book ADD COLUMN open boolean, ADD COLUMN paid integer;
UPDATE bench_book SET
    paid = (SELECT count(*) FROM generate_series(1, 12) k
            WHERE day + ceil(k * term / 12.0)::int <= CAST(:today AS date) - 1
              AND (NOT defaults OR k <= 4));
UPDATE bench_book SET open = paid < 12;
CREATE TEMP TABLE bench_orders ON COMMIT DROP AS
SELECT o.id, o.buyer_id, o.seller_id, row_number() OVER (ORDER BY o.id) AS rn,
       CASE WHEN NOT EXISTS (SELECT 1 FROM fin.loans l WHERE l.order_id = o.id
                             AND l.status IN ('applied','approved','disbursed'))
            THEN row_number() OVER (PARTITION BY NOT EXISTS (
                     SELECT 1 FROM fin.loans l WHERE l.order_id = o.id
                     AND l.status IN ('applied','approved','disbursed')) ORDER BY o.id) END
           AS free_rn
FROM app.orders o WHERE o.buyer_id <> o.seller_id;
CREATE TEMP TABLE bench_assigned ON COMMIT DROP AS
SELECT b.*, CASE WHEN b.open THEN row_number() OVER (PARTITION BY b.open ORDER BY b.g)
                 ELSE (b.g % (SELECT count(*) FROM bench_orders)) + 1 END AS order_rn
FROM bench_book b;
INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no, order_amount, principal,
    term_days, daily_rate, grade, needs_second, status, approved_by, approved_at, disbursed_by,
    disbursed_at, due_date, principal_paid, interest_accrued, interest_paid, certificate_state,
    repaid_at, applied_at)
SELECT o.buyer_id, o.id, o.seller_id, 'BL' || a.n, a.principal * 2, a.principal, a.term,
       0.0004, a.grade, false, CASE WHEN a.open THEN 'disbursed' ELSE 'repaid' END, :staff,
       (a.day + time '09:00') AT TIME ZONE 'Asia/Shanghai', :staff,
       (a.day + time '10:00') AT TIME ZONE 'Asia/Shanghai', a.due,
       CASE WHEN a.paid = 12 THEN a.principal ELSE a.part * a.paid END,
       a.interest_part * a.paid, a.interest_part * a.paid,
       CASE WHEN a.open THEN 'held' ELSE 'released' END,
       CASE WHEN a.open THEN NULL
            ELSE (a.due + time '15:00') AT TIME ZONE 'Asia/Shanghai' END,
       (a.day + time '08:00') AT TIME ZONE 'Asia/Shanghai'
FROM bench_assigned a
JOIN bench_orders o ON o.free_rn = a.order_rn AND a.open
UNION ALL
SELECT o.buyer_id, o.id, o.seller_id, 'BL' || a.n, a.principal * 2, a.principal, a.term,
       0.0004, a.grade, false, 'repaid', :staff,
       (a.day + time '09:00') AT TIME ZONE 'Asia/Shanghai', :staff,
       (a.day + time '10:00') AT TIME ZONE 'Asia/Shanghai', a.due, a.principal,
       a.interest_part * a.paid, a.interest_part * a.paid, 'released',
       (a.due + time '15:00') AT TIME ZONE 'Asia/Shanghai',
       (a.day + time '08:00') AT TIME ZONE 'Asia/Shanghai'
FROM bench_assigned a
JOIN bench_orders o ON o.rn = a.order_rn AND NOT a.open;
INSERT INTO fin.loan_repayments (loan_id, amount, to_interest, to_principal, channel, reference,
                                 received_at)
SELECT l.id, b.interest_part + p.to_principal, b.interest_part, p.to_principal, 'bank',
       'BL-' || l.id || '-' || k,
       (b.day + ceil(k * b.term / 12.0)::int + time '15:00') AT TIME ZONE 'Asia/Shanghai'
FROM fin.loans l
JOIN bench_book b ON l.certificate_no = 'BL' || b.n
CROSS JOIN LATERAL generate_series(1, b.paid) k
CROSS JOIN LATERAL (SELECT CASE WHEN k = 12 THEN b.principal - b.part * 11
                                ELSE b.part END AS to_principal) p;
ANALYZE fin.loans;
ANALYZE fin.loan_repayments
"""


def _target(ctx) -> int:
    return int(os.environ.get("BENCH_LOANS") or LOANS[ctx.scale])


def ensure_loans(ctx) -> None:
    target = _target(ctx)
    with ctx.engine.connect() as conn:
        have = db.scalar(conn, "SELECT count(*) FROM fin.loans WHERE disbursed_at IS NOT NULL")
    if have >= target * 0.9:
        return
    staff = _actors.actor(ctx.engine, "risk").id
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        orders = db.scalar(conn, "SELECT count(*) FROM app.orders WHERE buyer_id <> seller_id")
        # a second load numbers its certificates after the first's
        base = db.scalar(conn, "SELECT coalesce(max(substr(certificate_no, 3)::bigint), 0) "
                               "FROM fin.loans WHERE certificate_no ~ '^BL[0-9]+$'")
        values = {"n": target - have, "today": clock.today(), "staff": staff, "base": base}
        for statement in (s for s in _LOAD_LOANS.split(";") if s.strip()):
            params = {k: v for k, v in values.items() if f":{k}" in statement}
            db.execute(conn, statement, **params)
        loans, repayments = (db.scalar(conn, "SELECT count(*) FROM fin.loans"),
                             db.scalar(conn, "SELECT count(*) FROM fin.loan_repayments"))
    ctx.report("loans_load_s", time.perf_counter() - started, "s",
               note=f"one run: {loans:,} loans, {repayments:,} repayments in the database "
                    f"(on {orders:,} orders)")


_LOAD_QUEUE = """
INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no, order_amount, principal,
    term_days, daily_rate, grade, needs_second, status, applied_at)
SELECT o.buyer_id, o.id, o.seller_id, 'BQ' || o.id, p.principal * 2, p.principal,
       (ARRAY[30, 60, 90])[o.rn % 3 + 1], 0.0004,
       (ARRAY['AAA','AA','A','BBB','BB','B'])[o.rn % 6 + 1], p.principal > :threshold,
       'applied', now() - make_interval(mins => (o.rn * 17 % 2880)::int)
FROM (SELECT o.id, o.buyer_id, o.seller_id, row_number() OVER (ORDER BY o.id DESC) AS rn
      FROM app.orders o
      WHERE o.buyer_id <> o.seller_id
        AND NOT EXISTS (SELECT 1 FROM fin.loans l WHERE l.order_id = o.id
                        AND l.status IN ('applied','approved','disbursed'))
      ORDER BY o.id DESC LIMIT :n) o
CROSS JOIN LATERAL (SELECT (100000 + (o.rn * 131 % 60) * 10000)::numeric(14,2) AS principal) p
"""


def ensure_queue(ctx) -> int:
    """QUEUE applications in flight for the queue page (once: none are added when the
    database has any); the number in flight."""
    from console.settings import get_settings
    with ctx.engine.begin() as conn:
        if not db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM fin.loans "
                               "WHERE status IN ('applied','approved'))"):
            db.execute(conn, _LOAD_QUEUE, n=QUEUE,
                       threshold=get_settings().loan_second_approval_yuan)
            conn.exec_driver_sql("ANALYZE fin.loans")
        return int(db.scalar(conn, "SELECT count(*) FROM fin.loans "
                                   "WHERE status IN ('applied','approved')"))


def _accrual_runs(ctx) -> None:
    from console.finance import accrual

    def accrue():
        with ctx.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            return accrual.run(conn)

    accrue()   # the book up to yesterday (the first run accrues from each disbursement)
    runs, results = [], []
    for _ in range(3):
        with ctx.engine.begin() as conn:   # untimed: one night's work for every open loan
            db.execute(conn, "UPDATE fin.loans SET accrued_through = accrued_through - 1 "
                             "WHERE status = 'disbursed' AND accrued_through IS NOT NULL")
        started = time.perf_counter()
        results.append(accrue())
        runs.append(time.perf_counter() - started)
    ctx.report("accrual_run_s", statistics.median(runs), "s", runs=runs,
               note="each run one day for every open loan: "
                    + "; ".join(f"{r.loans_accrued:,} loans accrued" for r in results))


def run(ctx) -> None:
    ensure_loans(ctx)
    in_flight = ensure_queue(ctx)

    def build() -> None:
        with ctx.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            portfolio_mart.rebuild(conn)

    runs = ctx.samples(build, repeat=3, warmup=0, scale=1.0)
    with ctx.engine.connect() as conn:
        rows = db.scalar(conn, "SELECT count(*) FROM mart.loan_month_end")
    ctx.report("portfolio_build_s", statistics.median(runs), "s", runs=runs,
               note=f"{rows:,} month-end rows")

    import logging

    from bench import pages
    from console.ui import nav
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    spec = next(p for p in nav.PAGES if p.path == "pages/risk_portfolio.py")
    actor = _actors.actor(ctx.engine, "risk")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, spec)
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("portfolio_page_ms", statistics.median(runs), "ms", runs=runs,
               note="as risk; slowest calls: " + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))

    queue_spec = next(p for p in nav.PAGES if p.path == "pages/risk_loan_queue.py")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, queue_spec)
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("loan_queue_page_ms", statistics.median(runs), "ms", runs=runs,
               note=f"as risk; {in_flight:,} applications in flight; slowest calls: "
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))

    with ctx.engine.connect() as conn:
        row = db.fetch_one(conn, """
            SELECT l.id, count(*) AS n FROM fin.loans l
            JOIN fin.loan_repayments r ON r.loan_id = l.id
            WHERE l.status = 'disbursed'
            GROUP BY l.id ORDER BY count(*) DESC, l.id LIMIT 1""")
    loan_id, repaid = row["id"], row["n"]
    loan_spec = next(p for p in nav.PAGES if p.path == "pages/risk_loan.py")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, loan_spec,
                                         query={"loan": str(loan_id)})
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("loan_page_ms", statistics.median(runs), "ms", runs=runs,
               note=f"as risk; loan {loan_id} ({repaid} repayments); slowest calls: "
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))

    _accrual_runs(ctx)
