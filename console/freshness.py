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
from datetime import datetime

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
