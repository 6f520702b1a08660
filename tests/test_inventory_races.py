"""Twenty people acting on one stock car at once (console/inventory/sales.py, prices.py): the
car is locked at the form's version, so exactly one sale, one reservation, one price change
lands; the others are told the form is stale; one audit row, one listing sold."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console.inventory import prices, sales
from tests import inv_rows as inv
from tests.races import race, wide_engine


@pytest.fixture
def w(engine):
    w = inv.world(engine)
    w["A"] = inv.car(engine, w, cost="200000", days=45, asking="206000", floor="200000")
    return w


def counts(engine, action: str) -> tuple:
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM ops.audit_log WHERE action = :a),
                   (SELECT count(*) FROM inv.price_changes),
                   (SELECT count(*) FROM app.listings WHERE status = 'sold')"""),
                            {"a": action}).one()


def car(engine, car_id: int):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM inv.stock_cars WHERE id = :id"),
                            {"id": car_id}).mappings().one()


def settle(results):
    assert [r for r in results if r[0] == "crash"] == []
    winners = [i for i, r in enumerate(results) if r[0] == "ok"]
    assert len(winners) == 1
    assert {r[1] for r in results if r[0] == "refused"} == {("Conflict", "error.stale")}
    return winners[0]


def test_twenty_sales_of_one_car_at_once_sell_it_once(engine, fresh_db, w, make_actor):
    people = [make_actor("ops"), make_actor("manager")]
    buyers = [w["buyer"], w["buyer2"]]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(sales.sell, {
            "actor": people[i % 2], "stock_car_id": w["A"], "version": 1,
            "merchant_id": buyers[i % 2], "sold_price": str(205000 + i)}) for i in range(20)])
    won = settle(results)
    row = car(engine, w["A"])
    assert (row["status"], row["sold_to"], row["sold_price"], row["version"]) == (
        "sold", buyers[won % 2], D(205000 + won), 2)
    assert counts(engine, "stock_car.sell") == (1, 0, 1)


def test_twenty_reservations_for_different_buyers_hold_it_for_one(engine, fresh_db, w, make_actor):
    ops = make_actor("ops")
    buyers = [w["buyer"], w["buyer2"]]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(sales.reserve, {
            "actor": ops, "stock_car_id": w["A"], "version": 1, "merchant_id": buyers[i % 2]})
            for i in range(20)])
    won = settle(results)
    row = car(engine, w["A"])
    assert (row["status"], row["reserved_for"], row["version"]) == ("reserved", buyers[won % 2], 2)
    assert counts(engine, "stock_car.reserve")[0] == 1


def test_a_sale_and_a_reservation_racing_one_form_land_once(engine, fresh_db, w, make_actor):
    ops, ops2 = make_actor("ops"), make_actor("ops")
    calls = []
    for i in range(10):
        calls.append((sales.sell, {"actor": ops, "stock_car_id": w["A"], "version": 1,
                                   "merchant_id": w["buyer"], "sold_price": "205000"}))
        calls.append((sales.reserve, {"actor": ops2, "stock_car_id": w["A"], "version": 1,
                                      "merchant_id": w["buyer2"]}))
        if i < 3:
            calls.append((prices.change_prices, {
                "actor": ops2, "stock_car_id": w["A"], "version": 1, "asking_price": "203900",
                "floor_price": "200000", "reason": "调价"}))
    with wide_engine(fresh_db, len(calls)) as wide:
        results = race(wide, calls)
    settle(results)
    assert car(engine, w["A"])["version"] == 2
