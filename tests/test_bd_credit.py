"""BD see the buyer's VIP tier and available order-loan credit where they broker (issue 19):
the set-based reads equal the profile's one-at-a-time reads, a page's buyers cost one query,
and the deal board's cards and dialog show the exact figures in zh and en."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.errors import InvalidInput, PermissionDenied
from console.finance import lines, vip
from console.services import bd_credit, credit_lines, deals, leads, matching
from tests.apptest import app_as
from tests.test_matching_support import AS_OF, build_world


@pytest.fixture
def world(engine):
    return build_world(engine)


def give_line(engine, merchant_id: int, grade_line: int, *, drawn: int = 0) -> None:
    """A grade line as the re-evaluation leaves it (no current grade: the stored line holds),
    and ``drawn`` held by the loans' own writer (lines.reserve)."""
    with engine.begin() as conn:
        conn.execute(sa.text("""INSERT INTO fin.credit_lines (merchant_id, grade, grade_line)
                                VALUES (:m, 'AA', :g)"""), {"m": merchant_id, "g": grade_line})
        if drawn:
            lines.reserve(conn, merchant_id=merchant_id, amount=D(drawn))


def make_member(engine, merchant_id: int, staff_id: int, tier: str = "gold") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, list_fee,
                                             fee_paid, payment_ref, enrolled_by)
            VALUES (:m, :t, current_date - 10, current_date + 300, 19800, 19800, :ref, :s)"""),
            {"m": merchant_id, "t": tier, "ref": f"PAY-{merchant_id}", "s": staff_id})


def make_card(engine, world, bd, buyer: int) -> int:
    seller = world.merchant()
    listing = world.listing(merchant_id=seller, price=180_000, quantity=1)
    req = world.request(merchant_id=buyer, quantity=1)
    with engine.begin() as conn:
        return deals.create_match(conn=conn, actor=bd, request_id=req, listing_id=listing)


@pytest.fixture
def buyers(engine, world, make_actor):
    """drawn: a 500,000 line with 150,000 drawn; gold: a gold member with a 1,000,000 line;
    bare: no line, no membership; over: drawn above a line cut since (nothing available);
    held: a gold member with a line, suspended."""
    bd = make_actor("bd")
    ids = {k: world.merchant(name=f"买家{k}") for k in ("drawn", "gold", "bare", "over", "held")}
    give_line(engine, ids["drawn"], 500_000, drawn=150_000)
    give_line(engine, ids["gold"], 1_000_000)
    make_member(engine, ids["gold"], bd.id)
    give_line(engine, ids["over"], 300_000, drawn=250_000)
    give_line(engine, ids["held"], 800_000)
    make_member(engine, ids["held"], bd.id)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE fin.credit_lines SET grade_line = 200000 WHERE merchant_id = :m"),
                     {"m": ids["over"]})
    return bd, ids


def read(engine, actor, merchant_ids):
    with engine.connect() as conn:
        return bd_credit.buyer_credit(conn=conn, actor=actor, merchant_ids=tuple(merchant_ids))


# ---------------------------------------------------------------- the set-based reads
def test_the_set_based_reads_equal_the_one_at_a_time_reads(engine, buyers):
    _, ids = buyers
    every = [*ids.values(), 10**9]
    with engine.connect() as conn:
        many = lines.current_many(conn, merchant_ids=every)
        one = {m: lines.current(conn, merchant_id=m) for m in every}
        assert many == {m: line for m, line in one.items() if line is not None}
        assert set(many) == {ids[k] for k in ("drawn", "gold", "over", "held")}
        members = vip.active_many(conn, merchant_ids=every)
        assert members == {m: vip._active(conn, m) for m in every if vip._active(conn, m)}
        assert {m.merchant_id: m.tier for m in members.values()} == {
            ids["gold"]: "gold", ids["held"]: "gold"}
        assert lines.current_many(conn, merchant_ids=[]) == {}


def test_each_buyer_reads_what_its_profile_reads(engine, buyers):
    bd, ids = buyers
    got = read(engine, bd, [*ids.values(), 10**9])
    assert set(got) == set(ids.values())                       # an unknown id is left out
    with engine.connect() as conn:
        for key, m in ids.items():
            view = credit_lines.line_summary(conn=conn, actor=bd, merchant_id=m)
            member = vip.merchant_vip(conn=conn, actor=bd, merchant_id=m).current
            assert (got[m].has_line or view.line == 0, got[m].available) == (True,
                                                                              view.available), key
            assert got[m].tier == (member.tier if member else None), key
    assert {k: (got[m].has_line, got[m].available, got[m].tier, got[m].on_hold)
            for k, m in ids.items()} == {
        "drawn": (True, D("350000.00"), None, None),
        "gold": (True, D("1000000.00"), "gold", None),
        "bare": (False, D("0.00"), None, None),
        "over": (True, D("0.00"), None, None),
        "held": (True, D("800000.00"), "gold", None),    # active here: see the next test
    }


def test_a_suspended_buyer_shows_its_status_not_its_line_or_tier(engine, buyers):
    bd, ids = buyers
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": ids["held"]})
    got = read(engine, bd, [ids["held"]])[ids["held"]]
    assert (got.on_hold, got.has_line, got.available, got.tier) == (
        "suspended", False, D("0.00"), None)


def test_two_hundred_buyers_cost_one_query(engine, world, make_actor):
    bd = make_actor("bd")
    ids = [world.merchant() for _ in range(200)]
    for m in ids[:50]:
        give_line(engine, m, 100_000, drawn=40_000)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "fin.credit_lines" in statement or "fin.vip_memberships" in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        got = read(engine, bd, ids)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(seen) == 1
    assert len(got) == 200
    assert sum(c.available for c in got.values()) == D("3000000.00")   # 50 × 60,000


def test_ops_may_not_read_it_and_too_many_ids_are_refused(engine, buyers, make_actor):
    _, ids = buyers
    with pytest.raises(PermissionDenied):
        read(engine, make_actor("ops"), list(ids.values()))
    with pytest.raises(InvalidInput):
        read(engine, make_actor("bd"), range(1, bd_credit.MAX_MERCHANTS + 2))


# ---------------------------------------------------------------- the deal board
@pytest.mark.parametrize("lang, drawn, gold, bare, held", [
    ("zh", "可用授信 ¥350,000", "金卡] :green[可用授信 ¥1,000,000", "无授信",
     "已暂停：授信与会员暂停"),
    ("en", "Available credit ¥350,000", "Gold] :green[Available credit ¥1,000,000",
     "No credit line", "Suspended: credit and VIP withheld"),
])
def test_the_board_cards_show_each_buyers_credit_and_tier(engine, world, buyers, lang, drawn,
                                                          gold, bare, held):
    bd, ids = buyers
    cards = {k: make_card(engine, world, bd, ids[k]) for k in ("drawn", "gold", "bare", "held")}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.merchants SET status = 'suspended' WHERE id = :m"),
                     {"m": ids["held"]})
    at = app_as(bd, lang=lang, page="pages/bd_board.py")
    assert not at.exception and not at.error
    tiles = {card: next(m.value for m in at.markdown if m.value.startswith(f"**#{card} "))
             for card in cards.values()}
    assert f":green[{drawn}]" in tiles[cards["drawn"]]
    assert "workspace_premium" not in tiles[cards["drawn"]]
    assert f":material/workspace_premium: {gold}]" in tiles[cards["gold"]]
    assert f":gray[{bare}]" in tiles[cards["bare"]]
    assert f":gray[{held}]" in tiles[cards["held"]]
    assert "800,000" not in tiles[cards["held"]] and "金卡" not in tiles[cards["held"]]


def test_the_card_dialog_shows_the_buyers_credit(engine, world, buyers):
    bd, ids = buyers
    card = make_card(engine, world, bd, ids["drawn"])
    at = app_as(bd)
    at.query_params["card"] = str(card)
    at.switch_page("pages/bd_board.py").run()
    assert not at.exception and not at.error
    assert "买方授信与会员: :green[可用授信 ¥350,000]" in [m.value for m in at.markdown]


# ---------------------------------------------------------------- the lead pool and my leads
@pytest.mark.parametrize("lang, words", [("zh", "可用授信 ¥350,000"),
                                         ("en", "Available credit ¥350,000")])
def test_the_lead_pool_and_my_lead_show_the_buyers_credit(engine, world, buyers, lang, words):
    bd, ids = buyers
    world.listing(merchant_id=world.merchant())
    drawn = world.request(merchant_id=ids["drawn"])
    bare = world.request(merchant_id=ids["bare"])
    with engine.begin() as conn:
        matching.rematch_full(conn=conn, as_of=AS_OF)
    at = app_as(bd, lang=lang, page="pages/bd_leads.py")
    assert not at.exception and not at.error
    pool = {r: next(m.value for m in at.markdown if m.value.startswith(f"**#{r}**"))
            for r in (drawn, bare)}
    assert pool[drawn].endswith(f"  \n:green[{words}]")
    assert pool[bare].endswith(":gray[" + ("无授信" if lang == "zh" else "No credit line")
                               + "]")
    with engine.begin() as conn:
        leads.take_lead(conn=conn, actor=bd, request_id=drawn)
    at = app_as(bd, lang=lang, page="pages/bd_leads.py")
    head = "买方授信与会员" if lang == "zh" else "Buyer's credit and VIP"
    assert f"{head}: :green[{words}]" in [m.value for m in at.markdown]


# ---------------------------------------------------------------- a hand-made match
def test_a_hand_made_match_shows_the_chosen_requests_buyer(engine, world, buyers):
    bd, ids = buyers
    world.listing(merchant_id=world.merchant())
    world.request(merchant_id=ids["gold"])
    at = app_as(bd, page="pages/bd_search.py")
    at.session_state["s_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    assert ("买方授信与会员: :violet-badge[:material/workspace_premium: 金卡] "
            ":green[可用授信 ¥1,000,000]") in [m.value for m in at.markdown]


def test_the_board_asks_for_its_buyers_once_however_many_cards(engine, world, make_actor):
    """Page speed: one extra query for the whole board's run, not one per card or column."""
    bd = make_actor("bd")
    buyers = [world.merchant() for _ in range(12)]
    for m in buyers[:6]:
        give_line(engine, m, 100_000)
    cards = [make_card(engine, world, bd, m) for m in buyers]
    for card, stage in zip(cards, ["contacted", "negotiating"] * 4):
        with engine.begin() as conn:     # the cards spread over three columns
            deals.move_stage(conn=conn, actor=bd, match_id=card, to_stage="contacted")
            if stage == "negotiating":
                deals.move_stage(conn=conn, actor=bd, match_id=card, to_stage="negotiating")
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "fin.credit_lines" in statement:
            seen.append(statement)

    at = app_as(bd, page="pages/bd_board.py")          # signed in, the board not yet drawn
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        at.run()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    assert not at.exception and not at.error
    assert len(seen) == 1
    shown = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert len(shown) == 12
    assert sum("可用授信 ¥100,000" in v for v in shown) == 6
    assert sum("无授信" in v for v in shown) == 6


