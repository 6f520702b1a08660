"""A suspended merchant's grade, limit and VIP show as suspended everywhere (issue 14).

The case the issue found: a suspended merchant's rating card still read AAA, a ¥5,000,000
limit and VIP. One rule (console.services.credit.shown_terms / withhold_terms) decides what
every page shows; the car-source search leaves suspended sellers out altogether.
"""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.services import credit, search
from console.services.credit import shown_terms, withhold_terms
from console.settings import PROJECT_ROOT
from tests.apptest import app_as
from tests.test_credit_support import merchant, rows
from tests import trust_rows as tr


# ---------------------------------------------------------------- the rule
@pytest.mark.parametrize("status, expected", [
    ("active", (None, "AAA", 5_000_000, True)),
    ("suspended", ("suspended", None, None, None)),
    ("closed", ("closed", None, None, None)),
])
def test_shown_terms_hold_nothing_while_a_merchant_is_on_hold(status, expected):
    terms = shown_terms(merchant_status=status, grade="AAA", loan_limit=5_000_000, vip_eligible=True)
    assert (terms.on_hold, terms.grade, terms.loan_limit, terms.vip) == expected
    assert terms.held is (status != "active")


def test_withhold_terms_empties_the_terms_of_held_rows_only():
    frame = pd.DataFrame({"merchant_id": [1, 2, 3], "status": ["active", "suspended", "closed"],
                          "grade": ["AA", "AAA", "BB"], "effective_grade": ["AAA", "AAA", "BB"],
                          "loan_limit": [5_000_000, 5_000_000, 500_000],
                          "vip_eligible": [True, True, False]})
    out = withhold_terms(frame)
    assert out["effective_grade"].tolist() == ["AAA", None, None]
    assert out["grade"].tolist() == ["AA", None, None]
    assert out["loan_limit"].tolist() == [5_000_000, None, None]
    assert out["vip_eligible"].tolist() == [True, None, None]
    assert out["on_hold"].tolist() == [None, "suspended", "closed"]
    assert frame["effective_grade"].tolist() == ["AAA", "AAA", "BB"]      # a copy


# ---------------------------------------------------------------- a scored world
@pytest.fixture
def rated(engine):
    """Two AAA merchants (¥5,000,000, VIP); one of them suspended."""
    top = merchant(engine, name="顶级车商")
    suspended = merchant(engine, name="暂停车商")
    with engine.begin() as conn:
        credit_engine.score_all(conn, load(DEFAULT_CONFIG))
        conn.execute(sa.text("""UPDATE ops.merchant_grade_current
                                SET grade = 'AAA', score_loan_limit = 5000000, score_vip_eligible = true"""))
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": suspended})
    return {"top": top, "suspended": suspended}


def test_the_services_withhold_a_suspended_merchants_terms(engine, make_actor, rated):
    risk = make_actor("risk")
    with engine.connect() as conn:
        card = credit.rating_card(conn=conn, actor=risk, merchant_id=rated["suspended"])
        assert (card.current["effective_grade"], card.shown.on_hold, card.shown.grade,
                card.shown.loan_limit, card.shown.vip) == ("AAA", "suspended", None, None, None)
        top = credit.rating_card(conn=conn, actor=risk, merchant_id=rated["top"])
        assert (top.shown.held, top.shown.grade, top.shown.loan_limit, top.shown.vip) == (
            False, "AAA", 5_000_000, True)
        found, total = credit.search_merchants(conn=conn, actor=risk, query="车商")
        by_name = found.set_index("name")
        assert by_name.loc["暂停车商", ["effective_grade", "loan_limit", "vip_eligible", "on_hold"]
                           ].tolist() == [None, None, None, "suspended"]
        assert by_name.loc["顶级车商", "effective_grade"] == "AAA"
        aaa, n = credit.search_merchants(conn=conn, actor=risk, grade="AAA")
        assert aaa["name"].tolist() == ["顶级车商"] and n == 1
        overview = credit.grade_overview(conn=conn, actor=risk)
    dist = overview["distribution"].set_index("grade")["merchants"]
    assert (dist["AAA"], dist.sum(), overview["on_hold"]) == (1, 1, 1)


