"""Damage and delay claims (理赔) against the carrier of a transport request.

The desk (ops) files a claim for a request that has a carrier (ordered or later, or in
exception): its kind (damage or delay), the amount asked, the evidence (a photo or document
reference) and a description. The **cover** is the carrier's insurance cover per car
(``lgx.carriers.cover_per_car``) × the request's cars, fixed when the claim is filed: a claim
above it is refused. One claim of a kind may be open on a request at a time.

Life of a claim: open → responded (the desk records the carrier's response; it may record a
later one too) → settled (an amount paid, > 0, ≤ the amount asked, ≤ the cover) or
rejected (with a reason). Settled and rejected are final. A settled claim counts against
the carrier's score (console/logistics/scores.py); a rejected one does not.

Every decision is taken on the claim row locked (FOR UPDATE) at the version the form was
loaded with (a stale form is refused), writes one audit row and one timeline row
(lgx.request_events, kind 'claim', from/to the claim's status, the note the text typed) in the
caller's transaction. Each refusal raises a ConsoleError before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, fmt
from console.audit import write_audit
from console.boundary import Number, Text
from console.errors import Conflict, InvalidInput, NotFound
from console.logistics import scores
from console.roles import Actor, requires

KINDS = ("damage", "delay")
OPEN = ("open", "responded")
CARRIED = ("ordered", "picked_up", "in_transit", "arrived", "delivered", "exception")
READ_ROLES = ("ops", "manager")
ENTITY = "lgx_claim"

Money = Annotated[Decimal, Number(min=0, max=999_999_999_999.99)]
Evidence = Annotated[str, Text(max=500)]
LongText = Annotated[str, Text(max=2_000, multiline=True)]


def _fen(value: Decimal) -> Decimal:
    try:
        return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise InvalidInput("logistics.claims.error.amount_not_positive") from None


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _event(conn: Connection, *, request_id: int, staff_id: int | None, from_status: str | None,
           to_status: str, note: str | None) -> None:
    db.execute(conn, """
        INSERT INTO lgx.request_events (request_id, kind, from_status, to_status, note, actor_id)
        VALUES (:r, 'claim', :f, :t, :n, :a)""",
               r=request_id, f=from_status, t=to_status, n=note, a=staff_id)


def cover_of(conn: Connection, request_id: int) -> Decimal | None:
    """The cover a claim on this request is capped at now: the carrier's cover per car × the
    request's cars; None when the request has no carrier."""
    value = db.scalar(conn, """
        SELECT c.cover_per_car * r.cars FROM lgx.requests r
        JOIN lgx.carriers c ON c.id = r.carrier_id WHERE r.id = :r""", r=request_id)
    return None if value is None else Decimal(value)


# ---------------------------------------------------------------- filing
@requires("ops")
def file_claim(*, conn: Connection, actor: Actor, request_id: int, kind: str, amount: Money,
               evidence_ref: Evidence, description: LongText) -> int:
    """File a claim against the request's carrier; returns the claim's id. Refused: a kind
    that is not damage or delay, an amount not above 0 or above the cover, no evidence or
    description, a request without a carrier, a claim of the kind already open on it."""
    if kind not in KINDS:
        raise InvalidInput("logistics.claims.error.kind")
    amount = _fen(amount)
    if amount <= 0:
        raise InvalidInput("logistics.claims.error.amount_not_positive")
    evidence, desc = _text(evidence_ref), _text(description)
    if evidence is None:
        raise InvalidInput("logistics.claims.error.evidence_required")
    if desc is None:
        raise InvalidInput("logistics.claims.error.description_required")
    req = db.fetch_one(conn, """SELECT id, status, carrier_id, cars FROM lgx.requests
                                WHERE id = :r FOR UPDATE""", r=request_id)
    if req is None:
        raise NotFound("logistics.claims.error.request_not_found")
    if req["status"] not in CARRIED or req["carrier_id"] is None:
        raise Conflict("logistics.claims.error.no_carrier")
    cover = cover_of(conn, request_id)
    if amount > cover:
        raise InvalidInput("logistics.claims.error.above_cover", amount=fmt.yuan(amount, digits=2),
                           cover=fmt.yuan(cover, digits=2), cars=req["cars"])
    # Under the request's row lock: two people filing the same kind at once file one claim.
    if db.scalar(conn, """SELECT 1 FROM lgx.claims WHERE request_id = :r AND kind = :k
                          AND status IN ('open','responded')""", r=request_id, k=kind):
        raise Conflict("logistics.claims.error.open_claim_exists")
    claim_id = db.scalar(conn, """
        INSERT INTO lgx.claims (request_id, carrier_id, kind, amount, cover, evidence_ref,
                                description, filed_by)
        VALUES (:r, :c, :k, :a, :cov, :e, :d, :by) RETURNING id""",
                         r=request_id, c=req["carrier_id"], k=kind, a=amount, cov=cover,
                         e=evidence, d=desc, by=actor.id)
    _event(conn, request_id=request_id, staff_id=actor.id, from_status=None, to_status="open",
           note=desc)
    write_audit(conn=conn, actor_id=actor.id, action="lgx_claim.file", entity_type=ENTITY,
                entity_id=claim_id,
                after={"request_id": request_id, "carrier_id": req["carrier_id"], "kind": kind,
                       "amount": amount, "cover": cover, "evidence_ref": evidence,
                       "status": "open"}, reason=desc)
    return claim_id


# ---------------------------------------------------------------- decisions
@dataclass(frozen=True)
class ClaimState:
    claim_id: int
    status: str
    version: int


