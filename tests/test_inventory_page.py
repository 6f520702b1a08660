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
    assert at.text_input(key=f"inv_asking_{key}").value == "203900.00"   # the suggestion
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
