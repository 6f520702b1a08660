"""Order loans (订单贷, issue 19) on real PostgreSQL as dh_console: applying against the line,
the queue and its cap, four eyes, disbursement to the seller, repayments interest-first and
idempotent, collection; every refusal of the issue's list changes nothing; 20 threads on one
line and one reference."""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.finance import accrual, loans, money, payout
from tests import finance_rows as fr
from tests.races import race, wide_engine


class FakeGateway:
    """The payment channel as the tests see it: every payout it was asked for."""

    def __init__(self, fail: bool = False):
        self.calls: list[dict] = []
        self.fail = fail

    def pay_seller(self, *, seller_id, amount, idempotency_key):
        self.calls.append({"seller_id": seller_id, "amount": amount, "key": idempotency_key})
        if self.fail:
            raise payout.PayoutFailed("channel down")
        return f"PAY-{idempotency_key}"


@pytest.fixture
def paid():
    with payout.use(FakeGateway()) as fake:
        yield fake


@pytest.fixture
def w(engine):
    return fr.world(engine)


@pytest.fixture
def people(make_actor):
    return {"risk1": make_actor("risk"), "risk2": make_actor("risk"),
            "risk3": make_actor("risk"), "bd": make_actor("bd"),
            "manager": make_actor("manager")}


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


def loan(engine, loan_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM fin.loans WHERE id = :id"),
                            {"id": loan_id}).mappings().one()


def committed(engine, merchant_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT committed FROM fin.credit_lines WHERE merchant_id = :m"),
                            {"m": merchant_id}).scalar()


def events(engine, loan_id):
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT kind FROM fin.loan_events WHERE loan_id = :l ORDER BY id"), {"l": loan_id})]


def apply(w, actor, engine, *, amount=200_000, principal="140000.00", term=30, cert=None,
          order_id=None):
    order_id = order_id or fr.new_order(engine, w, amount)
    return run(loans.apply, actor=actor, merchant_id=w["buyer"], order_id=order_id,
               principal=D(principal), term_days=term, certificate_no=cert or fr.certificate())


def approved(w, people, engine, **kw):
    app = apply(w, people["bd"], engine, **kw)
    assert run(loans.next_case, actor=people["risk1"]) == app.loan_id
    run(loans.approve, actor=people["risk1"], loan_id=app.loan_id,
        version=loan(engine, app.loan_id)["version"])
    return app.loan_id


def disbursed(w, people, engine, **kw):
    loan_id = approved(w, people, engine, **kw)
    run(loans.disburse, actor=people["risk1"], loan_id=loan_id,
        version=loan(engine, loan_id)["version"])
    return loan_id


def move_clock(monkeypatch, days):
    later = clock.now() + timedelta(days=days)
    monkeypatch.setattr(clock, "now", lambda: later)
    return later.date()


# ---------------------------------------------------------------- applying
def test_an_application_reserves_the_line_and_records_its_checks(engine, w, people):
    app = apply(w, people["bd"], engine)
    row = loan(engine, app.loan_id)
    assert (row["status"], row["principal"], row["term_days"], row["grade"], row["daily_rate"],
            row["needs_second"], row["merchant_id"], row["seller_id"], row["applied_by"]) == (
        "applied", D("140000.00"), 30, "A", D("0.000400"), False, w["buyer"], w["seller"],
        people["bd"].id)
    assert committed(engine, w["buyer"]) == D("140000.00")
    assert app.available_after == D("860000.00")
    assert events(engine, app.loan_id) == ["applied", "checks"]
    assert app.checks["all_ok"] is True
    assert {k: v["ok"] for k, v in app.checks.items() if k != "all_ok"} == {
        "grade": True, "line": True, "overdue": True, "seller_exposure": True,
        "brand_exposure": True, "escrow": True}
    assert app.checks["line"]["available"] == D("1000000.00")
    with engine.connect() as conn:
        audit = conn.execute(sa.text("""SELECT actor_id, action, entity_id FROM ops.audit_log
                                        WHERE entity_type = 'loan'""")).all()
    assert audit == [(people["bd"].id, "loan.apply", str(app.loan_id))]


