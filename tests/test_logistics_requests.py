"""Transport requests (issue 20) on real PostgreSQL as dh_console: the three ways in (the
merchant, a deal card at 已付定金, the desk), the cars check, and every refusal of the issue
that concerns a request, each changing nothing; a deal's "arrange transport" clicked twice
at once is one request."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.logistics import requests as lr
from console.logistics.requests import CarLine
from tests import trust_rows as rows
from tests.races import race, wide_engine


def insert(engine, sql, **params):
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture
def w(engine):
    """Two cities; a seller in 上海 with a listing (one car, a valid VIN); a buyer in 成都
    with an order on it; another merchant with nothing to do with the car."""
    sh = rows.city(engine, name="上海市")
    cd = rows.city(engine, name="成都市")
    trim = rows.trim(engine)
    seller = rows.merchant(engine, city_id=sh)
    buyer = rows.merchant(engine, city_id=cd)
    stranger = rows.merchant(engine, city_id=sh)
    vin = rows.good_vin()
    listing = rows.listing(engine, merchant_id=seller, trim_id=trim, city_id=sh, vin=vin)
    order = insert(engine, """
        INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                deposit_amount, escrow_state, status, created_at, deposit_paid_at)
        VALUES (:l, :b, :s, 1, 180000, 180000, 5000, 'held', 'deposit_paid',
                now() - interval '2 days', now() - interval '1 day') RETURNING id""",
                       l=listing, b=buyer, s=seller)
    return {"sh": sh, "cd": cd, "trim": trim, "seller": seller, "buyer": buyer,
            "stranger": stranger, "vin": vin, "listing": listing, "order": order}


@pytest.fixture
def people(make_actor):
    return {"ops": make_actor("ops"), "bd": make_actor("bd"), "bd2": make_actor("bd"),
            "manager": make_actor("manager")}


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


def counts(engine) -> tuple[int, int, int, int]:
    """Requests, their car lines, timeline events and logistics audit rows."""
    return tuple(rows.value(engine, sql) for sql in (
        "SELECT count(*) FROM lgx.requests", "SELECT count(*) FROM lgx.request_cars",
        "SELECT count(*) FROM lgx.request_events",
        "SELECT count(*) FROM ops.audit_log WHERE action LIKE 'lgx.%'"))


TODAY = clock.today()


def submit(w, **over):
    args = {"merchant_id": w["seller"], "from_city_id": w["sh"], "to_city_id": w["cd"],
            "ready_date": TODAY, "wanted_by": TODAY + timedelta(days=5),
            "declared_value": D("180000"), "cars": (CarLine(vin=w["vin"]),)}
    args.update(over)
    return run(lr.submit_request, **args)


# ---------------------------------------------------------------- the three ways in
def test_a_merchant_asks_to_move_its_own_car(engine, w):
    made = submit(w, note="  周三前到  ")
    assert (made.version, made.cars) == (1, 1)
    req = rows.rows(engine, "SELECT * FROM lgx.requests WHERE id = :id", id=made.request_id)[0]
    assert (req["source"], req["status"], req["merchant_id"], req["from_city_id"],
            req["to_city_id"], req["cars"], req["declared_value"], req["created_by"]) == (
        "merchant", "awaiting_quote", w["seller"], w["sh"], w["cd"], 1, D("180000.00"), None)
    assert rows.rows(engine, """SELECT vin, trim_id, quantity, listing_id FROM lgx.request_cars
                                WHERE request_id = :r""", r=made.request_id) == [
        {"vin": w["vin"], "trim_id": w["trim"], "quantity": 1, "listing_id": w["listing"]}]
    events = rows.rows(engine, "SELECT kind, to_status, note, actor_id FROM lgx.request_events")
    assert events == [{"kind": "created", "to_status": "awaiting_quote", "note": "周三前到",
                       "actor_id": None}]
    audit = rows.rows(engine, """SELECT actor_id, action, entity_type, entity_id,
                                        after->>'cars' AS cars, after->>'source' AS source
                                 FROM ops.audit_log WHERE action LIKE 'lgx.%'""")
    assert audit == [{"actor_id": None, "action": "lgx.request.create",
                      "entity_type": "transport_request", "entity_id": str(made.request_id),
                      "cars": "1", "source": "merchant"}]


def test_the_buyer_of_an_order_moves_the_car_too_and_a_vin_is_read_as_typed(engine, w):
    # full-width, lower case, spaces: the VIN as read
    typed = " ".join(w["vin"][:8]).lower() + "　" + w["vin"][8:].translate(
        str.maketrans("0123456789", "０１２３４５６７８９"))
    made = submit(w, merchant_id=w["buyer"], cars=(CarLine(vin=typed),))
    assert rows.value(engine, "SELECT vin FROM lgx.request_cars WHERE request_id = :r",
                      r=made.request_id) == w["vin"]


def test_the_desk_enters_a_request_by_trim_and_quantity_for_an_order(engine, w, people):
    second = rows.listing(engine, merchant_id=w["seller"], trim_id=w["trim"], city_id=w["sh"])
    made = run(lr.create_request, actor=people["ops"], merchant_id=w["seller"],
               from_city_id=w["sh"], to_city_id=w["cd"], ready_date=TODAY,
               wanted_by=TODAY, declared_value="３６万", order_id=w["order"],
               cars=(CarLine(vin=w["vin"]), CarLine(trim_id=w["trim"], quantity=2)))
    assert made.cars == 3
    req = rows.rows(engine, "SELECT * FROM lgx.requests WHERE id = :id", id=made.request_id)[0]
    assert (req["source"], req["created_by"], req["order_id"], req["declared_value"]) == (
        "ops", people["ops"].id, w["order"], D("360000.00"))
    assert rows.rows(engine, """SELECT vin, trim_id, quantity, listing_id FROM lgx.request_cars
                                WHERE request_id = :r ORDER BY id""", r=made.request_id) == [
        {"vin": w["vin"], "trim_id": w["trim"], "quantity": 1, "listing_id": w["listing"]},
        {"vin": None, "trim_id": w["trim"], "quantity": 2, "listing_id": None}]
    assert second   # the trim is listed by the seller twice: the trim line is its to move
    assert rows.value(engine, """SELECT actor_id FROM ops.audit_log
                                 WHERE action = 'lgx.request.create'""") == people["ops"].id


@pytest.mark.parametrize("typed, expected", [
    ("120000", D("120000.00")), ("120,000.50", D("120000.50")), ("¥120,000", D("120000.00")),
    ("12万", D("120000.00")), ("１２万", D("120000.00")), ("12.5万元", D("125000.00")),
    (D("99.99"), D("99.99")), (150000, D("150000.00"))])
def test_a_declared_value_as_staff_type_it(typed, expected):
    assert lr.parse_value(typed) == expected


@pytest.mark.parametrize("typed", ["", "0", "-5", "1e6", "12.345", "十二万", "NaN", "1,00",
                                   D("NaN"), D("0"), True, None, 1e20])
def test_a_declared_value_that_is_not_an_amount_is_refused(typed):
    with pytest.raises(InvalidInput) as err:
        lr.parse_value(typed)
    assert err.value.key == "lgx.error.bad_value"


# ---------------------------------------------------------------- refusals change nothing
def refused(engine, w, key, error=InvalidInput, **over):
    before = counts(engine)
    with pytest.raises(error) as err:
        submit(w, **over)
    assert err.value.key == key
    assert counts(engine) == before == (0, 0, 0, 0)
    return err.value


def test_a_car_that_is_not_the_merchants_to_move_is_refused(engine, w):
    err = refused(engine, w, "lgx.error.car_not_merchants", merchant_id=w["stranger"])
    assert err.params == {"car": w["vin"]}
    err = refused(engine, w, "lgx.error.car_not_merchants", merchant_id=w["stranger"],
                  cars=(CarLine(listing_id=w["listing"]),))
    assert err.params == {"car": f"#{w['listing']}"}
    refused(engine, w, "lgx.error.car_not_merchants", merchant_id=w["stranger"],
            cars=(CarLine(trim_id=w["trim"], quantity=1),))
    # a VIN nobody lists
    refused(engine, w, "lgx.error.car_not_merchants", cars=(CarLine(vin=rows.good_vin()),))


def test_a_cancelled_order_no_longer_makes_the_buyer_the_mover(engine, w):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.orders SET status = 'cancelled' WHERE id = :o"),
                     {"o": w["order"]})
    refused(engine, w, "lgx.error.car_not_merchants", merchant_id=w["buyer"])


def test_to_city_equal_to_from_city_is_refused(engine, w):
    refused(engine, w, "lgx.error.same_city", to_city_id=w["sh"])


def test_wanted_by_before_ready_is_refused(engine, w):
    refused(engine, w, "lgx.error.wanted_before_ready", ready_date=TODAY,
            wanted_by=TODAY - timedelta(days=1))


def test_a_malformed_vin_is_refused(engine, w):
    err = refused(engine, w, "lgx.error.vin_format", cars=(CarLine(vin="LFV2A21K0S3O00001"),))
    assert err.params == {"vin": "LFV2A21K0S3O00001"}
    refused(engine, w, "lgx.error.vin_format", cars=(CarLine(vin="LFV2A21K"),))


@pytest.mark.parametrize("over, key", [
    ({"cars": (CarLine(vin="LFV2A21K\x00S3000001"),)}, "input.vin"),
    ({"cars": (CarLine(vin="L" * 100_000),)}, "input.vin"),
    ({"note": "到了\x00打电话"}, "input.note"),
    ({"note": "x" * 100_000}, "input.note"),
    ({"declared_value": "12万\x00"}, "input.declared_value"),
    ({"declared_value": "9" * 100_000}, "input.declared_value"),
    ({"merchant_id": 0}, "input.id"),
    ({"ready_date": date(1999, 12, 31)}, "input.date"),
])
def test_hostile_text_and_numbers_are_refused_at_the_boundary(engine, w, over, key):
    refused(engine, w, key, **over)


def test_car_lines_that_make_no_sense_are_refused(engine, w):
    refused(engine, w, "lgx.error.no_cars", cars=())
    refused(engine, w, "lgx.error.vin_one_car", cars=(CarLine(vin=w["vin"], quantity=2),))
    refused(engine, w, "lgx.error.car_incomplete", cars=(CarLine(quantity=2),))
    refused(engine, w, "lgx.error.vin_twice", cars=(CarLine(vin=w["vin"]),
                                                    CarLine(vin=w["vin"].lower())))
    refused(engine, w, "lgx.error.too_many_cars", cars=(CarLine(trim_id=w["trim"], quantity=101),))
    refused(engine, w, "lgx.error.too_many_cars", cars=(CarLine(trim_id=w["trim"], quantity=60),
                                                        CarLine(trim_id=w["trim"], quantity=41)))
    refused(engine, w, "lgx.error.more_than_listing",
            cars=(CarLine(listing_id=w["listing"], quantity=2),))


def test_a_value_an_unknown_city_or_an_inactive_merchant_is_refused(engine, w):
    refused(engine, w, "lgx.error.bad_value", declared_value="０")
    refused(engine, w, "lgx.error.city_unknown", NotFound, to_city_id=999_999)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": w["seller"]})
    refused(engine, w, "lgx.error.merchant_not_active", Conflict)


def test_the_desk_cannot_name_an_order_of_another_merchant(engine, w, people):
    with pytest.raises(InvalidInput) as err:
        run(lr.create_request, actor=people["ops"], merchant_id=w["stranger"],
            from_city_id=w["sh"], to_city_id=w["cd"], ready_date=TODAY, wanted_by=TODAY,
            declared_value="1", order_id=w["order"], cars=(CarLine(vin=w["vin"]),))
    assert err.value.key == "lgx.error.order_not_merchants"
    assert counts(engine) == (0, 0, 0, 0)


# ---------------------------------------------------------------- from a deal
def deal(engine, w, owner_id, *, stage="deposit_paid", buyer_city=None, quantity=1):
    request = insert(engine, """
        INSERT INTO app.requests (merchant_id, series_id, trim_id, quantity, city_id, max_price,
                                  needed_by, created_at)
        SELECT :b, t.series_id, t.id, :q, :c, 200000, current_date + 30, now()
        FROM app.trims t WHERE t.id = :t RETURNING id""",
                         b=w["buyer"], t=w["trim"], q=quantity, c=buyer_city or w["cd"])
    match = insert(engine, """
        INSERT INTO ops.matches (request_id, listing_id, source, stage, owner_id, deal_value)
        VALUES (:r, :l, 'manual', :s, :o, 175000) RETURNING id""",
                       r=request, l=w["listing"], s=stage, o=owner_id)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.orders SET match_id = :m WHERE id = :o"),
                     {"m": match, "o": w["order"]})
    return match


def test_a_deal_at_deposit_paid_prefills_the_form_and_makes_one_request(engine, w, people):
    match = deal(engine, w, people["bd"].id)
    form = run(lr.deal_transport, actor=people["bd"], match_id=match)
    assert (form.merchant_id, form.from_city_id, form.to_city_id, form.quantity, form.vin,
            form.listing_id, form.declared_value, form.order_id, form.refusal,
            form.may_work, form.ready_date, form.wanted_by) == (
        w["buyer"], w["sh"], w["cd"], 1, w["vin"], w["listing"], D("175000.00"), w["order"],
        None, True, TODAY, TODAY + timedelta(days=7))
    made = run(lr.create_from_deal, actor=people["bd"], match_id=match, ready_date=TODAY,
               wanted_by=TODAY + timedelta(days=4), declared_value=str(form.declared_value))
    req = rows.rows(engine, "SELECT * FROM lgx.requests WHERE id = :id", id=made.request_id)[0]
    assert (req["source"], req["match_id"], req["merchant_id"], req["order_id"],
            req["from_city_id"], req["to_city_id"], req["created_by"]) == (
        "deal", match, w["buyer"], w["order"], w["sh"], w["cd"], people["bd"].id)
    again = run(lr.deal_transport, actor=people["bd"], match_id=match)
    assert (again.live_request_id, again.refusal) == (made.request_id, "lgx.error.deal_has_request")
    with pytest.raises(Conflict) as err:
        run(lr.create_from_deal, actor=people["bd"], match_id=match, ready_date=TODAY,
            wanted_by=TODAY, declared_value="1")
    assert err.value.key == "lgx.error.deal_has_request"
    # cancelled, the deal may ask again (the index counts live requests only)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE lgx.requests SET status = 'cancelled' WHERE id = :id"),
                     {"id": made.request_id})
    assert run(lr.deal_transport, actor=people["bd"], match_id=match).refusal is None


def test_a_deal_not_at_deposit_paid_or_in_one_city_or_not_mine_is_refused(engine, w, people):
    early = deal(engine, w, people["bd"].id, stage="negotiating")
    one_city = deal(engine, w, people["bd"].id, buyer_city=w["sh"])
    theirs = deal(engine, w, people["bd2"].id)
    cases = [(early, people["bd"], Conflict, "lgx.error.deal_not_deposit_paid"),
             (one_city, people["bd"], InvalidInput, "lgx.error.deal_same_city"),
             (theirs, people["bd"], PermissionDenied, "lgx.error.not_your_deal")]
    for match, who, error, key in cases:
        with pytest.raises(error) as err:
            run(lr.create_from_deal, actor=who, match_id=match, ready_date=TODAY,
                wanted_by=TODAY, declared_value="175000")
        assert err.value.key == key
    assert counts(engine) == (0, 0, 0, 0)
    # a manager works every card
    made = run(lr.create_from_deal, actor=people["manager"], match_id=theirs, ready_date=TODAY,
               wanted_by=TODAY, declared_value="175000")
    assert made.cars == 1


def test_arrange_transport_clicked_twenty_times_at_once_is_one_request(engine, fresh_db, w,
                                                                      people):
    match = deal(engine, w, people["bd"].id)
    with wide_engine(fresh_db, 20) as wide:
        results = race(wide, [(lr.create_from_deal, {
            "actor": people["bd"], "match_id": match, "ready_date": TODAY,
            "wanted_by": TODAY + timedelta(days=3), "declared_value": "175000"})
            for _ in range(20)])
    assert [r for r in results if r[0] == "crash"] == []
    assert len([r for r in results if r[0] == "ok"]) == 1
    assert {r[1] for r in results if r[0] == "refused"} == {
        ("Conflict", "lgx.error.deal_has_request")}
    assert counts(engine) == (1, 1, 1, 1)


# ---------------------------------------------------------------- the deal card's button
def board_card(actor, match_id, lang="zh"):
    from tests.apptest import app_as
    at = app_as(actor, lang=lang)
    at.query_params["card"] = str(match_id)
    return at.switch_page("pages/bd_board.py").run()


def test_the_deal_card_offers_transport_prefilled_and_then_links_the_request(engine, w, people):
    match = deal(engine, w, people["bd"].id)
    at = board_card(people["bd"], match)
    assert not at.exception and not at.error
    at.button(key=f"lgx_offer_{match}").click().run()
    assert not at.exception and not at.error
    assert any(c.value.endswith(f"从卖方 {rows.value(engine, 'SELECT name FROM app.merchants WHERE id = :m', m=w['seller'])}（上海市）运到买方 "
                                f"{rows.value(engine, 'SELECT name FROM app.merchants WHERE id = :m', m=w['buyer'])}（成都市）")
               for c in at.caption)
    assert at.text_input(key=f"lgx_offer_value_{match}").value == "175000.00"
    assert at.date_input(key=f"lgx_offer_ready_{match}").value == TODAY
    at.text_input(key=f"lgx_offer_value_{match}").input("１７.５万")
    next(b for b in at.button if b.label == "提交给物流台").click().run()
    assert not at.exception and not at.error
    made = rows.rows(engine, "SELECT id, source, match_id, declared_value FROM lgx.requests")
    assert [(r["source"], r["match_id"], r["declared_value"]) for r in made] == [
        ("deal", match, D("175000.00"))]
    again = board_card(people["bd"], match)
    assert [b for b in again.button if b.key == f"lgx_offer_{match}"] == []
    assert any(f"[#{made[0]['id']}](/transport?request={made[0]['id']})" in m.value
               for m in again.markdown)


def test_a_card_in_one_city_or_before_deposit_offers_no_transport(engine, w, people):
    for match in (deal(engine, w, people["bd"].id, buyer_city=w["sh"]),
                  deal(engine, w, people["bd"].id, stage="negotiating")):
        at = board_card(people["bd"], match)
        assert not at.exception and not at.error
        assert [b for b in at.button if b.key == f"lgx_offer_{match}"] == []
