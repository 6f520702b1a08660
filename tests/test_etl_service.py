"""The data-quality service and page: who may read, who may run, what they see."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import etl.runner
from console import db
from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import data_quality as dq
from etl import run_job
from tests.apptest import page_script_as
from tests.test_etl import PLANT_WARN_ROWS, q, seed


@pytest.fixture
def seeded(engine):
    seed(engine)
    return engine


def test_admin_runs_a_job_from_the_console_and_it_is_audited(seeded, make_actor):
    admin = make_actor("admin")
    steps = []
    with db.transaction() as conn:
        result = dq.run_job_now(conn=conn, actor=admin, job="supply_demand",
                                progress=lambda step, f: steps.append(step))
    assert (result.status, result.rows_in, result.rows_loaded) == ("succeeded", 9, 9)
    assert steps[0] == "extract" and steps[-1] == "done"
    assert q(seeded, "SELECT triggered_by FROM etl.runs WHERE id = :id", id=result.run_id) == [
        (f"console:{admin.username}",)]
    assert q(seeded, "SELECT actor_id, action, entity_id, after->>'status' FROM ops.audit_log") == [
        (admin.id, "etl.run", str(result.run_id), "succeeded")]


def test_running_refusals(seeded, make_actor):
    manager, admin = make_actor("manager"), make_actor("admin")
    with db.transaction() as conn:
        with pytest.raises(PermissionDenied):
            dq.run_job_now(conn=conn, actor=manager, job="supply_demand")
        with pytest.raises(InvalidInput) as bad:
            dq.run_job_now(conn=conn, actor=admin, job="drop_tables")
    assert bad.value.key == "etl.error.unknown_job"
    holder = seeded.connect()
    try:
        holder.execute(sa.text("SELECT pg_advisory_lock(:ns, hashtext('supply_demand'))"),
                       {"ns": etl.runner.LOCK_NAMESPACE})
        with pytest.raises(Conflict) as busy, db.transaction() as conn:
            dq.run_job_now(conn=conn, actor=admin, job="supply_demand")
        assert busy.value.key == "etl.error.job_running"
    finally:
        holder.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        holder.close()
    assert q(seeded, "SELECT count(*) FROM ops.audit_log") == [(0,)]


def test_manager_reads_history_quarantine_validation_and_freshness(seeded, make_actor):
    with seeded.begin() as conn:
        conn.connection.cursor().execute(PLANT_WARN_ROWS)
    run_job("supply_demand", engine=seeded)
    manager = make_actor("manager")
    with db.connection() as conn:
        history = dq.run_history(conn=conn, actor=manager)
        total, page = dq.quarantined_rows(conn=conn, actor=manager, offset=1, limit=1)
        validation = dq.latest_validation(conn=conn, actor=manager)
        fresh = dq.mart_freshness(conn=conn, actor=manager)
        trend = dq.quarantine_trend(conn=conn, actor=manager)
        with pytest.raises(PermissionDenied):
            dq.run_history(conn=conn, actor=make_actor("bd"))
    assert history[["job", "status", "rows_in", "rows_loaded", "rows_quarantined"]].values.tolist() == [
        ["supply_demand", "succeeded", 11, 9, 2]]
    assert total == 2 and page["row_key"].tolist() == ["50"]
    failed = validation[~validation["success"]]["expectation"].tolist()
    assert sorted(failed) == ["listings.price_in_guide_band", "listings.published_at_not_future"]
    assert fresh[["mart", "job", "last_run_status", "validation_passed", "failed_expectations"]].values.tolist() == [
        ["mart.supply_demand", "supply_demand", "succeeded", False, 2]]
    assert trend["rows"].sum() == 2


def test_page_shows_runs_and_quarantine_for_admin(seeded, make_actor):
    with seeded.begin() as conn:
        conn.connection.cursor().execute(PLANT_WARN_ROWS)
    run_job("supply_demand", engine=seeded)
    at = page_script_as(make_actor("admin"), "pages/admin_data_quality.py", lang="en")
    assert not at.exception
    assert at.title[0].value == "Data quality and ETL runs"
    assert [s.value for s in at.subheader] == [
        "Mart freshness", "Run history", "Quarantined rows (last 30 days)",
        "Latest validation per suite", "Quarantined rows"]
    assert at.button  # the run form is there for an admin
    # Observed values (counts and ratios of any scale) read as text, never a raw 0.500.
    observed = [v for df in at.dataframe if "Observed" in df.value.columns
                for v in df.value["Observed"]]
    assert observed and all(isinstance(v, str) and not v.endswith(".000") for v in observed)


def test_page_refuses_bd(seeded, make_actor):
    at = page_script_as(make_actor("bd"), "pages/admin_data_quality.py", lang="en")
    assert at.error and "Access refused" in at.error[0].value