def test_the_checks_flag_overdue_history_and_exposure(engine, w, people, paid, settings_env):
    settings_env(CONSOLE_LOAN_SELLER_EXPOSURE_YUAN=200_000)
    first = disbursed(w, people, engine)
    with engine.begin() as conn:   # the first loan is 5 days late
        conn.execute(sa.text("UPDATE fin.loans SET dpd = 5, bucket = 'dpd_1_30' WHERE id = :id"),
                     {"id": first})
    app = apply(w, people["bd"], engine, principal="70000.00")
    assert app.checks["overdue"] == {"ok": False, "open_past_due": 1, "defaulted": 0}
    assert app.checks["seller_exposure"] == {"ok": False, "exposure": D("210000.00"),
                                             "limit": D("200000")}
    assert app.checks["all_ok"] is False
    # approving with a failed check needs a note
    run(loans.next_case, actor=people["risk2"])
    with pytest.raises(InvalidInput) as err:
        run(loans.approve, actor=people["risk2"], loan_id=app.loan_id,
            version=loan(engine, app.loan_id)["version"])
    assert err.value.key == "finance.loans.error.note_required_failed_checks"
    decision = run(loans.approve, actor=people["risk2"], loan_id=app.loan_id,
                   version=loan(engine, app.loan_id)["version"], note="逾期已沟通，卖方集中度可接受")
    assert decision.status == "approved"


def test_the_marketplace_applies_without_a_staff_actor(engine, w):
    order_id = fr.new_order(engine, w)
    with db.transaction() as conn:
        app = loans.submit(conn=conn, merchant_id=w["buyer"], order_id=order_id,
                           principal=D("100000.00"), term_days=90, certificate_no="wdz-001")
    row = loan(engine, app.loan_id)
    assert (row["applied_by"], row["certificate_no"], row["term_days"]) == (None, "WDZ-001", 90)


# ---------------------------------------------------------------- every refusal changes nothing
def refused(engine, w, error, key, fn, **kw):
    before = fr.counts(engine, w["buyer"])
    with pytest.raises(error) as err:
        run(fn, **kw)
    assert err.value.key == key
    assert fr.counts(engine, w["buyer"]) == before
    return err.value


def test_above_the_available_line_is_refused(engine, people):
    w = fr.world(engine, line_yuan=100_000)
    err = refused(engine, w, Conflict, "finance.error.above_available_line", loans.apply,
                  actor=people["bd"], merchant_id=w["buyer"],
                  order_id=fr.new_order(engine, w), principal=D("100000.01"), term_days=30,
                  certificate_no=fr.certificate())
    assert err.params == {"available": D("100000.00")}
    assert committed(engine, w["buyer"]) == D("0.00")


def test_an_order_that_is_not_the_buyers_is_refused(engine, w, people):
    other = fr.order(engine, buyer=w["seller"], seller=w["buyer"], trim_id=w["trim"],
                     city_id=w["city"])
    refused(engine, w, InvalidInput, "finance.loans.error.not_buyers_order", loans.apply,
            actor=people["bd"], merchant_id=w["buyer"], order_id=other,
            principal=D("100000.00"), term_days=30, certificate_no=fr.certificate())


@pytest.mark.parametrize("status, escrow", [("created", "none"), ("completed", "released"),
                                            ("disputed", "disputed"), ("cancelled", "refunded")])
def test_an_order_not_in_escrow_with_the_deposit_paid_is_refused(engine, w, people, status,
                                                                 escrow):
    order_id = fr.new_order(engine, w, status=status, escrow=escrow)
    refused(engine, w, Conflict, "finance.loans.error.order_not_eligible", loans.apply,
            actor=people["bd"], merchant_id=w["buyer"], order_id=order_id,
            principal=D("100000.00"), term_days=30, certificate_no=fr.certificate())


@pytest.mark.parametrize("then", ["applied", "disbursed"])
def test_a_certificate_already_held_or_in_flight_is_refused(engine, w, people, paid, then):
    cert = "LGB-2026-000123"
    if then == "applied":
        apply(w, people["bd"], engine, cert=cert)
    else:
        disbursed(w, people, engine, cert=cert)
    err = refused(engine, w, Conflict, "finance.loans.error.certificate_held", loans.apply,
                  actor=people["bd"], merchant_id=w["buyer"],
                  order_id=fr.new_order(engine, w), principal=D("50000.00"), term_days=30,
                  certificate_no="lgb-2026-000123 ")
    assert err.params == {"certificate": cert}


def test_the_certificate_unique_index_turns_into_the_same_message(engine, w, people):
    """Two applications on one certificate at once: the database's index decides, and the
    loser reads the catalogue's words, not a driver error."""
    first = apply(w, people["bd"], engine, cert="RACE-1")
    order_id = fr.new_order(engine, w)
    real_scalar = db.scalar

    def blind(conn, sql, /, **params):   # the look-up sees nothing, as before a commit
        if "certificate_no = :c" in sql:
            return None
        return real_scalar(conn, sql, **params)

    before = fr.counts(engine, w["buyer"])
    import console.finance.loans as module
    module.db.scalar = blind
    try:
        with pytest.raises(Conflict) as err:
            run(loans.apply, actor=people["bd"], merchant_id=w["buyer"], order_id=order_id,
                principal=D("50000.00"), term_days=30, certificate_no="RACE-1")
    finally:
        module.db.scalar = real_scalar
    assert err.value.key == "finance.loans.error.certificate_held"
    assert fr.counts(engine, w["buyer"]) == before
    assert first.loan_id


