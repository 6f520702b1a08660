"""Automatic match suggestions: candidates, an explainable score, the top K per request.

Everything heavy is one set-based SQL statement in PostgreSQL: candidate generation, the
score components, the ranking and the write of the top K. Python only chooses which
requests/listings a run covers.

Recompute paths (all give the same table for the same data and the same ``as_of``):
- full: every open normal request (``rematch_full``, the CLI ``rematch --full``);
- one request: its candidates again (``rematch_requests``);
- one listing (or a set): requests that held it are recomputed; requests where it is newly
  a candidate get its row merged in, then re-ranked and trimmed to K (``rematch_listings``);
- changed since the last run: listings/requests/merchants updated since the watermark
  (``rematch_changed``), the scheduler's job.

CLI: ``python -m console.services.matching rematch --full | --changed | --listing N | --request N``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, fmt, match_policy
from console.clock import business_tz
from console.grades import GRADE_POINTS
from console.roles import Actor, requires
from etl.horizon import change_horizon

# Credit grades come from the ratings area: ops.merchant_credit, a thin view on the current-grade
# table (one row per merchant, migration 066), looked up by merchant id. Where it is absent, a
# seller is unrated, or has too little history (and no override), the credit component is neutral.
GRADE_RELATION = "ops.merchant_credit"
GRADE_EXPR = "CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL ELSE g.effective_grade END"
NEUTRAL = 0.5   # the credit component of an unrated seller (GRADE_POINTS: console/grades.py)

# The previous policy's score (before issue 16): weighted 0..1 components on a 0..100 scale.
# Bidding offers are still scored this way (they rank by price first), and the offline
# evaluation (console/services/match_eval.py) replays it as the baseline.
WEIGHTS: Mapping[str, float] = {
    "price_vs_guide": 25, "price_vs_max": 20, "distance": 20,
    "credit": 10, "freshness": 15, "response": 10,
}
FULL_DISCOUNT_POINTS = 20.0   # 下20点 is as good as it gets
FULL_HEADROOM = 0.10          # 10% under the buyer's maximum
MAX_USEFUL_KM = 2000.0        # beyond this, logistics cost is flat-out high
STALE_DAYS = 30.0             # a month-old listing has no freshness left

# The current score (match_policy.ScorePolicy): points, 1 point = 1% of the buyer's maximum.
# Stored components are these points; they add up to the score exactly (each is rounded to
# a thousandth of a point first, and the score is their sum).
COMPONENTS = ("cost", "norm", "credit", "response", "freshness", "vip", "aged")

# VIP membership (console/finance/vip.py): a member's listings get the tier's match points x
# the policy's ``vip_weight`` (0: off, the component stays 0). A term counts while it is in
# force (status active, its last day not passed: the nightly sweep may not have run yet).
VIP_RELATION = "fin.vip_memberships"

# Self-operated stock (issue 21): the platform's own car behind a listing, while not sold. Its
# days in stock (库龄) count from its purchase date to the run's Shanghai day, as the stock
# desk counts them (console/inventory/holding.py days_in_stock); the aged-stock boost
# (match_policy.AgedStockBoost, off by default) is computed from them.
STOCK_JOIN = ("LEFT JOIN inv.stock_cars sc ON sc.listing_id = l.id AND l.is_self_operated"
              " AND sc.status <> 'sold'")
_STOCK_DAYS = ("(CASE WHEN sc.id IS NOT NULL"   # greatest() skips a NULL: no car, no days
               " THEN greatest(CAST(:today AS date) - sc.purchase_date, 0) END)")

# Open flags keep a listing out until staff decide them (migration 081's partial index).
OPEN_FLAG = ("EXISTS (SELECT 1 FROM ops.listing_flags f WHERE f.listing_id = l.id"
             " AND f.status IN ('pending','in_review'))")
# Orders that hold a listing's cars: not yet completed nor cancelled.
HOLDING_ORDER_STATUSES = ("created", "deposit_paid")


# ------------------------------------------------------------------ the scoring SQL

def grades_available(conn: Connection) -> bool:
    return db.scalar(conn, "SELECT to_regclass(:rel) IS NOT NULL", rel=GRADE_RELATION)


def _grade_join(conn: Connection, seller_col: str) -> tuple[str, str]:
    """(JOIN clause, grade expression): the rating relation when it exists, else neutral.

    The relation name is a module constant, never user input.
    """
    if grades_available(conn):
        return (f"LEFT JOIN {GRADE_RELATION} g ON g.merchant_id = {seller_col}", GRADE_EXPR)
    return ("", "CAST(NULL AS text)")


def _credit_points(grade: str) -> str:
    """The previous policy's credit component (0..1) of the grade expression, in SQL."""
    cases = " ".join(f"WHEN '{g}' THEN {p}" for g, p in GRADE_POINTS.items())
    return f"CASE {grade} {cases} ELSE {NEUTRAL} END"


def _vip_milli(tier: str, weight: float) -> str:
    """VIP points x 1000 (an integer) of the tier expression ``tier`` (NULL: not a member);
    the tiers' points come from console/finance/vip_tiers.toml, never from a caller."""
    from console.finance.vip import match_points_milli
    cases = " ".join(f"WHEN '{code}' THEN {int(milli)}"
                     for code, milli in match_points_milli(weight).items())
    return f"CASE {tier} {cases} ELSE 0 END"


