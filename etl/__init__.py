"""ETL: incremental, validated, set-based loads of the marts the dashboards read.

Jobs are plain functions so a scheduler can call them::

    from etl import run_job
    run_job("daily_kpis", engine=engine)              # incremental
    run_job("daily_kpis", engine=engine, full=True)   # rebuild (backfill)
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from etl.runner import JobRefused, Progress, RunResult
from etl.runner import run_job as _run


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
            triggered_by: str = "cli") -> list[RunResult]:
    return [run_job(n, engine=engine, full=full, since=since, progress=progress,
                    triggered_by=triggered_by) for n in (names or job_names())]


__all__ = ["JobRefused", "RunResult", "job_names", "run_all", "run_job"]
