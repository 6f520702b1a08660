"""The system jobs' run log (etl.job_runs, migration 094): each step of `python -m console
jobs` that ran writes one row, succeeded or failed, so `python -m console health` can hold
every scheduled job to the age of its last success.

The row is written after the step, in a transaction of its own on the jobs' engine: a step
that failed still leaves its row, and a run log that cannot be written (a database not yet
migrated to 094) never fails the job it describes (one log line says so instead).

The stand-alone commands a site may schedule on their own write the same row under the step's
name (``recorded``): `python -m console.credit score` (credit) and `validate`
(credit_validation), `python -m console.services.matching rematch --full|--changed`
(matching), `python -m console.services.prechecks` (prechecks), `python -m
console.services.listing_review scan` (listing_flags) and `python -m etl run` of every ETL job
(etl), so health holds a job run by cron on its own to the same age as a `console jobs` step.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import db, logs


def record(engine: Engine, job: str, *, seconds: float, ok: bool,
           error: str | None = None) -> None:
    """One row for a step that ran ``seconds`` and has just ended."""
    try:
        with engine.begin() as conn:
            db.execute(conn, """
                INSERT INTO etl.job_runs (job, started_at, finished_at, status, error_class)
                VALUES (:job, clock_timestamp() - make_interval(secs => :s), clock_timestamp(),
                        :status, :error)""",
                       job=job, s=max(0.0, seconds), status="succeeded" if ok else "failed",
                       error=error)
    except sa.exc.SQLAlchemyError as err:
        logs.event("job.run_log", level=logging.WARNING, job=job, status="failed",
                   error=type(err).__name__)


class Outcome:
    """What a stand-alone command's run came to: ``failed(error_class)`` when it reports a
    failure by its exit code rather than by an exception."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.skip = False

    def failed(self, error_class: str) -> None:
        self.error = error_class

    def skipped(self) -> None:
        """Another run was doing this work: no row, as for a step skipped for its lock."""
        self.skip = True


@contextmanager
def recorded(job: str, *, engine: Engine | None = None) -> Iterator[Outcome]:
    """A stand-alone command's run of the scheduled job ``job``: one row when the block ends,
    as ``console.jobs.run_step`` writes for the step, on the jobs' engine (``engine`` or
    ``db.get_engine(role="jobs")``). An exception is recorded failed with its class only (a
    database error's message may quote a row's values) and goes on; so is a failure the
    block reports with ``outcome.failed(...)``. A run that skipped its work for another run's
    lock writes no row, like a skipped step: it does not enter the block, or says
    ``outcome.skipped()``."""
    engine = engine or db.get_engine(role="jobs")
    outcome = Outcome()
    started = time.perf_counter()
    try:
        yield outcome
    except Exception as err:
        record(engine, job, seconds=time.perf_counter() - started, ok=False,
               error=type(err).__name__)
        raise
    if not outcome.skip:
        record(engine, job, seconds=time.perf_counter() - started, ok=outcome.error is None,
               error=outcome.error)


def last_successes(conn: Connection, jobs: list[str] | tuple[str, ...]) -> dict[str, datetime | None]:
    """Per job, when its newest successful run finished (None: never).

    The ETL's own run log (etl.runs) counts for ``etl`` too, as `python -m etl run` started on
    its own does that step's work: there, the step succeeded when every ETL job had, so it
    is the oldest of the ETL jobs' newest successes (None while one never succeeded)."""
    from etl.jobs import JOBS

    out: dict[str, datetime | None] = {}
    for job in jobs:
        out[job] = db.scalar(conn, """
            SELECT max(finished_at) FROM etl.job_runs
            WHERE job = :job AND status = 'succeeded'""", job=job)
    if "etl" in out:
        etl_run = db.scalar(conn, """
            SELECT CASE WHEN count(r.newest) = cardinality(CAST(:jobs AS text[]))
                        THEN min(r.newest) END
            FROM unnest(CAST(:jobs AS text[])) AS j(job)
            LEFT JOIN LATERAL (SELECT max(finished_at) AS newest FROM etl.runs
                               WHERE job = j.job AND status = 'succeeded') r ON true""",
                            jobs=list(JOBS))
        out["etl"] = max((t for t in (out["etl"], etl_run) if t is not None), default=None)
    return out
