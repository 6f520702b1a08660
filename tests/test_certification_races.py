"""Twenty reviewers at once: exactly one wins each race, the others get a clear refusal."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from console.errors import ConsoleError
from console.services import certification as cert

from tests import trust_rows as tr

THREADS = 20


def race(engine, calls):
    """Run each call in its own thread and connection, released together; return outcomes."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, fn, kwargs):
        barrier.wait()
        try:
            with engine.begin() as conn:
                results[i] = ("ok", fn(conn=conn, **kwargs))
        except ConsoleError as err:
            results[i] = ("refused", err.key)
        except Exception as exc:  # noqa: BLE001 - an unexpected error must fail the test
            results[i] = ("crash", repr(exc))

    threads = [threading.Thread(target=worker, args=(i, fn, kw)) for i, (fn, kw) in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return results


@pytest.fixture
def merchant_id(engine):
    return tr.merchant(engine, city_id=tr.city(engine))


def test_twenty_reviewers_race_for_one_next_case(engine, make_actor, merchant_id):
    actors = [make_actor("ops") for _ in range(THREADS)]
    case = tr.cert(engine, merchant_id=merchant_id)
    results = race(engine, [(cert.next_case, {"actor": a}) for a in actors])
    assert sorted(results, key=str) == sorted([("ok", case)] + [("ok", None)] * (THREADS - 1),
                                              key=str)
    winner = actors[results.index(("ok", case))]
    assert tr.rows(engine, "SELECT assignee_id, status FROM app.certifications") == \
        [{"assignee_id": winner.id, "status": "in_review"}]
    assert tr.value(engine, "SELECT count(*) FROM ops.audit_log") == 1


def test_twenty_reviewers_share_five_cases_without_overlap(engine, make_actor, merchant_id):
    actors = [make_actor("ops") for _ in range(THREADS)]
    cases = [tr.cert(engine, merchant_id=merchant_id, age_hours=10 - i) for i in range(5)]
    results = race(engine, [(cert.next_case, {"actor": a}) for a in actors])
    taken = [v for status, v in results if status == "ok" and v is not None]
    assert sorted(taken) == sorted(cases)
    holders = [r["assignee_id"] for r in tr.rows(engine, "SELECT assignee_id FROM app.certifications")]
    assert len(set(holders)) == 5


def test_twenty_reviewers_race_to_assign_one_case_to_themselves(engine, make_actor, merchant_id):
    actors = [make_actor("ops") for _ in range(THREADS)]
    case = tr.cert(engine, merchant_id=merchant_id)
    results = race(engine, [(cert.assign_case, {"actor": a, "case_id": case, "version": 1,
                                                "assignee_id": a.id}) for a in actors])
    counts = Counter(status for status, _ in results)
    assert counts == {"ok": 1, "refused": THREADS - 1}
    assert {key for status, key in results if status == "refused"} <= {
        "trust.error.held_by", "error.stale"}


def test_twenty_decisions_on_the_same_case_only_one_lands(engine, make_actor, merchant_id):
    ops = make_actor("ops")
    case = tr.cert(engine, merchant_id=merchant_id)
    with engine.begin() as conn:
        cert.assign_case(conn=conn, actor=ops, case_id=case, version=1, assignee_id=ops.id)
    calls = []
    for i in range(THREADS):
        kw = {"actor": ops, "case_id": case, "version": 2}
        kw.update({"decision": "approve"} if i % 2 else
                  {"decision": "reject", "reason_code": "other", "note": f"try {i}"})
        calls.append((cert.decide, kw))
    results = race(engine, calls)
    assert Counter(status for status, _ in results) == {"ok": 1, "refused": THREADS - 1}
    assert {key for status, key in results if status == "refused"} == {
        "trust.error.already_decided"}
    assert tr.value(engine, "SELECT count(*) FROM app.notification_outbox") == 1
    assert tr.value(engine, "SELECT count(*) FROM ops.audit_log WHERE action IN "
                            "('certification.approved','certification.rejected')") == 1