def test_a_principal_above_the_orders_share_and_a_term_not_offered_are_refused(engine, w, people):
    order_id = fr.new_order(engine, w, 200_000)
    err = refused(engine, w, InvalidInput, "finance.loans.error.above_order_share", loans.apply,
                  actor=people["bd"], merchant_id=w["buyer"], order_id=order_id,
                  principal=D("140000.01"), term_days=30, certificate_no=fr.certificate())
    assert err.params == {"max": "¥140,000.00", "share": "70%"}
    refused(engine, w, InvalidInput, "finance.loans.error.term", loans.apply,
            actor=people["bd"], merchant_id=w["buyer"], order_id=order_id,
            principal=D("100000.00"), term_days=45, certificate_no=fr.certificate())


def test_a_grade_without_a_rate_is_refused(engine, people):
    w = fr.world(engine, buyer_grade="C")
    refused(engine, w, Conflict, "finance.loans.error.grade_not_eligible", loans.apply,
            actor=people["bd"], merchant_id=w["buyer"], order_id=fr.new_order(engine, w),
            principal=D("100000.00"), term_days=30, certificate_no=fr.certificate())


def test_a_disbursement_of_an_unapproved_loan_is_refused(engine, w, people, paid):
    app = apply(w, people["bd"], engine)
    refused(engine, w, Conflict, "finance.loans.error.not_approved", loans.disburse,
            actor=people["risk1"], loan_id=app.loan_id, version=1)
    # above the threshold, one approval is not enough
    big = apply(w, people["bd"], engine, amount=1_000_000, principal="600000.00")
    run(loans.next_case, actor=people["risk1"])      # the first, older one
    run(loans.next_case, actor=people["risk2"])
    run(loans.approve, actor=people["risk2"], loan_id=big.loan_id,
        version=loan(engine, big.loan_id)["version"])
    assert loan(engine, big.loan_id)["status"] == "applied"
    refused(engine, w, Conflict, "finance.loans.error.not_approved", loans.disburse,
            actor=people["risk1"], loan_id=big.loan_id,
            version=loan(engine, big.loan_id)["version"])
    assert paid.calls == []


def test_approving_your_own_application_is_refused_by_the_service_and_the_database(
        engine, w, people):
    app = apply(w, people["risk1"], engine)
    # the queue does not hand it to them, nor may it be assigned to them
    assert run(loans.next_case, actor=people["risk1"]) is None
    refused(engine, w, InvalidInput, "finance.loans.error.bad_assignee", loans.assign_case,
            actor=people["risk2"], loan_id=app.loan_id, version=1,
            assignee_id=people["risk1"].id)
    with engine.begin() as conn:   # held by them all the same (set by hand)
        conn.execute(sa.text("UPDATE fin.loans SET assignee_id = :s WHERE id = :id"),
                     {"s": people["risk1"].id, "id": app.loan_id})
    refused(engine, w, PermissionDenied, "finance.loans.error.own_application", loans.approve,
            actor=people["risk1"], loan_id=app.loan_id, version=1)
    with pytest.raises(sa.exc.IntegrityError, match="loans_not_own_application"), \
            engine.begin() as conn:
        conn.execute(sa.text("""UPDATE fin.loans SET status = 'approved', approved_by = :s,
                                approved_at = now() WHERE id = :id"""),
                     {"s": people["risk1"].id, "id": app.loan_id})


def test_the_first_approver_cannot_give_the_second_approval(engine, w, people):
    app = apply(w, people["bd"], engine, amount=1_000_000, principal="600000.00")
    assert app.needs_second
    run(loans.next_case, actor=people["risk1"])
    first = run(loans.approve, actor=people["risk1"], loan_id=app.loan_id, version=2)
    assert (first.status, first.awaiting_second) == ("applied", True)
    assert run(loans.next_case, actor=people["risk1"]) is None   # not offered to them again
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.loans SET assignee_id = :s WHERE id = :id"),
                     {"s": people["risk1"].id, "id": app.loan_id})
    refused(engine, w, PermissionDenied, "finance.loans.error.second_must_differ", loans.approve,
            actor=people["risk1"], loan_id=app.loan_id, version=first.version)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("""UPDATE fin.loans SET status = 'approved',
                                second_approved_by = approved_by WHERE id = :id"""),
                     {"id": app.loan_id})


