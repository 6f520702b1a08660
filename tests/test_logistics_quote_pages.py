"""The desk's carriers, quotes and loads on the pages (AppTest, zh and en): the quotes panel on
the request page (estimates, a bad quote refused in words with nothing changed, a quote
recorded and booked), /loads (a proposal with its saving per car, confirmed by a person),
/carriers (a carrier added; the phone masked for a manager)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from console import clock
from tests import lgx_quote_rows as qr
from tests import trust_rows as rows
from tests.apptest import APP

TRANSPORT = "pages/ops_transport.py"
LOADS = "pages/ops_loads.py"
CARRIERS = "pages/ops_carriers.py"
RATES = [("large", 2000, None, "1.2", "0"), ("large", 1000, 2000, "1.5", "0"),
         ("small", 2000, None, "2.0", "0"), ("small", 1000, 2000, "2.5", "0"),
         ("single", 2000, None, "4.0", "0")]


@pytest.fixture
def w(engine):
    c = qr.cities(engine, "上海", "苏州", "成都")
    a = qr.carrier(engine, name="川沪物流", lanes=[("上海市", "四川省"), ("江苏省", "四川省")],
                   rates=RATES, phone="13900001111")
    merchant, trim = rows.merchant(engine, city_id=c["上海"]), rows.trim(engine)
    rows.listing(engine, merchant_id=merchant, trim_id=trim, city_id=c["上海"])
    return {**c, "A": a, "merchant": merchant, "trim": trim}


def _req(engine, w, frm="上海", cars=1):
    return qr.submitted(engine, merchant_id=w["merchant"], trim_id=w["trim"],
                        from_city_id=w[frm], to_city_id=w["成都"], cars=cars,
                        ready=clock.today(), wanted_by=clock.today() + timedelta(days=10))


def opened(actor, page, query=None, lang="zh"):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(page).run()


def _scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _form_button(at, label):
    return next(b for b in at.button if b.label == label)


def test_the_quotes_panel_refuses_a_bad_price_then_records_and_books(engine, w, make_actor):
    ops = make_actor("ops")
    rid = _req(engine, w, cars=2)
    at = opened(ops, TRANSPORT, {"request": str(rid)})
    assert not at.exception and not at.error
    assert "报价" in [s.value for s in at.subheader]
    est = next(d.value for d in at.dataframe if "承运商评分" in d.value.columns)
    # 上海 → 成都 2,076 km × 1.2 / 2.0 / 4.0, two cars
    assert est[["承运商", "车型", "每车价格", "合计", "在途天数"]].values.tolist() == [
        ["川沪物流", "大板", "¥2,491.20", "¥4,982.40", "6"],
        ["川沪物流", "小板", "¥4,152.00", "¥8,304.00", "6"],
        ["川沪物流", "单车板", "¥8,304.00", "¥16,608.00", "6"]]
    assert any("2,076" in c.value for c in at.caption)
    # a price of NaN: refused in words, nothing written
    at.selectbox(key=f"lgx_record_carrier_{rid}").set_value(w["A"])
    at.text_input(key=f"lgx_record_price_{rid}").input("NaN")
    _form_button(at, "记录报价").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "每车报价无效：请输入以元为单位的正数，最多两位小数（如 2491.20），不能是 NaN、负数或过长的文字。未做任何更改。"]
    assert _scalar(engine, "SELECT count(*) FROM lgx.quotes") == 0
    # a real quote
    at.selectbox(key=f"lgx_record_carrier_{rid}").set_value(w["A"])
    at.text_input(key=f"lgx_record_price_{rid}").input("2,300")
    _form_button(at, "记录报价").click().run()
    assert not at.exception and not at.error
    assert "报价已记录。" in [s.value for s in at.success]
    assert _scalar(engine, "SELECT status FROM lgx.requests WHERE id = :r", r=rid) == "quoted"
    quote_id = _scalar(engine, "SELECT id FROM lgx.quotes WHERE request_id = :r", r=rid)
    # book it: 2 × 2,300 = 4,600.00; × 1.08 = 4,968.00
    book = at.selectbox(key=f"lgx_book_pick_{rid}")
    assert book.options[-1] == f"报价 #{quote_id} · 川沪物流 · 合计 ¥4,600.00"
    book.set_value(("quote", quote_id, "川沪物流", D("4600.00")))
    _form_button(at, "下单").click().run()
    assert not at.exception and not at.error
    assert "已下单：承运成本 ¥4,600.00，商家价 ¥4,968.00，平台毛利 ¥368.00。" in [
        s.value for s in at.success]
    assert _scalar(engine, "SELECT status FROM lgx.requests WHERE id = :r", r=rid) == "ordered"


def test_loads_page_shows_the_saving_and_a_person_confirms(engine, w, make_actor):
    ops = make_actor("ops")
    r1, r2 = _req(engine, w), _req(engine, w, frm="苏州", cars=2)
    at = opened(ops, LOADS)
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    # alone: 上海 small 4,152.00; 苏州 (1,970 km) small 2.5 × 1,970 × 2 = 9,850.00 → 14,002.00
    # together: 2,491.20 + 1.5 × 1,970 × 2 = 8,401.20; (14,002.00 − 8,401.20) / 3 = 1,866.93
    assert (metrics["各自单独发运"], metrics["拼板发运"], metrics["每车节省"]) == (
        "¥14,002.00", "¥8,401.20", "¥1,866.93")
    next(b for b in at.button if b.label == "确认拼板").click().run()
    assert not at.exception and not at.error
    load_id = _scalar(engine, "SELECT id FROM lgx.loads")
    assert [s.value for s in at.success] == [f"已确认拼板 #{load_id}，配入 3 台车。"]
    assert _scalar(engine, "SELECT cars_booked FROM lgx.loads") == 3
    assert _scalar(engine, "SELECT count(*) FROM lgx.requests WHERE load_id = :l AND id IN (:a, :b)",
                   l=load_id, a=r1, b=r2) == 2
    assert any("没有可拼板" in i.value for i in at.info)


def test_the_directory_adds_a_carrier_and_masks_the_phone_for_a_manager(engine, w, make_actor):
    ops = make_actor("ops")
    at = opened(ops, CARRIERS)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table.loc[table["承运商"] == "川沪物流", "电话"].tolist() == ["13900001111"]
    inputs = {i.label: i for i in at.text_input}
    inputs["承运商名称"].input("长江快运")
    inputs["联系人"].input("赵经理")
    inputs["联系电话"].input("02155550101")
    inputs["每车保额（元）"].input("150000")
    next(m for m in at.multiselect if m.label == "车型").set_value(["large"])
    next(b for b in at.button if b.label == "新增").click().run()
    assert not at.exception and not at.error
    assert _scalar(engine, "SELECT cover_per_car FROM lgx.carriers WHERE name = '长江快运'") == 150000
    mgr = opened(make_actor("manager"), CARRIERS, lang="en")
    assert not mgr.exception and not mgr.error
    table = mgr.dataframe[0].value
    assert table.loc[table["Carrier"] == "川沪物流", "Phone"].tolist() == ["139****1111"]
    assert [b.label for b in mgr.button if b.label in ("Add", "Save")] == []


def test_the_carrier_page_shows_its_score_from_its_deliveries(engine, w, make_actor):
    from tests import lgx_rows as lx
    wanted = clock.today() - timedelta(days=3)
    world = {"merchant": w["merchant"], "trim": w["trim"], "from": w["上海"], "to": w["成都"]}
    lx.request(engine, world, carrier_id=w["A"], wanted_by=wanted, delivered_on=wanted)
    lx.request(engine, world, carrier_id=w["A"], wanted_by=wanted,
               delivered_on=wanted + timedelta(days=1))
    at = opened(make_actor("manager"), CARRIERS, {"carrier": str(w["A"])})
    assert not at.exception and not at.error
    # 1 of 2 on time, no damage, no rating: (40 × 0.5 + 30 × 1) / 70 × 100 = 71.4
    assert "评分 71.4：准时率 50.0%，车损率 0.0%，平均评价 — 星（已交车 2 单，评价 0 条）。" in [
        c.value for c in at.caption]
