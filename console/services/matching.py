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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.roles import Actor, requires
from console.settings import DEFAULT_ROT_DAYS, get_settings

# Credit grades come from the ratings area (migration 050, view ops.merchant_credit). Where it
# is absent, a seller is unrated, or has too little history (and no override), the credit
# component is neutral.
GRADE_RELATION = "ops.merchant_credit"
GRADE_EXPR = "CASE WHEN g.insufficient_history AND NOT g.is_override THEN NULL ELSE g.effective_grade END"
GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "C")
GRADE_POINTS = {"AAA": 1.0, "AA": 0.85, "A": 0.7, "BBB": 0.55, "BB": 0.4, "B": 0.25, "C": 0.1}
NEUTRAL = 0.5

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


@dataclass(frozen=True, kw_only=True)
class MatchPolicy:
    """Matchmaking knobs, from the environment; tests pass their own."""

    top_k: int = 5
    lead_cap: int = 20                # open leads per BD person
    lead_idle_hours: int = 48         # untouched this long -> back to the pool
    rot_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ROT_DAYS))
    notify_daily_cap: int = 3         # new-match notifications per merchant per day
    quiet_start_hour: int = 22        # quiet hours in Asia/Shanghai: 22:00 ..
    quiet_end_hour: int = 8           # .. 08:00

    @classmethod
    def from_env(cls) -> MatchPolicy:
        """The policy of the one settings object (read from the environment once)."""
        s = get_settings()
        return cls(top_k=s.match_top_k, lead_cap=s.lead_cap, lead_idle_hours=s.lead_idle_hours,
                   rot_days=s.rot_days, notify_daily_cap=s.notify_daily_cap)


def policy_or_default(policy: MatchPolicy | None) -> MatchPolicy:
    return policy or MatchPolicy.from_env()


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


_CREDIT_CASE = """CASE {grade} WHEN 'AAA' THEN 1.0 WHEN 'AA' THEN 0.85 WHEN 'A' THEN 0.7
                  WHEN 'BBB' THEN 0.55 WHEN 'BB' THEN 0.4 WHEN 'B' THEN 0.25 WHEN 'C' THEN 0.1
                  ELSE 0.5 END"""