def test_a_stale_form_is_refused(engine, w, people):
    app = apply(w, people["bd"], engine)
    run(loans.next_case, actor=people["risk1"])    # version 1 -> 2
    refused(engine, w, Conflict, "error.stale", loans.approve, actor=people["risk1"],
            loan_id=app.loan_id, version=1)
    refused(engine, w, Conflict, "error.stale", loans.reject, actor=people["risk1"],
            loan_id=app.loan_id, version=1, reason="资料不全")
    refused(engine, w, Conflict, "error.stale", loans.cancel, actor=people["bd"],
            loan_id=app.loan_id, version=1, reason="买方撤回")


def test_a_stale_disbursement_form_pays_nothing(engine, w, people, paid):
    loan_id = approved(w, people, engine)     # applied 1, taken 2, approved 3
    assert loan(engine, loan_id)["version"] == 3
    refused(engine, w, Conflict, "error.stale", loans.disburse, actor=people["risk2"],
            loan_id=loan_id, version=2)        # the page was opened before the approval
    assert paid.calls == []
    assert loan(engine, loan_id)["certificate_state"] == "none"


def test_an_application_is_assigned_to_a_colleague_on_its_timeline_and_not_taken_from_another(
        engine, w, people):
    app = apply(w, people["bd"], engine)
    risk1, risk2, risk3 = people["risk1"], people["risk2"], people["risk3"]
    assert run(loans.assign_case, actor=risk1, loan_id=app.loan_id, version=1,
               assignee_id=risk2.id) == 2
    row = loan(engine, app.loan_id)
    assert (row["assignee_id"], row["version"]) == (risk2.id, 2)
    assert events(engine, app.loan_id) == ["applied", "checks", "assigned"]
    page = run(loans.list_queue, actor=risk2, view="mine")
    assert page.rows["id"].tolist() == [app.loan_id]
    # risk1's form still says version 1; and once it is risk2's, risk1 cannot move it
    refused(engine, w, Conflict, "error.stale", loans.assign_case, actor=risk1,
            loan_id=app.loan_id, version=1, assignee_id=risk3.id)
    refused(engine, w, Conflict, "finance.loans.error.held_by_other", loans.assign_case,
            actor=risk1, loan_id=app.loan_id, version=2, assignee_id=risk1.id)
    # to someone who is not a risk officer: refused
    refused(engine, w, InvalidInput, "finance.loans.error.bad_assignee", loans.assign_case,
            actor=risk2, loan_id=app.loan_id, version=2, assignee_id=people["bd"].id)
    # the holder hands it on
    assert run(loans.assign_case, actor=risk2, loan_id=app.loan_id, version=2,
               assignee_id=risk3.id) == 3
    assert loan(engine, app.loan_id)["assignee_id"] == risk3.id
    with engine.connect() as conn:
        audit = conn.execute(sa.text("""
            SELECT actor_id, action, before ->> 'assignee_id', after ->> 'assignee_id'
            FROM ops.audit_log WHERE entity_type = 'loan' AND action = 'loan.assign'
            ORDER BY id""")).all()
    assert audit == [(risk1.id, "loan.assign", None, str(risk2.id)),
                     (risk2.id, "loan.assign", str(risk2.id), str(risk3.id))]


def test_the_brand_check_fails_past_the_brand_limit_with_its_figures(engine, w, people, paid,
                                                                     settings_env):
    """Brand exposure is the live principal of every loan in flight or out on the brand's
    cars, this one included: repaid principal no longer counts."""
    settings_env(CONSOLE_LOAN_BRAND_EXPOSURE_YUAN=200_000)
    first = disbursed(w, people, engine)                      # 140,000 out
    run(loans.record_repayment, actor=people["risk1"], loan_id=first, amount=D("40000.00"),
        channel="bank", reference="BR-1")                     # disbursed today: all principal
    within = apply(w, people["bd"], engine, principal="70000.00")
    assert within.checks["brand_exposure"] == {"ok": True, "exposure": D("170000.00"),
                                               "limit": D("200000")}
    past = apply(w, people["bd"], engine, principal="30000.01")
    # 100,000 + 70,000 + 30,000.01 = 200,000.01: one fen past the limit
    assert past.checks["brand_exposure"] == {"ok": False, "exposure": D("200000.01"),
                                             "limit": D("200000")}
    assert past.checks["seller_exposure"]["ok"] is True       # 10,000,000 by default
    assert past.checks["all_ok"] is False


def test_a_repayment_larger_than_what_is_owed_is_refused(engine, w, people, paid, monkeypatch):
    loan_id = disbursed(w, people, engine)
    move_clock(monkeypatch, 10)   # 10 days of 140,000 × 万四 = 10 × 56.00 = 560.00
    err = refused(engine, w, Conflict, "finance.loans.error.repayment_above_owed",
                  loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
                  amount=D("140560.01"), channel="bank", reference="B-1")
    assert err.params == {"owed": "¥140,560.00"}
    # the accrual the refused call did first was rolled back with it
    assert loan(engine, loan_id)["interest_accrued"] == D("0.00")


