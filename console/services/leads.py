"""The lead pool (抢线索): open requests with suggestions, and bidding requests, nobody owns.

- Taking is atomic: ops.lead_claims has the request as primary key, so of two people
  inserting the same lead one wins and the other gets a Conflict.
- A per-person cap on open leads holds under concurrency: a person's takes are serialised
  by a transaction-scoped advisory lock on their staff id before counting.
- Leads untouched for N hours return to the pool (``return_untouched``: a scheduled command
  and on page load), audited as a system action.
- Managers assign and reassign.
A lead's cards follow its owner: taking or assigning a lead hands its open cards over.

This module owns the way from a lead to its cards: the claim under the cap, the first card
of a taken or assigned lead, a card made by hand (``match_by_hand``, which claims the lead
when nobody owns it) and every card's birth (``create_card``: its first timeline row and the
merchants' notices). The deal board (deals.py) calls it and moves the cards on; this module
never calls the board. The limits (cap, idle hours) are configuration (console.match_policy),
never a caller's argument.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db, match_policy
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.roles import Actor, requires
from console.services import notify

_LOCK_NAMESPACE = 51   # advisory-lock namespace: one person's claims at a time

# A bidding request stays a lead this long after its deadline (its best offer is on the
# board then, to be worked); after that it is closed, like a request past its needed-by day.
BID_CLOSED_GRACE_DAYS = 7

# Stale work (issue 14): a request whose needed-by day has passed (Shanghai date) or whose
# bidding closed more than BID_CLOSED_GRACE_DAYS ago is no lead any more, even while its
# status still says open; the pool leaves it out and counts it.
_STALE = """(r.needed_by < CAST(:today AS date)
    OR (r.mode = 'bidding' AND r.bid_deadline
        < CAST(:now AS timestamptz) - make_interval(days => :grace)))"""

# A request is a lead-in-waiting when it is open, its buyer is active, and it is either
# bidding or has stored suggestions; a lead when it is not stale either.
_MAY_LEAD = """r.status = 'open'
    AND EXISTS (SELECT 1 FROM app.merchants bm WHERE bm.id = r.merchant_id AND bm.status = 'active')
    AND (r.mode = 'bidding' OR EXISTS (SELECT 1 FROM ops.match_suggestions s WHERE s.request_id = r.id))"""
_IS_LEAD = f"""{_MAY_LEAD}
    AND NOT {_STALE}"""


def _stale_params() -> dict[str, Any]:
    now = clock.now()
    return {"today": now.date(), "now": now, "grace": BID_CLOSED_GRACE_DAYS}

_LEAD_COLUMNS = """r.id AS request_id, r.mode, app.vehicle_name(br.name, se.name) AS series,
       t.name AS trim_name, r.quantity, r.max_price, r.needed_by, r.bid_deadline,
       c.name AS city, m.name AS buyer, r.merchant_id AS buyer_id, r.created_at,
       (SELECT count(*) FROM ops.match_suggestions s WHERE s.request_id = r.id) AS suggestions,
       (SELECT max(score) FROM ops.match_suggestions s WHERE s.request_id = r.id) AS best_score,
       (SELECT count(*) FROM app.bids b WHERE b.request_id = r.id AND b.status = 'active') AS offers"""

_LEAD_JOINS = """JOIN app.series se ON se.id = r.series_id
JOIN app.brands br ON br.id = se.brand_id
LEFT JOIN app.trims t ON t.id = r.trim_id
JOIN app.cities c ON c.id = r.city_id
JOIN app.merchants m ON m.id = r.merchant_id"""


def open_lead_count(conn: Connection, staff_id: int) -> int:
    return int(db.scalar(conn, """
        SELECT count(*) FROM ops.lead_claims c JOIN app.requests r ON r.id = c.request_id
        WHERE c.owner_id = :s AND r.status = 'open'""", s=staff_id))


def _lock_person(conn: Connection, staff_id: int) -> None:
    db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, CAST(:s AS integer))",
               ns=_LOCK_NAMESPACE, s=staff_id)


def _check_cap(conn: Connection, staff_id: int) -> None:
    cap = match_policy.current().lead_cap
    _lock_person(conn, staff_id)
    if open_lead_count(conn, staff_id) >= cap:
        raise Conflict("matching.error.cap_reached", cap=cap)


def _hand_over_cards(conn: Connection, request_id: int, owner_id: int | None) -> int:
    return db.execute(conn, """UPDATE ops.matches SET owner_id = :o, updated_at = now(),
                                      version = version + 1
                               WHERE request_id = :r AND stage NOT IN ('won','lost')
                                 AND owner_id IS DISTINCT FROM :o""", r=request_id, o=owner_id)


def claim(conn: Connection, *, claimant: Actor, request_id: int, require_pool: bool = True,
          assigned_by: int | None = None) -> None:
    """Insert the claim for ``claimant`` (cap checked). Conflict if someone owns it already.

    Internal: callers (take, assign, manual match) have checked the role already."""
    request = db.fetch_one(conn, f"""SELECT r.id, r.status, ({_IS_LEAD}) AS is_lead
                                     FROM app.requests r WHERE r.id = :r""", r=request_id,
                           **_stale_params())
    if request is None:
        raise NotFound("error.not_found")
    if request["status"] != "open" or (require_pool and not request["is_lead"]):
        raise InvalidInput("matching.error.not_a_lead")
    _check_cap(conn, claimant.id)
    taken = db.scalar(conn, """INSERT INTO ops.lead_claims (request_id, owner_id, assigned_by)
                               VALUES (:r, :o, :by) ON CONFLICT (request_id) DO NOTHING
                               RETURNING request_id""", r=request_id, o=claimant.id, by=assigned_by)
    if taken is None:
        raise Conflict("matching.error.lead_taken")


def touch_lead(conn: Connection, request_id: int) -> None:
    """Working a card keeps its lead from returning to the pool."""
    db.execute(conn, "UPDATE ops.lead_claims SET last_touched_at = now() WHERE request_id = :r",
               r=request_id)


def record_stage(conn: Connection, *, match_id: int, from_stage: str | None, to_stage: str,
                 staff_id: int | None, override: bool = False, reason: str | None = None) -> None:
    """One row of a card's timeline (its birth here, its moves on the board)."""
    db.execute(conn, """INSERT INTO ops.match_stage_history
                            (match_id, from_stage, to_stage, staff_id, is_override, reason)
                        VALUES (:m, :f, :t, :s, :o, :r)""",
               m=match_id, f=from_stage, t=to_stage, s=staff_id, o=override, r=reason)


