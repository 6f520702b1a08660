"""The stored validation report (migration 093, console/credit/validation_store.py): computed
by the scheduled step, the command or a risk officer's recompute, read by the page; its
figures are exactly a fresh computation's; stale after a scoring run or the setting's age;
one computation of a version at a time; the promotion gate never decides on a stored one."""
from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from console import db, jobs
from console.auth import hash_password
from console.errors import Conflict, PermissionDenied
from console.roles import Actor
from console.services import credit
from tests.races import race, wide_engine
from tests.test_credit_support import rows


@pytest.fixture
def staff(demo_engine):
    """A staff account on the demo copy (staff would make a database of its own)."""
    counter = iter(range(1, 1000))

    def _make(*roles: str, username: str | None = None) -> Actor:
        username = username or f"val_{'_'.join(roles)}{next(counter)}"
        with demo_engine.begin() as conn:
            staff_id = conn.execute(sa.text(
                """INSERT INTO ops.staff (username, display_name, password_hash, roles)
                   VALUES (:u, :d, :h, :r) RETURNING id"""),
                {"u": username, "d": username.upper(), "h": hash_password("val-pass-123456"),
                 "r": list(roles)}).scalar_one()
        return Actor(id=staff_id, username=username, display_name=username.upper(),
                     roles=frozenset(roles))

    return _make


def _store(requested_by=None) -> credit.StoredValidation:
    with db.transaction(role="jobs") as conn:
        return credit.compute_and_store(conn, requested_by=requested_by)


def _read(engine, actor) -> credit.Validation:
    with engine.connect() as conn:
        return credit.validation_report(conn=conn, actor=actor)


def _fresh(engine) -> credit.Validation:
    with engine.connect() as conn:
        return credit._validate_versions(conn)


def assert_same_report(stored, fresh) -> None:
    """Every figure of the report, exactly (floats bit for bit, tables cell for cell)."""
    for name in ("version", "plan", "development", "out_of_time", "hl_stat", "hl_df", "hl_p",
                 "score_psi", "score_psi_level", "leak_alarms", "calibrated", "overall"):
        assert getattr(stored, name) == getattr(fresh, name), name
    for name in ("by_grade", "factors"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(fresh, name),
                                      check_exact=True)
    # what the page derives from them
    assert (stored.calibration_holds, stored.pd_too_low, stored.grades_monotonic) == (
        fresh.calibration_holds, fresh.pd_too_low, fresh.grades_monotonic)


def test_the_stored_report_is_exactly_a_fresh_computation_on_the_demo(demo_engine, staff):
    risk = staff("risk")
    nothing = _read(demo_engine, risk)
    assert (nothing.plan, nothing.data_end, nothing.better) == (None, None, None)
    assert [v.stored for v in nothing.versions] == [None] * len(nothing.versions)
    assert [v.report for v in nothing.versions] == [None] * len(nothing.versions)

    done = _store()
    shown = _read(demo_engine, risk)
    fresh = _fresh(demo_engine)
    assert [v.version for v in shown.versions] == [v.version for v in fresh.versions] \
        == done.versions
    assert (shown.plan, shown.data_end, shown.better) == (fresh.plan, fresh.data_end, fresh.better)
    measured = 0
    for kept, now in zip(shown.versions, fresh.versions):
        assert (kept.version_id, kept.status, kept.source, kept.calibration, kept.unrebuilt) == (
            now.version_id, now.status, now.source, now.calibration, now.unrebuilt)
        assert kept.stored.reasons == () and kept.stored.requested_by is None
        if now.report is None:
            assert kept.report is None
            continue
        measured += 1
        assert_same_report(kept.report, now.report)
    assert measured >= 2, [(v.version, v.unrebuilt) for v in fresh.versions]
    stored = rows(demo_engine, """SELECT r.run_id, r.data_end, v.version,
                                         r.config_sha256 = v.config_sha256 AS same_sha
                                  FROM ops.credit_validation_reports r
                                  JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                                  ORDER BY r.id""")
    run = rows(demo_engine, "SELECT max(id) AS id FROM ops.credit_runs WHERE status = 'succeeded'")
    assert stored == [{"run_id": run[0]["id"], "data_end": fresh.data_end, "version": v,
                       "same_sha": True} for v in done.versions]


