"""Incremental work never misses a late commit (issue 13).

A marketplace writer opens a transaction before the scheduled jobs run, changes a listing's
price and another's status, completes an order, records a payment and an event, and commits
only after the run. Meanwhile other writers commit newer changes, so the run sees changes
later than the writer's. The next scheduled run must still bring the marts and the match
suggestions to what a full rebuild computes. Also: the database keeps updated_at whatever a
writer supplies, and the change horizon holds back to the oldest open writer.
"""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

import etl
from console import jobs
from etl.horizon import change_horizon
from tests.test_etl import MARTS, snapshot


def q(engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).all()


@pytest.fixture
def writer_role(request):
    """A marketplace role: writes app and ops, owns nothing (the trigger's rules apply), and
    cannot read other roles' activity. Granted on the test's database (demo or empty)."""
    engine = request.getfixturevalue(
        "demo_engine" if "demo_engine" in request.fixturenames else "engine")
    name = f"lc_writer_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} NOLOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA app, ops TO {name}")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA app, ops TO {name}")
        conn.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA app, ops TO {name}")
        conn.exec_driver_sql(f"GRANT EXECUTE ON ALL ROUTINES IN SCHEMA app, ops TO {name}")
    yield name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {name}")
        conn.exec_driver_sql(f"DROP ROLE {name}")


def suggestions(engine) -> list[tuple]:
    # Scores carry the listing's age at the run's clock; the lists themselves must agree.
    return [tuple(r) for r in q(engine, """SELECT request_id, rank, listing_id
                                           FROM ops.match_suggestions ORDER BY 1, 2""")]


def scheduled_run(engine) -> None:
    """What cron runs (python -m console jobs, incremental): its matching step (idle leads,
    the incremental rematch, best offers) and its ETL step. Not the credit scoring: a new
    grade changes every suggestion of the seller's listings, which no incremental rematch
    follows (another issue's work); the rest of the jobs do not touch these tables."""
    for name, step in jobs.steps(full=False):
        if name in ("matching", "etl"):
            step(engine)


def pick_targets(engine) -> dict[str, int]:
    """A listing some request holds in its top K (to be sold), a live listing that is no
    request's suggestion but would be one if cheaper, an open order, a merchant."""
    held = q(engine, """SELECT s.listing_id FROM ops.match_suggestions s
                        JOIN app.listings l ON l.id = s.listing_id
                        WHERE s.rank = 1 ORDER BY s.listing_id LIMIT 1""")[0][0]
    cheaper = q(engine, """
        SELECT l.id FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
        JOIN app.requests r ON r.status = 'open' AND r.mode = 'normal'
             AND (r.trim_id = l.trim_id OR (r.trim_id IS NULL AND r.series_id = t.series_id))
        WHERE l.status = 'live' AND l.id <> :held AND l.merchant_id <> r.merchant_id
          AND l.quantity >= r.quantity AND l.available_from <= r.needed_by
          AND (cardinality(r.accepted_colors) = 0 OR l.exterior_color = ANY(r.accepted_colors))
          AND l.price > r.max_price AND l.guide_price * 0.8 <= r.max_price
          AND NOT EXISTS (SELECT 1 FROM ops.match_suggestions s WHERE s.listing_id = l.id)
        ORDER BY l.id LIMIT 1""", held=held)[0][0]
    order = q(engine, """SELECT id FROM app.orders WHERE status = 'deposit_paid'
                         ORDER BY id LIMIT 1""")[0][0]
    merchant = q(engine, "SELECT buyer_id FROM app.orders WHERE id = :o", o=order)[0][0]
    bystander = q(engine, """SELECT id FROM app.listings WHERE status = 'live'
                             AND id NOT IN (:a, :b) ORDER BY id DESC LIMIT 1""",
                  a=held, b=cheaper)[0][0]
    return {"held": held, "cheaper": cheaper, "order": order, "merchant": merchant,
            "bystander": bystander}


def late_writer(engine, role: str, t: dict[str, int]):
    """Open the writer's transaction, write as the marketplace does, leave it open."""
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
    run = lambda sql, **p: conn.execute(sa.text(sql), p)  # noqa: E731
    run("UPDATE app.listings SET status = 'sold', updated_at = now() WHERE id = :id", id=t["held"])
    run("""UPDATE app.listings l SET price = least(l.price, (
               SELECT min(r.max_price) FROM app.requests r JOIN app.trims tr ON tr.id = l.trim_id
               WHERE r.status = 'open' AND r.mode = 'normal' AND r.max_price >= l.guide_price * 0.8
                 AND (r.trim_id = l.trim_id OR (r.trim_id IS NULL AND r.series_id = tr.series_id)))),
               updated_at = now()
           WHERE l.id = :id""", id=t["cheaper"])
    run("""UPDATE app.orders SET status = 'completed', escrow_state = 'released',
               completed_at = now(), updated_at = now() WHERE id = :id""", id=t["order"])
    run("""INSERT INTO app.payments (order_id, kind, channel, amount, status, paid_at, created_at)
           SELECT id, 'balance', 'bank', amount - deposit_amount, 'succeeded', now(), now()
           FROM app.orders WHERE id = :id""", id=t["order"])
    run("""INSERT INTO app.events (merchant_id, event_type, entity_id, occurred_at)
           VALUES (:m, 'deal_completed', :o, now())""", m=t["merchant"], o=t["order"])
    return conn


