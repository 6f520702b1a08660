"""Trust queues: the certification queue page's data and "next case".

- cert_queue_page_ms: counts + one filtered first page, median over a mix of filters
  (default view, enterprise only, flagged only, lower tiers, old cases, my cases);
- cert_next_case_ms: take the next case, in a transaction rolled back so the queue does
  not drain between samples;
- listing_flag_scan_ms / cert_prechecks_ms: the batch jobs, once (they run on a schedule).

If the database is still empty (no load area ran), the demo world of the chosen scale is
seeded first.
"""
from __future__ import annotations

import itertools
import time

from console import db
from console.roles import Actor
from console.services import certification as cert
from console.services import listing_review, prechecks
from console.services.certification import CertFilters

FILTER_MIX = (
    CertFilters(),
    CertFilters(kinds=("enterprise",)),
    CertFilters(flagged_only=True),
    CertFilters(tiers=(4, 5, 6), merchant_types=("secondary",)),
    CertFilters(min_age_hours=48),
    CertFilters(assignee="me"),
)


def _ensure_data(ctx) -> None:
    with ctx.engine.connect() as conn:
        merchants = db.scalar(conn, "SELECT count(*) FROM app.merchants")
    if not merchants:
        from console.demo import seed
        seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed)


def _ops_actor(ctx) -> Actor:
    with ctx.engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name, roles FROM ops.staff
                                    WHERE 'ops' = ANY (roles) AND is_active ORDER BY id LIMIT 1""")
        if row is None:
            row = db.fetch_one(conn, """
                INSERT INTO ops.staff (username, display_name, password_hash, roles)
                VALUES ('bench_ops', 'BENCH', 'x', ARRAY['ops'])
                RETURNING id, username, display_name, roles""")
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]))


def _once_ms(ctx, fn) -> float:
    start = time.perf_counter()
    with ctx.engine.begin() as conn:
        fn(conn)
    return (time.perf_counter() - start) * 1000


def run(ctx) -> None:
    _ensure_data(ctx)
    actor = _ops_actor(ctx)
    ctx.report("cert_prechecks_ms", _once_ms(
        ctx, lambda conn: prechecks.run_prechecks(conn=conn)), "ms")
    ctx.report("listing_flag_scan_ms", _once_ms(
        ctx, lambda conn: listing_review.raise_listing_flags(conn=conn)), "ms")

    filters = itertools.cycle(FILTER_MIX)

    def queue_page() -> None:
        with ctx.engine.connect() as conn:
            cert.queue_counts(conn=conn, actor=actor)
            cert.list_queue(conn=conn, actor=actor, filters=next(filters))

    ctx.report("cert_queue_page_ms", ctx.median_ms(queue_page, repeat=30, warmup=6), "ms")

    def next_case() -> None:
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            cert.next_case(conn=conn, actor=actor)
            tx.rollback()

    ctx.report("cert_next_case_ms", ctx.median_ms(next_case, repeat=30, warmup=3), "ms")
