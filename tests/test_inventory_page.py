"""The stock page (/stock, pages/ops_stock.py) in AppTest, zh and en: the ageing chart (capital
and cars by band), the stock list and the markdown list with the hand-computed numbers of
tests/test_inventory.py; a car's page refusing a floor above the asking price in words with
nothing changed, then applying the suggested markdown and selling the car."""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests import inv_rows as inv
from tests.apptest import APP

PAGE = "pages/ops_stock.py"


@pytest.fixture
def w(engine):
    w = inv.world(engine)
    w["A"] = inv.car(engine, w, cost="200000", days=45, asking="206000", floor="200000")
    w["B"] = inv.car(engine, w, cost="123456", days=10, asking="127000", floor="124000")
    w["C"] = inv.car(engine, w, cost="150000", days=95, asking="153000", floor="152500")
    return w


def opened(actor, query=None, lang="zh"):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params.update(query or {})
    at.run()
    return at.switch_page(PAGE).run()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def frame_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.parametrize("lang, cols, md_cols", [
    ("zh", ["编号", "库龄（天）", "库龄段", "持有成本至今", "剩余毛利"],
     ["编号", "已吃掉毛利", "库龄段价位", "建议售价"]),
    ("en", ["No.", "Days in stock", "Age band", "Holding cost to date", "Margin left"],
     ["No.", "Margin eaten", "Band's price", "Suggested asking price"]),
])
def test_the_stock_page_renders_its_chart_and_lists(engine, w, make_actor, lang, cols, md_cols):
    at = opened(make_actor("manager"), lang=lang)
    assert not at.exception and not at.error
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars, line = figure["data"]
    # capital in 万元 by band: 12.3456 / 20 / 0 / 15; cars 1 / 1 / 0 / 1
    assert [round(v, 4) for v in bars["y"]] == [12.3456, 20.0, 0.0, 15.0]
    assert line["y"] == [1, 1, 0, 1]
    stock = frame_with(at, cols[3])
    # status, days and the margin left before the table's right edge
    assert list(stock.columns[:6]) == ([
        "编号", "车型", "状态", "库龄（天）", "库龄段", "剩余毛利"] if lang == "zh" else [
        "No.", "Car", "Status", "Days in stock", "Age band", "Margin left"])
    assert stock[cols].values.tolist() == [
        [w["C"], "95", "90 天以上" if lang == "zh" else "Over 90 days", "¥7,125", "−¥4,125"],
        [w["A"], "45", "31–60 天" if lang == "zh" else "31–60 days", "¥4,050", "¥1,950"],
        [w["B"], "10", "0–30 天" if lang == "zh" else "0–30 days", "¥670", "¥2,874"]]
    md = frame_with(at, md_cols[1])
    floor = "（底价）" if lang == "zh" else " (floor)"
    assert md[md_cols].values.tolist() == [
        [w["C"], "237.5%", "¥148,400", f"¥152,500{floor}"],
        [w["A"], "67.5%", "¥203,900", "¥203,900"]]


def test_a_cars_page_refuses_a_floor_above_asking_then_marks_down_and_sells(engine, w, make_actor):
    ops = make_actor("ops")
    at = opened(ops, {"car": str(w["A"])})
    assert not at.exception and not at.error
    assert any("建议调价至 ¥203,900" in i.value for i in at.info)
    key = f"{w['A']}_v1"
    # the form opens on the car's own prices, not on the suggestion shown above it
    assert at.text_input(key=f"inv_asking_{key}").value == "206000.00"
    at.text_input(key=f"inv_asking_{key}").input("203900")
    at.text_input(key=f"inv_floor_{key}").input("210000")
    at.text_area(key=f"inv_reason_{key}").input("库龄调价")
    next(b for b in at.button if b.label == "保存价格").click().run()
    assert [e.value for e in at.error] == [
        "底价 ¥210,000.00 高于售价 ¥203,900.00：底价不能高于售价。未做任何更改。"]
    assert scalar(engine, "SELECT count(*) FROM inv.price_changes") == 0
    at.text_input(key=f"inv_floor_{key}").input("200000.00")
    next(b for b in at.button if b.label == "保存价格").click().run()
    assert not at.exception and not at.error
    assert scalar(engine, "SELECT asking_price FROM inv.stock_cars WHERE id = :id",
                  id=w["A"]) == D("203900.00")
    assert f"车辆 #{w['A']} 已改价。" in [s.value for s in at.success]
    history = frame_with(at, "新售价")
    assert history[["原售价", "新售价", "原因"]].values.tolist() == [["¥206,000", "¥203,900", "库龄调价"]]
    # sell it: 45 days × ¥90 = ¥4,050; 203,900 − 200,000 − 4,050 = −150
    key = f"{w['A']}_v2"
    assert at.text_input(key=f"inv_sell_price_{key}").value == "203900.00"
    at.number_input(key=f"inv_sell_buyer_{key}").set_value(w["buyer"])
    next(b for b in at.button if b.label == "确认售出").click().run()
    assert not at.exception and not at.error
    assert scalar(engine, "SELECT realised_margin FROM inv.stock_cars WHERE id = :id",
                  id=w["A"]) == D("-150.00")
    assert any("实现毛利 −¥150" in i.value for i in at.info)


