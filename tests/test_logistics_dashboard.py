"""The logistics dashboard's mart (console/logistics/mart.py) and its services
(console/logistics/dashboard.py): every figure equals independent SQL over the raw lgx tables
(and road km from console/logistics/geo.py), and the hand-worked figures of a small world of
two lanes over two months; the jobs step as dh_jobs under its lock; the freshness badge."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console import clock
from console.errors import PermissionDenied
from console.logistics import dashboard, geo, mart
from console.settings import get_settings
from tests import lgx_rows as lx


def _months():
    this = clock.today().replace(day=1)
    prev = (this - timedelta(days=1)).replace(day=1)
    return prev, this


@pytest.fixture
def book(engine, make_actor):
    """Two lanes (上海→成都, 上海→北京), last month and this month, worked by hand below."""
    w = lx.world(engine)
    w["bj"] = lx.city(engine, name="北京市", province="北京市", lon=116.41, lat=39.90)
    ops = make_actor("ops").id
    a, b = lx.carrier(engine), lx.carrier(engine)
    prev, this = _months()
    p = prev + timedelta(days=2)
    # last month: 上海→成都 2 orders (3 cars), 上海→北京 1 order (3 cars)
    r1 = lx.request(engine, w, carrier_id=a, cars=2, ready=p, ordered_on=p,
                    wanted_by=p + timedelta(days=6), delivered_on=p + timedelta(days=5),
                    price=6000, cost=5200)
    lx.claim(engine, request_id=r1, carrier_id=a, status="settled", settled_amount=800,
             staff_id=ops)                                      # damaged
    lx.request(engine, w, carrier_id=b, cars=1, ready=p, ordered_on=p,
               wanted_by=p + timedelta(days=5), delivered_on=p + timedelta(days=7),
               price=3000, cost=2700)                           # late
    r3 = lx.request(engine, w, carrier_id=a, cars=3, ready=p, ordered_on=p, to_city=w["bj"],
                    wanted_by=p + timedelta(days=4), delivered_on=p + timedelta(days=3),
                    price=4500, cost=3900)
    lx.claim(engine, request_id=r3, carrier_id=a, kind="delay", amount=300, status="settled",
             staff_id=ops)                                      # on time by date, late by claim
    lx.claim(engine, request_id=r3, carrier_id=a, kind="damage", amount=300,
             status="rejected", staff_id=ops)                   # no outcome against it
    cancelled = lx.request(engine, w, carrier_id=a, cars=4, ready=p, ordered_on=p,
                           status="ordered", price=9000, cost=8000)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE lgx.requests SET status = 'cancelled' WHERE id = :r"),
                     {"r": cancelled})
    lx.request(engine, w, status="awaiting_quote", cars=5, ready=p)     # no order
    lx.request(engine, w, status="quoted", cars=2, ready=p)             # no order
    # this month: 上海→北京 1 in transit, 上海→成都 2 cars delivered today, on time
    lx.request(engine, w, carrier_id=b, cars=1, ready=this, ordered_on=this, to_city=w["bj"],
               status="in_transit", price=1500, cost=1300)
    lx.request(engine, w, carrier_id=a, cars=2, ready=this, ordered_on=this,
               wanted_by=clock.today(), delivered_on=clock.today(), delivered_hour=9,
               price=6200, cost=5400)
    w.update(a=a, b=b, ops=ops)
    return w


def _rebuild(jobs_engine):
    with jobs_engine.begin() as conn:
        return mart.rebuild(conn)


def _mart(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(
            """SELECT * FROM mart.lgx_lane_month ORDER BY month, from_city_id, to_city_id"""))]


# An independent reading of the raw tables: EXISTS for the claims, the ordered day by
# AT TIME ZONE, the money summed per request row; road km from geo.py in Python.
_TRUTH = """
    SELECT date_trunc('month', (r.ordered_at AT TIME ZONE 'Asia/Shanghai'))::date AS month,
           r.from_city_id, r.to_city_id,
           count(*) AS orders, sum(r.cars) AS cars,
           sum(CASE WHEN r.status = 'delivered' THEN 1 ELSE 0 END) AS delivered,
           sum(CASE WHEN r.status = 'delivered'
                     AND (r.delivered_at AT TIME ZONE 'Asia/Shanghai')::date <= r.wanted_by
                     AND NOT EXISTS (SELECT 1 FROM lgx.claims c WHERE c.request_id = r.id
                                     AND c.carrier_id = r.carrier_id AND c.kind = 'delay'
                                     AND c.status = 'settled')
                    THEN 1 ELSE 0 END) AS on_time,
           sum(CASE WHEN r.status = 'delivered'
                     AND EXISTS (SELECT 1 FROM lgx.claims c WHERE c.request_id = r.id
                                 AND c.carrier_id = r.carrier_id AND c.kind = 'damage'
                                 AND c.status = 'settled')
                    THEN 1 ELSE 0 END) AS damaged,
           sum(r.price_to_merchant) AS revenue, sum(r.cost_from_carrier) AS cost
    FROM lgx.requests r
    WHERE r.status NOT IN ('awaiting_quote', 'quoted', 'cancelled')
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def _truth(engine):
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(_TRUTH))]
        cities = {c.id: c for c in (geo.City(id=r.id, name=r.name, province=r.province,
                                              latitude=r.latitude, longitude=r.longitude)
                                    for r in conn.execute(sa.text("SELECT * FROM app.cities")))}
    factor = get_settings().logistics_road_factor
    for row in rows:
        km = geo.city_road_km(cities[row["from_city_id"]], cities[row["to_city_id"]], factor)
        row["road_km"] = km
        row["car_km"] = row["cars"] * km
    return rows


