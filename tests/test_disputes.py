"""The escrow dispute desk: the queue, both sides' statements, and decisions that move money.

Each decision must: add up to the deposit to the fen, carry a reason, wait for a second
different risk officer above the configured amount, close the dispute, move the order's
escrow, record the payouts, audit, notify both merchants, and count in the credit features.
Concurrent presses end in exactly one decision.
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import disputes
from console.services.disputes import QueueFilters, parse_yuan
from etl import jobs as etl_jobs
from etl import runner as etl_runner
from tests import trust_rows as tr
from tests.races import race, wide_engine


# ---------------------------------------------------------------- a world of our own
def disputed_order(engine, *, deposit: float, raised_by: str = "buyer", reason: str = "not_delivered",
                   age_days: float = 3.0, buyer: int | None = None, seller: int | None = None) -> dict:
    """Two merchants, an order whose deposit is held in dispute, and the open dispute."""
    city = tr.city(engine)
    trim = tr.trim(engine)
    buyer = buyer or tr.merchant(engine, city_id=city, name=f"买方车商{deposit:.0f}")
    seller = seller or tr.merchant(engine, city_id=city, name=f"卖方车商{deposit:.0f}")
    listing = tr.listing(engine, merchant_id=seller, trim_id=trim, city_id=city)
    with engine.begin() as conn:
        order = conn.execute(sa.text("""
            INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                    deposit_amount, status, escrow_state, created_at,
                                    deposit_paid_at)
            VALUES (:l, :b, :s, 1, 180000, 180000, :dep, 'disputed', 'disputed',
                    now() - make_interval(days => 10), now() - make_interval(days => 9))
            RETURNING id"""), {"l": listing, "b": buyer, "s": seller, "dep": deposit}).scalar()
        raiser, against = (buyer, seller) if raised_by == "buyer" else (seller, buyer)
        dispute = conn.execute(sa.text("""
            INSERT INTO app.disputes (order_id, raised_by, against_id, reason, created_at)
            VALUES (:o, :r, :a, :reason, now() - make_interval(secs => :age * 86400))
            RETURNING id"""), {"o": order, "r": raiser, "a": against, "reason": reason,
                               "age": age_days}).scalar()
    return {"dispute": dispute, "order": order, "buyer": buyer, "seller": seller}


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def refused(engine, fn, **kwargs):
    with pytest.raises((InvalidInput, Conflict, PermissionDenied)) as err:
        call(engine, fn, **kwargs)
    return err.value


def state(engine, case) -> dict:
    return tr.rows(engine, """
        SELECT d.status, d.outcome, o.status AS order_status, o.escrow_state, o.cancelled_by,
               (SELECT count(*) FROM ops.dispute_decisions x WHERE x.dispute_id = d.id) AS decisions,
               (SELECT count(*) FROM app.payments p WHERE p.order_id = o.id) AS payments,
               (SELECT count(*) FROM app.notification_outbox n
                WHERE n.dedupe_key LIKE 'dispute:' || d.id || ':%') AS notices,
               (SELECT count(*) FROM ops.audit_log a
                WHERE a.entity_type = 'dispute' AND a.entity_id = d.id::text) AS audits
        FROM app.disputes d JOIN app.orders o ON o.id = d.order_id WHERE d.id = :id""",
                   id=case["dispute"])[0]


UNTOUCHED = {"status": "open", "outcome": None, "order_status": "disputed",
             "escrow_state": "disputed", "cancelled_by": None, "decisions": 0, "payments": 0,
             "notices": 0, "audits": 0}


# ---------------------------------------------------------------- amounts
@pytest.mark.parametrize("typed, expected", [
    ("12500", "12500.00"), ("12,500.50", "12500.50"), ("¥12,500", "12500.00"),
    ("１２５００", "12500.00"), ("１２，５００．５", "12500.50"), (" 3000 元", "3000.00"),
    ("0", "0.00"), (Decimal("4999.99"), "4999.99"), (7000, "7000.00"),
])
def test_amounts_typed_by_staff_are_read_to_the_fen(typed, expected):
    assert parse_yuan(typed) == Decimal(expected)


@pytest.mark.parametrize("typed", [
    "-1", "－100", "NaN", "nan", "inf", "Infinity", "1e5", "12.345", "", "  ", "五万", "٣٠٠٠",
    "12 500", "1,2.3.4", "1,25", "12,50.5", 1.5, -3, True, Decimal("NaN"), Decimal("-1"), Decimal("1.001"),
    "9999999999999",
])
def test_amounts_that_are_not_money_are_refused(typed):
    with pytest.raises(InvalidInput) as err:
        parse_yuan(typed)
    assert err.value.key == "disputes.error.bad_amount"


# ---------------------------------------------------------------- the queue and the view
def test_the_queue_lists_open_disputes_oldest_first_with_filters(engine, make_actor):
    risk = make_actor("risk")
    young = disputed_order(engine, deposit=5_000, age_days=1, reason="damage")
    old = disputed_order(engine, deposit=20_000, age_days=6)
    closed = disputed_order(engine, deposit=10_000, age_days=9)
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE app.disputes SET status = 'resolved', outcome = 'settled',
                                resolved_at = now() WHERE id = :id"""), {"id": closed["dispute"]})
    queue = call(engine, disputes.dispute_queue, actor=risk)
    assert queue.total == 2
    assert queue.rows["dispute_id"].tolist() == [old["dispute"], young["dispute"]]
    assert queue.rows["deposit_amount"].tolist() == [Decimal("20000.00"), Decimal("5000.00")]
    assert queue.rows["age_days"].round(1).tolist() == [6.0, 1.0]
    assert queue.threshold_yuan == 50_000

    def ids(**f):
        return call(engine, disputes.dispute_queue, actor=risk,
                    filters=QueueFilters(**f)).rows["dispute_id"].tolist()

    assert ids(reason="damage") == [young["dispute"]]
    assert ids(min_deposit=10_000) == [old["dispute"]]
    assert ids(max_deposit=10_000) == [young["dispute"]]
    assert ids(min_age_days=3) == [old["dispute"]]
    assert ids(query=str(young["order"])) == [young["dispute"]]
    assert ids(query="卖方车商20000") == [old["dispute"]]
    assert ids(awaiting_second=True) == []
    assert refused(engine, disputes.dispute_queue, actor=risk,
                   filters=QueueFilters(reason="bribery")).key == "disputes.error.bad_filter"


