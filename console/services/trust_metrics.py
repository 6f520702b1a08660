"""Queue metrics for the trust queues: backlog, speed, who decides what, how checks predict.

Read directly from app.certifications / ops.listing_flags: the decided-at and status
indexes keep these cheap, and the numbers must be live for the people working the queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.roles import Actor, requires


@dataclass
class QueueMetrics:
    open_cases: int
    unassigned: int
    oldest_submitted_at: datetime | None
    oldest_age_hours: float | None
    median_hours_7d: float | None
    median_hours_30d: float | None
    decisions_per_reviewer: pd.DataFrame   # reviewer, decision, n (30 days)
    approval_by_check: pd.DataFrame        # check_code ('none' = no failed check), decided, approved, rate
    rejections_by_reason: pd.DataFrame     # reason_code, n (30 days)
    flags_by_kind: pd.DataFrame            # kind, open, confirmed, cleared, confirm_rate


def _hours(value) -> float | None:
    return None if value is None else round(float(value), 1)


@requires("ops", "manager", replica=True)
def queue_metrics(*, conn: Connection, actor: Actor) -> QueueMetrics:
    backlog = db.fetch_one(conn, """
        SELECT count(*) AS open_cases,
               count(*) FILTER (WHERE assignee_id IS NULL) AS unassigned,
               min(submitted_at) AS oldest
        FROM app.certifications WHERE status IN ('pending','in_review')""")
    speed = db.fetch_one(conn, """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY hours)
                   FILTER (WHERE decided_at >= now() - interval '7 days') AS d7,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS d30
        FROM (SELECT decided_at, extract(epoch FROM decided_at - submitted_at) / 3600 AS hours
              FROM app.certifications
              WHERE decided_at >= now() - interval '30 days') d""")
    oldest = backlog["oldest"]
    oldest_age = db.scalar(conn, "SELECT extract(epoch FROM now() - CAST(:t AS timestamptz)) / 3600",
                           t=oldest) if oldest else None
    return QueueMetrics(
        open_cases=int(backlog["open_cases"]), unassigned=int(backlog["unassigned"]),
        oldest_submitted_at=oldest, oldest_age_hours=_hours(oldest_age),
        median_hours_7d=_hours(speed["d7"]), median_hours_30d=_hours(speed["d30"]),
        decisions_per_reviewer=db.fetch_df(conn, """
            SELECT s.display_name AS reviewer, c.status AS decision, count(*) AS n
            FROM app.certifications c JOIN ops.staff s ON s.id = c.reviewer_id
            WHERE c.decided_at >= now() - interval '30 days'
            GROUP BY s.display_name, c.status ORDER BY s.display_name, c.status"""),
        approval_by_check=_approval_by_check(conn),
        rejections_by_reason=db.fetch_df(conn, """
            SELECT reason_code, count(*) AS n FROM app.certifications
            WHERE status = 'rejected' AND decided_at >= now() - interval '30 days'
            GROUP BY reason_code ORDER BY n DESC, reason_code"""),
        flags_by_kind=db.fetch_df(conn, """
            SELECT kind,
                   count(*) FILTER (WHERE status IN ('pending','in_review')) AS open,
                   count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
                   count(*) FILTER (WHERE status = 'cleared') AS cleared,
                   round(count(*) FILTER (WHERE status = 'confirmed')::numeric
                         / nullif(count(*) FILTER (WHERE status IN ('confirmed','cleared')), 0), 3)
                       AS confirm_rate
            FROM ops.listing_flags GROUP BY kind ORDER BY kind"""),
    )


def _approval_by_check(conn: Connection) -> pd.DataFrame:
    """Approval rate of decided cases (30 days) per failed pre-check: is a check predictive?"""
    df = db.fetch_df(conn, """
        WITH decided AS (
            SELECT c.id, c.status FROM app.certifications c
            WHERE c.decided_at >= now() - interval '30 days'
        ),
        tagged AS (
            SELECT d.id, d.status, coalesce(p.check_code, 'none') AS check_code
            FROM decided d
            LEFT JOIN ops.cert_prechecks p ON p.certification_id = d.id AND p.outcome = 'fail'
        )
        SELECT check_code, count(*) AS decided,
               count(*) FILTER (WHERE status = 'approved') AS approved
        FROM tagged GROUP BY check_code ORDER BY check_code""")
    if not df.empty:
        df["rate"] = (df["approved"] / df["decided"]).astype(float).round(3)
    else:
        df["rate"] = pd.Series(dtype=float)
    return df