def _keyed(rows):
    cols = ("orders", "cars", "delivered", "on_time", "damaged", "revenue", "cost", "road_km",
            "car_km")
    return {(r["month"], r["from_city_id"], r["to_city_id"]): tuple(int(r[c]) if c not in (
        "revenue", "cost") else D(r[c]) for c in cols) for r in rows}


def test_the_mart_equals_independent_sql_over_the_raw_tables(engine, jobs_engine, book):
    result = _rebuild(jobs_engine)
    assert (result.orders, result.lane_rows) == (5, 4)
    assert _keyed(_mart(engine)) == _keyed(_truth(engine))


def test_the_hand_worked_figures(engine, jobs_engine, book, make_actor):
    _rebuild(jobs_engine)
    prev, this = _months()
    with engine.connect() as conn:
        km = {(r.from_city_id, r.to_city_id): r.road_km for r in conn.execute(sa.text(
            "SELECT DISTINCT from_city_id, to_city_id, road_km FROM mart.lgx_lane_month"))}
    cd, bj = km[(book["from"], book["to"])], km[(book["from"], book["bj"])]
    # the great circle × 1.25: 上海→成都 about 2,077 km, 上海→北京 about 1,337 km
    assert (2_050 < cd < 2_100, 1_300 < bj < 1_380) == (True, True)
    rows = {(r["month"], r["to_city_id"]): r for r in _mart(engine)}
    got = {k: (r["orders"], r["cars"], r["delivered"], r["on_time"], r["damaged"],
               r["revenue"], r["cost"]) for k, r in rows.items()}
    assert got == {
        (prev, book["to"]): (2, 3, 2, 1, 1, D("9000.00"), D("7900.00")),
        (prev, book["bj"]): (1, 3, 1, 0, 0, D("4500.00"), D("3900.00")),
        (this, book["bj"]): (1, 1, 0, 0, 0, D("1500.00"), D("1300.00")),
        (this, book["to"]): (1, 2, 1, 1, 0, D("6200.00"), D("5400.00")),
    }
    manager = make_actor("manager")
    with engine.connect() as conn:
        every = dashboard.totals(conn=conn, actor=manager, months=0)
        recent = dashboard.totals(conn=conn, actor=manager, months=1)
        lanes = dashboard.by_lane(conn=conn, actor=manager, months=0)
        months = dashboard.by_month(conn=conn, actor=manager, months=6)
    # all: 5 orders, 9 cars, 4 delivered, 2 on time, 1 damaged; 21,200 − 18,500 = 2,700
    assert {k: every[k] for k in ("orders", "cars", "delivered", "on_time", "damaged", "lanes",
                                  "revenue", "cost", "margin")} == {
        "orders": 5, "cars": 9, "delivered": 4, "on_time": 2, "damaged": 1, "lanes": 2,
        "revenue": 21_200.0, "cost": 18_500.0, "margin": 2_700.0}
    assert (every["on_time_rate"], every["damage_rate"], every["margin_per_order"]) == (
        0.5, 0.25, 540.0)
    assert every["cost_per_car_km"] == pytest.approx(18_500 / (5 * cd + 4 * bj))
    # this month: 2 orders, 3 cars, 1 delivered on time; 7,700 − 6,700 = 1,000 → 500 an order
    assert (recent["orders"], recent["cars"], recent["on_time_rate"], recent["damage_rate"],
            recent["margin"], recent["margin_per_order"]) == (2, 3, 1.0, 0.0, 1_000.0, 500.0)
    # busiest first: 上海→成都 moved 5 cars, 上海→北京 4
    assert lanes[["from_city", "to_city", "orders", "cars"]].values.tolist() == [
        ["上海", "成都", 3, 5], ["上海", "北京", 2, 4]]
    # margins: 上海→成都 800 + 300 + 800 = 1,900 over 3 orders; 上海→北京 600 + 200 = 800 over 2
    assert lanes["margin"].tolist() == [1_900.0, 800.0]
    assert lanes["margin_per_order"].tolist() == pytest.approx([1_900 / 3, 400.0])
    assert lanes["cost_per_car_km"].tolist() == pytest.approx([13_300 / (5 * cd),
                                                               5_200 / (4 * bj)])
    assert lanes["on_time_rate"].tolist() == pytest.approx([2 / 3, 0.0])
    assert months["month"].tolist() == [prev, this]
    assert months["orders"].tolist() == [3, 2]