def test_managers_read_the_desk_but_only_risk_decides(engine, make_actor):
    case = disputed_order(engine, deposit=5_000)
    manager, bd = make_actor("manager"), make_actor("bd")
    assert call(engine, disputes.dispute_queue, actor=manager).total == 1
    view = call(engine, disputes.dispute_view, actor=manager, dispute_id=case["dispute"])
    assert view.dispute["deposit_amount"] == Decimal("5000.00")
    assert refused(engine, disputes.decide, actor=manager, dispute_id=case["dispute"],
                   kind="refund", reason="x").key == "error.role_required"
    assert refused(engine, disputes.dispute_queue, actor=bd).key == "error.role_required"
    assert state(engine, case) == UNTOUCHED


def test_the_view_shows_both_statements_the_deal_and_its_timeline(engine, make_actor):
    case = disputed_order(engine, deposit=10_000)
    with engine.begin() as conn:
        for side, merchant, body, evidence, hours in (
                ("buyer", case["buyer"], "至今未交车，要求退还定金。",
                 [{"kind": "transfer", "title": "定金支付凭证"}], 50),
                ("seller", case["seller"], "车已到库，是买方不来提车。",
                 [{"kind": "photo", "title": "库存车辆照片（4张）"}], 40)):
            conn.execute(sa.text("""
                INSERT INTO app.dispute_statements (dispute_id, merchant_id, side, body, evidence,
                                                    created_at)
                VALUES (:d, :m, :side, :body, CAST(:ev AS jsonb),
                        now() - make_interval(hours => :h))"""),
                {"d": case["dispute"], "m": merchant, "side": side, "body": body,
                 "ev": json.dumps(evidence, ensure_ascii=False), "h": hours})
    view = call(engine, disputes.dispute_view, actor=make_actor("risk"), dispute_id=case["dispute"])
    assert view.statements["side"].tolist() == ["buyer", "seller"]
    assert view.statements["body"].tolist() == ["至今未交车，要求退还定金。", "车已到库，是买方不来提车。"]
    assert view.statements["evidence"].tolist() == [[{"kind": "transfer", "title": "定金支付凭证"}],
                                                     [{"kind": "photo", "title": "库存车辆照片（4张）"}]]
    d = view.dispute
    assert (d["escrow_state"], d["order_status"], d["raised_by_side"], d["deposit_amount"]) == (
        "disputed", "disputed", "buyer", Decimal("10000.00"))
    assert view.timeline["event"].tolist() == ["order_created", "dispute_raised", "statement",
                                               "statement"]
    assert view.timeline["params"].tolist()[1:] == [{"side": "buyer", "reason": "not_delivered"},
                                                    {"side": "buyer"}, {"side": "seller"}]
    assert view.needs_second is False and view.pending is None


