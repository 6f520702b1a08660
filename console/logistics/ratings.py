"""Service ratings (服务评价): the merchant rates each delivered transport request once.

Stars 1–5, whether it is a complaint, a comment. Two ways in: the marketplace's own write
(``rate``: no staff actor, the merchant whose request it is) and the desk entering a rating a
merchant gave by phone (``record_rating``, ops; the person is kept in ``recorded_by``). The
rating counts towards the carrier's score (console/logistics/scores.py).

Once per request: ``lgx.ratings`` is keyed by the request, and the insert does nothing when a
rating is there already (two ratings at once: the second waits for the first and is refused).
Each rating writes one timeline row (kind 'rating') and one audit row in the caller's
transaction; a refusal writes nothing.
"""
from __future__ import annotations

from typing import Annotated

from sqlalchemy.engine import Connection

from console import db
from console.audit import write_audit
from console.boundary import Number, Text
from console.errors import Conflict, InvalidInput, NotFound
from console.roles import Actor, requires

ENTITY = "lgx_rating"
Stars = Annotated[int, Number(min=1, max=5, key="logistics.ratings.error.stars")]
Comment = Annotated[str, Text(max=2_000, multiline=True)]


def _rate(conn: Connection, *, staff_id: int | None, merchant_id: int | None, request_id: int,
          stars: int, complaint: bool, comment: str | None) -> None:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("logistics.ratings.error.stars")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > 2_000:
        raise InvalidInput("logistics.ratings.error.comment_too_long")
    req = db.fetch_one(conn, """SELECT id, status, merchant_id, carrier_id FROM lgx.requests
                                WHERE id = :r""", r=request_id)
    if req is None or (merchant_id is not None and req["merchant_id"] != merchant_id):
        raise NotFound("logistics.claims.error.request_not_found")
    if req["status"] != "delivered":
        raise Conflict("logistics.ratings.error.not_delivered")
    inserted = db.scalar(conn, """
        INSERT INTO lgx.ratings (request_id, merchant_id, carrier_id, stars, complaint, comment,
                                 recorded_by)
        VALUES (:r, :m, :c, :s, :x, :t, :by)
        ON CONFLICT (request_id) DO NOTHING
        RETURNING request_id""", r=request_id, m=req["merchant_id"], c=req["carrier_id"],
                         s=stars, x=complaint, t=comment, by=staff_id)
    if inserted is None:
        raise Conflict("logistics.ratings.error.already_rated")
    note = f"{'★' * stars}{'☆' * (5 - stars)}" + (f" {comment}" if comment else "")
    db.execute(conn, """
        INSERT INTO lgx.request_events (request_id, kind, note, actor_id)
        VALUES (:r, 'rating', :n, :a)""", r=request_id, n=note, a=staff_id)
    write_audit(conn=conn, actor_id=staff_id, action="lgx_rating.record", entity_type=ENTITY,
                entity_id=request_id,
                after={"carrier_id": req["carrier_id"], "stars": stars, "complaint": complaint,
                       "comment": comment})


def rate(*, conn: Connection, merchant_id: int, request_id: int, stars: int,
         complaint: bool = False, comment: str | None = None) -> None:
    """The marketplace's write (no staff actor): the merchant rates its delivered request.
    Refused: a request that is not this merchant's, not delivered, or rated already; stars
    outside 1–5."""
    _rate(conn, staff_id=None, merchant_id=merchant_id, request_id=request_id, stars=stars,
          complaint=complaint, comment=comment)


@requires("ops")
def record_rating(*, conn: Connection, actor: Actor, request_id: int, stars: Stars,
                  complaint: bool = False, comment: Comment | None = None) -> None:
    """The desk enters the rating the merchant gave (by phone, say): same rules as ``rate``."""
    _rate(conn, staff_id=actor.id, merchant_id=None, request_id=request_id, stars=stars,
          complaint=complaint, comment=comment)
