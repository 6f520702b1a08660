"""ETL: incremental, validated, set-based loads of the marts the dashboards read.

Jobs are plain functions so a scheduler can call them::

    from etl import run_job
    run_job("daily_kpis", engine=engine)              # incremental
    run_job("daily_kpis", engine=engine, full=True)   # rebuild (backfill)
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from etl.runner import JobRefused, Progress, RunResult
from etl.runner import run_job as _run
from etl.runner import run_jobs as _run_jobs


def job_names() -> list[str]:
    from etl.jobs import JOBS
    return list(JOBS)


def run_job(name: str, *, engine: Engine, full: bool = False, since: datetime | None = None,
            progress: Progress | None = None, triggered_by: str = "cli") -> RunResult:
    """Run one job by name; never raises for a data problem (see RunResult.status)."""
    from etl.jobs import JOBS
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    return _run(JOBS[name], engine=engine, full=full, since=since, progress=progress,
                triggered_by=triggered_by)


def run_all(*, engine: Engine, names: list[str] | None = None, full: bool = False,
            since: datetime | None = None, progress: Progress | None = None,
            progress_for: Callable[[str], Progress] | None = None,
            triggered_by: str = "cli") -> list[RunResult]:
    """Run jobs (all by default) in order, staging and validating each shared source once.
    ``progress_for(job)`` gives a per-job progress callback; ``progress`` one for all."""
    from etl.jobs import JOBS
    unknown = [n for n in names or [] if n not in JOBS]
    if unknown:
        raise KeyError(f"unknown job(s) {unknown!r}; known: {', '.join(JOBS)}")
    return _run_jobs([JOBS[n] for n in names or job_names()], engine=engine, full=full,
                     since=since, progress_for=progress_for or (lambda _: progress),
                     triggered_by=triggered_by)


def check_contracts(*, engine: Engine, names: list[str] | None = None,
                    triggered_by: str = "cli") -> dict[str, list[str]]:
    """Validate the marts of some jobs (all by default) against their contracts, loading
    nothing; returns each job's failed checks (etl/contracts.py)."""
    from etl.jobs import JOBS
    from etl.runner import check_contracts as _check
    unknown = [n for n in names or [] if n not in JOBS]
    if unknown:
        raise KeyError(f"unknown job(s) {unknown!r}; known: {', '.join(JOBS)}")
    return _check([JOBS[n] for n in names or job_names()], engine=engine,
                  triggered_by=triggered_by)


__all__ = ["JobRefused", "RunResult", "check_contracts", "job_names", "run_all", "run_job"]
