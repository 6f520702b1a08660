"""AppTest: the BD pages with real rows; a BD takes a lead, moves the card, marks it lost."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from console.services import matching
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

    at.switch_page("pages/bd_board.py").run()
    at.button(key=f"mv_{card_id}").click().run()
    assert not at.exception and not at.error
    assert card_row(engine)[1] == "contacted"

    at.button(key=f"lost_{card_id}").click().run()       # opens the lost dialog
    assert not at.exception
    at.selectbox(key="lost_reason").set_value("price_gap")
    at.text_area(key="lost_note").input("买家嫌贵")
    at.button(key="lost_confirm").click().run()
    assert not at.exception and not at.error
    assert tuple(card_row(engine))[1:] == ("lost", bd.id, "price_gap")


def test_taking_a_lead_someone_else_took_shows_a_refusal(engine, make_actor, lead):
    first, second = make_actor("bd"), make_actor("bd")
    at = app_as(second, page="pages/bd_leads.py")
    with engine.begin() as conn:    # the first BD is quicker, between render and click
        from console.services import leads
        leads.take_lead(conn=conn, actor=first, request_id=lead)
    at.button(key=f"take_{lead}").click().run()
    assert [e.value for e in at.error] == ["手慢了：这条线索刚被别人抢走。"]
    assert card_row(engine)[2] == first.id
