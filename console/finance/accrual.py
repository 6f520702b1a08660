"""The nightly run of order loans: interest accrued, days past due, buckets, defaults.

One set-based statement (no loan is read into Python, so 200k loans take seconds), run by
the scheduled jobs as dh_jobs (console/jobs.py, step ``loan_accrual``, under its advisory
lock), and for one loan by a repayment just before it is split (console/finance/loans.py), so
the interest owed on the day is always on the loan. For every disbursed loan:

* interest for each day after ``accrued_through`` up to yesterday (Shanghai): the outstanding
  principal × the daily rate rounded half-up to the fen, per day (console/finance/money.py);
  ``accrued_through`` becomes yesterday. Principal is constant over those days: a repayment
  brings its loan up to date before it changes the principal;
* ``dpd`` = today − due date (the loan is unpaid while disbursed), its bucket, and
  ``default_at`` = due date + threshold + 1 the first time the DPD exceeds the threshold
  (settings.loan_default_dpd); a 'bucket' event on every bucket change and a 'defaulted'
  event on the default, on the loan's timeline.

Idempotent: a second run on the same day finds every loan accrued through yesterday and its
DPD unchanged, and writes nothing (a row is updated only when something about it changes).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from console import clock, db
from console.settings import get_settings

_RUN = """
WITH due AS (
    SELECT l.id, l.bucket AS old_bucket, l.dpd AS old_dpd,
           greatest(CAST(:yesterday AS date)
                    - coalesce(l.accrued_through,
                               (l.disbursed_at AT TIME ZONE 'Asia/Shanghai')::date - 1), 0)
               AS days,
           round((l.principal - l.principal_paid) * l.daily_rate, 2) AS per_day,
           greatest(CAST(:today AS date) - l.due_date, 0) AS new_dpd,
           l.default_at IS NULL AND CAST(:today AS date) - l.due_date > :threshold
               AS defaults_now,
           l.due_date + :threshold + 1 AS default_day
    FROM fin.loans l
    WHERE l.status = 'disbursed' AND (CAST(:loan_id AS bigint) IS NULL OR l.id = :loan_id)
),
moved AS (
    SELECT d.*,
           CASE WHEN d.new_dpd = 0 THEN 'current' WHEN d.new_dpd <= 30 THEN 'dpd_1_30'
                WHEN d.new_dpd <= 60 THEN 'dpd_31_60' WHEN d.new_dpd <= 90 THEN 'dpd_61_90'
                ELSE 'dpd_90p' END AS new_bucket
    FROM due d
),
upd AS (
    UPDATE fin.loans l
    SET interest_accrued = l.interest_accrued + m.days * m.per_day,
        accrued_through = CASE WHEN m.days > 0 THEN CAST(:yesterday AS date)
                               ELSE l.accrued_through END,
        dpd = m.new_dpd, bucket = m.new_bucket,
        default_at = CASE WHEN m.defaults_now THEN m.default_day ELSE l.default_at END
    FROM moved m
    WHERE l.id = m.id
      AND (m.days > 0 OR m.new_dpd <> m.old_dpd OR m.new_bucket <> m.old_bucket
           OR m.defaults_now)
    RETURNING l.id, m.days, m.days * m.per_day AS interest, m.old_bucket, m.new_bucket,
              m.new_dpd, m.defaults_now, m.default_day
),
bucket_events AS (
    INSERT INTO fin.loan_events (loan_id, kind, detail)
    SELECT id, 'bucket', jsonb_build_object('from', old_bucket, 'to', new_bucket, 'dpd', new_dpd)
    FROM upd WHERE old_bucket <> new_bucket
    RETURNING 1
),
default_events AS (
    INSERT INTO fin.loan_events (loan_id, kind, detail)
    SELECT id, 'defaulted', jsonb_build_object('default_at', default_day, 'dpd', new_dpd)
    FROM upd WHERE defaults_now
    RETURNING 1
)
SELECT (SELECT count(*) FROM upd) AS loans_updated,
       (SELECT count(*) FROM upd WHERE days > 0) AS loans_accrued,
       (SELECT coalesce(sum(interest), 0) FROM upd) AS interest,
       (SELECT count(*) FROM bucket_events) AS bucket_moves,
       (SELECT count(*) FROM default_events) AS defaults
"""


@dataclass(frozen=True)
class AccrualResult:
    loans_updated: int
    loans_accrued: int
    interest: object      # Decimal yuan accrued by this run
    bucket_moves: int
    defaults: int

    def __str__(self) -> str:
        return (f"loans updated={self.loans_updated}, accrued={self.loans_accrued}, "
                f"interest={self.interest}, bucket moves={self.bucket_moves}, "
                f"defaults={self.defaults}")


def run(conn: Connection, *, today: date | None = None,
        loan_id: int | None = None) -> AccrualResult:
    """Accrue every disbursed loan (or only ``loan_id``) up to the day before ``today``
    (Shanghai; default the clock's today) and set its DPD, bucket and default, in the
    caller's transaction."""
    today = today or clock.today()
    row = db.fetch_one(conn, _RUN, today=today, yesterday=today - timedelta(days=1),
                       threshold=get_settings().loan_default_dpd, loan_id=loan_id)
    return AccrualResult(loans_updated=int(row["loans_updated"]),
                         loans_accrued=int(row["loans_accrued"]), interest=row["interest"],
                         bucket_moves=int(row["bucket_moves"]), defaults=int(row["defaults"]))
