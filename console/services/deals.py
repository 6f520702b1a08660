"""The BD deal board: one card per match being worked, moved through a stage machine.

待联系 suggested -> 已联系 contacted -> 洽谈中 negotiating -> 已付定金 deposit_paid -> 成交 won,
and 失败 lost from any open stage (with a reason from LOST_REASONS and a note). Any other move
is refused unless a manager overrides it with a reason. Every move writes the card's stage
history (its timeline) and one audit row; a version column refuses stale forms.

Cards are born in leads.py, which owns a lead's way to its cards (claim, cap, first card,
a card made by hand, a best offer's card); this module moves them on and shows the board.
The rot limits are configuration (console.match_policy), never a caller's argument.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, match_policy
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.roles import Actor, requires
from console.services import leads

STAGES = ("suggested", "contacted", "negotiating", "deposit_paid", "won", "lost")
OPEN_STAGES = STAGES[:4]
ALLOWED_MOVES: Mapping[str, frozenset[str]] = {
    "suggested": frozenset({"contacted", "lost"}),
    "contacted": frozenset({"negotiating", "suggested", "lost"}),
    "negotiating": frozenset({"deposit_paid", "contacted", "lost"}),
    "deposit_paid": frozenset({"won", "lost"}),
    "won": frozenset(),
    "lost": frozenset(),
}
NEXT_STAGE = {"suggested": "contacted", "contacted": "negotiating",
              "negotiating": "deposit_paid", "deposit_paid": "won"}
LOST_REASONS = ("price_gap", "no_stock", "buyer_cancelled", "seller_unresponsive",
                "bought_elsewhere", "delivery_time", "trust_concerns", "other")
# Won and lost cards stay on the board this long, then only the leaderboard counts them.
CLOSED_VISIBLE_DAYS = 30


# ------------------------------------------------------------------ internal helpers

def _lock_card(conn: Connection, match_id: int) -> Mapping[str, Any]:
    row = db.fetch_one(conn, """SELECT id, request_id, listing_id, stage, owner_id, version,
                                       next_action_at, deal_value
                                FROM ops.matches WHERE id = :id FOR UPDATE""", id=match_id)
    if row is None:
        raise NotFound("error.not_found")
    return row


def _check_may_work(actor: Actor, card: Mapping[str, Any], version: int | None) -> None:
    if card["owner_id"] != actor.id and not actor.has("manager"):
        raise PermissionDenied("matching.error.not_your_card")
    if version is not None and card["version"] != version:
        raise Conflict("error.stale")


# ------------------------------------------------------------------ actions

@requires("bd", "manager")
def create_match(*, conn: Connection, actor: Actor, request_id: int, listing_id: int) -> int:
    """A BD pairs a request with a listing by hand; the lead becomes theirs if unowned."""
    match_id, owner = leads.match_by_hand(conn, actor, request_id=request_id, listing_id=listing_id)
    write_audit(conn=conn, actor_id=actor.id, action="match.create", entity_type="match",
                entity_id=match_id, after={"request_id": request_id, "listing_id": listing_id,
                                           "source": "manual", "owner_id": owner})
    return match_id


@requires("bd", "manager")
def move_stage(*, conn: Connection, actor: Actor, match_id: int, to_stage: str,
               version: int | None = None, lost_reason: str | None = None,
               note: str | None = None, override_reason: str | None = None) -> int:
    """Move a card; returns its new version. Refuses moves the stage machine does not allow."""
    if to_stage not in STAGES:
        raise InvalidInput("matching.error.unknown_stage")
    card = _lock_card(conn, match_id)
    _check_may_work(actor, card, version)
    from_stage = card["stage"]
    if from_stage == to_stage:
        raise InvalidInput("matching.error.same_stage")
    override = to_stage not in ALLOWED_MOVES[from_stage]
    if override:
        if from_stage in ("won", "lost") or not actor.has("manager"):
            raise InvalidInput("matching.error.illegal_move", frm=from_stage, to=to_stage)
        if not (override_reason or "").strip():
            raise InvalidInput("matching.error.override_reason_required")
    note = (note or "").strip() or None
    if to_stage == "lost":
        if lost_reason not in LOST_REASONS:
            raise InvalidInput("matching.error.lost_reason_required")
        if note is None:
            raise InvalidInput("matching.error.lost_note_required")
    reason = override_reason.strip() if override else None
    new_version = db.scalar(conn, """
        UPDATE ops.matches
        SET stage = :to, stage_entered_at = now(), updated_at = now(), version = version + 1,
            lost_reason = CASE WHEN :to = 'lost' THEN :why ELSE lost_reason END,
            lost_note = CASE WHEN :to = 'lost' THEN :note ELSE lost_note END
        WHERE id = :id RETURNING version""",
        to=to_stage, why=lost_reason, note=note, id=match_id)
    leads.record_stage(conn, match_id=match_id, from_stage=from_stage, to_stage=to_stage,
                       staff_id=actor.id, override=override, reason=reason or note)
    leads.touch_lead(conn, card["request_id"])
    after: dict[str, Any] = {"stage": to_stage}
    if to_stage == "lost":
        after.update(lost_reason=lost_reason, lost_note=note)
    if override:
        after["override"] = True
    write_audit(conn=conn, actor_id=actor.id, action="match.move", entity_type="match",
                entity_id=match_id, before={"stage": from_stage}, after=after, reason=reason)
    return new_version


@requires("bd", "manager")
def add_note(*, conn: Connection, actor: Actor, match_id: int, body: str) -> int:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("matching.error.note_empty")
    card = _lock_card(conn, match_id)
    _check_may_work(actor, card, None)
    note_id = db.scalar(conn, """INSERT INTO ops.notes (entity_type, entity_id, staff_id, body)
                                 VALUES ('match', :m, :s, :b) RETURNING id""",
                        m=match_id, s=actor.id, b=body)
    leads.touch_lead(conn, card["request_id"])
    write_audit(conn=conn, actor_id=actor.id, action="match.note", entity_type="match",
                entity_id=match_id, after={"note_id": note_id, "body": body})
    return note_id


@requires("bd", "manager")
def set_next_action(*, conn: Connection, actor: Actor, match_id: int,
                    next_action_at: datetime | None, version: int | None = None) -> int:
    card = _lock_card(conn, match_id)
    _check_may_work(actor, card, version)
    if card["stage"] in ("won", "lost"):
        raise InvalidInput("matching.error.card_closed")
    new_version = db.scalar(conn, """UPDATE ops.matches SET next_action_at = :at, updated_at = now(),
                                            version = version + 1
                                     WHERE id = :id RETURNING version""",
                            at=next_action_at, id=match_id)
    leads.touch_lead(conn, card["request_id"])
    write_audit(conn=conn, actor_id=actor.id, action="match.next_action", entity_type="match",
                entity_id=match_id, before={"next_action_at": card["next_action_at"]},
                after={"next_action_at": next_action_at})
    return new_version


def propose_best_offers(*, conn: Connection, now: datetime | None = None) -> int:
    """After a bidding deadline, put the best offer (cheapest, then lowest bid id) on the board.

    A scheduled job (no staff actor): the card goes to the lead's owner, or waits in the pool.
    Offers without a listing cannot become a card and are skipped.
    """
    now = now or datetime.now(timezone.utc)
    # A best offer already on the board (proposed earlier, or matched by hand) is not
    # proposed again.
    best = db.fetch_all(conn, """
        WITH best AS (
            SELECT DISTINCT ON (r.id) r.id AS request_id, b.listing_id, c.owner_id
            FROM app.requests r
            JOIN app.bids b ON b.request_id = r.id AND b.status = 'active' AND b.listing_id IS NOT NULL
            JOIN app.listings l ON l.id = b.listing_id AND l.status = 'live'
            LEFT JOIN ops.lead_claims c ON c.request_id = r.id
            WHERE r.mode = 'bidding' AND r.status = 'open' AND r.bid_deadline <= :now
              AND NOT EXISTS (SELECT 1 FROM ops.matches m WHERE m.request_id = r.id AND m.source = 'bid')
            ORDER BY r.id, b.price, b.id)
        SELECT * FROM best
        WHERE NOT EXISTS (SELECT 1 FROM ops.matches m
                          WHERE m.request_id = best.request_id AND m.listing_id = best.listing_id)
        ORDER BY request_id""", now=now)
    for row in best:
        match_id = leads.create_card(conn, request_id=row["request_id"], listing_id=row["listing_id"],
                                     source="bid", owner_id=row["owner_id"], created_by=None, now=now)
        write_audit(conn=conn, actor_id=None, action="match.propose_best_offer", entity_type="match",
                    entity_id=match_id, after={"request_id": row["request_id"],
                                               "listing_id": row["listing_id"]})
    return len(best)


# ------------------------------------------------------------------ reads

@dataclass(frozen=True)
class Board:
    cards: pd.DataFrame        # one row per card
    columns: pd.DataFrame      # stage, count, total (money)
    scope: str


def _scope_owner(actor: Actor, scope: str, owner_id: int | None) -> int | None:
    """The owner to filter on: me, or (managers only) a chosen person / everyone."""
    if scope == "mine":
        return actor.id
    if scope != "team":
        raise InvalidInput("matching.error.unknown_scope")
    if not actor.has("manager"):
        raise PermissionDenied("error.role_required", roles="manager")
    return owner_id


_CARD_COLUMNS = """
SELECT m.id, m.stage, m.version, m.source, m.score, m.deal_value, m.owner_id,
       st.display_name AS owner, m.next_action_at, m.stage_entered_at, m.created_at,
       m.request_id, m.listing_id, m.lost_reason,
       br.name || ' ' || se.name AS series, t.name AS trim_name, l.price, l.exterior_color,
       least(r.quantity, l.quantity) AS quantity,
       buyer.name AS buyer, seller.name AS seller, bc.name AS buyer_city, sc.name AS seller_city,
       extract(epoch FROM (now() - m.stage_entered_at)) / 86400 AS days_in_stage,
       coalesce(o.escrow_state, 'none') AS escrow_state,
       m.next_action_at < now() AS overdue