def _credit_milli(grade: str, points: float) -> str:
    """Credit points x 1000 (an integer) of the grade expression ``grade``."""
    cases = " ".join(f"WHEN '{g}' THEN {round(p * points * 1000)}" for g, p in GRADE_POINTS.items())
    return f"CASE {grade} {cases} ELSE {round(NEUTRAL * points * 1000)} END"


# Why the scoring SQL has this shape (a full run covers ~40k open requests x 250k live listings,
# ~3M candidate pairs, at the large scale):
# - candidates: per request an index-only scan of live listings by (trim_id, price <= max) on
#   the covering index of migration 025, the other rules filtered in the index tuples;
# - everything that does not depend on the pair is computed once, not once per pair: per seller
#   (active status, response history, credit grade) in ``seller``; per listing (open flags,
#   quantity held by open orders, the price counted after the usual-discount cap, freshness,
#   the penalty and the seller's points) in ``offer``. The inner join on ``offer`` is what
#   drops suspended sellers, flagged and committed stock;
# - per pair only the distance (float) and the cost arithmetic are left: every component is
#   an integer in thousandths of a point, and the score is their sum, so ranking on
#   score_milli here and on the stored score in _RERANK_SQL agree (ties: listing id);
# - only the k winners per request get their explainable components and jsonb built.

# Aliases: l = listing, q = request (lat/lon: its city), lc = listing's city.
_KM = "ops.great_circle_km(q.lat, q.lon, lc.latitude, lc.longitude)"
_CONFIRMED_DAYS = ("greatest(date_part('epoch', CAST(:as_of AS timestamptz)"
                   " - coalesce(l.stock_confirmed_at, l.published_at)) / 86400, 0)")
# Per car: freight = q.rate (yuan per great-circle km, road factor and lot size included) x km.
_FREIGHT = "q.rate * {km}"
_COST_MILLI = "round(100000.0 * (q.max_f - o.counted_price - q.rate * {km}) / q.max_f)::bigint"