def _add_scoring_run(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO ops.credit_runs (version_id, status, finished_at, merchants_scored)
            SELECT id, 'succeeded', clock_timestamp(), 0 FROM ops.credit_scorecard_versions
            WHERE status = 'active'"""))


def test_a_report_is_stale_after_a_new_day_of_data_or_the_settings_age(demo_engine, staff,
                                                                       settings_env):
    risk = staff("risk")
    _store()
    assert {v.stored.reasons for v in _read(demo_engine, risk).versions} == {()}
    # A scoring run alone changes nothing the report reads (it rebuilds its own samples);
    # the jobs score every 15 minutes and would recompute it every cycle.
    _add_scoring_run(demo_engine)
    assert {v.stored.reasons for v in _read(demo_engine, risk).versions} == {()}
    with demo_engine.begin() as conn:   # computed to the day before the data's end now
        conn.execute(sa.text("""UPDATE ops.credit_validation_reports
                                SET data_end = data_end - 1"""))
    assert {v.stored.reasons for v in _read(demo_engine, risk).versions} == {("newer_data",)}
    settings_env(CONSOLE_CREDIT_VALIDATION_MAX_AGE_HOURS=0)
    assert {v.stored.reasons for v in _read(demo_engine, risk).versions} == {("newer_data", "age")}
    settings_env(CONSOLE_CREDIT_VALIDATION_MAX_AGE_HOURS=24)
    with demo_engine.begin() as conn:   # the code it ran is not this code any more
        conn.execute(sa.text("UPDATE ops.credit_validation_reports SET code_sha256 = 'old'"))
    assert {v.stored.reasons for v in _read(demo_engine, risk).versions} == {("newer_data", "code")}


def test_the_scheduled_step_computes_when_stale_and_not_again_while_current(demo_engine,
                                                                           jobs_engine):
    def step() -> str:
        [result] = jobs.run_all(engine=jobs_engine, echo=lambda _: None,
                                only=["credit_validation"])
        assert result.ok and not result.skipped, result.detail
        return result.detail

    count = lambda: rows(demo_engine, "SELECT count(*) AS n FROM ops.credit_validation_reports")[0]["n"]  # noqa: E731
    assert step().startswith("validation reports stored for ")
    shown = count()
    assert shown >= 2
    assert step() == "validation reports current"
    assert count() == shown
    _add_scoring_run(demo_engine)              # a scoring run alone: nothing to do
    assert step() == "validation reports current"
    with demo_engine.begin() as conn:           # a new day of data since: computed again
        conn.execute(sa.text("UPDATE ops.credit_validation_reports SET data_end = data_end - 1"))
    assert step().startswith("validation reports stored for ")
    assert count() == 2 * shown


def test_a_risk_officer_recomputes_with_an_audit_row_and_others_may_not(demo_engine,
                                                                         staff):
    risk, manager = staff("risk", username="valrisk"), staff("manager")
    with pytest.raises(PermissionDenied):
        with demo_engine.begin() as conn:
            credit.recompute_validation(conn=conn, actor=manager)
    assert rows(demo_engine, "SELECT count(*) AS n FROM ops.credit_validation_reports") == [{"n": 0}]
    with demo_engine.begin() as conn:
        done = credit.recompute_validation(conn=conn, actor=risk)
    audit = rows(demo_engine, """SELECT action, entity_type, entity_id, after->'report_ids' AS ids,
                                        after->'versions' AS versions
                                 FROM ops.audit_log WHERE action LIKE 'credit.validation%'""")
    assert audit == [{"action": "credit.validation.recompute", "entity_type": "credit_validation",
                      "entity_id": str(done.ids[0]), "ids": done.ids, "versions": done.versions}]
    shown = _read(demo_engine, risk)
    assert {v.stored.requested_by for v in shown.versions} == {"VALRISK"}


def test_a_second_concurrent_recompute_of_the_same_versions_is_refused(demo_engine, staff):
    a, b = staff("risk"), staff("risk")
    with wide_engine(demo_engine.url.render_as_string(hide_password=False), 2) as eng:
        outcomes = race(eng, [(credit.recompute_validation, {"actor": a}),
                              (credit.recompute_validation, {"actor": b})])
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"], outcomes
    refused = next(value for kind, value in outcomes if kind == "refused")
    assert refused == ("Conflict", "credit.error.validation_running")
    done = next(value for kind, value in outcomes if kind == "ok")
    # one computation stored, one audit row
    assert rows(demo_engine, "SELECT count(*) AS n FROM ops.credit_validation_reports") == [
        {"n": len(done.ids)}]
    assert rows(demo_engine, """SELECT count(*) AS n FROM ops.audit_log
                                WHERE action = 'credit.validation.recompute'""") == [{"n": 1}]


def test_the_promotion_gate_decides_on_a_fresh_computation_not_a_stored_report(demo_engine,
                                                                             staff):
    """A stored report that says something else (stale, or written by hand) changes nothing
    the gate decides: on the small demo v2's fresh report has a leak alarm (review_count, on
    54 merchants out of time), so a stored copy that claims none, at an AUC of 0.999, does
    not get it proposed."""
    risk = staff("risk")
    _store()
    fresh = _fresh(demo_engine)
    candidate = next(v for v in fresh.versions if v.status == "candidate" and v.report is not None)
    assert candidate.report.leak_alarms == ["review_count"]
    with demo_engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_validation_reports
                                SET report = jsonb_set(jsonb_set(report, '{out_of_time,auc}',
                                                                 '0.999'),
                                                       '{leak_alarms}', '[]')
                                WHERE report IS NOT NULL"""))
    shown = {v.version: v.report for v in _read(demo_engine, risk).versions if v.report}
    assert shown[candidate.version].out_of_time.auc == 0.999
    assert shown[candidate.version].leak_alarms == []
    with pytest.raises(Conflict) as err, demo_engine.begin() as conn:
        credit.propose_promotion(conn=conn, actor=risk, version_id=candidate.version_id,
                                 reason="the stored figures are not what the gate reads")
    assert err.value.key == "credit.error.gate_leak"
    assert rows(demo_engine, "SELECT count(*) AS n FROM ops.credit_promotions "
                             "WHERE version_id = :v", v=candidate.version_id) == [{"n": 0}]


