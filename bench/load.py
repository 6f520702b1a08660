"""Loading the demo world: our COPY pipeline against PostgreSQL's own generate_series rate.

- load_<scale>_s: wall time of console.demo.seed at the chosen scale (generation + COPY +
  sequences + ANALYZE), which also fills the database every later area measures;
- load_rows_per_s: rows written per second over that time;
- pg_generate_rows_per_s: INSERT … SELECT … FROM generate_series into a temporary table
  as wide as app.listings (ids, text, money, timestamps): the machine's physical reference.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

from console.demo import seed

GENERATE_ROWS = {"small": 100_000, "demo": 300_000, "large": 1_000_000}


def pg_generate_rate(engine, rows: int) -> float:
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        conn.execute(sa.text(
            """CREATE TEMP TABLE bench_generate (
                   id bigint, merchant_id bigint, trim_id integer, exterior_color text,
                   interior_color text, quantity integer, city_id integer, price numeric(14,2),
                   guide_price numeric(14,2), available_from date, vin text, status text,
                   published_at timestamptz, updated_at timestamptz) ON COMMIT DROP"""))
        started = time.perf_counter()
        conn.execute(sa.text(
            """INSERT INTO bench_generate
               SELECT g, g % 50000 + 1, g % 4000 + 1, '白色', '黑色', 1 + g % 3, g % 337 + 1,
                      100000 + g % 900000, 110000 + g % 900000, DATE '2026-01-01' + g % 300,
                      CASE WHEN g % 5 < 2 THEN md5(g::text) END, 'live',
                      TIMESTAMPTZ '2026-01-01' + g * interval '1 second', now()
               FROM generate_series(1, :n) AS g"""), {"n": rows})
        elapsed = time.perf_counter() - started
    return rows / elapsed


def run(ctx) -> None:
    report = seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed, progress=True)
    ctx.report(f"load_{ctx.scale}_s", report.seconds, "s")
    ctx.report("load_rows_per_s", report.total_rows / report.seconds, "rows/s")
    ctx.report("pg_generate_rows_per_s", pg_generate_rate(ctx.engine, GENERATE_ROWS[ctx.scale]), "rows/s")