def test_the_car_search_leaves_a_suspended_seller_out(engine, make_actor):
    city, trim = tr.city(engine), tr.trim(engine)
    active = tr.merchant(engine, city_id=city, name="正常卖家")
    held = tr.merchant(engine, city_id=city, name="被暂停卖家")
    live = tr.listing(engine, merchant_id=active, trim_id=trim, city_id=city)
    tr.listing(engine, merchant_id=held, trim_id=trim, city_id=city)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"), {"m": held})
    with engine.connect() as conn:
        result = search.search_listings(conn=conn, actor=make_actor("bd"),
                                        filters=search.SearchFilters())
    assert result.rows["listing_id"].tolist() == [live]


# ---------------------------------------------------------------- the pages
def metrics_of(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def card_page(actor, merchant_id: int, lang: str = "zh") -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "risk_card.py"), default_timeout=60)
    at.session_state["staff_id"] = actor.id
    at.session_state["lang"] = lang
    at.query_params["merchant"] = str(merchant_id)
    return at.run()


def test_the_rating_card_of_a_suspended_merchant_says_suspended(engine, make_actor, rated):
    at = card_page(make_actor("risk"), rated["suspended"])
    assert not at.exception
    shown = metrics_of(at)
    assert (shown["评分评级"], shown["有效评级"], shown["建议订单贷额度"], shown["可申请 VIP"]) == (
        "已暂停", "已暂停", "已暂停", "已暂停")
    assert "AAA" not in shown.values() and "¥5,000,000" not in shown.values()
    assert [e.value for e in at.error] == [
        "该车商已暂停：评级、订单贷额度和 VIP 资格均暂停生效（评分记录仅供参考）。"]
    table = at.dataframe[0].value.set_index("商户名称")
    assert table.loc["暂停车商", ["评分评级", "有效评级", "建议订单贷额度", "可申请 VIP"]].tolist() == [
        "已暂停", "已暂停", "已暂停", "已暂停"]
    assert table.loc["顶级车商", "有效评级"] == "AAA"
    # Yuan and yes/no as text, so a column with a status word in it is one Arrow type.
    assert table.loc["顶级车商", ["建议订单贷额度", "可申请 VIP"]].tolist() == ["¥5,000,000", "是"]
    top = card_page(make_actor("risk"), rated["top"], lang="en")
    assert metrics_of(top)["Effective grade"] == "AAA"


def test_the_grades_page_counts_suspended_merchants_apart(engine, make_actor, rated):
    at = app_as(make_actor("risk"), page="pages/risk_grades.py")
    assert not at.exception and not at.error
    assert metrics_of(at)["已暂停车商"] == "1"


def test_the_profile_of_a_suspended_merchant_shows_no_grade_or_limit(engine, make_actor, rated):
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "merchant_profile.py"), default_timeout=60)
    at.session_state["staff_id"] = make_actor("risk").id
    at.session_state["lang"] = "zh"
    at.query_params["id"] = str(rated["suspended"])
    at.run()
    assert not at.exception
    shown = metrics_of(at)
    assert (shown["信用等级"], shown["建议订单贷额度（元）"]) == ("已暂停", "已暂停")
    captions = [c.value for c in at.caption]
    assert any(c.endswith("会员：已暂停，会员权益暂停生效（非会员 · 当前信用等级不可开通）")
               for c in captions), captions
    assert not any("VIP" in c for c in captions), captions


def test_the_directory_shows_a_suspended_merchants_grade_as_suspended(engine, make_actor, rated):
    at = app_as(make_actor("risk"), page="pages/merchant_directory.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    by_name = table.set_index("车商名称")
    # the VIP column is the membership in force (issue 19), withheld while on hold
    assert by_name.loc["暂停车商", ["信用等级", "VIP 会员"]].tolist() == ["已暂停", "已暂停"]
    assert by_name.loc["顶级车商", ["信用等级", "VIP 会员"]].astype(str).tolist() == ["AAA", "—"]


def test_the_ratings_export_withholds_a_suspended_merchants_terms(engine, make_actor, rated):
    import csv
    import io

    from console import db
    with db.transaction() as conn:
        data = credit.export_csv(conn=conn, actor=make_actor("risk"), grade=None)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = rows[1]
    by_name = {r[header.index("name")]: r for r in rows[2:]}
    pick = [header.index(c) for c in ("grade", "effective_grade", "loan_limit", "vip_eligible",
                                      "on_hold")]
    assert [by_name["暂停车商"][i] for i in pick] == ["", "", "", "", "suspended"]
    assert [by_name["顶级车商"][i] for i in pick][1:] == ["AAA", "5000000.00", "True", ""]
