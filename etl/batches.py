"""Staged batches shared by the jobs of one ETL session (one ``run_all``, or one ``run_job``).

Six jobs read overlapping sources (app.merchants feeds five of them). Staging and validating
each source once per job repeated the same scans and the same great-expectations work up to
five times. A session stages each source once per distinct extraction (full / since a time /
after a watermark) and validates each batch once; every job that extracts the same batch
reuses it, and still records its own validation results and quarantine rows under its own
run id.

Batch relations are ``etl.batch_<token>_<source>`` (unlogged tables, or views on a full
run). The session holds an advisory lock on its token while it lives, so a later session can
drop what a killed process left behind without touching a live one.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl.checks import Check
from etl.horizon import change_horizon
from etl.sources import SOURCES
from etl.validate import GeResult, validate_relation

SESSION_LOCK_NAMESPACE = 7_310_041  # advisory locks of live sessions, keyed by token
_PREFIX = "batch_"


def _q(conn: Connection, sql: str, **params: Any):
    return conn.execute(sa.text(sql), params)


@dataclass(frozen=True)
class Batch:
    table: str              # the source, e.g. "app.listings"
    relation: str           # etl.batch_<token>_<short>
    rows: int
    high: str | None        # the source's next watermark (ISO time); None: keep the old one


@dataclass
class _Quarantined:
    run_id: int             # the run whose quarantine rows the next job copies
    rows: int


@dataclass
class Session:
    engine: Engine
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    _batches: dict[tuple, Batch] = field(default_factory=dict)
    _ge: dict[tuple, GeResult] = field(default_factory=dict)
    _quarantined: dict[tuple, _Quarantined] = field(default_factory=dict)
    _owner: Connection | None = None

    # ------------------------------------------------------------ life
    def __enter__(self) -> Session:
        self._owner = self.engine.connect()
        _q(self._owner, "SELECT pg_advisory_lock(:ns, hashtext(:t))",
           ns=SESSION_LOCK_NAMESPACE, t=self.token)
        self._owner.commit()
        _sweep_orphans(self._owner)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with self.engine.begin() as conn:
                for batch in self._batches.values():
                    _drop(conn, batch.relation)
        finally:
            if self._owner is not None:
                _q(self._owner, "SELECT pg_advisory_unlock(:ns, hashtext(:t))",
                   ns=SESSION_LOCK_NAMESPACE, t=self.token)
                self._owner.commit()
                self._owner.close()

    # ------------------------------------------------------------ staging
    def batch(self, table: str, *, full: bool, since: datetime | None, mark: Any) -> Batch:
        """The batch of ``table`` for this extraction, staged on first use."""
        key = (table, "full") if full else (table, "since", since) if since is not None \
            else (table, "after", mark) if mark is not None else (table, "all")
        if key not in self._batches:
            relation = f"etl.{_PREFIX}{self.token}_{len(self._batches)}_{SOURCES[table].short}"
            with self.engine.begin() as conn:
                _q(conn, "SET LOCAL statement_timeout = 0")
                self._batches[key] = _stage(conn, table, relation, full=full, since=since,
                                            mark=mark)
        return self._batches[key]

    # ------------------------------------------------------------ validation
    def ge_results(self, batch: Batch, checks: list[Check],
                   previous: dict[str, int | None]) -> dict[str, GeResult]:
        """great-expectations verdicts of ``checks`` of one source: row checks over the
        batch, table checks over the source table; each computed once per session."""
        keys = {c.name: self._ge_key(batch, c, previous) for c in checks}
        row = [c for c in checks if c.row_level and keys[c.name] not in self._ge]
        table = [c for c in checks if not c.row_level and keys[c.name] not in self._ge]
        if row and batch.rows == 0:
            # Nothing to check: a trivially passing verdict, without paying for GE.
            for c in row:
                self._ge[keys[c.name]] = GeResult(c.name, "skipped_empty_batch", True, 0, 0, {})
        elif row:
            self._remember(keys, validate_relation(engine=self.engine, relation=batch.relation,
                                                   checks=row, previous_counts=previous))
        if table:
            self._remember(keys, validate_relation(engine=self.engine, relation=batch.table,
                                                   checks=table, previous_counts=previous))
        return {c.name: self._ge[keys[c.name]] for c in checks}

    def _ge_key(self, batch: Batch, check: Check, previous: dict[str, int | None]) -> tuple:
        if check.row_level:
            return (batch.relation, check.name)
        return (batch.table, check.name, previous.get(check.name))  # the floor depends on it

    def _remember(self, keys: dict[str, tuple], results: list[GeResult]) -> None:
        for r in results:
            self._ge[keys[r.check]] = r

    def quarantine(self, conn: Connection, *, job: str, run_id: int, check: Check,
                   batch: Batch) -> int:
        """Copy the rows of ``batch`` failing ``check`` into the quarantine under ``run_id``;
        returns how many. The predicate runs once per batch; later jobs copy its rows."""
        if batch.rows == 0:
            return 0
        seen = self._quarantined.get((batch.relation, check.name))
        if seen is not None and seen.rows == 0:
            return 0
        if seen is not None:
            return _q(conn, """INSERT INTO etl.quarantine
                                   (run_id, job, source_table, row_key, expectation, severity,
                                    row_data)
                               SELECT :run, :job, source_table, row_key, expectation, :sev,
                                      row_data
                               FROM etl.quarantine
                               WHERE run_id = :origin AND expectation = :exp
                                 AND source_table = :src
                               ORDER BY id""",
                      run=run_id, job=job, sev=check.severity, origin=seen.run_id,
                      exp=check.name, src=check.source).rowcount
        predicate = check.failing_predicate("s", relation=batch.relation)
        return _q(conn, f"""INSERT INTO etl.quarantine
                                (run_id, job, source_table, row_key, expectation, severity,
                                 row_data)
                            SELECT :run, :job, :src, coalesce(s.id::text, '<null>'), :exp, :sev,
                                   to_jsonb(s) - '_change'
                            FROM {batch.relation} s WHERE {predicate}""",
                  run=run_id, job=job, src=check.source, exp=check.name,
                  sev=check.severity).rowcount

    def quarantine_committed(self, run_id: int, batch: Batch, check: Check, rows: int) -> None:
        """Call once the quarantine rows of ``run_id`` are committed: later jobs copy them."""
        self._quarantined.setdefault((batch.relation, check.name), _Quarantined(run_id, rows))


# ---------------------------------------------------------------- helpers
def _stage(conn: Connection, table: str, relation: str, *, full: bool,
           since: datetime | None, mark: Any) -> Batch:
    """Copy the source's batch into an unlogged table; a full run stages a view instead
    (everything, without copying it).

    An incremental batch holds the rows changed at or after the watermark ``mark``; the new
    watermark is the change horizon read here, before the batch (``etl/horizon.py``), not the
    newest change seen: a transaction still open now may commit rows older than that.
    """
    src = SOURCES[table]
    horizon = change_horizon(conn)
    select = f"SELECT s.*, s.updated_at AS _change FROM {table} s"
    if full:
        conn.execute(sa.text(f"CREATE VIEW {relation} AS {select}"))
    elif since is not None:
        _q(conn, f"CREATE UNLOGGED TABLE {relation} AS {select} WHERE ({src.since_expr}) > :since",
           since=since)
    elif mark is not None:
        # >=: a row stamped exactly at the horizon may have committed after the last batch.
        _q(conn, f"CREATE UNLOGGED TABLE {relation} AS {select} "
                 f"WHERE s.updated_at >= CAST(:mark AS timestamptz)", mark=_as_time(mark))
    else:
        conn.execute(sa.text(f"CREATE UNLOGGED TABLE {relation} AS {select}"))
    if not full:
        # The loads join the batch to large tables: give the planner its real size.
        conn.execute(sa.text(f"ANALYZE {relation}"))
    rows = _q(conn, f"SELECT count(*) FROM {relation}").scalar_one()
    return Batch(table, relation, int(rows), horizon.isoformat() if horizon else None)


def _as_time(mark: Any) -> str:
    if isinstance(mark, str):
        return mark
    # An id mark from before migration 064 that the migration did not convert.
    raise ValueError(f"watermark {mark!r} is not a time: run this job with --full once")


def _drop(conn: Connection, relation: str) -> None:
    """Drop a staging relation, table or view, if it is there (CASCADE: the per-job views
    over it go with it)."""
    kind = _q(conn, """SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname || '.' || c.relname = :name""", name=relation).scalar()
    if kind == "v":
        conn.execute(sa.text(f"DROP VIEW {relation} CASCADE"))
    elif kind is not None:
        conn.execute(sa.text(f"DROP TABLE {relation} CASCADE"))


def _sweep_orphans(conn: Connection) -> None:
    """Drop the batches of sessions whose process died (their token lock is free)."""
    names = _q(conn, """SELECT c.relname FROM pg_class c
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = 'etl' AND c.relkind IN ('r', 'v')
                          AND c.relname LIKE 'batch\\_%'""").scalars().all()
    tokens = {n[len(_PREFIX):].split("_", 1)[0] for n in names}
    for token in tokens:
        free = _q(conn, "SELECT pg_try_advisory_lock(:ns, hashtext(:t))",
                  ns=SESSION_LOCK_NAMESPACE, t=token).scalar()
        if not free:
            continue
        try:
            for name in names:
                if name.startswith(f"{_PREFIX}{token}_"):
                    _drop(conn, f"etl.{name}")
        finally:
            _q(conn, "SELECT pg_advisory_unlock(:ns, hashtext(:t))",
               ns=SESSION_LOCK_NAMESPACE, t=token)
    conn.commit()
