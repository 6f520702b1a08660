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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db, match_policy
from console.audit import write_audit
from console.boundary import Number, Text, like_contains
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.imports.status import docs_missing_sql
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
    # The decision's words are part of its audit row: the override's reason, else the note.
    write_audit(conn=conn, actor_id=actor.id, action="match.move", entity_type="match",
                entity_id=match_id, before={"stage": from_stage}, after=after,
                reason=reason or note)
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
                entity_id=match_id, after={"note_id": note_id, "body": body}, reason=body)
    return note_id


NextActionNote = Annotated[str, Text(max=500, key="board.error.next_note_long")]


@requires("bd", "manager")
def set_next_action(*, conn: Connection, actor: Actor, match_id: int,
                    next_action_at: datetime | None, version: int | None = None,
                    next_action_note: NextActionNote | None = None) -> int:
    """When and what the next step on a card is (a date without words is allowed, words
    without a date are not: the task list orders by the date)."""
    card = _lock_card(conn, match_id)
    _check_may_work(actor, card, version)
    if card["stage"] in ("won", "lost"):
        raise InvalidInput("matching.error.card_closed")
    what = (next_action_note or "").strip() or None
    if what is not None and next_action_at is None:
        raise InvalidInput("board.error.next_needs_date")
    if next_action_at is not None and next_action_at.tzinfo is None:
        next_action_at = next_action_at.replace(tzinfo=clock.business_tz())
    new_version = db.scalar(conn, """UPDATE ops.matches SET next_action_at = :at, updated_at = now(),
                                            next_action_note = :what, version = version + 1
                                     WHERE id = :id RETURNING version""",
                            at=next_action_at, what=what, id=match_id)
    leads.touch_lead(conn, card["request_id"])
    write_audit(conn=conn, actor_id=actor.id, action="match.next_action", entity_type="match",
                entity_id=match_id, before={"next_action_at": card["next_action_at"]},
                after={"next_action_at": next_action_at, "next_action_note": what}, reason=what)
    return new_version


CHANNELS = ("call", "wechat")
DIRECTIONS = ("outbound", "inbound")
PARTIES = ("buyer", "seller")
ContactSummary = Annotated[str, Text(max=2_000, multiline=True, key="board.error.contact_long")]


@requires("bd", "manager")
def log_contact(*, conn: Connection, actor: Actor, match_id: int, body: ContactSummary,
                channel: str = "call", direction: str = "outbound", party: str = "buyer",
                at: datetime | None = None) -> int:
    """Record a call or a WeChat exchange with the card's buyer or seller; returns its id.

    ``at`` is when it happened (default now); a time in the future is refused."""
    if channel not in CHANNELS:
        raise InvalidInput("board.error.unknown_channel")
    if direction not in DIRECTIONS:
        raise InvalidInput("board.error.unknown_direction")
    if party not in PARTIES:
        raise InvalidInput("board.error.unknown_party")
    summary = (body or "").strip()
    if not summary:
        raise InvalidInput("board.error.contact_empty")
    now = clock.now()
    at = at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=clock.business_tz())
    if at > now + timedelta(minutes=5):
        raise InvalidInput("board.error.contact_future")
    card = _lock_card(conn, match_id)
    _check_may_work(actor, card, None)
    contact_id = db.scalar(conn, """
        INSERT INTO ops.deal_contacts (match_id, channel, direction, party, summary, at, staff_id)
        VALUES (:m, :c, :d, :p, :s, :at, :staff) RETURNING id""",
        m=match_id, c=channel, d=direction, p=party, s=summary, at=at, staff=actor.id)
    leads.touch_lead(conn, card["request_id"])
    write_audit(conn=conn, actor_id=actor.id, action="match.contact", entity_type="match",
                entity_id=match_id, after={"contact_id": contact_id, "channel": channel,
                                           "direction": direction, "party": party, "at": at},
                reason=summary)
    return contact_id


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
    cards: pd.DataFrame        # one row per card shown; pinned ones first in their column
    columns: pd.DataFrame      # stage, count, total (money, yuan), shown (unpinned cards shown)
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
       st.display_name AS owner, m.next_action_at, m.next_action_note, m.stage_entered_at,
       m.created_at, m.request_id, m.listing_id, m.lost_reason, m.lost_note,
       app.vehicle_name(br.name, se.name) AS series, br.id AS brand_id, t.name AS trim_name, l.price,
       l.is_self_operated,   -- the platform's own car: marked 自营 on the card (issue 21)
       -- a parallel import: its market version and "documents missing" on the card (issue 21)
       l.is_parallel_import, li.market_version AS import_market,
       """ + docs_missing_sql("l") + """ AS import_docs_missing,
       l.exterior_color, least(r.quantity, l.quantity) AS quantity,
       buyer.id AS buyer_id, buyer.name AS buyer, seller.id AS seller_id, seller.name AS seller,
       bc.name AS buyer_city, sc.name AS seller_city,
       extract(epoch FROM (now() - m.stage_entered_at)) / 86400 AS days_in_stage,
       coalesce(o.escrow_state, 'none') AS escrow_state,
       m.stage IN ('suggested','contacted','negotiating','deposit_paid')
           AND m.next_action_at < now() AS overdue
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
LEFT JOIN app.listing_imports li ON li.listing_id = l.id AND l.is_parallel_import
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