_SCORING_SQL = """
WITH req AS MATERIALIZED (   -- open normal requests of active buyers, not past their day
    SELECT r.id, r.merchant_id, r.accepted_colors, r.quantity, r.max_price, r.needed_by,
           CAST(r.max_price AS double precision) AS max_f,
           CASE WHEN r.quantity >= {full_load_cars} THEN {full_rate} ELSE {rate} END AS rate,
           c.latitude AS lat, c.longitude AS lon,
           CASE WHEN r.trim_id IS NOT NULL THEN ARRAY[r.trim_id]
                ELSE ARRAY(SELECT t.id FROM app.trims t WHERE t.series_id = r.series_id) END AS trim_ids
    FROM app.requests r
    JOIN app.cities c ON c.id = r.city_id
    JOIN app.merchants bm ON bm.id = r.merchant_id AND bm.status = 'active'
    WHERE r.status = 'open' AND r.mode = 'normal' AND r.needed_by >= CAST(:today AS date){request_scope}
),
history AS (   -- seller response: matches that left 'suggested' without the seller going silent
    SELECT l.merchant_id AS seller_id,
           count(*) FILTER (WHERE m.stage <> 'suggested'
                            AND coalesce(m.lost_reason, '') <> 'seller_unresponsive') AS responded,
           count(*) FILTER (WHERE m.stage <> 'suggested') AS decided
    FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id{history_scope}
    GROUP BY l.merchant_id
),
seller AS MATERIALIZED (   -- active sellers, once each
    SELECT x.id, x.grade, x.response_rate, {credit_milli} AS credit_m,
           round({response_points} * 1000 * x.response_rate)::bigint AS response_m,
           x.vip_tier, {vip_milli} AS vip_m
    FROM (SELECT sm.id, {grade} AS grade,
                 (coalesce(h.responded, 0) + 1.0) / (coalesce(h.decided, 0) + 2.0) AS response_rate,
                 v.tier AS vip_tier
          FROM app.merchants sm
          LEFT JOIN history h ON h.seller_id = sm.id
          {grade_join}
          LEFT JOIN fin.vip_memberships v ON v.merchant_id = sm.id AND v.status = 'active'
                                          AND v.expires_on >= CAST(:today AS date)
          WHERE sm.status = 'active'{seller_scope}) x
),
held AS (   -- cars of a listing that orders not yet completed or cancelled hold
    SELECT o.listing_id, sum(o.quantity) AS held
    FROM app.orders o WHERE o.status IN ('created','deposit_paid'){held_scope}
    GROUP BY o.listing_id
),
offer AS MATERIALIZED (   -- live, unflagged listings of active sellers: listing-level points
    SELECT y.id, y.available, y.counted_price, y.over_norm, y.confirmed_days,
           y.credit_m, y.response_m, y.fresh_m, y.norm_m, y.vip_m, y.stock_days, y.aged_m,
           y.credit_m + y.response_m + y.fresh_m + y.norm_m + y.vip_m + y.aged_m AS points_m
    FROM (SELECT l.id, l.quantity - coalesce(h.held, 0) AS available,
                 -- a discount more than the gap beyond the series' usual one is suspect: the
                 -- price counts as if at the usual discount (and each point beyond the line
                 -- costs a point below), so such a car never outranks an ordinary one for it
                 CASE WHEN CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision)
                           > n.usual_points + {gap}
                      THEN CAST(l.guide_price AS double precision) * (1 - n.usual_points / 100)
                      ELSE CAST(l.price AS double precision) END AS counted_price,
                 greatest(CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision)
                          - (n.usual_points + {gap}), 0) AS over_norm,
                 {confirmed_days} AS confirmed_days,
                 s.credit_m, s.response_m, s.vip_m,
                 round({fresh_points} * 1000 * power(0.5, {confirmed_days} / {half_life}))::bigint AS fresh_m,
                 -round({penalty} * 1000 * coalesce(greatest(
                     CAST((l.guide_price - l.price) / l.guide_price * 100 AS double precision)
                     - (n.usual_points + {gap}), 0), 0))::bigint AS norm_m,
                 {stock_days} AS stock_days, {aged_milli} AS aged_m
          FROM app.listings l
          JOIN seller s ON s.id = l.merchant_id
          JOIN app.trims t ON t.id = l.trim_id
          -- a parallel import's discount off the domestic guide price means nothing: it is
          -- judged by its own price reference (console/imports/prices.py), through the
          -- authenticity scan's flag, never by the domestic usual discount (no norm: 0)
          LEFT JOIN ops.series_norms n ON n.series_id = t.series_id AND NOT l.is_parallel_import
          LEFT JOIN held h ON h.listing_id = l.id
          {stock_join}
          WHERE l.status = 'live' AND NOT {open_flag}{offer_scope}) y
    WHERE y.available > 0
),
pairs AS (   -- every candidate pair and its score
    SELECT q.id AS request_id, l.id AS listing_id,
           o.points_m + {cost_milli} AS score_milli
    FROM req q
    JOIN app.listings l
      ON l.status = 'live' AND l.trim_id = ANY(q.trim_ids) AND l.price <= q.max_price
     AND l.quantity >= q.quantity
     AND l.available_from <= q.needed_by
     AND (cardinality(q.accepted_colors) = 0 OR l.exterior_color = ANY(q.accepted_colors))
     AND l.merchant_id <> q.merchant_id{listing_scope}
    JOIN offer o ON o.id = l.id AND o.available >= q.quantity
    JOIN app.cities lc ON lc.id = l.city_id
),
top AS MATERIALIZED (   -- the best k per request (the window stops at k per request)
    SELECT request_id, listing_id, score_milli
    FROM (SELECT p.*, row_number() OVER (PARTITION BY request_id
                                         ORDER BY score_milli DESC, listing_id) AS rn
          FROM pairs p) ranked
    WHERE rn <= :k
),
scored AS (   -- the winners' explainable components: the same expressions as their score
    SELECT t.request_id, t.listing_id, t.score_milli,
           jsonb_build_object(
               'cost', round(({cost_milli}) / 1000.0, 3), 'norm', round(o.norm_m / 1000.0, 3),
               'credit', round(o.credit_m / 1000.0, 3), 'response', round(o.response_m / 1000.0, 3),
               'freshness', round(o.fresh_m / 1000.0, 3), 'vip', round(o.vip_m / 1000.0, 3),
               'vip_tier', s.vip_tier, 'aged', round(o.aged_m / 1000.0, 3),
               'self_operated', l.is_self_operated, 'stock_days', o.stock_days,
               'price', l.price, 'max_price', q.max_price, 'quantity', q.quantity,
               'freight', round(CAST({freight} AS numeric)),
               'delivered', round(CAST(o.counted_price + {freight} AS numeric)),
               'saving', round(CAST(q.max_f - l.price - {freight} AS numeric)),
               'km', round(CAST({km} AS numeric), 1),
               'road_km', round(CAST({road_factor} * {km} AS numeric)),
               'available', o.available, 'grade', s.grade,
               'confirmed_days', round(CAST(o.confirmed_days AS numeric), 1),
               'response_rate', round(s.response_rate, 3),
               'discount_points', round((l.guide_price - l.price) / l.guide_price * 100, 2),
               'over_norm', round(CAST(o.over_norm AS numeric), 1)) AS components
    FROM top t
    JOIN req q ON q.id = t.request_id
    JOIN app.listings l ON l.id = t.listing_id
    JOIN offer o ON o.id = t.listing_id
    JOIN app.cities lc ON lc.id = l.city_id
    JOIN seller s ON s.id = l.merchant_id
)
"""

_REQUEST_SCOPE = "\n      AND r.id = ANY(CAST(:request_ids AS bigint[]))"
_LISTING_SCOPE = "\n     AND l.id = ANY(CAST(:listing_ids AS bigint[]))"
# A scoped run needs only the listings and sellers that could appear: live listings of the
# trims its requests accept.
_SCOPED_LISTINGS = """
      AND l.trim_id IN (SELECT unnest(q.trim_ids) FROM req q){listing_scope}"""
_SCOPED_SELLERS = """(SELECT l.merchant_id FROM app.listings l
                    WHERE l.status = 'live'{scoped_listings})"""
_SCOPED_HELD = """
      AND o.listing_id IN (SELECT l.id FROM app.listings l WHERE l.status = 'live'{scoped_listings})"""


def _sql_number(value: float) -> str:
    """A policy constant as SQL text (floats as exact decimal literals)."""
    return repr(float(value))


