"""The promotion gate: a scorecard version becomes active only through a recorded decision
that a second person approves, with both versions' reports kept; only then does it drive
grades and limits."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.errors import Conflict, PermissionDenied
from console.services import credit
from tests.test_credit_support import HAND_CARD, hand_card, merchant, purchase, rows

CANDIDATE = (HAND_CARD.replace('version = "hand"', 'version = "hand2"')
             .replace("enterprise = 1.0", "enterprise = -1.0"))


@pytest.fixture
def two_versions(engine, tmp_path):
    m = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    purchase(engine, m, 40_000_000)
    with engine.begin() as conn:
        first = credit_engine.score_all(conn, hand_card(tmp_path))
        candidate_id = credit_engine.register_version(conn, hand_card(tmp_path, CANDIDATE))
    return m, first, candidate_id


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def grade_of(engine, m):
    return rows(engine, """SELECT c.grade, c.loan_limit, v.version FROM ops.merchant_credit c
                           JOIN ops.credit_runs r ON r.id = c.run_id
                           JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                           WHERE c.merchant_id = :m""", m=m)[0]


def test_promotion_is_refused_without_a_second_person(engine, make_actor, two_versions):
    m, _, candidate_id = two_versions
    alice = make_actor("risk")
    pid = call(engine, credit.propose_promotion, actor=alice, version_id=candidate_id,
               reason="c1 beats v2 out of time")
    with pytest.raises(PermissionDenied) as err:
        call(engine, credit.approve_promotion, actor=alice, promotion_id=pid)
    assert err.value.key == "credit.error.own_promotion"
    # Nor by writing the status directly: the database wants an approved promotion.
    with pytest.raises(sa.exc.IntegrityError, match="only through an approved promotion"), \
            engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.credit_scorecard_versions SET status = 'retired' WHERE status = 'active'"))
        conn.execute(sa.text("UPDATE ops.credit_scorecard_versions SET status = 'active' WHERE id = :v"),
                     {"v": candidate_id})
    # Nor by approving one's own proposal in SQL: the row's check refuses it.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("""UPDATE ops.credit_promotions SET status = 'approved',
                                decided_by = proposed_by, decided_at = now() WHERE id = :p"""),
                     {"p": pid})
    assert rows(engine, "SELECT version, status FROM ops.credit_scorecard_versions ORDER BY id") == [
        {"version": "hand", "status": "active"}, {"version": "hand2", "status": "candidate"}]
    assert grade_of(engine, m) == {"grade": "AAA", "loan_limit": 5_000_000, "version": "hand"}


def test_a_second_person_promotes_and_the_new_version_drives_grades(engine, make_actor, two_versions):
    m, _, candidate_id = two_versions
    alice, boss = make_actor("risk"), make_actor("manager")
    pid = call(engine, credit.propose_promotion, actor=alice, version_id=candidate_id,
               reason="c1 beats v2 out of time")
    with pytest.raises(Conflict) as err:       # one open proposal at a time
        call(engine, credit.propose_promotion, actor=alice, version_id=candidate_id, reason="again")
    assert err.value.key == "credit.error.open_promotion_exists"
    run_id = call(engine, credit.approve_promotion, actor=boss, promotion_id=pid, note="agreed")
    assert rows(engine, "SELECT version, status FROM ops.credit_scorecard_versions ORDER BY id") == [
        {"version": "hand", "status": "retired"}, {"version": "hand2", "status": "active"}]
    # enterprise now costs points: 150 + 225 + 225 = 600 -> A, cap 2,000,000
    assert grade_of(engine, m) == {"grade": "A", "loan_limit": 2_000_000, "version": "hand2"}
    promotion = rows(engine, """SELECT status, decided_by, run_id, report ? 'active' AS has_active,
                                       report ? 'candidate' AS has_candidate
                                FROM ops.credit_promotions WHERE id = :p""", p=pid)[0]
    assert promotion == {"status": "approved", "decided_by": boss.id, "run_id": run_id,
                         "has_active": True, "has_candidate": True}
    audit = rows(engine, """SELECT action, actor_id FROM ops.audit_log
                            WHERE entity_type = 'credit_promotion' ORDER BY id""")
    assert audit == [{"action": "credit.promotion.propose", "actor_id": alice.id},
                     {"action": "credit.promotion.approve", "actor_id": boss.id}]
    # A later scoring run keeps scoring the promoted version, whatever file is passed.
    with engine.begin() as conn:
        later = credit_engine.score_all(conn, credit_engine.version_card(conn, 1))
    assert rows(engine, """SELECT v.version FROM ops.credit_runs r JOIN ops.credit_scorecard_versions v
                           ON v.id = r.version_id WHERE r.id = :r""", r=later) == [{"version": "hand2"}]


def test_a_rejected_promotion_changes_nothing(engine, make_actor, two_versions):
    m, first, candidate_id = two_versions
    alice, bob = make_actor("risk"), make_actor("risk")
    pid = call(engine, credit.propose_promotion, actor=alice, version_id=candidate_id, reason="try")
    call(engine, credit.reject_promotion, actor=bob, promotion_id=pid, note="worse calibration")
    assert grade_of(engine, m)["version"] == "hand"
    with pytest.raises(Conflict):
        call(engine, credit.approve_promotion, actor=bob, promotion_id=pid)


def test_two_people_approving_at_once_promote_exactly_once(engine, fresh_db, make_actor, two_versions):
    from tests.races import race, wide_engine
    m, _, candidate_id = two_versions
    alice = make_actor("risk")
    deciders = [make_actor("risk", "manager") for _ in range(4)]
    pid = call(engine, credit.propose_promotion, actor=alice, version_id=candidate_id, reason="c1")
    with wide_engine(fresh_db, 4) as wide:
        results = race(wide, [(credit.approve_promotion, {"actor": d, "promotion_id": pid})
                              for d in deciders])
    assert sorted(r[0] for r in results) == ["ok", "refused", "refused", "refused"], results
    assert {r[1] for r in results if r[0] == "refused"} == {("Conflict", "credit.error.already_decided")}
    assert rows(engine, """SELECT count(*) AS runs FROM ops.credit_runs r
                           JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                           WHERE v.version = 'hand2'""") == [{"runs": 1}]
    assert grade_of(engine, m)["version"] == "hand2"


def test_two_proposals_at_once_leave_one_open(engine, fresh_db, make_actor, two_versions):
    from tests.races import race, wide_engine
    _, _, candidate_id = two_versions
    proposers = [make_actor("risk") for _ in range(3)]
    with wide_engine(fresh_db, 3) as wide:
        results = race(wide, [(credit.propose_promotion, {"actor": p, "version_id": candidate_id,
                                                           "reason": "c1"}) for p in proposers])
    assert sorted(r[0] for r in results) == ["ok", "refused", "refused"], results
    assert rows(engine, "SELECT count(*) AS n FROM ops.credit_promotions WHERE status = 'proposed'") == [{"n": 1}]


def _report(version: str, *, auc: float, bad_in_aa: int, hl_p: float = 0.5):
    """A report of 100 AA and 100 A merchants promised 5% each: A 5 bad, AA ``bad_in_aa``."""
    from datetime import date

    from console.credit import validation
    from console.credit.pit import SamplePlan
    grades = ["AA"] * 100 + ["A"] * 100
    bad = [1] * bad_in_aa + [0] * (100 - bad_in_aa) + [1] * 5 + [0] * 95
    by_grade = validation.calibration_by_grade(grades, bad, [0.05] * 200, order=["AA", "A"])
    perf = validation.Performance(200, bad_in_aa + 5, auc, (auc - 0.1, auc + 0.1), 2 * auc - 1,
                                  (2 * auc - 1.2, 2 * auc - 0.8), 0.3, (0.2, 0.4))
    return validation.ValidationReport(
        version=version, plan=SamplePlan((date(2026, 3, 1),), date(2026, 6, 1), 60),
        development=perf, out_of_time=perf, by_grade=by_grade, hl_stat=1.0, hl_df=2,
        hl_p=hl_p, score_psi=0.0, score_psi_level="ok", factors=pd.DataFrame(),
        calibrated=True)


def test_the_gate_refuses_a_red_grade_and_accepts_an_amber_one():
    from console.credit import validation
    # One-sided Jeffreys p of AA at 5%, Beta(bad + ½, good + ½).cdf(0.05): 11 of 100 is
    # 0.71% (red, under 1%), 10 of 100 is 1.82% (amber: 1% to 5%), 8 of 100 is 9.1% (green).
    red = _report("red", auc=0.80, bad_in_aa=11)
    amber = _report("amber", auc=0.60, bad_in_aa=10)
    green = _report("green", auc=0.55, bad_in_aa=8)
    p = {r.version: r.by_grade.set_index("grade").loc["AA", "jeffreys_p"]
         for r in (red, amber, green)}
    assert p == pytest.approx({"red": 0.007078228104669936, "amber": 0.018188229560353805,
                               "green": 0.09099239814305791}, rel=1e-9)
    assert [r.by_grade["jeffreys_light"].tolist() for r in (red, amber, green)] == [
        ["red", "green"], ["amber", "green"], ["green", "green"]]
    # Hosmer-Lemeshow holds for all three (p 0.5); the red grade alone fails the calibration
    assert (red.hl_holds, red.pd_red, red.calibration_holds) == (True, ["AA"], False)
    assert (amber.pd_red, amber.pd_amber, amber.calibration_holds) == ([], ["AA"], True)
    assert (green.pd_too_low, green.calibration_holds) == ([], True)
    # the gate: the red version loses to the amber one despite its higher AUC (both ways round)
    assert validation.better(red, amber) is amber and validation.better(amber, red) is amber
    # amber does not count against a version: the higher AUC wins over green
    assert validation.better(green, amber) is amber
    # Hosmer-Lemeshow rejecting still fails a version without a red grade
    rejected = _report("hl", auc=0.9, bad_in_aa=8, hl_p=0.049)
    assert (rejected.pd_red, rejected.calibration_holds) == ([], False)
    assert validation.better(rejected, green) is green
    # the rule is written where the validate command prints it
    assert "no grade red by the one-sided Jeffreys test (p < 0.01" in validation.GATE_RULE