def test_the_ageing_chart_counts_cars_in_whole_numbers(engine, w, make_actor):
    """The cars axis steps in whole cars (it took the capital axis's ticks: 16.7, 33.3 cars)."""
    at = opened(make_actor("ops"))
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert (layout["yaxis2"]["tickmode"], layout["yaxis2"]["dtick"],
            layout["yaxis2"]["tickformat"]) == ("linear", 1, ",d")    # at most 1 car a band


def test_back_to_the_stock_takes_the_car_out_of_the_address(engine, w, make_actor):
    """A reload after going back shows the stock, not the car again."""
    at = opened(make_actor("ops"), {"car": str(w["A"])})
    at.button(key="inv_back").click().run()
    assert not at.exception and not at.error
    assert "car" not in at.query_params
    assert [tab.label for tab in at.tabs] == ["库存列表", "库龄分布", "调价清单"]


@pytest.mark.parametrize("lang, words", [
    ("zh", "请填写买方的车商编号。未做任何更改。"),
    ("en", "Give the buyer's merchant number. Nothing was changed.")])
def test_a_sale_or_reservation_without_a_buyer_asks_for_one(engine, w, make_actor, lang, words):
    at = opened(make_actor("ops"), {"car": str(w["A"])}, lang=lang)
    sell = "确认售出" if lang == "zh" else "Confirm the sale"
    reserve = "预留" if lang == "zh" else "Reserve"
    next(b for b in at.button if b.label == sell).click().run()
    assert [e.value for e in at.error] == [words]
    next(b for b in at.button if b.label == reserve).click().run()
    assert [e.value for e in at.error] == [words]
    assert scalar(engine, "SELECT status || ' v' || version FROM inv.stock_cars WHERE id = :id",
                  id=w["A"]) == "in_stock v1"


def test_a_car_changed_elsewhere_is_said_so_and_its_old_form_saves_nothing(engine, w,
                                                                           make_actor):
    """A colleague reserves the car while this page shows it in stock: the sale pressed on
    the old page is not made, and the page says the car changed and what it is now."""
    from console import db
    from console.inventory import sales

    ops = make_actor("ops")
    at = opened(ops, {"car": str(w["A"])})
    with db.transaction() as conn:
        sales.reserve(conn=conn, actor=make_actor("ops"), stock_car_id=w["A"], version=1,
                      merchant_id=w["buyer"])
    at.number_input(key=f"inv_sell_buyer_{w['A']}_v1").set_value(w["buyer2"])
    next(b for b in at.button if b.label == "确认售出").click().run()
    assert not at.exception and not at.error
    changed, reserved = [x.value for x in at.warning]
    assert changed == (
        f"车辆 #{w['A']} 在您上次查看后已在别处被更改（他人或另一个标签页），现为「已预留」。"
        "页面已显示最新状态，旧页面上的表单没有保存任何内容，请核对后再操作。")
    assert reserved.startswith(f"已为 [华北车行](/merchant?id={w['buyer']}) 预留")
    assert scalar(engine, "SELECT status FROM inv.stock_cars WHERE id = :id", id=w["A"]) == "reserved"
    # this page's own change is no news: released here, no warning
    next(b for b in at.button if b.label == "释放").click().run()
    assert [s.value for s in at.success] == [f"车辆 #{w['A']} 的预留已释放。"]
    assert not at.warning
