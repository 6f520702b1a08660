"""The BD pages' reads made fast for the large scale (issue 14, page speed): each read
still answers what it answered before, and whatever the speed rests on (a page asked of
the database, a kept table, an index's conditions) is tested here."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from console import clock, db
from console.errors import InvalidInput
from console.services import deals, leads
from tests.apptest import app_as
from tests.test_deal_board import make_card, move, set_card
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


# ------------------------------------------------------------------ the leaderboard's kept times

# The leaderboard as it was asked before migration 077: every owned card joined to its
# timeline and orders. The kept times must give the same answer.
_LEADERBOARD_BEFORE = """
WITH created AS (
    SELECT match_id, min(at) AS at FROM ops.match_stage_history
    WHERE from_stage IS NULL GROUP BY match_id
), deposit AS (
    SELECT match_id, min(at) AS at FROM ops.match_stage_history
    WHERE to_stage = 'deposit_paid' GROUP BY match_id
), per_card AS (
    SELECT m.owner_id, m.stage, m.deal_value, m.stage_entered_at,
           extract(epoch FROM (coalesce(d.at, o.deposit_at)
                               - coalesce(c.at, m.created_at))) / 3600 AS hours_to_deposit,
           coalesce(d.at, o.deposit_at) AS deposit_at
    FROM ops.matches m
    LEFT JOIN created c ON c.match_id = m.id
    LEFT JOIN deposit d ON d.match_id = m.id
    LEFT JOIN LATERAL (SELECT min(deposit_paid_at) AS deposit_at FROM app.orders
                       WHERE match_id = m.id) o ON true
    WHERE m.owner_id IS NOT NULL
)
SELECT s.id AS staff_id, s.display_name AS staff,
       count(*) FILTER (WHERE p.stage = 'won'
                        AND p.stage_entered_at >= now() - make_interval(days => :days)) AS won,
       coalesce(sum(p.deal_value) FILTER (WHERE p.stage = 'won'
                        AND p.stage_entered_at >= now() - make_interval(days => :days)), 0) AS gmv,
       round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY p.hours_to_deposit)
             FILTER (WHERE p.deposit_at >= now() - make_interval(days => :days)) AS numeric), 1)
           AS median_hours_to_deposit,
       count(*) FILTER (WHERE p.stage IN ('suggested','contacted','negotiating','deposit_paid'))
           AS open_cards
FROM ops.staff s JOIN per_card p ON p.owner_id = s.id
GROUP BY s.id, s.display_name
ORDER BY won DESC, gmv DESC, s.id"""

# ops.card_deposits as the sources give it now.
_KEPT_FROM_SOURCES = """
SELECT m.id, m.owner_id, coalesce(b.at, m.created_at), d.at, o.at
FROM ops.matches m
LEFT JOIN (SELECT match_id, min(at) AS at FROM ops.match_stage_history
           WHERE from_stage IS NULL GROUP BY match_id) b ON b.match_id = m.id
LEFT JOIN (SELECT match_id, min(at) AS at FROM ops.match_stage_history
           WHERE to_stage = 'deposit_paid' GROUP BY match_id) d ON d.match_id = m.id
LEFT JOIN (SELECT match_id, min(deposit_paid_at) AS at FROM app.orders
           WHERE match_id IS NOT NULL GROUP BY match_id) o ON o.match_id = m.id