def test_other_refusals_change_nothing(engine, w, people, paid):
    app = apply(w, people["bd"], engine)
    refused(engine, w, NotFound, "finance.loans.error.not_found", loans.approve,
            actor=people["risk1"], loan_id=999_999, version=1)
    refused(engine, w, PermissionDenied, "finance.loans.error.not_yours", loans.approve,
            actor=people["risk1"], loan_id=app.loan_id, version=1)
    refused(engine, w, InvalidInput, "finance.loans.error.reason_required", loans.cancel,
            actor=people["bd"], loan_id=app.loan_id, version=1, reason="  ")
    refused(engine, w, Conflict, "finance.loans.error.not_outstanding", loans.record_repayment,
            actor=people["risk1"], loan_id=app.loan_id, amount=D("1.00"), channel="bank",
            reference="X-1")
    refused(engine, w, InvalidInput, "finance.loans.error.amount_format",
            loans.record_repayment, actor=people["risk1"], loan_id=app.loan_id,
            amount=D("1.001"), channel="bank", reference="X-1")
    refused(engine, w, PermissionDenied, "error.role_required", loans.approve,
            actor=people["bd"], loan_id=app.loan_id, version=1)


# ---------------------------------------------------------------- the happy paths
def test_two_risk_people_approve_above_the_threshold_and_the_seller_is_paid(
        engine, w, people, paid):
    app = apply(w, people["bd"], engine, amount=1_000_000, principal="600000.00", term=60)
    assert app.needs_second and app.daily_rate == D("0.000400")
    assert run(loans.next_case, actor=people["risk1"]) == app.loan_id
    run(loans.approve, actor=people["risk1"], loan_id=app.loan_id, version=2)
    row = loan(engine, app.loan_id)
    assert (row["status"], row["approved_by"], row["assignee_id"]) == (
        "applied", people["risk1"].id, None)
    page = run(loans.list_queue, actor=people["manager"], view="second")
    assert page.total == 1 and page.rows["stage"].tolist() == ["second_approval"]
    assert run(loans.next_case, actor=people["risk2"]) == app.loan_id
    second = run(loans.approve, actor=people["risk2"], loan_id=app.loan_id, version=4)
    assert (second.status, second.awaiting_second) == ("approved", False)
    done = run(loans.disburse, actor=people["risk3"], loan_id=app.loan_id, version=5)
    assert paid.calls == [{"seller_id": w["seller"], "amount": D("600000.00"),
                           "key": f"loan-{app.loan_id}-disbursement"}]
    assert done.payout_reference == f"PAY-loan-{app.loan_id}-disbursement"
    assert done.due_date == clock.today() + timedelta(days=60)
    row = loan(engine, app.loan_id)
    assert (row["status"], row["certificate_state"], row["due_date"], row["accrued_through"],
            row["second_approved_by"], row["disbursed_by"], row["payout_reference"]) == (
        "disbursed", "held", clock.today() + timedelta(days=60),
        clock.today() - timedelta(days=1), people["risk2"].id, people["risk3"].id,
        done.payout_reference)
    assert events(engine, app.loan_id) == ["applied", "checks", "assigned", "approved",
                                           "assigned", "second_approved", "disbursed",
                                           "certificate_held"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT action FROM ops.audit_log
                                       WHERE entity_type = 'loan' ORDER BY id""")).scalars().all() == [
            "loan.apply", "loan.take_next", "loan.approve", "loan.take_next",
            "loan.second_approve", "loan.disburse"]


def test_a_payout_the_channel_refuses_disburses_nothing(engine, w, people):
    with payout.use(FakeGateway(fail=True)):
        loan_id = approved(w, people, engine)
        refused(engine, w, Conflict, "finance.loans.error.payout_failed", loans.disburse,
                actor=people["risk1"], loan_id=loan_id, version=loan(engine, loan_id)["version"])
    assert loan(engine, loan_id)["status"] == "approved"


def test_an_order_that_fell_through_before_disbursement_is_not_paid(engine, w, people, paid):
    loan_id = approved(w, people, engine)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE app.orders SET status = 'cancelled', escrow_state = 'refunded'
                                WHERE id = (SELECT order_id FROM fin.loans WHERE id = :id)"""),
                     {"id": loan_id})
    refused(engine, w, Conflict, "finance.loans.error.order_not_eligible", loans.disburse,
            actor=people["risk1"], loan_id=loan_id, version=loan(engine, loan_id)["version"])
    assert paid.calls == []