def create_card(conn: Connection, *, request_id: int, listing_id: int, source: str,
                owner_id: int | None, created_by: int | None, now: datetime | None = None) -> int:
    """Create a card in 'suggested' (history, notifications); Conflict when the pair exists."""
    pair = db.fetch_one(conn, """
        SELECT r.merchant_id AS buyer_id, l.merchant_id AS seller_id, r.status AS request_status,
               l.status AS listing_status, l.price, least(r.quantity, l.quantity) AS qty,
               s.score
        FROM app.requests r
        JOIN app.listings l ON l.id = :l
        LEFT JOIN ops.match_suggestions s ON s.request_id = r.id AND s.listing_id = l.id
        WHERE r.id = :r""", r=request_id, l=listing_id)
    if pair is None:
        raise NotFound("error.not_found")
    if pair["request_status"] != "open" or pair["listing_status"] != "live":
        raise InvalidInput("matching.error.not_open")
    if pair["buyer_id"] == pair["seller_id"]:
        raise InvalidInput("matching.error.same_merchant")
    match_id = db.scalar(conn, """
        INSERT INTO ops.matches (request_id, listing_id, source, score, stage, owner_id,
                                 deal_value, created_by)
        VALUES (:r, :l, :src, :score, 'suggested', :owner, :value, :by)
        ON CONFLICT (request_id, listing_id) DO NOTHING RETURNING id""",
        r=request_id, l=listing_id, src=source, score=pair["score"], owner=owner_id,
        value=pair["price"] * pair["qty"], by=created_by)
    if match_id is None:
        raise Conflict("matching.error.match_exists")
    record_stage(conn, match_id=match_id, from_stage=None, to_stage="suggested", staff_id=created_by)
    notify.enqueue(conn=conn, now=now, notices=notify.match_notices(
        request_id=request_id, listing_id=listing_id, buyer_id=pair["buyer_id"],
        seller_id=pair["seller_id"]))
    return match_id