WHERE d.at IS NOT NULL OR o.at IS NOT NULL ORDER BY m.id"""
_KEPT = "SELECT match_id, owner_id, created_at, moved_at, paid_at FROM ops.card_deposits ORDER BY 1"


def kept_rows(engine):
    with engine.connect() as conn:
        return ([tuple(r) for r in conn.execute(sa.text(_KEPT))],
                [tuple(r) for r in conn.execute(sa.text(_KEPT_FROM_SOURCES))])


def add_order(engine, card, *, deposit_hours_ago=None, conn=None) -> int:
    sql = sa.text("""
        INSERT INTO app.orders (match_id, request_id, listing_id, buyer_id, seller_id, quantity,
                                unit_price, amount, deposit_amount, status, escrow_state,
                                created_at, deposit_paid_at)
        SELECT m.id, m.request_id, m.listing_id, r.merchant_id, l.merchant_id, 1, 100000, 100000,
               10000, CASE WHEN CAST(:h AS float) IS NULL THEN 'created' ELSE 'deposit_paid' END,
               'none', now() - interval '400 hours',
               now() - make_interval(secs => CAST(:h AS float) * 3600)
        FROM ops.matches m JOIN app.requests r ON r.id = m.request_id
        JOIN app.listings l ON l.id = m.listing_id WHERE m.id = :m RETURNING id""")
    if conn is not None:
        return conn.execute(sql, {"m": card, "h": deposit_hours_ago}).scalar_one()
    with engine.begin() as c:
        return c.execute(sql, {"m": card, "h": deposit_hours_ago}).scalar_one()


def leaderboards(engine, actor, days):
    with engine.connect() as conn:
        now = deals.leaderboard(conn=conn, actor=actor, days=days)
        before = db.fetch_df(conn, _LEADERBOARD_BEFORE, days=days)
    return now, before


def test_kept_deposit_times_follow_every_write_and_the_leaderboard_is_unchanged(
        engine, world, make_actor, settings_env):
    settings_env(CONSOLE_LEAD_CAP="100")
    bd, bd2, manager = make_actor("bd"), make_actor("bd"), make_actor("manager")
    moved, paid, both, withdrawn, handed, old = (make_card(engine, world, bd) for _ in range(6))
    other = make_card(engine, world, bd2)
    for card in (moved, both, other):                 # deposits recorded on the board
        for stage in ("contacted", "negotiating", "deposit_paid"):
            move(engine, bd if card != other else bd2, card, stage)
    move(engine, bd, both, "won")
    add_order(engine, paid, deposit_hours_ago=30)      # deposits only the orders know
    add_order(engine, both, deposit_hours_ago=5)       # the board's move wins over the order
    add_order(engine, handed, deposit_hours_ago=50)
    order = add_order(engine, withdrawn, deposit_hours_ago=20)
    add_order(engine, old, deposit_hours_ago=24 * 200)  # outside the 90-day window
    add_order(engine, old, deposit_hours_ago=None)      # an order without a deposit
    with engine.begin() as conn:                      # a card born before the timeline
        conn.execute(sa.text("DELETE FROM ops.match_stage_history WHERE match_id = :m"),
                     {"m": paid})
        conn.execute(sa.text("""UPDATE ops.match_stage_history SET at = now() - interval '40 hours'
                                WHERE match_id = :m AND from_stage IS NULL"""), {"m": moved})
    kept, sources = kept_rows(engine)
    assert kept == sources
    assert {r[0] for r in kept} == {moved, paid, both, withdrawn, handed, old, other}
    with engine.begin() as conn:                      # the deposit taken back: no row
        conn.execute(sa.text("UPDATE app.orders SET deposit_paid_at = NULL WHERE id = :o"),
                     {"o": order})
        request = conn.execute(sa.text("SELECT request_id FROM ops.matches WHERE id = :m"),
                               {"m": handed}).scalar_one()
    with engine.begin() as conn:                      # a lead handed to another person
        leads.assign_lead(conn=conn, actor=manager, request_id=request, to_staff_id=bd2.id,
                          reason="休假交接")
    kept, sources = kept_rows(engine)
    assert kept == sources
    assert withdrawn not in {r[0] for r in kept}
    assert dict((r[0], r[1]) for r in kept)[handed] == bd2.id
    for days in (30, 90, 365):
        now, before = leaderboards(engine, bd, days)
        assert now.to_dict("records") == before.to_dict("records"), days
    now, _ = leaderboards(engine, bd, 90)
    board = now.set_index("staff_id")
    # bd: moved 40 h after its (moved back) birth, both at once, paid 30 h before the card's
    # created_at (no timeline: made "now" here); handed went to bd2 with its order 50 h ago.
    assert (int(board.loc[bd.id, "won"]), int(board.loc[bd.id, "open_cards"])) == (1, 4)
    assert float(board.loc[bd.id, "median_hours_to_deposit"]) == pytest.approx(0.0, abs=0.1)
    assert float(board.loc[bd2.id, "median_hours_to_deposit"]) == pytest.approx(-25.0, abs=0.1)


def test_kept_deposit_times_under_concurrent_orders_and_an_owner_change(engine, world, make_actor):
    """Orders for one card paid at the same moment by several sessions, while its lead changes
    hands: whoever commits last, the kept row is what the sources say."""
    bd, bd2, manager = make_actor("bd"), make_actor("bd"), make_actor("manager")
    card = make_card(engine, world, bd)
    with engine.connect() as conn:
        request = conn.execute(sa.text("SELECT request_id FROM ops.matches WHERE id = :m"),
                               {"m": card}).scalar_one()
    hours = [70, 10, 40, 25]
    barrier = threading.Barrier(len(hours) + 1)
    errors: list[BaseException] = []

    def pay(h):
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
                barrier.wait()
                add_order(engine, card, deposit_hours_ago=h, conn=conn)
                time.sleep(0.05)                     # hold the transaction open a moment
        except BaseException as err:                 # noqa: BLE001 - reported below
            errors.append(err)

    def hand_over():
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
                barrier.wait()
                conn.execute(sa.text("UPDATE ops.matches SET owner_id = :o WHERE id = :m"),
                             {"o": bd2.id, "m": card})
                time.sleep(0.05)
        except BaseException as err:                 # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=pay, args=(h,)) for h in hours]
    threads.append(threading.Thread(target=hand_over))
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    kept, sources = kept_rows(engine)
    assert kept == sources
    assert len(kept) == 1 and kept[0][1] == bd2.id
    with engine.connect() as conn:
        paid_at, oldest = conn.execute(sa.text(
            """SELECT k.paid_at, (SELECT min(deposit_paid_at) FROM app.orders WHERE match_id = :m)
               FROM ops.card_deposits k WHERE k.match_id = :m"""), {"m": card}).one()
    assert paid_at == oldest


# ------------------------------------------------------------------ the lead pool's capped counts

def bidding_leads(world, n, *, stale=False, status="active"):
    now, today = clock.now(), clock.today()
    return [world.request(merchant_id=world.merchant(status=status), mode="bidding",
                          bid_deadline=now + timedelta(days=1),
                          needed_by=today - timedelta(days=1) if stale else None)
            for _ in range(n)]


def test_the_pool_counts_exactly_up_to_the_cap_and_says_more_above_it(engine, world, make_actor,
                                                                     monkeypatch):
    bd = make_actor("bd")
    fresh = bidding_leads(world, 5)
    stale = bidding_leads(world, 5, stale=True)
    bidding_leads(world, 2, status="suspended")           # a suspended buyer's: no lead
    with engine.begin() as conn:                           # owned: not in the pool
        conn.execute(sa.text("INSERT INTO ops.lead_claims (request_id, owner_id) VALUES (:r, :o)"),
                     {"r": fresh[0], "o": bd.id})
        conn.execute(sa.text("INSERT INTO ops.lead_claims (request_id, owner_id) VALUES (:r, :o)"),
                     {"r": stale[0], "o": bd.id})

    def counts():
        with engine.connect() as conn:
            page, total = leads.pool(conn=conn, actor=bd, limit=10)
            return (list(page["request_id"]), total, leads.stale_leads(conn=conn, actor=bd),
                    leads.pool(conn=conn, actor=bd, mode="normal")[1])

    assert counts() == (fresh[1:], 4, 4, 0)               # under the cap: exact
    monkeypatch.setattr(leads, "POOL_COUNT_CAP", 4)
    assert counts() == (fresh[1:], 4, 4, 0)               # at the cap: still exact
    monkeypatch.setattr(leads, "POOL_COUNT_CAP", 2)
    assert counts() == (fresh[1:], 3, 3, 0)               # above it: the cap + 1, "more"


def test_the_pool_page_above_the_cap_says_more_and_still_pages(engine, world, make_actor,
                                                              monkeypatch):
    monkeypatch.setattr(leads, "POOL_COUNT_CAP", 3)
    bd = make_actor("bd")
    fresh = bidding_leads(world, 23)
    bidding_leads(world, 4, stale=True)
    at = app_as(bd, page="pages/bd_leads.py")
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert "已隐藏 3 条以上过期寻车（交车日期已过或竞价已截止）。" in captions
    assert "第 1 页，共 3 条以上" in captions
    takes = [b.key for b in at.button if b.key and b.key.startswith("take_")]
    assert takes == [f"take_{r}" for r in fresh[:20]]
    at.button(key="lead_pool__next").click().run()
    assert not at.exception and not at.error
    takes = [b.key for b in at.button if b.key and b.key.startswith("take_")]
    assert takes == [f"take_{r}" for r in fresh[20:]]
    assert "第 2 页，共 3 条以上" in [c.value for c in at.caption]
    assert at.button(key="lead_pool__next").disabled


# ------------------------------------------------------------------ the board's kept brands

_BRANDS_BEFORE = """
SELECT DISTINCT br.id, br.name FROM ops.matches m
JOIN app.listings l ON l.id = m.listing_id JOIN app.trims t ON t.id = l.trim_id
JOIN app.series se ON se.id = t.series_id JOIN app.brands br ON br.id = se.brand_id
WHERE m.owner_id IS NOT NULL
  AND (CAST(:owner AS bigint) IS NULL OR m.owner_id = CAST(:owner AS bigint))
  AND (m.stage IN ('suggested','contacted','negotiating','deposit_paid')
       OR m.stage_entered_at >= now() - make_interval(days => 30))