@pytest.mark.parametrize("who", ["buyer", "seller"])
def test_a_suspended_party_neither_borrows_nor_is_paid(engine, w, people, paid, who):
    loan_id = approved(w, people, engine)
    order_id = fr.new_order(engine, w, 200_000)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": w[who]})
    refused(engine, w, Conflict, "finance.loans.error.merchant_not_active", loans.disburse,
            actor=people["risk1"], loan_id=loan_id, version=loan(engine, loan_id)["version"])
    refused(engine, w, Conflict, "finance.loans.error.merchant_not_active", loans.apply,
            actor=people["bd"], merchant_id=w["buyer"], order_id=order_id,
            principal=D("140000.00"), term_days=30, certificate_no=fr.certificate())
    assert paid.calls == []
    assert loan(engine, loan_id)["status"] == "approved"


def test_reject_and_cancel_give_the_principal_back_to_the_line(engine, w, people):
    a = apply(w, people["bd"], engine)
    b = apply(w, people["bd"], engine, principal="60000.00")
    assert committed(engine, w["buyer"]) == D("200000.00")
    run(loans.next_case, actor=people["risk1"])
    with pytest.raises(InvalidInput) as err:
        run(loans.reject, actor=people["risk1"], loan_id=a.loan_id, version=2, reason="")
    assert err.value.key == "finance.loans.error.reason_required"
    run(loans.reject, actor=people["risk1"], loan_id=a.loan_id, version=2, reason="车价明显偏高")
    assert committed(engine, w["buyer"]) == D("60000.00")
    run(loans.cancel, actor=people["bd"], loan_id=b.loan_id, version=1, reason="买方改为全款")
    assert committed(engine, w["buyer"]) == D("0.00")
    assert (loan(engine, a.loan_id)["status"], loan(engine, b.loan_id)["status"]) == (
        "rejected", "cancelled")
    assert events(engine, a.loan_id)[-1] == "rejected"
    # the certificate and the order are free again
    again = apply(w, people["bd"], engine, order_id=loan(engine, a.loan_id)["order_id"],
                  cert=loan(engine, a.loan_id)["certificate_no"])
    assert loan(engine, again.loan_id)["status"] == "applied"


def test_repayments_go_to_interest_then_principal_and_the_last_releases_the_certificate(
        engine, w, people, paid, monkeypatch):
    loan_id = disbursed(w, people, engine)    # 140,000.00 at 万四 for 30 days
    assert committed(engine, w["buyer"]) == D("140000.00")
    move_clock(monkeypatch, 10)
    # days 0..9 accrued first: 10 × 56.00 = 560.00; 1,000 = 560.00 interest + 440.00 principal
    first = run(loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
                amount=D("1000.00"), channel="wechat", reference="WX-0001")
    assert (first.to_interest, first.to_principal, first.balance_after, first.repaid) == (
        D("560.00"), D("440.00"), D("139560.00"), False)
    assert committed(engine, w["buyer"]) == D("139560.00")
    move_clock(monkeypatch, 20)
    # days 10..29 on 139,560.00: 139,560 × 0.0004 = 55.824 -> 55.82 a day, × 20 = 1,116.40
    with pytest.raises(Conflict) as err:
        run(loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
            amount=D("140676.41"), channel="bank", reference="BK-0002")
    assert err.value.params == {"owed": "¥140,676.40"}
    last = run(loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
               amount=D("140676.40"), channel="bank", reference="BK-0002")
    assert (last.to_interest, last.to_principal, last.balance_after, last.repaid) == (
        D("1116.40"), D("139560.00"), D("0.00"), True)
    row = loan(engine, loan_id)
    assert (row["status"], row["certificate_state"], row["interest_accrued"],
            row["interest_paid"], row["principal_paid"]) == (
        "repaid", "released", D("1676.40"), D("1676.40"), D("140000.00"))
    assert committed(engine, w["buyer"]) == D("0.00")
    assert events(engine, loan_id)[-5:] == ["certificate_held", "repayment", "repayment",
                                            "certificate_released", "repaid"]
    view = run(loans.get_loan, actor=people["manager"], loan_id=loan_id)
    assert view.loan["balance"] == D("0.00")
    assert view.repayments["reference"].tolist() == ["WX-0001", "BK-0002"]


def test_the_same_reference_again_is_the_same_repayment(engine, w, people, paid, monkeypatch):
    loan_id = disbursed(w, people, engine)
    move_clock(monkeypatch, 1)
    first = run(loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
                amount=D("5000.00"), channel="alipay", reference="ALI-7")
    before = fr.counts(engine, w["buyer"])
    again = run(loans.record_repayment, actor=people["risk2"], loan_id=loan_id,
                amount=D("5000.00"), channel="alipay", reference="ALI-7")
    assert (again.repayment_id, again.replayed, again.to_interest, again.to_principal) == (
        first.repayment_id, True, first.to_interest, first.to_principal)
    assert fr.counts(engine, w["buyer"]) == before
    # the reference with another amount is another payment's: refused
    refused(engine, w, Conflict, "finance.loans.error.reference_used", loans.record_repayment,
            actor=people["risk1"], loan_id=loan_id, amount=D("5000.01"), channel="alipay",
            reference="ALI-7")