def match_by_hand(conn: Connection, actor: Actor, *, request_id: int,
                  listing_id: int) -> tuple[int, int]:
    """A card for a pair a BD chose; the lead becomes theirs if nobody owns it (cap checked).
    Returns (card id, the lead's owner). Internal: deals.create_match checked the role."""
    owner = db.scalar(conn, "SELECT owner_id FROM ops.lead_claims WHERE request_id = :r FOR UPDATE",
                      r=request_id)
    if owner is None:
        claim(conn, claimant=actor, request_id=request_id, require_pool=False)
        owner = actor.id
    elif owner != actor.id and not actor.has("manager"):
        raise Conflict("matching.error.lead_owned_by_other")
    match_id = create_card(conn, request_id=request_id, listing_id=listing_id, source="manual",
                           owner_id=owner, created_by=actor.id)
    touch_lead(conn, request_id)
    return match_id, owner


def _first_card(conn: Connection, actor: Actor, request_id: int) -> int | None:
    """The lead's best suggestion not tried yet becomes a card when the lead has no open card.

    A pair already on the board is skipped: a lost card is final (the board has no move out
    of 'lost'), and the pair's card cannot be made twice, so taking a lead whose top
    suggestion was lost used to fail for ever. With every suggestion tried the lead is
    taken without a card.
    """
    has_card = db.scalar(conn, """SELECT EXISTS (SELECT 1 FROM ops.matches WHERE request_id = :r
                                                 AND stage NOT IN ('won','lost'))""", r=request_id)
    if has_card:
        return None
    listing_id = db.scalar(conn, """
        SELECT s.listing_id FROM ops.match_suggestions s
        WHERE s.request_id = :r
          AND NOT EXISTS (SELECT 1 FROM ops.matches m
                          WHERE m.request_id = s.request_id AND m.listing_id = s.listing_id)
        ORDER BY s.rank LIMIT 1""", r=request_id)
    if listing_id is None:
        return None
    return create_card(conn, request_id=request_id, listing_id=listing_id, source="auto",
                       owner_id=actor.id, created_by=actor.id)


@requires("bd", "manager")
def take_lead(*, conn: Connection, actor: Actor, request_id: int) -> int | None:
    """抢: take a lead from the pool; returns the id of the card put on the board, if any."""
    claim(conn, claimant=actor, request_id=request_id)
    _hand_over_cards(conn, request_id, actor.id)
    card = _first_card(conn, actor, request_id)
    write_audit(conn=conn, actor_id=actor.id, action="lead.take", entity_type="lead",
                entity_id=request_id, after={"owner_id": actor.id, "card_id": card})
    return card


@requires("bd", "manager")
def release_lead(*, conn: Connection, actor: Actor, request_id: int, reason: str) -> None:
    """The owner (or a manager) puts a lead back in the pool, with a reason."""
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    row = db.fetch_one(conn, "SELECT owner_id FROM ops.lead_claims WHERE request_id = :r FOR UPDATE",
                       r=request_id)
    if row is None:
        raise NotFound("error.not_found")
    if row["owner_id"] != actor.id and not actor.has("manager"):
        raise Conflict("matching.error.lead_owned_by_other")
    db.execute(conn, "DELETE FROM ops.lead_claims WHERE request_id = :r", r=request_id)
    _hand_over_cards(conn, request_id, None)
    write_audit(conn=conn, actor_id=actor.id, action="lead.release", entity_type="lead",
                entity_id=request_id, before={"owner_id": row["owner_id"]}, reason=reason.strip())


