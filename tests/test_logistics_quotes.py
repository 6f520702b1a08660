"""The carrier directory and quotes (console/logistics/carriers.py, quotes.py) on real PostgreSQL:
estimates from every active carrier serving the lane, by hand; a carrier's actual quote and
the lane-median price check; booking a quote or an estimate (request → 已下单 with prices and
margin); bad input refused with nothing changed.

Hand figures: 上海 → 成都 is 2,076 road km, 上海 → 绵阳 1,992 (tests/test_logistics_pricing.py).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.logistics import carriers, quotes
from tests import lgx_quote_rows as qr
from tests import lgx_rows as lx
from tests import trust_rows as rows

LONG = [("large", 2000, None, "1.2", "0"), ("small", 2000, None, "2.0", "0"),
        ("single", 2000, None, "4.0", "0"), ("large", 1000, 2000, "1.5", "0"),
        ("small", 1000, 2000, "2.5", "0")]


@pytest.fixture
def w(engine):
    c = qr.cities(engine, "上海", "成都", "绵阳", "苏州", "杭州")
    a = qr.carrier(engine, name="川沪物流", lanes=[("上海市", "四川省")], rates=LONG,
                   phone="13900001111")
    b = qr.carrier(engine, name="顺达运输", lanes=[("上海市", "四川省"), ("江苏省", "四川省")],
                   rates=[("large", 2000, None, "1.1", "0"), ("small", 2000, None, "1.9", "0"),
                          ("large", 1000, 2000, "1.4", "0")],
                   truck_types=("large", "small"))
    c_ = qr.carrier(engine, name="停运物流", lanes=[("上海市", "四川省")],
                    rates=[("large", 2000, None, "0.9", "0")], status="suspended")
    d = qr.carrier(engine, name="浙川专线", lanes=[("浙江省", "四川省")],
                   rates=[("large", 2000, None, "0.8", "0")])
    merchant = rows.merchant(engine, city_id=c["上海"])
    trim = rows.trim(engine)
    rows.listing(engine, merchant_id=merchant, trim_id=trim, city_id=c["上海"])
    world = {"merchant": merchant, "trim": trim, "from": c["上海"], "to": c["成都"]}
    return {**c, "A": a, "B": b, "C": c_, "D": d, "world": world}


def _request(engine, w, *, cars=2, to="成都", frm="上海"):
    """A request the merchant submits (console/logistics/requests.py), waiting for a quote."""
    return qr.submitted(engine, merchant_id=w["world"]["merchant"], trim_id=w["world"]["trim"],
                        from_city_id=w[frm], to_city_id=w[to], cars=cars,
                        ready=clock.today() + timedelta(days=1),
                        wanted_by=clock.today() + timedelta(days=10))


def _row(engine, request_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM lgx.requests WHERE id = :id"),
                            {"id": request_id}).mappings().one()


def _counts(engine, request_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM lgx.quotes WHERE request_id = :r),
                   (SELECT count(*) FROM lgx.request_events WHERE request_id = :r),
                   (SELECT count(*) FROM ops.audit_log WHERE entity_id = CAST(:r AS text)
                    AND action LIKE 'lgx.%'),
                   (SELECT version FROM lgx.requests WHERE id = :r)"""), {"r": request_id}).one()


def _events(engine, request_id):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("""
            SELECT kind, from_status, to_status FROM lgx.request_events
            WHERE request_id = :r ORDER BY id"""), {"r": request_id})]


# ---------------------------------------------------------------- estimates
def test_estimates_come_from_every_active_carrier_on_the_lane_cheapest_first(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w, cars=2)
    with console_engine.connect() as conn:
        view = quotes.request_quotes(conn=conn, actor=ops, request_id=req)
    assert (view.request.distance_km, view.request.provinces) == (2076, ("上海市", "四川省"))
    assert view.lane_medians == {} and view.quotes.empty
    got = [(r.carrier, r.truck_type, r.price_per_car, r.total, r.transit_days, r.trucks)
           for r in view.estimates.itertuples()]
    # nobody has a score yet: by total. B large 2,076 × 1.1 = 2,283.60 a car; A large × 1.2;
    # B small × 1.9; A small × 2.0; A single × 4.0 (two single-car trucks for two cars).
    # Not offered: 停运物流 (suspended), 浙川专线 (浙江省 → 四川省 only).
    assert got == [
        ("顺达运输", "large", D("2283.60"), D("4567.20"), 6, 1),
        ("川沪物流", "large", D("2491.20"), D("4982.40"), 6, 1),
        ("顺达运输", "small", D("3944.40"), D("7888.80"), 6, 1),
        ("川沪物流", "small", D("4152.00"), D("8304.00"), 6, 1),
        ("川沪物流", "single", D("8304.00"), D("16608.00"), 6, 2),
    ]


