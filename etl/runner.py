"""Running one job: lock → stage the batch → validate → quarantine → load in one transaction
→ record. Plain functions, so a scheduler (cron, Airflow, Dagster) can call ``run_job``.

Guarantees:
- one run per job at a time (a PostgreSQL advisory lock); a second is refused and recorded;
- marts, exclusions and the watermark change in one transaction: a failed run leaves them
  as they were, and retrying simply runs again from the old watermark;
- quarantined rows and validation results are history: written even when the run fails.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl import contracts
from etl.batches import Batch, Session
from etl.checks import Check
from etl.job import Job

LOCK_NAMESPACE = 7_310_040  # advisory-lock namespace of ETL jobs; the job name is the key

Progress = Callable[[str, float], None]


class JobRefused(RuntimeError):
    """Another run of the same job holds the lock."""


class ValidationFailed(RuntimeError):
    pass


@dataclass
class RunResult:
    job: str
    run_id: int | None
    status: str                      # succeeded | failed | refused
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    mart_rows_written: int = 0
    warnings: int = 0
    seconds: float = 0.0
    error: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    contracts_failed: list[str] = field(default_factory=list)   # the marts' (etl/contracts.py)


def _q(conn: Connection, sql: str, **params: Any):
    return conn.execute(sa.text(sql), params)


def _noop(step: str, fraction: float) -> None:
    pass


# Memory PostgreSQL may use per sort or hash in an ETL transaction: a rebuild's DISTINCT
# over 10M events spills to disk at the 4MB default. Bounded, whatever the data size.
ETL_WORK_MEM = "256MB"


def _unbounded(conn: Connection) -> None:
    """ETL statements scan whole tables on a rebuild: lift the console's statement timeout
    and give sorts and hashes more memory, for this transaction only."""
    _q(conn, "SET LOCAL statement_timeout = 0")
    _q(conn, "SELECT set_config('work_mem', :mem, true)", mem=ETL_WORK_MEM)


# ---------------------------------------------------------------- the run log
def _start_run(engine: Engine, job: Job, *, full_reason: str | None, since: datetime | None,
               triggered_by: str, before: dict[str, Any]) -> int:
    with engine.begin() as conn:
        # A 'running' row we can lock past belongs to a process that died: close it.
        _q(conn, """UPDATE etl.runs SET status = 'failed', finished_at = now(),
                        error_text = 'abandoned: the process running it ended'
                    WHERE job = :job AND status = 'running'""", job=job.name)
        return _q(conn, """INSERT INTO etl.runs (job, full_refresh, full_reason, marts,
                                                 triggered_by, since_override, watermark_before,
                                                 source_watermarks_before)
                           VALUES (:job, :full, :reason, :marts, :by, :since, :wm,
                                   CAST(:swm AS jsonb))
                           RETURNING id""",
                  job=job.name, full=full_reason is not None, reason=full_reason,
                  marts=list(job.marts), by=triggered_by, since=since,
                  wm=_display_watermark(before), swm=json.dumps(before)).scalar_one()


def _record_refusal(engine: Engine, job: Job, triggered_by: str) -> int:
    with engine.begin() as conn:
        return _q(conn, """INSERT INTO etl.runs (job, status, finished_at, marts, triggered_by,
                                                 error_text)
                           VALUES (:job, 'refused', now(), :marts, :by,
                                   'another run of this job is in progress')
                           RETURNING id""",
                  job=job.name, marts=list(job.marts), by=triggered_by).scalar_one()


def _fail_run(engine: Engine, run_id: int, result: RunResult) -> None:
    with engine.begin() as conn:
        _q(conn, """UPDATE etl.runs SET status = 'failed', finished_at = now(), rows_in = :rin,
                        rows_loaded = 0, rows_quarantined = :rq, warnings = :w, error_text = :err
                    WHERE id = :id""",
           id=run_id, rin=result.rows_in, rq=result.rows_quarantined, w=result.warnings,
           err=(result.error or "")[:4000])


def _display_watermark(marks: dict[str, Any]) -> datetime | None:
    stamps = [datetime.fromisoformat(v) for v in marks.values()
              if isinstance(v, str) and "-" in v]
    return max(stamps) if stamps else None


# ---------------------------------------------------------------- watermarks and staging
def _rebuild_reason(conn: Connection, job: Job) -> str | None:
    """'definition_changed' when the marts were last loaded by another version of the job's
    definition (or by a version from before digests were kept), else None. A job never run
    has no watermark and reads everything anyway."""
    row = _q(conn, "SELECT definition FROM etl.watermarks WHERE job = :job", job=job.name).first()
    if row is None or row.definition == job.definition:
        return None
    return "definition_changed"


def _watermarks(conn: Connection, job: Job) -> dict[str, Any]:
    row = _q(conn, "SELECT sources FROM etl.watermarks WHERE job = :job", job=job.name).first()
    return dict(row.sources) if row else {}


def _stage(engine: Engine, job: Job, session: Session, *, full: bool,
           since: datetime | None, before: dict[str, Any]
           ) -> tuple[dict[str, Batch], dict[str, Any]]:
    """The session's batch of each source (staged on first use, shared with the other jobs
    extracting the same rows), named for this job's SQL by a view ``etl.stg_<job>__<source>``.
    Returns the batch per source and the new watermarks."""
    batches: dict[str, Batch] = {}
    after = dict(before)
    for table in job.sources:
        batch = session.batch(table, full=full, since=since, mark=before.get(table))
        batches[table] = batch
        # A --since run reprocesses by business time: rows changed after the old watermark
        # may lie outside it, so the watermark stays where it was.
        if batch.high is not None and since is None:
            after[table] = batch.high
    with engine.begin() as conn:
        for table, batch in batches.items():
            stg = job.staging(table)
            _drop_staging(conn, stg)
            conn.execute(sa.text(f"CREATE VIEW {stg} AS SELECT * FROM {batch.relation}"))
    return batches, after


def _drop_staging(conn: Connection, stg: str) -> None:
    kind = _q(conn, """SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname || '.' || c.relname = :name""", name=stg).scalar()
    if kind == "v":
        conn.execute(sa.text(f"DROP VIEW {stg}"))
    elif kind is not None:
        conn.execute(sa.text(f"DROP TABLE {stg}"))


# ---------------------------------------------------------------- validation
def _previous_counts(conn: Connection, job: Job) -> dict[str, int | None]:
    """Each row-count check's count at the job's latest succeeded run that recorded it.
    Walks the job's runs newest first (index on etl.runs (job, started_at)) and probes their
    results by run id: the cost stays flat however long the validation history grows."""
    names = [c.name for c in job.suite.checks if c.kind == "row_count_drop"]
    if not names:
        return {}
    rows = _q(conn, """SELECT e.expectation, last.observed_value
                       FROM unnest(CAST(:names AS text[])) AS e(expectation)
                       CROSS JOIN LATERAL (
                           SELECT v.observed_value
                           FROM etl.runs r JOIN etl.validation_results v ON v.run_id = r.id
                           WHERE r.job = :job AND r.status = 'succeeded'
                             AND v.expectation = e.expectation
                             AND v.expectation_type = 'expect_table_row_count_to_be_between'
                           ORDER BY r.started_at DESC, r.id DESC, v.id DESC
                           LIMIT 1) last""", job=job.name, names=names)
    return {r.expectation: int(r.observed_value) for r in rows if r.observed_value is not None}


def _validate(engine: Engine, job: Job, run_id: int, progress: Progress, session: Session,
              batches: dict[str, Batch]) -> list[tuple[Check, bool]]:
    """GE over each batch plus our SQL row checks; results and failing rows are committed as
    history. A batch another job of the session validated already is not validated again:
    its verdicts and quarantined rows are recorded again under this run. Returns each check
    with its verdict."""
    with engine.connect() as conn:
        previous = _previous_counts(conn, job)
    verdicts: list[tuple[Check, bool]] = []
    n = len(job.sources)
    for i, table in enumerate(job.sources):
        progress(f"validate {table}", 0.15 + 0.35 * i / n)
        batch, checks = batches[table], job.suite.for_source(table)
        by_name = session.ge_results(batch, checks, previous)
        quarantined: list[tuple[Check, int]] = []
        with engine.begin() as conn:
            _unbounded(conn)
            for check in checks:
                failing = None
                if check.row_level:
                    failing = session.quarantine(conn, job=job.name, run_id=run_id, check=check,
                                                 batch=batch)
                    quarantined.append((check, failing))
                g = by_name[check.name]
                ok = g.success and not failing
                verdicts.append((check, ok))
                _q(conn, """INSERT INTO etl.validation_results
                                (run_id, job, suite, expectation, expectation_type, source_table,
                                 severity, success, ge_success, observed_value, element_count,
                                 failing_rows, details)
                            VALUES (:run, :job, :suite, :exp, :etype, :src, :sev, :ok, :ge_ok,
                                    :obs, :elements, :failing, CAST(:details AS jsonb))""",
                   run=run_id, job=job.name, suite=job.suite.name, exp=check.name,
                   etype=g.expectation_type, src=table, sev=check.severity, ok=ok,
                   ge_ok=g.success, obs=g.observed, elements=g.element_count, failing=failing,
                   details=json.dumps(g.details, ensure_ascii=False))
        for check, rows in quarantined:
            session.quarantine_committed(run_id, batch, check, rows)
    return verdicts


# ---------------------------------------------------------------- load
def load_step(conn: Connection, job: Job, step: str, sql: str, params: dict[str, Any]) -> int:
    """Run one transformation step of the load; returns rows written. (A seam for tests.)"""
    return conn.execute(sa.text(sql), params).rowcount


def _load(conn: Connection, job: Job, run_id: int, *, full: bool, after: dict[str, Any],
          progress: Progress) -> int:
    _q(conn, "SELECT set_config('etl.job', :job, true)", job=job.name)
    if full:
        _q(conn, "DELETE FROM etl.excluded_rows WHERE job = :job", job=job.name)
    else:
        for table in job.sources:  # rows carried again get a fresh verdict
            _q(conn, f"""DELETE FROM etl.excluded_rows x USING {job.staging(table)} s
                         WHERE x.job = :job AND x.source_table = :src
                           AND x.row_key = coalesce(s.id::text, '<null>')""",
               job=job.name, src=table)
    _q(conn, """INSERT INTO etl.excluded_rows (job, source_table, row_key, run_id, expectation)
                SELECT DISTINCT ON (source_table, row_key) job, source_table, row_key, run_id,
                       expectation
                FROM etl.quarantine WHERE run_id = :run
                ORDER BY source_table, row_key, id
                ON CONFLICT (job, source_table, row_key) DO UPDATE
                    SET run_id = EXCLUDED.run_id, expectation = EXCLUDED.expectation""",
       run=run_id)
    params = {"run_id": run_id, "full": full}
    written = 0
    for i, (step, sql) in enumerate(job.steps):
        progress(f"load {step}", 0.55 + 0.4 * i / max(1, len(job.steps)))
        count = load_step(conn, job, step, sql, params)
        if not step.startswith("prep_"):  # prep steps build temp tables, not marts
            written += max(0, count)
    _q(conn, """INSERT INTO etl.watermarks (job, watermark, sources, definition, updated_at)
                VALUES (:job, coalesce(:wm, '-infinity'::timestamptz), CAST(:src AS jsonb),
                        :definition, now())
                ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark,
                    sources = EXCLUDED.sources, definition = EXCLUDED.definition,
                    updated_at = now()""",
       job=job.name, wm=_display_watermark(after), src=json.dumps(after),
       definition=job.definition)
    return written


# ---------------------------------------------------------------- the run
def run_job(job: Job, *, engine: Engine, full: bool = False, since: datetime | None = None,
            progress: Progress | None = None, triggered_by: str = "cli",
            session: Session | None = None) -> RunResult:
    """Run one job. Pass the ``session`` of a series of jobs (see ``run_jobs``) so that they
    stage and validate each shared source once."""
    if session is None:
        with Session(engine) as own:
            return run_job(job, engine=engine, full=full, since=since, progress=progress,
                           triggered_by=triggered_by, session=own)
    progress = progress or _noop
    started = time.perf_counter()
    with engine.connect() as lock_conn:
        got = _q(lock_conn, "SELECT pg_try_advisory_lock(:ns, hashtext(:job))",
                 ns=LOCK_NAMESPACE, job=job.name).scalar()
        lock_conn.commit()
        if not got:
            run_id = _record_refusal(engine, job, triggered_by)
            return RunResult(job.name, run_id, "refused",
                             error=f"job {job.name} is already running; try again when it ends")
        try:
            return _run_locked(job, engine=engine, full=full, since=since, progress=progress,
                               triggered_by=triggered_by, started=started, session=session)
        finally:
            _q(lock_conn, "SELECT pg_advisory_unlock(:ns, hashtext(:job))",
               ns=LOCK_NAMESPACE, job=job.name)
            lock_conn.commit()


def _run_locked(job: Job, *, engine: Engine, full: bool, since: datetime | None,
                progress: Progress, triggered_by: str, started: float,
                session: Session) -> RunResult:
    with engine.connect() as conn:
        # Read under the job's lock: no other run of it can move the digest meanwhile.
        full_reason = "asked" if full else _rebuild_reason(conn, job)
        full = full_reason is not None
        since = None if full_reason == "definition_changed" else since   # the full covers it
        before = {} if full else _watermarks(conn, job)
    run_id = _start_run(engine, job, full_reason=full_reason, since=since,
                        triggered_by=triggered_by, before=before)
    result = RunResult(job.name, run_id, "running")
    try:
        progress("extract", 0.05)
        batches, after = _stage(engine, job, session, full=full, since=since, before=before)
        result.rows_in = sum(b.rows for b in batches.values())
        if result.rows_in == 0 and not full and not job.always_load:
            return _finish(engine, result, after, started, quarantined=0, written=0)
        # An empty batch has no row to check (and its table counts were checked last time).
        verdicts = (_validate(engine, job, run_id, progress, session, batches)
                    if result.rows_in or full else [])
        result.failed_checks = [c.name for c, ok in verdicts if not ok]
        result.warnings = sum(1 for c, ok in verdicts if not ok and c.severity == "warn")
        with engine.connect() as conn:
            quarantined = _q(conn, """SELECT count(*) FROM (SELECT DISTINCT source_table, row_key
                                      FROM etl.quarantine WHERE run_id = :run) q""",
                             run=run_id).scalar_one()
        result.rows_quarantined = int(quarantined)
        errors = [c.name for c, ok in verdicts if not ok and c.severity == "error"]
        if errors:
            raise ValidationFailed("validation failed (error severity): " + ", ".join(errors))
        with engine.begin() as conn:
            _unbounded(conn)
            written = _load(conn, job, run_id, full=full, after=after, progress=progress)
            _finish_in(conn, result, after, quarantined=result.rows_quarantined, written=written)
        result.status = "succeeded"
        if written or full:  # a load that wrote nothing left the marts as last checked
            progress("contracts", 0.97)
            _check_contracts(engine, job, result)
        result.seconds = time.perf_counter() - started
        progress("done", 1.0)
        return result
    except Exception as exc:  # the load's transaction rolled back: marts untouched
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - started
        _fail_run(engine, run_id, result)
        return result
    finally:
        with engine.begin() as conn:
            for table in job.sources:
                _drop_staging(conn, job.staging(table))


def _check_contracts(engine: Engine, job: Job, result: RunResult) -> None:
    """The marts' contracts, after the load: recorded as the run's validation results and
    counted as its warnings. A failed contract does not fail the run (the load stands);
    mart.freshness marks the mart."""
    result.contracts_failed = contracts.validate(engine, job=job.name, marts=job.marts,
                                                 run_id=result.run_id)
    if result.contracts_failed:
        result.warnings += len(result.contracts_failed)
        with engine.begin() as conn:
            _q(conn, "UPDATE etl.runs SET warnings = :w WHERE id = :id",
               w=result.warnings, id=result.run_id)


def _finish(engine: Engine, result: RunResult, after: dict[str, Any], started: float, *,
            quarantined: int, written: int) -> RunResult:
    with engine.begin() as conn:
        _finish_in(conn, result, after, quarantined=quarantined, written=written)
    result.status, result.seconds = "succeeded", time.perf_counter() - started
    return result


def _finish_in(conn: Connection, result: RunResult, after: dict[str, Any], *,
               quarantined: int, written: int) -> None:
    result.rows_quarantined = quarantined
    result.rows_loaded = result.rows_in - quarantined
    result.mart_rows_written = written
    # clock_timestamp(): the load's transaction began before its steps ran, and now() is
    # that beginning; the run log's duration must include the load.
    _q(conn, """UPDATE etl.runs SET status = 'succeeded', finished_at = clock_timestamp(), rows_in = :rin,
                    rows_loaded = :rl, rows_quarantined = :rq, mart_rows_written = :w,
                    warnings = :warn, watermark_after = :wm,
                    source_watermarks_after = CAST(:swm AS jsonb)
                WHERE id = :id""",
       id=result.run_id, rin=result.rows_in, rl=result.rows_loaded, rq=quarantined, w=written,
       warn=result.warnings, wm=_display_watermark(after), swm=json.dumps(after))


def run_jobs(jobs: list[Job], *, engine: Engine, full: bool = False,
             since: datetime | None = None, progress_for: Callable[[str], Progress] | None = None,
             triggered_by: str = "cli") -> list[RunResult]:
    """Run jobs in order in one session: each source is staged and validated once; then the
    finance tables' checks (etl/finance_checks.py), recorded under the session's last run."""
    with Session(engine) as session:
        results = [run_job(job, engine=engine, full=full, since=since,
                           progress=progress_for(job.name) if progress_for else None,
                           triggered_by=triggered_by, session=session) for job in jobs]
    _check_finance(engine, results)
    return results


def _check_finance(engine: Engine, results: list[RunResult]) -> None:
    from etl import finance_checks
    ran = [r for r in results if r.status != "refused"]
    if ran:
        finance_checks.validate(engine, job=ran[-1].job, run_id=ran[-1].run_id)


def check_contracts(jobs: list[Job], *, engine: Engine, triggered_by: str = "cli") -> dict[str, list[str]]:
    """Validate the jobs' marts against their contracts without loading anything (after a
    hand fix, or to look again); returns each job's failed checks. Each check is logged as
    a run of its job that names no mart, so it moves no mart's freshness."""
    failed: dict[str, list[str]] = {}
    for job in jobs:
        with engine.begin() as conn:
            run_id = _q(conn, """INSERT INTO etl.runs (job, status, marts, triggered_by)
                                 VALUES (:job, 'running', '{}', :by) RETURNING id""",
                        job=job.name, by=f"{triggered_by}:contracts").scalar_one()
        failed[job.name] = contracts.validate(engine, job=job.name, marts=job.marts,
                                              run_id=run_id)
        if job is jobs[-1]:   # and the finance tables' checks, once
            from etl import finance_checks
            failed[job.name] += finance_checks.validate(engine, job=job.name, run_id=run_id,
                                                       force=True)
        with engine.begin() as conn:
            _q(conn, """UPDATE etl.runs SET status = 'succeeded', finished_at = clock_timestamp(),
                            warnings = :w WHERE id = :id""", w=len(failed[job.name]), id=run_id)
    return failed