@requires("manager")
def assign_lead(*, conn: Connection, actor: Actor, request_id: int, to_staff_id: int,
                reason: str = "") -> None:
    """A manager gives a lead (pooled or owned) to a BD person, within that person's cap."""
    target = db.fetch_one(conn, """SELECT id, username, display_name, roles, is_active
                                   FROM ops.staff WHERE id = :s""", s=to_staff_id)
    if target is None or not target["is_active"] or "bd" not in target["roles"]:
        raise InvalidInput("matching.error.assignee_not_bd")
    current = db.fetch_one(conn, """SELECT owner_id FROM ops.lead_claims
                                    WHERE request_id = :r FOR UPDATE""", r=request_id)
    if current is not None and current["owner_id"] == to_staff_id:
        raise InvalidInput("matching.error.already_owner")
    if current is not None and not (reason or "").strip():
        raise InvalidInput("error.reason_required")   # taking a lead away needs a why
    assignee = Actor(id=target["id"], username=target["username"],
                     display_name=target["display_name"], roles=frozenset(target["roles"]))
    if current is None:
        claim(conn, claimant=assignee, request_id=request_id, assigned_by=actor.id)
    else:
        _check_cap(conn, to_staff_id)
        db.execute(conn, """UPDATE ops.lead_claims SET owner_id = :o, assigned_by = :by,
                                   claimed_at = now(), last_touched_at = now(), version = version + 1
                            WHERE request_id = :r""", o=to_staff_id, by=actor.id, r=request_id)
    _hand_over_cards(conn, request_id, to_staff_id)
    _first_card(conn, assignee, request_id)
    write_audit(conn=conn, actor_id=actor.id, action="lead.assign", entity_type="lead",
                entity_id=request_id,
                before={"owner_id": current["owner_id"] if current else None},
                after={"owner_id": to_staff_id}, reason=(reason or "").strip() or None)


_RETURN_SQL = """
WITH idle AS (
    SELECT c.request_id, c.owner_id, c.last_touched_at
    FROM ops.lead_claims c
    WHERE c.last_touched_at < CAST(:now AS timestamptz) - make_interval(hours => :hours)
    ORDER BY c.request_id
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM ops.lead_claims c USING idle i WHERE c.request_id = i.request_id
    RETURNING i.request_id, i.owner_id, i.last_touched_at
), cards AS (
    UPDATE ops.matches m SET owner_id = NULL, updated_at = now(), version = version + 1
    FROM gone g
    WHERE m.request_id = g.request_id AND m.stage NOT IN ('won','lost')
)
INSERT INTO ops.audit_log (actor_id, action, entity_type, entity_id, before, after, reason)
SELECT NULL, 'lead.auto_return', 'lead', g.request_id::text,
       jsonb_build_object('owner_id', g.owner_id, 'last_touched_at', g.last_touched_at),
       jsonb_build_object('owner_id', NULL), 'idle_hours>' || :hours
FROM gone g
"""


def return_untouched(*, conn: Connection, idle_hours: int, now: datetime | None = None) -> int:
    """Return idle leads to the pool (system action, one audit row each); returns how many.

    Ungated: the scheduler's job (console/jobs.py) passes the configured idle hours."""
    return db.execute(conn, _RETURN_SQL, now=now or clock.now(), hours=idle_hours)


@requires("bd", "manager")
def return_idle_leads(*, conn: Connection, actor: Actor) -> int:
    """The pool page runs the idle return on load, so nobody waits for the scheduler."""
    return return_untouched(conn=conn, idle_hours=match_policy.current().lead_idle_hours)


# ------------------------------------------------------------------ reads

# The pool's counts stop counting here: above it the page says "more than 1,000". Counting
# every lead checked each open request's buyer, suggestions and claim (47,000 open requests
# at the large scale, 150-250 ms a count under load); the oldest 1,001 are found in the
# pool's index order (migration 077) in a few milliseconds. A count at or below the cap is
# exact.
POOL_COUNT_CAP = 1_000

# The same conditions as _MAY_LEAD, written so that each is a per-row probe by primary key
# (the buyer's status as a scalar subquery: the planner cannot turn it into a hash of all
# 50,000 merchants, which is what a count of 1,001 rows should never build).
_MAY_LEAD_PROBED = """r.status = 'open'
    AND (SELECT bm.status FROM app.merchants bm WHERE bm.id = r.merchant_id) = 'active'
    AND (r.mode = 'bidding' OR EXISTS (SELECT 1 FROM ops.match_suggestions s WHERE s.request_id = r.id))"""
