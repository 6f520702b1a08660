"""A car is named by brand and series without the brand twice (migration 090): the board's
cards said "长安 长安UNI-Z PHEV". On real PostgreSQL."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from console.services import deals
from tests.test_deal_board import board, make_card
from tests.test_matching_support import build_world


@pytest.mark.parametrize("brand, series, shown", [
    ("长安", "长安UNI-Z PHEV", "长安UNI-Z PHEV"),       # the series begins with its brand
    ("哈弗", "哈弗H6", "哈弗H6"),
    ("宝马", "3系", "宝马 3系"),
    ("吉利银河", "银河M9", "吉利银河 银河M9"),           # a part of the brand is not the brand
    ("丰田", "凯美瑞", "丰田 凯美瑞"),
    (None, "凯美瑞", "凯美瑞"),
    ("", "凯美瑞", "凯美瑞"),
])
def test_the_brand_is_named_once(engine, brand, series, shown):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT app.vehicle_name(:b, :s)"),
                            {"b": brand, "s": series}).scalar() == shown


def test_a_card_of_a_series_named_with_its_brand_names_it_once_and_is_found_by_it(
        engine, make_actor):
    world = build_world(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.series SET name = '丰田凯美瑞' WHERE id = :s"),
                     {"s": world.series_id})
    bd = make_actor("bd")
    card = make_card(engine, world, bd)
    got = board(engine, bd)
    assert got.cards.set_index("id").loc[card, "series"] == "丰田凯美瑞"
    for query in ("丰田凯美瑞", "凯美瑞", "丰田"):
        found = board(engine, bd, filters=deals.BoardFilters(query=query))
        assert list(found.cards["id"]) == [card], query
