"""`python -m console health`: is this console fit to serve? For a load balancer's check, a
systemd ExecStartPost/watchdog or a monitoring probe: a short report, exit 0 healthy, 1 not.

Checks, each as the console's own database role (dh_console), each answering within seconds
even when a server is gone (connect timeout, statement timeout):
- database:     a connection, and how long it took;
- migrations:   every migration file applied, none changed since (public.schema_migrations);
- replica:      with READ_DATABASE_URL, the standby's replay lag against
                CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS; without it, says there is none;
- job <name>:   for every scheduled job (console/jobs.py's steps: prechecks, listing_flags,
                matching, etl, credit, credit_validation, …), the age of its newest success in
                the jobs' run log (etl.job_runs, migration 094, written by `console jobs` and
                by each stand-alone job command alike; for etl also `python -m etl run`'s
                etl.runs)
                against its limit: CONSOLE_HEALTH_JOB_AGE_MINUTES (per job, e.g.
                "credit=1500") over CONSOLE_HEALTH_MAX_JOB_AGE_MINUTES; a failure since the
                last success is named.

``--serving`` checks only what a console process needs to serve pages (the database and the
migrations), for a load balancer: a late job or a lagging replica is for the alerting (the
dashboards' badge says the lag), and must not take every console process out of rotation.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import db, freshness
from console.migrate import discover
from console.settings import get_settings

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _reason(err: Exception) -> str:
    """The server's or driver's first line (no URL, no password, no bound values)."""
    orig = getattr(err, "orig", None) or err
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _bounded(conn: Connection) -> None:
    conn.execute(sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                 {"ms": str(STATEMENT_TIMEOUT_MS)})


def check_database(engine: Engine) -> Check:
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            _bounded(conn)
            user = db.scalar(conn, "SELECT current_user")
    except Exception as err:  # noqa: BLE001 - the report says why
        return Check("database", False, _reason(err))
    ms = (time.perf_counter() - started) * 1000
    return Check("database", True, f"connected as {user} in {ms:.0f} ms")


def check_migrations(engine: Engine) -> Check:
    files = {m.version: m for m in discover()}
    with engine.begin() as conn:
        _bounded(conn)
        applied = {r["version"]: r["checksum"] for r in db.fetch_all(
            conn, "SELECT version, checksum FROM public.schema_migrations")}
    pending = sorted(v for v in files if v not in applied)
    changed = sorted(v for v, m in files.items() if v in applied and applied[v] != m.checksum)
    if pending or changed:
        parts = []
        if pending:
            parts.append(f"{len(pending)} pending ({', '.join(f'{v:03d}' for v in pending)}); "
                         "run python -m console migrate")
        if changed:
            parts.append(f"changed after they were applied: {', '.join(f'{v:03d}' for v in changed)}")
        return Check("migrations", False, "; ".join(parts))
    newer = sorted(set(applied) - set(files))
    note = f" (the database also has {len(newer)} newer than this code)" if newer else ""
    return Check("migrations", True, f"{len(files)} applied, none pending{note}")


def check_replica(url: str | None) -> Check:
    if not url:
        return Check("replica", True, "none (READ_DATABASE_URL not set)")
    limit = get_settings().health_max_replica_lag_seconds
    engine = db.make_engine(db._with_driver(url), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        with engine.begin() as conn:
            _bounded(conn)
            lag = freshness.replica_lag(conn)
    except Exception as err:  # noqa: BLE001 - the report says why
        return Check("replica", False, _reason(err))
    finally:
        engine.dispose()
    if lag is None:
        return Check("replica", True, "READ_DATABASE_URL is not a standby (reads go to a primary)")
    if lag.seconds is None:
        return Check("replica", False, "the standby has replayed no transaction yet")
    return Check("replica", lag.seconds <= limit, f"lag {lag.seconds:.1f} s, limit {limit} s")


def job_limits() -> dict[str, int]:
    """Minutes each scheduled job's last success may be old: the per-job settings over the
    common limit."""
    from console.jobs import STEP_NAMES
    settings = get_settings()
    return {job: settings.health_job_age_minutes.get(job, settings.health_max_job_age_minutes)
            for job in STEP_NAMES}


def check_jobs(engine: Engine) -> list[Check]:
    """One check per scheduled job: its last success within its limit."""
    from console import job_runs
    limits = job_limits()
    with engine.begin() as conn:
        _bounded(conn)
        now = db.scalar(conn, "SELECT now()")
        succeeded = job_runs.last_successes(conn, list(limits))
        failed = {r["job"]: r for r in db.fetch_all(conn, """
            SELECT DISTINCT ON (job) job, finished_at, error_class FROM etl.job_runs
            WHERE status = 'failed' AND job = ANY(CAST(:jobs AS text[]))
            ORDER BY job, finished_at DESC""", jobs=list(limits))}
    checks = []
    for job, limit in limits.items():
        last = succeeded[job]
        failure = failed.get(job)
        since = ""
        if failure is not None and (last is None or failure["finished_at"] > last):
            since = (f"; failed {_age(max(0.0, (now - failure['finished_at']).total_seconds()))}"
                     f" ago ({failure['error_class'] or 'error'})")
        if last is None:
            checks.append(Check(f"job {job}", False,
                                f"no successful run yet (limit {limit} min){since}; "
                                f"run python -m console jobs {job}"))
            continue
        age = max(0.0, (now - last).total_seconds())
        checks.append(Check(f"job {job}", age <= limit * 60,
                            f"{_age(age)} ago, limit {limit} min{since}"))
    return checks


def _guarded(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - a check that cannot run is a failed check
        return Check(name, False, _reason(err))


def check_all(*, serving: bool = False) -> list[Check]:
    """Every check; with ``serving`` only the database and the migrations."""
    from console.jobs import STEP_NAMES
    settings = get_settings()
    engine = db.make_engine(db.role_url("console"), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        database = check_database(engine)
        checks = [database]
        checks.append(_guarded("migrations", lambda: check_migrations(engine)) if database.ok
                      else Check("migrations", False, "not checked: no database"))
        if serving:
            return checks
        checks.append(_guarded("replica", lambda: check_replica(settings.read_database_url)))
        if not database.ok:
            checks += [Check(f"job {job}", False, "not checked: no database")
                       for job in STEP_NAMES]
        else:
            try:
                checks += check_jobs(engine)
            except Exception as err:  # noqa: BLE001 - a check that cannot run is a failed check
                checks += [Check(f"job {job}", False, _reason(err)) for job in STEP_NAMES]
    finally:
        engine.dispose()
    return checks


WIDTH = len("job credit_validation") + 1   # the longest check name, and a space


def report(checks: list[Check]) -> str:
    lines = [f"{c.name:<{WIDTH}} {'ok' if c.ok else 'FAILED':<7} {c.detail}" for c in checks]
    lines.append("healthy" if all(c.ok for c in checks) else "unhealthy")
    return "\n".join(lines)


def main(*, serving: bool = False) -> int:
    checks = check_all(serving=serving)
    print(report(checks), flush=True)
    return 0 if all(c.ok for c in checks) else 1
