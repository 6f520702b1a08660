"""Credit ratings: scoring every merchant, and the pages' heaviest reads.

- score_all_s: one scoring run over the whole features mart (target ≤ 10 s at the large
  scale, 50,000 merchants); set-based SQL, so it is one INSERT … SELECT;
- credit_monitoring_ms: the monitoring report between the last two runs (PSI per factor and
  score, migration matrix, KS/AUC, default rate per grade);
- credit_card_ms: one rating card (factor points, history, overrides);
- merchant_credit_filter_ms: the effective-grade view filtered by grade, as the matching
  search and the directory read it.

If the database is still empty, the demo world is seeded; if the features mart is empty, the
ETL's merchant-features job fills it first.
"""
from __future__ import annotations

import time

from console import db
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.roles import Actor
from console.services import credit


def _ensure_features(ctx) -> None:
    with ctx.engine.connect() as conn:
        merchants = db.scalar(conn, "SELECT count(*) FROM app.merchants")
    if not merchants:
        from console.demo import seed
        seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed)
    with ctx.engine.connect() as conn:
        features = db.scalar(conn, "SELECT count(*) FROM mart.merchant_features")
    if not features:
        from etl.jobs import JOBS
        from etl.runner import run_job
        run_job(JOBS["merchant_features"], engine=ctx.engine, full=True)


def _risk_actor(ctx) -> Actor:
    with ctx.engine.begin() as conn:
        row = db.fetch_one(conn, """SELECT id, username, display_name FROM ops.staff
                                    WHERE 'risk' = ANY (roles) AND is_active ORDER BY id LIMIT 1""")
        if row is None:
            row = db.fetch_one(conn, """
                INSERT INTO ops.staff (username, display_name, password_hash, roles)
                VALUES ('bench_risk', 'BENCH', 'x', ARRAY['risk'])
                RETURNING id, username, display_name""")
    return Actor(id=row["id"], username=row["username"], display_name=row["display_name"],
                 roles=frozenset({"risk"}))


def _score_once(ctx, card) -> float:
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        credit_engine.score_all(conn, card)
    return time.perf_counter() - started


def run(ctx) -> None:
    _ensure_features(ctx)
    card = load(DEFAULT_CONFIG)
    with ctx.engine.connect() as conn:
        merchants = db.scalar(conn, "SELECT count(*) FROM mart.merchant_features")
    ctx.report("credit_merchants", merchants, "merchants")
    # Two runs: the second is the one measured (the first also registers the version);
    # both are needed for the monitoring report's between-run figures.
    _score_once(ctx, card)
    ctx.report("score_all_s", _score_once(ctx, card), "s")

    actor = _risk_actor(ctx)

    def monitoring() -> None:
        with ctx.engine.connect() as conn:
            credit.monitoring_report(conn=conn, actor=actor)

    ctx.report("credit_monitoring_ms", ctx.median_ms(monitoring, repeat=5, warmup=1), "ms")

    with ctx.engine.connect() as conn:
        merchant_id = db.scalar(conn, """SELECT merchant_id FROM ops.merchant_credit
                                         ORDER BY score LIMIT 1""")

    def card_read() -> None:
        with ctx.engine.connect() as conn:
            credit.rating_card(conn=conn, actor=actor, merchant_id=merchant_id)

    ctx.report("credit_card_ms", ctx.median_ms(card_read), "ms")

    def grade_filter() -> None:
        with ctx.engine.connect() as conn:
            db.fetch_all(conn, """SELECT merchant_id FROM ops.merchant_credit
                                  WHERE effective_grade_rank <= 3 LIMIT 50""")

    ctx.report("merchant_credit_filter_ms", ctx.median_ms(grade_filter), "ms")