"""

# Everything a card shows, joined to its match m.
_CARD_JOINS = """
JOIN app.requests r ON r.id = m.request_id
JOIN app.listings l ON l.id = m.listing_id
JOIN app.trims t ON t.id = l.trim_id
JOIN app.series se ON se.id = t.series_id
JOIN app.brands br ON br.id = se.brand_id
JOIN app.merchants buyer ON buyer.id = r.merchant_id
JOIN app.merchants seller ON seller.id = l.merchant_id
JOIN app.cities bc ON bc.id = r.city_id
JOIN app.cities sc ON sc.id = l.city_id
LEFT JOIN ops.staff st ON st.id = m.owner_id
LEFT JOIN LATERAL (SELECT escrow_state FROM app.orders
                   WHERE match_id = m.id ORDER BY created_at DESC LIMIT 1) o ON true
"""

# Which cards are on a board: owned, and open or closed within CLOSED_VISIBLE_DAYS.
_ON_BOARD = """m.owner_id IS NOT NULL
  AND (CAST(:owner AS bigint) IS NULL OR m.owner_id = CAST(:owner AS bigint))
  AND (m.stage IN ('suggested','contacted','negotiating','deposit_paid')
       OR m.stage_entered_at >= now() - make_interval(days => :closed_days))"""

_CARDS_SQL = f"""{_CARD_COLUMNS}FROM ops.matches m
{_CARD_JOINS}WHERE {_ON_BOARD}
"""

# A column shows at most this many cards, oldest in the stage first (the ones rotting or about
# to); its count and money total cover all of its cards. A busy BD holds thousands of cards
# at the large scale: fetching and drawing them all made the board slow and unreadable.
CARDS_PER_COLUMN = 50

# _ON_BOARD for the cards of one stage s.stage, written as index ranges on (owner, stage,
# stage_entered_at) / (stage, stage_entered_at): closed stages from the visibility cut-off on.
_IN_COLUMN = """m.owner_id IS NOT NULL
  AND (CAST(:owner AS bigint) IS NULL OR m.owner_id = CAST(:owner AS bigint))
  AND m.stage = s.stage
  AND m.stage_entered_at >= CASE WHEN s.stage IN ('won', 'lost')
                                 THEN now() - make_interval(days => :closed_days)
                                 ELSE CAST('-infinity' AS timestamptz) END"""

# Per stage, the ids of the cards shown: an index scan per stage that stops at the limit.
_BOARD_PICK_SQL = f"""
WITH picked AS (
    SELECT p.id
    FROM unnest(CAST(:stages AS text[])) AS s(stage)
    CROSS JOIN LATERAL (
        SELECT m.id FROM ops.matches m
        WHERE {_IN_COLUMN}
        ORDER BY m.stage_entered_at, m.id
        LIMIT :per_column) p
)
"""

_COLUMN_TOTALS_SQL = f"""
SELECT s.stage, c.count, c.total
FROM unnest(CAST(:stages AS text[])) AS s(stage)
CROSS JOIN LATERAL (
    SELECT count(*) AS count, coalesce(sum(m.deal_value), 0) AS total
    FROM ops.matches m
    WHERE {_IN_COLUMN}) c