# A column shows this many cards at first and this many more per "more" (a busy BD holds
# thousands of cards at the large scale: drawing them all made the board slow and
# unreadable); its count and money total cover all of its cards that pass the filters.
CARDS_PER_COLUMN = 10
MAX_PAGES = 50                 # at most 50 pages (1,000 cards) of one column on screen
PINNED_MAX = 20                # cards just moved or created, kept at the top of their column

# How a column is ordered (the page's sort choice); fixed SQL, never the caller's text.
SORTS: Mapping[str, str] = {
    "stage_age": "m.stage_entered_at, m.id",            # longest in the stage first
    "newest": "m.stage_entered_at DESC, m.id DESC",     # just arrived first
    "value": "m.deal_value DESC, m.id",                 # biggest deals first
    "next_action": "m.next_action_at NULLS LAST, m.id", # soonest next action first
}

Yuan = Annotated[float, Number(min=0, max=1e12, key="board.error.bad_value")]


@dataclass(frozen=True)
class BoardFilters:
    """What the board shows: all empty = every card of the scope."""

    query: Annotated[str, Text(max=100, key="input.query")] = ""  # card no., merchant, series
    brand_id: int | None = None
    value_min: Yuan | None = None       # deal value, yuan (the page asks in 万元)
    value_max: Yuan | None = None
    rotting: bool = False               # longer in their stage than the configured rot days
    overdue: bool = False               # open, next action date passed
    sort: str = "stage_age"


_CARD_NUMBER = re.compile(r"#?\s*([1-9][0-9]{0,17})")

# The cards of this board the search text finds (its number, a merchant, a series), once
# for all columns; never read when there is no search text.
_HITS = f"""hits AS MATERIALIZED (
    SELECT m.id FROM ops.matches m
    JOIN app.requests r ON r.id = m.request_id
    JOIN app.merchants buyer ON buyer.id = r.merchant_id
    JOIN app.listings l ON l.id = m.listing_id
    JOIN app.merchants seller ON seller.id = l.merchant_id
    JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series se ON se.id = t.series_id
    JOIN app.brands br ON br.id = se.brand_id
    WHERE CAST(:q AS text) IS NOT NULL AND {_ON_BOARD}
      AND (m.id = CAST(:qid AS bigint)
           OR buyer.name ILIKE CAST(:q AS text) ESCAPE '\\'
           OR seller.name ILIKE CAST(:q AS text) ESCAPE '\\'
           OR app.vehicle_name(br.name, se.name) ILIKE CAST(:q AS text) ESCAPE '\\'))"""

# The filters, over the match m; each is constant-folded away when unset (the driver binds
# the values into the text, so `NULL IS NULL OR ...` costs nothing).
_FILTERS = """
  AND (CAST(:q AS text) IS NULL OR m.id IN (SELECT id FROM hits))
  AND (CAST(:brand AS bigint) IS NULL
       OR EXISTS (SELECT 1 FROM app.listings bl JOIN app.trims bt ON bt.id = bl.trim_id
                  JOIN app.series bs ON bs.id = bt.series_id
                  WHERE bl.id = m.listing_id AND bs.brand_id = CAST(:brand AS bigint)))
  AND (CAST(:vmin AS numeric) IS NULL OR m.deal_value >= CAST(:vmin AS numeric))
  AND (CAST(:vmax AS numeric) IS NULL OR m.deal_value <= CAST(:vmax AS numeric))
  AND (NOT :overdue OR (m.next_action_at < now()
                        AND m.stage IN ('suggested','contacted','negotiating','deposit_paid')))
  AND (NOT :rotting OR m.stage_entered_at < now() - make_interval(
           days => CAST(CAST(:rot AS jsonb) ->> m.stage AS integer)))"""

