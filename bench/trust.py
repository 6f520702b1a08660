"""Trust queues: the certification queue page's data and "next case".

- cert_queue_page_ms: counts + one filtered first page, median over a mix of filters
  (default view, enterprise only, flagged only, lower tiers, old cases, my cases);
- cert_next_case_ms: take the next case, in a transaction rolled back so the queue does
  not drain between samples;
- listing_flag_scan_ms / cert_prechecks_ms: the batch jobs (they run on a schedule), each run
  rolled back so that every run does the same work. The scheduled pre-check run checks only
  the open cases without results; on a loaded database that is none (every case was checked
  when it was loaded: 2-7 ms for nothing), so the figure checks every open case again
  (refresh), the work of a run after a rule change, with the number of cases in its note.

If the database is still empty (no load area ran), the demo world of the chosen scale is
seeded first.
"""
from __future__ import annotations

import itertools
import statistics

from bench import _actors
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
    return _actors.actor(ctx.engine, "ops")


def _rolled_back(ctx, fn):
    """A batch job's run in a transaction rolled back: each timed run does the same work."""
    def once() -> None:
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            fn(conn)
            tx.rollback()
    return once


def run(ctx) -> None:
    _ensure_data(ctx)
    actor = _ops_actor(ctx)
    checked: list[int] = []
    runs = ctx.samples(_rolled_back(ctx, lambda conn: checked.append(
        prechecks.run_prechecks(conn=conn, refresh=True))), repeat=3, warmup=0)
    ctx.report("cert_prechecks_ms", statistics.median(runs), "ms", runs=runs,
               note=f"every open case checked again: {checked[-1]:,} cases")
    ctx.measure("listing_flag_scan_ms", _rolled_back(
        ctx, lambda conn: listing_review.raise_listing_flags(conn=conn)), repeat=3, warmup=0)

    filters = itertools.cycle(FILTER_MIX)

    def queue_page() -> None:
        with ctx.engine.connect() as conn:
            cert.queue_counts(conn=conn, actor=actor)
            cert.list_queue(conn=conn, actor=actor, filters=next(filters))

    ctx.measure("cert_queue_page_ms", queue_page, repeat=30, warmup=6)

    # A bench account holding no cases: "next case" stops at the per-person cap, and the
    # seed's reviewers may hold that many already. Rolled back, so it never holds one.
    taker = _actors.actor(ctx.engine, "ops", own=True)

    def next_case() -> None:
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            cert.next_case(conn=conn, actor=taker)
            tx.rollback()

    ctx.measure("cert_next_case_ms", next_case, repeat=30, warmup=3)