def _aged_milli(boost: match_policy.AgedStockBoost) -> str:
    """The aged-stock points x 1000 (an integer) of a listing (alias l, its stock car sc):
    ``AgedStockBoost``'s rule in SQL; 0 without a stock car, and for every listing when off."""
    if not boost.on:
        return "CAST(0 AS bigint)"
    return (f"coalesce(round({_sql_number(boost.points)} * 1000 * least(greatest("
            f"{_STOCK_DAYS} - {int(boost.after_days)}, 0) / {_sql_number(boost.full_days)},"
            f" 1))::bigint, 0)")


def stored_score_policy(conn: Connection) -> match_policy.ScorePolicy:
    """The configured score policy with the aged-stock boost managers set (ops.match_policy)."""
    from dataclasses import replace
    from console.services.aged_stock_boost import stored_boost
    return replace(match_policy.current().score, aged_stock=stored_boost(conn))


def scored_sql(conn: Connection, *, requests: bool = False, listings: bool = False,
               policy: match_policy.ScorePolicy | None = None) -> str:
    """The CTE chain ending in ``scored`` (request_id, listing_id, score_milli, components).

    ``requests``/``listings``: restrict to ``:request_ids`` / ``:listing_ids`` (a separate SQL
    text per scope, so each plan can use its index). Constants of the policy are formatted in;
    values stay bound (:as_of, :today, :k and the id arrays).
    """
    p = policy or stored_score_policy(conn)
    grade_join, grade = _grade_join(conn, "sm.id")
    listing_scope = _LISTING_SCOPE if listings else ""
    scoped = requests or listings
    scoped_listings = _SCOPED_LISTINGS.format(listing_scope=listing_scope.replace("\n", " "))
    sellers = _SCOPED_SELLERS.format(scoped_listings=scoped_listings)
    freight = _FREIGHT.format(km=_KM)
    return _SCORING_SQL.format(
        request_scope=_REQUEST_SCOPE if requests else "",
        seller_scope=f"\n            AND sm.id IN {sellers}" if scoped else "",
        history_scope=f"\n    WHERE l.merchant_id IN {sellers}" if scoped else "",
        held_scope=_SCOPED_HELD.format(scoped_listings=scoped_listings) if scoped else "",
        offer_scope=scoped_listings if scoped else "",
        listing_scope=listing_scope, grade_join=grade_join, grade=grade,
        credit_milli=_credit_milli("x.grade", p.credit_points),
        vip_milli=_vip_milli("x.vip_tier", p.vip_weight),
        response_points=_sql_number(p.response_points),
        full_load_cars=int(p.freight_full_load_cars),
        full_rate=_sql_number(p.freight_rate(p.freight_full_load_cars)),
        rate=_sql_number(p.freight_rate(1)), road_factor=_sql_number(p.road_factor),
        gap=_sql_number(p.norm_gap_points), penalty=_sql_number(p.norm_penalty_per_point),
        fresh_points=_sql_number(p.freshness_points),
        half_life=_sql_number(p.freshness_half_life_days), confirmed_days=_CONFIRMED_DAYS,
        stock_join=STOCK_JOIN, stock_days=_STOCK_DAYS, aged_milli=_aged_milli(p.aged_stock),
        open_flag=OPEN_FLAG, km=_KM, freight=freight, cost_milli=_COST_MILLI.format(km=_KM))


def _insert_top_k_sql(conn: Connection, *, requests: bool) -> str:
    return scored_sql(conn, requests=requests) + """
INSERT INTO ops.match_suggestions (request_id, listing_id, rank, score, components, computed_at)
SELECT request_id, listing_id,
       row_number() OVER (PARTITION BY request_id ORDER BY score_milli DESC, listing_id),
       score_milli / 1000.0, components, CAST(:as_of AS timestamptz)
FROM scored
"""


def _merge_sql(conn: Connection) -> str:
    """Insert the scored rows of some listings into existing top-K lists (re-ranked after).

    A row goes in only where fewer than k stored rows outrank it (the others could not make
    the list), so a listing that fits many requests but wins few writes few rows. Returns the
    requests it entered: only those need re-ranking.
    """
    return scored_sql(conn, requests=True, listings=True) + """
INSERT INTO ops.match_suggestions (request_id, listing_id, rank, score, components, computed_at)
SELECT sc.request_id, sc.listing_id, 32767, sc.score_milli / 1000.0, sc.components,
       CAST(:as_of AS timestamptz)
FROM scored sc
WHERE (SELECT count(*) FROM ops.match_suggestions s
       WHERE s.request_id = sc.request_id
         AND (s.score > sc.score_milli / 1000.0
              OR (s.score = sc.score_milli / 1000.0 AND s.listing_id < sc.listing_id))) < :k
ON CONFLICT (request_id, listing_id) DO UPDATE
   SET score = EXCLUDED.score, components = EXCLUDED.components, computed_at = EXCLUDED.computed_at
RETURNING request_id
"""


_RERANK_SQL = """
WITH ranked AS (
    SELECT request_id, listing_id,
           row_number() OVER (PARTITION BY request_id ORDER BY score DESC, listing_id) AS rn
    FROM ops.match_suggestions WHERE request_id = ANY(CAST(:ids AS bigint[]))
), dropped AS (
    DELETE FROM ops.match_suggestions s USING ranked r
    WHERE s.request_id = r.request_id AND s.listing_id = r.listing_id AND r.rn > :k
)
UPDATE ops.match_suggestions s SET rank = r.rn
FROM ranked r
WHERE s.request_id = r.request_id AND s.listing_id = r.listing_id AND r.rn <= :k AND s.rank <> r.rn
"""