# ---------------------------------------------------------------- decisions that take effect
def test_a_release_closes_the_dispute_pays_the_seller_audits_and_tells_both(engine, make_actor):
    case = disputed_order(engine, deposit=10_000, raised_by="buyer")
    risk = make_actor("risk")
    decision = call(engine, disputes.decide, actor=risk, dispute_id=case["dispute"],
                    kind="release", reason="卖方提供了到库照片和提车通知，买方未按约提车。")
    assert (decision.status, decision.seller_amount, decision.buyer_amount) == (
        "applied", Decimal("10000.00"), Decimal("0.00"))
    assert state(engine, case) == {
        "status": "resolved", "outcome": "against_won", "order_status": "completed",
        "escrow_state": "released", "cancelled_by": None, "decisions": 1, "payments": 1,
        "notices": 2, "audits": 1}
    payment = tr.rows(engine, "SELECT kind, amount, status FROM app.payments WHERE order_id = :o",
                      o=case["order"])
    assert payment == [{"kind": "release", "amount": Decimal("10000.00"), "status": "pending"}]
    audit = tr.rows(engine, """SELECT actor_id, action, reason, after FROM ops.audit_log
                               WHERE entity_type = 'dispute' AND entity_id = :id""",
                    id=str(case["dispute"]))[0]
    assert (audit["actor_id"], audit["action"], audit["reason"]) == (
        risk.id, "dispute.decide", "卖方提供了到库照片和提车通知，买方未按约提车。")
    assert (audit["after"]["seller_amount"], audit["after"]["buyer_amount"],
            audit["after"]["escrow_state"]) == ("10000.00", "0.00", "released")
    notices = tr.rows(engine, """SELECT merchant_id, channel, template, payload
                                 FROM app.notification_outbox WHERE dedupe_key LIKE 'dispute:%'
                                 ORDER BY merchant_id""")
    assert [(n["merchant_id"], n["channel"], n["template"], n["payload"]["side"],
             n["payload"]["amount"]) for n in notices] == [
        (case["buyer"], "sms", "dispute.decided", "buyer", "0.00"),
        (case["seller"], "sms", "dispute.decided", "seller", "10000.00")]


def test_a_refund_cancels_the_order_and_the_raising_buyer_wins(engine, make_actor):
    case = disputed_order(engine, deposit=5_000, raised_by="buyer")
    call(engine, disputes.decide, actor=make_actor("risk"), dispute_id=case["dispute"],
         kind="refund", reason="卖方临时加价违约。")
    got = state(engine, case)
    assert (got["outcome"], got["order_status"], got["escrow_state"], got["cancelled_by"]) == (
        "raiser_won", "cancelled", "refunded", "platform")
    assert tr.rows(engine, "SELECT kind, amount FROM app.payments WHERE order_id = :o",
                   o=case["order"]) == [{"kind": "refund", "amount": Decimal("5000.00")}]


def test_a_split_records_both_amounts_that_add_up_to_the_deposit(engine, make_actor):
    case = disputed_order(engine, deposit=10_000, raised_by="seller")
    risk = make_actor("risk")
    decision = call(engine, disputes.decide, actor=risk, dispute_id=case["dispute"], kind="split",
                    seller_amount="６，５００．５０", buyer_amount="3499.5", reason="双方均有责任。")
    assert (decision.seller_amount, decision.buyer_amount) == (Decimal("6500.50"), Decimal("3499.50"))
    got = state(engine, case)
    assert (got["outcome"], got["escrow_state"], got["order_status"]) == ("settled", "released", "cancelled")
    assert tr.rows(engine, """SELECT kind, amount FROM app.payments WHERE order_id = :o
                              ORDER BY kind""", o=case["order"]) == [
        {"kind": "refund", "amount": Decimal("3499.50")},
        {"kind": "release", "amount": Decimal("6500.50")}]
    assert tr.rows(engine, """SELECT seller_amount, buyer_amount, deposit_amount FROM ops.dispute_decisions
                              WHERE dispute_id = :d""", d=case["dispute"]) == [
        {"seller_amount": Decimal("6500.50"), "buyer_amount": Decimal("3499.50"),
         "deposit_amount": Decimal("10000.00")}]


