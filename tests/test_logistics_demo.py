"""The demo's logistics desk (console/demo/logistics.py) on the seeded small demo: carriers
from the real city list with believable prices, requests in every state that follow the
desk's rules (booked quote = cost, price = cost × (1 + margin share), loads within capacity,
claims within cover, ratings on deliveries, handovers on the timeline), and carriers' scores
that differ."""
from __future__ import annotations

from decimal import Decimal as D

import sqlalchemy as sa

from console.logistics import pricing, scores


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).one()


def test_carriers_lanes_and_rates_are_believable(demo_engine):
    assert one(demo_engine, """SELECT count(*), count(*) FILTER (WHERE status = 'active')
                               FROM lgx.carriers""") == (20, 19)
    # every lane joins provinces of the real city list, both ways
    assert one(demo_engine, """
        SELECT count(*) FROM lgx.carrier_lanes l
        WHERE NOT EXISTS (SELECT 1 FROM app.cities c WHERE c.province = l.from_province)
           OR NOT EXISTS (SELECT 1 FROM app.cities c WHERE c.province = l.to_province)
           OR NOT EXISTS (SELECT 1 FROM lgx.carrier_lanes b WHERE b.carrier_id = l.carrier_id
                          AND b.from_province = l.to_province AND b.to_province = l.from_province)
    """)[0] == 0
    # long haul on a large carrier: 1-2 yuan per car-km; a single-car truck several times that
    large = rows(demo_engine, """SELECT yuan_per_car_km AS r FROM lgx.carrier_rates
                                 WHERE truck_type = 'large' AND band_from_km >= 1000""")
    single = rows(demo_engine, """SELECT yuan_per_car_km AS r FROM lgx.carrier_rates
                                  WHERE truck_type = 'single' AND band_from_km >= 1000""")
    assert large and single
    assert all(D("1") <= r["r"] <= D("2") for r in large)
    assert min(r["r"] for r in single) >= 3 * max(r["r"] for r in large) * D("0.75")


def test_requests_in_every_state_follow_the_desks_rules(demo_engine):
    states = {r["status"]: r["n"] for r in rows(demo_engine, """
        SELECT status, count(*) AS n FROM lgx.requests GROUP BY status""")}
    assert set(states) == {"awaiting_quote", "quoted", "ordered", "picked_up", "in_transit",
                           "arrived", "delivered", "exception", "cancelled"}, states
    # 160 shipments at the small scale, a fifth of them 2-3 requests travelling together
    assert 160 < sum(states.values()) < 2 * 160
    # the desk's today: at least as many open requests at each stage as console/demo sets
    least = {"awaiting_quote": 3, "quoted": 2, "ordered": 2, "picked_up": 1, "in_transit": 2,
             "arrived": 1, "exception": 1}
    assert {s: n for s, n in least.items() if states[s] < n} == {}, states
    share = pricing.margin_share()
    booked = rows(demo_engine, """
        SELECT r.cost_from_carrier, r.price_to_merchant, q.total, q.carrier_id, r.carrier_id AS rc,
               q.truck_type, r.truck_type AS rt, q.distance_km
        FROM lgx.requests r JOIN lgx.quotes q ON q.id = r.quote_id""")
    assert booked
    for b in booked:
        assert (b["cost_from_carrier"], b["carrier_id"], b["truck_type"]) == (
            b["total"], b["rc"], b["rt"])
        assert b["price_to_merchant"] == pricing.fen(b["cost_from_carrier"] * (1 + share))
    assert one(demo_engine, """SELECT count(*) FROM lgx.requests
                               WHERE carrier_id IS NOT NULL AND quote_id IS NULL""")[0] == 0
    # loads: within capacity, cars_booked the sum of their requests' cars, one carrier
    for load in rows(demo_engine, """
            SELECT l.capacity, l.cars_booked, sum(r.cars) AS cars, count(*) AS n,
                   bool_and(r.carrier_id = l.carrier_id) AS same_carrier
            FROM lgx.loads l JOIN lgx.requests r ON r.load_id = l.id GROUP BY l.id"""):
        assert load["cars_booked"] == load["cars"] <= load["capacity"]
        assert load["n"] >= 2 and load["same_carrier"]
    assert one(demo_engine, "SELECT count(*) FROM lgx.loads")[0] > 0
    # every delivery has its handover on the timeline; every request its 'created' event
    assert one(demo_engine, """
        SELECT count(*) FROM lgx.requests r WHERE r.status = 'delivered' AND NOT EXISTS (
            SELECT 1 FROM lgx.request_events e WHERE e.request_id = r.id
            AND e.to_status = 'delivered' AND e.handover_receiver IS NOT NULL)""")[0] == 0
    assert one(demo_engine, """
        SELECT count(*) FROM lgx.requests r WHERE NOT EXISTS (
            SELECT 1 FROM lgx.request_events e WHERE e.request_id = r.id
            AND e.kind = 'created')""")[0] == 0
    # claims within cover on carried requests; ratings on deliveries, by the carrier
    assert one(demo_engine, """
        SELECT count(*) FROM lgx.claims c JOIN lgx.requests r ON r.id = c.request_id
        JOIN lgx.carriers k ON k.id = c.carrier_id
        WHERE c.cover <> k.cover_per_car * r.cars OR c.amount > c.cover
           OR c.carrier_id <> r.carrier_id""")[0] == 0
    assert one(demo_engine, """
        SELECT count(*) FROM lgx.ratings g JOIN lgx.requests r ON r.id = g.request_id
        WHERE r.status <> 'delivered' OR g.carrier_id <> r.carrier_id
           OR g.merchant_id <> r.merchant_id""")[0] == 0
    assert one(demo_engine, "SELECT count(*) FROM lgx.ratings")[0] > 20


def test_the_carriers_scores_differ(demo_engine):
    with demo_engine.connect() as conn:
        got = scores.carrier_scores(conn)
    scored = sorted(s.score for s in got.values() if s.score is not None)
    assert len(scored) >= 10
    assert scored[-1] - scored[0] >= 5
