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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, match_policy
from console.grades import GRADE_POINTS
from console.roles import Actor, requires
from etl.horizon import change_horizon

# Credit grades come from the ratings area: ops.merchant_credit, a thin view on the current-grade
# table (one row per merchant, migration 066), looked up by merchant id. Where it is absent, a
# seller is unrated, or has too little history (and no override), the credit component is neutral.
GRADE_RELATION = "ops.merchant_credit"
GRADE_EXPR = "CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL ELSE g.effective_grade END"
NEUTRAL = 0.5   # the credit component of an unrated seller (GRADE_POINTS: console/grades.py)

# Weights of the components in the 0..100 score (sum = 100). Why these: price is what the
# buyer asks about first, distance is logistics cost, the rest is trust and liveliness.
WEIGHTS: Mapping[str, float] = {
    "price_vs_guide": 25, "price_vs_max": 20, "distance": 20,
    "credit": 10, "freshness": 15, "response": 10,
}
COMPONENTS = tuple(WEIGHTS)
# Scales at which a component saturates at 1 (or 0 for distance/age).
FULL_DISCOUNT_POINTS = 20.0   # 下20点 is as good as it gets
FULL_HEADROOM = 0.10          # 10% under the buyer's maximum
MAX_USEFUL_KM = 2000.0        # beyond this, logistics cost is flat-out high
STALE_DAYS = 30.0             # a month-old listing has no freshness left


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
    """The credit component (0..1) of the grade expression ``grade``, in SQL."""
    cases = " ".join(f"WHEN '{g}' THEN {p}" for g, p in GRADE_POINTS.items())
    return f"CASE {grade} {cases} ELSE {NEUTRAL} END"


# Why the scoring SQL has this shape (a full run covers ~40k open requests x 250k live listings,
# ~3M candidate pairs, at the large scale):
# - candidates: per request an index-only scan of live listings by (trim_id, price <= max) on
#   the covering index of migration 025, the other rules filtered in the index tuples;
# - everything that does not depend on the pair is computed once, not once per pair: per seller
#   (active status, response history, credit grade) in ``seller``; per listing (guide-price,
#   freshness and the seller's points) in ``offer``. The inner join on ``offer`` is what
#   drops suspended sellers;
# - per pair only the distance (float) and integer arithmetic are left: components are integers in ten-thousandths
#   (c4 = round(component, 4) x 10000) and score_milli = round(sum(weight x c4) / 10000, 3) x
#   1000 = (sum + 5) / 10. The stored score is score_milli / 1000 exactly, so ranking on
#   score_milli here and on the stored score in _RERANK_SQL agree (ties: listing id);
# - only the k winners per request get their explainable components and jsonb built.

# Aliases: l = listing, q = request (lat/lon: its city), lc = listing's city.
_KM = "ops.great_circle_km(q.lat, q.lon, lc.latitude, lc.longitude)"
_AGE_DAYS = "greatest(date_part('epoch', CAST(:as_of AS timestamptz) - l.published_at) / 86400, 0)"
_PRICE_CENTS = "(l.price * 100)::bigint"
_C4 = {
    "price_vs_guide": "(round(least(greatest((l.guide_price - l.price) / l.guide_price * 100"
                      " / {full_discount}, 0), 1), 4) * 10000)::int",
    # Candidates have price <= max, so the headroom is >= 0: integer half-up rounding of
    # 10000 x (max - price) / max / FULL_HEADROOM, capped at 1.
    "price_vs_max": "least(10000, (2 * {headroom_scale} * (q.max_cents - {price_cents}) + q.max_cents)"
                    " / (2 * q.max_cents))::int",
    "distance": "round((1 - least({km} / {max_km}, 1)) * 10000)::int",
    "credit": "s.c4",
    "freshness": "round((1 - least({age} / {stale_days}, 1)) * 10000)::int",
    "response": "s.r4",
}


def _c4(name: str, price_cents: str = _PRICE_CENTS) -> str:
    return _C4[name].format(full_discount=FULL_DISCOUNT_POINTS, headroom_scale=round(10000 / FULL_HEADROOM),
                            price_cents=price_cents, km=_KM, max_km=MAX_USEFUL_KM, age=_AGE_DAYS,
                            stale_days=STALE_DAYS)