# Requests in scope -> candidate pairs (trim-level and series-level branches, so each can use
# its index) -> seller history -> components -> score -> top K. Filters:
#   :request_ids NULL = all open normal requests; :listing_ids NULL = all live listings.
_SCORED_SQL = """
WITH req AS (
    SELECT r.id, r.merchant_id, r.series_id, r.trim_id, r.accepted_colors, r.quantity,
           r.max_price, r.needed_by, c.latitude AS lat, c.longitude AS lon
    FROM app.requests r
    JOIN app.cities c ON c.id = r.city_id
    JOIN app.merchants bm ON bm.id = r.merchant_id AND bm.status = 'active'
    WHERE r.status = 'open' AND r.mode = 'normal'
      AND (CAST(:request_ids AS bigint[]) IS NULL OR r.id = ANY(CAST(:request_ids AS bigint[])))
),
pairs AS (
    SELECT q.id AS request_id, l.id AS listing_id
    FROM req q JOIN app.listings l ON l.trim_id = q.trim_id
    WHERE q.trim_id IS NOT NULL
    UNION ALL
    SELECT q.id, l.id
    FROM req q JOIN app.trims t ON t.series_id = q.series_id
               JOIN app.listings l ON l.trim_id = t.id
    WHERE q.trim_id IS NULL
),
cand AS (
    SELECT q.id AS request_id, l.id AS listing_id, l.merchant_id AS seller_id,
           l.price, l.guide_price, l.published_at, q.max_price,
           ops.great_circle_km(q.lat, q.lon, lc.latitude, lc.longitude) AS km
    FROM pairs p
    JOIN req q ON q.id = p.request_id
    JOIN app.listings l ON l.id = p.listing_id
    JOIN app.cities lc ON lc.id = l.city_id
    JOIN app.merchants sm ON sm.id = l.merchant_id AND sm.status = 'active'
    WHERE l.status = 'live'
      AND (CAST(:listing_ids AS bigint[]) IS NULL OR l.id = ANY(CAST(:listing_ids AS bigint[])))
      AND l.price <= q.max_price
      AND l.quantity >= q.quantity
      AND l.available_from <= q.needed_by
      AND (cardinality(q.accepted_colors) = 0 OR l.exterior_color = ANY(q.accepted_colors))
      AND l.merchant_id <> q.merchant_id
),
history AS (   -- seller response: matches that left 'suggested' without the seller going silent
    SELECT l.merchant_id AS seller_id,
           count(*) FILTER (WHERE m.stage <> 'suggested'
                            AND coalesce(m.lost_reason, '') <> 'seller_unresponsive') AS responded,
           count(*) FILTER (WHERE m.stage <> 'suggested') AS decided
    FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id
    WHERE l.merchant_id IN (SELECT DISTINCT seller_id FROM cand)
    GROUP BY l.merchant_id
),
raw AS (
    SELECT c.*, {grade} AS grade,
           (c.guide_price - c.price) / c.guide_price * 100 AS discount_points,
           (c.max_price - c.price) / c.max_price AS headroom,
           greatest(extract(epoch FROM (CAST(:as_of AS timestamptz) - c.published_at)) / 86400, 0)
               AS age_days,
           (coalesce(h.responded, 0) + 1.0) / (coalesce(h.decided, 0) + 2.0) AS response_rate
    FROM cand c
    LEFT JOIN history h ON h.seller_id = c.seller_id
    {grade_join}
),
comp AS (
    SELECT r.*,
           round(least(greatest(r.discount_points / {full_discount}, 0), 1)::numeric, 4) AS c_guide,
           round(least(greatest(r.headroom / {full_headroom}, 0), 1)::numeric, 4) AS c_max,
           round((1 - least(r.km / {max_km}, 1))::numeric, 4) AS c_dist,
           round(({credit_case})::numeric, 4) AS c_credit,
           round((1 - least(r.age_days / {stale_days}, 1))::numeric, 4) AS c_fresh,
           round(r.response_rate::numeric, 4) AS c_resp
    FROM raw r
),
scored AS (
    SELECT c.*,
           round({w_guide} * c_guide + {w_max} * c_max + {w_dist} * c_dist
                 + {w_credit} * c_credit + {w_fresh} * c_fresh + {w_resp} * c_resp, 3) AS score
    FROM comp c
)
"""

_COMPONENTS_JSON = """jsonb_build_object(
    'price_vs_guide', c_guide, 'price_vs_max', c_max, 'distance', c_dist,
    'credit', c_credit, 'freshness', c_fresh, 'response', c_resp,
    'discount_points', round(discount_points::numeric, 2), 'headroom_pct', round((headroom * 100)::numeric, 2),
    'km', round(km::numeric, 1), 'grade', grade, 'age_days', round(age_days::numeric, 1),
    'response_rate', round(response_rate::numeric, 3), 'price', price)"""


def scored_sql(conn: Connection) -> str:
    """The CTE chain ending in ``scored``; constants are formatted in, values stay bound."""
    grade_join, grade = _grade_join(conn, "c.seller_id")
    return _SCORED_SQL.format(
        grade=grade, grade_join=grade_join, credit_case=_CREDIT_CASE.format(grade="r.grade"),
        full_discount=FULL_DISCOUNT_POINTS, full_headroom=FULL_HEADROOM, max_km=MAX_USEFUL_KM,
        stale_days=STALE_DAYS, w_guide=WEIGHTS["price_vs_guide"], w_max=WEIGHTS["price_vs_max"],
        w_dist=WEIGHTS["distance"], w_credit=WEIGHTS["credit"], w_fresh=WEIGHTS["freshness"],
        w_resp=WEIGHTS["response"])


def _insert_top_k_sql(conn: Connection) -> str:
    return scored_sql(conn) + f"""
, ranked AS (
    SELECT s.*, row_number() OVER (PARTITION BY request_id ORDER BY score DESC, listing_id) AS rn
    FROM scored s
)
INSERT INTO ops.match_suggestions (request_id, listing_id, rank, score, components, computed_at)
SELECT request_id, listing_id, rn, score, {_COMPONENTS_JSON}, CAST(:as_of AS timestamptz)
FROM ranked WHERE rn <= :k
"""


