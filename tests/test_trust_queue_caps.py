"""The per-person review cap holds when many people press auto-assign or "next case" at once,
in both trust queues (certifications and listing flags share the queue engine)."""
from __future__ import annotations

from collections import Counter

import pytest

from console.services import certification as cert
from console.services import listing_review as lr

from tests import trust_rows as tr
from tests.races import race, wide_engine

PEOPLE = 20
ROUNDS = 3


class Queue:
    """One trust queue: how to fill it, and its services."""

    def __init__(self, name, table, next_fn, auto_fn):
        self.name, self.table, self.next_fn, self.auto_fn = name, table, next_fn, auto_fn

    def fill(self, engine, n: int) -> None:
        with engine.begin() as conn:
            if self.name == "cert":
                conn.exec_driver_sql("""
                    INSERT INTO app.certifications (merchant_id, kind, real_name, id_number,
                                                    submitted_at)
                    SELECT (SELECT min(id) FROM app.merchants), 'personal', '张伟',
                           '11010519491231002X', now() - make_interval(mins => g)
                    FROM generate_series(1, %(n)s) g""", {"n": n})
            else:
                conn.exec_driver_sql("""
                    WITH l AS (
                        INSERT INTO app.listings (merchant_id, trim_id, exterior_color,
                                                  interior_color, quantity, city_id, price,
                                                  guide_price, available_from, status,
                                                  published_at)
                        SELECT m.id, (SELECT min(id) FROM app.trims), '白', '黑', 1, m.city_id,
                               100000, 200000, current_date, 'live', now()
                        FROM generate_series(1, %(n)s) g
                        CROSS JOIN (SELECT id, city_id FROM app.merchants ORDER BY id LIMIT 1) m
                        RETURNING id, merchant_id)
                    INSERT INTO ops.listing_flags (listing_id, merchant_id, kind, raised_at)
                    SELECT id, merchant_id, 'price_below_guide', now() - make_interval(mins => id::int)
                    FROM l""", {"n": n})

    def open_per_person(self, engine) -> dict[int, int]:
        return {r["assignee_id"]: r["n"] for r in tr.rows(engine, f"""
            SELECT assignee_id, count(*) AS n FROM {self.table}
            WHERE status = 'in_review' GROUP BY assignee_id""")}

    def pending(self, engine) -> int:
        return tr.value(engine, f"SELECT count(*) FROM {self.table} WHERE status = 'pending'")

    def reset(self, engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"""UPDATE {self.table} SET status = 'pending',
                                         assignee_id = NULL, assigned_at = NULL""")


QUEUES = {
    "cert": Queue("cert", "app.certifications", cert.next_case, cert.auto_assign),
    "flag": Queue("flag", "ops.listing_flags", lr.next_flag, lr.auto_assign),
}


@pytest.fixture(params=sorted(QUEUES))
def queue(request, engine):
    c = tr.city(engine)
    tr.merchant(engine, city_id=c)
    tr.trim(engine)
    return QUEUES[request.param]


@pytest.fixture
def review_cap(settings_env):
    """Set the configured cap (CONSOLE_REVIEW_CAP) for this test, as a deployment does."""
    return lambda cap: settings_env(CONSOLE_REVIEW_CAP=cap)


@pytest.fixture
def wide(fresh_db, engine):
    with wide_engine(fresh_db, PEOPLE) as eng:
        yield eng


def test_twenty_people_pressing_auto_assign_at_once_fill_each_reviewer_to_the_cap(
        wide, make_actor, queue, review_cap):
    cap = 25
    review_cap(cap)
    people = [make_actor("ops") for _ in range(PEOPLE)]
    queue.fill(wide, PEOPLE * cap + 40)
    for _ in range(ROUNDS):
        results = race(wide, [(queue.auto_fn, {"actor": p}) for p in people])
        assert [status for status, _ in results] == ["ok"] * PEOPLE, results
        # Every reviewer holds exactly the cap; what the racers gave adds up to it.
        assert queue.open_per_person(wide) == {p.id: cap for p in people}
        given = Counter()
        for _, per_person in results:
            given.update(per_person)
        assert given == {p.id: cap for p in people}
        assert queue.pending(wide) == 40
        queue.reset(wide)


