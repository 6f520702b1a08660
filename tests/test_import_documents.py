"""The review of parallel imports' documents (issue 21): the queue oldest first with hand-computed
ages and SLA marks, its filters, take / next under the per-reviewer cap (also when pressed at
once), decisions with their reason and audit row, the listing's panel losing "documents
missing" at the last approval, the refusals (no reason, a stale form, a decided document, a
colleague's, the wrong role, hostile text) that change nothing, the demo's documents, and
the page in both languages."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from console import db
from console.demo import import_docs as demo_docs
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.i18n import translate
from console.imports import documents as docs
from console.imports.status import DOC_KINDS
from tests import trust_rows as tr
from tests.apptest import page_script_as
from tests.races import race, wide_engine

PAGE = "pages/ops_import_docs.py"


# ---------------------------------------------------------------- a world by hand
def import_listing(engine, world, *, port="tianjin", market="middle_east",
                   availability="in_stock", arrival=None, merchant_id=None) -> int:
    listing_id = tr.listing(engine, merchant_id=merchant_id or world["seller"],
                            trim_id=world["trim"], city_id=world["city"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET is_parallel_import = true WHERE id = :l"),
                     {"l": listing_id})
        conn.execute(sa.text("""
            INSERT INTO app.listing_imports (listing_id, market_version, port, availability,
                                             expected_arrival)
            VALUES (:l, :m, :p, :a, :d)"""), {"l": listing_id, "m": market, "p": port,
                                             "a": availability, "d": arrival})
    return listing_id


def doc(engine, listing_id: int, kind: str, *, hours: float = 1.0, status: str = "pending",
        assigned_to: int | None = None, decided_by: int | None = None,
        reason: str | None = None) -> int:
    """One document uploaded ``hours`` ago; a decided one decided now by ``decided_by``."""
    with engine.begin() as conn:
        return conn.execute(sa.text("""
            INSERT INTO app.import_documents (listing_id, doc_kind, doc_ref, uploaded_at, status,
                                              assigned_to, assigned_at, decided_by, decided_at,
                                              decision_reason)
            VALUES (:l, :k, :ref, now() - make_interval(secs => :h * 3600), :s, :a,
                    CASE WHEN :a IS NOT NULL THEN now() END, :d,
                    CASE WHEN :s <> 'pending' THEN now() END, :r)
            RETURNING id"""), {"l": listing_id, "k": kind, "ref": f"REF-{kind}-{listing_id}",
                               "h": hours, "s": status, "a": assigned_to, "d": decided_by,
                               "r": reason}).scalar_one()


def state(engine, case_id: int) -> dict:
    return tr.rows(engine, """SELECT status, assigned_to, decided_by, decision_reason, version
                              FROM app.import_documents WHERE id = :id""", id=case_id)[0]


def audit_count(engine) -> int:
    return tr.value(engine, "SELECT count(*) FROM ops.audit_log")


@pytest.fixture
def world(engine, make_actor, settings_env):
    settings_env(CONSOLE_IMPORT_DOC_SLA_HOURS=24, CONSOLE_REVIEW_CAP=10)
    city = tr.city(engine, name="天津市")
    seller = tr.merchant(engine, city_id=city, name="津港平行进口车行",
                         merchant_type="parallel_import")
    return {"city": city, "seller": seller, "trim": tr.trim(engine, guide=900_000),
            "ops": make_actor("ops"), "ops2": make_actor("ops")}


def call(fn, **kwargs):
    with db.transaction() as conn:
        return fn(conn=conn, **kwargs)


# ---------------------------------------------------------------- the queue
def test_the_queue_lists_pending_documents_oldest_first_with_age_and_sla(engine, world):
    a = import_listing(engine, world)
    b = import_listing(engine, world, port="shanghai", market="us", availability="future",
                       arrival=date(2027, 1, 20))
    late = doc(engine, b, "customs", hours=30)          # 30 ≥ 24: late
    warn = doc(engine, a, "inspection", hours=13)       # 12 ≤ 13 < 24: warn
    ok = doc(engine, a, "customs", hours=2)             # under 12: ok
    doc(engine, a, "conformity", hours=50, status="approved", decided_by=world["ops"].id,
        reason="核对一致")                               # decided: not in the queue
    page = call(docs.list_queue, actor=world["ops"])
    assert page.total == 3
    rows = page.rows
    assert list(rows["id"]) == [late, warn, ok]
    assert list(rows["age_hours"]) == [30.0, 13.0, 2.0]
    assert list(rows["sla"]) == ["late", "warn", "ok"]
    assert list(rows["kind"]) == ["customs", "inspection", "customs"]
    assert list(rows["port"]) == ["shanghai", "tianjin", "tianjin"]
    assert list(rows["market_version"]) == ["us", "middle_east", "middle_east"]
    assert list(rows["availability"]) == ["future", "in_stock", "in_stock"]
    assert rows["expected_arrival"].iloc[0] == date(2027, 1, 20)
    assert set(rows["seller"]) == {"津港平行进口车行"}
    assert call(docs.queue_counts, actor=world["ops"]) == {
        "pending": 3, "unassigned": 3, "mine": 0, "late": 1}


def test_the_sla_follows_the_setting(engine, world, settings_env):
    a = import_listing(engine, world)
    doc(engine, a, "customs", hours=13)
    doc(engine, a, "inspection", hours=5)
    settings_env(CONSOLE_IMPORT_DOC_SLA_HOURS=10)        # late from 10 h, warn from 5 h
    assert list(call(docs.list_queue, actor=world["ops"]).rows["sla"]) == ["late", "warn"]
    assert call(docs.queue_counts, actor=world["ops"])["late"] == 1


def test_filters_by_kind_port_market_version_and_holder(engine, world):
    me, other = world["ops"], world["ops2"]
    tj = import_listing(engine, world)
    sh = import_listing(engine, world, port="shanghai", market="europe")
    d1 = doc(engine, tj, "customs", hours=9)
    d2 = doc(engine, tj, "env_disclosure", hours=8, assigned_to=me.id)
    d3 = doc(engine, sh, "customs", hours=7, assigned_to=other.id)
    d4 = doc(engine, sh, "conformity", hours=6)

    def ids(**f):
        return list(call(docs.list_queue, actor=me, filters=docs.DocFilters(**f)).rows["id"])

    assert ids() == [d1, d2, d3, d4]
    assert ids(kinds=("customs",)) == [d1, d3]
    assert ids(ports=("shanghai",)) == [d3, d4]
    assert ids(market_versions=("middle_east",)) == [d1, d2]
    assert ids(kinds=("customs",), ports=("tianjin",)) == [d1]
    assert ids(view="mine") == [d2]
    assert ids(view="unassigned") == [d1, d4]
    page = call(docs.list_queue, actor=me, limit=2, offset=2)
    assert (list(page.rows["id"]), page.total) == ([d3, d4], 4)
    assert call(docs.queue_counts, actor=me) == {"pending": 4, "unassigned": 2, "mine": 1,
                                                 "late": 0}


@pytest.mark.parametrize("filters", [docs.DocFilters(ports=("mars",)),
                                     docs.DocFilters(kinds=("passport",)),
                                     docs.DocFilters(market_versions=("japan",)),
                                     docs.DocFilters(view="everyone")])
def test_a_forged_filter_is_refused(engine, world, filters):
    with pytest.raises(InvalidInput) as err:
        call(docs.list_queue, actor=world["ops"], filters=filters)
    assert err.value.key == "trust.error.bad_form_value"


# ---------------------------------------------------------------- take, next, release
def test_next_takes_the_oldest_unassigned_and_stops_at_the_cap(engine, world, settings_env):
    settings_env(CONSOLE_REVIEW_CAP=2)
    me = world["ops"]
    a = import_listing(engine, world)
    held = doc(engine, a, "customs", hours=9, assigned_to=world["ops2"].id)
    first = doc(engine, a, "inspection", hours=8)
    second = doc(engine, a, "env_disclosure", hours=7)
    doc(engine, a, "conformity", hours=6)
    taken = call(docs.next_case, actor=me)
    assert (taken.case_id, taken.listing_id) == (first, a)
    assert call(docs.next_case, actor=me).case_id == second
    before = audit_count(engine)
    with pytest.raises(Conflict) as err:
        call(docs.next_case, actor=me)
    assert (err.value.key, err.value.params) == ("trust.error.cap_reached", {"held": 2, "cap": 2})
    assert audit_count(engine) == before
    assert state(engine, held)["assigned_to"] == world["ops2"].id
    assert tr.rows(engine, """SELECT action, entity_id, before, after FROM ops.audit_log
                              WHERE actor_id = :me ORDER BY id""", me=me.id) == [
        {"action": "import_doc.take_next", "entity_id": str(first),
         "before": {"assignee_id": None}, "after": {"assignee_id": me.id}},
        {"action": "import_doc.take_next", "entity_id": str(second),
         "before": {"assignee_id": None}, "after": {"assignee_id": me.id}}]


def test_next_of_one_kind_and_an_empty_queue(engine, world):
    a = import_listing(engine, world)
    doc(engine, a, "customs", hours=9)
    conformity = doc(engine, a, "conformity", hours=1)
    assert call(docs.next_case, actor=world["ops"], kind="conformity").case_id == conformity
    assert call(docs.next_case, actor=world["ops"], kind="conformity") is None
    with pytest.raises(InvalidInput):
        call(docs.next_case, actor=world["ops"], kind="passport")


def test_take_and_release_one_document(engine, world):
    me, other = world["ops"], world["ops2"]
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    assert call(docs.take_case, actor=me, case_id=d, version=1) == 2
    assert call(docs.take_case, actor=me, case_id=d, version=2) == 2     # mine already
    with pytest.raises(Conflict) as err:
        call(docs.take_case, actor=other, case_id=d, version=2)
    assert (err.value.key, err.value.params) == ("trust.error.held_by", {"name": me.display_name})
    with pytest.raises(PermissionDenied) as err:
        call(docs.release_case, actor=other, case_id=d, version=2)
    assert err.value.key == "trust.error.not_yours"
    with pytest.raises(Conflict) as err:
        call(docs.release_case, actor=me, case_id=d, version=1)
    assert err.value.key == "error.stale"
    assert call(docs.release_case, actor=me, case_id=d, version=2) == 3
    assert state(engine, d)["assigned_to"] is None
    with pytest.raises(Conflict) as err:       # the page still showed version 1
        call(docs.take_case, actor=other, case_id=d, version=1)
    assert err.value.key == "error.stale"
    assert [r["action"] for r in tr.rows(engine, "SELECT action FROM ops.audit_log ORDER BY id")] \
        == ["import_doc.take", "import_doc.release"]


# ---------------------------------------------------------------- decisions and the panel
def test_the_last_approval_makes_the_listing_complete(engine, world):
    me = world["ops"]
    a = import_listing(engine, world, port="dalian", market="canada")
    for kind in ("customs", "inspection", "env_disclosure"):
        doc(engine, a, kind, hours=40, status="approved", decided_by=world["ops2"].id,
            reason="核对一致")
    last = doc(engine, a, "conformity", hours=3)
    panel = call(docs.listing_documents, actor=me, listing_id=a)
    assert (panel.documents_missing, panel.missing) == (True, ["conformity"])
    assert [(ln.kind, ln.state) for ln in panel.lines] == [
        ("customs", "approved"), ("inspection", "approved"), ("env_disclosure", "approved"),
        ("conformity", "pending")]
    assert (panel.lines[3].age_hours, panel.lines[3].sla) == (3.0, "ok")
    assert (panel.listing["port"], panel.listing["market_version"]) == ("dalian", "canada")
    assert panel.listing["seller"] == "津港平行进口车行"

    done = call(docs.decide, actor=me, case_id=last, version=1, decision="approve",
                reason="  一致性证书与车辆一致  ")
    assert done == docs.Decided(case_id=last, status="approved", listing_id=a, version=2,
                                documents_missing=False, missing=())
    assert state(engine, last) == {"status": "approved", "assigned_to": me.id,
                                   "decided_by": me.id,
                                   "decision_reason": "一致性证书与车辆一致", "version": 2}
    panel = call(docs.listing_documents, actor=me, listing_id=a)
    assert (panel.documents_missing, panel.missing) == (False, [])
    assert {ln.state for ln in panel.lines} == {"approved"}
    assert tr.rows(engine, """SELECT action, entity_type, entity_id, before, after, reason
                              FROM ops.audit_log""") == [
        {"action": "import_doc.approve", "entity_type": "import_document",
         "entity_id": str(last), "before": {"status": "pending", "assignee_id": None},
         "after": {"status": "approved", "kind": "conformity", "listing_id": a,
                   "documents_complete": True},
         "reason": "一致性证书与车辆一致"}]


def test_a_rejection_keeps_the_reason_tells_the_dealer_and_a_new_upload_waits(engine, world):
    me = world["ops"]
    a = import_listing(engine, world)
    d = doc(engine, a, "customs", hours=5, assigned_to=me.id)
    done = call(docs.decide, actor=me, case_id=d, version=1, decision="reject",
                reason="关单车架号与车源不一致")
    assert (done.status, done.documents_missing, done.missing) == (
        "rejected", True, ("customs", "inspection", "env_disclosure", "conformity"))
    line = call(docs.listing_documents, actor=me, listing_id=a).lines[0]
    assert (line.kind, line.state, line.reason, line.decided_by) == (
        "customs", "rejected", "关单车架号与车源不一致", me.display_name)
    note = tr.rows(engine, """SELECT merchant_id, template, payload FROM app.notification_outbox""")
    assert note == [{"merchant_id": world["seller"], "template": "import_document.rejected",
                     "payload": {"import_document_id": d, "listing_id": a, "kind": "customs",
                                 "reason": "关单车架号与车源不一致"}}]
    with db.transaction() as conn:       # the dealer uploads it again: a new document
        again = docs.submit_document(conn=conn, listing_id=a, kind="customs",
                                     doc_ref="020220261234567890")
    panel = call(docs.listing_documents, actor=me, listing_id=a)
    assert (panel.lines[0].case_id, panel.lines[0].state) == (again, "pending")
    assert list(panel.history["id"]) == [again, d]
    with pytest.raises(Conflict) as err, db.transaction() as conn:
        docs.submit_document(conn=conn, listing_id=a, kind="customs", doc_ref="X1")
    assert err.value.key == "imports.docs.error.already_live"


def test_a_domestic_listing_has_no_documents_panel(engine, world):
    domestic = tr.listing(engine, merchant_id=world["seller"], trim_id=world["trim"],
                          city_id=world["city"])
    with pytest.raises(NotFound) as err:
        call(docs.listing_documents, actor=world["ops"], listing_id=domestic)
    assert err.value.key == "imports.docs.error.not_import"
    with pytest.raises(NotFound), db.transaction() as conn:
        docs.submit_document(conn=conn, listing_id=domestic, kind="customs", doc_ref="X")


def test_a_listing_with_nothing_uploaded_reads_missing_for_every_kind(engine, world):
    a = import_listing(engine, world)
    panel = call(docs.listing_documents, actor=world["ops"], listing_id=a)
    assert [ln.state for ln in panel.lines] == ["missing"] * 4
    assert (panel.documents_missing, panel.missing) == (True, list(DOC_KINDS))


# ---------------------------------------------------------------- refusals change nothing
@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_decision_without_a_reason_is_refused(engine, world, reason):
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    before, audits = state(engine, d), audit_count(engine)
    for decision in ("approve", "reject"):
        with pytest.raises(InvalidInput) as err:
            call(docs.decide, actor=world["ops"], case_id=d, version=1, decision=decision,
                 reason=reason)
        assert err.value.key == "imports.docs.error.reason_required"
    assert translate("imports.docs.error.reason_required", "zh") == "审核单证必须填写说明。未做任何更改。"
    assert translate("imports.docs.error.reason_required", "en") == \
        "A document decision needs a reason. Nothing was changed."
    assert (state(engine, d), audit_count(engine)) == (before, audits)


@pytest.mark.parametrize("reason", ["ab\x00cd", "长" * 100_000, "invoice\u202efdp.exe"],
                         ids=["NUL", "100k characters", "right-to-left override"])
def test_hostile_reasons_are_refused(engine, world, reason):
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    before, audits = state(engine, d), audit_count(engine)
    with pytest.raises(InvalidInput) as err:
        call(docs.decide, actor=world["ops"], case_id=d, version=1, decision="approve",
             reason=reason)
    assert err.value.key.startswith("input.")
    assert (state(engine, d), audit_count(engine)) == (before, audits)


def test_stale_decided_and_colleagues_documents_are_refused(engine, world):
    me, other = world["ops"], world["ops2"]
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    mine = doc(engine, a, "inspection", assigned_to=other.id)
    call(docs.take_case, actor=me, case_id=d, version=1)           # version 2 now
    before, audits = state(engine, d), audit_count(engine)
    with pytest.raises(Conflict) as err:                             # the form said version 1
        call(docs.decide, actor=me, case_id=d, version=1, decision="approve", reason="一致")
    assert err.value.key == "error.stale"
    with pytest.raises(Conflict) as err:
        call(docs.decide, actor=other, case_id=d, version=2, decision="approve", reason="一致")
    assert (err.value.key, err.value.params) == ("trust.error.held_by", {"name": me.display_name})
    with pytest.raises(InvalidInput):
        call(docs.decide, actor=me, case_id=d, version=2, decision="maybe", reason="一致")
    assert (state(engine, d), audit_count(engine)) == (before, audits)
    call(docs.decide, actor=other, case_id=mine, version=1, decision="approve", reason="一致")
    with pytest.raises(Conflict) as err:                             # decided: frozen
        call(docs.decide, actor=other, case_id=mine, version=2, decision="reject", reason="错")
    assert err.value.key == "trust.error.already_decided"
    with pytest.raises(NotFound):
        call(docs.decide, actor=me, case_id=987654, version=1, decision="approve", reason="一致")


@pytest.mark.parametrize("role", ["bd", "manager", "risk", "admin"])
def test_only_ops_decide_and_take(engine, world, make_actor, role):
    someone = make_actor(role)
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    before, audits = state(engine, d), audit_count(engine)
    for fn, kwargs in ((docs.decide, {"case_id": d, "version": 1, "decision": "approve",
                                      "reason": "一致"}),
                       (docs.take_case, {"case_id": d, "version": 1}),
                       (docs.next_case, {})):
        with pytest.raises(PermissionDenied) as err:
            call(fn, actor=someone, **kwargs)
        assert err.value.key == "error.role_required"
    assert (state(engine, d), audit_count(engine)) == (before, audits)
    if role in ("bd", "manager"):     # they read the queue and the panel
        assert call(docs.list_queue, actor=someone).total == 1
        assert call(docs.listing_documents, actor=someone, listing_id=a).missing == list(DOC_KINDS)


# ---------------------------------------------------------------- at once
PEOPLE = 6


@pytest.fixture
def wide(fresh_db, engine):
    with wide_engine(fresh_db, 3 * PEOPLE) as eng:
        yield eng


def held_per_person(engine) -> dict[int, int]:
    return {r["assigned_to"]: r["n"] for r in tr.rows(engine, """
        SELECT assigned_to, count(*) AS n FROM app.import_documents
        WHERE status = 'pending' AND assigned_to IS NOT NULL GROUP BY assigned_to""")}


def test_one_person_pressing_next_many_times_at_once_stops_at_the_cap(
        engine, wide, world, settings_env):
    settings_env(CONSOLE_REVIEW_CAP=3)
    me = world["ops"]
    a, b, c = (import_listing(engine, world) for _ in range(3))
    for listing in (a, b, c):
        for hours, kind in enumerate(DOC_KINDS, start=1):
            doc(engine, listing, kind, hours=hours)
    results = race(wide, [(docs.next_case, {"actor": me})] * (2 * PEOPLE))
    assert Counter(status for status, _ in results) == {"ok": 3, "refused": 2 * PEOPLE - 3}
    assert {why for status, why in results if status == "refused"} == {
        ("Conflict", "trust.error.cap_reached")}
    taken = [v.case_id for status, v in results if status == "ok"]
    assert len(set(taken)) == 3
    assert held_per_person(engine) == {me.id: 3}
    assert tr.value(engine, "SELECT count(*) FROM ops.audit_log") == 3


def test_many_people_pressing_next_and_take_at_once_each_stop_at_the_cap(
        engine, wide, world, make_actor, settings_env):
    settings_env(CONSOLE_REVIEW_CAP=2)
    people = [make_actor("ops") for _ in range(PEOPLE)]
    listings = [import_listing(engine, world) for _ in range(4)]
    ids = [doc(engine, lst, kind, hours=10 - i)
           for i, lst in enumerate(listings) for kind in DOC_KINDS]
    # each presses "next" twice and takes one named document, all at once
    calls = [(docs.next_case, {"actor": p}) for p in people for _ in range(2)]
    calls += [(docs.take_case, {"actor": p, "case_id": ids[-1 - i], "version": 1})
              for i, p in enumerate(people)]
    results = race(wide, calls)
    assert not [r for r in results if r[0] == "crash"], results
    assert held_per_person(engine) == {p.id: 2 for p in people}
    assert Counter(status for status, _ in results) == {"ok": 2 * PEOPLE, "refused": PEOPLE}
    held = tr.rows(engine, """SELECT id FROM app.import_documents WHERE assigned_to IS NOT NULL""")
    assert len(held) == 2 * PEOPLE        # no document in two people's hands


def test_two_people_deciding_one_document_at_once_decide_it_once(engine, wide, world):
    a = import_listing(engine, world)
    d = doc(engine, a, "customs")
    results = race(wide, [(docs.decide, {"actor": p, "case_id": d, "version": 1,
                                         "decision": decision, "reason": "核对"})
                          for p, decision in ((world["ops"], "approve"),
                                              (world["ops2"], "reject"))])
    assert sorted(status for status, _ in results) == ["ok", "refused"], results
    assert [why for status, why in results if status == "refused"][0][0] == "Conflict"
    assert tr.value(engine, "SELECT count(*) FROM ops.audit_log") == 1
    assert state(engine, d)["version"] == 2


# ---------------------------------------------------------------- the demo's documents
def test_the_demo_writes_every_story_deterministically(engine, world):
    listings = [import_listing(engine, world, port=p) for p in
                ("tianjin", "shanghai", "shenzhen", "guangzhou", "dalian", "qingdao") * 10]
    with engine.begin() as conn:    # published over the last 60 days
        conn.execute(sa.text("""UPDATE app.listings SET published_at = now() - make_interval(
                                    days => CAST(id % 60 AS integer)) WHERE id = ANY(:ids)"""),
                     {"ids": listings})
    now = datetime.now(timezone.utc)

    def written():
        with engine.connect() as conn:
            conn.begin()
            summary = demo_docs.write(conn, seed=3, now=now)
            rows = conn.execute(sa.text("""
                SELECT listing_id, doc_kind, doc_ref, uploaded_at, status, assigned_to,
                       decided_by, decided_at, decision_reason
                FROM app.import_documents ORDER BY id""")).all()
            conn.rollback()
        return summary, rows

    summary, rows = written()
    assert written() == (summary, rows)
    assert summary.listings == 60 and summary.documents == len(rows)
    statuses = Counter(r.status for r in rows)
    assert statuses["approved"] > statuses["pending"] > 0 and statuses["rejected"] > 0
    assert all(r.uploaded_at <= now for r in rows)
    assert all(r.decided_at is None or r.uploaded_at < r.decided_at <= now for r in rows)
    assert all(r.decision_reason for r in rows if r.status != "pending")
    kinds = Counter((r.listing_id, r.doc_kind) for r in rows if r.status != "rejected")
    assert max(kinds.values()) == 1
    complete = sum(1 for lst in listings
                   if sum(1 for r in rows if r.listing_id == lst and r.status == "approved") == 4)
    assert 30 <= complete < 60               # most complete, not all
    assert any(len({r.doc_kind for r in rows if r.listing_id == lst}) < 4 for lst in listings)
    assert max(Counter(r.assigned_to for r in rows if r.status == "pending"
                       and r.assigned_to).values(), default=0) <= demo_docs.HELD_MAX
    with engine.begin() as conn:                 # a second run adds nothing
        first = demo_docs.write(conn, seed=3, now=now)
        assert demo_docs.write(conn, seed=3, now=now).documents == 0
    assert first.documents == len(rows)


def test_the_small_demo_has_a_queue_to_work(demo_engine):
    """The demo seed writes documents after the import details: the live imports have them,
    most complete, some waiting (a few in ops' hands, within the cap), a few rejected."""
    counts = {r["status"]: r["n"] for r in tr.rows(demo_engine, """
        SELECT status, count(*) AS n FROM app.import_documents GROUP BY status""")}
    assert counts["approved"] > counts["pending"] >= 5 and counts["rejected"] >= 1
    live, complete = tr.rows(demo_engine, """
        SELECT count(*) AS live,
               count(*) FILTER (WHERE (SELECT count(*) FROM app.import_documents d
                                       WHERE d.listing_id = l.id AND d.status = 'approved') = 4)
                   AS complete
        FROM app.listings l JOIN app.listing_imports li ON li.listing_id = l.id
        WHERE l.status = 'live'""")[0].values()
    assert live / 2 < complete < live
    assert tr.value(demo_engine, """SELECT count(*) FROM app.import_documents d
                                    JOIN app.listings l ON l.id = d.listing_id
                                    WHERE l.status <> 'live' OR NOT l.is_parallel_import""") == 0
    held = tr.rows(demo_engine, """SELECT assigned_to, count(*) AS n FROM app.import_documents
                                   WHERE status = 'pending' AND assigned_to IS NOT NULL
                                   GROUP BY assigned_to""")
    assert held and max(r["n"] for r in held) <= demo_docs.HELD_MAX


# ---------------------------------------------------------------- the page
def test_the_queue_page_in_both_languages(engine, world, make_actor):
    a = import_listing(engine, world)
    doc(engine, a, "customs", hours=30)
    doc(engine, a, "inspection", hours=2)
    at = page_script_as(world["ops"], PAGE)
    assert not at.exception
    assert [m.value for m in at.metric] == ["2", "2", "0", "1"]
    assert at.title[0].value == "进口单证审核"
    assert any(b.label == "领取下一份" for b in at.button)
    at = page_script_as(make_actor("manager"), PAGE, lang="en")
    assert not at.exception
    assert at.title[0].value == "Import documents"
    assert not any(b.label == "Next document" for b in at.button)


def test_the_listing_view_decides_and_reads_complete(engine, world):
    a = import_listing(engine, world)
    for kind in ("customs", "inspection", "env_disclosure"):
        doc(engine, a, kind, hours=40, status="approved", decided_by=world["ops2"].id,
            reason="核对一致")
    last = doc(engine, a, "conformity", hours=3)
    at = page_script_as(world["ops"], PAGE)
    at.query_params["listing"] = str(a)
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["缺单证：一致性证书"]
    at.text_area[0].input("证书与车辆一致")
    next(b for b in at.button if b.label == "通过").click()
    at.run()
    assert not at.exception
    assert [s.value for s in at.success][-1] == "单证齐全"
    assert not at.warning
    assert state(engine, last)["status"] == "approved"


def test_a_document_a_colleague_took_since_the_panel_showed_it_is_said_so(engine, world):
    """The decision form is keyed by the document's version: once a colleague takes it, a
    press on the old form reaches nothing. The panel says so once, with who holds it now,
    instead of going quiet; the tab's own decision is no news."""
    a = import_listing(engine, world)
    d = doc(engine, a, "conformity", hours=3)
    at = page_script_as(world["ops"], PAGE)
    at.query_params["listing"] = str(a)
    at.run()
    missing = "缺单证：关单、商检单、环保信息公开、一致性证书"
    assert [w.value for w in at.warning] == [missing]
    assert call(docs.take_case, actor=world["ops2"], case_id=d, version=1) == 2
    at.text_area[0].input("证书与车辆一致")
    next(b for b in at.button if b.label == "通过").click()
    at.run()
    assert not at.exception
    name = world["ops2"].display_name
    assert [w.value for w in at.warning][1:] == [
        f"这份一致性证书在本页打开后已被他人更改（现为待审核，处理人 {name}）："
        "在旧页面上按下的审核未保存。"]
    assert (state(engine, d)["status"], state(engine, d)["assigned_to"]) == ("pending",
                                                                          world["ops2"].id)
    assert not any(b.label == "通过" for b in at.button)
    at.run()                                    # said once
    assert [w.value for w in at.warning] == [missing]


def test_the_queue_and_the_panel_name_the_queues_own_sla_hours(engine, world, settings_env,
                                                                make_actor):
    """The SLA words say this queue's hours (24: warning from 12), not the certification
    queue's 48: a document of 13 hours is "over 12 hours", not "over 24"; of 30, late."""
    a = import_listing(engine, world)
    doc(engine, a, "customs", hours=30)
    doc(engine, a, "inspection", hours=13)
    doc(engine, a, "conformity", hours=2)
    at = page_script_as(world["ops"], PAGE)
    assert not at.exception
    # who holds it beside its SLA, not past the table's right edge
    assert list(at.dataframe[0].value.columns[:4]) == ["单证", "时效", "处理人", "类型"]
    assert list(at.dataframe[0].value["时效"]) == [
        "🔴 已超时（超 24 小时）", "🟡 临近超时（超 12 小时）", "🟢 正常"]
    at.query_params["listing"] = str(a)
    at.run()
    assert "🟡 临近超时（超 12 小时） · 已等待 13.0 小时" in [c.value for c in at.caption]
    assert any("**数量**：1 台" in m.value for m in at.markdown)
    settings_env(CONSOLE_IMPORT_DOC_SLA_HOURS=10)        # late from 10 h, warn from 5 h
    # a manager reads (AppTest formats an ops person's view radio outside the run, in zh)
    at = page_script_as(make_actor("manager"), PAGE, lang="en")
    assert list(at.dataframe[0].value["SLA"]) == [
        "🔴 Late (over 10 h)", "🔴 Late (over 10 h)", "🟢 On time"]
    at.query_params["listing"] = str(a)
    at.run()
    assert "🔴 Late (over 10 h) · waiting 13.0 hours" in [c.value for c in at.caption]
    assert any("**Cars**: 1" in m.value for m in at.markdown)   # a count with its unit

