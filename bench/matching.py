"""Matchmaking speed: search, full and incremental rematch (SQL vs a pandas baseline), board.

Figures: search_ms (target <= 200 at large), rematch_full_s (<= 60), rematch_pandas_s (for the
ratio), rematch_one_listing_ms (<= 100), board_ms (<= 150).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import sqlalchemy as sa

from console import db
from console.roles import Actor
from console.services import deals, matching, search


def _ensure_data(ctx) -> None:
    with ctx.engine.connect() as conn:
        if db.scalar(conn, "SELECT count(*) FROM app.listings") > 0:
            return
    from console.demo import seed   # the "load" area normally did this already
    seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed)


def _bench_search(ctx) -> None:
    with ctx.engine.connect() as conn:
        series_id = db.scalar(conn, """SELECT t.series_id FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
                                       WHERE l.status = 'live' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")
        city_id = db.scalar(conn, "SELECT id FROM app.cities ORDER BY tier_level, id LIMIT 1")
    actor = Actor(id=0, username="bench", display_name="bench", roles=frozenset({"bd"}))
    cases = [
        search.SearchFilters(series_id=series_id, sort="price"),
        search.SearchFilters(series_id=series_id, points_min=5, points_max=15, sort="discount"),
        search.SearchFilters(tier=1, colors=("白",), fresh_days=30, sort="freshness"),
        search.SearchFilters(series_id=series_id, from_city_id=city_id, sort="distance"),
    ]
    samples = []
    with ctx.engine.connect() as conn:
        for filters in cases:
            samples.append(ctx.median_ms(lambda f=filters: search.search_listings(
                conn=conn, actor=actor, filters=f, limit=50), repeat=7))
    ctx.report("search_ms", float(np.median(samples)), "ms")


def _bench_rematch_full(ctx, as_of: datetime) -> None:
    start = time.perf_counter()
    with ctx.engine.begin() as conn:
        result = matching.rematch_full(conn=conn, top_k=5, as_of=as_of)
    ctx.report("rematch_full_s", time.perf_counter() - start, "s")
    ctx.report("rematch_full_suggestions", result.suggestions, "rows")


def _pandas_rematch(conn, as_of: datetime, k: int = 5, chunk: int = 5_000) -> int:
    """The straightforward way: pull the tables into pandas, merge, filter, score, top K."""
    req = db.fetch_df(conn, """
        SELECT r.id AS request_id, r.merchant_id AS buyer_id, r.series_id, r.trim_id,
               r.accepted_colors, r.quantity AS want, r.max_price, r.needed_by,
               c.latitude AS rlat, c.longitude AS rlon
        FROM app.requests r JOIN app.cities c ON c.id = r.city_id
        JOIN app.merchants m ON m.id = r.merchant_id AND m.status = 'active'
        WHERE r.status = 'open' AND r.mode = 'normal'""")
    lst = db.fetch_df(conn, """
        SELECT l.id AS listing_id, l.merchant_id AS seller_id, l.trim_id, t.series_id,
               l.exterior_color, l.quantity, l.price, l.guide_price, l.available_from,
               l.published_at, c.latitude AS llat, c.longitude AS llon
        FROM app.listings l JOIN app.trims t ON t.id = l.trim_id
        JOIN app.cities c ON c.id = l.city_id
        JOIN app.merchants m ON m.id = l.merchant_id AND m.status = 'active'
        WHERE l.status = 'live'""")
    hist = db.fetch_df(conn, """
        SELECT l.merchant_id AS seller_id,
               count(*) FILTER (WHERE m.stage <> 'suggested'
                                AND coalesce(m.lost_reason,'') <> 'seller_unresponsive') AS responded,
               count(*) FILTER (WHERE m.stage <> 'suggested') AS decided
        FROM ops.matches m JOIN app.listings l ON l.id = m.listing_id GROUP BY 1""")
    for col in ("max_price",):
        req[col] = req[col].astype(float)
    for col in ("price", "guide_price"):
        lst[col] = lst[col].astype(float)
    rate = ((hist["responded"] + 1.0) / (hist["decided"] + 2.0)).set_axis(hist["seller_id"])
    lst["response_rate"] = lst["seller_id"].map(rate).fillna(0.5)
    written = 0
    for start in range(0, len(req), chunk):
        part = req.iloc[start:start + chunk]
        by_trim = part[part["trim_id"].notna()].astype({"trim_id": "int64"}).merge(lst, on="trim_id",
                                                                                    suffixes=("", "_l"))
        by_series = part[part["trim_id"].isna()].drop(columns="trim_id").merge(
            lst, on="series_id", suffixes=("", "_l"))
        pairs = pd.concat([by_trim, by_series], ignore_index=True)
        colour_ok = [not cols or colour in cols
                     for cols, colour in zip(pairs["accepted_colors"], pairs["exterior_color"])]
        pairs = pairs[(pairs["price"] <= pairs["max_price"]) & (pairs["quantity"] >= pairs["want"])
                      & (pairs["available_from"] <= pairs["needed_by"]) & np.array(colour_ok, dtype=bool)
                      & (pairs["seller_id"] != pairs["buyer_id"])]
        if pairs.empty:
            continue
        lat1, lon1 = np.radians(pairs["rlat"]), np.radians(pairs["rlon"])
        lat2, lon2 = np.radians(pairs["llat"]), np.radians(pairs["llon"])
        hav = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        km = 2 * 6371.0088 * np.arcsin(np.minimum(1.0, np.sqrt(hav)))
        age = ((as_of - pairs["published_at"]).dt.total_seconds() / 86400).clip(lower=0)
        w = matching.WEIGHTS
        pairs = pairs.assign(score=(
            w["price_vs_guide"] * ((pairs["guide_price"] - pairs["price"]) / pairs["guide_price"] * 100
                                   / matching.FULL_DISCOUNT_POINTS).clip(0, 1)
            + w["price_vs_max"] * ((pairs["max_price"] - pairs["price"]) / pairs["max_price"]
                                   / matching.FULL_HEADROOM).clip(0, 1)
            + w["distance"] * (1 - np.minimum(km / matching.MAX_USEFUL_KM, 1))
            + w["credit"] * matching.NEUTRAL
            + w["freshness"] * (1 - np.minimum(age / matching.STALE_DAYS, 1))
            + w["response"] * pairs["response_rate"]).round(3))
        top = (pairs.sort_values(["request_id", "score", "listing_id"], ascending=[True, False, True])
               .groupby("request_id").head(k))
        written += len(top)
    return written