def test_two_managers_auto_assigning_at_once_stop_at_the_cap(wide, make_actor, queue, review_cap):
    cap = 70
    review_cap(cap)
    leads = [make_actor("ops", "manager") for _ in range(2)]
    queue.fill(wide, 2 * cap + 10)
    for _ in range(ROUNDS):
        results = race(wide, [(queue.auto_fn, {"actor": p}) for p in leads])
        assert [status for status, _ in results] == ["ok", "ok"], results
        assert queue.open_per_person(wide) == {p.id: cap for p in leads}
        assert queue.pending(wide) == 10
        queue.reset(wide)


def test_next_case_refuses_a_reviewer_at_the_cap(wide, make_actor, queue, review_cap):
    review_cap(7)
    me = make_actor("ops")
    queue.fill(wide, 20)
    for _ in range(7):
        assert race(wide, [(queue.next_fn, {"actor": me})])[0][0] == "ok"
    assert race(wide, [(queue.next_fn, {"actor": me})]) == [
        ("refused", ("Conflict", "trust.error.cap_reached"))]
    assert queue.open_per_person(wide) == {me.id: 7}


def test_one_reviewer_pressing_next_case_many_times_at_once_stops_at_the_cap(
        wide, make_actor, queue, review_cap):
    review_cap(7)
    me = make_actor("ops")
    queue.fill(wide, 2 * PEOPLE)
    for _ in range(ROUNDS):
        results = race(wide, [(queue.next_fn, {"actor": me})] * PEOPLE)
        assert Counter(status for status, _ in results) == {"ok": 7, "refused": PEOPLE - 7}
        assert {why for status, why in results if status == "refused"} == {
            ("Conflict", "trust.error.cap_reached")}
        assert queue.open_per_person(wide) == {me.id: 7}
        queue.reset(wide)


def test_auto_assign_and_next_case_racing_each_other_keep_the_cap(
        wide, make_actor, queue, review_cap):
    review_cap(5)
    people = [make_actor("ops") for _ in range(PEOPLE // 2)]
    queue.fill(wide, PEOPLE * 5)
    for _ in range(ROUNDS):
        calls = [(queue.auto_fn, {"actor": p}) for p in people]
        calls += [(queue.next_fn, {"actor": p}) for p in people]
        results = race(wide, calls)
        assert not [r for r in results if r[0] == "crash"], results
        assert queue.open_per_person(wide) == {p.id: 5 for p in people}
        queue.reset(wide)


def test_twenty_people_pressing_next_at_once_never_exceed_the_cap(fresh_db, engine, make_actor,
                                                                  queue, review_cap):
    """Each of twenty people already holds all but one of the cap and presses "next" three
    times at once: each ends holding exactly the cap, and every other press is refused with
    how many they hold."""
    cap = 4
    review_cap(cap)
    people = [make_actor("ops") for _ in range(PEOPLE)]
    queue.fill(engine, PEOPLE * (cap + 3))
    with wide_engine(fresh_db, 3 * PEOPLE) as wide:
        for p in people:  # all but one of the cap each, one at a time
            for _ in range(cap - 1):
                assert race(wide, [(queue.next_fn, {"actor": p})])[0][0] == "ok"
        results = race(wide, [(queue.next_fn, {"actor": p}) for p in people for _ in range(3)])
    assert not [r for r in results if r[0] == "crash"], results
    assert Counter(status for status, _ in results) == {"ok": PEOPLE, "refused": 2 * PEOPLE}
    assert {why for status, why in results if status == "refused"} == {
        ("Conflict", "trust.error.cap_reached")}
    assert queue.open_per_person(engine) == {p.id: cap for p in people}


def test_next_says_how_many_the_person_holds_after_the_cap_was_lowered(
        engine, make_actor, queue, review_cap):
    from console import db
    from console.errors import Conflict
    from console.i18n import translate
    review_cap(6)
    me = make_actor("ops")
    queue.fill(engine, 10)
    for _ in range(6):
        with db.transaction() as conn:
            queue.next_fn(conn=conn, actor=me)
    review_cap(4)   # the deployment lowers the cap: I hold more than it now
    with pytest.raises(Conflict) as err, db.transaction() as conn:
        queue.next_fn(conn=conn, actor=me)
    assert (err.value.key, err.value.params) == ("trust.error.cap_reached", {"held": 6, "cap": 4})
    assert translate(err.value.key, "zh", **err.value.params) == \
        "你手上还有 6 项未完成的审核，已达到每人 4 项的上限。请先处理完手上的再领取新的。"
    assert translate(err.value.key, "en", **err.value.params) == \
        "You still hold 6 unfinished reviews; the cap is 4 per person. Finish some before taking more."
    assert queue.open_per_person(engine) == {me.id: 6}
