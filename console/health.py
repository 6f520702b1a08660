"""`python -m console health`: is this console fit to serve? For a load balancer's check, a
systemd ExecStartPost/watchdog or a monitoring probe: a short report, exit 0 healthy, 1 not.

Checks, each as the console's own database role (dh_console), each answering within seconds
even when a server is gone (connect timeout, statement timeout):
- database:     a connection, and how long it took;
- migrations:   every migration file applied, none changed since (public.schema_migrations);
- replica:      with READ_DATABASE_URL, the standby's replay lag against
                CONSOLE_HEALTH_MAX_REPLICA_LAG_SECONDS; without it, says there is none;
- last job run: the newest successful run in the jobs' run log (etl.runs, written by every
                `python -m console jobs` and `python -m etl run`) against
                CONSOLE_HEALTH_MAX_JOB_AGE_MINUTES.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import db
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
            row = db.fetch_one(conn, """
                SELECT pg_is_in_recovery() AS standby,
                       CASE WHEN NOT pg_is_in_recovery() THEN NULL
                            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM
                                 pg_last_wal_replay_lsn() THEN 0
                            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
                       END AS lag_s""")
    except Exception as err:  # noqa: BLE001 - the report says why
        return Check("replica", False, _reason(err))
    finally:
        engine.dispose()
    if not row["standby"]:
        return Check("replica", True, "READ_DATABASE_URL is not a standby (reads go to a primary)")
    if row["lag_s"] is None:
        return Check("replica", False, "the standby has replayed no transaction yet")
    lag = float(row["lag_s"])
    return Check("replica", lag <= limit, f"lag {lag:.1f} s, limit {limit} s")


def check_last_job(engine: Engine) -> Check:
    limit = get_settings().health_max_job_age_minutes
    with engine.begin() as conn:
        _bounded(conn)
        row = db.fetch_one(conn, """
            SELECT job, extract(epoch FROM now() - finished_at) AS age_s
            FROM etl.runs WHERE status = 'succeeded' AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 1""")
    if row is None:
        return Check("last job run", False,
                     f"no successful job run yet (limit {limit} min); run python -m console jobs")
    age = max(0.0, float(row["age_s"]))
    return Check("last job run", age <= limit * 60,
                 f"{_age(age)} ago ({row['job']}), limit {limit} min")


def _guarded(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - a check that cannot run is a failed check
        return Check(name, False, _reason(err))


def check_all() -> list[Check]:
    settings = get_settings()
    engine = db.make_engine(db.role_url("console"), connect_timeout=CONNECT_TIMEOUT_S)
    try:
        database = check_database(engine)
        checks = [database]
        for name, fn in (("migrations", check_migrations), ("last job run", check_last_job)):
            checks.append(_guarded(name, lambda fn=fn: fn(engine)) if database.ok
                          else Check(name, False, "not checked: no database"))
        checks.insert(2, _guarded("replica", lambda: check_replica(settings.read_database_url)))
    finally:
        engine.dispose()
    return checks


def report(checks: list[Check]) -> str:
    lines = [f"{c.name:<13} {'ok' if c.ok else 'FAILED':<7} {c.detail}" for c in checks]
    lines.append("healthy" if all(c.ok for c in checks) else "unhealthy")
    return "\n".join(lines)


def main() -> int:
    checks = check_all()
    print(report(checks), flush=True)
    return 0 if all(c.ok for c in checks) else 1