@pytest.mark.parametrize("seller, buyer, key", [
    ("6000", "3999.99", "disputes.error.split_sum"),
    ("6000", "4000.01", "disputes.error.split_sum"),
    ("11000", "-1000", "disputes.error.bad_amount"),
    ("NaN", "10000", "disputes.error.bad_amount"),
    ("1e4", "0", "disputes.error.bad_amount"),
    ("10000", "0", "disputes.error.split_zero"),
    ("10000", None, "disputes.error.split_needs_both"),
    ("五千", "五千", "disputes.error.bad_amount"),
])
def test_a_split_that_is_not_the_deposit_exactly_is_refused_and_writes_nothing(
        engine, make_actor, seller, buyer, key):
    case = disputed_order(engine, deposit=10_000)
    err = refused(engine, disputes.decide, actor=make_actor("risk"), dispute_id=case["dispute"],
                  kind="split", seller_amount=seller, buyer_amount=buyer, reason="双方均有责任。")
    assert err.key == key
    assert state(engine, case) == UNTOUCHED


def test_a_decision_needs_a_reason_and_a_known_kind(engine, make_actor):
    case = disputed_order(engine, deposit=5_000)
    risk = make_actor("risk")
    assert refused(engine, disputes.decide, actor=risk, dispute_id=case["dispute"], kind="refund",
                   reason="   ").key == "error.reason_required"
    assert refused(engine, disputes.decide, actor=risk, dispute_id=case["dispute"], kind="keep",
                   reason="x").key == "disputes.error.bad_kind"
    assert state(engine, case) == UNTOUCHED


def test_a_decided_dispute_cannot_be_decided_again(engine, make_actor):
    case = disputed_order(engine, deposit=5_000)
    risk = make_actor("risk")
    call(engine, disputes.decide, actor=risk, dispute_id=case["dispute"], kind="refund", reason="a")
    assert refused(engine, disputes.decide, actor=make_actor("risk"), dispute_id=case["dispute"],
                   kind="release", reason="b").key == "disputes.error.already_decided"
    assert state(engine, case)["decisions"] == 1


# ---------------------------------------------------------------- four eyes
def test_above_the_threshold_a_second_different_officer_must_approve(engine, make_actor):
    case = disputed_order(engine, deposit=60_000)           # default threshold: 50,000 yuan
    first, second = make_actor("risk"), make_actor("risk")
    decision = call(engine, disputes.decide, actor=first, dispute_id=case["dispute"],
                    kind="refund", reason="卖方未交车。")
    assert decision.status == "proposed"
    waiting = state(engine, case)
    assert (waiting["status"], waiting["escrow_state"], waiting["payments"], waiting["notices"],
            waiting["audits"]) == ("open", "disputed", 0, 0, 1)
    assert call(engine, disputes.awaiting_my_approval, actor=first).empty
    assert call(engine, disputes.awaiting_my_approval,
                actor=second)["decision_id"].tolist() == [decision.decision_id]
    assert refused(engine, disputes.approve, actor=first,
                   decision_id=decision.decision_id).key == "disputes.error.own_proposal"
    assert refused(engine, disputes.decide, actor=second, dispute_id=case["dispute"],
                   kind="release", reason="x").key == "disputes.error.proposal_pending"
    call(engine, disputes.approve, actor=second, decision_id=decision.decision_id, note="同意")
    got = state(engine, case)
    assert (got["status"], got["outcome"], got["escrow_state"], got["payments"], got["notices"],
            got["audits"]) == ("resolved", "raiser_won", "refunded", 1, 2, 2)
    row = tr.rows(engine, """SELECT status, proposed_by, approved_by FROM ops.dispute_decisions
                             WHERE id = :id""", id=decision.decision_id)[0]
    assert row == {"status": "applied", "proposed_by": first.id, "approved_by": second.id}
    actions = tr.rows(engine, """SELECT actor_id, action FROM ops.audit_log
                                 WHERE entity_type = 'dispute' ORDER BY id""")
    assert actions == [{"actor_id": first.id, "action": "dispute.propose"},
                       {"actor_id": second.id, "action": "dispute.approve"}]