# _ON_BOARD for the cards of one stage s.stage, written as index ranges on (owner, stage,
# stage_entered_at) / (stage, stage_entered_at): closed stages from the visibility cut-off on.
_IN_COLUMN = """m.owner_id IS NOT NULL
  AND (CAST(:owner AS bigint) IS NULL OR m.owner_id = CAST(:owner AS bigint))
  AND m.stage = s.stage
  AND m.stage_entered_at >= CASE WHEN s.stage IN ('won', 'lost')
                                 THEN now() - make_interval(days => :closed_days)
                                 ELSE CAST('-infinity' AS timestamptz) END"""


def _pick_sql(order: str) -> str:
    """Per stage, the ids of the cards shown (an index scan per stage that stops at the
    column's limit), then the pinned cards wherever they are now (still on this board)."""
    return f"""
WITH {_HITS},
picked AS (
    SELECT p.id, false AS pinned, p.ord
    FROM unnest(CAST(:stages AS text[]), CAST(:limits AS integer[])) AS s(stage, lim)
    CROSS JOIN LATERAL (
        SELECT m.id, row_number() OVER (ORDER BY {order}) AS ord FROM ops.matches m
        WHERE {_IN_COLUMN}{_FILTERS}
          AND m.id <> ALL (CAST(:pinned AS bigint[]))
        ORDER BY {order}
        LIMIT s.lim) p
    UNION ALL
    SELECT m.id, true, array_position(CAST(:pinned AS bigint[]), m.id)
    FROM ops.matches m
    WHERE m.id = ANY (CAST(:pinned AS bigint[])) AND {_ON_BOARD}
)
"""


_COLUMN_TOTALS_SQL = f"""
WITH {_HITS}
SELECT s.stage, c.count, c.total
FROM unnest(CAST(:stages AS text[])) AS s(stage)
CROSS JOIN LATERAL (
    SELECT count(*) AS count, coalesce(sum(m.deal_value), 0) AS total
    FROM ops.matches m
    WHERE {_IN_COLUMN}{_FILTERS}) c
"""


def _plan_as_written(conn: Connection) -> None:
    """A card joins ten tables by primary key in the order written: left to search the join
    orders, the planner spent 40-90 ms on a query that runs in 1 ms. For this transaction
    only (the page's read connection, or the caller's)."""
    db.execute(conn, """SELECT set_config('join_collapse_limit', '1', true),
                               set_config('from_collapse_limit', '1', true)""")


def _rotting(cards: pd.DataFrame, rot_days: Mapping[str, int]) -> pd.Series:
    limits = cards["stage"].map(lambda s: rot_days.get(s))
    return limits.notna() & (cards["days_in_stage"].astype(float) > limits.astype(float))


def _filter_params(filters: BoardFilters, rot_days: Mapping[str, int]) -> dict[str, Any]:
    if filters.sort not in SORTS:
        raise InvalidInput("board.error.unknown_sort")
    if (filters.value_min is not None and filters.value_max is not None
            and filters.value_min > filters.value_max):
        raise InvalidInput("board.error.value_range")
    text = filters.query.strip()
    number = _CARD_NUMBER.fullmatch(text)
    return {"q": like_contains(text) if text else None,
            "qid": int(number.group(1)) if number else None,
            "brand": filters.brand_id, "vmin": filters.value_min, "vmax": filters.value_max,
            "overdue": filters.overdue, "rotting": filters.rotting,
            "rot": json.dumps({k: int(v) for k, v in rot_days.items()})}