def _now(as_of: datetime | None) -> datetime:
    return as_of or datetime.now(timezone.utc)


def _clock(as_of: datetime | None) -> dict[str, object]:
    """The bound clock of a scoring statement: the moment and its Shanghai business day (a
    request whose needed-by day is before it gets no suggestions)."""
    now = _now(as_of)
    return {"as_of": now, "today": now.astimezone(business_tz()).date()}


# ------------------------------------------------------------------ recompute entry points

@dataclass(frozen=True)
class RematchResult:
    requests: int
    suggestions: int


def lift_ui_timeout(conn: Connection) -> None:
    """Batch recomputes run on the console's engine, whose sessions carry the UI's
    statement_timeout (console/db.py): a page must not hang, but a full rematch over every
    open request is a batch job that must finish. SET LOCAL ends with the transaction, so
    the pooled connection goes back to the pool with the UI timeout again.

    The same goes for work_mem: a full run hashes and sorts the ~3M candidate pairs of the
    large scale; with the 4MB default both spill to disk in batches several times over."""
    db.execute(conn, "SET LOCAL statement_timeout = 0")
    db.execute(conn, "SET LOCAL work_mem = '256MB'")


def rematch_full(*, conn: Connection, top_k: int = 5, as_of: datetime | None = None) -> RematchResult:
    """Recompute the top K for every open normal request, in one statement."""
    lift_ui_timeout(conn)
    # Lock out concurrent incremental runs while the table is rebuilt.
    db.execute(conn, "LOCK TABLE ops.match_suggestions IN SHARE ROW EXCLUSIVE MODE")
    db.execute(conn, "DELETE FROM ops.match_suggestions")
    inserted = db.execute(conn, _insert_top_k_sql(conn, requests=False), k=top_k, **_clock(as_of))
    requests = db.scalar(conn, "SELECT count(DISTINCT request_id) FROM ops.match_suggestions")
    return RematchResult(int(requests or 0), inserted)


def rematch_requests(*, conn: Connection, request_ids: Sequence[int], top_k: int = 5,
                     as_of: datetime | None = None) -> RematchResult:
    """Recompute these requests from scratch (a request created, changed, closed)."""
    ids = sorted({int(i) for i in request_ids})
    if not ids:
        return RematchResult(0, 0)
    db.execute(conn, "DELETE FROM ops.match_suggestions WHERE request_id = ANY(CAST(:ids AS bigint[]))",
               ids=ids)
    inserted = db.execute(conn, _insert_top_k_sql(conn, requests=True), request_ids=ids,
                          k=top_k, **_clock(as_of))
    return RematchResult(len(ids), inserted)


_HOLDERS_SQL = """SELECT DISTINCT request_id FROM ops.match_suggestions
                  WHERE listing_id = ANY(CAST(:ids AS bigint[]))"""

# Open normal requests for which any of these listings passes the candidate rules (a
# superset: flags, held stock and the day are the scoring's to judge). Two branches (same
# trim / any trim of the series) so each probes its partial index on open requests instead
# of an OR that no index serves.
_CANDIDATE_REQUESTS_SQL = """
WITH l AS (
    SELECT l.*, t.series_id FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
    WHERE l.id = ANY(CAST(:ids AS bigint[])) AND l.status = 'live'
), r AS (
    SELECT r.*, l.id AS listing_id FROM l
    JOIN app.requests r ON r.status = 'open' AND r.trim_id = l.trim_id
    UNION ALL
    SELECT r.*, l.id FROM l
    JOIN app.requests r ON r.status = 'open' AND r.trim_id IS NULL AND r.series_id = l.series_id
)
SELECT DISTINCT r.id
FROM r JOIN app.listings l ON l.id = r.listing_id
WHERE r.mode = 'normal'
  AND l.price <= r.max_price AND l.quantity >= r.quantity AND l.available_from <= r.needed_by
  AND (cardinality(r.accepted_colors) = 0 OR l.exterior_color = ANY(r.accepted_colors))
  AND l.merchant_id <> r.merchant_id
"""


def rematch_listings(*, conn: Connection, listing_ids: Sequence[int], top_k: int = 5,
                     as_of: datetime | None = None) -> RematchResult:
    """Incremental update after listings were created or changed.

    Requests that already held one of them are recomputed (it may have dropped out, and a
    replacement must move up). Elsewhere only these listings changed, so merging their rows
    into the stored lists and trimming to K gives what a full recompute would.
    """
    ids = sorted({int(i) for i in listing_ids})
    if not ids:
        return RematchResult(0, 0)
    holders = [r["request_id"] for r in db.fetch_all(conn, _HOLDERS_SQL, ids=ids)]
    rebuilt = rematch_requests(conn=conn, request_ids=holders, top_k=top_k, as_of=as_of)
    held = set(holders)
    others = [r["id"] for r in db.fetch_all(conn, _CANDIDATE_REQUESTS_SQL, ids=ids)
              if r["id"] not in held]
    merged = 0
    if others:
        entered = [r["request_id"] for r in db.fetch_all(
            conn, _merge_sql(conn), request_ids=others, listing_ids=ids, k=top_k, **_clock(as_of))]
        merged = len(entered)
        if entered:
            db.execute(conn, _RERANK_SQL, ids=sorted(set(entered)), k=top_k)
    return RematchResult(len(held) + len(others), rebuilt.suggestions + merged)


