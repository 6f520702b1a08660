"""The stock desk (console/inventory/) on real PostgreSQL as dh_console, with hand-computed
numbers at the default settings (capital 0.03% a day, ¥30 a car-day, markdown list from 50%
of the margin eaten, band points 0/1/2/3): days in stock and age bands, holding cost, margins,
the ageing summary, the markdown list and its suggestions, a price change and a sale with
their audit rows; every refusal (floor above asking, a car reserved for another buyer, a
stale form, a wrong role, hostile text) changing nothing."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import Conflict, InvalidInput, PermissionDenied
from console.inventory import holding, prices, sales, stock
from tests import inv_rows as inv


@pytest.fixture
def w(engine):
    w = inv.world(engine)
    # A: ¥200,000, 45 days: 60 + 30 = ¥90 a day, ¥4,050 to date; margin at purchase 6,000
    w["A"] = inv.car(engine, w, cost="200000", days=45, asking="206000", floor="200000")
    # B: ¥123,456, 10 days: round(37.0368) = 37.04 + 30 = ¥67.04 a day, ¥670.40
    w["B"] = inv.car(engine, w, cost="123456", days=10, asking="127000", floor="124000",
                     trim="trim2", warehouse="wh2")
    # C: ¥150,000, 95 days: ¥75 a day, ¥7,125; margin 3,000
    w["C"] = inv.car(engine, w, cost="150000", days=95, asking="153000", floor="152500")
    # D: ¥100,000, 61 days, priced at its cost: ¥60 a day, ¥3,660; no margin at all
    w["D"] = inv.car(engine, w, cost="100000", days=61, asking="100000", floor="99000")
    return w


@pytest.fixture
def people(make_actor):
    return {"ops": make_actor("ops"), "ops2": make_actor("ops"), "manager": make_actor("manager"),
            "bd": make_actor("bd"), "risk": make_actor("risk")}


def run(fn, **kw):
    with db.transaction() as conn:
        return fn(conn=conn, **kw)


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).mappings().one()


def state(engine) -> dict:
    """What a refused call must leave as it was."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("""
            SELECT (SELECT count(*) FROM inv.price_changes) AS changes,
                   (SELECT count(*) FROM ops.audit_log) AS audit,
                   (SELECT string_agg(concat_ws('/', id, status, version, asking_price, floor_price,
                                                reserved_for, sold_to, sold_price), ';' ORDER BY id)
                    FROM inv.stock_cars) AS cars,
                   (SELECT string_agg(concat_ws('/', id, status, price), ';' ORDER BY id)
                    FROM app.listings) AS listings""")).mappings().one())


# ---------------------------------------------------------------- the pure rules
@pytest.mark.parametrize("days, band", [(0, "0_30"), (30, "0_30"), (31, "31_60"), (60, "31_60"),
                                        (61, "61_90"), (90, "61_90"), (91, "90p"), (400, "90p")])
def test_age_bands(days, band):
    assert holding.band_of(days) == band


def test_days_holding_cost_and_margins_by_hand():
    t = holding.terms()
    assert holding.days_in_stock(date(2026, 10, 1), date(2026, 11, 15)) == 45
    assert holding.days_in_stock(date(2026, 11, 15), date(2026, 11, 15)) == 0
    assert holding.daily_cost(D("123456"), t) == D("67.04")          # 37.0368 → 37.04, + 30
    assert holding.holding_cost(D("123456"), 10, t) == D("670.40")
    assert holding.holding_cost(D("200000"), 45, t) == D("4050.00")
    assert holding.margin(D("206000"), D("200000"), D("4050")) == D("1950.00")
    assert holding.eaten_share(D("4050"), D("6000")) == D("0.675")
    assert holding.eaten_share(D("100"), D("0")) is None


@pytest.mark.parametrize("first, asking, floor, days, price, band_price, at_floor", [
    # 31–60: 1 point off 206,000 = 203,940, down to the hundred
    ("206000", "206000", "200000", 45, "203900.00", "203900.00", False),
    # 90+: 3 points off 153,000 = 148,410 → 148,400 is under the floor: the floor
    ("153000", "153000", "152500", 95, "152500.00", "148400.00", True),
    # already marked down to its band's price: no cut
    ("206000", "203900", "200000", 50, None, "203900.00", False),
    # 0–30: the first asking price is its band's price, never a cut of the odd yuan
    ("206050", "206050", "200000", 12, None, "206050.00", False),
    # at the floor already and the band's price under it: nothing left to suggest
    ("100000", "99000", "99000", 61, None, "98000.00", True),
])
def test_the_suggested_markdown(first, asking, floor, days, price, band_price, at_floor):
    s = holding.suggested_markdown(first_asking=D(first), asking=D(asking), floor=D(floor),
                                   days=days, t=holding.terms())
    assert (s.price, s.band_price, s.at_floor) == (
        None if price is None else D(price), D(band_price), at_floor)


def test_the_settings_move_the_numbers(settings_env):
    settings_env(CONSOLE_STOCK_CAPITAL_DAILY_RATE="0.0005", CONSOLE_STOCK_WAREHOUSE_YUAN_PER_DAY="20",
                 CONSOLE_STOCK_MARKDOWN_POINTS="0,2,4,6")
    t = holding.terms()
    assert holding.daily_cost(D("200000"), t) == D("120.00")        # 100 + 20
    s = holding.suggested_markdown(first_asking=D("206000"), asking=D("206000"),
                                   floor=D("190000"), days=45, t=t)
    assert s.price == D("201800.00")                                # 206,000 × 0.98 = 201,880


# ---------------------------------------------------------------- the reads
def test_the_stock_list_with_days_holding_and_margin_left(engine, w, people):
    page = run(stock.stock_list, actor=people["ops"], filters=stock.StockFilters())
    got = page.rows[["id", "days", "band", "holding", "margin_left"]].values.tolist()
    assert page.total == 4
    assert got == [[w["C"], 95, "90p", D("7125.00"), D("-4125.00")],
                   [w["D"], 61, "61_90", D("3660.00"), D("-3660.00")],
                   [w["A"], 45, "31_60", D("4050.00"), D("1950.00")],
                   [w["B"], 10, "0_30", D("670.40"), D("2873.60")]]


@pytest.mark.parametrize("filters, expected", [
    (stock.StockFilters(band="31_60"), ["A"]),
    (stock.StockFilters(warehouse_id=-1), []),
    (stock.StockFilters(statuses=("reserved",)), []),
    (stock.StockFilters(band="90p", statuses=("in_stock",)), ["C"]),
])
def test_the_stock_list_filters(engine, w, people, filters, expected):
    if filters.warehouse_id == -1:
        filters = stock.StockFilters(warehouse_id=w["wh2"])
        expected = ["B"]
    page = run(stock.stock_list, actor=people["manager"], filters=filters)
    assert page.rows["id"].tolist() == [w[k] for k in expected]


def test_the_stock_list_filters_by_brand_and_series(engine, w, people):
    opts = run(stock.filter_options, actor=people["ops"])
    series = opts.series.set_index("series_id")
    b_series = int(one(engine, "SELECT series_id FROM app.trims WHERE id = :t", t=w["trim2"])["series_id"])
    brand = int(series.loc[b_series, "brand_id"])
    for f in (stock.StockFilters(brand_id=brand), stock.StockFilters(series_id=b_series)):
        assert run(stock.stock_list, actor=people["ops"], filters=f).rows["id"].tolist() == [w["B"]]
    assert sorted(opts.warehouses["name"]) == ["天津东疆仓", "天津滨海仓"]


def test_the_ageing_summary_by_hand(engine, w, people):
    run(sales.reserve, actor=people["ops"], stock_car_id=w["B"], version=1,
        merchant_id=w["buyer"])       # reserved still counts: it is not sold
    s = run(stock.ageing_summary, actor=people["ops"])
    assert s.values.tolist() == [["0_30", 1, D("123456.00"), D("670.40")],
                                 ["31_60", 1, D("200000.00"), D("4050.00")],
                                 ["61_90", 1, D("100000.00"), D("3660.00")],
                                 ["90p", 1, D("150000.00"), D("7125.00")]]
    run(sales.sell, actor=people["ops"], stock_car_id=w["A"], version=1,
        merchant_id=w["buyer2"], sold_price="205000")
    s = run(stock.ageing_summary, actor=people["ops"], warehouse_id=w["wh"])
    assert s["cars"].tolist() == [0, 0, 1, 1]


def test_the_markdown_list_by_hand(engine, w, people):
    md = run(stock.markdown_list, actor=people["ops"])
    rows = md.rows
    # D has no margin at all (first), then C 7,125 / 3,000 = 2.375, A 4,050 / 6,000 = 0.675;
    # B (670.40 / 3,544 = 0.19) is not on it
    assert md.total == 3 and rows["id"].tolist() == [w["D"], w["C"], w["A"]]
    assert rows["eaten_share"].tolist()[0] is None
    assert [round(v, 3) for v in rows["eaten_share"].tolist()[1:]] == [D("2.375"), D("0.675")]
    assert rows[["suggested_price", "band_price", "at_floor"]].values.tolist() == [
        [D("99000.00"), D("98000.00"), True],      # 61–90: 2 points = 98,000 < floor 99,000
        [D("152500.00"), D("148400.00"), True],    # 90+: the floor
        [D("203900.00"), D("203900.00"), False]]   # 31–60: 1 point


def test_a_reserved_car_is_not_on_the_markdown_list(engine, w, people):
    run(sales.reserve, actor=people["ops"], stock_car_id=w["C"], version=1, merchant_id=w["buyer"])
    assert w["C"] not in run(stock.markdown_list, actor=people["ops"]).rows["id"].tolist()


# ---------------------------------------------------------------- price changes
def test_a_markdown_is_recorded_on_the_car_its_listing_the_history_and_the_audit(engine, w, people):
    state_ = run(prices.change_prices, actor=people["ops"], stock_car_id=w["A"], version=1,
                 asking_price="203900", floor_price="200000", reason="库龄超30天，按库龄段价位调价")
    assert (state_.status, state_.version) == ("in_stock", 2)
    car = one(engine, "SELECT asking_price, floor_price, listing_id FROM inv.stock_cars WHERE id = :id",
              id=w["A"])
    assert (car["asking_price"], car["floor_price"]) == (D("203900.00"), D("200000.00"))
    assert one(engine, "SELECT price FROM app.listings WHERE id = :l", l=car["listing_id"])["price"] == D("203900.00")
    ch = one(engine, "SELECT * FROM inv.price_changes WHERE stock_car_id = :id", id=w["A"])
    assert (ch["asking_before"], ch["asking_after"], ch["floor_before"], ch["floor_after"],
            ch["reason"], ch["changed_by"]) == (D("206000.00"), D("203900.00"), D("200000.00"),
                                                D("200000.00"), "库龄超30天，按库龄段价位调价",
                                                people["ops"].id)
    audit = one(engine, "SELECT * FROM ops.audit_log WHERE entity_type = 'stock_car'")
    assert (audit["action"], audit["entity_id"], audit["before"], audit["after"]) == (
        "stock_car.reprice", str(w["A"]), {"asking_price": "206000.00", "floor_price": "200000.00"},
        {"asking_price": "203900.00", "floor_price": "200000.00"})
    # at its band's price now: still on the list (the share is of the margin at purchase),
    # with no further cut suggested; the car's page shows the history
    row = run(stock.markdown_list, actor=people["ops"]).rows.set_index("id").loc[w["A"]]
    assert (row["first_asking"], row["asking_price"], row["suggested_price"]) == (
        D("206000.00"), D("203900.00"), None)
    page = run(stock.car_page, actor=people["ops"], stock_car_id=w["A"])
    assert page.prices["asking_after"].tolist() == [D("203900.00")]
    assert (page.car["margin_at_purchase"], page.car["margin_left"], page.suggestion.price,
            page.daily_cost) == (D("6000.00"), D("-150.00"), None, D("90.00"))


def test_a_floor_above_the_asking_price_is_refused_and_nothing_changes(engine, w, people):
    before = state(engine)
    with pytest.raises(InvalidInput) as err:
        run(prices.change_prices, actor=people["manager"], stock_car_id=w["A"], version=1,
            asking_price="200000", floor_price="201000", reason="调价")
    assert err.value.key == "inventory.error.floor_above_asking"
    assert err.value.params == {"floor": "¥201,000.00", "asking": "¥200,000.00"}
    assert state(engine) == before


def test_only_a_manager_lowers_the_floor(engine, w, people):
    before = state(engine)
    with pytest.raises(PermissionDenied) as err:
        run(prices.change_prices, actor=people["ops"], stock_car_id=w["C"], version=1,
            asking_price="152500", floor_price="150000", reason="清库")
    assert err.value.key == "inventory.error.floor_needs_manager"
    assert state(engine) == before
    run(prices.change_prices, actor=people["manager"], stock_car_id=w["C"], version=1,
        asking_price="152500", floor_price="150000", reason="清库，经理批准")
    assert one(engine, "SELECT floor_price FROM inv.stock_cars WHERE id = :id",
               id=w["C"])["floor_price"] == D("150000.00")


@pytest.mark.parametrize("kw, error, key", [
    ({"reason": "   "}, InvalidInput, "inventory.error.reason_required"),
    ({"asking_price": "206000", "floor_price": "200000"}, InvalidInput, "inventory.error.no_change"),
    ({"asking_price": "NaN"}, InvalidInput, "inventory.error.bad_asking"),
    ({"asking_price": "-5"}, InvalidInput, "inventory.error.bad_asking"),
    ({"asking_price": "=1+1"}, InvalidInput, "inventory.error.bad_asking"),
    ({"floor_price": "1" * 41}, InvalidInput, "input.floor_price"),
    ({"asking_price": D("NaN")}, InvalidInput, "input.asking_price"),
    ({"reason": "改价\x00"}, InvalidInput, "input.reason"),
    ({"reason": "长" * 100_000}, InvalidInput, "input.reason"),
    ({"version": 2}, Conflict, "error.stale"),
])
def test_bad_price_changes_are_refused_and_change_nothing(engine, w, people, kw, error, key):
    before = state(engine)
    args = {"stock_car_id": w["A"], "version": 1, "asking_price": "204000",
            "floor_price": "200000", "reason": "调价"} | kw
    with pytest.raises(error) as err:
        run(prices.change_prices, actor=people["ops"], **args)
    assert err.value.key.startswith(key.rsplit(".", 1)[0] if key.startswith("input.") else key)
    assert state(engine) == before


def test_full_width_and_wan_prices_are_read_as_typed(engine, w, people):
    run(prices.change_prices, actor=people["ops"], stock_car_id=w["A"], version=1,
        asking_price="２０.５万", floor_price="¥200,000", reason="调价")
    car = one(engine, "SELECT asking_price, floor_price FROM inv.stock_cars WHERE id = :id", id=w["A"])
    assert (car["asking_price"], car["floor_price"]) == (D("205000.00"), D("200000.00"))


# ---------------------------------------------------------------- reserve, release, sell
def test_a_sale_freezes_the_holding_cost_and_realised_margin_and_sells_the_listing(engine, w, people):
    done = run(sales.sell, actor=people["ops"], stock_car_id=w["A"], version=1,
               merchant_id=w["buyer"], sold_price="205000", note="电话成交")
    assert (done.status, done.version) == ("sold", 2)
    car = one(engine, "SELECT * FROM inv.stock_cars WHERE id = :id", id=w["A"])
    # 45 days × ¥90 = 4,050; 205,000 − 200,000 − 4,050 = 950
    assert (car["status"], car["sold_to"], car["sold_by"], car["sold_price"], car["holding_cost"],
            car["realised_margin"]) == ("sold", w["buyer"], people["ops"].id, D("205000.00"),
                                        D("4050.00"), D("950.00"))
    assert one(engine, "SELECT status FROM app.listings WHERE id = :l",
               l=car["listing_id"])["status"] == "sold"
    audit = one(engine, "SELECT * FROM ops.audit_log WHERE action = 'stock_car.sell'")
    # the sale is a completed deal on the car's listing, sold by the platform's merchant: GMV
    order = one(engine, "SELECT * FROM app.orders WHERE id = :o", o=car["order_id"])
    seller = one(engine, "SELECT merchant_id FROM app.listings WHERE id = :l",
                 l=car["listing_id"])["merchant_id"]
    assert (order["listing_id"], order["buyer_id"], order["seller_id"], order["quantity"],
            order["unit_price"], order["amount"], order["deposit_amount"], order["status"],
            order["completed_at"]) == (car["listing_id"], w["buyer"], seller, 1,
                                       D("205000.00"), D("205000.00"), D("0.00"), "completed",
                                       car["sold_at"])
    assert audit["after"] == {"status": "sold", "sold_to": w["buyer"], "sold_price": "205000.00",
                              "order_id": car["order_id"],
                              "days_in_stock": 45, "holding_cost": "4050.00",
                              "realised_margin": "950.00"}
    assert audit["reason"] == "电话成交"
    # the list shows the sale's frozen numbers
    row = run(stock.stock_list, actor=people["ops"],
              filters=stock.StockFilters(statuses=("sold",))).rows.iloc[0]
    assert (row["id"], row["days"], row["holding"], row["margin_left"]) == (
        w["A"], 45, D("4050.00"), D("950.00"))
    # and it cannot be sold, reserved or repriced again
    for fn, kw in ((sales.sell, {"merchant_id": w["buyer2"], "sold_price": "206000"}),
                   (sales.reserve, {"merchant_id": w["buyer2"]}),
                   (prices.change_prices, {"asking_price": "1", "floor_price": "1", "reason": "x"})):
        with pytest.raises(Conflict) as err:
            run(fn, actor=people["ops"], stock_car_id=w["A"], version=2, **kw)
        assert err.value.key == "inventory.error.sold"


def test_reserve_then_sell_to_the_same_buyer_or_release(engine, w, people):
    r = run(sales.reserve, actor=people["ops"], stock_car_id=w["A"], version=1,
            merchant_id=w["buyer"], note="客户下周提车")
    car = one(engine, "SELECT status, reserved_for, reserved_by FROM inv.stock_cars WHERE id = :id",
              id=w["A"])
    assert (r.version, car["status"], car["reserved_for"], car["reserved_by"]) == (
        2, "reserved", w["buyer"], people["ops"].id)
    rel = run(sales.release, actor=people["ops"], stock_car_id=w["A"], version=2)
    assert rel.status == "in_stock"
    run(sales.reserve, actor=people["ops"], stock_car_id=w["A"], version=3, merchant_id=w["buyer"])
    sold = run(sales.sell, actor=people["ops"], stock_car_id=w["A"], version=4,
               merchant_id=w["buyer"], sold_price="206000")
    assert sold.status == "sold"
    actions = [r["action"] for r in db.fetch_all(engine.connect(), """
        SELECT action FROM ops.audit_log WHERE entity_type = 'stock_car' ORDER BY id""")]
    assert actions == ["stock_car.reserve", "stock_car.release", "stock_car.reserve",
                       "stock_car.sell"]


def test_selling_a_car_reserved_for_another_buyer_is_refused(engine, w, people):
    run(sales.reserve, actor=people["ops"], stock_car_id=w["A"], version=1, merchant_id=w["buyer"])
    before = state(engine)
    with pytest.raises(Conflict) as err:
        run(sales.sell, actor=people["ops2"], stock_car_id=w["A"], version=2,
            merchant_id=w["buyer2"], sold_price="206000")
    assert (err.value.key, err.value.params) == ("inventory.error.reserved_for_other",
                                                 {"buyer": "华北车行"})
    assert state(engine) == before


@pytest.mark.parametrize("kw, error, key", [
    ({"sold_price": "199999.99"}, InvalidInput, "inventory.error.below_floor"),
    ({"sold_price": "0"}, InvalidInput, "inventory.error.bad_sold_price"),
    ({"sold_price": "１e9"}, InvalidInput, "inventory.error.bad_sold_price"),
    ({"merchant_id": "platform"}, InvalidInput, "inventory.error.buyer_is_seller"),
    ({"merchant_id": 10**9}, Exception, "inventory.error.buyer_not_found"),
    ({"version": 7}, Conflict, "error.stale"),
    ({"note": "a\x00b"}, InvalidInput, "input."),
])
def test_bad_sales_are_refused_and_change_nothing(engine, w, people, kw, error, key):
    if kw.get("merchant_id") == "platform":
        kw = {"merchant_id": w["platform"]}
    before = state(engine)
    args = {"stock_car_id": w["A"], "version": 1, "merchant_id": w["buyer"],
            "sold_price": "205000"} | kw
    with pytest.raises(error) as err:
        run(sales.sell, actor=people["ops"], **args)
    assert err.value.key.startswith(key)
    assert state(engine) == before


def test_a_suspended_buyer_cannot_reserve(engine, w, people):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": w["buyer"]})
    before = state(engine)
    with pytest.raises(InvalidInput) as err:
        run(sales.reserve, actor=people["ops"], stock_car_id=w["A"], version=1,
            merchant_id=w["buyer"])
    assert (err.value.key, err.value.params) == ("inventory.error.buyer_inactive",
                                                 {"name": "华北车行"})
    assert state(engine) == before


def test_release_of_a_car_not_reserved_is_refused(engine, w, people):
    with pytest.raises(Conflict) as err:
        run(sales.release, actor=people["ops"], stock_car_id=w["A"], version=1)
    assert err.value.key == "inventory.error.not_reserved"


# ---------------------------------------------------------------- roles
@pytest.mark.parametrize("role", ["bd", "risk"])
def test_only_ops_and_managers_use_the_desk(engine, w, people, role):
    before = state(engine)
    calls = [(stock.stock_list, {"filters": stock.StockFilters()}),
             (stock.ageing_summary, {}), (stock.markdown_list, {}),
             (stock.car_page, {"stock_car_id": w["A"]}),
             (prices.change_prices, {"stock_car_id": w["A"], "version": 1,
                                     "asking_price": "204000", "floor_price": "200000",
                                     "reason": "x"}),
             (sales.reserve, {"stock_car_id": w["A"], "version": 1, "merchant_id": w["buyer"]}),
             (sales.sell, {"stock_car_id": w["A"], "version": 1, "merchant_id": w["buyer"],
                           "sold_price": "205000"})]
    for fn, kw in calls:
        with pytest.raises(PermissionDenied):
            run(fn, actor=people[role], **kw)
    assert state(engine) == before


def test_a_bad_filter_is_refused(engine, w, people):
    with pytest.raises(InvalidInput) as err:
        run(stock.stock_list, actor=people["ops"], filters=stock.StockFilters(band="120+"))
    assert err.value.key == "inventory.error.bad_filter"


def test_days_follow_the_shanghai_clock(engine, w, people, monkeypatch):
    later = clock.now() + timedelta(days=20)
    monkeypatch.setattr(clock, "now", lambda: later)
    row = run(stock.stock_list, actor=people["ops"],
              filters=stock.StockFilters(band="61_90")).rows
    # D: 61 + 20 = 81 days × ¥60 = ¥4,860; A: 45 + 20 = 65 days × ¥90 = ¥5,850
    assert row[["id", "days", "holding"]].values.tolist() == [[w["D"], 81, D("4860.00")],
                                                             [w["A"], 65, D("5850.00")]]