def test_json_keeps_nan_infinity_and_column_types():
    from console.credit import validation_store as store
    from console.credit.validation import Performance

    frame = pd.DataFrame({"grade": ["AAA", "AA"], "merchants": [0, 3],
                          "rate": [float("nan"), 0.1], "p": [float("inf"), 1e-300]})
    back = store._frame_in(json.loads(store.to_json(store._frame_out(frame))))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    perf = Performance(10, 2, float("nan"), (0.1, 0.2), 0.3, (0.4, 0.5), 1 / 3, (0.7, 0.8))
    again = store._performance_in(json.loads(store.to_json(store._performance_out(perf))))
    assert again.auc != again.auc                       # NaN read back as NaN
    assert dataclasses.replace(again, auc=0.0) == dataclasses.replace(perf, auc=0.0)


def test_every_field_of_a_report_is_stored():
    """A field added to ValidationReport must be added to the stored JSON too (its plan is
    kept in the row's own columns)."""
    from console.credit.validation import ValidationReport
    names = {f.name for f in dataclasses.fields(ValidationReport)} - {"plan"}
    assert names == _encoded_keys()


def _encoded_keys() -> set[str]:
    from console.credit import validation_store as store
    from console.credit.pit import SamplePlan
    from console.credit.validation import InTheLarge, Performance, ValidationReport
    perf = Performance(1, 0, 0.5, (0.4, 0.6), 0.0, (-0.2, 0.2), 0.1, (0.0, 0.2))
    report = ValidationReport("x", SamplePlan((), pd.Timestamp("2026-01-01").date(), 60), perf,
                              perf, pd.DataFrame({"a": [1]}), 1.0, 1, 0.5, 0.0, "stable",
                              pd.DataFrame({"b": [1.0]}), [], True, InTheLarge(1, 0, 0.0, 0.1, 1.0))
    return set(store.encode(report))


def test_the_jobs_write_the_reports_the_console_and_readonly_only_read_them(engine,
                                                                           console_engine,
                                                                           jobs_engine):
    readonly = db.make_engine(db.with_user(engine.url.render_as_string(hide_password=False),
                                           "dh_readonly"))
    try:
        # the privilege is checked before any row: a fresh database has no version to store
        with jobs_engine.begin() as conn:
            conn.execute(sa.text("""
                INSERT INTO ops.credit_validation_reports (version_id, config_sha256,
                    code_sha256, data_end, window_days, development_dates, out_of_time_date,
                    seconds)
                SELECT 1, 'x', 'y', current_date, 60, '{}', current_date, 0
                WHERE EXISTS (SELECT 1 FROM ops.credit_scorecard_versions WHERE id = 1)"""))
        for eng in (console_engine, readonly):
            with eng.connect() as conn:
                assert conn.execute(sa.text(
                    "SELECT count(*) FROM ops.credit_validation_reports")).scalar() == 0
        for sql in ("DELETE FROM ops.credit_validation_reports",
                    "UPDATE ops.credit_validation_reports SET seconds = 1",
                    """INSERT INTO ops.credit_validation_reports (version_id, config_sha256,
                       code_sha256, data_end, window_days, development_dates, out_of_time_date,
                       seconds) VALUES (1, 'x', 'y', current_date, 60, '{}', current_date, 0)"""):
            for eng in (console_engine, readonly):
                with eng.begin() as conn, pytest.raises(sa.exc.DBAPIError) as err:
                    conn.execute(sa.text(sql))
                assert err.value.orig.pgcode == "42501", (eng.url.username, sql)
        with readonly.connect() as conn, pytest.raises(sa.exc.DBAPIError) as err:
            conn.execute(sa.text("SELECT 1 FROM ops.credit_runs"))   # that table only
        assert err.value.orig.pgcode == "42501"
    finally:
        readonly.dispose()
