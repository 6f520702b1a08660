"""Credit ratings: scoring every merchant, and the pages' heaviest reads.

- score_all_s: one scoring run over the whole features mart (target ≤ 10 s at the large
  scale, 50,000 merchants); set-based SQL, so it is one INSERT … SELECT;
- credit_monitoring_ms: the monitoring report between the last two runs (PSI per factor and
  score, migration matrix, KS/AUC, default rate per grade);
- credit_card_ms: one rating card (factor points, history, overrides);
- merchant_credit_filter_ms: the current grades (ops.merchant_credit, a thin view on the
  table of migration 066) filtered by grade, as the matching search and the directory read it;
- credit_validation_s: computing and storing the validation report (seven point-in-time
  samples rebuilt from history, every active and candidate version scored on them, bootstrap
  intervals), what the daily job step and a risk officer's recompute do; each run rolled
  back, then one kept for the validation page, which only reads it (the pages area).

Every figure is the median of its runs (printed with it).

If the database is still empty, the demo world is seeded; if the features mart is empty, the
ETL's merchant-features job fills it first.
"""
from __future__ import annotations

import statistics
import time

from bench import _actors
from console import db
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
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
    # Every run is a new scoring run (it commits: a new run id, every current grade
    # rewritten), as the daily job's.
    runs = [_score_once(ctx, card) for _ in range(3)]
    ctx.report("score_all_s", statistics.median(runs), "s", runs=runs)

    actor = _actors.actor(ctx.engine, "risk")

    def monitoring() -> None:
        with ctx.engine.connect() as conn:
            credit.monitoring_report(conn=conn, actor=actor)

    ctx.measure("credit_monitoring_ms", monitoring, repeat=5)

    with ctx.engine.connect() as conn:
        merchant_id = db.scalar(conn, """SELECT merchant_id FROM ops.merchant_credit
                                         ORDER BY score LIMIT 1""")

    def card_read() -> None:
        with ctx.engine.connect() as conn:
            credit.rating_card(conn=conn, actor=actor, merchant_id=merchant_id)

    ctx.measure("credit_card_ms", card_read, repeat=15)

    def grade_filter() -> None:
        with ctx.engine.connect() as conn:
            db.fetch_all(conn, """SELECT merchant_id FROM ops.merchant_credit
                                  WHERE effective_grade_rank <= 3 LIMIT 50""")

    ctx.measure("merchant_credit_filter_ms", grade_filter, repeat=15)

    def validation_report(*, keep: bool = False) -> float:
        started = time.perf_counter()
        with ctx.engine.connect() as conn:
            credit.compute_and_store(conn)
            seconds = time.perf_counter() - started
            conn.commit() if keep else conn.rollback()
        return seconds

    runs = [validation_report() for _ in range(3)]
    ctx.report("credit_validation_s", statistics.median(runs), "s", runs=runs)
    validation_report(keep=True)   # the report the validation page reads
