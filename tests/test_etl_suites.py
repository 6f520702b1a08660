"""Each suite catches what it promises: one planted defect per expectation, per job.

Upstream constraints (CHECKs, keys, foreign keys) are dropped in the test database first,
as if the source were a replica without them: the suite must still catch the defect.
"""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from etl import run_job
from etl.jobs import JOBS
from tests.test_etl import q, seed

DEFECTS = {  # check kind -> column override making one cloned row fail it
    "in_set": lambda c: "'bogus'" if c.params["values"] and isinstance(c.params["values"][0], str) else "9",
    "non_negative": lambda c: "-1",
    "not_future": lambda c: "now() + interval '30 days'",
    "fk": lambda c: "999999",
    "price_band": lambda c: "5000000",
}


def _loosen(conn, table: str) -> None:
    """Drop the table's constraints (and NOT NULL on id) so any defect can be planted.

    The table's own triggers go too: they keep derived tables (the BD card indexes) in step
    and would refuse a row without an id before the suite under test could see it."""
    rows = conn.execute(sa.text(
        """SELECT conname FROM pg_constraint
           WHERE conrelid = CAST(:t AS regclass) AND contype IN ('c', 'f', 'u', 'p')"""),
        {"t": table}).all()
    for (name,) in rows:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}" CASCADE'))
    conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN id DROP NOT NULL"))
    conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def _clone(conn, table: str, overrides: dict[str, str]) -> None:
    """Insert a copy of the table's first row with some columns replaced (SQL expressions)."""
    cols = [r[0] for r in conn.execute(sa.text(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema || '.' || table_name = :t ORDER BY ordinal_position"""),
        {"t": table})]
    select = ", ".join(overrides.get(c, c) for c in cols)
    conn.execute(sa.text(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} "
        f"WHERE id = (SELECT min(id) FROM {table}) LIMIT 1"))


def _plant(engine, job) -> dict[str, str | None]:
    """One defect per expectation; returns expectation -> the planted row key."""
    planted: dict[str, str | None] = {}
    next_id = iter(range(5000, 6000))
    with engine.begin() as conn:
        for table in job.sources:
            _loosen(conn, table)
        for check in job.suite.checks:
            if check.kind == "row_count_drop":
                conn.execute(sa.text(f"DELETE FROM {check.source} WHERE id >= 3000 AND id < 4000"))
                planted[check.name] = None
                continue
            if check.kind == "not_null":
                _clone(conn, check.source, {"id": "NULL"})
                planted[check.name] = "<null>"
            elif check.kind == "unique":
                _clone(conn, check.source, {"id": "(SELECT min(id) FROM %s)" % check.source})
                planted[check.name] = str(q_min(conn, check.source))
            else:
                key = next(next_id)
                _clone(conn, check.source, {"id": str(key), check.column: DEFECTS[check.kind](check)})
                planted[check.name] = str(key)
    return planted


def q_min(conn, table: str) -> int:
    return conn.execute(sa.text(f"SELECT min(id) FROM {table}")).scalar()


def _pad_for_row_counts(engine, job) -> None:
    """Extra rows (ids 3000+) that the defect run deletes, to drop counts by over half."""
    with engine.begin() as conn:
        for table in {c.source for c in job.suite.checks if c.kind == "row_count_drop"}:
            _loosen(conn, table)
            for i in range(40):
                _clone(conn, table, {"id": str(3000 + i)})


@pytest.mark.parametrize("job_name", list(JOBS))
def test_suite_catches_each_defect_it_promises(engine, job_name):
    job = JOBS[job_name]
    seed(engine)
    _pad_for_row_counts(engine, job)
    baseline = run_job(job_name, engine=engine, full=True)
    assert baseline.status == "succeeded", baseline.error

    planted = _plant(engine, job)
    result = run_job(job_name, engine=engine, full=True)
    assert result.status == "failed"  # key and row-count checks are errors
    verdicts = {r.expectation: r for r in q(engine, """
        SELECT expectation, success, ge_success, severity FROM etl.validation_results
        WHERE run_id = :run""", run=result.run_id)}
    assert set(verdicts) == {c.name for c in job.suite.checks}
    caught = {name for name, v in verdicts.items() if not v.success and not v.ge_success}
    assert caught == set(planted), sorted(set(planted) - caught)
    quarantined = {}
    for row in q(engine, "SELECT expectation, row_key FROM etl.quarantine WHERE run_id = :run",
                 run=result.run_id):
        quarantined.setdefault(row.expectation, set()).add(row.row_key)
    for name, key in planted.items():
        if key is not None:
            assert key in quarantined.get(name, set()), (name, key, quarantined.get(name))
    assert json.loads(json.dumps(result.failed_checks)) and result.error.startswith(
        "ValidationFailed: validation failed (error severity): ")
