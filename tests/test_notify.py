"""New-match notifications: quiet hours, the per-merchant daily cap, no duplicates."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from console import clock
from console.match_policy import MatchPolicy
from console.services import notify
from tests.test_matching_support import build_world

SH = ZoneInfo("Asia/Shanghai")
POLICY = MatchPolicy(notify_daily_cap=3)


@pytest.fixture
def world(engine):
    return build_world(engine)


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize("now, expected", [
    (shanghai(10, 21, 59), shanghai(10, 21, 59)),
    (shanghai(10, 22, 0), shanghai(11, 8, 0)),
    (shanghai(10, 23, 30), shanghai(11, 8, 0)),
    (shanghai(11, 7, 59), shanghai(11, 8, 0)),
    (shanghai(11, 8, 0), shanghai(11, 8, 0)),
])
def test_delivery_time_skips_quiet_hours(now, expected):
    assert notify.delivery_time(now, POLICY) == expected


def notices(buyer: int, n: int, start: int = 0) -> list[notify.Notice]:
    return [notify.Notice(buyer, f"match:{i}:1:buyer", {"request_id": i}) for i in range(start, start + n)]


def outbox(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            """SELECT dedupe_key, status, send_after FROM app.notification_outbox ORDER BY id"""))]


def enqueue(engine, items, now):
    with engine.begin() as conn:
        return notify.enqueue(conn=conn, notices=items, now=now, policy=POLICY)


def test_daily_cap_holds_back_the_rest(engine, world, make_actor, monkeypatch):
    buyer, other = world.merchant(), world.merchant()
    now = shanghai(10, 10)
    result = enqueue(engine, notices(buyer, 5) + notices(other, 1, start=100), now)
    assert result == notify.EnqueueResult(queued=4, deferred=0, held=2, duplicates=0)
    statuses = {k: s for k, s, _ in outbox(engine)}
    assert [statuses[f"match:{i}:1:buyer"] for i in range(5)] == ["queued"] * 3 + ["held"] * 2
    assert statuses["match:100:1:buyer"] == "queued"
    later = enqueue(engine, notices(buyer, 1, start=10), shanghai(10, 18))   # same day: still capped
    assert later.held == 1
    monkeypatch.setattr(clock, "now", lambda: shanghai(10, 19))   # the page, that evening
    with engine.connect() as conn:
        summary = notify.held_back_summary(conn=conn, actor=make_actor("bd"))
    assert summary == notify.HeldBack(held_today=3, waiting_quiet=0)


def test_next_day_has_a_fresh_allowance(engine, world):
    buyer = world.merchant()
    enqueue(engine, notices(buyer, 3), shanghai(10, 10))
    result = enqueue(engine, notices(buyer, 1, start=5), shanghai(11, 9))
    assert result.queued == 1 and result.held == 0


def test_quiet_hours_defer_and_count_against_the_delivery_day(engine, world, make_actor,
                                                              monkeypatch):
    buyer = world.merchant()
    night = enqueue(engine, notices(buyer, 2), shanghai(10, 23))
    assert night == notify.EnqueueResult(queued=0, deferred=2, held=0, duplicates=0)
    assert {s for _, _, s in outbox(engine)} == {shanghai(11, 8)}
    monkeypatch.setattr(clock, "now", lambda: shanghai(10, 23, 30))
    with engine.connect() as conn:
        summary = notify.held_back_summary(conn=conn, actor=make_actor("bd"))
    assert summary.waiting_quiet == 2
    morning = enqueue(engine, notices(buyer, 2, start=10), shanghai(11, 9))
    assert (morning.queued, morning.held) == (1, 1)     # 2 deferred + 1 = the cap of 3


def test_same_match_is_never_notified_twice(engine, world):
    buyer = world.merchant()
    first = enqueue(engine, notices(buyer, 1) * 2, shanghai(10, 10))   # twice in one call
    again = enqueue(engine, notices(buyer, 1), shanghai(10, 11))
    assert (first.queued, first.duplicates) == (1, 1)
    assert (again.queued, again.duplicates) == (0, 1)
    assert len(outbox(engine)) == 1


def test_manual_match_notifies_buyer_and_seller(engine, world, make_actor):
    from console.services import deals
    buyer, seller = world.merchant(), world.merchant()
    listing = world.listing(merchant_id=seller)
    req = world.request(merchant_id=buyer)
    with engine.begin() as conn:
        deals.create_match(conn=conn, actor=make_actor("bd"), request_id=req, listing_id=listing)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT merchant_id, dedupe_key FROM app.notification_outbox ORDER BY merchant_id")).all()
    assert [tuple(r) for r in rows] == [(buyer, f"match:{req}:{listing}:buyer"),
                                        (seller, f"match:{req}:{listing}:seller")]


def test_ten_concurrent_enqueues_queue_exactly_the_cap(engine, fresh_db, world):
    """Ten new matches for one merchant committed at once: 3 queued, 7 held, every time.
    Without the per-merchant lock each transaction counts the day before the others commit."""
    from tests.races import race, wide_engine

    with wide_engine(fresh_db, 10) as wide:
        for round_ in range(5):
            buyer, now = world.merchant(), shanghai(10, 10)
            results = race(wide, [(notify.enqueue, {"notices": notices(buyer, 1,
                                                                       start=100 * round_ + i),
                                                    "now": now, "policy": POLICY})
                                  for i in range(10)])
            assert Counter(results) == {
                ("ok", notify.EnqueueResult(queued=1, deferred=0, held=0, duplicates=0)): 3,
                ("ok", notify.EnqueueResult(queued=0, deferred=0, held=1, duplicates=0)): 7}
            with wide.connect() as conn:
                counts = dict(conn.execute(sa.text(
                    """SELECT status, count(*) FROM app.notification_outbox
                       WHERE merchant_id = :m GROUP BY status"""), {"m": buyer}).all())
            assert counts == {"queued": 3, "held": 7}
