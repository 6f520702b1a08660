"""Car-carrier loads (console/logistics/loads.py) on real PostgreSQL: the day's proposals and
their savings per car worked out by hand, confirming a proposal, booking under the load's and
the request's row locks — capacity never exceeded, bad bookings refused with nothing changed
— and 20 threads: twenty bookings on a load of eight, one request onto twenty loads at once.

Hand figures (tests/test_logistics_pricing.py): road km 上海→成都 2,076, 苏州→成都 1,970,
上海→绵阳 1,992; straight km 上海–苏州 84.72, 成都–绵阳 115.32, 上海–杭州 162.94 (> 150: not
nearby).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import Conflict, PermissionDenied
from console.logistics import loads
from tests import lgx_quote_rows as qr
from tests import lgx_rows as lx
from tests import trust_rows as rows
from tests.races import race, wide_engine

A_RATES = [("large", 2000, None, "1.2", "0"), ("large", 1000, 2000, "1.5", "0"),
           ("small", 2000, None, "2.0", "0"), ("small", 1000, 2000, "2.5", "0"),
           ("single", 2000, None, "4.0", "0")]


@pytest.fixture
def w(engine):
    c = qr.cities(engine, "上海", "苏州", "杭州", "成都", "绵阳")
    a = qr.carrier(engine, name="川沪物流", lanes=[("上海市", "四川省"), ("江苏省", "四川省")],
                   rates=A_RATES)
    b = qr.carrier(engine, name="沪蓉快线", lanes=[("上海市", "四川省")],
                   rates=[("large", 2000, None, "1.3", "0"), ("small", 2000, None, "1.8", "0")],
                   truck_types=("large", "small"))
    merchant, trim = rows.merchant(engine, city_id=c["上海"]), rows.trim(engine)
    rows.listing(engine, merchant_id=merchant, trim_id=trim, city_id=c["上海"])
    world = {"merchant": merchant, "trim": trim, "from": c["上海"], "to": c["成都"]}
    return {**c, "A": a, "B": b, "world": world, "day": clock.today() + timedelta(days=1)}


def _req(engine, w, frm, to, cars=1, status="awaiting_quote", ready=None, **kw):
    """A request the merchant submits (console/logistics/requests.py); an ordered one, which
    only a booking makes, inserted as the booking leaves it (tests/lgx_rows.py)."""
    if status == "awaiting_quote" and not kw:
        return qr.submitted(engine, merchant_id=w["world"]["merchant"],
                            trim_id=w["world"]["trim"], from_city_id=w[frm], to_city_id=w[to],
                            cars=cars, ready=ready or clock.today(),
                            wanted_by=clock.today() + timedelta(days=10))
    return lx.request(engine, w["world"], status=status, cars=cars, from_city=w[frm],
                      to_city=w[to], ready=ready or clock.today(),
                      wanted_by=clock.today() + timedelta(days=10), **kw)


def _one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).one()


def _proposals(console_engine, actor, day):
    with console_engine.connect() as conn:
        return loads.proposals(conn=conn, actor=actor, day=day)


def _shape(p):
    return [(m.request_id, m.cars, m.distance_km, m.separately, m.together) for m in p.members]


@pytest.fixture
def four(engine, w):
    """r1 上海→成都 1 car, r2 苏州→成都 2, r3 上海→绵阳 1, r4 杭州→成都 1 (not nearby),
    r5 上海→成都 ready after the day, r6 上海→成都 ordered from 沪蓉快线 at 3,000."""
    r = {"r1": _req(engine, w, "上海", "成都"), "r2": _req(engine, w, "苏州", "成都", cars=2),
         "r3": _req(engine, w, "上海", "绵阳"), "r4": _req(engine, w, "杭州", "成都"),
         "r5": _req(engine, w, "上海", "成都", ready=w["day"] + timedelta(days=3))}
    r["r6"] = _req(engine, w, "上海", "成都", status="ordered", carrier_id=w["B"], cost=3000,
                   price=3240)
    return r


# ---------------------------------------------------------------- proposals
def test_requests_on_nearby_lanes_leaving_the_same_day_make_one_proposal(
        engine, console_engine, w, four, make_actor):
    [p] = _proposals(console_engine, make_actor("ops"), w["day"])
    r = four
    # seed r1; its carrier: the cheapest large truck on 上海市 → 四川省 at 2,076 km:
    # 川沪物流 2,076 × 1.2 = 2,491.20 (沪蓉快线 × 1.3 = 2,698.80)
    assert (p.carrier, p.from_city, p.to_city, p.depart_date, p.capacity) == (
        "川沪物流", "上海", "成都", w["day"], 8)
    # separately (small or single truck, the cheapest carrier on the lane):
    #   r1 沪蓉快线 small 2,076 × 1.8 = 3,736.80;
    #   r2 川沪物流 small 1,970 × 2.5 = 4,925.00 × 2 cars = 9,850.00 (only it serves 江苏省);
    #   r3 川沪物流 small 1,992 × 2.5 = 4,980.00 (沪蓉快线 has no price under 2,000 km)
    # together on 川沪物流's large truck: 2,491.20; 1,970 × 1.5 × 2 = 5,910.00; 1,992 × 1.5 = 2,988.00
    # nearest first: r2 (84.72 km off) before r3 (115.32). Not in: r4 (杭州 is 162.94 km from
    # 上海), r5 (not ready on the day), r6 (ordered from another carrier).
    assert _shape(p) == [
        (r["r1"], 1, 2076, D("3736.80"), D("2491.20")),
        (r["r2"], 2, 1970, D("9850.00"), D("5910.00")),
        (r["r3"], 1, 1992, D("4980.00"), D("2988.00"))]
    # (18,566.80 − 11,389.20) / 4 cars = 7,177.60 / 4 = 1,794.40 a car
    assert (p.cars, p.separately, p.together, p.saving_per_car) == (
        4, D("18566.80"), D("11389.20"), D("1794.40"))


def test_an_ordered_request_of_the_load_carrier_joins_at_its_agreed_price(
        engine, console_engine, w, make_actor):
    r1 = _req(engine, w, "上海", "成都")
    r2 = _req(engine, w, "苏州", "成都", cars=2)
    r6 = _req(engine, w, "上海", "成都", status="ordered", carrier_id=w["A"], cost=2600,
              price=2808, ready=clock.today() - timedelta(days=1))
    [p] = _proposals(console_engine, make_actor("manager"), w["day"])
    # r6 was ready first, so it seeds, with its own carrier; r1 (0 km off) then r2
    assert _shape(p) == [(r6, 1, 2076, D("2600.00"), D("2600.00")),
                         (r1, 1, 2076, D("3736.80"), D("2491.20")),
                         (r2, 2, 1970, D("9850.00"), D("5910.00"))]
    # (16,186.80 − 11,001.20) / 4 = 5,185.60 / 4 = 1,296.40
    assert p.saving_per_car == D("1296.40")


def test_a_proposal_stops_at_the_capacity(engine, console_engine, w, four, make_actor,
                                          settings_env):
    settings_env(CONSOLE_LOGISTICS_CAPACITY_LARGE=3)
    [p] = _proposals(console_engine, make_actor("ops"), w["day"])
    # r1 (1) + r2 (2) fill 3 places; r3 waits; alone it proposes nothing
    assert [m.request_id for m in p.members] == [four["r1"], four["r2"]]
    # (3,736.80 + 9,850.00 − 2,491.20 − 5,910.00) / 3 = 5,185.60 / 3 = 1,728.53
    assert (p.capacity, p.cars, p.saving_per_car) == (3, 3, D("1728.53"))


def test_no_proposal_for_a_day_nobody_can_leave(engine, console_engine, w, four, make_actor):
    assert _proposals(console_engine, make_actor("ops"), clock.today() + timedelta(days=30)) == []
    with console_engine.connect() as conn, pytest.raises(PermissionDenied):
        loads.proposals(conn=conn, actor=make_actor("bd"), day=w["day"])


# ---------------------------------------------------------------- confirming, booking
def _confirm(console_engine, actor, w, ids, versions=None, carrier=None, frm="上海", to="成都"):
    with console_engine.begin() as conn:
        return loads.confirm_load(conn=conn, actor=actor, carrier_id=carrier or w["A"],
                                  from_city_id=w[frm], to_city_id=w[to], depart_date=w["day"],
                                  request_ids=tuple(ids),
                                  versions=tuple(versions or [1] * len(ids)))


def _state(engine, load_id, *request_ids):
    with engine.connect() as conn:
        load = conn.execute(sa.text("SELECT cars_booked, version FROM lgx.loads WHERE id = :l"),
                            {"l": load_id}).one()
        reqs = [tuple(r) for r in conn.execute(sa.text("""
            SELECT id, status, load_id, carrier_id, cost_from_carrier, price_to_merchant, version
            FROM lgx.requests WHERE id = ANY(:ids) ORDER BY id"""), {"ids": list(request_ids)})]
        quotes = conn.execute(sa.text("SELECT count(*) FROM lgx.quotes")).scalar()
        loads_n = conn.execute(sa.text("SELECT count(*) FROM lgx.loads")).scalar()
    return tuple(load), reqs, quotes, loads_n


def test_confirming_a_proposal_books_its_requests_at_the_load_carriers_price(
        engine, console_engine, w, four, make_actor):
    ops = make_actor("ops")
    [p] = _proposals(console_engine, ops, w["day"])
    load_id = _confirm(console_engine, ops, w, [m.request_id for m in p.members],
                       [m.version for m in p.members])
    (booked, _), reqs, _, _ = _state(engine, load_id, four["r1"], four["r2"], four["r3"])
    assert booked == 4
    # costs as the proposal's "together"; the merchant pays × 1.08
    assert reqs == [
        (four["r1"], "ordered", load_id, w["A"], D("2491.20"), D("2690.50"), 2),
        (four["r2"], "ordered", load_id, w["A"], D("5910.00"), D("6382.80"), 2),
        (four["r3"], "ordered", load_id, w["A"], D("2988.00"), D("3227.04"), 2)]
    with engine.connect() as conn:
        events = [tuple(e) for e in conn.execute(sa.text("""
            SELECT kind, from_status, to_status FROM lgx.request_events WHERE request_id = :r
            ORDER BY id"""), {"r": four["r1"]})]
        audit = conn.execute(sa.text("""SELECT count(*) FROM ops.audit_log
            WHERE action IN ('lgx.load.confirm', 'lgx.load.book')""")).scalar()
    assert events[1:] == [("status", "awaiting_quote", "quoted"),
                          ("status", "quoted", "ordered"), ("booked", None, None)]
    assert events[0][0] == "created"
    assert audit == 4
    # booked requests are proposed no more
    assert _proposals(console_engine, ops, w["day"]) == []
    with console_engine.connect() as conn:
        board = loads.open_loads(conn=conn, actor=ops)
        on_it = loads.load_bookings(conn=conn, actor=ops, load_id=load_id)
    assert board[["id", "carrier", "capacity", "cars_booked", "free", "requests"]].values.tolist() \
        == [[load_id, "川沪物流", 8, 4, 4, 3]]
    assert on_it["margin"].tolist() == [D("199.30"), D("472.80"), D("239.04")]


def test_bad_bookings_are_refused_and_change_nothing(engine, console_engine, w, four,
                                                     make_actor):
    ops = make_actor("ops")
    load_id = _confirm(console_engine, ops, w, [four["r1"], four["r2"], four["r3"]])
    five = _req(engine, w, "上海", "成都", cars=5)
    fresh = _req(engine, w, "上海", "成都")
    cases = [(five, 1, "lgx.loads.error.over_capacity"),       # 4 booked + 5 > 8
             (four["r4"], 1, "lgx.loads.error.off_the_way"),   # 杭州 is not near 上海
             (four["r5"], 1, "lgx.loads.error.dates"),         # not ready on the day
             (four["r6"], 1, "lgx.loads.error.ordered_elsewhere"),
             (four["r1"], 2, "lgx.loads.error.already_on_load"),
             (fresh, 7, "error.stale")]
    before = _state(engine, load_id, five, fresh, *four.values())
    for request_id, version, key in cases:
        with console_engine.begin() as conn, pytest.raises(Conflict) as err:
            loads.book_onto_load(conn=conn, actor=ops, load_id=load_id, request_id=request_id,
                                 version=version)
        assert err.value.key == key
    assert _state(engine, load_id, five, fresh, *four.values()) == before
    # a confirmation over the capacity (5 + 4 cars > 8) creates no load and books nothing
    six = _req(engine, w, "上海", "成都", cars=4)
    before = _state(engine, load_id, five, six)
    with pytest.raises(Conflict) as err:
        _confirm(console_engine, ops, w, [five, six])
    assert err.value.key == "lgx.loads.error.over_capacity"
    assert err.value.params == {"cars": 4, "free": 3, "capacity": 8}
    assert _state(engine, load_id, five, six) == before
    # a suspended carrier takes no load
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE lgx.carriers SET status = 'suspended' WHERE id = :c"),
                     {"c": w["A"]})
    before = _state(engine, load_id, fresh)
    with pytest.raises(Conflict) as err:
        _confirm(console_engine, ops, w, [fresh])
    assert err.value.key == "lgx.quotes.error.carrier_suspended"
    with console_engine.begin() as conn, pytest.raises(Conflict) as err:
        loads.book_onto_load(conn=conn, actor=ops, load_id=load_id, request_id=fresh, version=1)
    assert err.value.key == "lgx.quotes.error.carrier_suspended"
    assert _state(engine, load_id, fresh) == before


def test_taking_a_request_off_a_load_frees_its_places(engine, console_engine, w, four,
                                                      make_actor):
    ops = make_actor("ops")
    load_id = _confirm(console_engine, ops, w, [four["r1"], four["r2"]])
    with console_engine.begin() as conn:
        version = loads.unbook_from_load(conn=conn, actor=ops, load_id=load_id,
                                         request_id=four["r2"], version=2, reason="商家改期")
    (booked, _), [r2], _, _ = _state(engine, load_id, four["r2"])
    assert (booked, r2[1], r2[2], r2[3], version) == (1, "ordered", None, w["A"], 3)
    # ordered from 川沪物流 still: it may go back on the load
    with console_engine.begin() as conn:
        loads.book_onto_load(conn=conn, actor=ops, load_id=load_id, request_id=four["r2"],
                             version=3)
    assert _state(engine, load_id)[0][0] == 3


# ---------------------------------------------------------------- at once
def test_twenty_bookings_at_once_on_a_load_of_eight_book_eight(engine, console_engine, fresh_db,
                                                               w, make_actor):
    ops = [make_actor("ops") for _ in range(2)]
    load_id = _confirm(console_engine, ops[0], w, [])
    requests = [_req(engine, w, "上海", "成都") for _ in range(20)]
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(loads.book_onto_load, {
            "actor": ops[i % 2], "load_id": load_id, "request_id": r, "version": 1})
            for i, r in enumerate(requests)])
    assert [kind for kind, _ in results].count("ok") == 8
    assert sorted(v for kind, v in results if kind != "ok") == [
        ("Conflict", "lgx.loads.error.over_capacity")] * 12
    booked = _one(engine, """SELECT l.cars_booked,
                                    (SELECT count(*) FROM lgx.requests WHERE load_id = l.id),
                                    (SELECT count(*) FROM lgx.requests WHERE status = 'ordered'
                                     AND id = ANY(:ids))
                             FROM lgx.loads l WHERE l.id = :l""", l=load_id, ids=requests)
    assert tuple(booked) == (8, 8, 8)


def test_one_request_booked_onto_twenty_loads_at_once_lands_on_one(engine, console_engine,
                                                                   fresh_db, w, make_actor):
    staff = [make_actor("ops") for _ in range(2)]
    load_ids = [_confirm(console_engine, staff[0], w, []) for _ in range(20)]
    request_id = _req(engine, w, "上海", "成都", cars=2)
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(loads.book_onto_load, {
            "actor": staff[i % 2], "load_id": load_id, "request_id": request_id, "version": 1})
            for i, load_id in enumerate(load_ids)])
    wins = [i for i, (kind, _) in enumerate(results) if kind == "ok"]
    assert len(wins) == 1
    assert all(kind == "refused" and v[0] == "Conflict" for kind, v in results if kind != "ok")
    on = _one(engine, """SELECT r.load_id, r.status, r.version,
                                (SELECT sum(cars_booked) FROM lgx.loads),
                                (SELECT count(*) FROM lgx.quotes WHERE request_id = r.id),
                                (SELECT count(*) FROM lgx.request_events
                                 WHERE request_id = r.id AND kind = 'booked')
                         FROM lgx.requests r WHERE r.id = :r""", r=request_id)
    assert tuple(on) == (load_ids[wins[0]], "ordered", 2, 2, 1, 1)


def test_a_load_departs_with_cars_is_called_off_empty_and_takes_no_booking_after(
        engine, console_engine, w, four, make_actor):
    ops = make_actor("ops")
    full = _confirm(console_engine, ops, w, [four["r1"]])
    empty = _confirm(console_engine, ops, w, [])
    # the full load's version: 1 at confirmation, + 1 for its one booking
    refusals = [(empty, 1, "departed", "lgx.loads.error.empty"),
                (full, 2, "cancelled", "lgx.loads.error.not_empty"),
                (full, 2, "done", "lgx.loads.error.illegal_move"),
                (full, 9, "departed", "error.stale")]
    for load_id, version, to, key in refusals:
        with console_engine.begin() as conn, pytest.raises(Conflict) as err:
            loads.move_load(conn=conn, actor=ops, load_id=load_id, version=version, to_status=to)
        assert err.value.key == key
    with console_engine.begin() as conn:
        assert loads.move_load(conn=conn, actor=ops, load_id=full, version=2,
                               to_status="departed") == 3
        assert loads.move_load(conn=conn, actor=ops, load_id=empty, version=1,
                               to_status="cancelled") == 2
    with console_engine.begin() as conn, pytest.raises(Conflict) as err:
        loads.book_onto_load(conn=conn, actor=ops, load_id=full, request_id=four["r2"], version=1)
    assert err.value.key == "lgx.loads.error.not_open"
    with console_engine.connect() as conn:
        assert loads.open_loads(conn=conn, actor=ops).empty
    with console_engine.begin() as conn:
        loads.move_load(conn=conn, actor=ops, load_id=full, version=3, to_status="done")
    assert _one(engine, "SELECT array_agg(status ORDER BY id) FROM lgx.loads")[0] == [
        "done", "cancelled"]


def test_a_load_lists_the_requests_it_could_take(engine, console_engine, w, four, make_actor):
    ops = make_actor("ops")
    load_id = _confirm(console_engine, ops, w, [four["r1"]])
    big = _req(engine, w, "上海", "成都", cars=8)               # 1 booked + 8 > 8 places
    with console_engine.connect() as conn:
        fits = loads.loadable_requests(conn=conn, actor=ops, load_id=load_id)
    # r2 (苏州, nearby) and r3 (绵阳, nearby) fit; not r4 (杭州 is too far), r5 (not ready on
    # the day), r6 (ordered from 沪蓉快线), the 8-car request (7 places left), r1 (booked)
    assert fits[["id", "cars", "from_city", "to_city"]].values.tolist() == [
        [four["r2"], 2, "苏州", "成都"], [four["r3"], 1, "上海", "绵阳"]]
    assert big not in fits["id"].tolist()