def bystander_commits(engine, t: dict[str, int]) -> None:
    """Other marketplace traffic, committed after the late writer wrote: the run sees newer
    changes of the same tables than the late writer's."""
    time.sleep(0.05)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET price = price - 100, updated_at = now() WHERE id = :id"),
                     {"id": t["bystander"]})
        conn.execute(sa.text("""INSERT INTO app.events (merchant_id, event_type, occurred_at)
                                VALUES (:m, 'login', now())"""), {"m": t["merchant"]})
        conn.execute(sa.text("""INSERT INTO app.payments (order_id, kind, channel, amount, status, paid_at, created_at)
                                VALUES (:o, 'fee', 'wechat', 1, 'succeeded', now(), now())"""),
                     {"o": t["order"]})


def test_a_transaction_open_across_the_scheduled_run_is_read_by_the_next_run(demo_engine, writer_role):
    engine = demo_engine
    scheduled_run(engine)                      # the marts and suggestions are current
    t = pick_targets(engine)
    writer = late_writer(engine, writer_role, t)
    try:
        bystander_commits(engine, t)
        scheduled_run(engine)                  # runs while the writer's transaction is open
    finally:
        writer.commit()
        writer.close()
    scheduled_run(engine)                      # the next run must read the writer's rows
    incremental_marts, incremental_suggestions = snapshot(engine), suggestions(engine)

    results = etl.run_all(engine=engine, full=True)
    assert all(r.status == "succeeded" for r in results), results
    dict(jobs.steps(full=True))["matching"](engine)     # the weekly full rematch
    full_marts = snapshot(engine)
    differ = [m for m in MARTS if incremental_marts[m] != full_marts[m]]
    assert differ == []
    assert t["held"] not in {s[2] for s in incremental_suggestions}   # sold: out of every list
    assert incremental_suggestions == suggestions(engine)


# ---------------------------------------------------------------- the trigger
def test_the_database_keeps_updated_at_whatever_a_writer_supplies(engine, writer_role):
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO app.cities (id, name, short_name, adcode, province, tier_level, tier_name, longitude, latitude)
            VALUES (1, '上海市', '上海', '310000', '上海', 1, '一线', 121.47, 31.23);
            INSERT INTO app.merchants (id, name, merchant_type, city_id, channel, registered_at, phone, updated_at)
            VALUES (1, '沪上4S', '4s', 1, 'bd_visit', '2025-01-05 10:00+08', '13800000001', '2025-01-05 10:00+08')"""))
    # The owner (here the superuser) loads history: its backdated value stays.
    assert q(engine, "SELECT updated_at::text FROM app.merchants WHERE id = 1") == [("2025-01-05 10:00:00+08",)]

    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL ROLE {writer_role}")
        started = conn.execute(sa.text("SELECT now()")).scalar_one()
        time.sleep(0.2)
        conn.execute(sa.text("""
            INSERT INTO app.merchants (id, name, merchant_type, city_id, channel, registered_at, phone, updated_at)
            VALUES (2, '洛阳二网', 'secondary', 1, 'organic', '2025-01-20 10:00+08', '13800000002', '2020-01-01 00:00+08')"""))
        conn.execute(sa.text("UPDATE app.merchants SET name = '沪上4S店', updated_at = '2020-01-01' WHERE id = 1"))
        conn.execute(sa.text("""INSERT INTO app.events (merchant_id, event_type, occurred_at, updated_at)
                                VALUES (2, 'login', now(), '2020-01-01')"""))
        stamped = conn.execute(sa.text("""
            SELECT (SELECT updated_at FROM app.merchants WHERE id = 1),
                   (SELECT updated_at FROM app.merchants WHERE id = 2),
                   (SELECT updated_at FROM app.events), clock_timestamp()""")).one()
    # The statement's time, not the transaction's start, and never the writer's value.
    for value in stamped[:3]:
        assert started + timedelta(seconds=0.2) <= value <= stamped[3]

    with engine.begin() as conn:    # an update that leaves updated_at alone moves it too
        conn.exec_driver_sql(f"SET LOCAL ROLE {writer_role}")
        conn.execute(sa.text("UPDATE app.merchants SET vip_level = 1 WHERE id = 2"))
    assert q(engine, "SELECT updated_at > :t FROM app.merchants WHERE id = 2", t=stamped[1]) == [(True,)]


# ---------------------------------------------------------------- the horizon
def test_the_horizon_holds_back_to_the_oldest_open_writer(engine, writer_role):
    with engine.connect() as reader, reader.begin():
        before = reader.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        alone = change_horizon(reader)
        after = reader.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        assert before <= alone <= after          # nobody writing: the run's own clock

    writer = engine.connect()
    writer.begin()
    reader_tx = None
    try:
        writer.execute(sa.text("INSERT INTO app.cities (id, name, short_name, adcode, province, tier_level, tier_name, longitude, latitude) VALUES (9, 'x', 'x', '999999', 'x', 6, '五线', 100, 30)"))
        opened = writer.execute(sa.text("SELECT now()")).scalar_one()
        idle = engine.connect()                # a transaction that has not written holds nothing
        idle.begin()
        idle.execute(sa.text("SELECT 1"))
        time.sleep(0.1)
        with engine.connect() as reader, reader.begin():
            assert change_horizon(reader) == opened
        # A role that cannot see the writer's start (no pg_read_all_stats) gets no horizon:
        # its caller keeps the previous watermark.
        with engine.connect() as reader:
            reader_tx = reader.begin()
            reader.exec_driver_sql(f"SET LOCAL ROLE {writer_role}")
            assert change_horizon(reader) is None
            reader_tx.rollback()
        idle.rollback()
        idle.close()
    finally:
        writer.rollback()
        writer.close()