def test_the_buyers_read_looks_up_its_merchants_and_scans_no_table(engine, world, make_actor):
    """What the one query's speed rests on, with 20,000 graded merchants with lines: a lead
    page's 20 buyers are probed by key in every table; a board's 200 buyers never read every
    current grade (the list bounds that side of the join too; lines and merchants at this
    size the planner may read whole, ~1 ms)."""
    bd = make_actor("bd")
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at,
                                       status, phone)
            SELECT '批量车商' || g, '4s', :city, 'organic', now() - interval '400 days', 'active',
                   '139' || lpad(g::text, 8, '0')
            FROM generate_series(1, 20000) g"""), {"city": world.city["上海"]})
        # graded as a scoring run leaves them: the grade lines follow (migration 099)
        run = credit_engine.score_all(conn, load(DEFAULT_CONFIG))
        conn.execute(sa.text("DELETE FROM ops.merchant_grade_current"))   # the world's few
        conn.execute(sa.text("""
            INSERT INTO ops.merchant_grade_current (merchant_id, run_id, scored_at, score, grade,
                                                    insufficient_history, score_loan_limit,
                                                    score_vip_eligible)
            SELECT id, :run, now(), 700, 'A', false, 200000, true FROM app.merchants"""),
            {"run": run})
        conn.execute(sa.text("""INSERT INTO fin.credit_lines (merchant_id, grade, grade_line)
                                SELECT id, 'A', 200000 FROM app.merchants
                                ON CONFLICT (merchant_id) DO NOTHING"""))
        conn.execute(sa.text("""
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, list_fee,
                                             fee_paid, payment_ref, enrolled_by)
            SELECT id, 'silver', current_date, current_date + 300, 9800, 9800, 'P' || id, :s
            FROM app.merchants WHERE id % 3 = 0"""), {"s": bd.id})
        for table in ("app.merchants", "fin.credit_lines", "fin.vip_memberships",
                      "ops.merchant_grade_current"):
            conn.execute(sa.text(f"ANALYZE {table}"))
        ids = [r[0] for r in conn.execute(sa.text(
            "SELECT id FROM app.merchants ORDER BY id DESC LIMIT 200"))]

        def plan(some):
            return "\n".join(r[0] for r in conn.execute(
                sa.text("EXPLAIN " + bd_credit._BUYERS_SQL), {"ms": some}))
        assert "Seq Scan" not in plan(ids[:20]), plan(ids[:20])
        assert "Seq Scan on merchant_grade_current" not in plan(ids), plan(ids)
    got = read(engine, bd, ids)
    assert len(got) == 200 and {c.available for c in got.values()} == {D("200000.00")}
    assert sum(c.tier == "silver" for c in got.values()) == sum(i % 3 == 0 for i in ids)