@requires("bd", "manager")
def board(*, conn: Connection, actor: Actor, scope: str = "mine", owner_id: int | None = None,
          filters: BoardFilters = BoardFilters(), stages: tuple[str, ...] = STAGES,
          pages: tuple[int, ...] = (), pinned: tuple[int, ...] = ()) -> Board:
    """The cards of the columns of ``stages`` (all by default; the page draws each column
    on its own) and every column's totals: the cards of each that pass ``filters``, in its sort order, ``pages[i]`` pages of
    CARDS_PER_COLUMN for the i-th stage of STAGES (1 when not given); and the ``pinned``
    cards (just moved or created by this person, most recent first) wherever they are now,
    whatever the filters, marked ``pinned`` and left out of the columns' pages. Each
    column's count and money total cover all of its cards that pass the filters."""
    owner = _scope_owner(actor, scope, owner_id)
    if not stages or any(s not in STAGES for s in stages):
        raise InvalidInput("matching.error.unknown_stage")
    if len(pages) > len(STAGES) or any(not 1 <= p <= MAX_PAGES for p in pages):
        raise InvalidInput("board.error.bad_pages", max=MAX_PAGES)
    wanted = [s for s in STAGES if s in stages]
    limits = [CARDS_PER_COLUMN * (pages[STAGES.index(s)] if STAGES.index(s) < len(pages) else 1)
              for s in wanted]
    pinned_ids = list(dict.fromkeys(pinned))[:PINNED_MAX]
    rot_days = match_policy.current().rot_days
    params = dict(_filter_params(filters, rot_days), owner=owner, closed_days=CLOSED_VISIBLE_DAYS)
    _plan_as_written(conn)
    cards = db.fetch_df(conn, f"""{_pick_sql(SORTS[filters.sort])}{_CARD_COLUMNS}, p.pinned
                        FROM picked p JOIN ops.matches m ON m.id = p.id
                        {_CARD_JOINS} ORDER BY p.pinned DESC, p.ord""",
                        **params, stages=wanted, limits=limits, pinned=pinned_ids)
    if cards.empty:
        cards["rotting"] = pd.Series(dtype=bool)
        cards["pinned"] = pd.Series(dtype=bool)
    else:
        cards["rotting"] = _rotting(cards, rot_days)
    totals = {r["stage"]: r for r in db.fetch_all(conn, _COLUMN_TOTALS_SQL, **params,
                                                   stages=list(STAGES))}
    shown = cards[~cards["pinned"].astype(bool)]["stage"].value_counts() if len(cards) else {}
    columns = pd.DataFrame({   # every column's totals, whichever columns' cards were asked for
        "stage": list(STAGES),
        "count": [int(totals[s]["count"]) if s in totals else 0 for s in STAGES],
        "total": [float(totals[s]["total"]) if s in totals else 0.0 for s in STAGES],
        "shown": [int(shown.get(s, 0)) for s in STAGES],
    })
    return Board(cards=cards, columns=columns, scope=scope)


@requires("bd", "manager")
def board_brands(*, conn: Connection, actor: Actor, scope: str = "mine",
                 owner_id: int | None = None) -> pd.DataFrame:
    """The brands of the cards on this board (the brand filter's choices), by name: each
    brand is one probe of the cards' kept brands (ops.card_brands, migration 077) under the
    board's rule (_ON_BOARD), instead of every card's listing, trim and series."""
    owner = _scope_owner(actor, scope, owner_id)
    return db.fetch_df(conn, f"""
        SELECT br.id, br.name FROM app.brands br
        WHERE EXISTS (SELECT 1 FROM ops.card_brands m WHERE m.brand_id = br.id AND {_ON_BOARD})
        ORDER BY br.name, br.id""", owner=owner, closed_days=CLOSED_VISIBLE_DAYS)


@dataclass(frozen=True)
class CardDetail:
    card: Mapping[str, Any]    # the card's row (as on the board) and whether I may work it
    deposit: Mapping[str, Any] | None   # its latest order: status, escrow, deposit, amounts
    timeline: pd.DataFrame     # stage moves, notes and contacts, newest first
    contacts: pd.DataFrame     # calls and WeChat messages, newest first
    may_work: bool


@requires("bd", "manager")
def card_detail(*, conn: Connection, actor: Actor, match_id: int) -> CardDetail:
    """Everything the card's dialog shows. A BD sees any card (a colleague's link opens it)
    but works only their own; managers work every card."""
    _plan_as_written(conn)
    row = db.fetch_one(conn, f"""{_CARD_COLUMNS} FROM ops.matches m {_CARD_JOINS}
                                 WHERE m.id = :id""", id=match_id)
    if row is None:
        raise NotFound("board.error.no_card", id=match_id)
    card = dict(row)
    limit = match_policy.current().rot_days.get(card["stage"])
    card["rotting"] = limit is not None and float(card["days_in_stage"]) > limit
    deposit = db.fetch_one(conn, """
        SELECT id AS order_id, status, escrow_state, amount, deposit_amount, deposit_paid_at,
               completed_at, cancelled_at,
               EXISTS (SELECT 1 FROM app.disputes d WHERE d.order_id = o.id) AS disputed
        FROM app.orders o WHERE match_id = :m ORDER BY created_at DESC, id DESC LIMIT 1""",
        m=match_id)
    contacts = db.fetch_df(conn, """
        SELECT c.id, c.at, c.channel, c.direction, c.party, c.summary, s.display_name AS staff
        FROM ops.deal_contacts c JOIN ops.staff s ON s.id = c.staff_id
        WHERE c.match_id = :m ORDER BY c.at DESC, c.id DESC""", m=match_id)
    history = _timeline(conn, match_id)
    return CardDetail(card=card, deposit=dict(deposit) if deposit else None,
                      timeline=history.iloc[::-1].reset_index(drop=True), contacts=contacts,
                      may_work=card["owner_id"] == actor.id or actor.has("manager"))