def test_collection_notes_and_promises_sit_on_the_timeline(engine, w, people, paid):
    loan_id = disbursed(w, people, engine)
    run(loans.add_collection_note, actor=people["risk1"], loan_id=loan_id,
        note="电话联系财务，答应下周还款")
    run(loans.add_promise_to_pay, actor=people["risk1"], loan_id=loan_id,
        promise_date=clock.today() + timedelta(days=7), amount=D("50000.00"))
    refused(engine, w, InvalidInput, "finance.loans.error.promise_in_past",
            loans.add_promise_to_pay, actor=people["risk1"], loan_id=loan_id,
            promise_date=clock.today() - timedelta(days=1), amount=D("1.00"))
    refused(engine, w, InvalidInput, "finance.loans.error.note_required",
            loans.add_collection_note, actor=people["risk1"], loan_id=loan_id, note=" ")
    view = run(loans.get_loan, actor=people["risk2"], loan_id=loan_id)
    tail = view.timeline.tail(2)
    assert tail["kind"].tolist() == ["collection_note", "promise_to_pay"]
    assert tail["note"].tolist()[0] == "电话联系财务，答应下周还款"
    assert tail["amount"].tolist()[1] == D("50000.00")


def test_the_queue_shows_stage_and_sla(engine, w, people, settings_env):
    settings_env(CONSOLE_LOAN_SLA_HOURS=24)
    a = apply(w, people["bd"], engine)
    b = apply(w, people["bd"], engine, principal="10000.00")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.loans SET applied_at = now() - interval '30 hours' "
                             "WHERE id = :id"), {"id": a.loan_id})
        conn.execute(sa.text("UPDATE fin.loans SET applied_at = now() - interval '13 hours' "
                             "WHERE id = :id"), {"id": b.loan_id})
    page = run(loans.list_queue, actor=people["risk1"], view="open")
    assert page.total == 2
    assert page.rows["id"].tolist() == [a.loan_id, b.loan_id]
    assert page.rows["sla"].tolist() == ["late", "warn"]
    assert page.rows["stage"].tolist() == ["first_approval", "first_approval"]
    with pytest.raises(InvalidInput):
        run(loans.list_queue, actor=people["risk1"], view="everything")


# ---------------------------------------------------------------- concurrency
def test_twenty_applications_at_once_never_exceed_the_line(engine, fresh_db, w, people):
    orders = [fr.new_order(engine, w, 200_000) for _ in range(20)]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(loans.apply, {
            "actor": people["bd"], "merchant_id": w["buyer"], "order_id": o,
            "principal": D("140000.00"), "term_days": 30, "certificate_no": f"T-{i}"})
            for i, o in enumerate(orders)])
    ok = [r for r in results if r[0] == "ok"]
    assert [r for r in results if r[0] == "crash"] == []
    # 1,000,000 holds seven of 140,000 (980,000): the eighth would exceed it
    assert len(ok) == 7
    assert {r[1] for r in results if r[0] == "refused"} == {
        ("Conflict", "finance.error.above_available_line")}
    assert committed(engine, w["buyer"]) == D("980000.00")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*), sum(principal) FROM fin.loans")).one() == (
            7, D("980000.00"))


def test_twenty_deliveries_of_one_payment_are_one_repayment(engine, fresh_db, w, people, paid,
                                                            monkeypatch):
    loan_id = disbursed(w, people, engine)
    move_clock(monkeypatch, 3)
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(loans.record_repayment, {
            "actor": people["risk1"], "loan_id": loan_id, "amount": D("20000.00"),
            "channel": "bank", "reference": "BK-ONCE"}) for _ in range(20)])
    assert {r[0] for r in results} == {"ok"}, results
    ids = {r[1].repayment_id for r in results}
    assert len(ids) == 1
    assert sorted(r[1].replayed for r in results) == [False] + [True] * 19
    row = loan(engine, loan_id)
    # 3 days × 56.00 = 168.00 interest, the rest principal, once
    assert (row["interest_paid"], row["principal_paid"]) == (D("168.00"), D("19832.00"))
    assert committed(engine, w["buyer"]) == D("120168.00")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM fin.loan_repayments")).scalar() == 1
        assert conn.execute(sa.text("""SELECT count(*) FROM fin.loan_events
                                       WHERE kind = 'repayment'""")).scalar() == 1