def test_a_scored_carrier_is_listed_before_an_unscored_cheaper_one(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    # one delivery of 川沪物流, on time: score 100 (on time 1, damage 0)
    lx.request(engine, w["world"], carrier_id=w["A"], to_city=w["成都"])
    req = _request(engine, w, cars=1)
    with console_engine.connect() as conn:
        view = quotes.request_quotes(conn=conn, actor=ops, request_id=req)
    assert [(r.carrier, r.truck_type, r.score) for r in view.estimates.itertuples()] == [
        ("川沪物流", "large", D("100.0")), ("川沪物流", "small", D("100.0")),
        ("川沪物流", "single", D("100.0")), ("顺达运输", "large", None),
        ("顺达运输", "small", None)]


def test_a_lane_in_another_band_is_priced_by_that_band(engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w, cars=1, to="绵阳")          # 上海 → 绵阳: 1,992 km
    with console_engine.connect() as conn:
        view = quotes.request_quotes(conn=conn, actor=ops, request_id=req)
    # 1,992 × 1.4 = 2,788.80; × 1.5 = 2,988.00; × 2.5 = 4,980.00; no single rate below 2,000
    assert [(r.carrier, r.truck_type, r.total, r.transit_days)
            for r in view.estimates.itertuples()] == [
        ("顺达运输", "large", D("2788.80"), 6), ("川沪物流", "large", D("2988.00"), 6),
        ("川沪物流", "small", D("4980.00"), 6)]


def test_quotes_are_read_by_the_desk_and_managers_only(engine, console_engine, w, make_actor):
    req = _request(engine, w)
    with console_engine.connect() as conn:
        quotes.request_quotes(conn=conn, actor=make_actor("manager"), request_id=req)
        with pytest.raises(PermissionDenied):
            quotes.request_quotes(conn=conn, actor=make_actor("bd"), request_id=req)
        with pytest.raises(NotFound):
            quotes.request_quotes(conn=conn, actor=make_actor("ops"), request_id=req + 999)


# ---------------------------------------------------------------- actual quotes, the price check
def _record(console_engine, actor, req, carrier, price, truck="large", **kw):
    with console_engine.begin() as conn:
        version = conn.execute(sa.text("SELECT version FROM lgx.requests WHERE id = :r"),
                               {"r": req}).scalar_one()
        return quotes.record_quote(conn=conn, actor=actor, request_id=req, version=version,
                                   carrier_id=carrier, truck_type=truck, price_per_car=price,
                                   **kw)


def test_recording_a_quote_moves_the_request_to_quoted_and_checks_the_lane_median(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w, cars=2)
    first = _record(console_engine, ops, req, w["B"], "2,500")
    # nothing on the lane yet: no median, no flag
    assert (first.flagged_high, first.lane_median_per_car) == (False, None)
    row = _row(engine, req)
    assert (row["status"], row["version"]) == ("quoted", 2)
    assert _events(engine, req)[-2:] == [("quote", None, None), ("status", "awaiting_quote", "quoted")]
    # median per car-km 2,500 / 2,076; × 2,076 = 2,500.00; 3,500 > 1.3 × 2,500 = 3,250: high
    second = _record(console_engine, ops, req, w["A"], "3500")
    assert (second.flagged_high, second.lane_median_per_car) == (True, D("2500.00"))
    # median of 2,500 and 3,500 per 2,076 km = 3,000.00; 3,250 ≤ 3,900: not high
    third = _record(console_engine, ops, req, w["A"], "3250", transit_days=8, note="含保险")
    assert (third.flagged_high, third.lane_median_per_car) == (False, D("3000.00"))
    assert _row(engine, req)["status"] == "quoted"
    with console_engine.connect() as conn:
        view = quotes.request_quotes(conn=conn, actor=ops, request_id=req)
    assert [(q.carrier, q.kind, q.price_per_car, q.total, q.transit_days, q.flagged_high)
            for q in view.quotes.itertuples()] == [
        ("川沪物流", "actual", D("3250.00"), D("6500.00"), 8, False),
        ("川沪物流", "actual", D("3500.00"), D("7000.00"), 6, True),
        ("顺达运输", "actual", D("2500.00"), D("5000.00"), 6, False)]
    # the large trucks' median of all three per car-km is 3,250 / 2,076: large estimates
    # above 1.3 × it are flagged (none: 2,283.60, 2,491.20); no small or single-car quote on
    # the lane, so those estimates are held against nothing (a single-car truck is not
    # compared with consolidated prices)
    assert view.lane_medians == {"large": D("3250.00")}
    assert view.estimates["flagged_high"].tolist() == [False, False, False, False, False]
    # a small-truck quote is checked against small-truck quotes only: none yet, so no flag
    small = _record(console_engine, ops, req, w["A"], "9000", truck="small")
    assert (small.flagged_high, small.lane_median_per_car) == (False, None)
    # then the one small quote's median is 9,000.00: 11,701 > 1.3 × 9,000 = 11,700, flagged
    assert _record(console_engine, ops, req, w["B"], "11701", truck="small").flagged_high
    with console_engine.connect() as conn:
        view = quotes.request_quotes(conn=conn, actor=ops, request_id=req)
    assert view.lane_medians == {"large": D("3250.00"), "small": D("10350.50")}   # (9,000 + 11,701) / 2


def test_the_median_is_per_car_km_of_the_province_pairs_recent_quotes(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    chengdu = _request(engine, w, cars=1)
    _record(console_engine, ops, chengdu, w["B"], "2500")
    # a quote older than the 90-day window does not count
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO lgx.quotes (request_id, carrier_id, truck_type, kind, distance_km,
                                    price_per_car, total, transit_days, recorded_at)
            VALUES (:r, :c, 'large', 'actual', 2076, 9000, 9000, 6, now() - interval '91 days')"""),
                     {"r": chengdu, "c": w["A"]})
    mianyang = _request(engine, w, cars=1, to="绵阳")
    # 上海 → 绵阳 is 1,992 km on the same lane 上海市 → 四川省: 2,500 / 2,076 × 1,992 = 2,398.84
    got = _record(console_engine, ops, mianyang, w["B"], "3119")
    assert got.lane_median_per_car == D("2398.84")
    assert got.flagged_high is True                       # 3,119 > 1.3 × 2,398.84 = 3,118.49
    assert _record(console_engine, ops, mianyang, w["B"], "3118").flagged_high is False
    # another province pair (江苏省 → 四川省) has no quote: no median
    suzhou = _request(engine, w, cars=1, frm="苏州")
    assert _record(console_engine, ops, suzhou, w["B"], "2500").lane_median_per_car is None


@pytest.mark.parametrize("price", ["NaN", "-2500", "0", "abc", "1.005", "9" * 100_000,
                                   "Infinity", ""])
def test_a_bad_price_is_refused_and_nothing_changes(engine, console_engine, w, make_actor,
                                                    price):
    ops = make_actor("ops")
    req = _request(engine, w)
    before = _counts(engine, req)
    with pytest.raises(InvalidInput) as err:
        _record(console_engine, ops, req, w["B"], price)
    assert err.value.key == "input.price_per_car"
    assert _counts(engine, req) == before
    assert _row(engine, req)["status"] == "awaiting_quote"


def test_a_suspended_carrier_a_carrier_off_the_lane_a_stale_form_are_refused(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w)
    before = _counts(engine, req)
    cases = [(dict(carrier=w["C"]), Conflict, "lgx.quotes.error.carrier_suspended"),
             (dict(carrier=w["D"]), Conflict, "lgx.quotes.error.not_on_lane"),
             (dict(carrier=w["B"], truck="single"), InvalidInput,
              "lgx.carriers.error.truck_not_run")]
    for kw, kind, key in cases:
        with pytest.raises(kind) as err:
            _record(console_engine, ops, req, price="2500", **kw)
        assert err.value.key == key
    with console_engine.begin() as conn, pytest.raises(Conflict) as err:
        quotes.record_quote(conn=conn, actor=ops, request_id=req, version=0, carrier_id=w["B"],
                            truck_type="large", price_per_car="2500")
    assert err.value.key == "error.stale"
    with pytest.raises(PermissionDenied):
        _record(console_engine, make_actor("manager"), req, w["B"], "2500")
    assert _counts(engine, req) == before


# ---------------------------------------------------------------- booking
def test_booking_a_quote_orders_the_request_with_cost_price_and_margin(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w, cars=2)
    recorded = _record(console_engine, ops, req, w["B"], "2500")
    with console_engine.begin() as conn:
        booked = quotes.book_quote(conn=conn, actor=ops, request_id=req,
                                   version=recorded.version, quote_id=recorded.quote_id)
    # cost 2 × 2,500 = 5,000.00; the merchant pays × 1.08 = 5,400.00; margin 400.00
    assert (booked.cost_from_carrier, booked.price_to_merchant, booked.margin) == (
        D("5000.00"), D("5400.00"), D("400.00"))
    row = _row(engine, req)
    assert (row["status"], row["carrier_id"], row["truck_type"], row["quote_id"],
            row["cost_from_carrier"], row["price_to_merchant"], row["version"]) == (
        "ordered", w["B"], "large", recorded.quote_id, D("5000.00"), D("5400.00"), 3)
    assert row["ordered_at"] is not None
    assert _events(engine, req)[-1] == ("status", "quoted", "ordered")
    with engine.connect() as conn:
        audit = conn.execute(sa.text("""
            SELECT actor_id, after->>'price_to_merchant', after->>'margin' FROM ops.audit_log
            WHERE action = 'lgx.quote.book' AND entity_id = :r"""), {"r": str(req)}).one()
    assert tuple(audit) == (ops.id, "5400.00", "400.00")
    # booked once: a second booking (another quote, the current version) is refused
    other = None
    with engine.connect() as conn:
        other = conn.execute(sa.text("SELECT id FROM lgx.quotes WHERE request_id = :r"),
                             {"r": req}).scalar_one()
    with console_engine.begin() as conn, pytest.raises(Conflict) as err:
        quotes.book_quote(conn=conn, actor=ops, request_id=req, version=3, quote_id=other)
    assert err.value.key == "lgx.quotes.error.not_quotable"


def test_booking_an_estimate_prices_it_now_and_keeps_it_as_a_quote(
        engine, console_engine, w, make_actor, settings_env):
    ops = make_actor("ops")
    req = _request(engine, w, cars=1)
    settings_env(CONSOLE_LOGISTICS_MARGIN_SHARE="0.1")
    with console_engine.begin() as conn:
        booked = quotes.book_estimate(conn=conn, actor=ops, request_id=req, version=1,
                                      carrier_id=w["A"], truck_type="single")
    # a single-car truck 上海 → 成都: 2,076 × 4.0 = 8,304.00; × 1.1 = 9,134.40
    assert (booked.cost_from_carrier, booked.price_to_merchant, booked.margin) == (
        D("8304.00"), D("9134.40"), D("830.40"))
    with engine.connect() as conn:
        kind, transit = conn.execute(sa.text(
            "SELECT kind, transit_days FROM lgx.quotes WHERE id = :q"),
            {"q": booked.quote_id}).one()
    assert (kind, transit) == ("estimate", 6)
    assert _events(engine, req)[-3:] == [("quote", None, None),
                                         ("status", "awaiting_quote", "quoted"),
                                         ("status", "quoted", "ordered")]


def test_a_carrier_suspended_after_its_quote_cannot_be_booked(
        engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w)
    recorded = _record(console_engine, ops, req, w["A"], "2500")
    with console_engine.begin() as conn:
        v = conn.execute(sa.text("SELECT version FROM lgx.carriers WHERE id = :c"),
                         {"c": w["A"]}).scalar_one()
        carriers.set_status(conn=conn, actor=ops, carrier_id=w["A"], version=v,
                            status="suspended", reason="车损未赔")
    before = _counts(engine, req)
    for book in (dict(fn=quotes.book_quote, quote_id=recorded.quote_id),
                 dict(fn=quotes.book_estimate, carrier_id=w["A"], truck_type="large")):
        fn = book.pop("fn")
        with console_engine.begin() as conn, pytest.raises(Conflict) as err:
            fn(conn=conn, actor=ops, request_id=req, version=recorded.version, **book)
        assert err.value.key == "lgx.quotes.error.carrier_suspended"
    assert _counts(engine, req) == before
    assert _row(engine, req)["status"] == "quoted"


def test_a_stale_booking_form_is_refused(engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    req = _request(engine, w)
    recorded = _record(console_engine, ops, req, w["A"], "2500")
    _record(console_engine, ops, req, w["B"], "2400")         # someone else, meanwhile
    before = _counts(engine, req)
    with console_engine.begin() as conn, pytest.raises(Conflict) as err:
        quotes.book_quote(conn=conn, actor=ops, request_id=req, version=recorded.version,
                          quote_id=recorded.quote_id)
    assert err.value.key == "error.stale"
    assert _counts(engine, req) == before


# ---------------------------------------------------------------- the directory
def _version(engine, carrier_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version FROM lgx.carriers WHERE id = :c"),
                            {"c": carrier_id}).scalar_one()


def test_the_desk_adds_a_carrier_its_lanes_and_rates(engine, console_engine, w, make_actor):
    ops = make_actor("ops")
    with console_engine.begin() as conn:
        cid = carriers.create_carrier(conn=conn, actor=ops, carrier_name=" 长江快运 ",
                                      contact_name="赵经理", contact_phone="021-5555-0101",
                                      truck_types=("single", "large"), cover_per_car="150,000")
    with console_engine.begin() as conn:
        v = carriers.add_lanes(conn=conn, actor=ops, carrier_id=cid, version=1,
                               from_provinces=("上海市", "江苏省"), to_provinces=("四川省",))
        v = carriers.set_rate(conn=conn, actor=ops, carrier_id=cid, version=v,
                              truck_type="large", band_from_km=2000, yuan_per_car_km="1.05",
                              min_per_car="")
        v = carriers.set_rate(conn=conn, actor=ops, carrier_id=cid, version=v,
                              truck_type="large", band_from_km=2000, yuan_per_car_km="1.0",
                              min_per_car="500")
        v = carriers.remove_lane(conn=conn, actor=ops, carrier_id=cid, version=v,
                                 from_province="江苏省", to_province="四川省")
        view = carriers.get_carrier(conn=conn, actor=ops, carrier_id=cid)
    assert v == 5
    c = view.carrier
    assert (c["name"], c["truck_types"], c["cover_per_car"], c["contact_phone"]) == (
        "长江快运", ["large", "single"], D("150000.00"), "021-5555-0101")
    assert view.lanes.values.tolist() == [["上海市", "四川省"]]
    assert [tuple(r) for r in view.rates.itertuples(index=False)] == [
        ("large", 2000, None, D("1.000"), D("500.00"))]
    # the new carrier is offered on 上海 → 成都 at max(500, 2,076 × 1.0) = 2,076.00
    req = _request(engine, w, cars=1)
    with console_engine.connect() as conn:
        est = quotes.request_quotes(conn=conn, actor=ops, request_id=req).estimates
    assert ("长江快运", "large", D("2076.00")) in [
        (r.carrier, r.truck_type, r.price_per_car) for r in est.itertuples()]
    with engine.connect() as conn:
        assert conn.execute(sa.text("""SELECT count(*) FROM ops.audit_log
            WHERE entity_type = 'carrier' AND entity_id = :c"""), {"c": str(cid)}).scalar() == 5


@pytest.mark.parametrize("change, key", [
    (dict(carrier_name="顺达运输"), "lgx.carriers.error.name_taken"),
    (dict(contact_phone="13900001111; DROP"), "lgx.carriers.error.phone"),
    (dict(truck_types=()), "lgx.carriers.error.truck_types"),
    (dict(truck_types=("large", "rocket")), "lgx.carriers.error.truck_types"),
    (dict(cover_per_car="NaN"), "lgx.carriers.error.cover"),
    (dict(cover_per_car="-1"), "lgx.carriers.error.cover"),
    (dict(carrier_name="  "), "lgx.carriers.error.name"),
])
def test_a_bad_carrier_form_is_refused_and_nothing_changes(engine, console_engine, w,
                                                           make_actor, change, key):
    ops = make_actor("ops")
    form = dict(carrier_name="川沪物流", contact_name="李师傅", contact_phone="13900001111",
                truck_types=("large", "small", "single"), cover_per_car="100000")
    form.update(change)
    with console_engine.begin() as conn, pytest.raises((InvalidInput, Conflict)) as err:
        carriers.update_carrier(conn=conn, actor=ops, carrier_id=w["A"], version=1, **form)
    assert err.value.key == key
    assert _version(engine, w["A"]) == 1


def test_directory_refusals_stale_form_rates_lanes_and_suspension(engine, console_engine, w,
                                                                 make_actor):
    ops = make_actor("ops")
    refusals = [
        (carriers.update_carrier, dict(version=9, carrier_name="x", contact_name="y",
                                       contact_phone="12345", truck_types=("large",),
                                       cover_per_car="1"), "error.stale"),
        (carriers.set_rate, dict(version=1, truck_type="large", band_from_km=300,
                                 yuan_per_car_km="1", min_per_car="0"), "lgx.carriers.error.band"),
        (carriers.set_rate, dict(version=1, truck_type="large", band_from_km=0,
                                 yuan_per_car_km="NaN", min_per_car="0"), "lgx.carriers.error.rate"),
        (carriers.set_rate, dict(version=1, truck_type="large", band_from_km=0,
                                 yuan_per_car_km="1", min_per_car="-3"),
         "lgx.carriers.error.minimum"),
        (carriers.add_lanes, dict(version=1, from_provinces=("火星",), to_provinces=("四川省",)),
         "lgx.carriers.error.province"),
        (carriers.remove_lane, dict(version=1, from_province="浙江省", to_province="四川省"),
         "lgx.carriers.error.no_such_lane"),
        (carriers.set_status, dict(version=1, status="suspended", reason=" "),
         "lgx.carriers.error.reason_required"),
        (carriers.set_status, dict(version=1, status="active", reason=""),
         "lgx.carriers.error.already"),
    ]
    for fn, kw, key in refusals:
        with console_engine.begin() as conn, pytest.raises((InvalidInput, Conflict)) as err:
            fn(conn=conn, actor=ops, carrier_id=w["A"], **kw)
        assert err.value.key == key, fn.__name__
    assert _version(engine, w["A"]) == 1
    with console_engine.begin() as conn, pytest.raises(PermissionDenied):
        carriers.set_status(conn=conn, actor=make_actor("manager"), carrier_id=w["A"],
                            version=1, status="suspended", reason="x")


def test_the_directory_masks_the_phone_for_managers(engine, console_engine, w, make_actor):
    with console_engine.connect() as conn:
        desk = carriers.list_carriers(conn=conn, actor=make_actor("ops"))
        mgr = carriers.list_carriers(conn=conn, actor=make_actor("manager"))
        only = carriers.list_carriers(conn=conn, actor=make_actor("ops"), status="suspended")
        found = carriers.list_carriers(conn=conn, actor=make_actor("ops"), query="川沪")
        view = carriers.get_carrier(conn=conn, actor=make_actor("manager"), carrier_id=w["A"])
    assert sorted(desk["name"]) == sorted(["浙川专线", "川沪物流", "顺达运输", "停运物流"])
    assert desk["name"].tolist()[-1] == "停运物流"                # suspended last
    a = desk.set_index("name").loc["川沪物流"]
    assert (a["phone"], a["lanes"]) == ("13900001111", 1)
    assert mgr.set_index("name").loc["川沪物流"]["phone"] == "139****1111"
    assert view.carrier["contact_phone"] == "139****1111"
    assert only["name"].tolist() == ["停运物流"]
    assert found["name"].tolist() == ["川沪物流"]
