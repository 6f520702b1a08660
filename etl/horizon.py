"""The change horizon: from which ``updated_at`` the next incremental run must read again.

Every source row's ``updated_at`` is stamped by the database (migration 064): the clock at
the statement that wrote it, read after the transaction took its id. A transaction that
commits after a run read its rows therefore either

- had its id when the run looked at ``pg_stat_activity``: its rows are no older than its
  ``xact_start``, which the run saw; or
- took its id later: its rows are newer than the clock the run read before looking.

So the next run reads ``updated_at >= min(this run's clock, oldest open writer's start)``
and can skip no commit; rows read twice are merged twice, which the merges allow. No
safety margin is added: the order "id, then clock" in the trigger closes the gap a margin
would cover, and a margin would re-read the last seconds on every run. The database
server's clock must not step backwards (NTP slews it; after a step, run ``--full``).

``pg_stat_activity`` shows other roles' ``xact_start`` only to superusers and members of
``pg_read_all_stats`` (the ETL's role needs it). When an open writer's start is hidden,
the horizon is unknown: the caller keeps its previous watermark (correct, only slower).
Prepared (two-phase) transactions are not seen at all; the project does not use them.
"""
from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# Write transactions of this database other than ours: those that hold a transaction id.
_OPEN_WRITERS = """
SELECT min(a.xact_start) AS oldest, count(*) FILTER (WHERE a.xact_start IS NULL) AS hidden
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
  AND a.pid <> pg_backend_pid()
"""


def change_horizon(conn: Connection, *, clock: datetime | None = None) -> datetime | None:
    """The time the next incremental run reads from, or None when an open write
    transaction's start is hidden from this role (keep the previous watermark).

    ``clock`` caps the run's start for callers on a fixed clock (tests' ``as_of``); the
    database's clock is read either way, before the open transactions are looked at.
    """
    now = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    # pg_stat_activity is a snapshot taken once per transaction: take a fresh one.
    conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    writers = conn.execute(sa.text(_OPEN_WRITERS)).one()
    if writers.hidden:
        log.warning("%d open write transaction(s) hidden from role %s: watermark kept "
                    "(GRANT pg_read_all_stats to the jobs' role)", writers.hidden,
                    conn.execute(sa.text("SELECT current_user")).scalar_one())
        return None
    start = min(now, clock) if clock is not None else now
    return min(start, writers.oldest) if writers.oldest is not None else start