def _bench_pandas(ctx, as_of: datetime) -> None:
    start = time.perf_counter()
    with ctx.engine.connect() as conn:
        rows = _pandas_rematch(conn, as_of)
    ctx.report("rematch_pandas_s", time.perf_counter() - start, "s")
    ctx.report("rematch_pandas_suggestions", rows, "rows")


def _bench_one_listing(ctx, as_of: datetime) -> None:
    """A new listing, cheaper than its source, merged into the stored lists; rolled back."""
    with ctx.engine.connect() as conn:
        sources = [r["id"] for r in db.fetch_all(conn, """
            SELECT s.listing_id AS id FROM ops.match_suggestions s
            GROUP BY s.listing_id ORDER BY count(*) DESC LIMIT 9""")]
    if not sources:
        return

    def one(source_id: int) -> float:
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            start = time.perf_counter()
            new_id = db.scalar(conn, """
                INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                    city_id, price, guide_price, available_from, status, published_at)
                SELECT merchant_id, trim_id, exterior_color, interior_color, quantity, city_id,
                       round(price * 0.98, 2), guide_price, available_from, 'live', :at
                FROM app.listings WHERE id = :id RETURNING id""", id=source_id, at=as_of)
            matching.rematch_listings(conn=conn, listing_ids=[new_id], top_k=5, as_of=as_of)
            elapsed = (time.perf_counter() - start) * 1000
            tx.rollback()
            return elapsed

    one(sources[0])   # warm-up
    ctx.report("rematch_one_listing_ms", float(np.median([one(s) for s in sources])), "ms")


def _bench_board(ctx) -> None:
    with ctx.engine.connect() as conn:
        owner = db.scalar(conn, """SELECT owner_id FROM ops.matches WHERE owner_id IS NOT NULL
                                   AND stage NOT IN ('won','lost')
                                   GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")
    if owner is None:
        return
    bd = Actor(id=owner, username="bench", display_name="bench", roles=frozenset({"bd"}))
    with ctx.engine.connect() as conn:
        ctx.report("board_ms", ctx.median_ms(lambda: deals.board(conn=conn, actor=bd), repeat=9), "ms")


def run(ctx) -> None:
    _ensure_data(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    as_of = datetime.now(timezone.utc)
    _bench_search(ctx)
    _bench_rematch_full(ctx, as_of)
    _bench_pandas(ctx, as_of)
    _bench_one_listing(ctx, as_of)
    _bench_board(ctx)
