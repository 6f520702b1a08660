"""Stock confirmations (issue 16): "the car is still there", from the seller or a BD's call.

A suggestion's freshness counts from the seller's last confirmation of the stock, not from
when the listing was published (console/match_policy.py ScorePolicy, half-life 7 days).
Sellers re-confirm in the marketplace app, which writes app.listings.stock_confirmed_at;
``record_seller_confirmation`` is that write for jobs, the demo and tests. A BD who hears it
on the phone records it from the deal card (``record_stock_confirmation``): one row in
ops.stock_confirmations with who and the note, the listing's time moved, one audit row, and
the listing's suggestions rescored in the same transaction, so the card's suggestion reads
"今天确认有车" at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from console import db, match_policy
from console.audit import write_audit
from console.errors import InvalidInput, NotFound, PermissionDenied
from console.roles import Actor, requires


@dataclass(frozen=True)
class StockConfirmation:
    confirmation_id: int
    listing_id: int
    confirmed_at: datetime


def _confirm(conn: Connection, *, listing_id: int, source: str, staff_id: int | None,
             match_id: int | None, note: str | None) -> StockConfirmation:
    row = db.fetch_one(conn, """
        WITH c AS (
            INSERT INTO ops.stock_confirmations (listing_id, match_id, source, staff_id, note)
            VALUES (:l, :m, :src, :staff, :note) RETURNING id, confirmed_at
        )
        UPDATE app.listings l SET stock_confirmed_at = c.confirmed_at, updated_at = clock_timestamp()
        FROM c WHERE l.id = :l
        RETURNING c.id, c.confirmed_at""",
                       l=listing_id, m=match_id, src=source, staff=staff_id, note=note)
    return StockConfirmation(int(row["id"]), listing_id, row["confirmed_at"])


def _rematch(conn: Connection, listing_id: int) -> None:
    from console.services.matching import rematch_listings
    rematch_listings(conn=conn, listing_ids=[listing_id], top_k=match_policy.current().top_k)


def record_seller_confirmation(*, conn: Connection, listing_id: int) -> StockConfirmation:
    """The seller tapped "still available" (the marketplace's write; no staff involved).
    The scheduled rematch picks the listing up by its updated_at."""
    live = db.scalar(conn, "SELECT status = 'live' FROM app.listings WHERE id = :l FOR NO KEY UPDATE",
                     l=listing_id)
    if live is None:
        raise NotFound("error.not_found")
    if not live:
        raise InvalidInput("stock.error.listing_not_live")
    return _confirm(conn, listing_id=listing_id, source="seller", staff_id=None, match_id=None,
                    note=None)


@requires("bd", "manager")
def record_stock_confirmation(*, conn: Connection, actor: Actor, match_id: int,
                              note: str | None = None) -> StockConfirmation:
    """A BD heard from the seller that the card's car is still there: record it.

    Only the card's owner (or a manager) may; the listing must still be live."""
    card = db.fetch_one(conn, """SELECT m.owner_id, m.listing_id, l.status
                                 FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id
                                 WHERE m.id = :m""", m=match_id)
    if card is None:
        raise NotFound("error.not_found")
    if card["owner_id"] != actor.id and not actor.has("manager"):
        raise PermissionDenied("matching.error.not_your_card")
    listing_id = int(card["listing_id"])
    live = db.scalar(conn, "SELECT status = 'live' FROM app.listings WHERE id = :l FOR NO KEY UPDATE",
                     l=listing_id)
    if not live:
        raise InvalidInput("stock.error.listing_not_live")
    note = (note or "").strip() or None
    done = _confirm(conn, listing_id=listing_id, source="bd", staff_id=actor.id, match_id=match_id,
                    note=note)
    write_audit(conn=conn, actor_id=actor.id, action="stock.confirm", entity_type="match",
                entity_id=match_id, after={"listing_id": listing_id,
                                           "confirmed_at": done.confirmed_at.isoformat()},
                reason=note)
    _rematch(conn, listing_id)
    return done


@requires("bd", "manager")
def last_confirmation(*, conn: Connection, actor: Actor, match_id: int) -> dict | None:
    """The card's listing: when its stock was last confirmed (None: not since publication),
    and when it was published."""
    return db.fetch_one(conn, """
        SELECT l.id AS listing_id, l.stock_confirmed_at, l.published_at
        FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id WHERE m.id = :m""",
                        m=match_id)
