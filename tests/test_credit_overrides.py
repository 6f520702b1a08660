"""Overrides under four eyes: propose, approve or reject by someone else, expiry, audit."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from console.clock import today
from console.credit import engine as credit_engine
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.services import credit
from tests.test_credit_support import age_override, hand_card, merchant, one, purchase, rows

IN_30_DAYS = today() + timedelta(days=30)


@pytest.fixture
def scored(engine, tmp_path):
    """Two scored merchants: 'good' (700, AAA) and 'weak' (525, BB)."""
    good = merchant(engine, cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, cert_level="none", disputes_lost=1, avg_stars=4.0)
    purchase(engine, good, 40_000_000)     # 0.25 x 40M: every grade's cap binds
    purchase(engine, weak, 40_000_000)
    with engine.begin() as conn:
        credit_engine.score_all(conn, hand_card(tmp_path))
    return {"good": good, "weak": weak}


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def propose(engine, actor, merchant_id, **overrides):
    args = {"new_grade": "BBB", "reason_code": "guarantee", "reason": "集团担保函已收到",
            "expires_on": IN_30_DAYS, **overrides}
    return call(engine, credit.propose_override, actor=actor, merchant_id=merchant_id, **args)


def effective(engine, merchant_id):
    return rows(engine, """SELECT grade, effective_grade, is_override, loan_limit
                           FROM ops.merchant_credit WHERE merchant_id = :m""", m=merchant_id)[0]


def status(engine, override_id):
    return one(engine, "SELECT status FROM ops.credit_overrides WHERE id = :i", i=override_id)


def test_a_second_officer_approves_and_the_grade_changes_until_expiry(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"])
    assert effective(engine, scored["weak"])["effective_grade"] == "BB"    # not yet
    call(engine, credit.approve_override, actor=bob, override_id=oid, note="同意")
    assert effective(engine, scored["weak"]) == {"grade": "BB", "effective_grade": "BBB",
                                                 "is_override": True, "loan_limit": 1_000_000}
    trail = rows(engine, """SELECT action, actor_id FROM ops.audit_log
                            WHERE entity_type = 'credit_override' AND entity_id = :i
                            ORDER BY id""", i=str(oid))
    assert trail == [{"action": "credit.override.propose", "actor_id": alice.id},
                     {"action": "credit.override.approve", "actor_id": bob.id}]


def test_no_one_approves_their_own_override(engine, make_actor, scored):
    alice = make_actor("risk")
    oid = propose(engine, alice, scored["weak"])
    with pytest.raises(PermissionDenied) as err:
        call(engine, credit.approve_override, actor=alice, override_id=oid)
    assert err.value.key == "credit.error.own_override"
    with pytest.raises(PermissionDenied):
        call(engine, credit.reject_override, actor=alice, override_id=oid, note="撤回")
    assert status(engine, oid) == "proposed"
    assert effective(engine, scored["weak"])["effective_grade"] == "BB"


def test_the_database_itself_refuses_a_self_approval(engine, make_actor, scored):
    alice = make_actor("risk")
    oid = propose(engine, alice, scored["weak"])
    with pytest.raises(sa.exc.IntegrityError):
        one(engine, """UPDATE ops.credit_overrides SET status = 'approved', approved_by = proposed_by,
                                                     decided_at = now() WHERE id = :i""", i=oid)


@pytest.mark.parametrize("role", ["bd", "manager", "ops", "admin"])
def test_only_risk_staff_propose_or_decide(engine, make_actor, scored, role):
    other = make_actor(role)
    alice = make_actor("risk")
    with pytest.raises(PermissionDenied) as err:
        propose(engine, other, scored["weak"])
    assert err.value.key == "error.role_required"
    oid = propose(engine, alice, scored["weak"])
    for fn in (credit.approve_override, credit.reject_override):
        with pytest.raises(PermissionDenied) as err:
            call(engine, fn, actor=other, override_id=oid, note="x")
        assert err.value.key == "error.role_required"
    assert status(engine, oid) == "proposed"


def test_rejection_needs_a_reason_and_keeps_the_scored_grade(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"])
    with pytest.raises(InvalidInput):
        call(engine, credit.reject_override, actor=bob, override_id=oid, note="  ")
    call(engine, credit.reject_override, actor=bob, override_id=oid, note="担保不足")
    assert status(engine, oid) == "rejected"
    assert effective(engine, scored["weak"])["is_override"] is False
    with pytest.raises(Conflict) as err:       # decided already: a second decision is refused
        call(engine, credit.approve_override, actor=bob, override_id=oid)
    assert err.value.key == "credit.error.already_decided"


def test_one_open_proposal_per_merchant(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    propose(engine, alice, scored["weak"])
    with pytest.raises(Conflict) as err:
        propose(engine, bob, scored["weak"], new_grade="A")
    assert err.value.key == "credit.error.open_proposal_exists"
    assert one(engine, "SELECT count(*) FROM ops.credit_overrides") == 1


@pytest.mark.parametrize("bad, key", [
    ({"new_grade": "AAAA"}, "credit.error.bad_grade"),
    ({"reason_code": "friend_of_boss"}, "credit.error.bad_reason_code"),
    ({"reason": "   "}, "error.reason_required"),
    ({"expires_on": today() - timedelta(days=1)}, "credit.error.bad_expiry"),
    ({"expires_on": today() + timedelta(days=400)}, "credit.error.bad_expiry"),
    ({"new_grade": "BB"}, "credit.error.same_grade"),
])
def test_bad_proposals_are_refused_and_change_nothing(engine, make_actor, scored, bad, key):
    with pytest.raises(InvalidInput) as err:
        propose(engine, make_actor("risk"), scored["weak"], **bad)
    assert err.value.key == key
    assert one(engine, "SELECT count(*) FROM ops.credit_overrides") == 0


def test_an_unscored_merchant_cannot_be_overridden(engine, make_actor, scored):
    with pytest.raises(NotFound):
        propose(engine, make_actor("risk"), 999_999)


def test_an_override_expires_when_it_should(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"], expires_on=today() + timedelta(days=2))
    call(engine, credit.approve_override, actor=bob, override_id=oid)
    age_override(engine, oid, days=1)                     # expires tomorrow midnight: still holds
    assert effective(engine, scored["weak"])["effective_grade"] == "BBB"
    assert call(engine, credit_engine.expire_due_overrides) == 0
    age_override(engine, oid, days=2)                     # expired yesterday: the scored grade is back
    assert effective(engine, scored["weak"]) == {"grade": "BB", "effective_grade": "BB",
                                                 "is_override": False, "loan_limit": 500_000}
    assert call(engine, credit_engine.expire_due_overrides) == 1
    assert status(engine, oid) == "expired"
    assert rows(engine, """SELECT actor_id FROM ops.audit_log
                           WHERE action = 'credit.override.expire' AND entity_id = :i""",
                i=str(oid)) == [{"actor_id": None}]


def test_an_expired_proposal_cannot_be_approved(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"], expires_on=today())
    age_override(engine, oid, days=2)
    with pytest.raises(Conflict) as err:
        call(engine, credit.approve_override, actor=bob, override_id=oid)
    assert err.value.key == "credit.error.override_expired"
    assert effective(engine, scored["weak"])["is_override"] is False


def test_a_newer_approval_supersedes_the_older_one(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    first = propose(engine, alice, scored["weak"], new_grade="BBB")
    call(engine, credit.approve_override, actor=bob, override_id=first)
    second = propose(engine, bob, scored["weak"], new_grade="B")
    call(engine, credit.approve_override, actor=alice, override_id=second)
    assert (status(engine, first), status(engine, second)) == ("superseded", "approved")
    assert effective(engine, scored["weak"])["effective_grade"] == "B"


def test_override_inbox_and_rate(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"])
    inbox = call(engine, credit.override_inbox, actor=bob)
    assert inbox[["id", "new_grade", "mine"]].to_dict("records") == [
        {"id": oid, "new_grade": "BBB", "mine": False}]
    assert call(engine, credit.override_inbox, actor=alice)["mine"].tolist() == [True]
    call(engine, credit.approve_override, actor=bob, override_id=oid)
    overview = call(engine, credit.grade_overview, actor=make_actor("bd"))
    rate = overview["override"]
    assert (rate.active, rate.scored, rate.rate, rate.level) == (1, 2, 0.5, "red")
    dist = overview["distribution"].set_index("grade")
    assert (dist.loc["AAA", "merchants"], dist.loc["BBB", "merchants"],
            dist.loc["BBB", "overridden"], dist.loc["BB", "merchants"]) == (1, 1, 1, 0)


def test_expiry_dates_are_shanghai_dates_whatever_the_server_clock(engine, make_actor, scored,
                                                                     monkeypatch):
    from datetime import datetime, time, timezone

    from console import clock
    # 21:40 UTC is 05:40 the next morning in Shanghai: "today" is that next day for staff.
    # The day is a future one, so the database's own "expires after it was proposed" holds.
    staff_day = clock.today() + timedelta(days=3)
    utc_evening = datetime.combine(staff_day - timedelta(days=1), time(21, 40), tzinfo=timezone.utc)
    at = utc_evening.astimezone(clock.business_tz())
    monkeypatch.setattr(clock, "now", lambda: at)
    assert clock.today() == staff_day
    with pytest.raises(InvalidInput):
        propose(engine, make_actor("risk"), scored["weak"], expires_on=staff_day - timedelta(days=1))
    assert propose(engine, make_actor("risk"), scored["weak"], expires_on=staff_day) > 0


def test_a_scoring_run_does_not_hold_the_audit_chain_while_it_scores(engine, make_actor, scored,
                                                                     monkeypatch):
    """The run expires overrides (audit rows) and then scores for a long time: its audit rows
    come last, so a staff decision's audit row does not wait for the scoring."""
    import threading
    import time

    from console import db
    from console.audit import write_audit

    alice, bob, officer = make_actor("risk"), make_actor("risk"), make_actor("risk")
    oid = propose(engine, alice, scored["weak"], expires_on=today() + timedelta(days=2))
    call(engine, credit.approve_override, actor=bob, override_id=oid)
    age_override(engine, oid, days=3)                     # due to expire in the run
    scoring, real_score_all = threading.Event(), credit_engine.score_all

    def slow_score_all(conn, card, **kwargs):
        scoring.set()
        conn.execute(sa.text("SELECT pg_sleep(2)"))
        return real_score_all(conn, card, **kwargs)

    monkeypatch.setattr(credit_engine, "score_all", slow_score_all)
    run = threading.Thread(target=lambda: call(engine, credit.run_scoring, actor=officer))
    run.start()
    try:
        assert scoring.wait(10)
        started = time.perf_counter()
        with db.transaction() as conn:
            write_audit(conn=conn, actor_id=alice.id, action="staff.action", entity_type="x",
                        entity_id=1)
        waited = time.perf_counter() - started
    finally:
        run.join()
    assert waited < 1.0
    assert status(engine, oid) == "expired"
    assert rows(engine, """SELECT action FROM ops.audit_log WHERE action IN
                           ('credit.override.expire', 'credit.score') ORDER BY chain_seq""") == [
        {"action": "credit.override.expire"}, {"action": "credit.score"}]
