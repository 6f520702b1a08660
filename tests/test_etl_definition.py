"""An ETL job whose SQL changed rebuilds its marts in full on its next run (migration 118):
an incremental run merges only the rows changed since its watermark, so without this a rule
changed in sql/etl/<job>.sql left each mart a mix of the old and the new rule until someone
ran --full. The hand-built sources and mart snapshots are tests/test_etl.py's."""
from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timezone

import pytest

import etl.job
from etl import run_all
from etl.jobs import JOBS
from etl.runner import run_job
from tests.test_etl import q, seeded, snapshot  # noqa: F401 - the fixture

JOB = "daily_kpis"


def runs(engine, job: str) -> list[tuple]:
    return [tuple(r) for r in q(engine, """SELECT full_refresh, full_reason, status FROM etl.runs
                                           WHERE job = :j ORDER BY id""", j=job)]


def stale_rule(engine) -> None:
    """A mart row as an older rule computed it: one day's GMV one yuan higher."""
    q(engine, """UPDATE mart.daily_kpis SET gmv = gmv + 1
                 WHERE day = (SELECT min(day) FROM mart.daily_kpis WHERE gmv > 0)""")


def test_each_run_keeps_the_digest_of_the_sql_it_ran(seeded):
    run_all(engine=seeded)
    assert dict(q(seeded, "SELECT job, definition FROM etl.watermarks WHERE definition IS NOT NULL")) == {
        name: job.definition for name, job in JOBS.items()}
    assert runs(seeded, JOB) == [(False, None, "succeeded")]
    run_all(engine=seeded, names=[JOB], full=True)
    assert runs(seeded, JOB)[-1] == (True, "asked", "succeeded")


def test_a_changed_definition_rebuilds_what_an_incremental_run_would_leave(seeded):
    run_all(engine=seeded)
    built = snapshot(seeded)
    stale_rule(seeded)
    run_all(engine=seeded)                        # nothing changed in the sources: left as is
    assert snapshot(seeded)["mart.daily_kpis"] != built["mart.daily_kpis"]
    assert runs(seeded, JOB)[-1] == (False, None, "succeeded")

    q(seeded, "UPDATE etl.watermarks SET definition = 'the digest of last week''s SQL' WHERE job = :j",
      j=JOB)
    results = {r.job: r for r in run_all(engine=seeded)}
    assert snapshot(seeded) == built
    assert runs(seeded, JOB)[-1] == (True, "definition_changed", "succeeded")
    assert {j: (r.status, r.rows_in) for j, r in results.items() if j != JOB} == {
        j: ("succeeded", 0) for j in JOBS if j != JOB}           # the others: incremental
    run_all(engine=seeded)                        # the digest is its own again: incremental
    assert runs(seeded, JOB)[-1] == (False, None, "succeeded")


def test_marts_built_before_digests_were_kept_are_rebuilt_once(seeded):
    run_all(engine=seeded)
    q(seeded, "UPDATE etl.watermarks SET definition = NULL")   # as migration 118 found them
    run_all(engine=seeded)
    assert {job: runs(seeded, job)[-1] for job in JOBS} == {
        job: (True, "definition_changed", "succeeded") for job in JOBS}
    run_all(engine=seeded)
    assert {job: runs(seeded, job)[-1][:2] for job in JOBS} == {job: (False, None) for job in JOBS}


def test_editing_the_jobs_sql_file_changes_its_digest_and_its_next_run_is_full(
        seeded, tmp_path, monkeypatch):
    run_all(engine=seeded)
    built = snapshot(seeded)
    stale_rule(seeded)
    copy = tmp_path / "etl"
    shutil.copytree(etl.job.SQL_DIR, copy)
    path = copy / f"{JOB}.sql"
    text = path.read_text(encoding="utf-8")
    # The same rule written another way: one more space in the first step's SQL.
    path.write_text(text.replace("SELECT", "SELECT ", 1), encoding="utf-8")
    monkeypatch.setattr(etl.job, "SQL_DIR", copy)
    edited = dataclasses.replace(JOBS[JOB])        # a new Job: its steps and digest read anew
    assert edited.definition != JOBS[JOB].definition
    result = run_job(edited, engine=seeded)
    assert (result.status, runs(seeded, JOB)[-1]) == ("succeeded", (True, "definition_changed", "succeeded"))
    assert snapshot(seeded) == built


def test_a_since_run_after_a_change_is_full_and_keeps_the_watermark_moving(seeded):
    run_all(engine=seeded)
    marks = q(seeded, "SELECT sources FROM etl.watermarks WHERE job = :j", j=JOB)[0][0]
    q(seeded, "UPDATE etl.watermarks SET definition = 'old' WHERE job = :j", j=JOB)
    run_all(engine=seeded, names=[JOB], since=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert runs(seeded, JOB)[-1] == (True, "definition_changed", "succeeded")
    # Each source's mark moved on to this run's horizon: not held back (as --since holds it)
    # and not emptied (which would make the next incremental run read everything again).
    after = q(seeded, "SELECT sources FROM etl.watermarks WHERE job = :j", j=JOB)[0][0]
    assert after.keys() == marks.keys()
    assert all(datetime.fromisoformat(after[k]) > datetime.fromisoformat(marks[k]) for k in marks)


@pytest.mark.parametrize("reason, words", [("asked", "按需"), ("definition_changed", "口径变更")])
def test_the_data_quality_page_says_why_a_run_was_full(seeded, make_actor, reason, words):
    from tests.apptest import app_as
    run_all(engine=seeded, names=[JOB], full=reason == "asked")
    if reason == "definition_changed":
        q(seeded, "UPDATE etl.watermarks SET definition = 'old' WHERE job = :j", j=JOB)
        run_all(engine=seeded, names=[JOB])
    at = app_as(make_actor("admin"), page="pages/admin_data_quality.py")
    assert not at.exception
    history = next(d.value for d in at.dataframe if "全量原因" in d.value.columns)
    assert history["全量原因"].tolist()[0] == words