def _merge_sql(conn: Connection) -> str:
    """Insert the scored rows of some listings into existing top-K lists (re-ranked after)."""
    return scored_sql(conn) + f"""
INSERT INTO ops.match_suggestions (request_id, listing_id, rank, score, components, computed_at)
SELECT request_id, listing_id, 32767, score, {_COMPONENTS_JSON}, CAST(:as_of AS timestamptz)
FROM scored
ON CONFLICT (request_id, listing_id) DO UPDATE
   SET score = EXCLUDED.score, components = EXCLUDED.components, computed_at = EXCLUDED.computed_at
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
    the pooled connection goes back to the pool with the UI timeout again."""
    db.execute(conn, "SET LOCAL statement_timeout = 0")


def rematch_full(*, conn: Connection, top_k: int = 5, as_of: datetime | None = None) -> RematchResult:
    """Recompute the top K for every open normal request, in one statement."""
    lift_ui_timeout(conn)
    # Lock out concurrent incremental runs while the table is rebuilt.
    db.execute(conn, "LOCK TABLE ops.match_suggestions IN SHARE ROW EXCLUSIVE MODE")
    db.execute(conn, "DELETE FROM ops.match_suggestions")
    inserted = db.execute(conn, _insert_top_k_sql(conn), request_ids=None, listing_ids=None,
                          as_of=_now(as_of), k=top_k)
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
    inserted = db.execute(conn, _insert_top_k_sql(conn), request_ids=ids, listing_ids=None,
                          as_of=_now(as_of), k=top_k)
    return RematchResult(len(ids), inserted)


_HOLDERS_SQL = """SELECT DISTINCT request_id FROM ops.match_suggestions
                  WHERE listing_id = ANY(CAST(:ids AS bigint[]))"""

# Open normal requests for which any of these listings passes the candidate rules.
_CANDIDATE_REQUESTS_SQL = """
SELECT DISTINCT r.id
FROM app.listings l
JOIN app.trims t ON t.id = l.trim_id
JOIN app.requests r ON r.status = 'open' AND r.mode = 'normal'
     AND (r.trim_id = l.trim_id OR (r.trim_id IS NULL AND r.series_id = t.series_id))
WHERE l.id = ANY(CAST(:ids AS bigint[])) AND l.status = 'live'
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
        merged = db.execute(conn, _merge_sql(conn), request_ids=others, listing_ids=ids,
                            as_of=_now(as_of))
        db.execute(conn, _RERANK_SQL, ids=others, k=top_k)
    return RematchResult(len(held) + len(others), rebuilt.suggestions + merged)


WATERMARK_JOB = "matching.rematch_changed"


def rematch_changed(*, conn: Connection, top_k: int = 5, as_of: datetime | None = None) -> RematchResult:
    """The scheduler's incremental run: everything changed since the last watermark."""
    lift_ui_timeout(conn)
    now = _now(as_of)
    since = db.scalar(conn, "SELECT watermark FROM etl.watermarks WHERE job = :j FOR UPDATE",
                      j=WATERMARK_JOB)
    if since is None:
        result = rematch_full(conn=conn, top_k=top_k, as_of=now)
    else:
        listing_ids = [r["id"] for r in db.fetch_all(conn, """
            SELECT l.id FROM app.listings l WHERE l.updated_at > :since
            UNION
            SELECT l.id FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
            WHERE m.updated_at > :since""", since=since)]
        request_ids = [r["id"] for r in db.fetch_all(conn, """
            SELECT r.id FROM app.requests r WHERE r.updated_at > :since
            UNION
            SELECT r.id FROM app.requests r JOIN app.merchants m ON m.id = r.merchant_id
            WHERE m.updated_at > :since""", since=since)]
        a = rematch_requests(conn=conn, request_ids=request_ids, top_k=top_k, as_of=now)
        b = rematch_listings(conn=conn, listing_ids=listing_ids, top_k=top_k, as_of=now)
        result = RematchResult(a.requests + b.requests, a.suggestions + b.suggestions)
    db.execute(conn, """INSERT INTO etl.watermarks (job, watermark) VALUES (:j, :w)
                        ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark,
                                                        updated_at = now()""",
               j=WATERMARK_JOB, w=now)
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
                    + {WEIGHTS['credit']} * ({_CREDIT_CASE.format(grade=grade)})
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
    k = MatchPolicy.from_env().top_k
    with db.transaction() as conn:
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