def _points(*names: str) -> str:
    """Sum of weight x c4 over these components (weights are whole points)."""
    return " + ".join(f"{int(WEIGHTS[n])} * {_c4(n)}" for n in names)


def _credit4(grade: str) -> str:
    cases = " ".join(f"WHEN '{g}' THEN {round(p * 10000)}" for g, p in GRADE_POINTS.items())
    return f"CASE {grade} {cases} ELSE {round(NEUTRAL * 10000)} END"


_SCORING_SQL = """
WITH req AS MATERIALIZED (   -- open normal requests of active buyers, with the trims each accepts
    SELECT r.id, r.merchant_id, r.accepted_colors, r.quantity, r.max_price, r.needed_by,
           (r.max_price * 100)::bigint AS max_cents, c.latitude AS lat, c.longitude AS lon,
           CASE WHEN r.trim_id IS NOT NULL THEN ARRAY[r.trim_id]
                ELSE ARRAY(SELECT t.id FROM app.trims t WHERE t.series_id = r.series_id) END AS trim_ids
    FROM app.requests r
    JOIN app.cities c ON c.id = r.city_id
    JOIN app.merchants bm ON bm.id = r.merchant_id AND bm.status = 'active'
    WHERE r.status = 'open' AND r.mode = 'normal'{request_scope}
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
    SELECT x.id, x.grade, x.response_rate, {credit4} AS c4,
           (round(x.response_rate, 4) * 10000)::int AS r4
    FROM (SELECT sm.id, {grade} AS grade,
                 (coalesce(h.responded, 0) + 1.0) / (coalesce(h.decided, 0) + 2.0) AS response_rate
          FROM app.merchants sm
          LEFT JOIN history h ON h.seller_id = sm.id
          {grade_join}
          WHERE sm.status = 'active'{seller_scope}) x
),
offer AS MATERIALIZED (   -- live listings of active sellers, with their listing-level points
    SELECT l.id, {price_cents} AS price_cents, {offer_points} AS points
    FROM app.listings l JOIN seller s ON s.id = l.merchant_id
    WHERE l.status = 'live'{offer_scope}
),
pairs AS (   -- every candidate pair and its score
    SELECT q.id AS request_id, l.id AS listing_id,
           (o.points + {w_max} * {m4} + {w_dist} * {d4} + 5) / 10 AS score_milli
    FROM req q
    JOIN app.listings l
      ON l.status = 'live' AND l.trim_id = ANY(q.trim_ids) AND l.price <= q.max_price
     AND l.quantity >= q.quantity
     AND l.available_from <= q.needed_by
     AND (cardinality(q.accepted_colors) = 0 OR l.exterior_color = ANY(q.accepted_colors))
     AND l.merchant_id <> q.merchant_id{listing_scope}
    JOIN offer o ON o.id = l.id
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
               'price_vs_guide', round({g4} / 10000.0, 4), 'price_vs_max', round({m4_winner} / 10000.0, 4),
               'distance', round({d4} / 10000.0, 4), 'credit', round(s.c4 / 10000.0, 4),
               'freshness', round({f4} / 10000.0, 4), 'response', round(s.r4 / 10000.0, 4),
               'discount_points', round((l.guide_price - l.price) / l.guide_price * 100, 2),
               'headroom_pct', round((q.max_price - l.price) / q.max_price * 100, 2),
               'km', round(CAST({km} AS numeric), 1), 'grade', s.grade,
               'age_days', round(CAST({age} AS numeric), 1),
               'response_rate', round(s.response_rate, 3), 'price', l.price) AS components
    FROM top t
    JOIN req q ON q.id = t.request_id
    JOIN app.listings l ON l.id = t.listing_id
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


def scored_sql(conn: Connection, *, requests: bool = False, listings: bool = False) -> str:
    """The CTE chain ending in ``scored`` (request_id, listing_id, score_milli, components).

    ``requests``/``listings``: restrict to ``:request_ids`` / ``:listing_ids`` (a separate SQL
    text per scope, so each plan can use its index). Constants are formatted in; values stay
    bound (:as_of, :k and the id arrays).
    """
    grade_join, grade = _grade_join(conn, "sm.id")
    listing_scope = _LISTING_SCOPE if listings else ""
    scoped = requests or listings
    scoped_listings = _SCOPED_LISTINGS.format(listing_scope=listing_scope.replace("\n", " "))
    sellers = _SCOPED_SELLERS.format(scoped_listings=scoped_listings)
    return _SCORING_SQL.format(
        request_scope=_REQUEST_SCOPE if requests else "",
        seller_scope=f"\n            AND sm.id IN {sellers}" if scoped else "",
        history_scope=f"\n    WHERE l.merchant_id IN {sellers}" if scoped else "",
        offer_scope=scoped_listings if scoped else "",
        listing_scope=listing_scope, grade_join=grade_join, grade=grade,
        credit4=_credit4("x.grade"), price_cents=_PRICE_CENTS,
        offer_points=_points("price_vs_guide", "credit", "freshness", "response"),
        km=_KM, d4=_c4("distance"), m4=_c4("price_vs_max", "o.price_cents"),
        m4_winner=_c4("price_vs_max"), w_max=int(WEIGHTS["price_vs_max"]),
        w_dist=int(WEIGHTS["distance"]), g4=_c4("price_vs_guide"), f4=_c4("freshness"), age=_AGE_DAYS)


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
    inserted = db.execute(conn, _insert_top_k_sql(conn, requests=False), as_of=_now(as_of), k=top_k)
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
                          as_of=_now(as_of), k=top_k)
    return RematchResult(len(ids), inserted)


_HOLDERS_SQL = """SELECT DISTINCT request_id FROM ops.match_suggestions
                  WHERE listing_id = ANY(CAST(:ids AS bigint[]))"""

# Open normal requests for which any of these listings passes the candidate rules. Two
# branches (same trim / any trim of the series) so each probes its partial index on open
# requests instead of an OR that no index serves.
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
            conn, _merge_sql(conn), request_ids=others, listing_ids=ids, as_of=_now(as_of), k=top_k)]
        merged = len(entered)
        if entered:
            db.execute(conn, _RERANK_SQL, ids=sorted(set(entered)), k=top_k)
    return RematchResult(len(held) + len(others), rebuilt.suggestions + merged)


WATERMARK_JOB = "matching.rematch_changed"


def rematch_changed(*, conn: Connection, top_k: int = 5, as_of: datetime | None = None) -> RematchResult:
    """The scheduler's incremental run: everything changed since the last watermark.

    The next watermark is the change horizon read before the changed rows are (the run's
    clock held back to the oldest write transaction still open, etl/horizon.py): a listing
    whose transaction began before this run and commits after it is read by the next one.
    """
    lift_ui_timeout(conn)
    now = _now(as_of)
    since = db.scalar(conn, "SELECT watermark FROM etl.watermarks WHERE job = :j FOR UPDATE",
                      j=WATERMARK_JOB)
    horizon = change_horizon(conn, clock=as_of)
    if since is None:
        result = rematch_full(conn=conn, top_k=top_k, as_of=now)
    else:
        listing_ids = [r["id"] for r in db.fetch_all(conn, """
            SELECT l.id FROM app.listings l WHERE l.updated_at >= :since
            UNION
            SELECT l.id FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
            WHERE m.updated_at >= :since""", since=since)]
        request_ids = [r["id"] for r in db.fetch_all(conn, """
            SELECT r.id FROM app.requests r WHERE r.updated_at >= :since
            UNION
            SELECT r.id FROM app.requests r JOIN app.merchants m ON m.id = r.merchant_id
            WHERE m.updated_at >= :since""", since=since)]
        a = rematch_requests(conn=conn, request_ids=request_ids, top_k=top_k, as_of=now)
        b = rematch_listings(conn=conn, listing_ids=listing_ids, top_k=top_k, as_of=now)
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
    """One column per score component (points = weight x component), for display."""
    if df.empty:
        for name in COMPONENTS:
            df[f"pts_{name}"] = pd.Series(dtype=float)
        return df.drop(columns=["components"], errors="ignore")
    comps = pd.json_normalize(df["components"].tolist())
    for name in COMPONENTS:
        df[f"pts_{name}"] = (comps[name].astype(float) * WEIGHTS[name]).round(2).to_numpy()
    for raw in ("discount_points", "km", "grade", "age_days", "response_rate"):
        df[raw] = comps[raw].to_numpy()
    return df.drop(columns=["components"])


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