def refresh_series_norms(conn: Connection) -> int:
    """Recompute every series' usual discount (ops.series_norms, the table the authenticity
    scan flags against; the scan calls the same function); the series whose value moved are
    queued for a rematch."""
    return int(db.scalar(conn, "SELECT ops.refresh_series_norms(:n)",
                         n=match_policy.current().score.norm_min_sample) or 0)


def drop_past_due(*, conn: Connection, as_of: datetime | None = None) -> int:
    """A request whose needed-by day has passed keeps no suggestions (it was scored while
    still in time; nothing wrote it since)."""
    return db.execute(conn, """
        DELETE FROM ops.match_suggestions s USING app.requests r
        WHERE r.id = s.request_id AND r.needed_by < CAST(:today AS date)""",
                      today=_clock(as_of)["today"])


@dataclass(frozen=True)
class RefreshCauses:
    """What the queue (migration 081's triggers) and the open orders say must be rematched."""
    listing_ids: list[int]
    request_ids: list[int]


_QUEUED_SQL = """
WITH taken AS (DELETE FROM ops.match_refresh_queue RETURNING cause, merchant_id, listing_id, series_id)
SELECT l.id AS listing_id, NULL::bigint AS request_id
FROM taken q JOIN app.listings l ON l.merchant_id = q.merchant_id AND l.status = 'live'
WHERE q.cause IN ('grade', 'vip')
UNION
SELECT s.listing_id, NULL FROM taken q JOIN app.listings l ON l.merchant_id = q.merchant_id
JOIN ops.match_suggestions s ON s.listing_id = l.id
WHERE q.cause IN ('grade', 'vip')
UNION
SELECT q.listing_id, NULL FROM taken q WHERE q.cause = 'flag'
UNION
SELECT NULL, r.id FROM taken q JOIN app.requests r ON r.series_id = q.series_id AND r.status = 'open'
WHERE q.cause = 'norm'
"""


def take_refresh_causes(conn: Connection, *, since: datetime | None) -> RefreshCauses:
    """Drain the refresh queue (a grade, a flag, a usual discount changed) and add the
    listings whose held quantity orders changed since ``since``."""
    listings: set[int] = set()
    requests: set[int] = set()
    for row in db.fetch_all(conn, _QUEUED_SQL):
        if row["listing_id"] is not None:
            listings.add(int(row["listing_id"]))
        if row["request_id"] is not None:
            requests.add(int(row["request_id"]))
    if since is not None:
        listings.update(int(r["listing_id"]) for r in db.fetch_all(
            conn, "SELECT DISTINCT listing_id FROM app.orders WHERE updated_at >= :since",
            since=since))
    return RefreshCauses(sorted(listings), sorted(requests))


def stock_changed_listings(conn: Connection, *, since: datetime) -> set[int]:
    """Self-operated listings whose stock car changed (bought on another day, reserved, sold):
    their days in stock, so their aged-stock points, may have moved."""
    return {int(r["id"]) for r in db.fetch_all(conn, """
        SELECT listing_id AS id FROM inv.stock_cars
        WHERE updated_at >= :since AND listing_id IS NOT NULL""", since=since)}


def aged_policy_changed(conn: Connection, *, since: datetime) -> bool:
    """Whether managers changed the aged-stock boost since ``since``. The row's updated_at is
    stamped by the database like a listing's (migration 064), so the watermark sees a change
    whose transaction was still open at the last run."""
    return bool(db.scalar(conn, "SELECT updated_at >= :since FROM ops.match_policy WHERE id = 1",
                          since=since))


# A change this broad is cheaper as one full recompute (a scoring run regrades most sellers).
FULL_REMATCH_SHARE = 0.25

WATERMARK_JOB = "matching.rematch_changed"


def rematch_changed(*, conn: Connection, top_k: int = 5, as_of: datetime | None = None) -> RematchResult:
    """The scheduler's incremental run: everything changed since the last watermark, and
    every cause queued since the last run (grades, flags, usual discounts).

    The next watermark is the change horizon read before the changed rows are (the run's
    clock held back to the oldest write transaction still open, etl/horizon.py): a listing
    whose transaction began before this run and commits after it is read by the next one.
    The queue needs no watermark: a queued row is taken when its transaction has committed.
    """
    lift_ui_timeout(conn)
    now = _now(as_of)
    since = db.scalar(conn, "SELECT watermark FROM etl.watermarks WHERE job = :j FOR UPDATE",
                      j=WATERMARK_JOB)
    horizon = change_horizon(conn, clock=as_of)
    # The usual discounts are the authenticity scan's to refresh (it runs just before this
    # in the jobs; ~7 s over 1M listings): a series whose value moved is in the queue.
    causes = take_refresh_causes(conn, since=since)
    if since is None:
        result = rematch_full(conn=conn, top_k=top_k, as_of=now)
    else:
        listing_ids = {r["id"] for r in db.fetch_all(conn, """
            SELECT l.id FROM app.listings l WHERE l.updated_at >= :since
            UNION
            SELECT l.id FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
            WHERE m.updated_at >= :since""", since=since)} | set(causes.listing_ids)
        listing_ids |= stock_changed_listings(conn, since=since)
        request_ids = {r["id"] for r in db.fetch_all(conn, """
            SELECT r.id FROM app.requests r WHERE r.updated_at >= :since
            UNION
            SELECT r.id FROM app.requests r JOIN app.merchants m ON m.id = r.merchant_id
            WHERE m.updated_at >= :since""", since=since)} | set(causes.request_ids)
        live = db.scalar(conn, "SELECT count(*) FROM app.listings WHERE status = 'live'") or 0
        # A change of the aged-stock boost moves every self-operated listing against all the
        # others: at the large scale (3,600 of them) merging them one candidate set at a time
        # ran for minutes, where the full recompute takes about 30 s.
        if (live and len(listing_ids) > FULL_REMATCH_SHARE * live) \
                or aged_policy_changed(conn, since=since):
            result = rematch_full(conn=conn, top_k=top_k, as_of=now)
        else:
            drop_past_due(conn=conn, as_of=now)
            a = rematch_requests(conn=conn, request_ids=sorted(request_ids), top_k=top_k, as_of=now)
            b = rematch_listings(conn=conn, listing_ids=sorted(listing_ids), top_k=top_k, as_of=now)
            result = RematchResult(a.requests + b.requests, a.suggestions + b.suggestions)
    if horizon is not None:  # None: an open writer's start is hidden; keep the watermark
        db.execute(conn, """INSERT INTO etl.watermarks (job, watermark) VALUES (:j, :w)
                            ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark,
                                                            updated_at = now()""",
                   j=WATERMARK_JOB, w=horizon)
    return result


