"""AppTest: the BD pages with real rows; a BD takes a lead, moves the card, marks it lost."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock, fmt
from console.services import deals, leads, matching
from tests.apptest import app_as
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def lead(engine):
    w = build_world(engine)
    buyer, seller = w.merchant(name="买家车行"), w.merchant(name="卖家车行")
    w.listing(merchant_id=seller)
    req = w.request(merchant_id=buyer)
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    return req


def card_row(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id, stage, owner_id, lost_reason FROM ops.matches")).one()


@pytest.mark.parametrize("page", ["pages/bd_search.py", "pages/bd_leads.py", "pages/bd_board.py",
                                  "pages/bd_leaderboard.py"])
@pytest.mark.parametrize("role", ["bd", "manager"])
def test_pages_render_with_data(engine, make_actor, lead, page, role):
    at = app_as(make_actor(role), page=page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_take_move_and_lose_a_card(engine, make_actor, lead):
    bd = make_actor("bd")
    at = app_as(bd, page="pages/bd_leads.py")
    at.button(key=f"take_{lead}").click().run()
    assert not at.exception and not at.error
    card_id, stage, owner, _ = card_row(engine)
    assert (stage, owner) == ("suggested", bd.id)
    assert any(f"/board?card={card_id}" in s.value for s in at.success)   # a link to the card

    at.switch_page("pages/bd_board.py").run()
    tiles = [m.value for m in at.markdown if m.value.startswith(f"**#{card_id} ")]
    assert len(tiles) == 1 and "刚操作" in tiles[0]         # the card just made, pinned
    at.button(key=f"mv_{card_id}").click().run()
    assert not at.exception and not at.error
    assert card_row(engine)[1] == "contacted"

    at.button(key=f"open_{card_id}").click().run()          # the card's dialog
    assert not at.exception
    at.selectbox(key="d_move_to").set_value("lost")
    at.selectbox(key="d_lost_reason").set_value("price_gap")
    at.text_area(key="d_move_note").input("买家嫌贵")
    at.button(key="d_move_submit").click().run()
    assert not at.exception and not at.error
    assert tuple(card_row(engine))[1:] == ("lost", bd.id, "price_gap")
    with engine.connect() as conn:
        reason = conn.execute(sa.text("""SELECT reason FROM ops.audit_log WHERE action = 'match.move'
                                         ORDER BY id DESC LIMIT 1""")).scalar()
    assert reason == "买家嫌贵"                               # the note is in the audit row


def test_my_leads_picker_reads_as_plain_text(engine, make_actor, lead):
    bd = make_actor("bd")
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=lead)
    at = app_as(bd, page="pages/bd_leads.py")
    picker = at.selectbox(key="my_lead")
    label = picker.options[0]
    assert label.startswith(f"#{lead} ") and "**" not in label


def test_the_pool_counts_the_stale_requests_it_hides(engine, make_actor):
    w = build_world(engine)
    w.request(merchant_id=w.merchant(), mode="bidding",
              bid_deadline=clock.now() - timedelta(days=42))          # closed six weeks ago
    at = app_as(make_actor("bd"), page="pages/bd_leads.py")
    assert not at.exception and not at.error
    assert "已隐藏 1 条过期寻车（交车日期已过或竞价已截止）。" in [c.value for c in at.caption]
    at = app_as(make_actor("bd"), lang="en", page="pages/bd_leads.py")
    assert "1 expired requests hidden (needed-by date passed or bidding closed)." in [
        c.value for c in at.caption]


def test_search_shows_prices_in_the_unit_of_its_filters(engine, make_actor, lead):
    at = app_as(make_actor("bd"), page="pages/bd_search.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "报价（万元）" in table.columns and "指导价（万元）" in table.columns
    assert list(table["报价（万元）"]) == ["18.00"] and list(table["指导价（万元）"]) == ["20.00"]
    assert at.slider(key="s_price").label == "报价（万元）"


def test_leaderboard_gmv_in_wan_and_bars_labelled_with_their_value(engine, make_actor, lead):
    bd = make_actor("bd")
    with engine.begin() as conn:
        card = leads.take_lead(conn=conn, actor=bd, request_id=lead)
        for stage in ("contacted", "negotiating", "deposit_paid", "won"):
            deals.move_stage(conn=conn, actor=bd, match_id=card, to_stage=stage)
        value = conn.execute(sa.text("SELECT deal_value FROM ops.matches WHERE id = :id"),
                             {"id": card}).scalar()
    at = app_as(bd, page="pages/bd_leaderboard.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("BD")
    assert table.loc[bd.display_name, "撮合GMV（万元）"] == fmt.wan_number(value)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bar = figure["data"][0]
    assert list(bar["text"]) == [fmt.wan_number(value)]          # the bar's own value
    assert figure["layout"]["yaxis"]["title"]["text"] == "撮合GMV（万元）"


def test_taking_a_lead_someone_else_took_shows_a_refusal(engine, make_actor, lead):
    first, second = make_actor("bd"), make_actor("bd")
    at = app_as(second, page="pages/bd_leads.py")
    with engine.begin() as conn:    # the first BD is quicker, between render and click
        leads.take_lead(conn=conn, actor=first, request_id=lead)
    at.button(key=f"take_{lead}").click().run()
    assert [e.value for e in at.error] == ["手慢了：这条线索刚被别人抢走。"]
    assert card_row(engine)[2] == first.id


def test_a_request_link_opens_my_lead(engine, make_actor, lead):
    bd, other = make_actor("bd"), make_actor("bd")
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=lead)
    at = app_as(bd)
    at.query_params["request"] = str(lead)
    at.switch_page("pages/bd_leads.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="my_lead").value == lead
    at = app_as(other)
    at.query_params["request"] = str(lead)
    at.switch_page("pages/bd_leads.py").run()
    assert not at.exception
    assert [i.value for i in at.info][:1] == [
        f"寻车 #{lead} 不在你的线索中（可能在线索池里，或由同事负责）。"]


def test_assigning_a_bad_request_id_is_refused_in_the_readers_language(engine, make_actor, lead):
    boss = make_actor("manager")
    make_actor("bd")
    at = app_as(boss, page="pages/bd_leads.py")
    at.number_input(key="assign_rid").set_value(-3)
    next(b for b in at.button if b.label == "分配线索").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["编号无效：须为正整数。"]