def test_the_threshold_comes_from_the_settings(engine, make_actor, settings_env):
    settings_env(CONSOLE_DISPUTE_SECOND_APPROVAL_YUAN=8_000)
    below = disputed_order(engine, deposit=8_000)
    above = disputed_order(engine, deposit=8_000.01)
    risk = make_actor("risk")
    assert call(engine, disputes.decide, actor=risk, dispute_id=below["dispute"], kind="refund",
                reason="a").status == "applied"
    assert call(engine, disputes.decide, actor=risk, dispute_id=above["dispute"], kind="refund",
                reason="a").status == "proposed"


def test_a_rejected_proposal_leaves_the_dispute_open_for_a_new_one(engine, make_actor):
    case = disputed_order(engine, deposit=60_000)
    first, second = make_actor("risk"), make_actor("risk")
    proposal = call(engine, disputes.decide, actor=first, dispute_id=case["dispute"],
                    kind="release", reason="a")
    assert refused(engine, disputes.reject, actor=second, decision_id=proposal.decision_id,
                   note=" ").key == "error.reason_required"
    call(engine, disputes.reject, actor=second, decision_id=proposal.decision_id,
         note="证据不足，买方的验车照片显示配置不符。")
    got = state(engine, case)
    assert (got["status"], got["escrow_state"], got["payments"]) == ("open", "disputed", 0)
    again = call(engine, disputes.decide, actor=second, dispute_id=case["dispute"], kind="refund",
                 reason="b")
    assert again.status == "proposed"
    assert refused(engine, disputes.approve, actor=make_actor("risk"),
                   decision_id=proposal.decision_id).key == "disputes.error.already_decided"


# ---------------------------------------------------------------- races
def test_two_approvers_pressing_at_once_make_exactly_one_decision(engine, make_actor, fresh_db):
    case = disputed_order(engine, deposit=60_000)
    proposer = make_actor("risk")
    approvers = [make_actor("risk") for _ in range(4)]
    proposal = call(engine, disputes.decide, actor=proposer, dispute_id=case["dispute"],
                    kind="split", seller_amount="30000", buyer_amount="30000", reason="各担一半")
    with wide_engine(fresh_db, 4) as eng:
        results = race(eng, [(disputes.approve, {"actor": a, "decision_id": proposal.decision_id})
                             for a in approvers])
    assert sorted(r[0] for r in results) == ["ok", "refused", "refused", "refused"], results
    assert {r[1] for r in results if r[0] == "refused"} == {("Conflict", "disputes.error.already_decided")}
    got = state(engine, case)
    assert (got["status"], got["payments"], got["notices"], got["audits"]) == ("resolved", 2, 2, 2)


def test_a_double_click_decides_once(engine, make_actor, fresh_db):
    case = disputed_order(engine, deposit=5_000)
    risk = make_actor("risk")
    call_ = (disputes.decide, {"actor": risk, "dispute_id": case["dispute"], "kind": "release",
                               "reason": "卖方已交车"})
    with wide_engine(fresh_db, 3) as eng:
        results = race(eng, [call_, call_, call_])
    assert sorted(r[0] for r in results) == ["ok", "refused", "refused"], results
    got = state(engine, case)
    assert (got["decisions"], got["payments"], got["notices"], got["audits"]) == (1, 1, 2, 1)


def test_two_officers_proposing_at_once_leave_one_proposal(engine, make_actor, fresh_db):
    case = disputed_order(engine, deposit=60_000)
    calls = [(disputes.decide, {"actor": make_actor("risk"), "dispute_id": case["dispute"],
                                "kind": kind, "reason": "r"}) for kind in ("refund", "release")]
    with wide_engine(fresh_db, 2) as eng:
        results = race(eng, calls)
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert [r[1] for r in results if r[0] == "refused"] == [("Conflict", "disputes.error.proposal_pending")]
    assert state(engine, case)["decisions"] == 1


