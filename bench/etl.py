"""ETL speed on the demo world loaded by the "load" area.

- etl_full_s: every job with --full (stage, validate with great-expectations, rebuild marts);
- etl_incremental_s: every job incrementally after 1% of the mutable source rows changed;
- etl_pandas_ratio: the funnel-facts transformation as a pandas read-transform-write round
  trip, divided by the same transformation in SQL (its load steps, rolled back);
- etl_load_avg_1m: the machine's 1-minute load average after the runs (the bench machine is
  shared: read the timings against it).
"""
from __future__ import annotations

import os
import statistics
import time

import pandas as pd
import sqlalchemy as sa

from bench import _changes
from etl import run_all
from etl.jobs import JOBS

RUNS = 3              # every figure is the median of this many runs
CHANGE_PER_MILLE = 10  # the incremental run's change set: 1% of the rows of every source
FIRST_SALT = 10        # rows with id % 1000 in 100..129: none the history's days changed


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _check(results) -> None:
    bad = [(r.job, r.status, r.error) for r in results if r.status != "succeeded"]
    if bad:
        raise RuntimeError(f"ETL bench run failed: {bad}")


def _sql_funnel_seconds(engine) -> float:
    """The funnel transformation alone (no staging or validation), rolled back."""
    job = JOBS["funnel_facts"]
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        conn.execute(sa.text("SELECT set_config('etl.job', 'funnel_facts', true)"))
        for table in job.sources:  # full-run staging: views over the sources
            src = job.source(table)
            conn.execute(sa.text(f"CREATE OR REPLACE VIEW {job.staging(table)} AS "
                                 f"SELECT s.*, ({src.change_expr}) AS _change FROM {table} s"))
        started = time.perf_counter()
        for _, sql in job.steps:
            conn.execute(sa.text(sql), {"run_id": 0, "full": True})
        elapsed = time.perf_counter() - started
        trans.rollback()
    return elapsed


def _pandas_funnel_seconds(engine) -> float:
    """Read the sources into pandas, compute the funnel, write it back (rolled back)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        read = lambda sql: pd.read_sql_query(sa.text(sql), conn)
        merchants = read("""SELECT m.id AS merchant_id, m.registered_at, m.channel, m.merchant_type,
                                   m.size_class, m.city_id, c.province, c.tier_level, c.tier_name,
                                   m.bd_owner_id
                            FROM app.merchants m LEFT JOIN app.cities c ON c.id = m.city_id""")
        certs = read("SELECT merchant_id, submitted_at, decided_at, status FROM app.certifications")
        listings = read("SELECT id, merchant_id, published_at FROM app.listings")
        requests = read("SELECT id, merchant_id, created_at FROM app.requests")
        matches = read("SELECT request_id, listing_id, created_at FROM ops.matches")
        orders = read("SELECT buyer_id, seller_id, deposit_paid_at, completed_at, status FROM app.orders")
        f = merchants.set_index("merchant_id")
        f["cohort_month"] = f["registered_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
        f["cert_submitted_at"] = certs.groupby("merchant_id")["submitted_at"].min()
        f["certified_at"] = certs[certs.status == "approved"].groupby("merchant_id")["decided_at"].min()
        f["first_listing_at"] = listings.groupby("merchant_id")["published_at"].min()
        f["first_request_at"] = requests.groupby("merchant_id")["created_at"].min()
        f["first_post_at"] = f[["first_listing_at", "first_request_at"]].min(axis=1)
        sides = pd.concat([
            matches.merge(requests[["id", "merchant_id"]], left_on="request_id", right_on="id"),
            matches.merge(listings[["id", "merchant_id"]], left_on="listing_id", right_on="id")])
        f["first_match_at"] = sides.groupby("merchant_id")["created_at"].min()
        order_sides = pd.concat([orders.rename(columns={"buyer_id": "merchant_id"}),
                                 orders.rename(columns={"seller_id": "merchant_id"})])
        paid = order_sides["deposit_paid_at"].where(
            order_sides["deposit_paid_at"].notna() | (order_sides.status != "completed"),
            order_sides["completed_at"])          # a deal paid in full: its payment step
        f["first_deposit_at"] = paid.groupby(order_sides["merchant_id"]).min()
        f["first_deal_at"] = order_sides[order_sides.status == "completed"].groupby("merchant_id")["completed_at"].min()
        conn.rollback()  # end the reads' implicit transaction; the write is its own
        trans = conn.begin()
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        f.reset_index().to_sql("bench_funnel_pandas", conn, schema="mart", if_exists="replace",
                               index=False, chunksize=10_000, method="multi")
        elapsed = time.perf_counter() - started
        trans.rollback()
    return elapsed


def run(ctx) -> None:
    fulls = []
    for _ in range(RUNS):
        full_s, results = _timed(lambda: run_all(engine=ctx.engine, full=True, triggered_by="bench"))
        _check(results)
        fulls.append(full_s)
    ctx.report("etl_full_s", statistics.median(fulls), "s", runs=fulls)

    # Each incremental run gets its own change set (a new salt: rows no earlier run touched),
    # events and payments included, committed before the run starts.
    incs, changed = [], {}
    for n in range(RUNS):
        with ctx.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
            changed = _changes.apply(conn, per_mille=CHANGE_PER_MILLE, salt=FIRST_SALT + n)
        inc_s, results = _timed(lambda: run_all(engine=ctx.engine, triggered_by="bench"))
        _check(results)
        incs.append(inc_s)
    ctx.report("etl_incremental_s", statistics.median(incs), "s", runs=incs,
               note="change set per run: " + ", ".join(f"{k} {v:,}" for k, v in changed.items()))
    load_avg = os.getloadavg()[0]

    sqls, pandas = [], []
    for _ in range(RUNS):
        sqls.append(_sql_funnel_seconds(ctx.engine))
        pandas.append(_pandas_funnel_seconds(ctx.engine))
    ratios = [p / q for p, q in zip(pandas, sqls)]
    ctx.report("etl_pandas_ratio", statistics.median(pandas) / statistics.median(sqls), "x",
               runs=ratios)
    ctx.report("etl_load_avg_1m", load_avg, "")
