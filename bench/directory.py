"""Merchant directory and profile, vehicle library preview.

- directory_page_ms: count + one first page, median over a mix of filters (default view,
  name substring, tier + type, certification status, activity, BD owner);
- merchant_profile_ms: the whole profile of one merchant, median over the busiest merchants;
- library_preview_ms: preview of a 2,000-row price-change CSV against the whole library.

If the database is still empty (no load area ran), the demo world of the chosen scale is
seeded first.
"""
from __future__ import annotations

import csv
import io
import itertools

from bench import _actors
from console import db
from console.roles import Actor
from console.services import merchants, vehicle_library
from console.services.merchants import DirectoryFilters


def _ensure_data(ctx) -> None:
    with ctx.engine.connect() as conn:
        count = db.scalar(conn, "SELECT count(*) FROM app.merchants")
    if not count:
        from console.demo import seed
        seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed)


def _actor(ctx, role: str) -> Actor:
    return _actors.actor(ctx.engine, role)


def _filter_mix(ctx, bd: Actor) -> list[DirectoryFilters]:
    return [DirectoryFilters(), DirectoryFilters(name="汽车"),
            DirectoryFilters(tier_level=4, merchant_type="secondary"),
            DirectoryFilters(cert_status="pending"), DirectoryFilters(active_within_days=7),
            DirectoryFilters(bd_owner_id=bd.id)]


def _directory_ms(ctx, bd: Actor) -> float:
    mix = itertools.cycle(_filter_mix(ctx, bd))

    def one() -> None:
        filters = next(mix)
        with ctx.engine.connect() as conn:
            merchants.count_directory(conn=conn, actor=bd, filters=filters)
            merchants.search_directory(conn=conn, actor=bd, filters=filters, limit=50)
    return ctx.measure("directory_page_ms", one, repeat=18)


def _profile_ms(ctx, bd: Actor) -> float:
    with ctx.engine.connect() as conn:
        busiest = [r["merchant_id"] for r in db.fetch_all(conn, """
            SELECT merchant_id FROM app.listings GROUP BY merchant_id
            ORDER BY count(*) DESC LIMIT 10""")]
    if not busiest:
        return float("nan")
    ids = itertools.cycle(busiest)

    def one() -> None:
        with ctx.engine.connect() as conn:
            merchants.merchant_profile(conn=conn, actor=bd, merchant_id=next(ids))
    return ctx.measure("merchant_profile_ms", one, repeat=10)


def _preview_ms(ctx, ops: Actor) -> float:
    with ctx.engine.connect() as conn:
        rows = db.fetch_all(conn, """
            SELECT b.name AS brand, s.name AS series, t.name AS trim, t.model_year, t.guide_price
            FROM app.trims t JOIN app.series s ON s.id = t.series_id
            JOIN app.brands b ON b.id = s.brand_id ORDER BY t.id LIMIT 2000""")
    if not rows:
        return float("nan")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["brand", "series", "trim", "model_year", "guide_price"])
    for r in rows:  # every price 1% lower: a typical yearly price adjustment
        writer.writerow([r["brand"], r["series"], r["trim"], r["model_year"],
                         round(float(r["guide_price"]) * 0.99, 2)])
    content = out.getvalue().encode()

    def one() -> None:
        with ctx.engine.connect() as conn:
            vehicle_library.preview_import(conn=conn, actor=ops, content=content)
    return ctx.measure("library_preview_ms", one, repeat=5)


def run(ctx) -> None:
    _ensure_data(ctx)
    bd, ops = _actor(ctx, "bd"), _actor(ctx, "ops")
    _directory_ms(ctx, bd)
    _profile_ms(ctx, bd)
    _preview_ms(ctx, ops)