# ------------------------------------------------------------------ reads for pages

@requires("bd", "manager")
def suggestions_for_request(*, conn: Connection, actor: Actor, request_id: int) -> pd.DataFrame:
    """The stored top K of one request with every score component, best first."""
    df = db.fetch_df(conn, """
        SELECT s.rank, s.listing_id, s.score, s.components, l.price, l.guide_price,
               l.exterior_color, l.quantity, l.available_from, t.name AS trim_name,
               se.name AS series_name, c.name AS city, m.name AS seller, s.computed_at
        FROM ops.match_suggestions s
        JOIN app.listings l ON l.id = s.listing_id
        JOIN app.trims t ON t.id = l.trim_id
        JOIN app.series se ON se.id = t.series_id
        JOIN app.cities c ON c.id = l.city_id
        JOIN app.merchants m ON m.id = l.merchant_id
        WHERE s.request_id = :rid ORDER BY s.rank""", rid=request_id)
    return explode_components(df)


def explode_components(df: pd.DataFrame) -> pd.DataFrame:
    """One column per score component (its points; they add up to the score), the facts
    behind them, and the stored components as ``why`` (for ``reason_text``)."""
    facts = ("saving", "freight", "km", "grade", "confirmed_days", "available", "response_rate",
             "discount_points", "self_operated", "stock_days")
    if df.empty:
        for name in COMPONENTS:
            df[f"pts_{name}"] = pd.Series(dtype=float)
        for raw in facts:
            df[raw] = pd.Series(dtype=object)
        df["why"] = pd.Series(dtype=object)
        return df.drop(columns=["components"], errors="ignore")
    comps = pd.json_normalize(df["components"].tolist())
    for name in COMPONENTS:   # a suggestion stored before a component existed: 0 points
        df[f"pts_{name}"] = (comps[name].astype(float).fillna(0.0).to_numpy() if name in comps
                             else 0.0)
    for raw in facts:   # a suggestion stored before a fact existed: none
        df[raw] = comps[raw].to_numpy() if raw in comps else None
    df["why"] = df["components"]
    return df.drop(columns=["components"])


def _hundreds(amount: float) -> int:
    """Money in a sentence: to the nearest hundred yuan (freight is an estimate)."""
    return int(round(float(amount) / 100.0) * 100)


def reason_text(components: Mapping, *, lang: str) -> str:
    """A suggestion's reasons in words, e.g. 比最高价低 ¥8,200（含运费约 ¥1,400）· 卖家 AA ·
    3 天前确认有车. Money per car, against the buyer's maximum, freight included."""
    from console.i18n import translate
    saving, freight = _hundreds(components["saving"]), _hundreds(components["freight"])
    key = "matching.reason.below_max" if saving >= 0 else "matching.reason.above_max"
    parts = [translate(key + ("_local" if freight == 0 else ""), lang, amount=fmt.yuan(abs(saving)),
                       freight=fmt.yuan(freight))]
    grade = components.get("grade")
    parts.append(translate("matching.reason.grade", lang, grade=grade) if grade
                 else translate("matching.reason.unrated", lang))
    days = int(float(components.get("confirmed_days") or 0))
    parts.append(translate("matching.reason.confirmed_today", lang) if days == 0
                 else translate("matching.reason.confirmed_one_day", lang) if days == 1
                 else translate("matching.reason.confirmed_days", lang, n=days))
    if components.get("vip_tier") and float(components.get("vip") or 0) > 0:
        parts.append(translate("matching.reason.vip", lang, tier=translate(
            f"finance.vip.tier.{components['vip_tier']}", lang)))
    parts += self_operated_reasons(components, lang=lang)
    if float(components.get("over_norm") or 0) > 0:
        parts.append(translate("matching.reason.over_norm", lang,
                               points=fmt.number(components["over_norm"], digits=1)))
    # A full-width bracket carries its own space: "）· 卖家", not "） · 卖家".
    return translate("matching.reason.sep", lang).join(parts).replace("） · ", "）· ")


