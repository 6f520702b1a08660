"""Offline evaluation of the match ranking (issue 16): the current policy against the
previous one, replayed on the same history (an offline A/B).

For every normal request that has deal-board history (a card that was not a bidding offer)
and at least one candidate then, both policies rank the listings that were candidates when
its first card was made (when a card won: that card's time), and the evaluation reads:
- the rank at which the listing that closed the deal (the card that won) was suggested;
- hit rate at 1 and at 5: the share of closed requests whose closing listing ranked first /
  in the top 5 (a listing a policy does not suggest at all is a miss);
- NDCG: the mean of 1 / log2(1 + rank) over closed requests (one relevant listing per
  request, so the ideal DCG is 1; a miss counts 0), over the whole ranked list;
- two-sided acceptance: the share of a policy's top-5 suggestions that both parties took
  forward (the card reached negotiating, deposit paid or won, or an order was placed). A
  pair never put on the board counts as not taken forward, whichever policy suggests it.

The history as it was at that moment: listings published by then and not yet gone (a listing
that left the market has updated_at = when it left), orders open then hold their cars,
flags open then keep a listing out (current policy), stock confirmed by then counts for
freshness, and the current policy's VIP component is the seller's membership in force at
that moment (fin.vip_memberships: enrolled by then, its days covering that Shanghai day, not
cancelled by then), whatever its status now. Two approximations, the same for both policies:
credit grades are today's (the scoring history is not replayed), and a seller's response rate
counts every card of other requests, not only earlier ones.

Command: ``python -m console.services.match_eval [--sample N]`` prints both policies' figures.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Connection

from console import db, match_policy
from console.services import matching

TOP_K = 5
POLICIES = ("previous", "current")
TAKEN_FORWARD = ("negotiating", "deposit_paid", "won")

# Requests to evaluate: normal requests with cards (not bidding offers); the moment is the
# winning card's creation, else the first card's; the closing listing is the winner's.
_EVALS = """
evals AS MATERIALIZED (
    SELECT r.id AS request_id, r.merchant_id AS buyer_id, r.quantity, r.max_price,
           CAST(r.max_price AS double precision) AS max_f, r.needed_by, r.accepted_colors,
           c.latitude AS lat, c.longitude AS lon,
           CASE WHEN r.trim_id IS NOT NULL THEN ARRAY[r.trim_id]
                ELSE ARRAY(SELECT t.id FROM app.trims t WHERE t.series_id = r.series_id) END AS trim_ids,
           coalesce(w.created_at, f.first_at) - interval '1 second' AS as_of,
           w.listing_id AS closing_listing
    FROM (SELECT m.request_id, min(m.created_at) AS first_at FROM ops.matches m
          WHERE m.source <> 'bid' GROUP BY m.request_id) f
    JOIN app.requests r ON r.id = f.request_id AND r.mode = 'normal'
    JOIN app.cities c ON c.id = r.city_id
    LEFT JOIN LATERAL (SELECT m.listing_id, m.created_at FROM ops.matches m
                       WHERE m.request_id = r.id AND m.stage = 'won' AND m.source <> 'bid'
                       ORDER BY m.created_at, m.id LIMIT 1) w ON true
    {sample}
)"""

_PAIRS_SQL = """
WITH {evals},
ev_trim AS (SELECT e.*, unnest(e.trim_ids) AS trim_id FROM evals e),
cand AS MATERIALIZED (   -- candidates then: the rules of the day, on listings live at the moment
    SELECT e.request_id, e.closing_listing, e.as_of, e.quantity, e.max_f, l.id AS listing_id,
           l.merchant_id AS seller_id, l.quantity AS listing_qty, l.trim_id,
           CAST(l.price AS double precision) AS price, CAST(l.guide_price AS double precision) AS guide,
           l.published_at, l.stock_confirmed_at, l.is_parallel_import,
           ops.great_circle_km(e.lat, e.lon, lc.latitude, lc.longitude) AS km
    FROM ev_trim e
    -- every status: (status, trim_id) is an index, and a listing sold since was live then
    JOIN app.listings l
      ON l.status IN ('live','sold','withdrawn','taken_down','expired') AND l.trim_id = e.trim_id
     AND l.price <= e.max_price AND l.quantity >= e.quantity
     AND l.available_from <= e.needed_by
     AND (cardinality(e.accepted_colors) = 0 OR l.exterior_color = ANY(e.accepted_colors))
     AND l.merchant_id <> e.buyer_id
     AND l.published_at <= e.as_of AND (l.status = 'live' OR l.updated_at > e.as_of)
    JOIN app.merchants sm ON sm.id = l.merchant_id AND sm.status = 'active'
    JOIN app.cities lc ON lc.id = l.city_id
),
held AS (   -- cars that orders placed by then and not finished then held (other requests')
    SELECT c.request_id, c.listing_id, sum(o.quantity) AS held
    FROM cand c JOIN app.orders o ON o.listing_id = c.listing_id
    WHERE o.created_at <= c.as_of AND o.request_id IS DISTINCT FROM c.request_id
      AND coalesce(o.completed_at, o.cancelled_at, 'infinity') > c.as_of
    GROUP BY 1, 2
),
flagged AS (   -- a flag raised by then and not decided by then
    SELECT DISTINCT c.request_id, c.listing_id
    FROM cand c JOIN ops.listing_flags f ON f.listing_id = c.listing_id
    WHERE f.raised_at <= c.as_of AND coalesce(f.decided_at, 'infinity') > c.as_of
),
confirmed AS (   -- the last stock confirmation by then
    SELECT c.request_id, c.listing_id, max(sc.confirmed_at) AS at
    FROM cand c JOIN ops.stock_confirmations sc ON sc.listing_id = c.listing_id
    WHERE sc.confirmed_at <= c.as_of
    GROUP BY 1, 2
),
history AS (   -- every card's seller response; each request's own cards taken out below
    SELECT l.merchant_id AS seller_id, m.request_id,
           count(*) FILTER (WHERE m.stage <> 'suggested'
                            AND coalesce(m.lost_reason, '') <> 'seller_unresponsive') AS responded,
           count(*) FILTER (WHERE m.stage <> 'suggested') AS decided
    FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id
    GROUP BY 1, 2
),
seller_total AS (
    SELECT seller_id, sum(responded) AS responded, sum(decided) AS decided FROM history GROUP BY 1
),
vip AS (   -- the seller's VIP term in force at the moment: enrolled by then, its Shanghai
           -- days covering that day, not cancelled by then (a term lapsed or renewed since was
           -- in force over its days all the same); one term per seller and day (the newest)
    SELECT DISTINCT ON (s.request_id, s.seller_id) s.request_id, s.seller_id, v.tier
    FROM (SELECT DISTINCT request_id, seller_id, as_of,
                 CAST(as_of AT TIME ZONE 'Asia/Shanghai' AS date) AS day FROM cand) s
    JOIN fin.vip_memberships v
      ON v.merchant_id = s.seller_id AND v.enrolled_at <= s.as_of
     AND v.starts_on <= s.day AND v.expires_on >= s.day
     AND (v.cancelled_at IS NULL OR v.cancelled_at > s.as_of)
    ORDER BY s.request_id, s.seller_id, v.starts_on DESC, v.id DESC
)
SELECT c.request_id, c.listing_id, c.closing_listing, c.quantity, c.max_f, c.price, c.guide,
       c.km, t.series_id, vp.tier AS vip_tier,
       greatest(date_part('epoch', c.as_of - c.published_at) / 86400, 0) AS published_days,
       greatest(date_part('epoch', c.as_of - greatest(c.published_at, coalesce(
           cf.at, CASE WHEN c.stock_confirmed_at <= c.as_of THEN c.stock_confirmed_at END,
           c.published_at))) / 86400, 0) AS confirmed_days,
       (coalesce(st.responded, 0) - coalesce(h.responded, 0) + 1.0)
         / (coalesce(st.decided, 0) - coalesce(h.decided, 0) + 2.0) AS response_rate,
       {grade} AS grade,
       c.listing_qty - coalesce(hd.held, 0) AS available,
       fl.listing_id IS NOT NULL AS flagged,
       n.usual_points
FROM cand c
JOIN app.trims t ON t.id = c.trim_id
LEFT JOIN held hd ON hd.request_id = c.request_id AND hd.listing_id = c.listing_id
LEFT JOIN flagged fl ON fl.request_id = c.request_id AND fl.listing_id = c.listing_id
LEFT JOIN confirmed cf ON cf.request_id = c.request_id AND cf.listing_id = c.listing_id
LEFT JOIN seller_total st ON st.seller_id = c.seller_id
LEFT JOIN history h ON h.seller_id = c.seller_id AND h.request_id = c.request_id
LEFT JOIN ops.series_norms n ON n.series_id = t.series_id AND NOT c.is_parallel_import  -- as matching
LEFT JOIN vip vp ON vp.request_id = c.request_id AND vp.seller_id = c.seller_id
{grade_join}
"""


def _sample_clause(sample: int | None) -> str:
    return "" if sample is None else "ORDER BY md5(r.id::text) LIMIT :sample"


def candidate_pairs(conn: Connection, *, sample: int | None = None) -> pd.DataFrame:
    """Every (request, listing) candidate at the request's moment, with the facts both
    policies score (one row per pair)."""
    grade_join, grade = matching._grade_join(conn, "c.seller_id")
    sql = _PAIRS_SQL.format(evals=_EVALS.format(sample=_sample_clause(sample)),
                            grade=grade, grade_join=grade_join)
    params = {"sample": sample} if sample is not None else {}
    matching.lift_ui_timeout(conn)
    df = db.fetch_df(conn, sql, **params)
    for col in ("max_f", "price", "guide", "km", "published_days", "confirmed_days",
                "response_rate", "usual_points"):
        df[col] = df[col].astype(float)
    return df


def _credit01(grades: pd.Series) -> pd.Series:
    from console.grades import GRADE_POINTS
    return grades.map(GRADE_POINTS).astype(float).fillna(matching.NEUTRAL)


def score_previous(df: pd.DataFrame) -> pd.Series:
    """The score before issue 16 (matching.WEIGHTS and its saturation scales)."""
    w = matching.WEIGHTS
    discount = (df["guide"] - df["price"]) / df["guide"] * 100
    return (w["price_vs_guide"] * (discount / matching.FULL_DISCOUNT_POINTS).clip(0, 1)
            + w["price_vs_max"] * ((df["max_f"] - df["price"]) / df["max_f"]
                                   / matching.FULL_HEADROOM).clip(0, 1)
            + w["distance"] * (1 - (df["km"] / matching.MAX_USEFUL_KM).clip(upper=1))
            + w["credit"] * _credit01(df["grade"])
            + w["freshness"] * (1 - (df["published_days"] / matching.STALE_DAYS).clip(upper=1))
            + w["response"] * df["response_rate"])


def vip_points(tiers: pd.Series, weight: float) -> pd.Series:
    """The VIP component of each pair as matching's SQL adds it (the tier's match points x
    the policy's weight, rounded to a thousandth of a point); 0 for a seller without a term
    in force at the moment."""
    from console.finance.vip import match_points_milli
    milli = match_points_milli(weight)
    return tiers.map(lambda tier: milli.get(tier, 0) if isinstance(tier, str) else 0
                     ).astype(float) / 1000


def score_current(df: pd.DataFrame, policy: match_policy.ScorePolicy | None = None) -> pd.Series:
    """The current score (match_policy.ScorePolicy), as matching's SQL computes it; NaN for
    a pair it does not suggest (open flag, cars held by open orders)."""
    p = policy or match_policy.current().score
    rate = df["quantity"].map(p.freight_rate).astype(float)
    discount = (df["guide"] - df["price"]) / df["guide"] * 100
    line = df["usual_points"] + p.norm_gap_points
    beyond = (discount > line).fillna(False)
    counted = df["price"].where(~beyond, df["guide"] * (1 - df["usual_points"] / 100))
    over = (discount - line).clip(lower=0).fillna(0)
    score = (100 * (df["max_f"] - counted - rate * df["km"]) / df["max_f"]
             - p.norm_penalty_per_point * over
             + p.credit_points * _credit01(df["grade"])
             + p.response_points * df["response_rate"]
             + p.freshness_points * 0.5 ** (df["confirmed_days"] / p.freshness_half_life_days)
             + vip_points(df["vip_tier"], p.vip_weight))
    kept = ~df["flagged"].astype(bool) & (df["available"] >= df["quantity"])
    return score.where(kept)


def rank_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Both policies' scores and ranks per pair (1 = best; ties by listing id; NaN: not
    suggested)."""
    out = df.assign(score_previous=score_previous(df), score_current=score_current(df))
    out = out.sort_values(["request_id", "listing_id"])
    for name in POLICIES:
        col = f"score_{name}"
        ordered = out.sort_values(["request_id", col, "listing_id"], ascending=[True, False, True],
                                  na_position="last")
        ranks = ordered.groupby("request_id").cumcount() + 1
        out[f"rank_{name}"] = ranks.where(ordered[col].notna()).reindex(out.index)
    return out


@dataclass(frozen=True)
class PolicyFigures:
    closed_requests: int      # requests whose deal closed on a listing of the board
    evaluated_requests: int   # requests with board history, for acceptance
    hit_rate_at_1: float
    hit_rate_at_5: float
    ndcg: float
    mean_rank: float          # of the closing listing, where suggested
    acceptance: float         # share of top-5 suggestions both sides took forward


def metrics(ranked: pd.DataFrame, outcomes: pd.DataFrame, *, policy: str,
            requests: Iterable[int] | None = None) -> PolicyFigures:
    """The figures of one policy. ``ranked``: rank_pairs' output; ``outcomes``: one row per
    (request_id, listing_id) pair on the board with ``taken_forward``; ``requests``: every
    evaluated request (default: those in ``ranked``)."""
    rank = f"rank_{policy}"
    ids = sorted(set(requests) if requests is not None else set(ranked["request_id"]))
    closing = _closing_ranks(ranked, rank, ids)
    n = len(closing)
    ndcg = float(sum(0.0 if math.isnan(r) else 1 / math.log2(1 + r) for r in closing) / n) if n else 0.0
    found = [r for r in closing if not math.isnan(r)]
    top = ranked[ranked[rank] <= TOP_K][["request_id", "listing_id"]]
    forward = top.merge(outcomes[outcomes["taken_forward"]][["request_id", "listing_id"]],
                        on=["request_id", "listing_id"])
    return PolicyFigures(
        closed_requests=n, evaluated_requests=len(ids),
        hit_rate_at_1=sum(r == 1 for r in found) / n if n else 0.0,
        hit_rate_at_5=sum(r <= TOP_K for r in found) / n if n else 0.0,
        ndcg=ndcg, mean_rank=sum(found) / len(found) if found else float("nan"),
        acceptance=len(forward) / len(top) if len(top) else 0.0)


def _closing_ranks(ranked: pd.DataFrame, rank: str, ids: list[int]) -> list[float]:
    """Per request that closed (closing_listing set), the closing listing's rank (NaN: the
    policy did not suggest it)."""
    closed = ranked[ranked["closing_listing"].notna()]
    closers = closed.drop_duplicates("request_id").set_index("request_id")["closing_listing"]
    hit = closed[closed["listing_id"] == closed["closing_listing"]].set_index("request_id")[rank]
    return [float(hit.get(r, float("nan"))) for r in closers.index if r in set(ids)]


def board_outcomes(conn: Connection) -> pd.DataFrame:
    """Every (request, listing) pair that was on the board and whether both sides took it
    forward (negotiating or later, or an order)."""
    df = db.fetch_df(conn, """
        SELECT m.request_id, m.listing_id,
               bool_or(m.stage IN ('negotiating','deposit_paid','won')
                       OR EXISTS (SELECT 1 FROM app.orders o WHERE o.match_id = m.id)) AS taken_forward
        FROM ops.matches m GROUP BY 1, 2""")
    df["taken_forward"] = df["taken_forward"].astype(bool)
    return df


def evaluate(conn: Connection, *, sample: int | None = None) -> dict[str, PolicyFigures]:
    """Both policies' figures on the same history."""
    pairs = candidate_pairs(conn, sample=sample)
    if pairs.empty:
        empty = PolicyFigures(0, 0, 0.0, 0.0, 0.0, float("nan"), 0.0)
        return {name: empty for name in POLICIES}
    ranked = rank_pairs(pairs)
    outcomes = board_outcomes(conn)
    return {name: metrics(ranked, outcomes, policy=name) for name in POLICIES}


def report(figures: dict[str, PolicyFigures]) -> str:
    lines = [f"{'policy':<10} {'closed':>7} {'hit@1':>7} {'hit@5':>7} {'NDCG':>7} "
             f"{'mean rank':>9} {'accept':>7}"]
    for name, f in figures.items():
        lines.append(f"{name:<10} {f.closed_requests:>7} {f.hit_rate_at_1:>7.3f} "
                     f"{f.hit_rate_at_5:>7.3f} {f.ndcg:>7.3f} {f.mean_rank:>9.2f} {f.acceptance:>7.3f}")
    return "\n".join(lines)


def _main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.services.match_eval")
    parser.add_argument("--sample", type=int, default=None,
                        help="evaluate this many requests (a fixed pseudo-random sample)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    with db.transaction(role="jobs") as conn:
        print(report(evaluate(conn, sample=args.sample)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
