"""Credit lines (issue 19): grade lines re-evaluated with every scoring run and override change,
a downgrade that never cuts what is drawn, reserve under concurrency, and manual lines under
four eyes (supersede, expiry, hostile amounts, audit in the same transaction, stale forms)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from console.clock import today
from console.credit import engine as credit_engine
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.finance import line_requests, lines
from console.services import credit, credit_lines
from tests.races import race, wide_engine
from tests.test_credit_support import (age_override, hand_card, merchant, one, purchase, rows,
                                       set_features)

IN_30_DAYS = today() + timedelta(days=30)
D = Decimal


@pytest.fixture
def card(tmp_path):
    return hand_card(tmp_path)


def score(engine, card) -> int:
    with engine.begin() as conn:
        return credit_engine.score_all(conn, card)


@pytest.fixture
def scored(engine, card):
    """good (700, AAA, cap 5,000,000), weak (525, BB, cap 500,000), small (AAA but 0.25 x
    1,000,000 of purchases: 250,000) and new (no completed deal: NEW, the starter limit 50,000)."""
    good = merchant(engine, name="好车商", cert_level="enterprise", disputes_lost=0, avg_stars=4.6)
    weak = merchant(engine, name="弱车商", cert_level="none", disputes_lost=1, avg_stars=4.0)
    small = merchant(engine, name="小车商", cert_level="enterprise", disputes_lost=0,
                     avg_stars=4.6)
    new = merchant(engine, name="新车商", deals_total=0)
    for m in (good, weak):
        purchase(engine, m, 40_000_000)          # 0.25 x 40M: every grade's cap binds
    purchase(engine, small, 1_000_000)
    run_id = score(engine, card)
    return {"good": good, "weak": weak, "small": small, "new": new, "run_id": run_id}


def call(engine, fn, **kwargs):
    with engine.begin() as conn:
        return fn(conn=conn, **kwargs)


def line_row(engine, merchant_id):
    return rows(engine, """SELECT grade, grade_line, manual_line, manual_request_id, committed
                           FROM fin.credit_lines WHERE merchant_id = :m""", m=merchant_id)[0]


def in_force(engine, merchant_id) -> lines.Line:
    with engine.connect() as conn:
        return lines.current(conn, merchant_id=merchant_id)


# ---------------------------------------------------------------- re-evaluation
def test_after_a_scoring_run_each_line_is_its_grades_limit(engine, scored):
    got = {r["merchant_id"]: (r["grade"], r["grade_line"], r["evaluated_run_id"])
           for r in rows(engine, "SELECT merchant_id, grade, grade_line, evaluated_run_id "
                                 "FROM fin.credit_lines")}
    run = scored["run_id"]
    assert got == {scored["good"]: ("AAA", D("5000000.00"), run),
                   scored["weak"]: ("BB", D("500000.00"), run),
                   scored["small"]: ("AAA", D("250000.00"), run),
                   scored["new"]: ("NEW", D("50000.00"), run)}
    # The same figures from the scorecard's own bands, without the current-grade table: the
    # band's cap, at most the run's multiple of the trailing purchases (whole thousands), and
    # the run's starter limit for NEW merchants.
    independent = rows(engine, """
        SELECT s.merchant_id, s.grade,
               CASE WHEN s.insufficient_history THEN r.starter_limit
                    ELSE least(b.loan_limit, floor(r.limit_multiple * s.purchases_12m / 1000) * 1000)
               END::numeric(14,2) AS expected, l.grade_line
        FROM ops.credit_scores s
        JOIN ops.credit_runs r ON r.id = s.run_id
        LEFT JOIN ops.credit_grade_bands b ON b.version_id = r.version_id AND b.grade = s.grade
        JOIN fin.credit_lines l ON l.merchant_id = s.merchant_id
        WHERE s.run_id = :r""", r=run)
    assert len(independent) == 4
    assert all(r["expected"] == r["grade_line"] for r in independent), independent
    assert {r["committed"] for r in rows(engine, "SELECT committed FROM fin.credit_lines")} == {0}


def test_a_merchant_rated_for_the_first_time_gets_a_line_at_the_next_run(engine, card, scored):
    late = merchant(engine, name="后来者", cert_level="enterprise", disputes_lost=0,
                    avg_stars=4.6)
    purchase(engine, late, 40_000_000)
    assert one(engine, "SELECT count(*) FROM fin.credit_lines WHERE merchant_id = :m",
               m=late) == 0
    run = score(engine, card)
    assert rows(engine, """SELECT grade, grade_line, evaluated_run_id FROM fin.credit_lines
                           WHERE merchant_id = :m""", m=late) == [
        {"grade": "AAA", "grade_line": D("5000000.00"), "evaluated_run_id": run}]


def test_a_downgrade_keeps_what_is_drawn_and_blocks_new_drawings_until_repaid(engine, card,
                                                                              scored):
    good = scored["good"]
    with engine.begin() as conn:
        lines.reserve(conn, merchant_id=good, amount=D("1000000.00"))
    # The merchant loses a dispute, its certification and some stars: 700 -> 525, BB, whose
    # grade line (500,000) is below the 1,000,000 drawn.
    set_features(engine, good, cert_level="none", disputes_lost=1, avg_stars=4.0)
    score(engine, card)
    assert line_row(engine, good) == {"grade": "BB", "grade_line": D("500000.00"),
                                      "manual_line": None, "manual_request_id": None,
                                      "committed": D("1000000.00")}
    assert in_force(engine, good).available == D("0.00")
    with pytest.raises(Conflict) as err:
        call(engine, lines.reserve, merchant_id=good, amount=D("0.01"))
    assert err.value.key == "finance.error.above_available_line"
    assert line_row(engine, good)["committed"] == D("1000000.00")
    # Repayments bring it back under the line: 600,000 repaid leaves 400,000 drawn, 100,000 free.
    with engine.begin() as conn:
        lines.release(conn, merchant_id=good, amount=D("600000.00"))
    assert in_force(engine, good).available == D("100000.00")
    call(engine, lines.reserve, merchant_id=good, amount=D("100000.00"))
    with pytest.raises(Conflict):
        call(engine, lines.reserve, merchant_id=good, amount=D("0.01"))
    assert line_row(engine, good)["committed"] == D("500000.00")


def test_the_profile_figures_after_a_downgrade(engine, card, make_actor, scored):
    good = scored["good"]
    with engine.begin() as conn:
        lines.reserve(conn, merchant_id=good, amount=D("1000000.00"))
    set_features(engine, good, cert_level="none", disputes_lost=1, avg_stars=4.0)
    score(engine, card)
    view = call(engine, credit_lines.line_summary, actor=make_actor("bd"), merchant_id=good)
    assert (view.grade, view.line, view.committed, view.available, view.above_line,
            view.is_manual, view.on_hold) == ("BB", D("500000.00"), D("1000000.00"),
                                              D("0.00"), True, False, None)
    one(engine, "UPDATE app.merchants SET status = 'suspended' WHERE id = :m", m=good)
    held = call(engine, credit_lines.line_summary, actor=make_actor("manager"), merchant_id=good)
    assert held.on_hold == "suspended" and held.committed == D("1000000.00")
    with pytest.raises(NotFound):
        call(engine, credit_lines.line_summary, actor=make_actor("risk"), merchant_id=10**9)


def test_an_override_moves_the_line_in_the_transaction_that_approves_it(engine, make_actor,
                                                                        scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    override_id = call(engine, credit.propose_override, actor=alice, merchant_id=weak,
                       new_grade="BBB", reason_code="guarantee", reason="集团担保",
                       expires_on=IN_30_DAYS)
    assert line_row(engine, weak)["grade_line"] == D("500000.00")     # a proposal: no change

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        with engine.begin() as conn:
            credit.approve_override(conn=conn, actor=bob, override_id=override_id)
            inside = conn.execute(sa.text("""SELECT grade, grade_line FROM fin.credit_lines
                                             WHERE merchant_id = :m"""), {"m": weak}).one()
            assert tuple(inside) == ("BBB", D("1000000.00"))
            raise Undo       # the approval rolls back: so does the line
    assert (line_row(engine, weak)["grade"], line_row(engine, weak)["grade_line"]) == (
        "BB", D("500000.00"))
    call(engine, credit.approve_override, actor=bob, override_id=override_id)
    assert line_row(engine, weak)["grade_line"] == D("1000000.00")
    # The override ends: the sweep's expiry puts the scored grade's line back.
    age_override(engine, override_id, days=31)
    with engine.begin() as conn:
        assert credit_engine.expire_due_overrides(conn) == 1
    assert (line_row(engine, weak)["grade"], line_row(engine, weak)["grade_line"]) == (
        "BB", D("500000.00"))


def test_a_run_that_moves_no_grade_rewrites_no_line(engine, card, scored):
    before = rows(engine, """SELECT merchant_id, grade_line, evaluated_run_id, evaluated_at,
                                    version, updated_at FROM fin.credit_lines ORDER BY 1""")
    second = score(engine, card)
    assert second != scored["run_id"]
    assert rows(engine, """SELECT merchant_id, grade_line, evaluated_run_id, evaluated_at,
                                  version, updated_at FROM fin.credit_lines ORDER BY 1""") == before


def test_an_ended_upgrade_stops_counting_before_the_sweep_stores_it(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    override_id = call(engine, credit.propose_override, actor=alice, merchant_id=weak,
                       new_grade="BBB", reason_code="guarantee", reason="集团担保",
                       expires_on=IN_30_DAYS)
    call(engine, credit.approve_override, actor=bob, override_id=override_id)
    assert in_force(engine, weak).line == D("1000000.00")
    # Time passes the override's end with no write anywhere (no trigger fires): the stored
    # grade line still says 1,000,000 until the sweep, the line in force does not.
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text("""UPDATE ops.merchant_grade_current
                                SET override_until = now() - interval '1 minute'
                                WHERE merchant_id = :m"""), {"m": weak})
    assert line_row(engine, weak)["grade_line"] == D("1000000.00")
    assert in_force(engine, weak).line == D("500000.00")
    with engine.begin() as conn, pytest.raises(Conflict) as err:
        lines.reserve(conn, merchant_id=weak, amount=D("600000.00"))
    assert err.value.params == {"available": D("500000.00")}
    assert line_row(engine, weak)["committed"] == 0


# ---------------------------------------------------------------- concurrency
def test_twenty_drawings_at_once_never_exceed_the_line(engine, fresh_db, scored):
    weak = scored["weak"]                      # line 500,000: room for five of 100,000
    with wide_engine(fresh_db, 20) as wide:
        outcomes = race(wide, [(lines.reserve, {"merchant_id": weak, "amount": D("100000.00")})
                               for _ in range(20)])
    kinds = [o[0] for o in outcomes]
    assert kinds.count("ok") == 5 and kinds.count("refused") == 15, outcomes
    assert {o[1] for o in outcomes if o[0] == "refused"} == {
        ("Conflict", "finance.error.above_available_line")}
    assert line_row(engine, weak)["committed"] == D("500000.00")


# ---------------------------------------------------------------- manual lines
def propose(engine, actor, merchant_id, line="80万", **kwargs):
    args = {"reason_code": "guarantee", "reason": "集团担保函已收到", "expires_on": IN_30_DAYS,
            **kwargs}
    return call(engine, credit_lines.propose_line, actor=actor, merchant_id=merchant_id,
                line=line, **args)


def request(engine, request_id):
    return rows(engine, "SELECT * FROM fin.line_requests WHERE id = :i", i=request_id)[0]


def trail(engine, request_id):
    return [(r["action"], r["actor_id"]) for r in rows(engine, """
        SELECT action, actor_id FROM ops.audit_log
        WHERE entity_type = 'line_request' AND entity_id = :i ORDER BY id""", i=str(request_id))]


def test_a_second_officer_approves_a_manual_line(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    rid = propose(engine, alice, weak, line="８０万")              # full-width: 800,000
    assert (request(engine, rid)["line"], request(engine, rid)["from_line"]) == (
        D("800000.00"), D("500000.00"))
    assert in_force(engine, weak).line == D("500000.00")          # not before approval
    with pytest.raises(PermissionDenied) as err:
        call(engine, credit_lines.approve_line, actor=alice, request_id=rid)
    assert err.value.key == "finance.lines.error.own_request"
    with pytest.raises(PermissionDenied):
        call(engine, credit_lines.reject_line, actor=alice, request_id=rid, note="撤回")
    call(engine, credit_lines.approve_line, actor=bob, request_id=rid, note="同意")
    now = in_force(engine, weak)
    assert (now.line, now.is_manual, now.committed) == (D("800000.00"), True, D("0.00"))
    assert line_row(engine, weak)["grade_line"] == D("500000.00")   # the grade line stays
    assert trail(engine, rid) == [("finance.line.propose", alice.id),
                                  ("finance.line.approve", bob.id)]
    view = call(engine, credit_lines.line_summary, actor=make_actor("bd"), merchant_id=weak)
    assert (view.line, view.available, view.is_manual, view.manual_until) == (
        D("800000.00"), D("800000.00"), True, request(engine, rid)["expires_at"])


def test_the_database_refuses_a_self_approval_and_a_manual_line_without_approval(engine,
                                                                                 make_actor,
                                                                                 scored):
    alice = make_actor("risk")
    rid = propose(engine, alice, scored["weak"])
    with pytest.raises(sa.exc.IntegrityError) as err:
        one(engine, """UPDATE fin.line_requests SET status = 'approved',
                              approved_by = proposed_by, decided_at = now() WHERE id = :i""", i=rid)
    assert err.value.orig.pgcode == "23514"          # check_violation
    with pytest.raises(sa.exc.IntegrityError) as err:  # the line row from an unapproved request
        one(engine, """UPDATE fin.credit_lines l SET manual_line = r.line,
                              manual_request_id = r.id, manual_until = r.expires_at
                       FROM fin.line_requests r WHERE r.id = :i AND l.merchant_id = r.merchant_id""",
            i=rid)
    assert err.value.orig.pgcode == "23514"
    assert request(engine, rid)["status"] == "proposed"
    assert in_force(engine, scored["weak"]).is_manual is False


def test_a_rejection_needs_a_reason_and_keeps_the_line(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    rid = propose(engine, alice, scored["weak"])
    with pytest.raises(InvalidInput):
        call(engine, credit_lines.reject_line, actor=bob, request_id=rid, note="  ")
    call(engine, credit_lines.reject_line, actor=bob, request_id=rid, note="担保不足")
    assert (request(engine, rid)["status"], request(engine, rid)["rejected_by"]) == (
        "rejected", bob.id)
    assert in_force(engine, scored["weak"]).line == D("500000.00")
    with pytest.raises(Conflict) as err:
        call(engine, credit_lines.approve_line, actor=bob, request_id=rid)
    assert err.value.key == "finance.lines.error.already_decided"
    assert trail(engine, rid) == [("finance.line.propose", alice.id),
                                  ("finance.line.reject", bob.id)]


def test_a_new_approval_supersedes_the_old_manual_line(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    first = propose(engine, alice, weak, line="80万")
    call(engine, credit_lines.approve_line, actor=bob, request_id=first)
    with pytest.raises(Conflict) as err:       # one open request per merchant
        propose(engine, alice, weak, line="30万")
        propose(engine, bob, weak, line="40万")
    assert err.value.key == "finance.lines.error.open_request_exists"
    second = one(engine, "SELECT id FROM fin.line_requests WHERE status = 'proposed'")
    call(engine, credit_lines.approve_line, actor=bob, request_id=second)
    assert [request(engine, first)["status"], request(engine, second)["status"]] == [
        "superseded", "approved"]
    assert (line_row(engine, weak)["manual_line"], line_row(engine, weak)["manual_request_id"]) == (
        D("300000.00"), second)
    after = rows(engine, """SELECT after FROM ops.audit_log WHERE action = 'finance.line.approve'
                            AND entity_id = :i""", i=str(second))[0]["after"]
    assert (after["superseded"], after["limit"]) == ([first], "300000.00")


def test_a_manual_line_ends_on_its_day_and_the_jobs_sweep_clears_it(engine, jobs_engine,
                                                                     make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    rid = propose(engine, alice, weak, line="80万")
    call(engine, credit_lines.approve_line, actor=bob, request_id=rid)
    # As if made 40 days ago and ended a second ago: the request and the line row together
    # (the database insists the row's end is the request's).
    with engine.begin() as conn:
        conn.execute(sa.text("""
            UPDATE fin.line_requests SET proposed_at = proposed_at - interval '40 days',
                   decided_at = decided_at - interval '40 days',
                   expires_at = now() - interval '1 second' WHERE id = :i"""), {"i": rid})
        conn.execute(sa.text("""UPDATE fin.credit_lines SET manual_until = now() - interval '1 second'
                                WHERE merchant_id = :m"""), {"m": weak})
    now = in_force(engine, weak)           # the grade line holds again from the end, at once
    assert (now.line, now.is_manual) == (D("500000.00"), False)
    with jobs_engine.begin() as conn:      # as the jobs' role
        assert line_requests.expire_due(conn) == 1
    assert request(engine, rid)["status"] == "expired"
    assert (line_row(engine, weak)["manual_line"], line_row(engine, weak)["manual_request_id"]) == (
        None, None)
    assert trail(engine, rid)[-1] == ("finance.line.expire", None)
    with jobs_engine.begin() as conn:
        assert line_requests.expire_due(conn) == 0


def test_above_the_senior_limit_the_approver_must_also_be_a_manager(engine, make_actor, scored):
    alice, bob, head = make_actor("risk"), make_actor("risk"), make_actor("risk", "manager")
    rid = propose(engine, alice, scored["weak"], line="120万")
    with pytest.raises(PermissionDenied) as err:
        call(engine, credit_lines.approve_line, actor=bob, request_id=rid)
    assert err.value.key == "finance.lines.error.senior_approval"
    call(engine, credit_lines.approve_line, actor=head, request_id=rid)
    assert in_force(engine, scored["weak"]).line == D("1200000.00")


def test_a_failed_audit_write_undoes_the_decision(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    rid = propose(engine, alice, weak)
    one(engine, "REVOKE INSERT ON ops.audit_log FROM dh_console")
    with pytest.raises(sa.exc.ProgrammingError):
        call(engine, credit_lines.approve_line, actor=bob, request_id=rid)
    one(engine, "GRANT INSERT ON ops.audit_log TO dh_console")
    assert request(engine, rid)["status"] == "proposed"
    assert (in_force(engine, weak).line, in_force(engine, weak).is_manual) == (
        D("500000.00"), False)
    assert trail(engine, rid) == [("finance.line.propose", alice.id)]


def test_stale_forms_are_refused(engine, make_actor, scored):
    alice, bob = make_actor("risk"), make_actor("risk")
    weak = scored["weak"]
    # The proposer saw 500,000; an override approved meanwhile made it 1,000,000.
    oid = call(engine, credit.propose_override, actor=bob, merchant_id=weak, new_grade="BBB",
               reason_code="guarantee", reason="担保", expires_on=IN_30_DAYS)
    call(engine, credit.approve_override, actor=alice, override_id=oid)
    with pytest.raises(Conflict) as err:
        propose(engine, alice, weak, expected_line=D("500000.00"))
    assert err.value.key == "error.stale"
    rid = propose(engine, alice, weak, expected_line=D("1000000.00"))
    version = request(engine, rid)["version"]
    one(engine, "UPDATE fin.line_requests SET version = version + 1 WHERE id = :i", i=rid)
    with pytest.raises(Conflict) as err:
        call(engine, credit_lines.approve_line, actor=bob, request_id=rid,
             expected_version=version)
    assert err.value.key == "error.stale"
    assert request(engine, rid)["status"] == "proposed"


def test_proposals_refused_before_anything_is_written(engine, make_actor, scored):
    alice = make_actor("risk")
    weak = scored["weak"]
    cases = [({"line": "50万"}, "finance.lines.error.same_line"),
             ({"line": "NaN"}, "finance.lines.error.bad_amount"),
             ({"line": "-80万"}, "finance.lines.error.bad_amount"),
             ({"line": "1e30"}, "finance.lines.error.bad_amount"),
             ({"line": "1" + "0" * 30}, "finance.lines.error.too_large"),
             ({"line": "8\x00万"}, "finance.lines.error.bad_amount"),       # the boundary's
             ({"reason": " "}, "error.reason_required"),
             ({"reason_code": "bribe"}, "credit.error.bad_reason_code"),
             ({"expires_on": today() - timedelta(days=1)}, "finance.lines.error.bad_expiry"),
             ({"expires_on": today() + timedelta(days=367)}, "finance.lines.error.bad_expiry")]
    for change, key in cases:
        with pytest.raises(InvalidInput) as err:
            propose(engine, alice, weak, **change)
        assert err.value.key == key, change
    one(engine, "UPDATE app.merchants SET status = 'closed' WHERE id = :m", m=weak)
    with pytest.raises(Conflict) as err:
        propose(engine, alice, weak)
    assert err.value.key == "finance.lines.error.on_hold"
    with pytest.raises(PermissionDenied) as err:
        propose(engine, make_actor("bd"), scored["good"])
    assert err.value.key == "error.role_required"
    assert one(engine, "SELECT count(*) FROM fin.line_requests") == 0
    assert one(engine, "SELECT count(*) FROM ops.audit_log WHERE entity_type = 'line_request'") == 0


def test_one_decision_and_one_open_request_however_many_click_at_once(engine, fresh_db,
                                                                      make_actor, scored):
    weak, good = scored["weak"], scored["good"]
    officers = [make_actor("risk") for _ in range(6)]
    with wide_engine(fresh_db, 6) as wide:
        proposals = race(wide, [(credit_lines.propose_line,
                                 {"actor": a, "merchant_id": weak, "line": "80万",
                                  "reason_code": "guarantee", "reason": "担保",
                                  "expires_on": IN_30_DAYS}) for a in officers])
        assert [o[0] for o in proposals].count("ok") == 1, proposals
        assert {o[1] for o in proposals if o[0] != "ok"} == {
            ("Conflict", "finance.lines.error.open_request_exists")}
        rid = next(o[1] for o in proposals if o[0] == "ok")
        proposer = one(engine, "SELECT proposed_by FROM fin.line_requests WHERE id = :i", i=rid)
        deciders = [a for a in officers if a.id != proposer]
        decisions = race(wide, [(credit_lines.approve_line, {"actor": a, "request_id": rid})
                                for a in deciders])
    assert [o[0] for o in decisions].count("ok") == 1, decisions
    assert {o[1] for o in decisions if o[0] != "ok"} == {
        ("Conflict", "finance.lines.error.already_decided")}
    assert [a for a, _ in trail(engine, rid)] == ["finance.line.propose", "finance.line.approve"]
    assert in_force(engine, weak).line == D("800000.00")
    assert in_force(engine, good).is_manual is False


# ---------------------------------------------------------------- typed amounts
@pytest.mark.parametrize("typed, yuan", [
    ("500000", "500000.00"), ("500,000.50", "500000.50"), ("¥500,000", "500000.00"),
    ("￥500,000", "500000.00"), ("50万", "500000.00"), ("50万元", "500000.00"),
    ("１２万", "120000.00"), ("５０００００", "500000.00"), ("１２．５万", "125000.00"),
    ("12.5万", "125000.00"), ("50w", "500000.00"), ("５０Ｗ", "500000.00"), ("1.234567万", "12345.67"), (" 8,000 ", "8000.00"),
    ("0", "0.00"), ("100000000", "100000000.00"), (800000, "800000.00"),
    (D("800000.5"), "800000.50"),
])
def test_typed_amounts_read_as_exact_yuan(typed, yuan):
    assert line_requests.parse_line_amount(typed) == D(yuan)
    assert str(line_requests.parse_line_amount(typed)) == yuan


@pytest.mark.parametrize("typed", [
    "", " ", "NaN", "nan", "inf", "-Infinity", "-5", "+5", "-80万", "1e30", "1E5", "十二万",
    "1,00", "1.234", "1.2345678万", "１２万万", "50ww", "w", "万", "0x10", "5 0", "٥٠٠", "12万5000",
    "500000.", ".5", D("NaN"), D("-1"), D("0.001"), D("Infinity"), 0.1, True, -1, None,
])
def test_hostile_amounts_are_refused(typed):
    with pytest.raises(InvalidInput) as err:
        line_requests.parse_line_amount(typed)
    assert err.value.key == "finance.lines.error.bad_amount"


@pytest.mark.parametrize("typed", ["100000000.01", "1" + "0" * 30, "10001万", D("1E+30")])
def test_amounts_above_the_ceiling_are_refused(typed):
    with pytest.raises(InvalidInput) as err:
        line_requests.parse_line_amount(typed)
    assert (err.value.key, err.value.params) == ("finance.lines.error.too_large",
                                                 {"max": "10,000"})


def test_the_audit_rows_read_in_words(engine, make_actor, scored):
    from console.services.audit_log import action_label, changes_text
    alice, bob = make_actor("risk"), make_actor("risk")
    first = propose(engine, alice, scored["weak"], line="80万")
    call(engine, credit_lines.approve_line, actor=bob, request_id=first)
    second = propose(engine, alice, scored["weak"], line="30万")
    call(engine, credit_lines.approve_line, actor=bob, request_id=second, note="降额")
    logged = rows(engine, """SELECT action, before, after FROM ops.audit_log
                             WHERE entity_type = 'line_request' AND entity_id = :i ORDER BY id""",
                  i=str(second))
    until = IN_30_DAYS.isoformat()      # the day chosen, not the midnight after it
    assert [(action_label(r["action"], "zh"),
             changes_text(r["before"], r["after"], lang="zh", staff={},
                          entity_type="line_request")) for r in logged] == [
        ("提议人工授信", f"授信额度（元）：800,000 → 300,000；状态：待审批；有效至：{until}；"
                         f"商户：#{scored['weak']}；原因：集团或第三方担保"),
        ("批准人工授信", f"授信额度（元）：800,000 → 300,000；状态：待审批 → 已通过；有效至：{until}；"
                         f"取代的人工授信：#{first}；商户：#{scored['weak']}")]
