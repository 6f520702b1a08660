"""On the demo data (scale demo, the console's default seed) the scorecard can be validated
as a validation team would: a development and an out-of-time sample, both with bad cases
that happened after their score dates, no leakage alarm, and no merchant without trading
history holding more than the starter limit."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from console import clock, demo
from console.credit import engine as credit_engine
from console.credit import calibration, pit, validation
from console.credit.scorecard import CHALLENGER_CONFIG, DEFAULT_CONFIG, load
from console.errors import Conflict
from console.grades import GRADES
from console.services import credit
from console.settings import get_settings
from etl import jobs as etl_jobs
from etl import runner as etl_runner


def test_demo_data_gives_a_development_and_an_out_of_time_sample_without_leakage(engine, make_actor,
                                                                                tmp_path):
    demo.seed(engine=engine, scale="demo", seed=42)
    window = get_settings().credit_label_window_days
    with engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT mart.cn_date(max(occurred_at)) FROM app.events").scalar()
        plan = pit.plan(data_end=validation.data_end(last, last), window_days=window)
        dev = pit.sample(conn, dates=plan.development, window_days=window)
        oot = pit.sample(conn, dates=[plan.out_of_time], window_days=window)
    # Two years of history: six monthly development snapshots and the out-of-time one, with
    # tens of bad cases each, at about the same bad rate (4.3% and 5.0%). The desk's sales of
    # the platform's own stock are completed deals too (7f78c8f), so their buyers join the
    # samples from their first purchase: 2 more in development, 12 (one bad) out of time.
    assert plan.development[0] == plan.out_of_time - timedelta(days=window + 150)
    assert (len(dev), int(dev["bad"].sum()), len(oot), int(oot["bad"].sum())) == (2627, 114, 907, 45)
    # every kind of bad event labels someone out of time, and always after the score date
    start = pd.Timestamp(plan.out_of_time, tz="Asia/Shanghai")
    for column in ("next_deposit_default_at", "next_dispute_lost_at", "next_loan_default_at"):
        events = oot[column].dropna()
        assert len(events) > 0, column
        assert (pd.to_datetime(events, utc=True) >= start).all(), column
    # NEW merchants (no completed deal before the date) are never in a sample
    assert (dev["deals_total"] >= 1).all() and (oot["deals_total"] >= 1).all()
    for card in (load(DEFAULT_CONFIG), load(CHALLENGER_CONFIG)):
        report = validation.validate(card, dev, oot, plan)
        assert report.leak_alarms == [], (card.version, report.factors.to_string())
        assert 0.5 < report.out_of_time.auc < 0.9, (card.version, report.out_of_time)
        assert report.calibrated
    # The committed files were calibrated on this data (python -m console.credit calibrate)
    # before order loans 90+ days past due counted as bad (issue 19) and before the desk's
    # stock sales were deals. A registered version's file is never rewritten
    # (console/credit/engine.py refuses a changed file under a used name: every database
    # scoring with it would stop), so a refit with those outcomes is what a new version would
    # carry, through the promotion gate: v2's BB PD 7.62% -> 7.59%, its A and BBB point
    # estimates 3.13% -> 3.25% / 3.28%; c1's AAA-A PD 2.65% -> 2.82%, its BB 9.30% -> 9.25%,
    # its B 9.50% -> 10.15%.
    with engine.connect() as conn:
        plan_now = pit.plan(data_end=validation.data_end(last, clock.today()), window_days=window)
        dev_now = pit.sample(conn, dates=plan_now.development, window_days=window)
    refit = {"v2": ({"BB": (0.076155, 0.075946)},
                    {"A": (0.031265, 0.032496), "BBB": (0.031265, 0.032753),
                     "BB": (0.058496, 0.058333)}),
             "c1": ({"AAA": (0.026473, 0.028234), "AA": (0.026473, 0.028234),
                     "A": (0.026473, 0.028234), "BB": (0.092973, 0.092473),
                     "B": (0.095028, 0.101495)},
                    {"AAA": (0.02075, 0.022329), "AA": (0.02075, 0.022329),
                     "A": (0.02075, 0.022329), "BB": (0.065934, 0.065574),
                     "B": (0.067416, 0.073034)})}
    for card in (load(DEFAULT_CONFIG), load(CHALLENGER_CONFIG)):
        fitted = calibration.fit(card, dev_now, score_dates=plan_now.development,
                                 window_days=window)
        pd_moves, point_moves = refit[card.version]
        assert {g: (card.grade_pd[g], fitted["pd"][g]) for g in fitted["pd"]
                if fitted["pd"][g] != card.grade_pd[g]} == pd_moves, card.version
        point = card.raw["calibration"]["point"]
        assert {g: (point[g], fitted["point"][g]) for g in fitted["point"]
                if fitted["point"][g] != point[g]} == point_moves, card.version

    _the_active_version_was_promoted_through_the_gate(engine)
    _a_version_whose_pds_fail_out_of_time_cannot_be_proposed(engine, make_actor, tmp_path)
    _the_validation_page_shows_promise_against_outcome(make_actor("risk", username="validator9"))

    # Scored as today: no merchant without a completed deal holds more than the starter limit.
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
    with engine.connect() as conn:
        new, over, graded = conn.exec_driver_sql("""
            SELECT count(*) FILTER (WHERE f.deals_total = 0),
                   count(*) FILTER (WHERE f.deals_total = 0
                                      AND (c.loan_limit > %(s)s OR c.effective_grade <> 'NEW')),
                   count(*) FILTER (WHERE f.deals_total > 0 AND c.effective_grade <> 'NEW')
            FROM ops.merchant_credit c JOIN mart.merchant_features f USING (merchant_id)""",
            {"s": get_settings().credit_starter_limit_yuan}).one()
    assert new > 1000 and graded > 500 and over == 0


def _a_version_whose_pds_fail_out_of_time_cannot_be_proposed(engine, make_actor, tmp_path):
    """c1 with every grade promising the 0.05% floor: out of time its AA (7 bad of 165) and
    the others are red by the Jeffreys test; the gate refuses it and writes nothing."""
    text = CHALLENGER_CONFIG.read_text(encoding="utf-8").replace('version = "c1"',
                                                                 'version = "c1-floor"')
    start = text.index("\npd = {")
    end = text.index("}", start) + 1
    floor = "{ " + ", ".join(f"{g} = 0.0005" for g in GRADES) + " }"
    path = tmp_path / "c1_floor.toml"
    path.write_text(text[:start] + "\npd = " + floor + text[end:], encoding="utf-8")
    risk = make_actor("risk", username="gatekeeper")
    count = "SELECT count(*) FROM ops.credit_promotions"
    audited = """SELECT count(*) FROM ops.audit_log
                 WHERE action = 'credit.promotion.propose' AND actor_id = :a"""
    with engine.connect() as conn:   # registered for this check only, then rolled back
        before = conn.execute(sa.text(count)).scalar()
        version_id = credit_engine.register_version(conn, load(path))
        with pytest.raises(Conflict) as err:
            credit.propose_promotion(conn=conn, actor=risk, version_id=version_id,
                                     reason="cheaper loans")
        assert err.value.key == "credit.error.gate_calibration"
        assert conn.execute(sa.text(count)).scalar() == before
        assert conn.execute(sa.text(audited), {"a": risk.id}).scalar() == 0
        conn.rollback()


def _the_active_version_was_promoted_through_the_gate(engine) -> None:
    """The seed recorded the promotion (console/demo/credit_history.py): risk1 proposed the
    better candidate by the report, risk2 approved it, both reports kept side by side."""
    from console.services import credit
    from tests.test_credit_support import rows
    promoted = rows(engine, """
        SELECT v.version, p.status, s.username AS proposer, d.username AS decider,
               p.report->'active'->>'version' AS shown_active,
               p.report->'candidate'->>'version' AS shown_candidate,
               (p.report->'candidate'->>'auc')::float AS auc, p.report->>'better' AS better
        FROM ops.credit_scorecard_versions v
        JOIN ops.credit_promotions p ON p.version_id = v.id AND p.status = 'approved'
        JOIN ops.staff s ON s.id = p.proposed_by JOIN ops.staff d ON d.id = p.decided_by
        WHERE v.status = 'active'""")
    assert len(promoted) == 1, promoted
    row = promoted[0]
    assert (row["status"], row["proposer"], row["decider"]) == ("approved", "risk1", "risk2")
    assert (row["shown_active"], row["shown_candidate"]) == ("v1", row["version"])
    # (the seed's override history, console/demo/override_history.py, comes before it)
    assert rows(engine, """SELECT action, s.username FROM ops.audit_log a
                           JOIN ops.staff s ON s.id = a.actor_id
                           WHERE a.action LIKE 'credit.promotion.%' ORDER BY a.id""") == [
        {"action": "credit.promotion.propose", "username": "risk1"},
        {"action": "credit.promotion.approve", "username": "risk2"}]
    # The report now: the active version is the candidate with the better out-of-time AUC.
    with engine.connect() as conn:
        found = credit._validate_versions(conn)
    by_version = {v.version: v for v in found.versions}
    assert set(by_version) == {"v1", "v2", "c1"}
    assert by_version["v1"].status == "retired" and by_version["v1"].unrebuilt   # dead factors
    aucs = {v: by_version[v].report.out_of_time.auc for v in ("v2", "c1")}
    assert row["version"] == max(aucs, key=aucs.get) == found.better == row["better"]
    assert by_version[row["version"]].status == "active"
    # The proposal keeps the AUC of the seed's moment, before the year of order loans was
    # written (console/demo/__init__.py: the loan book follows the promotion); the report now
    # also counts the loans 90+ days past due as bad (issue 19) and the stock desk's buyers
    # (their purchases are deals), which moves it.
    assert (row["auc"], round(aucs[row["version"]], 4)) == (0.656, 0.6372)
    # Out of time, grade by grade: the point estimate, the margin of conservatism (90%
    # Jeffreys upper bound of the pooled development rate, monotone) and the PD used, which
    # the tests check. v2's AAA, AA, A and BBB all use 4.26%: the AAA+AA pool (1 bad of 72)
    # has the widest bound, and A and BBB (69 of 2,111, bound 3.80%) are lifted to it. The
    # bad include the order loans 90+ days past due (issue 19).
    figures = {
        "v2": {"AAA": (3, 1, 0.013889, 0.042629, "amber"), "AA": (44, 2, 0.013889, 0.042629, "green"),
               "A": (299, 12, 0.031265, 0.042629, "green"), "BBB": (413, 13, 0.031265, 0.042629, "green"),
               "BB": (111, 8, 0.058496, 0.076155, "green"), "B": (27, 4, 0.25, 0.317863, "green"),
               "C": (13, 4, 0.26087, 0.389831, "green")},
        "c1": {"AA": (165, 7, 0.02075, 0.026473, "green"), "A": (243, 6, 0.02075, 0.026473, "green"),
               "BBB": (302, 10, 0.038919, 0.047794, "green"), "BB": (83, 3, 0.065934, 0.092973, "green"),
               "B": (78, 11, 0.067416, 0.095028, "green"), "C": (39, 7, 0.262136, 0.320651, "green")}}
    for version, grades in figures.items():
        report = by_version[version].report
        table = report.by_grade.set_index("grade")
        shown = {g: (int(r.merchants), int(r.bad), round(r.point_pd, 6), round(r.promised_pd, 6),
                     r.jeffreys_light) for g, r in table.iterrows() if r.merchants}
        assert shown == grades, version
        assert (table["moc"] == table["promised_pd"] - table["point_pd"]).sum() == len(grades)
    v2, c1 = by_version["v2"].report, by_version["c1"].report
    jeffreys = lambda r, g: r.by_grade.set_index("grade").loc[g, "jeffreys_p"]  # noqa: E731
    # c1's AA (7 of 165) and B (11 of 78), too low at their point estimates (Jeffreys p 0.037
    # and 0.0096), pass at the PD used; v2's AAA (1 of 3) is amber: shown, not blocking
    assert (jeffreys(c1, "AA"), jeffreys(c1, "B")) == (pytest.approx(0.10627, abs=5e-6),
                                                       pytest.approx(0.088494, abs=5e-7))
    assert jeffreys(v2, "AAA") == pytest.approx(0.028746, abs=5e-7)
    assert (v2.pd_red, v2.pd_amber, c1.pd_red, c1.pd_amber) == ([], ["AAA"], [], [])
    assert (round(v2.hl_p, 4), v2.hl_df, round(c1.hl_p, 4), c1.hl_df) == (0.3868, 5, 0.0609, 5)
    # both calibrations hold by the gate's rule: the higher out-of-time AUC, c1's, is active
    assert (v2.calibration_holds, c1.calibration_holds, found.better) == (True, True, "c1")


def _the_validation_page_shows_promise_against_outcome(risk) -> None:
    from console import db
    from console.services import credit
    from tests.apptest import app_as
    # The page reads the stored report: none yet, it says so and computes nothing.
    at = app_as(risk, lang="en", page="pages/risk_validation.py")
    assert not at.exception
    assert [i.value for i in at.info][0].startswith("No validation report is stored yet.")
    assert at.markdown.len == 0 or not any("calibrated on the development sample" in m.value
                                           for m in at.markdown)
    with db.transaction(role="jobs") as conn:    # what the scheduled step does
        credit.compute_and_store(conn)
    at = app_as(risk, lang="en", page="pages/risk_validation.py")
    assert not at.exception
    assert any(c.value.startswith("Report computed at ") for c in at.caption)
    text = " ".join(m.value for m in at.markdown)
    assert "calibrated on the development sample" in text          # v2's and c1's heading
    errors = [e.value for e in at.error]
    # Both candidates' promises hold out of time on the demo data, and the page says so.
    assert errors == []
    assert sum("Calibration holds out of time" in s.value for s in at.success) == 2
    assert any("Not validated point in time" in w.value for w in at.warning)   # v1
    captions = " ".join(c.value for c in at.caption)
    warnings = [w.value for w in at.warning]
    # grade by grade, with the margin of conservatism only v2's AAA (1 of 3 at 4.26%, Jeffreys
    # p 0.029, amber) looks too low by the Jeffreys test, which the page names; c1's AA and B
    # (too low at their point estimates 2.1% and 6.7%) do not at the PDs used, 2.6% and 9.5%
    assert sum("the promised PD looks too low for: AA, B." in w for w in warnings) == 0, warnings
    assert sum("the promised PD looks too low for: AAA." in w for w in warnings) == 1, warnings
    assert "In the large: 44 bad of 910 out of time" in captions
    assert captions.count("Hosmer–Lemeshow pools adjacent grades until each group expects "
                          "at least 5 bad merchants") == 2
