"""The loan portfolio mart (issue 19): rebuilt whole from fin.loans and fin.loan_repayments.

Run by the system jobs' step ``loan_portfolio`` (console/jobs.py, under its advisory lock, as
the jobs' role) after the nightly accrual, through ``refresh``: it rebuilds only when there is
something new, a loan, a repayment or a loan event changed since the last build (the notes
migration 103's triggers leave in mart.loan_portfolio_changes, which a build takes as it
starts) or a new day (the build's as-of day is not today), else it stamps the last build as
checked now (``checked_at``: the freshness badge's age counts from it) and reads nothing
else. ``python -m console jobs loan_portfolio`` runs the step alone; ``python -m
console.finance.portfolio_mart rebuild`` rebuilds whatever (a stand-alone command writing the
same run log). The definitions (snapshot day, outstanding, DPD, state,
default, loss) are written down in sql/migrations/100_loan_portfolio_mart.sql; in short, each month's snapshot
day is its last day (the build's day for the month in progress), outstanding principal is
principal − repayments to principal received on or before it, DPD = day − due date while
anything is unpaid, and a default is DPD above ``loan_default_dpd`` (90).

Set-based SQL in one transaction: a rebuild replaces every row, so running it twice gives the
same mart (only the build log grows). Readers (console/finance/portfolio.py) see the old mart
or the new one, never half of each.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Connection

from console import clock, db
from console.settings import get_settings

# One statement a step; :as_of (the build's Shanghai day) and :thr (the default threshold).
STEPS: tuple[tuple[str, str], ...] = (
    ("loans", """
        CREATE TEMP TABLE pf_loans ON COMMIT DROP AS
        SELECT l.id AS loan_id, l.merchant_id, l.grade, l.principal, l.due_date, l.order_id,
               mart.cn_date(l.disbursed_at) AS disbursed_day,
               date_trunc('month', mart.cn_date(l.disbursed_at))::date AS origination_month,
               l.due_date + (:thr + 1) AS default_day
        FROM fin.loans l
        WHERE l.disbursed_at IS NOT NULL AND mart.cn_date(l.disbursed_at) <= :as_of"""),
    ("repaid_by_month", """
        -- principal and interest repaid per loan and month, and the last day principal came
        -- back in the month: one pass over the repayments
        CREATE TEMP TABLE pf_paid ON COMMIT DROP AS
        SELECT r.loan_id, date_trunc('month', mart.cn_date(r.received_at))::date AS month,
               sum(r.to_principal) AS to_principal, sum(r.to_interest) AS to_interest,
               max(mart.cn_date(r.received_at)) FILTER (WHERE r.to_principal > 0) AS last_day
        FROM fin.loan_repayments r JOIN pf_loans l USING (loan_id)
        WHERE mart.cn_date(r.received_at) <= :as_of
        GROUP BY 1, 2"""),
    ("closed_day", """
        -- the day a loan's principal was all repaid: the last repayment to principal of a
        -- loan whose principal is all back (nothing is owed after it, so none comes later)
        CREATE TEMP TABLE pf_closed ON COMMIT DROP AS
        SELECT p.loan_id, max(p.last_day) AS closed_day
        FROM pf_paid p JOIN pf_loans l USING (loan_id)
        GROUP BY p.loan_id, l.principal
        HAVING sum(p.to_principal) >= l.principal"""),
    ("month_end", """
        DELETE FROM mart.loan_month_end;
        INSERT INTO mart.loan_month_end (month, as_of, loan_id, merchant_id, grade,
            origination_month, mob, principal, outstanding, dpd, state, defaulted)
        WITH panel AS (
            SELECT l.*, c.closed_day, m::date AS month,
                   least((m + interval '1 month' - interval '1 day')::date, :as_of) AS as_of,
                   coalesce(sum(p.to_principal) OVER (PARTITION BY l.loan_id ORDER BY m), 0)
                       AS repaid
            FROM pf_loans l
            LEFT JOIN pf_closed c USING (loan_id)
            CROSS JOIN LATERAL generate_series(l.origination_month,
                                               date_trunc('month', :as_of), interval '1 month') m
            LEFT JOIN pf_paid p ON p.loan_id = l.loan_id AND p.month = m::date
        ), figures AS (
            SELECT *, principal - repaid AS outstanding,
                   CASE WHEN principal - repaid > 0 AND as_of > due_date
                        THEN as_of - due_date ELSE 0 END AS dpd
            FROM panel
            WHERE closed_day IS NULL OR month <= date_trunc('month', closed_day)::date
        )
        SELECT month, as_of, loan_id, merchant_id, grade, origination_month,
               ((extract(year FROM month) - extract(year FROM origination_month)) * 12
                + extract(month FROM month) - extract(month FROM origination_month))::smallint,
               principal, outstanding, dpd,
               CASE WHEN outstanding = 0 THEN 'closed'
                    WHEN dpd = 0 THEN 'current' WHEN dpd <= 30 THEN 'dpd_1_30'
                    WHEN dpd <= 60 THEN 'dpd_31_60' WHEN dpd <= 90 THEN 'dpd_61_90'
                    ELSE 'dpd_90p' END,
               default_day <= as_of AND (closed_day IS NULL OR closed_day > default_day)
        FROM figures"""),
    ("vintages", """
        DELETE FROM mart.loan_vintages;
        INSERT INTO mart.loan_vintages (origination_month, mob, loans, principal,
            defaulted_loans, defaulted_principal, default_rate)
        WITH cohorts AS (
            SELECT origination_month, count(*) AS loans, sum(principal) AS principal
            FROM pf_loans GROUP BY 1
        ), defaults AS (   -- defaulted loans by the month of their default day
            SELECT l.origination_month, date_trunc('month', l.default_day)::date AS month,
                   count(*) AS n, sum(l.principal) AS principal
            FROM pf_loans l LEFT JOIN pf_closed c USING (loan_id)
            WHERE l.default_day <= :as_of AND (c.closed_day IS NULL OR c.closed_day > l.default_day)
            GROUP BY 1, 2
        ), grid AS (
            SELECT c.*, m::date AS month,
                   ((extract(year FROM m) - extract(year FROM c.origination_month)) * 12
                    + extract(month FROM m) - extract(month FROM c.origination_month))::smallint
                       AS mob
            FROM cohorts c
            CROSS JOIN LATERAL generate_series(c.origination_month,
                                               date_trunc('month', :as_of), interval '1 month') m
        )
        SELECT g.origination_month, g.mob, g.loans, g.principal,
               coalesce(sum(d.n) OVER w, 0), coalesce(sum(d.principal) OVER w, 0),
               round(coalesce(sum(d.n) OVER w, 0)::numeric / g.loans, 4)
        FROM grid g LEFT JOIN defaults d USING (origination_month, month)
        WINDOW w AS (PARTITION BY g.origination_month ORDER BY g.month)"""),
    ("roll_rates", """
        DELETE FROM mart.loan_roll_rates;
        INSERT INTO mart.loan_roll_rates (month, from_state, to_state, loans, outstanding)
        SELECT b.month, a.state, b.state, count(*), sum(a.outstanding)
        FROM mart.loan_month_end a
        JOIN mart.loan_month_end b
          ON b.loan_id = a.loan_id AND b.month = (a.month + interval '1 month')::date
        WHERE a.state <> 'closed'
        GROUP BY 1, 2, 3"""),
    ("grades", """
        DELETE FROM mart.loan_grade_summary;
        INSERT INTO mart.loan_grade_summary (grade, loans_disbursed, principal_disbursed,
            loans_open, outstanding, performing, defaulted_loans, loss, interest_received,
            interest_accrued)
        SELECT l.grade, count(*), sum(l.principal),
               count(*) FILTER (WHERE s.state <> 'closed'),
               coalesce(sum(s.outstanding), 0),
               coalesce(sum(s.outstanding) FILTER (WHERE s.dpd <= :thr), 0),
               count(*) FILTER (WHERE s.state <> 'closed' AND s.dpd > :thr),
               coalesce(sum(s.outstanding) FILTER (WHERE s.dpd > :thr), 0),
               coalesce(sum(i.to_interest), 0), sum(f.interest_accrued)
        FROM pf_loans l
        JOIN fin.loans f ON f.id = l.loan_id
        LEFT JOIN mart.loan_month_end s
          ON s.loan_id = l.loan_id AND s.month = date_trunc('month', :as_of)::date
        LEFT JOIN (SELECT loan_id, sum(to_interest) AS to_interest FROM pf_paid GROUP BY 1) i
          ON i.loan_id = l.loan_id
        GROUP BY l.grade"""),
    ("concentration", """
        DELETE FROM mart.loan_concentration;
        CREATE TEMP TABLE pf_open ON COMMIT DROP AS
        SELECT s.loan_id, s.merchant_id, s.outstanding, m.name AS merchant_name,
               ci.id AS city_id, ci.name AS city_name, b.id AS brand_id, b.name AS brand_name
        FROM mart.loan_month_end s
        JOIN pf_loans l USING (loan_id)
        JOIN app.merchants m ON m.id = s.merchant_id
        LEFT JOIN app.cities ci ON ci.id = m.city_id
        JOIN app.orders o ON o.id = l.order_id
        JOIN app.listings li ON li.id = o.listing_id
        JOIN app.trims t ON t.id = li.trim_id
        JOIN app.series se ON se.id = t.series_id
        JOIN app.brands b ON b.id = se.brand_id
        WHERE s.month = date_trunc('month', :as_of)::date AND s.state <> 'closed';
        INSERT INTO mart.loan_concentration (dimension, key_id, name, loans, outstanding)
        SELECT 'merchant', merchant_id, min(merchant_name), count(*), sum(outstanding)
        FROM pf_open GROUP BY merchant_id
        UNION ALL
        SELECT 'city', coalesce(city_id, 0), coalesce(min(city_name), '—'), count(*),
               sum(outstanding)
        FROM pf_open GROUP BY coalesce(city_id, 0)
        UNION ALL
        SELECT 'brand', brand_id, min(brand_name), count(*), sum(outstanding)
        FROM pf_open GROUP BY brand_id"""),
)


@dataclass(frozen=True)
class BuildResult:
    as_of: date
    loans: int
    snapshot_rows: int
    seconds: float

    def __str__(self) -> str:
        return (f"portfolio as of {self.as_of}: loans={self.loans}, "
                f"month-end rows={self.snapshot_rows} ({self.seconds:.1f} s)")


def rebuild(conn: Connection, *, as_of: date | None = None) -> BuildResult:
    """Rebuild every table of the portfolio mart as of ``as_of`` (the Shanghai day today by
    default) in ``conn``'s transaction, and log the build."""
    started = time.perf_counter()
    as_of = as_of or clock.today()
    params = {"as_of": as_of, "thr": get_settings().loan_default_dpd}
    # One rebuild at a time, whoever calls it (the jobs' step holds its own lock; a person's
    # or the bench's call does not): a second waits, then replaces the first's rows.
    # EXCLUSIVE mode lets the page's reads through.
    db.execute(conn, "LOCK TABLE mart.loan_portfolio_builds IN EXCLUSIVE MODE")
    started_at = db.scalar(conn, "SELECT clock_timestamp()")
    # The changes noted so far are this build's to read: taken before any source is read
    # (one open when this statement starts keeps its note for the next refresh).
    db.execute(conn, "DELETE FROM mart.loan_portfolio_changes")
    for _name, sql in STEPS:
        for statement in (s for s in sql.split(";") if s.strip()):
            db.execute(conn, statement, **{k: v for k, v in params.items()
                                           if f":{k}" in statement})
    loans = db.scalar(conn, "SELECT count(*) FROM pf_loans")
    rows = db.scalar(conn, "SELECT count(*) FROM mart.loan_month_end")
    db.execute(conn, """
        INSERT INTO mart.loan_portfolio_builds (as_of, default_dpd, started_at, loans,
                                                snapshot_rows, newest_source)
        VALUES (:as_of, :thr, :started, :loans, :rows,
                (SELECT greatest((SELECT max(disbursed_at) FROM fin.loans
                                  WHERE disbursed_at <= now()),
                                 (SELECT max(received_at) FROM fin.loan_repayments
                                  WHERE received_at <= now()))))""",
               as_of=as_of, thr=params["thr"], started=started_at, loans=loans, rows=rows)
    return BuildResult(as_of=as_of, loans=int(loans), snapshot_rows=int(rows),
                       seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class Unchanged:
    """A refresh that found the mart current: nothing changed since its build, same day."""

    as_of: date
    built_at: datetime

    def __str__(self) -> str:
        return (f"portfolio as of {self.as_of}: unchanged since the build of "
                f"{self.built_at:%Y-%m-%d %H:%M:%S %Z}, not rebuilt")


def refresh(conn: Connection, *, as_of: date | None = None) -> BuildResult | Unchanged:
    """The jobs' step: rebuild the mart (``rebuild``) when it has something new, that is a
    change noted since the last build (migration 103), another as-of day than the last
    build's (the Shanghai day today by default), another default threshold, or no build yet;
    else stamp the last build as checked now and return ``Unchanged``. Under the build log's
    lock, as ``rebuild``: of two refreshes at once the second waits, then finds the first's
    build current."""
    as_of = as_of or clock.today()
    db.execute(conn, "LOCK TABLE mart.loan_portfolio_builds IN EXCLUSIVE MODE")
    last = db.fetch_one(conn, """SELECT id, as_of, default_dpd, finished_at
                                 FROM mart.loan_portfolio_builds ORDER BY id DESC LIMIT 1""")
    current = (last is not None and last["as_of"] == as_of
               and last["default_dpd"] == get_settings().loan_default_dpd
               and not db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM mart.loan_portfolio_changes)"))
    if not current:
        return rebuild(conn, as_of=as_of)
    db.execute(conn, """UPDATE mart.loan_portfolio_builds SET checked_at = clock_timestamp()
                        WHERE id = :id""", id=last["id"])
    return Unchanged(as_of=as_of, built_at=last["finished_at"])


def main(argv: list[str]) -> int:
    """``python -m console.finance.portfolio_mart rebuild``: the jobs' step ``loan_portfolio``
    alone, as dh_jobs under the step's advisory lock (a `console jobs` run at work on it makes
    this one skip), writing the jobs' run log under the step's name for health."""
    import sys
    if argv != ["rebuild"]:
        print("usage: python -m console.finance.portfolio_mart rebuild", file=sys.stderr)
        return 2
    from console import jobs
    ran, result = jobs.run_alone("loan_portfolio", rebuild)
    if not ran:
        print("loan_portfolio: skipped, another run holds its lock")
        return 0
    print(f"loan_portfolio: {result}")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))
