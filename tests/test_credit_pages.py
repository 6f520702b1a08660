"""The credit pages on a scored database, as the people who use them."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console.clock import today
from console.credit import engine as credit_engine
from console.services import credit
from tests.apptest import app_as
from tests.test_credit_support import hand_card, merchant, rows


@pytest.fixture
def scored(engine, tmp_path):
    good = merchant(engine, name="好车商", cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, name="弱车商", cert_level="none", disputes_lost=1, avg_stars=4.0)
    card = hand_card(tmp_path)
    for _ in range(2):                      # two runs: trend and stability have something to show
        with engine.begin() as conn:
            credit_engine.score_all(conn, card)
    return {"good": good, "weak": weak}


def metrics_of(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_bd_reads_the_grade_distribution_without_export(engine, make_actor, scored):
    at = app_as(make_actor("bd"), page="pages/risk_grades.py")
    assert not at.exception and not at.error
    assert metrics_of(at)["已评分商户"] == "2"
    assert not at.get("download_button")


def test_second_officer_approves_in_the_inbox_and_the_proposer_cannot(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    with engine.begin() as conn:
        credit.propose_override(conn=conn, actor=alice, merchant_id=scored["weak"], new_grade="A",
                                reason_code="guarantee", reason="集团担保",
                                expires_on=today() + timedelta(days=30))
    own = app_as(alice, page="pages/risk_overrides.py")
    assert not own.exception
    assert [b.label for b in own.button if b.label in ("批准", "驳回")] == []
    at = app_as(bob, page="pages/risk_overrides.py")
    assert "弱车商" in at.markdown[0].value
    next(b for b in at.button if b.label == "批准").click().run()
    assert not at.exception and not at.error
    assert rows(engine, "SELECT effective_grade FROM ops.merchant_credit WHERE merchant_id = :m",
                m=scored["weak"]) == [{"effective_grade": "A"}]


def test_the_rating_card_shows_an_overrides_end_as_the_day_chosen(engine, make_actor, scored):
    from tests.test_finance_lines_page import opened
    alice, bob = make_actor("risk"), make_actor("risk")
    last_day = today() + timedelta(days=30)
    with engine.begin() as conn:
        oid = credit.propose_override(conn=conn, actor=alice, merchant_id=scored["weak"],
                                      new_grade="A", reason_code="guarantee", reason="集团担保",
                                      expires_on=last_day)
        credit.approve_override(conn=conn, actor=bob, override_id=oid)
    at = opened(bob, "pages/risk_card.py", {"merchant": str(scored["weak"])})
    assert not at.exception and not at.error
    chosen = last_day.isoformat()
    assert next(m for m in at.metric if m.label == "有效评级").help == f"人工调整，有效至 {chosen}"
    table = next(d.value for d in at.dataframe if "有效期至" in d.value.columns)
    assert list(table["有效期至"]) == [chosen]     # it was the next midnight, 00:00


def test_manager_reads_monitoring_between_the_last_two_runs(engine, make_actor, scored):
    at = app_as(make_actor("manager"), lang="en", page="pages/risk_monitoring.py")
    assert not at.exception and not at.error
    shown = metrics_of(at)
    assert shown["Score PSI"].endswith("0.000")          # same data twice: perfectly stable
    assert shown["Override rate"].endswith("0.0%")
    # performance on point-in-time labels: the run just finished, nothing after it yet
    assert "Performance within 60 days after the run (point-in-time labels)" in \
        [h.value for h in at.subheader]
    assert shown["Bad outcomes / merchants assessed"] == "0 / 2"
    assert shown["Days since the run / window"] == "0 / 60"
    assert any("The window is still open" in i.value for i in at.info)


def test_the_validation_page_reads_the_stored_report_and_risk_can_recompute(engine, make_actor,
                                                                            scored):
    """No report stored: the page says so and computes nothing; a manager cannot recompute,
    a risk officer can, and then the page shows when and by whom it was computed, current."""
    at = app_as(make_actor("manager"), lang="en", page="pages/risk_validation.py")
    assert not at.exception and not at.error
    assert at.info[0].value.startswith("No validation report is stored yet.")
    assert not [b for b in at.button if b.label == "Recompute the validation report"]
    assert rows(engine, "SELECT count(*) AS n FROM ops.credit_validation_reports") == [{"n": 0}]
    officer = make_actor("risk", username="val_officer")
    at = app_as(officer, lang="en", page="pages/risk_validation.py")
    next(b for b in at.button if b.label == "Recompute the validation report").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("Validation report recomputed and stored (")
    assert rows(engine, """SELECT v.version, r.requested_by IS NOT NULL AS asked, r.report
                           FROM ops.credit_validation_reports r
                           JOIN ops.credit_scorecard_versions v ON v.id = r.version_id""") == [
        {"version": "hand", "asked": True, "report": None}]   # two merchants: nothing to measure
    computed = [c.value for c in at.caption if c.value.startswith("Report computed at ")]
    assert len(computed) == 1 and "requested by VAL_OFFICER" in computed[0], computed
    assert [m.value for m in at.markdown if "badge[" in m.value] == [
        ":green-badge[:material/check_circle: Current]"]
    assert any("No sample with both good and bad merchants" in i.value for i in at.info)
    # a new day of data after it: the page marks the report stale and says why
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE ops.credit_validation_reports SET data_end = data_end - 1")
    at = app_as(officer, lang="en", page="pages/risk_validation.py")
    assert not at.exception and not at.error
    assert [m.value for m in at.markdown if "badge[" in m.value] == [
        ":orange-badge[:material/history: Stale]"]
    assert [w.value for w in at.warning] == ["The report is stale: a new day of data since."]
