"""python -m etl run [JOB ...] [--full] [--since TS]  |  python -m etl check [JOB ...]  |  python -m etl list

Shows a progress line per job while it runs and a summary table at the end. Exit status:
0 all succeeded, 1 a job failed, 2 a job was refused (another run holds its lock).
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime

from console import db
from etl import check_contracts, job_names, run_all
from etl.runner import RunResult


_shown: list[str] = []  # the jobs that showed progress so far, in order


def _progress(job: str):
    def show(step: str, fraction: float) -> None:
        if _shown and _shown[-1] != job:  # keep the previous job's last line
            sys.stderr.write("\n")
        if not _shown or _shown[-1] != job:
            _shown.append(job)
        filled = int(fraction * 20)
        bar = "#" * filled + "." * (20 - filled)
        sys.stderr.write(f"\r{job:<18} [{bar}] {fraction:4.0%} {step:<40}")
        sys.stderr.flush()
    return show


def _summary(results: list[RunResult]) -> str:
    head = f"{'job':<18} {'status':<10} {'rows in':>9} {'loaded':>9} {'quarant.':>9} {'written':>9} {'warn':>5} {'secs':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.job:<18} {r.status:<10} {r.rows_in:>9} {r.rows_loaded:>9} "
                     f"{r.rows_quarantined:>9} {r.mart_rows_written:>9} {r.warnings:>5} "
                     f"{r.seconds:>7.1f}")
        if r.error:
            lines.append(f"  ! {r.error}")
        elif r.failed_checks:
            lines.append(f"  ~ warnings: {', '.join(r.failed_checks)}")
        if r.contracts_failed:
            lines.append(f"  x contracts failed: {', '.join(r.contracts_failed)}")
    return "\n".join(lines)


def _run_every_job(engine, *, full: bool, since: datetime | None) -> list[RunResult]:
    """Every ETL job: the scheduled etl step's work, so one row in the jobs' run log under
    "etl" (console/job_runs.py), which health reads: failed with the first failed job's
    error class; none when a job was refused for another run's lock and none failed."""
    from console import job_runs
    with job_runs.recorded("etl", engine=engine) as run:
        results = run_all(engine=engine, names=job_names(), full=full, since=since,
                          progress_for=_progress)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            run.failed((failed[0].error or "").split(":", 1)[0] or "Error")
        elif any(r.status == "refused" for r in results):
            run.skipped()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run jobs (all when none is named)")
    run.add_argument("jobs", nargs="*", metavar="JOB")
    run.add_argument("--full", action="store_true", help="rebuild the marts from scratch (backfill)")
    run.add_argument("--since", type=datetime.fromisoformat, metavar="TS",
                     help="reprocess source rows changed after TS (ISO 8601, e.g. 2025-03-01T00:00+08:00)")
    check = sub.add_parser("check", help="validate the marts against their contracts, loading nothing")
    check.add_argument("jobs", nargs="*", metavar="JOB")
    sub.add_parser("list", help="list the jobs")
    args = parser.parse_args(argv)

    if args.command == "list":
        from etl.jobs import JOBS
        for job in JOBS.values():
            print(f"{job.name:<18} {', '.join(job.marts)}\n{'':<18} {job.description}")
        return 0
    unknown = [j for j in args.jobs if j not in job_names()]
    if unknown:
        parser.error(f"unknown job(s): {', '.join(unknown)}; known: {', '.join(job_names())}")
    engine = db.get_engine(role="jobs")  # the jobs' database role (README)
    if args.command == "check":  # exit 1 when a contract failed
        failed = check_contracts(engine=engine, names=args.jobs or job_names())
        for job, names in failed.items():
            print(f"{job:<18} {'ok' if not names else 'FAILED: ' + ', '.join(names)}")
        return 1 if any(failed.values()) else 0
    # One session for all the jobs: each shared source is staged and validated once.
    if args.jobs:
        results = run_all(engine=engine, names=args.jobs, full=args.full, since=args.since,
                          progress_for=_progress)
    else:
        results = _run_every_job(engine, full=args.full, since=args.since)
    if _shown:
        sys.stderr.write("\n")
    print(_summary(results))
    if any(r.status == "failed" for r in results):
        return 1
    return 2 if any(r.status == "refused" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
