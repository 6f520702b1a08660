"""The BD pages' reads made fast for the large scale (issue 14, page speed): each read
still answers what it answered before, and whatever the speed rests on (a page asked of
the database, a kept table, an index's conditions) is tested here."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console import clock
from console.errors import InvalidInput
from console.services import deals
from tests.apptest import app_as
from tests.test_deal_board import make_card, set_card
from tests.test_matching_support import build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


# ------------------------------------------------------------------ my tasks, a page at a time

def test_due_tasks_pages_the_same_list_with_its_total(engine, world, make_actor):
    bd, other = make_actor("bd"), make_actor("bd")
    now = clock.now()
    cards = [make_card(engine, world, bd) for _ in range(5)]
    for n, card in enumerate(cards):              # the last made is the most overdue
        set_card(engine, card, next_action_at=now - timedelta(hours=10 - n))
    later = make_card(engine, world, bd)
    set_card(engine, later, next_action_at=now + timedelta(days=3))
    set_card(engine, make_card(engine, world, other), next_action_at=now - timedelta(days=1))
    with engine.connect() as conn:
        everything = list(deals.tasks(conn=conn, actor=bd)["id"])
        first = deals.due_tasks(conn=conn, actor=bd, offset=0, limit=2)
        second = deals.due_tasks(conn=conn, actor=bd, offset=2, limit=2)
        last = deals.due_tasks(conn=conn, actor=bd, offset=4, limit=2)
        beyond = deals.due_tasks(conn=conn, actor=bd, offset=6, limit=2)
    assert everything == cards
    assert (first.total, second.total, last.total, beyond.total) == (5, 5, 5, 5)
    assert list(first.rows["id"]) == cards[:2]
    assert list(second.rows["id"]) == cards[2:4]
    assert list(last.rows["id"]) == cards[4:]
    assert beyond.rows.empty
    assert list(first.rows.columns) == list(deals.tasks(conn=engine.connect(), actor=bd).columns)


def test_due_tasks_refuses_a_page_size_out_of_range(engine, make_actor):
    bd = make_actor("bd")
    with engine.connect() as conn:
        with pytest.raises(InvalidInput):
            deals.due_tasks(conn=conn, actor=bd, limit=0)
        with pytest.raises(InvalidInput):
            deals.due_tasks(conn=conn, actor=bd, offset=-1)


def test_the_task_page_shows_a_page_and_pages_on(engine, world, make_actor, settings_env):
    settings_env(CONSOLE_LEAD_CAP="100")          # each card here is a lead of its own
    bd = make_actor("bd")
    now = clock.now()
    cards = [make_card(engine, world, bd) for _ in range(deals.TASKS_PER_PAGE + 3)]
    for n, card in enumerate(cards):
        set_card(engine, card, next_action_at=now - timedelta(minutes=100 - n))
    at = app_as(bd, page="pages/bd_tasks.py")
    assert not at.exception and not at.error
    shown = [b.key for b in at.button if b.key and b.key.startswith("open_task_")]
    assert shown == [f"open_task_{c}" for c in cards[:deals.TASKS_PER_PAGE]]
    assert f"{len(cards)}" in at.caption[0].value
    at.button(key="tasks__next").click().run()
    assert not at.exception and not at.error
    shown = [b.key for b in at.button if b.key and b.key.startswith("open_task_")]
    assert shown == [f"open_task_{c}" for c in cards[deals.TASKS_PER_PAGE:]]