"""


def _rotting(cards: pd.DataFrame, rot_days: Mapping[str, int]) -> pd.Series:
    limits = cards["stage"].map(lambda s: rot_days.get(s))
    return limits.notna() & (cards["days_in_stage"].astype(float) > limits.astype(float))


@requires("bd", "manager")
def board(*, conn: Connection, actor: Actor, scope: str = "mine",
          owner_id: int | None = None) -> Board:
    """Cards with rot and escrow flags, and each column's count and money total."""
    owner = _scope_owner(actor, scope, owner_id)
    cards = db.fetch_df(conn, f"""{_BOARD_PICK_SQL}{_CARD_COLUMNS}
                        FROM picked p JOIN ops.matches m ON m.id = p.id
                        {_CARD_JOINS} ORDER BY m.stage_entered_at, m.id""",
                        owner=owner, closed_days=CLOSED_VISIBLE_DAYS, stages=list(STAGES),
                        per_column=CARDS_PER_COLUMN)
    if cards.empty:
        cards["rotting"] = pd.Series(dtype=bool)
    else:
        cards["rotting"] = _rotting(cards, match_policy.current().rot_days)
    totals = {r["stage"]: r for r in db.fetch_all(conn, _COLUMN_TOTALS_SQL, owner=owner,
                                                   closed_days=CLOSED_VISIBLE_DAYS,
                                                   stages=list(STAGES))}
    columns = pd.DataFrame({
        "stage": list(STAGES),
        "count": [int(totals[s]["count"]) if s in totals else 0 for s in STAGES],
        "total": [float(totals[s]["total"]) if s in totals else 0.0 for s in STAGES],
    })
    return Board(cards=cards, columns=columns, scope=scope)