def test_a_settled_claim_after_a_rebuild_shows_at_the_next_and_rebuilds_replace(engine,
                                                                               jobs_engine, book):
    _rebuild(jobs_engine)
    prev, _ = _months()
    with engine.begin() as conn:
        conn.execute(sa.text("""UPDATE lgx.claims SET status = 'settled', settled_amount = 100
                                WHERE kind = 'damage' AND status = 'rejected'"""))
    _rebuild(jobs_engine)
    _rebuild(jobs_engine)
    assert _keyed(_mart(engine)) == _keyed(_truth(engine))
    row = next(r for r in _mart(engine) if r["month"] == prev and r["to_city_id"] == book["bj"])
    assert (row["damaged"], row["on_time"]) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mart.lgx_builds")).scalar() == 3


def test_the_dashboard_is_for_managers_and_the_desk(engine, book, make_actor, console_engine):
    for who in ("bd", "risk"):
        with console_engine.connect() as conn, pytest.raises(PermissionDenied):
            dashboard.totals(conn=conn, actor=make_actor(who), months=0)


def test_the_jobs_step_builds_as_dh_jobs_under_its_lock_and_the_badge_follows(
        engine, jobs_engine, console_engine, book, make_actor):
    from console import job_runs, jobs
    manager = make_actor("manager")
    with console_engine.connect() as conn:
        assert dashboard.freshness(conn=conn, actor=manager).state == "none"
    step = dict(jobs.steps(full=False))["logistics_mart"]
    with jobs.job_lock(jobs_engine, "logistics_mart") as got:
        assert got
        assert jobs.run_step("logistics_mart", step, engine=jobs_engine).skipped
    result = jobs.run_step("logistics_mart", step, engine=jobs_engine)
    assert result.ok, result.detail
    assert result.detail.startswith(f"logistics mart as of {clock.today()}: orders=5")
    with console_engine.connect() as conn:
        fresh = dashboard.freshness(conn=conn, actor=manager)
    assert (fresh.state, fresh.as_of, fresh.last_run_status) == ("ok", clock.today(),
                                                                "succeeded")
    assert fresh.newest_source is not None
    job_runs.record(jobs_engine, "logistics_mart", seconds=1.0, ok=False, error="OperationalError")
    with console_engine.connect() as conn:
        assert dashboard.freshness(conn=conn, actor=manager).state == "failed"


def test_window_start_counts_the_current_month():
    prev, this = _months()
    assert dashboard.window_start(1) == this
    assert dashboard.window_start(2) == prev
    assert dashboard.window_start(0) is None
    assert dashboard.window_start(13) == this.replace(year=this.year - 1)


# ---------------------------------------------------------------- the page
PAGE = "pages/mgr_logistics.py"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_shows_the_hand_worked_figures(engine, jobs_engine, book, make_actor, lang):
    from tests.apptest import app_as
    _rebuild(jobs_engine)
    at = app_as(make_actor("manager"), lang=lang, page=PAGE)
    assert not at.exception and not at.error
    zh = lang == "zh"
    metrics = {m.label: m.value for m in at.metric}
    # the default window, 6 months, holds both months: the figures of every order
    assert metrics["订单数" if zh else "Orders"] == "5"
    assert metrics["运车台数" if zh else "Cars moved"] == "9"
    assert metrics["准时率" if zh else "On-time rate"] == "50.0%"
    assert metrics["货损率" if zh else "Damage rate"] == "25.0%"
    assert metrics[f"{'平台毛利' if zh else 'Margin'} ({'万元' if zh else '10k CNY'})"] \
        == "0.27"
    assert metrics["单均毛利" if zh else "Margin per order"] == "¥540"
    assert metrics["每车公里成本" if zh else "Cost per car-km"].startswith("¥")   # in yuan
    text = "\n".join([c.value for c in at.caption] + [s.value for s in at.subheader]
                     + [m.value for m in at.markdown])
    assert "{" not in text
    assert ("数据已更新" if zh else "Up to date") in text        # the freshness badge
    assert (f"数据截至 {clock.today()}" if zh else f"as of {clock.today()}") in text
    lanes = at.dataframe[0].value
    assert lanes.iloc[:, 0].tolist() == ["上海 → 成都", "上海 → 北京"]
    assert lanes.iloc[0].tolist()[2:6] == ["3", "5", "66.7%", "33.3%"]
    assert lanes.iloc[1].tolist()[-1] == "¥400"
    # every month: the same two months
    at.segmented_control(key="lgx_dash_window").set_value(0).run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["订单数" if zh else "Orders"] == "5"


def test_the_page_before_any_build_and_for_other_roles(engine, make_actor):
    from tests.apptest import app_as
    at = app_as(make_actor("manager"), lang="zh", page=PAGE)
    assert not at.exception and not at.error
    assert any("尚未计算" in i.value for i in at.info)
    from console.ui.nav import PAGES
    spec = next(p for p in PAGES if p.path == PAGE)
    assert spec.roles == {"manager", "ops"} and spec.url_path == "logistics-dashboard"
