"""Loading the demo world, then a month of production history on it.

- load_<scale>_s: wall time of console.demo.seed at the chosen scale (generation + COPY +
  sequences + ANALYZE), which also fills the database every later area measures;
- load_rows_per_s: rows written per second over that time;
- pg_generate_rows_per_s: INSERT … SELECT … FROM generate_series into a temporary table
  as wide as app.listings (ids, text, money, timestamps): the machine's physical reference;
- history_s: a month of the platform's scheduled work on top of the seed, because a fresh
  seed flatters every query that reads what jobs accumulate (issue 13: the car-source search
  timed out once a second credit run existed). HISTORY_DAYS days, each: a change set of the
  day's activity (bench/_changes.py, 0.2% of the rows), an ETL run (the first one --full,
  the marts are empty after a seed), overrides proposed, approved, rejected (some already
  past their expiry) and a credit scoring run (which sweeps the expired overrides first).

The areas after this one measure that database. With --reuse, whatever part is missing
(the seed, the history) is done and the rest kept.
"""
from __future__ import annotations

import statistics
import sys
import time

import sqlalchemy as sa

from bench import _changes
from console import db
from console.credit import engine as credit_engine
from console.credit.scorecard import DEFAULT_CONFIG, load
from console.demo import seed

GENERATE_ROWS = {"small": 100_000, "demo": 300_000, "large": 1_000_000}
HISTORY_DAYS = 30
DAILY_PER_MILLE = 2            # a day's activity: 0.2% of the rows of each source
OVERRIDES_PER_DAY = 15         # proposals a day; 10 approved, 3 rejected, 2 left open


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


# ---------------------------------------------------------------- a month of history
def risk_officers(engine) -> tuple[int, int]:
    """Two risk officers (four eyes): the seed's, or bench accounts."""
    with engine.begin() as conn:
        ids = [r["id"] for r in db.fetch_all(conn, """
            SELECT id FROM ops.staff WHERE 'risk' = ANY (roles) AND is_active
            ORDER BY id LIMIT 2""")]
        for n in range(len(ids), 2):
            ids.append(db.scalar(conn, """
                INSERT INTO ops.staff (username, display_name, password_hash, roles)
                VALUES (:u, 'BENCH', 'x', ARRAY['risk']) RETURNING id""", u=f"bench_risk{n}"))
    return ids[0], ids[1]


# One day's override decisions over merchants of the latest run (a different slice each
# day): made `age` days ago, holding 7 to 56 days, so the older ones are past their expiry
# and the next scoring run's sweep marks them expired.
_OVERRIDES_SQL = """
WITH picked AS (
    SELECT s.merchant_id, s.grade, row_number() OVER (ORDER BY s.merchant_id) AS n
    FROM ops.credit_scores s
    WHERE s.run_id = :run AND s.merchant_id % 997 = :day
      AND NOT EXISTS (SELECT 1 FROM ops.credit_overrides o
                      WHERE o.merchant_id = s.merchant_id AND o.status = 'proposed')
    ORDER BY s.merchant_id LIMIT :n
), made AS (
    SELECT p.*, now() - make_interval(days => :age) + make_interval(mins => p.n::int) AS at,
           CASE WHEN p.n <= 10 THEN 'approved' WHEN p.n <= 13 THEN 'rejected'
                ELSE 'proposed' END AS status,
           (ARRAY['AAA','AA','A','BBB','BB','B','C'])[1 + (p.merchant_id + 3) % 7] AS new_grade
    FROM picked p
)
INSERT INTO ops.credit_overrides (merchant_id, run_id, from_grade, new_grade, reason_code,
                                  reason, expires_at, status, proposed_by, proposed_at,
                                  approved_by, rejected_by, decided_at, decision_note)
SELECT merchant_id, :run, grade, new_grade, 'guarantee', '担保函 (bench)',
       at + make_interval(days => 7 + (merchant_id % 50)::int), status, :a, at,
       CASE WHEN status = 'approved' THEN :b END, CASE WHEN status = 'rejected' THEN :b END,
       CASE WHEN status <> 'proposed' THEN at + interval '2 hours' END,
       CASE WHEN status = 'rejected' THEN '不足 (bench)' END
FROM made
WHERE new_grade <> grade
"""


def _history_day(engine, card, day: int, officers: tuple[int, int]) -> None:
    from etl import run_all
    if day > 1:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
            _changes.apply(conn, per_mille=DAILY_PER_MILLE, salt=500 + day)
    results = run_all(engine=engine, full=day == 1, triggered_by="bench-history")
    failed = [(r.job, r.error) for r in results if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"history day {day}: ETL failed: {failed}")
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        last_run = db.scalar(conn, """SELECT max(id) FROM ops.credit_runs
                                      WHERE status = 'succeeded'""")
        if last_run is not None:
            db.execute(conn, _OVERRIDES_SQL, run=last_run, day=day, n=OVERRIDES_PER_DAY,
                       age=HISTORY_DAYS - day, a=officers[0], b=officers[1])
        credit_engine.expire_due_overrides(conn)
        credit_engine.score_all(conn, card)


def history_exists(engine) -> bool:
    with engine.connect() as conn:
        return db.scalar(conn, """SELECT count(*) FROM ops.credit_runs
                                  WHERE status = 'succeeded'""") >= HISTORY_DAYS


def build_history(engine) -> float:
    """HISTORY_DAYS days of scheduled work; seconds taken."""
    started = time.perf_counter()
    card = load(DEFAULT_CONFIG)
    officers = risk_officers(engine)
    for day in range(1, HISTORY_DAYS + 1):
        day_started = time.perf_counter()
        _history_day(engine, card, day, officers)
        print(f"  history day {day:>2}/{HISTORY_DAYS}: {time.perf_counter() - day_started:5.1f} s",
              file=sys.stderr, flush=True)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
        conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


def run(ctx) -> None:
    with ctx.engine.connect() as conn:
        seeded = bool(db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM app.merchants)"))
    if not seeded:
        report = seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed, progress=True)
        # The load and the history are set-up, done once: one run each, said so.
        ctx.report(f"load_{ctx.scale}_s", report.seconds, "s", note="one run: the load itself")
        ctx.report("load_rows_per_s", report.total_rows / report.seconds, "rows/s",
                   note="one run: the load itself")
        rates = [pg_generate_rate(ctx.engine, GENERATE_ROWS[ctx.scale]) for _ in range(3)]
        ctx.report("pg_generate_rows_per_s", statistics.median(rates), "rows/s", runs=rates)
    if not history_exists(ctx.engine):
        ctx.report("history_s", build_history(ctx.engine), "s",
                   note=f"one run: {HISTORY_DAYS} days of jobs")
