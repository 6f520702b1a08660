"""Data quality and ETL runs: what the admin page shows, and running a job from it.

Admins run jobs; managers read (each entry point is gated by @requires, checked first).
The run itself manages its own transactions (lock, stage, validate, load) on the jobs'
engine, as the jobs' database role; the caller's transaction carries the audit row of who
started it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, freshness
from console.audit import write_audit
from console.errors import Conflict, InvalidInput
from console.roles import Actor, requires

READERS = ("admin", "manager")


@requires(*READERS)
def job_names(*, conn: Connection, actor: Actor) -> list[str]:
    from etl import job_names as names
    return names()


@requires(*READERS)
def run_history(*, conn: Connection, actor: Actor, job: str | None = None,
                failed_24h: bool = False, limit: int = 200) -> pd.DataFrame:
    """ETL runs, newest first; ``failed_24h``: only the runs that failed in the last 24
    hours (what the admin home tile counts and opens this list with)."""
    return db.fetch_df(conn, """
        SELECT id AS run_id, job, status, full_reason, triggered_by, started_at, finished_at,
               round(extract(epoch FROM finished_at - started_at)::numeric, 1) AS seconds,
               rows_in, rows_loaded, rows_quarantined, mart_rows_written, warnings,
               watermark_before, watermark_after, error_text
        FROM etl.runs
        WHERE (CAST(:job AS text) IS NULL OR job = :job)
          AND (NOT :failed_24h
               OR (status = 'failed' AND started_at >= now() - interval '24 hours'))
        ORDER BY id DESC LIMIT :n""", job=job, failed_24h=failed_24h, n=limit)


@requires(*READERS)
def quarantine_trend(*, conn: Connection, actor: Actor, days: int = 30) -> pd.DataFrame:
    """Quarantined rows per day and job over the last ``days`` days."""
    return db.fetch_df(conn, """
        SELECT mart.cn_date(quarantined_at) AS day, job, count(*) AS rows
        FROM etl.quarantine
        WHERE quarantined_at >= now() - make_interval(days => :days)
        GROUP BY 1, 2 ORDER BY 1, 2""", days=days)


@requires(*READERS)
def latest_validation(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Each suite's results from its latest validated run; a failed invariant's first broken
    rows (their keys, e.g. the loan ids) as ``broken_rows``."""
    return db.fetch_df(conn, """
        WITH latest AS (
            SELECT suite, max(run_id) AS run_id FROM etl.validation_results GROUP BY suite
        )
        SELECT v.suite, v.run_id, v.expectation, v.expectation_type, v.severity, v.success,
               v.observed_value, v.failing_rows, v.element_count, v.validated_at,
               CASE WHEN NOT v.success THEN v.details -> 'rows' END::text AS broken_rows
        FROM etl.validation_results v JOIN latest l USING (suite, run_id)
        ORDER BY v.suite, v.success, v.expectation""")


@requires(*READERS)
def quarantined_rows(*, conn: Connection, actor: Actor, job: str | None = None,
                     expectation: str | None = None, offset: int = 0,
                     limit: int = 50) -> tuple[int, pd.DataFrame]:
    """One page of quarantined rows, newest first, and the total for the pager."""
    params: dict[str, Any] = {"job": job or None, "exp": expectation or None}
    where = """WHERE (CAST(:job AS text) IS NULL OR job = :job)
                 AND (CAST(:exp AS text) IS NULL OR expectation = :exp)"""
    total = int(db.scalar(conn, f"SELECT count(*) FROM etl.quarantine {where}", **params))
    page = db.fetch_df(conn, f"""
        SELECT id, run_id, job, source_table, row_key, expectation, severity, quarantined_at,
               row_data::text AS row_data
        FROM etl.quarantine {where}
        ORDER BY id DESC LIMIT :limit OFFSET :offset""",
                       limit=limit, offset=max(0, offset), **params)
    return total, page


@requires(*READERS)
def mart_freshness(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """When each mart was last computed, whether its job's latest validation passed, and
    the verdict of the mart's latest contract validation (``contract``: passed, failed, or
    none when never validated) with the number of its failed checks."""
    return db.fetch_df(conn, """
        SELECT mart, job, computed_at,
               round(extract(epoch FROM now() - computed_at)::numeric / 3600, 1) AS age_hours,
               last_run_status, last_run_at, validation_passed, failed_expectations,
               CASE WHEN contract_passed THEN 'passed' WHEN NOT contract_passed THEN 'failed'
                    ELSE 'none' END AS contract, failed_contracts
        FROM mart.freshness ORDER BY mart""")


@requires(*READERS)
def source_freshness(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Per ETL job: the newest source event feeding its marts, its age in hours at the
    business clock, the job's threshold, and whether it is stale (console/freshness.py).
    A validation that passed on sources which stopped days ago is not fresh data."""
    rows = [{"job": f.job, "newest_event": f.newest_event, "event_age_hours": f.age_hours,
             "threshold_hours": f.threshold_hours, "stale": f.stale}
            for f in freshness.source_freshness(conn).values()]
    return pd.DataFrame(rows, columns=["job", "newest_event", "event_age_hours",
                                       "threshold_hours", "stale"])


@requires(*READERS)
def failed_runs_24h(*, conn: Connection, actor: Actor) -> int:
    return int(db.scalar(conn, """SELECT count(*) FROM etl.runs
                                  WHERE status = 'failed' AND started_at >= now() - interval '24 hours'"""))


@requires("admin")
def run_job_now(*, conn: Connection, actor: Actor, job: str, full: bool = False,
                progress: Callable[[str, float], None] | None = None):
    """Run one job now for an admin; the audit row records who, what and the outcome."""
    from etl import job_names as names, run_job
    if job not in names():
        raise InvalidInput("etl.error.unknown_job", job=job)
    # The job runs as the jobs' role, on the jobs' engine: the console's role only reads
    # mart and etl, and is not widened for the one button that starts a job.
    result = run_job(job, engine=db.get_engine(role="jobs"), full=full, progress=progress,
                     triggered_by=f"console:{actor.username}")
    if result.status == "refused":
        raise Conflict("etl.error.job_running", job=job)
    write_audit(conn=conn, actor_id=actor.id, action="etl.run", entity_type="etl_run",
                entity_id=result.run_id,
                after={"job": job, "full": full, "status": result.status,
                       "rows_in": result.rows_in, "rows_loaded": result.rows_loaded,
                       "rows_quarantined": result.rows_quarantined, "error": result.error})
    return result