def test_next_case_holds_the_cap_under_concurrency(engine, fresh_db, w, people, settings_env):
    settings_env(CONSOLE_REVIEW_CAP=3)
    for _ in range(10):
        apply(w, people["bd"], engine, principal="50000.00")
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(loans.next_case, {"actor": people["risk1"]})
                              for _ in range(10)])
    taken = [r[1] for r in results if r[0] == "ok"]
    assert len(taken) == 3 and len(set(taken)) == 3 and None not in taken
    assert [r[1] for r in results if r[0] != "ok"] == [
        ("Conflict", "finance.loans.error.cap_reached")] * 7
    with engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT count(*) FROM fin.loans
                                       WHERE assignee_id = :s"""),
                            {"s": people["risk1"].id}).scalar() == 3


# ---------------------------------------------------------------- the invariant
def test_every_loans_balance_is_principal_plus_interest_minus_paid_after_random_operations(
        engine, w, people, paid, monkeypatch):
    """A random sequence of disbursements, days passing, accrual runs and repayments on
    several loans; after each step every loan is checked against a model kept here by the
    written rule: interest per day on the principal outstanding that day, rounded half-up;
    repayments to interest first. And the line's committed amount is the principal still out."""
    rng = random.Random(19)
    base = clock.now()
    today = [0]

    def at(day):
        monkeypatch.setattr(clock, "now", lambda: base + timedelta(days=day))

    model: dict[int, dict] = {}
    ids = []
    for principal, term in (("140000.00", 30), ("33333.33", 60), ("99999.99", 90)):
        loan_id = disbursed(w, people, engine, principal=principal, term=term)
        row = loan(engine, loan_id)
        model[loan_id] = {"principal": row["principal"], "rate": row["daily_rate"],
                          "p_paid": D("0.00"), "i_acc": D("0.00"), "i_paid": D("0.00"),
                          "through": clock.today() - timedelta(days=1)}
        ids.append(loan_id)

    def accrue_model(loan_id, upto):
        m = model[loan_id]
        while m["through"] < upto - timedelta(days=1):
            m["through"] += timedelta(days=1)
            m["i_acc"] += money.daily_interest(m["principal"] - m["p_paid"], m["rate"])

    def check():
        with engine.connect() as conn:
            rows = conn.execute(sa.text("""
                SELECT l.*, (SELECT coalesce(sum(to_interest), 0) FROM fin.loan_repayments r
                             WHERE r.loan_id = l.id) AS r_int,
                            (SELECT coalesce(sum(to_principal), 0) FROM fin.loan_repayments r
                             WHERE r.loan_id = l.id) AS r_prin
                FROM fin.loans l ORDER BY id""")).mappings().all()
            line = conn.execute(sa.text("SELECT committed FROM fin.credit_lines WHERE merchant_id = :m"),
                                {"m": w["buyer"]}).scalar()
        out = D("0.00")
        for r in rows:
            m = model[r["id"]]
            assert (r["interest_accrued"], r["interest_paid"], r["principal_paid"]) == (
                m["i_acc"], m["i_paid"], m["p_paid"]), r["id"]
            assert (r["r_int"], r["r_prin"]) == (r["interest_paid"], r["principal_paid"])
            bal = money.balance(principal=r["principal"], principal_paid=r["principal_paid"],
                                interest_accrued=r["interest_accrued"],
                                interest_paid=r["interest_paid"])
            assert bal == m["principal"] + m["i_acc"] - m["p_paid"] - m["i_paid"]
            assert (r["status"] == "repaid") == (bal == 0)
            out += r["principal"] - r["principal_paid"]
        assert line == out

    for step in range(40):
        today[0] += rng.choice((0, 1, 1, 2, 5))
        at(today[0])
        if rng.random() < 0.3:
            with db.transaction() as conn:
                accrual.run(conn)
            for loan_id in ids:
                if loan(engine, loan_id)["status"] == "disbursed":
                    accrue_model(loan_id, clock.today())
        else:
            loan_id = rng.choice(ids)
            if loan(engine, loan_id)["status"] != "disbursed":
                continue
            accrue_model(loan_id, clock.today())
            m = model[loan_id]
            owed = m["principal"] - m["p_paid"] + m["i_acc"] - m["i_paid"]
            amount = owed if rng.random() < 0.15 else min(
                owed, D(rng.randint(1, 3_000_000)) / 100)
            result = run(loans.record_repayment, actor=people["risk1"], loan_id=loan_id,
                         amount=amount, channel="bank", reference=f"R-{step}")
            to_i = min(amount, m["i_acc"] - m["i_paid"])
            m["i_paid"] += to_i
            m["p_paid"] += amount - to_i
            assert (result.to_interest, result.to_principal) == (to_i, amount - to_i)
        check()
