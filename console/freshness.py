"""Honest freshness (issue #14): how old the newest source event behind a mart is.

A mart's validation can pass on data that stopped arriving: the ETL ran, the contracts
held, and the week's KPIs read 0 and −100% because nothing new reached the raw tables. So
the badge also compares the newest *source event* (the latest business time in the raw
tables feeding the mart: a registration, a listing published, a request, a payment, an
event) with the clock, and warns when it is older than the mart's threshold.

Thresholds are hours per ETL job (a job loads its marts together), with defaults below and
an override in the settings (console/settings.py ``freshness_hours``, from the environment:
``CONSOLE_FRESHNESS_HOURS="daily_kpis=48,funnel_facts=72"``; unknown names are ignored).

Only indexed business times are read (``max(col) WHERE col <= now``: one index probe from
the top, so it is milliseconds on the large bench); a source without one (orders, matches,
…) is covered by ``app.events``, which records every step of the marketplace. A time in
the future (a clock skew in a source) is not taken for fresh data.

With a streaming replica (READ_DATABASE_URL), the dashboards read the standby
(console/db.py), so their figures are also as old as its replay lag: ``replica_lag`` reads it
on the standby, and the badge says it, marked stale above CONSOLE_REPLICA_STALE_SECONDS.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Connection

from console import clock, db
from console.settings import get_settings

# Source table -> its business time column (each has an index).
SOURCE_EVENT_TIME: dict[str, str] = {
    "app.merchants": "registered_at",
    "app.listings": "published_at",
    "app.requests": "created_at",
    "app.payments": "created_at",
    "app.events": "occurred_at",
}
# Hours the newest source event may be old before the badge warns, per job.
DEFAULT_FRESHNESS_HOURS: dict[str, int] = {
    "daily_kpis": 36,
    "funnel_facts": 36,
    "supply_demand": 36,
    "bd_performance": 36,
    "merchant_features": 48,
    "cohort_activity": 72,      # monthly figures: a quiet weekend is no alarm
}
FALLBACK_HOURS = 36


def freshness_hours() -> dict[str, int]:
    """The thresholds in force: the defaults, overridden by the settings' freshness_hours
    (CONSOLE_FRESHNESS_HOURS) for the jobs it names."""
    hours = dict(DEFAULT_FRESHNESS_HOURS)
    hours.update({name: value for name, value in get_settings().freshness_hours.items()
                  if name in hours})
    return hours


def job_of_mart(mart: str) -> str | None:
    """'mart.kpi_periods' or 'kpi_periods' -> 'daily_kpis' (the job that loads it)."""
    from etl.jobs import JOBS
    name = mart if mart.startswith("mart.") else f"mart.{mart}"
    return next((j.name for j in JOBS.values() if name in j.marts), None)


@dataclass(frozen=True)
class SourceFreshness:
    job: str
    newest_event: datetime | None     # None: no source event at all
    age_hours: float | None
    threshold_hours: int
    checked_at: datetime

    @property
    def stale(self) -> bool:
        """No source event at all, or the newest older than the threshold."""
        return self.age_hours is None or self.age_hours > self.threshold_hours


def newest_events(conn: Connection, tables: list[str] | tuple[str, ...], *,
                  now: datetime) -> dict[str, datetime | None]:
    """Per source table (of SOURCE_EVENT_TIME), its latest business time not after ``now``."""
    out: dict[str, datetime | None] = {}
    for table in tables:
        column = SOURCE_EVENT_TIME.get(table)
        if column is None:
            continue
        # Table and column names come from the dict above, never from input.
        out[table] = db.scalar(conn, f"SELECT max({column}) FROM {table} WHERE {column} <= :now",
                               now=now)
    return out


def source_freshness(conn: Connection, jobs: list[str] | tuple[str, ...] | None = None, *,
                     now: datetime | None = None) -> dict[str, SourceFreshness]:
    """Per ETL job: its newest source event, how old it is at ``now`` (the business clock
    by default), and the threshold it is held to."""
    from etl.jobs import JOBS
    now = now or clock.now()
    names = list(jobs) if jobs is not None else list(JOBS)
    tables = sorted({t for n in names for t in JOBS[n].sources})
    newest = newest_events(conn, tables, now=now)
    hours = freshness_hours()
    out = {}
    for name in names:
        times = [newest[t] for t in JOBS[name].sources if newest.get(t) is not None]
        latest = max(times) if times else None
        age = None if latest is None else round((now - latest).total_seconds() / 3600, 1)
        out[name] = SourceFreshness(job=name, newest_event=latest, age_hours=age,
                                    threshold_hours=hours.get(name, FALLBACK_HOURS),
                                    checked_at=now)
    return out


@dataclass(frozen=True)
class ReplicaLag:
    """How far the standby a connection reads is behind its primary."""
    seconds: float | None      # None: it has replayed no transaction yet
    threshold_seconds: int     # CONSOLE_REPLICA_STALE_SECONDS

    @property
    def stale(self) -> bool:
        return self.seconds is None or self.seconds > self.threshold_seconds


# On a standby: 0 when it has replayed all it received (an idle primary sends nothing, so the
# last replayed transaction's age is no lag), else the age of the last transaction replayed.
_REPLICA_LAG_SQL = """
    SELECT pg_is_in_recovery() AS standby,
           CASE WHEN NOT pg_is_in_recovery() THEN NULL
                WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                     THEN 0
                ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())
           END AS lag_s"""


def replica_lag(conn: Connection) -> ReplicaLag | None:
    """The replay lag of the server ``conn`` reads, or None when it is no standby."""
    row = db.fetch_one(conn, _REPLICA_LAG_SQL)
    if not row["standby"]:
        return None
    lag = None if row["lag_s"] is None else max(0.0, float(row["lag_s"]))
    return ReplicaLag(seconds=lag, threshold_seconds=get_settings().replica_stale_seconds)


# ---------------------------------------------------------------- a rebuilt mart's badge
@dataclass(frozen=True)
class BuildFreshness:
    """The badge of a mart rebuilt by one jobs step and logged in its builds table (the loan
    portfolio, the logistics desk): when it was built, as of which day, the newest source row
    it read, and the step's last run."""

    computed_at: datetime | None      # the newest build (None: never built)
    as_of: date | None
    newest_source: datetime | None
    last_run_at: datetime | None      # the step's latest run, succeeded or failed
    last_run_status: str | None       # 'succeeded' | 'failed' | None
    age_hours: float | None
    threshold_hours: int
    # hours since a run of the step last found the build current (a mart rebuilt only when
    # something changed: console/finance/portfolio_mart.refresh), else None: the build's age
    checked_hours: float | None = None

    @property
    def state(self) -> str:
        """'none' never built; 'failed' the step's latest run failed after the newest build;
        'stale' built, or last found current, longer ago than the threshold, or as of a day
        before today; 'ok'."""
        if self.computed_at is None:
            return "none"
        if self.last_run_status == "failed":
            return "failed"
        age = self.checked_hours if self.checked_hours is not None else self.age_hours
        if (age is None or age > self.threshold_hours
                or (self.as_of is not None and self.as_of < clock.today())):
            return "stale"
        return "ok"