_UNOWNED = """NOT EXISTS (SELECT 1 FROM ops.lead_claims c WHERE c.request_id = r.id)
        AND (CAST(:mode AS text) IS NULL OR r.mode = CAST(:mode AS text))"""


def _capped_count(conn: Connection, where: str, **params: Any) -> int:
    """How many requests pass ``where``, exactly up to POOL_COUNT_CAP; POOL_COUNT_CAP + 1
    means more than that. Walks the open requests oldest first (the pool's order)."""
    return int(db.scalar(conn, f"""SELECT count(*) FROM (
        SELECT 1 FROM app.requests r WHERE {where}
        ORDER BY r.created_at, r.id LIMIT :cap) x""", cap=POOL_COUNT_CAP + 1, **params))


@requires("bd", "manager")
def pool(*, conn: Connection, actor: Actor, mode: str | None = None, offset: int = 0,
         limit: int = 20) -> tuple[pd.DataFrame, int]:
    """Unowned leads, oldest first, one page at a time; with their count, exact up to
    POOL_COUNT_CAP (POOL_COUNT_CAP + 1: more than that). Stale requests are not leads (see
    _STALE and ``stale_leads``)."""
    if mode not in (None, "normal", "bidding"):
        raise InvalidInput("matching.error.unknown_mode")
    where = f"""{_IS_LEAD}
        AND {_UNOWNED}"""
    stale = _stale_params()
    total = _capped_count(conn, f"{_MAY_LEAD_PROBED} AND NOT {_STALE} AND {_UNOWNED}",
                          mode=mode, **stale)
    # The page's requests first (the pool index, oldest first), then their columns: asked in
    # one statement the planner searched the join orders of ten relations for 60 ms.
    page = db.fetch_df(conn, f"""WITH picked AS MATERIALIZED (
            SELECT r.id FROM app.requests r WHERE {where}
            ORDER BY r.created_at, r.id LIMIT :limit OFFSET :offset)
        SELECT {_LEAD_COLUMNS} FROM picked p JOIN app.requests r ON r.id = p.id {_LEAD_JOINS}
        ORDER BY r.created_at, r.id""", mode=mode, limit=limit, offset=offset, **stale)
    return page, total


@requires("bd", "manager")
def stale_leads(*, conn: Connection, actor: Actor, mode: str | None = None) -> int:
    """How many unowned requests the pool leaves out as stale (needed-by day passed, or
    bidding closed more than BID_CLOSED_GRACE_DAYS ago): the pool says so. Exact up to
    POOL_COUNT_CAP; POOL_COUNT_CAP + 1 means more than that."""
    if mode not in (None, "normal", "bidding"):
        raise InvalidInput("matching.error.unknown_mode")
    return _capped_count(conn, f"{_MAY_LEAD_PROBED} AND {_STALE} AND {_UNOWNED}",
                         mode=mode, **_stale_params())


@requires("bd", "manager")
def my_leads(*, conn: Connection, actor: Actor, scope: str = "mine") -> pd.DataFrame:
    """Leads owned by me, or (managers, scope 'team') by everyone; least recently touched first."""
    if scope not in ("mine", "team"):
        raise InvalidInput("matching.error.unknown_scope")
    if scope == "team" and not actor.has("manager"):
        raise PermissionDenied("error.role_required", roles="manager")
    return db.fetch_df(conn, f"""
        SELECT {_LEAD_COLUMNS}, cl.owner_id, st.display_name AS owner, cl.claimed_at,
               cl.last_touched_at
        FROM ops.lead_claims cl
        JOIN app.requests r ON r.id = cl.request_id
        JOIN ops.staff st ON st.id = cl.owner_id
        {_LEAD_JOINS}
        WHERE (:team OR cl.owner_id = :me)
        ORDER BY cl.last_touched_at""", team=scope == "team", me=actor.id)


@requires("bd", "manager")
def lead_status(*, conn: Connection, actor: Actor) -> Mapping[str, Any]:
    """My open-lead count against the cap, for the page header."""
    policy = match_policy.current()
    return {"open": open_lead_count(conn, actor.id), "cap": policy.lead_cap,
            "idle_hours": policy.lead_idle_hours}