def self_operated_reasons(components: Mapping, *, lang: str) -> list[str]:
    """"自营" for the platform's own car, and its aged-stock points when the boost gave some,
    e.g. 自营 · 库龄 75 天 +1.5 分."""
    from console.i18n import translate
    if not components.get("self_operated"):
        return []
    parts = [translate("selfop.reason.self_operated", lang)]
    aged = float(components.get("aged") or 0)
    if aged > 0:
        days = int(components.get("stock_days") or 0)
        parts.append(translate("selfop.reason.aged_one_day" if days == 1 else "selfop.reason.aged",
                               lang, days=days, points=fmt.number(aged, digits=1)))
    return parts


@requires("bd", "manager")
def bid_offers(*, conn: Connection, actor: Actor, request_id: int) -> pd.DataFrame:
    """A bidding request's active offers: cheapest first, then by score; deadline included."""
    grade_join, grade = _grade_join(conn, "b.seller_id")
    sql = f"""
        WITH history AS (
            SELECT l.merchant_id AS seller_id,
                   count(*) FILTER (WHERE m.stage <> 'suggested'
                                    AND coalesce(m.lost_reason,'') <> 'seller_unresponsive') AS responded,
                   count(*) FILTER (WHERE m.stage <> 'suggested') AS decided
            FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id
            WHERE l.merchant_id IN (SELECT seller_id FROM app.bids WHERE request_id = :rid)
            GROUP BY 1
        ), b AS (
            SELECT b.id AS bid_id, b.seller_id, b.listing_id, b.price, b.quantity, b.created_at,
                   r.max_price, r.bid_deadline,
                   ops.great_circle_km(rc.latitude, rc.longitude, sc.latitude, sc.longitude) AS km,
                   (coalesce(h.responded,0) + 1.0) / (coalesce(h.decided,0) + 2.0) AS response_rate,
                   m.name AS seller
            FROM app.bids b
            JOIN app.requests r ON r.id = b.request_id
            JOIN app.cities rc ON rc.id = r.city_id
            JOIN app.merchants m ON m.id = b.seller_id
            JOIN app.cities sc ON sc.id = coalesce(
                 (SELECT city_id FROM app.listings WHERE id = b.listing_id), m.city_id)
            LEFT JOIN history h ON h.seller_id = b.seller_id
            WHERE b.request_id = :rid AND b.status = 'active'
        ), s AS (
            SELECT b.*, {grade} AS grade,
                   round(({WEIGHTS['price_vs_max']} * least(greatest((b.max_price - b.price) / b.max_price / {FULL_HEADROOM}, 0), 1)
                    + {WEIGHTS['distance']} * (1 - least(b.km / {MAX_USEFUL_KM}, 1))
                    + {WEIGHTS['credit']} * ({_credit_points(grade)})
                    + {WEIGHTS['response']} * b.response_rate)::numeric, 3) AS score
            FROM b {grade_join}
        )
        SELECT row_number() OVER (ORDER BY price, score DESC, bid_id) AS rank, bid_id, seller,
               listing_id, price, quantity, round(km::numeric, 1) AS km, grade, score,
               created_at, bid_deadline, bid_deadline < now() AS closed
        FROM s ORDER BY price, score DESC, bid_id"""
    return db.fetch_df(conn, sql, rid=request_id)


def _main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.services.matching")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rm = sub.add_parser("rematch", help="recompute match suggestions")
    what = rm.add_mutually_exclusive_group(required=True)
    what.add_argument("--full", action="store_true", help="every open request")
    what.add_argument("--changed", action="store_true", help="what changed since the last run")
    what.add_argument("--listing", type=int, action="append", help="after this listing changed")
    what.add_argument("--request", type=int, action="append", help="after this request changed")
    sub.add_parser("propose-bids", help="propose the best offer of bidding requests past deadline")
    args = parser.parse_args(list(argv) if argv is not None else None)
    k = match_policy.current().top_k
    from console.jobs import job_lock   # the scheduled "matching" step's lock: one at a time
    with job_lock(db.get_engine(role="jobs"), "matching") as got:
        if not got:
            print("matching: another run holds the matching job's lock; skipped", file=sys.stderr)
            return 2
        if args.cmd == "rematch" and (args.full or args.changed):
            # The step's rematch, on its own: the run log health reads (console/job_runs.py)
            from console import job_runs
            with job_runs.recorded("matching"):
                return _run_command(args, k)
        return _run_command(args, k)


def _run_command(args: argparse.Namespace, k: int) -> int:
    with db.transaction(role="jobs") as conn:  # a scheduled job's work: the jobs' role
        lift_ui_timeout(conn)   # a command-line batch, not a page
        if args.cmd == "propose-bids":
            from console.services.deals import propose_best_offers
            print(f"proposed: {propose_best_offers(conn=conn)}")
            return 0
        if args.full:
            result = rematch_full(conn=conn, top_k=k)
        elif args.changed:
            result = rematch_changed(conn=conn, top_k=k)
        elif args.listing:
            result = rematch_listings(conn=conn, listing_ids=args.listing, top_k=k)
        else:
            result = rematch_requests(conn=conn, request_ids=args.request, top_k=k)
    print(f"requests: {result.requests}, suggestions written: {result.suggestions}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
