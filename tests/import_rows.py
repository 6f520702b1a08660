"""Rows of parallel imports for the tests, written as the marketplace writes them: a listing
flagged is_parallel_import with its app.listing_imports row, a deal on it (app.orders), its
four import documents approved."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.imports.status import DOC_KINDS
from tests import trust_rows as tr


def imported(engine: Engine, *, merchant_id: int, trim_id: int, city_id: int, price: float,
             market: str | None = "middle_east", port: str = "tianjin",
             availability: str = "in_stock", arrival: date | None = None,
             status: str = "live", guide: float = 1_200_000, vin: str | None = None,
             age_days: float = 1.0) -> int:
    """A parallel-import listing; ``market`` None: its details never given."""
    listing = tr.listing(engine, merchant_id=merchant_id, trim_id=trim_id, city_id=city_id,
                         price=price, guide=guide, vin=vin, status=status, age_days=age_days)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app.listings SET is_parallel_import = true WHERE id = :id"),
                     {"id": listing})
        if market is not None:
            conn.execute(sa.text("""
                INSERT INTO app.listing_imports (listing_id, market_version, port, availability,
                                                 expected_arrival)
                VALUES (:id, :m, :p, :a, :d)"""),
                         {"id": listing, "m": market, "p": port, "a": availability, "d": arrival})
    return listing


def deal(engine: Engine, *, listing_id: int, buyer: int, seller: int, unit_price: float,
         status: str = "completed", days_ago: float = 10) -> int:
    """An order on the listing: completed (dated by completion) or at deposit_paid (by its
    deposit), ``days_ago``; or cancelled."""
    with engine.begin() as conn:
        return conn.execute(sa.text("""
            INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                    deposit_amount, status, escrow_state, created_at,
                                    deposit_paid_at, completed_at, cancelled_at)
            VALUES (:l, :b, :s, 1, :u, :u, 20000, :st,
                    CASE :st WHEN 'completed' THEN 'released' WHEN 'deposit_paid' THEN 'held'
                             ELSE 'refunded' END,
                    now() - make_interval(secs => (:ago + 3) * 86400),
                    now() - make_interval(secs => (:ago + 1) * 86400),
                    CASE WHEN :st = 'completed'
                         THEN now() - make_interval(secs => :ago * 86400) END,
                    CASE WHEN :st = 'cancelled'
                         THEN now() - make_interval(secs => :ago * 86400) END)
            RETURNING id"""), {"l": listing_id, "b": buyer, "s": seller, "u": unit_price,
                               "st": status, "ago": days_ago}).scalar_one()


def approve_documents(engine: Engine, *, listing_id: int, staff_id: int,
                      kinds: tuple[str, ...] = DOC_KINDS) -> None:
    with engine.begin() as conn:
        for kind in kinds:
            conn.execute(sa.text("""
                INSERT INTO app.import_documents (listing_id, doc_kind, doc_ref, uploaded_at,
                                                  status, decided_by, decided_at, decision_reason)
                VALUES (:l, :k, :ref, now() - interval '2 days', 'approved', :s,
                        now() - interval '1 day', '核对无误')"""),
                         {"l": listing_id, "k": kind, "ref": f"{kind}-{listing_id}", "s": staff_id})