# ---------------------------------------------------------------- credit
def test_a_dispute_decided_against_a_merchant_counts_in_its_credit_factors(engine, make_actor):
    case = disputed_order(engine, deposit=10_000, raised_by="buyer")
    settled = disputed_order(engine, deposit=10_000, buyer=case["buyer"], seller=case["seller"])
    risk = make_actor("risk")
    call(engine, disputes.decide, actor=risk, dispute_id=case["dispute"], kind="refund",
         reason="卖方未交车")
    call(engine, disputes.decide, actor=risk, dispute_id=settled["dispute"], kind="split",
         seller_amount="5000", buyer_amount="5000", reason="各担一半")
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    features = {r["merchant_id"]: r for r in tr.rows(engine, """
        SELECT merchant_id, disputes_raised, disputes_lost FROM mart.merchant_features""")}
    assert (features[case["seller"]]["disputes_lost"], features[case["buyer"]]["disputes_lost"]) == (1, 0)
    assert features[case["buyer"]]["disputes_raised"] == 2
    with engine.begin() as conn:
        run = credit_engine.score_all(conn, load(DEFAULT_CONFIG))
    factor = {r["merchant_id"]: r["lost"] for r in tr.rows(engine, """
        SELECT merchant_id, (factors->'disputes_lost'->>'value')::numeric AS lost
        FROM ops.credit_scores WHERE run_id = :r""", r=run)}
    assert (factor[case["seller"]], factor[case["buyer"]]) == (1, 0)


# ---------------------------------------------------------------- the demo
def test_the_demo_gives_every_open_dispute_statements_in_chinese(demo_engine):
    rows = tr.rows(demo_engine, """
        SELECT d.id, d.status, d.raised_by, array_agg(st.merchant_id ORDER BY st.created_at) AS who,
               array_agg(st.body ORDER BY st.created_at) AS bodies,
               bool_and(jsonb_array_length(st.evidence) >= 1) AS evidence
        FROM app.disputes d LEFT JOIN app.dispute_statements st ON st.dispute_id = d.id
        GROUP BY d.id ORDER BY d.id""")
    assert len(rows) >= 3
    for r in rows:
        assert r["who"][0] == r["raised_by"], r          # the raiser speaks first
        assert r["evidence"] is True
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in body) for body in r["bodies"])
    assert sum(len(r["who"]) == 2 for r in rows) >= len(rows) // 2   # most have both sides


# ---------------------------------------------------------------- the page
def page_as(actor, *, dispute: int | None = None, lang: str = "zh"):
    from streamlit.testing.v1 import AppTest

    from console.settings import PROJECT_ROOT
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "risk_disputes.py"), default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    if dispute is not None:
        at.query_params["dispute"] = str(dispute)
    return at.run()