UNATTENDED_SHOWN = 100   # the most overdue cards the board lists; the count covers them all


@dataclass(frozen=True)
class Unattended:
    total: int               # every open card whose next action date has passed
    rows: pd.DataFrame       # the most overdue of them, most overdue first


@requires("bd", "manager")
def unattended(*, conn: Connection, actor: Actor, scope: str = "mine",
               owner_id: int | None = None, limit: int = UNATTENDED_SHOWN) -> Unattended:
    """Open cards whose next action date has passed, most overdue first: the first ``limit``
    of them and how many there are (a team's backlog runs to thousands at scale)."""
    owner = _scope_owner(actor, scope, owner_id)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise InvalidInput("error.bad_limit")
    rows = db.fetch_df(conn, f"""
        SELECT c.*, count(*) OVER () AS total_rows
        FROM ({_CARDS_SQL} AND m.stage NOT IN ('won','lost') AND m.next_action_at < now()) c
        ORDER BY c.next_action_at, c.id
        LIMIT :lim""", owner=owner, closed_days=CLOSED_VISIBLE_DAYS, lim=limit)
    total = int(rows["total_rows"].iloc[0]) if len(rows) else 0
    return Unattended(total=total, rows=rows.drop(columns="total_rows"))


@requires("bd", "manager")
def timeline(*, conn: Connection, actor: Actor, match_id: int) -> pd.DataFrame:
    """A card's stage moves and notes, oldest first."""
    return db.fetch_df(conn, """
        SELECT h.at, 'stage' AS kind, s.display_name AS staff, h.from_stage, h.to_stage,
               h.is_override, h.reason AS text
        FROM ops.match_stage_history h LEFT JOIN ops.staff s ON s.id = h.staff_id
        WHERE h.match_id = :m
        UNION ALL
        SELECT n.created_at, 'note', s.display_name, NULL, NULL, false, n.body
        FROM ops.notes n JOIN ops.staff s ON s.id = n.staff_id
        WHERE n.entity_type = 'match' AND n.entity_id = :m
        ORDER BY 1""", m=match_id)


@requires("bd", "manager")
def leaderboard(*, conn: Connection, actor: Actor, days: int = 90) -> pd.DataFrame:
    """Per BD: matches won, GMV brokered (won deal value), median hours from lead to deposit."""
    return db.fetch_df(conn, """
        WITH created AS (
            SELECT match_id, min(at) AS at FROM ops.match_stage_history
            WHERE from_stage IS NULL GROUP BY match_id
        ), deposit AS (
            SELECT match_id, min(at) AS at FROM ops.match_stage_history
            WHERE to_stage = 'deposit_paid' GROUP BY match_id
        ), per_card AS (
            -- Cards made before the board kept history: the match's creation and the
            -- order's deposit time stand in.
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
        ORDER BY won DESC, gmv DESC, s.id""", days=days)


@requires("bd", "manager")
def bd_staff(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Active BD people, for managers' assign and filter pickers."""
    return db.fetch_df(conn, """SELECT id, display_name FROM ops.staff
                                WHERE is_active AND 'bd' = ANY(roles) ORDER BY display_name""")
