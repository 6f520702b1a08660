"""Certification queue: paging, sorting, filters, assignment, decisions and their side effects."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console.clock import today
from console import db
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.services import certification as cert
from console.services.certification import CertFilters

from tests import trust_rows as tr


@pytest.fixture
def world(engine):
    """Two cities, three merchants; returns ids."""
    hz = tr.city(engine, name="杭州市", tier=2)
    ls = tr.city(engine, name="丽水市", tier=5)
    return {
        "hz": hz, "ls": ls,
        "m1": tr.merchant(engine, city_id=hz, name="杭州顺达汽车", merchant_type="4s"),
        "m2": tr.merchant(engine, city_id=ls, name="丽水车行", merchant_type="secondary"),
        "m3": tr.merchant(engine, city_id=hz, name="杭州远航", merchant_type="resource"),
    }


def run(fn, **kwargs):
    with db.transaction() as conn:
        return fn(conn=conn, **kwargs)


def version_of(engine, case_id: int) -> int:
    return tr.value(engine, "SELECT version FROM app.certifications WHERE id = :id", id=case_id)


# ------------------------------------------------------------------ paging, sorting, filters
def test_queue_is_oldest_first_and_pages_on_the_server(engine, make_actor, world):
    ops = make_actor("ops")
    ids = [tr.cert(engine, merchant_id=world["m1"], age_hours=h) for h in (5, 50, 30, 1, 70)]
    oldest_first = [ids[4], ids[1], ids[2], ids[0], ids[3]]
    first = run(cert.list_queue, actor=ops, limit=2, offset=0)
    second = run(cert.list_queue, actor=ops, limit=2, offset=2)
    third = run(cert.list_queue, actor=ops, limit=2, offset=4)
    assert (first.total, second.total, third.total) == (5, 5, 5)
    assert list(first.rows["id"]) == oldest_first[:2]
    assert list(second.rows["id"]) == oldest_first[2:4]
    assert list(third.rows["id"]) == oldest_first[4:]
    assert list(first.rows["sla"]) == ["late", "late"]
    assert list(second.rows["sla"]) == ["warn", "ok"]


def test_queue_sorts_newest_first_and_by_merchant_name(engine, make_actor, world):
    ops = make_actor("ops")
    a = tr.cert(engine, merchant_id=world["m1"], age_hours=10)   # 杭州顺达汽车
    b = tr.cert(engine, merchant_id=world["m2"], age_hours=20)   # 丽水车行
    c = tr.cert(engine, merchant_id=world["m3"], age_hours=30)   # 杭州远航
    newest = run(cert.list_queue, actor=ops, descending=True)
    assert list(newest.rows["id"]) == [a, b, c]
    by_name = run(cert.list_queue, actor=ops, sort="merchant_name")
    expected = [i for _, i in sorted([("杭州顺达汽车", a), ("丽水车行", b), ("杭州远航", c)])]
    assert list(by_name.rows["id"]) == expected


def test_queue_filters_kind_tier_type_age_status_and_mine(engine, make_actor, world):
    ops = make_actor("ops")
    personal_old = tr.cert(engine, merchant_id=world["m1"], age_hours=60)
    enterprise_new = tr.cert(engine, merchant_id=world["m2"], kind="enterprise", age_hours=2)
    mine = tr.cert(engine, merchant_id=world["m3"], age_hours=3, status="in_review",
                   assignee_id=ops.id)
    approved = tr.cert(engine, merchant_id=world["m3"], age_hours=90, status="approved")

    def ids(**kw):
        return list(run(cert.list_queue, actor=ops, filters=CertFilters(**kw)).rows["id"])

    assert ids() == [personal_old, mine, enterprise_new]
    assert ids(kinds=("enterprise",)) == [enterprise_new]
    assert ids(tiers=(5,)) == [enterprise_new]
    assert ids(merchant_types=("4s", "resource")) == [personal_old, mine]
    assert ids(min_age_hours=48) == [personal_old]
    assert ids(max_age_hours=24) == [mine, enterprise_new]
    assert ids(assignee="me") == [mine]
    assert ids(assignee="unassigned") == [personal_old, enterprise_new]
    assert ids(statuses=("approved",)) == [approved]


def test_flag_filter_finds_failed_prechecks(engine, make_actor, world):
    ops = make_actor("ops")
    bad = tr.cert(engine, merchant_id=world["m1"], id_number="11010519491231002Y")
    good = tr.cert(engine, merchant_id=world["m2"])
    run(cert.check_new_submissions, actor=ops)
    flagged = run(cert.list_queue, actor=ops, filters=CertFilters(flagged_only=True))
    assert list(flagged.rows["id"]) == [bad]
    assert flagged.rows.iloc[0]["flags"] == ["id_number"]
    by_code = run(cert.list_queue, actor=ops, filters=CertFilters(flags=("id_number",)))
    assert list(by_code.rows["id"]) == [bad]
    everything = run(cert.list_queue, actor=ops)
    assert set(everything.rows["id"]) == {bad, good}


@pytest.mark.parametrize("kwargs", [
    {"filters": CertFilters(statuses=("open",))},
    {"filters": CertFilters(kinds=("company",))},
    {"filters": CertFilters(assignee="someone")},
    {"filters": CertFilters(min_age_hours=-1)},
    {"sort": "submitted_at; DROP TABLE app.merchants"},
    {"limit": 501},                  # above the queue's 500 (the boundary refuses > 1,000)
])
def test_forged_queue_parameters_are_refused(engine, make_actor, world, kwargs):
    ops = make_actor("ops")
    with pytest.raises(InvalidInput) as err:
        run(cert.list_queue, actor=ops, **kwargs)
    assert err.value.key == "trust.error.bad_form_value"


def test_roles_without_the_queue_are_refused(engine, make_actor, world):
    with pytest.raises(PermissionDenied):
        run(cert.list_queue, actor=make_actor("bd"))
    with pytest.raises(PermissionDenied):
        run(cert.next_case, actor=make_actor("manager"))


# ------------------------------------------------------------------ next case, assignment
def test_next_case_takes_the_oldest_unassigned_unsnoozed_case(engine, make_actor, world):
    ops = make_actor("ops")
    other = make_actor("ops")
    held = tr.cert(engine, merchant_id=world["m1"], age_hours=90, status="in_review",
                   assignee_id=other.id)
    snoozed = tr.cert(engine, merchant_id=world["m1"], age_hours=80)
    with engine.begin() as conn:
        db.execute(conn, "UPDATE app.certifications SET snoozed_until = now() + interval '1 day' "
                         "WHERE id = :id", id=snoozed)
    oldest_free = tr.cert(engine, merchant_id=world["m2"], age_hours=40)
    tr.cert(engine, merchant_id=world["m3"], age_hours=10)
    taken = run(cert.next_case, actor=ops)
    assert taken == oldest_free
    row = tr.rows(engine, "SELECT status, assignee_id FROM app.certifications WHERE id = :id",
                  id=taken)[0]
    assert row == {"status": "in_review", "assignee_id": ops.id}
    assert held != taken
    audit = tr.rows(engine, "SELECT action, actor_id FROM ops.audit_log WHERE entity_id = :id",
                    id=str(taken))
    assert audit == [{"action": "certification.take_next", "actor_id": ops.id}]


def test_next_case_on_an_empty_queue_returns_none(engine, make_actor, world):
    assert run(cert.next_case, actor=make_actor("ops")) is None


def test_next_case_by_kind(engine, make_actor, world):
    ops = make_actor("ops")
    tr.cert(engine, merchant_id=world["m1"], age_hours=50)
    ent = tr.cert(engine, merchant_id=world["m2"], kind="enterprise", age_hours=5)
    assert run(cert.next_case, actor=ops, kind="enterprise") == ent


def test_assign_to_me_colleague_and_unassign(engine, make_actor, world):
    me, colleague, bd = make_actor("ops"), make_actor("ops"), make_actor("bd")
    case = tr.cert(engine, merchant_id=world["m1"])
    v = run(cert.assign_case, actor=me, case_id=case, version=1, assignee_id=me.id)
    assert v == 2
    v = run(cert.assign_case, actor=me, case_id=case, version=v, assignee_id=colleague.id)
    assert tr.value(engine, "SELECT assignee_id FROM app.certifications WHERE id = :id",
                    id=case) == colleague.id
    # No longer mine: I can neither reassign nor unassign it.
    with pytest.raises(Conflict) as err:
        run(cert.assign_case, actor=me, case_id=case, version=v, assignee_id=me.id)
    assert err.value.key == "trust.error.held_by"
    with pytest.raises(PermissionDenied) as err:
        run(cert.unassign_case, actor=me, case_id=case, version=v)
    assert err.value.key == "trust.error.not_yours"
    run(cert.unassign_case, actor=colleague, case_id=case, version=v)
    row = tr.rows(engine, "SELECT status, assignee_id FROM app.certifications WHERE id = :id",
                  id=case)[0]
    assert row == {"status": "pending", "assignee_id": None}
    # A non-ops account is a forged assignee.
    with pytest.raises(InvalidInput) as err:
        run(cert.assign_case, actor=me, case_id=case, version=v + 1, assignee_id=bd.id)
    assert err.value.key == "trust.error.bad_assignee"
    actions = [r["action"] for r in tr.rows(
        engine, "SELECT action FROM ops.audit_log WHERE entity_id = :id ORDER BY id", id=str(case))]
    assert actions == ["certification.assign", "certification.assign", "certification.unassign"]


def test_stale_version_is_refused(engine, make_actor, world):
    me = make_actor("ops")
    case = tr.cert(engine, merchant_id=world["m1"])
    run(cert.assign_case, actor=me, case_id=case, version=1, assignee_id=me.id)
    with pytest.raises(Conflict) as err:
        run(cert.decide, actor=me, case_id=case, version=1, decision="approve")
    assert err.value.key == "error.stale"
    assert tr.value(engine, "SELECT status FROM app.certifications WHERE id = :id",
                    id=case) == "in_review"


def test_auto_assign_spreads_evenly_with_a_cap(engine, make_actor, world, settings_env):
    settings_env(CONSOLE_REVIEW_CAP=4)
    lead = make_actor("ops", "manager")
    a, b = make_actor("ops"), make_actor("ops")
    make_actor("bd")  # not a reviewer
    # a already holds two open cases.
    for _ in range(2):
        tr.cert(engine, merchant_id=world["m1"], status="in_review", assignee_id=a.id)
    for h in range(12):
        tr.cert(engine, merchant_id=world["m2"], age_hours=100 - h)
    given = run(cert.auto_assign, actor=lead)
    # Slots: lead 4, a 2, b 4 = 10 of the 12 pending cases, least loaded first.
    assert given == {lead.id: 4, a.id: 2, b.id: 4}
    load = {r["assignee_id"]: r["n"] for r in tr.rows(engine, """
        SELECT assignee_id, count(*) AS n FROM app.certifications
        WHERE status = 'in_review' GROUP BY assignee_id""")}
    assert load == {lead.id: 4, a.id: 4, b.id: 4}
    left = tr.rows(engine, """SELECT round(extract(epoch FROM now() - submitted_at) / 3600) AS h
                             FROM app.certifications WHERE status = 'pending' ORDER BY h""")
    assert [int(r["h"]) for r in left] == [89, 90]  # the two newest stay in the pool
    assert run(cert.auto_assign, actor=lead) == {}


def test_snooze_hides_a_case_until_the_date(engine, make_actor, world):
    ops = make_actor("ops")
    case = tr.cert(engine, merchant_id=world["m1"])
    with pytest.raises(InvalidInput):
        run(cert.snooze_case, actor=ops, case_id=case, version=1, until=today())
    run(cert.snooze_case, actor=ops, case_id=case, version=1,
        until=today() + timedelta(days=2))
    assert run(cert.list_queue, actor=ops).total == 0
    shown = run(cert.list_queue, actor=ops, filters=CertFilters(include_snoozed=True))
    assert list(shown.rows["id"]) == [case]
    assert run(cert.next_case, actor=ops) is None


# ------------------------------------------------------------------ decisions
def _held(engine, actor, merchant_id, **kw) -> int:
    case = tr.cert(engine, merchant_id=merchant_id, **kw)
    run(cert.assign_case, actor=actor, case_id=case, version=1, assignee_id=actor.id)
    return case


def test_approve_raises_level_and_writes_audit_outbox_and_event(engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"], kind="enterprise")
    result = run(cert.decide, actor=ops, case_id=case, version=2, decision="approve")
    assert (result.status, result.cert_level) == ("approved", "enterprise")
    assert tr.value(engine, "SELECT cert_level FROM app.merchants WHERE id = :id",
                    id=world["m1"]) == "enterprise"
    audit = tr.rows(engine, """SELECT actor_id, after FROM ops.audit_log
                              WHERE entity_id = :id AND action = 'certification.approved'""",
                    id=str(case))
    assert len(audit) == 1 and audit[0]["actor_id"] == ops.id
    assert audit[0]["after"]["status"] == "approved"
    outbox = tr.rows(engine, "SELECT merchant_id, template, payload, dedupe_key "
                             "FROM app.notification_outbox")
    assert outbox == [{"merchant_id": world["m1"], "template": "certification.approved",
                       "payload": {"certification_id": case, "kind": "enterprise",
                                   "status": "approved", "reason_code": None,
                                   "requested_doc": None, "requested_docs": []},
                       "dedupe_key": f"certification:{case}:decision"}]
    assert tr.value(engine, "SELECT event_type FROM app.events WHERE entity_id = :id",
                    id=case) == "cert_approved"


def test_personal_approval_does_not_lower_an_enterprise_level(engine, make_actor, world):
    ops = make_actor("ops")
    with engine.begin() as conn:
        db.execute(conn, "UPDATE app.merchants SET cert_level = 'enterprise' WHERE id = :id",
                   id=world["m1"])
    case = _held(engine, ops, world["m1"])
    assert run(cert.decide, actor=ops, case_id=case, version=2,
               decision="approve").cert_level == "enterprise"


def test_reject_needs_a_listed_reason_and_a_note(engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"])
    for reason, note, key in [(None, "x", "trust.error.reason_required"),
                              ("made_up", "x", "trust.error.unknown_reason"),
                              ("id_invalid", "  ", "trust.error.note_required")]:
        with pytest.raises(InvalidInput) as err:
            run(cert.decide, actor=ops, case_id=case, version=2, decision="reject",
                reason_code=reason, note=note)
        assert err.value.key == key
    assert tr.value(engine, "SELECT count(*) FROM ops.audit_log WHERE action LIKE "
                            "'certification.rej%'") == 0
    run(cert.decide, actor=ops, case_id=case, version=2, decision="reject",
        reason_code="id_invalid", note="身份证照片与号码不符")
    row = tr.rows(engine, """SELECT status, reason_code, reason_note, reviewer_id, decided_at IS NOT NULL AS d
                            FROM app.certifications WHERE id = :id""", id=case)[0]
    assert row == {"status": "rejected", "reason_code": "id_invalid",
                   "reason_note": "身份证照片与号码不符", "reviewer_id": ops.id, "d": True}
    assert tr.value(engine, "SELECT cert_level FROM app.merchants WHERE id = :id",
                    id=world["m1"]) == "none"
    assert tr.value(engine, "SELECT template FROM app.notification_outbox") == \
        "certification.rejected"
    assert tr.value(engine, "SELECT reason FROM ops.audit_log WHERE action = "
                            "'certification.rejected'") == "身份证照片与号码不符"


def test_needs_info_names_a_document_of_the_right_kind(engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"])  # personal
    with pytest.raises(InvalidInput) as err:
        run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
            reason_code="document_unclear")
    assert err.value.key == "trust.error.document_required"
    with pytest.raises(InvalidInput) as err:  # an enterprise document on a personal case
        run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
            reason_code="document_unclear", requested_doc="business_licence")
    assert err.value.key == "trust.error.bad_form_value"
    run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
        reason_code="document_unclear", requested_doc="id_back")
    payload = tr.value(engine, "SELECT payload FROM app.notification_outbox")
    assert (payload["status"], payload["requested_doc"]) == ("needs_info", "id_back")


def test_several_documents_are_requested_at_once_and_audited_with_the_note(
        engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"], kind="enterprise")
    with pytest.raises(InvalidInput) as err:  # a personal document among them
        run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
            reason_code="document_unclear", requested_docs=["business_licence", "id_back"])
    assert err.value.key == "trust.error.bad_form_value"
    with pytest.raises(InvalidInput) as err:
        run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
            reason_code="document_unclear", requested_docs=[])
    assert err.value.key == "trust.error.document_required"
    run(cert.decide, actor=ops, case_id=case, version=2, decision="needs_info",
        reason_code="document_expired", note="执照已过期，授权书缺盖章",
        requested_docs=["authorisation_letter", "business_licence", "business_licence"])
    # One request naming each document once, in the catalogue's order.
    assert tr.rows(engine, """SELECT status, requested_doc, requested_docs, reason_note
                              FROM app.certifications WHERE id = :id""", id=case) == [
        {"status": "needs_info", "requested_doc": "business_licence",
         "requested_docs": ["business_licence", "authorisation_letter"],
         "reason_note": "执照已过期，授权书缺盖章"}]
    audit = tr.rows(engine, """SELECT reason, after FROM ops.audit_log
                               WHERE action = 'certification.needs_info'""")
    assert audit == [{"reason": "执照已过期，授权书缺盖章",
                      "after": {"status": "needs_info", "reason_code": "document_expired",
                                "note": "执照已过期，授权书缺盖章",
                                "requested_doc": "business_licence",
                                "requested_docs": ["business_licence", "authorisation_letter"],
                                "cert_level": "none"}}]
    payload = tr.value(engine, "SELECT payload FROM app.notification_outbox")
    assert payload["requested_docs"] == ["business_licence", "authorisation_letter"]
    view = run(cert.get_case, actor=ops, case_id=case)
    assert view.case["requested_docs"] == ["business_licence", "authorisation_letter"]


def test_a_rejection_note_is_part_of_its_audit_row(engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"])
    run(cert.decide, actor=ops, case_id=case, version=2, decision="reject",
        reason_code="document_forged", note="照片有PS痕迹")
    after = tr.value(engine, "SELECT after FROM ops.audit_log "
                             "WHERE action = 'certification.rejected'")
    assert (after["reason_code"], after["note"]) == ("document_forged", "照片有PS痕迹")


def test_a_decided_case_is_frozen(engine, make_actor, world):
    ops = make_actor("ops")
    case = _held(engine, ops, world["m1"])
    run(cert.decide, actor=ops, case_id=case, version=2, decision="approve")
    for fn, kw in [(cert.decide, {"decision": "reject", "reason_code": "other", "note": "n"}),
                   (cert.assign_case, {"assignee_id": ops.id}),
                   (cert.snooze_case, {"until": today() + timedelta(days=3)})]:
        with pytest.raises(Conflict) as err:
            run(fn, actor=ops, case_id=case, version=3, **kw)
        assert err.value.key == "trust.error.already_decided"
    assert tr.value(engine, "SELECT count(*) FROM app.notification_outbox") == 1


def test_a_case_not_yours_cannot_be_decided(engine, make_actor, world):
    me, other = make_actor("ops"), make_actor("ops")
    case = _held(engine, other, world["m1"])
    unassigned = tr.cert(engine, merchant_id=world["m2"])
    for cid, v in ((case, 2), (unassigned, 1)):
        with pytest.raises(PermissionDenied) as err:
            run(cert.decide, actor=me, case_id=cid, version=v, decision="approve")
        assert err.value.key == "trust.error.not_yours"
    assert tr.value(engine, "SELECT count(*) FROM app.certifications WHERE decided_at IS NOT NULL") == 0


@pytest.mark.parametrize("case_id, version, decision", [
    ("1 OR 1=1", 2, "approve"), (None, 2, "approve"), (1, "2", "approve"), (1, 0, "approve"),
    (1, 2, "approve_all"),
])
def test_forged_decision_values_are_refused(engine, make_actor, world, case_id, version, decision):
    ops = make_actor("ops")
    _held(engine, ops, world["m1"])
    with pytest.raises(InvalidInput) as err:
        run(cert.decide, actor=ops, case_id=case_id, version=version, decision=decision)
    assert err.value.key == "trust.error.bad_form_value"


def test_unknown_case_is_not_found(engine, make_actor, world):
    with pytest.raises(NotFound):
        run(cert.decide, actor=make_actor("ops"), case_id=999_999, version=1, decision="approve")


# ------------------------------------------------------------------ resubmission, case page
def test_resubmission_opens_a_new_linked_case(engine, make_actor, world):
    ops = make_actor("ops")
    first = _held(engine, ops, world["m1"])
    with pytest.raises(InvalidInput) as err:
        run(cert.submit, merchant_id=world["m1"], kind="personal", real_name="张伟",
            id_number=tr.valid_id(), previous_id=first)
    assert err.value.key == "trust.error.previous_still_open"
    run(cert.decide, actor=ops, case_id=first, version=2, decision="needs_info",
        reason_code="document_unclear", requested_doc="id_front")
    second = run(cert.submit, merchant_id=world["m1"], kind="personal", real_name="张伟",
                 id_number=tr.valid_id(), previous_id=first)
    assert tr.rows(engine, "SELECT status, previous_id FROM app.certifications WHERE id = :id",
                   id=second)[0] == {"status": "pending", "previous_id": first}
    view = run(cert.get_case, actor=ops, case_id=second)
    assert list(view.earlier_cases["id"]) == [first]
    assert list(view.earlier_cases["status"]) == ["needs_info"]
    assert set(view.prechecks["check_code"]) == {"id_number", "uscc", "id_duplicate",
                                                  "uscc_duplicate", "company_name", "legal_rep",
                                                  "phone_shared"}


def test_case_page_masks_id_numbers_for_managers_and_shows_timeline(engine, make_actor, world):
    ops, manager = make_actor("ops"), make_actor("manager")
    number = tr.valid_id(7)
    case = _held(engine, ops, world["m1"], id_number=number)
    run(cert.add_note, actor=ops, case_id=case, body="已电话核实本人")
    with pytest.raises(InvalidInput):
        run(cert.add_note, actor=ops, case_id=case, body="   ")
    assert run(cert.get_case, actor=ops, case_id=case).case["id_number"] == number
    seen = run(cert.get_case, actor=manager, case_id=case)
    assert seen.case["id_number"] == number[:3] + "*" * 11 + number[-4:]
    assert list(seen.timeline["kind"]) == ["event", "note"]
    assert list(seen.timeline["text"])[1] == "已电话核实本人"


def test_home_counters_for_ops(engine, make_actor, world):
    from console.services.home import waiting_counts
    ops = make_actor("ops")
    tr.cert(engine, merchant_id=world["m1"], age_hours=60)
    tr.cert(engine, merchant_id=world["m2"], age_hours=1)
    tr.cert(engine, merchant_id=world["m3"], status="in_review", assignee_id=ops.id)
    counts = {c.label_key: c.value for c in run(waiting_counts, actor=ops)}
    assert {k: counts[k] for k in ("home.ops.pending_certs", "home.ops.my_certs",
                                   "home.ops.late_certs", "home.ops.open_flags",
                                   "home.ops.my_flags")} == {
        "home.ops.pending_certs": 2, "home.ops.my_certs": 1, "home.ops.late_certs": 1,
        "home.ops.open_flags": 0, "home.ops.my_flags": 0}


def test_queue_metrics_median_reviewers_and_approval_by_check(engine, make_actor, world):
    from console.services.trust_metrics import queue_metrics
    ops = make_actor("ops")
    a = tr.cert(engine, merchant_id=world["m1"], age_hours=10, status="approved")
    b = tr.cert(engine, merchant_id=world["m2"], age_hours=30, status="rejected",
                id_number="110105194912310021")
    tr.cert(engine, merchant_id=world["m3"], age_hours=5)
    with engine.begin() as conn:
        db.execute(conn, "UPDATE app.certifications SET reviewer_id = :me WHERE id IN (:a, :b)",
                   me=ops.id, a=a, b=b)
    run(prechecks_for_all)
    m = run(queue_metrics, actor=make_actor("manager"))
    assert (m.open_cases, m.unassigned) == (1, 1)
    assert m.median_hours_30d == 20.0 and m.median_hours_7d == 20.0
    assert m.decisions_per_reviewer.to_dict("records") == [
        {"reviewer": ops.display_name, "decision": "approved", "n": 1},
        {"reviewer": ops.display_name, "decision": "rejected", "n": 1}]
    assert m.approval_by_check[["check_code", "decided", "approved", "rate"]].to_dict("records") == [
        {"check_code": "id_number", "decided": 1, "approved": 0, "rate": 0.0},
        {"check_code": "none", "decided": 1, "approved": 1, "rate": 1.0}]


def prechecks_for_all(*, conn):
    from console.services import prechecks
    ids = [r["id"] for r in db.fetch_all(conn, "SELECT id FROM app.certifications")]
    return prechecks.run_prechecks(conn=conn, certification_ids=ids)
