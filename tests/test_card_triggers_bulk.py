"""Migration 092: the card triggers of migration 077 under bulk writes.

PL/pgSQL plans a trigger's statements once per connection, for the transition tables of
its first call. After a one-row change of a card or an order, the join of old_rows with
new_rows was kept as a nested loop, and a later bulk change in the same connection compared
every old row with every new one; the check for cards moved to another listing was such a
nested loop even on a first call (4.4 s for 5,000 cards on the large bench). Here: thousands
of cards and orders changed at once after a one-row change in the same connection, the kept
brands and deposit times equal to what the sources give, in seconds, not minutes."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.test_bd_speed import brand_rows, kept_rows, new_brand
from tests.test_deal_board import make_card
from tests.test_matching_support import build_world

REQUESTS, LISTINGS = 100, 60          # 6,000 cards


@pytest.fixture
def cards(engine, make_actor):
    """6,000 cards of one BD (every request x every listing), a deposit paid on every tenth."""
    world = build_world(engine)
    bd = make_actor("bd")
    first = make_card(engine, world, bd)
    with engine.begin() as conn:
        request, listing = conn.execute(sa.text(
            "SELECT request_id, listing_id FROM ops.matches WHERE id = :m"), {"m": first}).one()

        def copies(table: str, row_id: int, n: int) -> list[int]:
            cols = [c for c in conn.execute(sa.text(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = 'app' AND table_name = :t AND column_name <> 'id'
                   ORDER BY ordinal_position"""), {"t": table}).scalars()]
            names = ", ".join(cols)
            return list(conn.execute(sa.text(
                f"""INSERT INTO app.{table} ({names}) SELECT {names}
                    FROM app.{table}, generate_series(1, :n) WHERE id = :id RETURNING id"""),
                {"n": n, "id": row_id}).scalars())

        requests = copies("requests", request, REQUESTS)
        listings = copies("listings", listing, LISTINGS)
        conn.execute(sa.text("""
            INSERT INTO ops.matches (request_id, listing_id, source, owner_id, stage)
            SELECT r, l, 'manual', :bd, 'contacted'
            FROM unnest(CAST(:rs AS bigint[])) r, unnest(CAST(:ls AS bigint[])) l"""),
            {"bd": bd.id, "rs": requests, "ls": listings})
        conn.execute(sa.text("""
            INSERT INTO app.orders (match_id, request_id, listing_id, buyer_id, seller_id, quantity,
                                    unit_price, amount, deposit_amount, status, escrow_state,
                                    created_at, deposit_paid_at)
            SELECT m.id, m.request_id, m.listing_id, r.merchant_id, l.merchant_id, 1, 100000,
                   100000, 10000, 'deposit_paid', 'none', now() - interval '400 hours',
                   now() - interval '100 hours'
            FROM ops.matches m JOIN app.requests r ON r.id = m.request_id
            JOIN app.listings l ON l.id = m.listing_id
            WHERE m.id % 10 = 0"""))
    return {"bd": bd, "first": first, "listing": listing, "toyota": world.brand_id}


def test_bulk_changes_after_a_one_row_change_keep_brands_and_deposits_fast(engine, make_actor, cards):
    other = make_actor("bd")
    audi, _, audi_trim = new_brand(engine, "奥迪")
    kept, sources = brand_rows(engine)
    assert kept == sources and len(kept) == REQUESTS * LISTINGS + 1
    with engine.connect() as conn:
        # one card and one order changed first: each trigger plans in this connection
        conn.execute(sa.text("UPDATE ops.matches SET owner_id = :o WHERE id = :m"),
                     {"o": other.id, "m": cards["first"]})
        conn.execute(sa.text("""UPDATE app.orders SET deposit_paid_at = deposit_paid_at - interval '1 hour'
                                WHERE id = (SELECT min(id) FROM app.orders)"""))
        conn.commit()
        started = time.perf_counter()
        # every card to the other BD; the first card's listing becomes an Audi, then one
        # card moves to that listing (the moved-listing branch)
        conn.execute(sa.text("UPDATE ops.matches SET owner_id = :o"), {"o": other.id})
        conn.execute(sa.text("UPDATE app.listings SET trim_id = :t WHERE id = :l"),
                     {"t": audi_trim, "l": cards["listing"]})
        moved = conn.execute(sa.text("""
            UPDATE ops.matches SET listing_id = :l
            WHERE id = (SELECT max(id) FROM ops.matches) RETURNING id"""),
            {"l": cards["listing"]}).scalar_one()
        # every deposit an hour earlier
        changed = conn.execute(sa.text(
            "UPDATE app.orders SET deposit_paid_at = deposit_paid_at - interval '1 hour'")).rowcount
        conn.commit()
        elapsed = time.perf_counter() - started
    assert changed >= REQUESTS * LISTINGS // 10 - 1
    kept, sources = brand_rows(engine)
    assert kept == sources
    assert {row[1] for row in kept} == {other.id}
    brands = {row[0]: row[4] for row in kept}
    assert brands.pop(cards["first"]) == brands.pop(moved) == audi   # the Audi listing's cards
    assert set(brands.values()) == {cards["toyota"]}
    deposits, from_sources = kept_rows(engine)
    assert deposits == from_sources and len(deposits) == changed
    assert {row[1] for row in deposits} == {other.id}
    # 28.8 s with the plans kept from the one-row changes (6,000 x 6,000 rows compared per
    # join), 1.0 s now, both at load average 10-12 on 2 cores
    assert elapsed < 8.0, f"{elapsed:.1f} s"