def _locked(conn: Connection, claim_id: int, version: int):
    row = db.fetch_one(conn, "SELECT * FROM lgx.claims WHERE id = :id FOR UPDATE", id=claim_id)
    if row is None:
        raise NotFound("logistics.claims.error.not_found")
    if row["version"] != version:
        raise Conflict("error.stale")
    if row["status"] not in OPEN:
        raise Conflict("logistics.claims.error.decided")
    return row


def _decide(conn: Connection, actor: Actor, row, *, status: str, note: str | None,
            action: str, settled: Decimal | None = None,
            response: str | None = None) -> ClaimState:
    final = status in ("settled", "rejected")
    new = db.fetch_one(conn, """
        UPDATE lgx.claims
        SET status = :s, settled_amount = :sa,
            carrier_response = coalesce(:resp, carrier_response),
            decided_by = CASE WHEN :final THEN CAST(:me AS bigint) END,
            decided_at = CASE WHEN :final THEN now() END,
            version = version + 1
        WHERE id = :id RETURNING status, version""",
                       s=status, sa=settled, resp=response, final=final, me=actor.id,
                       id=row["id"])
    _event(conn, request_id=row["request_id"], staff_id=actor.id, from_status=row["status"],
           to_status=status, note=note)
    after = {"status": status}
    if settled is not None:
        after["settled_amount"] = settled
    if response is not None:
        after["carrier_response"] = response
    write_audit(conn=conn, actor_id=actor.id, action=action, entity_type=ENTITY,
                entity_id=row["id"],
                before={"status": row["status"], "amount": row["amount"], "cover": row["cover"]},
                after=after, reason=note)
    return ClaimState(claim_id=row["id"], status=new["status"], version=new["version"])


@requires("ops")
def record_response(*, conn: Connection, actor: Actor, claim_id: int, version: int,
                    carrier_response: LongText) -> ClaimState:
    """Record the carrier's response to an open claim (a later one replaces it)."""
    response = _text(carrier_response)
    if response is None:
        raise InvalidInput("logistics.claims.error.response_required")
    row = _locked(conn, claim_id, version)
    return _decide(conn, actor, row, status="responded", note=response,
                   action="lgx_claim.respond", response=response)


@requires("ops")
def settle(*, conn: Connection, actor: Actor, claim_id: int, version: int,
           settled_amount: Money, note: LongText | None = None) -> ClaimState:
    """Settle an open claim for ``settled_amount`` (> 0, ≤ the amount asked, ≤ the cover).
    Settled once: a second settlement of the same form is stale, of a new one decided."""
    settled = _fen(settled_amount)
    if settled <= 0:
        raise InvalidInput("logistics.claims.error.amount_not_positive")
    row = _locked(conn, claim_id, version)
    cap = min(Decimal(row["amount"]), Decimal(row["cover"]))
    if settled > cap:
        raise InvalidInput("logistics.claims.error.above_claim", settled=fmt.yuan(settled, digits=2),
                           cap=fmt.yuan(cap, digits=2))
    return _decide(conn, actor, row, status="settled", note=_text(note),
                   action="lgx_claim.settle", settled=settled)


@requires("ops")
def reject(*, conn: Connection, actor: Actor, claim_id: int, version: int,
           reason: LongText) -> ClaimState:
    """Reject an open claim, with a reason."""
    why = _text(reason)
    if why is None:
        raise InvalidInput("logistics.claims.error.reason_required")
    row = _locked(conn, claim_id, version)
    return _decide(conn, actor, row, status="rejected", note=why, action="lgx_claim.reject")


# ---------------------------------------------------------------- the request page's panel
@dataclass(frozen=True)
class Panel:
    request_id: int
    status: str
    merchant_id: int
    carrier_id: int | None
    carrier_name: str | None
    cover: Decimal | None
    can_file: bool
    claims: pd.DataFrame
    rating: dict | None
    score: scores.CarrierScore | None


@requires(*READ_ROLES)
def panel(*, conn: Connection, actor: Actor, request_id: int) -> Panel:
    """What the request page's claims and rating panel shows: the request's carrier, the
    cover, its claims (newest first), its rating and the carrier's score."""
    req = db.fetch_one(conn, """
        SELECT r.id, r.status, r.merchant_id, r.carrier_id, c.name AS carrier_name
        FROM lgx.requests r LEFT JOIN lgx.carriers c ON c.id = r.carrier_id
        WHERE r.id = :r""", r=request_id)
    if req is None:
        raise NotFound("logistics.claims.error.request_not_found")
    claims = db.fetch_df(conn, """
        SELECT cl.id, cl.kind, cl.amount, cl.cover, cl.status, cl.settled_amount,
               cl.evidence_ref, cl.description, cl.carrier_response, cl.filed_at,
               f.display_name AS filed_by, cl.decided_at, d.display_name AS decided_by,
               cl.version
        FROM lgx.claims cl
        JOIN ops.staff f ON f.id = cl.filed_by
        LEFT JOIN ops.staff d ON d.id = cl.decided_by
        WHERE cl.request_id = :r ORDER BY cl.filed_at DESC, cl.id DESC""", r=request_id)
    rating = db.fetch_one(conn, """
        SELECT g.stars, g.complaint, g.comment, g.rated_at, s.display_name AS recorded_by
        FROM lgx.ratings g LEFT JOIN ops.staff s ON s.id = g.recorded_by
        WHERE g.request_id = :r""", r=request_id)
    carrier = req["carrier_id"]
    score = scores.carrier_scores(conn, carrier_ids=[carrier]).get(carrier) if carrier else None
    carried = req["status"] in CARRIED and carrier is not None
    return Panel(request_id=req["id"], status=req["status"], merchant_id=req["merchant_id"],
                 carrier_id=carrier, carrier_name=req["carrier_name"],
                 cover=cover_of(conn, request_id) if carried else None,
                 can_file=carried and actor.has("ops"), claims=claims,
                 rating=dict(rating) if rating else None, score=score)