def _hours_since(at: datetime | None) -> float | None:
    return None if at is None else round((clock.now() - at).total_seconds() / 3600, 1)


def build_freshness(conn: Connection, *, builds_table: str, step: str, stale_hours: int,
                    checked: bool = False) -> BuildFreshness:
    """The newest row of ``builds_table`` (a constant of the calling module, never input)
    and the latest run of jobs step ``step``; ``checked``: the table keeps when a run last
    found the build current (checked_at). The threshold: settings' freshness_hours for the
    step, else ``stale_hours``."""
    checked_sql = "greatest(b.finished_at, b.checked_at)" if checked else "NULL::timestamptz"
    row = db.fetch_one(conn, f"""
        SELECT b.finished_at, b.as_of, b.newest_source, {checked_sql} AS checked_at,
               (SELECT max(finished_at) FROM etl.job_runs WHERE job = :step) AS last_run_at,
               (SELECT status FROM etl.job_runs WHERE job = :step
                ORDER BY finished_at DESC, id DESC LIMIT 1) AS last_status
        FROM (SELECT NULL) one
        LEFT JOIN LATERAL (SELECT * FROM {builds_table}
                           ORDER BY finished_at DESC, id DESC LIMIT 1) b ON true""", step=step)
    built = row["finished_at"]
    status = row["last_status"]
    # A failed run before the newest build is no news: the mart is newer than it.
    if status == "failed" and built is not None and row["last_run_at"] is not None \
            and row["last_run_at"] < built:
        status = "succeeded"
    return BuildFreshness(computed_at=built, as_of=row["as_of"],
                          newest_source=row["newest_source"], last_run_at=row["last_run_at"],
                          last_run_status=status, age_hours=_hours_since(built),
                          threshold_hours=get_settings().freshness_hours.get(step, stale_hours),
                          checked_hours=_hours_since(row["checked_at"]))