# My open cards whose next action is due before :end, most overdue first: the ids from the
# (owner, next action) index, a page of them when :limit is set, then each card's columns.
_DUE_IDS = """SELECT m.id FROM ops.matches m
    WHERE m.owner_id = :me AND m.stage IN ('suggested','contacted','negotiating','deposit_paid')
      AND m.next_action_at < :end"""


def _end_of_today() -> datetime:
    return datetime.combine(clock.today() + timedelta(days=1), datetime.min.time(),
                            tzinfo=clock.business_tz())


def _due_cards(conn: Connection, me: int, *, offset: int = 0,
               limit: int | None = None) -> pd.DataFrame:
    _plan_as_written(conn)
    return db.fetch_df(conn, f"""WITH due AS MATERIALIZED (
            {_DUE_IDS} ORDER BY m.next_action_at, m.id LIMIT :limit OFFSET :offset)
        {_CARD_COLUMNS} FROM due d JOIN ops.matches m ON m.id = d.id {_CARD_JOINS}
        ORDER BY m.next_action_at, m.id""", me=me, end=_end_of_today(), limit=limit,
        offset=offset)


@requires("bd", "manager")
def tasks(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """My open cards whose next action is due today (Shanghai) or overdue, most overdue first."""
    return _due_cards(conn, actor.id)


TASKS_PER_PAGE = 30


@dataclass(frozen=True)
class DueTasks:
    total: int               # all my open cards due today or overdue
    rows: pd.DataFrame       # one page of them, most overdue first (as ``tasks``)


@requires("bd", "manager")
def due_tasks(*, conn: Connection, actor: Actor, offset: int = 0,
              limit: int = TASKS_PER_PAGE) -> DueTasks:
    """One page of ``tasks`` and how many there are: the task list's page. A busy BD has
    thousands of overdue cards at the large scale, and joining every one of them to its
    listing, merchants and order for a page of 30 took 0.4-0.8 s."""
    total = int(db.scalar(conn, f"SELECT count(*) FROM ({_DUE_IDS}) d", me=actor.id,
                          end=_end_of_today()))
    return DueTasks(total=total, rows=_due_cards(conn, actor.id, offset=offset, limit=limit))


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


def _timeline(conn: Connection, match_id: int) -> pd.DataFrame:
    return db.fetch_df(conn, """
        SELECT h.at, 'stage' AS kind, s.display_name AS staff, h.from_stage, h.to_stage,
               h.is_override, h.reason AS text, NULL AS channel, NULL AS direction,
               NULL AS party
        FROM ops.match_stage_history h LEFT JOIN ops.staff s ON s.id = h.staff_id
        WHERE h.match_id = :m
        UNION ALL
        SELECT n.created_at, 'note', s.display_name, NULL, NULL, false, n.body, NULL, NULL, NULL
        FROM ops.notes n JOIN ops.staff s ON s.id = n.staff_id
        WHERE n.entity_type = 'match' AND n.entity_id = :m
        UNION ALL
        SELECT c.at, 'contact', s.display_name, NULL, NULL, false, c.summary, c.channel,
               c.direction, c.party
        FROM ops.deal_contacts c JOIN ops.staff s ON s.id = c.staff_id
        WHERE c.match_id = :m
        ORDER BY 1""", m=match_id)


@requires("bd", "manager")
def timeline(*, conn: Connection, actor: Actor, match_id: int) -> pd.DataFrame:
    """A card's stage moves, notes and contacts, oldest first."""
    return _timeline(conn, match_id)


@requires("bd", "manager", replica=True)
def leaderboard(*, conn: Connection, actor: Actor, days: int = 90) -> pd.DataFrame:
    """Per BD: matches won, GMV brokered (won deal value), median hours from lead to deposit
    (sql/queries/bd_leaderboard.sql: the deposit times kept per card, migration 077)."""
    return db.fetch_df(conn, db.named_query("bd_leaderboard"), days=days)


@requires("bd", "manager")
def bd_staff(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Active BD people, for managers' assign and filter pickers."""
    return db.fetch_df(conn, """SELECT id, display_name FROM ops.staff
                                WHERE is_active AND 'bd' = ANY(roles) ORDER BY display_name""")