def statement(engine, case, side: str, body: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO app.dispute_statements (dispute_id, merchant_id, side, body, evidence, created_at)
            VALUES (:d, :m, :side, :body, '[{"kind": "chat", "title": "微信聊天记录截图（3张）"}]', now())"""),
            {"d": case["dispute"], "m": case[side], "side": side, "body": body})


def test_the_page_lists_opens_and_refunds_a_dispute(engine, make_actor):
    old = disputed_order(engine, deposit=12_500, age_days=5)
    disputed_order(engine, deposit=5_000, age_days=1)
    statement(engine, old, "buyer", "卖方至今未交车，要求退还定金。")
    statement(engine, old, "seller", "车已到库，买方不来提车。")
    risk = make_actor("risk")
    at = page_as(risk)
    assert not at.exception and not at.error
    queue = at.dataframe[0].value
    assert queue["定金"].tolist() == ["¥12,500", "¥5,000"]
    assert queue["已等待"].tolist() == ["5.0 天", "1.0 天"]
    at = page_as(risk, dispute=old["dispute"])
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "卖方至今未交车，要求退还定金。" in text and "车已到库，买方不来提车。" in text
    assert {m.label: m.value for m in at.metric}["担保定金"] == "¥12,500"
    assert at.radio(key="dsp_kind").value is None           # nothing preselected
    at.radio(key="dsp_kind").set_value("refund")
    at.text_area(key="dsp_reason_text").input("卖方未按约交车，证据充分。")
    next(b for b in at.button if b.label == "提交裁决").click().run()
    assert not at.exception and not at.error
    assert "裁决已生效：退还买方。买方 ¥12,500，卖方 ¥0，已通知双方。" in [s.value for s in at.success]
    assert state(engine, old)["escrow_state"] == "refunded"


def test_the_page_refuses_a_split_that_does_not_add_up_in_chinese(engine, make_actor):
    case = disputed_order(engine, deposit=10_000)
    at = page_as(make_actor("risk"), dispute=case["dispute"])
    at.radio(key="dsp_kind").set_value("split")
    at.text_input(key="dsp_seller").input("６０００")
    at.text_input(key="dsp_buyer").input("3000")
    at.text_area(key="dsp_reason_text").input("双方均有责任")
    next(b for b in at.button if b.label == "提交裁决").click().run()
    assert [e.value for e in at.error] == ["两项之和为 ¥9,000.00，与定金 ¥10,000.00 不符。"]
    assert state(engine, case) == UNTOUCHED


def test_the_page_asks_a_second_officer_above_the_threshold(engine, make_actor):
    case = disputed_order(engine, deposit=60_000)
    first, second = make_actor("risk"), make_actor("risk")
    at = page_as(first, dispute=case["dispute"])
    assert "需另一位风控专员复核" in " ".join(w.value for w in at.warning)
    at.radio(key="dsp_kind").set_value("release")
    at.text_area(key="dsp_reason_text").input("卖方已交车")
    next(b for b in at.button if b.label == "提交裁决").click().run()
    assert "裁决已提交，等待另一位风控专员复核。" in [s.value for s in at.success]
    mine = page_as(first, dispute=case["dispute"])
    assert "这是您提出的裁决，需由另一位风控专员复核。" in [c.value for c in mine.caption]
    assert not [b for b in mine.button if b.label == "复核通过"]
    other = page_as(second, dispute=case["dispute"])
    next(b for b in other.button if b.label == "复核通过").click().run()
    assert not other.exception and not other.error
    assert state(engine, case)["escrow_state"] == "released"


def test_a_manager_reads_the_page_in_english_without_a_decision_form(engine, make_actor):
    case = disputed_order(engine, deposit=5_000)
    at = page_as(make_actor("manager"), dispute=case["dispute"], lang="en")
    assert not at.exception and not at.error
    assert "You can read disputes; risk officers decide them." in [c.value for c in at.caption]
    assert not [b for b in at.button if b.label == "Submit decision"]


def test_a_decision_taken_at_night_is_texted_in_the_morning(engine, make_actor, monkeypatch):
    from datetime import datetime

    from console import clock
    case = disputed_order(engine, deposit=5_000)
    night = datetime(2026, 12, 3, 23, 30, tzinfo=clock.business_tz())
    monkeypatch.setattr(clock, "now", lambda: night)
    call(engine, disputes.decide, actor=make_actor("risk"), dispute_id=case["dispute"],
         kind="refund", reason="卖方未交车")
    sends = tr.rows(engine, """SELECT send_after FROM app.notification_outbox
                               WHERE dedupe_key LIKE 'dispute:%'""")
    assert [fmt_when(r["send_after"]) for r in sends] == ["2026-12-04 08:00", "2026-12-04 08:00"]


def fmt_when(value):
    from console import fmt
    return fmt.when(value)


def test_an_approval_and_a_rejection_at_once_leave_one_outcome(engine, make_actor, fresh_db):
    case = disputed_order(engine, deposit=60_000)
    proposal = call(engine, disputes.decide, actor=make_actor("risk"), dispute_id=case["dispute"],
                    kind="release", reason="卖方已交车")
    approver, rejecter = make_actor("risk"), make_actor("risk")
    with wide_engine(fresh_db, 2) as eng:
        results = race(eng, [
            (disputes.approve, {"actor": approver, "decision_id": proposal.decision_id}),
            (disputes.reject, {"actor": rejecter, "decision_id": proposal.decision_id,
                               "note": "证据不足"})])
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    status = tr.value(engine, "SELECT status FROM ops.dispute_decisions WHERE id = :id",
                      id=proposal.decision_id)
    got = state(engine, case)
    if status == "applied":
        assert (got["status"], got["escrow_state"], got["payments"]) == ("resolved", "released", 1)
    else:
        assert (status, got["status"], got["escrow_state"], got["payments"]) == (
            "rejected", "open", "disputed", 0)