ORDER BY br.name, br.id"""
_BRANDS_KEPT = "SELECT match_id, owner_id, stage, stage_entered_at, brand_id FROM ops.card_brands ORDER BY 1"
_BRANDS_FROM_SOURCES = """
SELECT m.id, m.owner_id, m.stage, m.stage_entered_at, se.brand_id FROM ops.matches m
JOIN app.listings l ON l.id = m.listing_id JOIN app.trims t ON t.id = l.trim_id
JOIN app.series se ON se.id = t.series_id ORDER BY 1"""


def brand_rows(engine):
    with engine.connect() as conn:
        return ([tuple(r) for r in conn.execute(sa.text(_BRANDS_KEPT))],
                [tuple(r) for r in conn.execute(sa.text(_BRANDS_FROM_SOURCES))])


def new_brand(engine, name) -> tuple[int, int, int]:
    """A brand with one series and one trim: (brand, series, trim)."""
    with engine.begin() as conn:
        brand = conn.execute(sa.text("INSERT INTO app.brands (name) VALUES (:n) RETURNING id"),
                             {"n": name}).scalar_one()
        series = conn.execute(sa.text("""
            INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price, max_guide_price,
                                    energy_type, origin)
            VALUES (:b, :n, :n, 170000, 260000, 'ice', 'joint_venture') RETURNING id"""),
            {"b": brand, "n": f"{name}车系"}).scalar_one()
        trim = conn.execute(sa.text("""
            INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
            VALUES (:s, :n, 2025, 200000, 'ice') RETURNING id"""),
            {"s": series, "n": f"2025款 {name}版"}).scalar_one()
    return brand, series, trim


def test_kept_brands_follow_every_write_and_the_brand_choices_are_unchanged(
        engine, world, make_actor, settings_env):
    settings_env(CONSOLE_LEAD_CAP="100")
    bd, bd2, manager = make_actor("bd"), make_actor("bd"), make_actor("manager")
    honda, honda_series, honda_trim = new_brand(engine, "本田")
    byd, _, byd_trim = new_brand(engine, "比亚迪")
    audi, audi_series, _ = new_brand(engine, "奥迪")
    toyota = make_card(engine, world, bd)                               # 丰田
    civic = make_card(engine, world, bd, trim_id=honda_trim)
    old_lost = make_card(engine, world, bd, trim_id=byd_trim)
    theirs = make_card(engine, world, bd2, trim_id=byd_trim)
    move(engine, bd, old_lost, "lost", lost_reason="other", note="买家放弃")
    set_card(engine, old_lost, stage_entered_at=clock.now() - timedelta(days=31))  # off the board

    def choices(actor, **kw):
        with engine.connect() as conn:
            now = deals.board_brands(conn=conn, actor=actor, **kw)
            owner = None if kw.get("scope") == "team" else actor.id
            owner = kw.get("owner_id", owner)
            before = db.fetch_df(conn, _BRANDS_BEFORE, owner=owner)
        assert now.to_dict("records") == before.to_dict("records")
        return list(now["name"])

    assert choices(bd) == sorted(["丰田", "本田"])
    assert choices(bd2) == ["比亚迪"]
    assert choices(manager, scope="team") == sorted(["丰田", "本田", "比亚迪"])
    with engine.begin() as conn:                                        # the civic's listing
        listing = conn.execute(sa.text("SELECT listing_id FROM ops.matches WHERE id = :m"),
                               {"m": civic}).scalar_one()
        conn.execute(sa.text("UPDATE app.listings SET trim_id = :t WHERE id = :l"),
                     {"t": byd_trim, "l": listing})                     # now a BYD
    assert choices(bd) == sorted(["丰田", "比亚迪"])
    with engine.begin() as conn:                                        # BYD's trim -> Honda's series
        conn.execute(sa.text("UPDATE app.trims SET series_id = :s WHERE id = :t"),
                     {"s": honda_series, "t": byd_trim})
    assert choices(bd) == sorted(["丰田", "本田"])
    with engine.begin() as conn:                                        # Honda's series -> Audi
        conn.execute(sa.text("UPDATE app.series SET brand_id = :b WHERE id = :s"),
                     {"b": audi, "s": honda_series})
    assert choices(bd) == sorted(["丰田", "奥迪"])
    with engine.begin() as conn:                                        # bd2's lead to bd
        request = conn.execute(sa.text("SELECT request_id FROM ops.matches WHERE id = :m"),
                               {"m": theirs}).scalar_one()
        leads.assign_lead(conn=conn, actor=manager, request_id=request, to_staff_id=bd.id,
                          reason="休假交接")
    assert choices(bd2) == [] and choices(bd, scope="mine") == sorted(["丰田", "奥迪"])
    move(engine, bd, toyota, "lost", lost_reason="other", note="买家放弃")
    assert choices(bd) == sorted(["丰田", "奥迪"])                      # lost today: still shown
    set_card(engine, toyota, stage_entered_at=clock.now() - timedelta(days=40))
    assert choices(bd) == ["奥迪"]
    assert choices(manager, scope="team", owner_id=bd2.id) == []
    kept, sources = brand_rows(engine)
    assert kept == sources and len(kept) == 4
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ops.match_stage_history WHERE match_id = :m"), {"m": toyota})
        conn.execute(sa.text("DELETE FROM ops.matches WHERE id = :m"), {"m": toyota})
    kept, sources = brand_rows(engine)
    assert kept == sources and len(kept) == 3
    assert honda and byd                                                 # (made above)


def test_kept_brands_when_a_listing_changes_trim_while_a_card_is_made_on_it(
        engine, world, make_actor):
    """A card made on a listing while the listing moves to another brand's trim: whichever
    commits first, the card's kept brand is its listing's brand at the end."""
    bd = make_actor("bd")
    _, _, honda_trim = new_brand(engine, "本田")
    for attempt in range(4):
        seller, buyer = world.merchant(), world.merchant()
        listing = world.listing(merchant_id=seller)
        request = world.request(merchant_id=buyer)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def make():
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT 1"))
                    barrier.wait()
                    if attempt % 2:
                        time.sleep(0.05)
                    conn.execute(sa.text("""
                        INSERT INTO ops.matches (request_id, listing_id, source, stage, owner_id)
                        VALUES (:r, :l, 'manual', 'suggested', :o)"""),
                        {"r": request, "l": listing, "o": bd.id})
                    time.sleep(0.1)
            except BaseException as err:                 # noqa: BLE001
                errors.append(err)

        def retrim():
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT 1"))
                    barrier.wait()
                    if not attempt % 2:
                        time.sleep(0.05)
                    conn.execute(sa.text("UPDATE app.listings SET trim_id = :t WHERE id = :l"),
                                 {"t": honda_trim, "l": listing})
                    time.sleep(0.1)
            except BaseException as err:                 # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=make), threading.Thread(target=retrim)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert errors == [], attempt
        kept, sources = brand_rows(engine)
        assert kept == sources, attempt


# ------------------------------------------------------------------ the unfiltered car search

@pytest.mark.parametrize("sort", ["price", "price_desc", "discount", "freshness"])
def test_an_unfiltered_search_estimated_broad_walks_the_sort_order_with_the_same_page(
        engine, world, make_actor, monkeypatch, sort):
    from console.services import search
    bd = make_actor("bd")
    sellers = [world.merchant() for _ in range(3)]
    world.merchant(status="suspended")
    for n in range(9):
        world.listing(merchant_id=sellers[n % 3], price=150_000 + 7_000 * (n * 5 % 9),
                      published_days_ago=n % 4)
    monkeypatch.setattr(search, "COUNT_CAP", 4)

    def page(estimate, filters):
        monkeypatch.setattr(search, "BROAD_ESTIMATE", estimate)
        with engine.connect() as conn:
            found = search.search_listings(conn=conn, actor=bd, filters=filters, offset=2, limit=3)
        return found.rows.to_dict("records"), found.total, found.total_capped

    unfiltered = search.SearchFilters(sort=sort)
    counted = page(10**12, unfiltered)             # the estimate never says broad: counted
    walked = page(0, unfiltered)                   # it always does: walked at once
    assert walked == counted and counted[1:] == (4, True)
    narrow = search.SearchFilters(sort=sort, price_max=160_000.0)   # a filter: always counted
    assert page(0, narrow) == page(10**12, narrow)
    assert page(0, narrow)[1:] == (2, False)
    statements = []                                # the walk at once: no counting statement
    monkeypatch.setattr(search, "_narrow_sql", lambda *a: statements.append(a) or "SELECT 1/0")
    assert page(0, unfiltered) == counted and statements == []


# ------------------------------------------------------------------ a bulk load keeps them too

def test_a_bulk_demo_seed_keeps_the_cards_times_and_brands(engine):
    """The large seed loads in replica mode with its secondary indexes dropped
    (console/demo): the kept tables' triggers fire there too (ENABLE ALWAYS), set-based."""
    from console import demo
    demo.seed(engine=engine, scale="small", seed=7, bulk=True)
    kept, sources = kept_rows(engine)
    assert kept == sources and len(kept) > 100
    kept, sources = brand_rows(engine)
    assert kept == sources and len(kept) > 100
