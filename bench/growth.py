"""Growth dashboard speed: every chart's query over the marts, and four questions asked both
ways, over the marts as the page asks them and over the raw app tables (what the dashboard
would cost without the ETL), with the answers asserted equal: a pair whose answers differ
stops the bench (AssertionError), because a speed-up that changes the figures is no speed-up.

Figures: growth_<chart>_ms for every chart (median of 9 runs) and kpi_chart_ms_max (the
slowest; target <= 100 ms at large); growth_raw_<pair>_ms (median of 3) for the raw side of
each pair, kpi_raw_ms_max (the slowest), and growth_raw_over_mart: the smallest raw/mart ratio
over the pairs (each the same question). growth_drop_off_export_ms: the whole drop-off list as
CSV, built only when a manager clicks the download button (not a chart, so not in the max).

First the growth jobs run incrementally (untimed): the marts then hold what is committed, as
the raw tables do, whatever ran since the last ETL run (another area's change sets, a
``--reuse``), and each pair asks both sides about the same rows.
"""
from __future__ import annotations

import math
import sys
import time
from datetime import date, datetime, timedelta

import pandas as pd

from bench import _actors
from console import db
from console.roles import Actor
from console.services import growth
from console.services.growth import GrowthFilters

ACTOR: Actor | None = None   # a manager account of the bench database, set by run()
GROWTH_JOBS = ("funnel_facts", "daily_kpis", "cohort_activity", "supply_demand")
RANGE_DAYS = 180


def _ensure_data(ctx) -> None:
    with ctx.engine.connect() as conn:
        if db.scalar(conn, "SELECT count(*) FROM app.merchants") == 0:
            from console.demo import seed   # the "load" area normally did this already
            seed(engine=ctx.engine, scale=ctx.scale, seed=ctx.seed)
        marts_empty = db.scalar(conn, "SELECT count(*) FROM mart.funnel_facts") == 0
    if marts_empty:                         # the "etl" area normally did this already
        from etl.jobs import JOBS
        from etl.runner import run_job
        for name in GROWTH_JOBS:
            run_job(JOBS[name], engine=ctx.engine, full=True, triggered_by="bench")


def _catch_up(ctx) -> datetime:
    """Bring the growth marts up to what is committed now: an incremental run of each growth
    job, untimed. Without it the pairs compare the marts as of the last ETL run with the raw
    tables as of now, two different questions: an area measured after the etl area (the
    matching area's change sets append logins, ``--reuse growth`` after a whole run) found
    306 more weekly active merchants raw than in the marts, every one of them a merchant
    whose only event of the week was committed after the last run. Returns the clock before
    the runs: a source row changed after it was not seen by them."""
    from etl.jobs import JOBS
    from etl.runner import run_job
    with ctx.engine.connect() as conn:
        before = db.scalar(conn, "SELECT clock_timestamp()")
    started = time.perf_counter()
    for name in GROWTH_JOBS:
        result = run_job(JOBS[name], engine=ctx.engine, triggered_by="bench")
        if result.status != "succeeded":
            raise RuntimeError(f"growth bench: the {name} catch-up run {result.status}: "
                               f"{result.error}")
    print(f"-- growth: marts brought up to date first (incremental runs of "
          f"{', '.join(GROWTH_JOBS)}: {time.perf_counter() - started:.1f} s)",
          file=sys.stderr, flush=True)
    return before


def _changed_since(ctx, moment: datetime) -> list[str]:
    """The growth jobs' sources with a row written after ``moment`` (a writer the catch-up
    runs could not see: a pair that differs then may be that writer, not the marts)."""
    from etl.jobs import JOBS
    tables = sorted({t for name in GROWTH_JOBS for t in JOBS[name].sources})
    with ctx.engine.connect() as conn:
        return [t for t in tables if db.scalar(
            conn, f"SELECT EXISTS (SELECT 1 FROM {t} WHERE updated_at > :m)", m=moment)]


def _filters(ctx) -> GrowthFilters:
    with ctx.engine.connect() as conn:
        last = db.scalar(conn, "SELECT max(day) FROM mart.daily_kpis") or date.today()
    return GrowthFilters(start=last - timedelta(days=RANGE_DAYS), end=last)


def _chart_calls(f: GrowthFilters) -> dict[str, object]:
    tier = GrowthFilters(start=f.start, end=f.end, tiers=(4, 5, 6), merchant_types=("secondary",))
    return {
        "funnel": lambda c: growth.funnel(conn=c, actor=ACTOR, filters=f),
        "funnel_by_province": lambda c: growth.funnel(conn=c, actor=ACTOR, filters=f,
                                                      breakdown="province", window_days=None),
        "drop_offs": lambda c: growth.drop_off_page(conn=c, actor=ACTOR, filters=f,
                                                    step="first_match",
                                                    limit=growth.DROP_OFF_PAGE),
        "kpis_week": lambda c: growth.kpis(conn=c, actor=ACTOR, filters=f, grain="week"),
        "kpis_day": lambda c: growth.kpis(conn=c, actor=ACTOR, filters=f, grain="day"),
        "kpis_week_segment": lambda c: growth.kpis(conn=c, actor=ACTOR, filters=tier, grain="week"),
        "kpis_week_brand": lambda c: growth.kpis(
            conn=c, actor=ACTOR, filters=GrowthFilters(start=f.start, end=f.end, brands=(1, 2, 3)),
            grain="week"),
        "cohorts": lambda c: growth.cohorts(conn=c, actor=ACTOR, filters=f),
        "cohorts_filtered": lambda c: growth.cohorts(conn=c, actor=ACTOR, filters=tier),
        "supply_demand": lambda c: growth.supply_demand(conn=c, actor=ACTOR, filters=f, by="brand"),
        "freshness": lambda c: growth.freshness(conn=c, actor=ACTOR),
    }


# ---------------------------------------------------------------- the same figures, raw
# The listings the marts count: the ETL quarantines a listing its checks find implausible
# (a price outside half to one and a half times the guide: 285 of 1,000,000 on the large
# bench), and every mart leaves it out, with the matches made on it. The raw side states
# the same rule instead of silently differing by those merchants.
_LISTINGS = """(SELECT * FROM app.listings x WHERE NOT EXISTS (
    SELECT 1 FROM etl.excluded_rows q
    WHERE q.source_table = 'app.listings' AND q.row_key = x.id::text))"""

_RAW_FUNNEL_BASE = """
WITH certs AS (
    SELECT merchant_id, min(submitted_at) AS sub,
           min(decided_at) FILTER (WHERE status = 'approved') AS cert
    FROM app.certifications GROUP BY merchant_id
),
posts AS (
    SELECT merchant_id, min(at) AS first_post FROM (
        SELECT merchant_id, published_at AS at FROM """ + _LISTINGS + """ l0
        UNION ALL SELECT merchant_id, created_at FROM app.requests) p GROUP BY merchant_id
),
matches AS (
    SELECT merchant_id, min(created_at) AS first_match FROM (
        SELECT r.merchant_id, mt.created_at FROM ops.matches mt JOIN app.requests r ON r.id = mt.request_id
        UNION ALL
        SELECT l.merchant_id, mt.created_at FROM ops.matches mt
        JOIN """ + _LISTINGS + """ l ON l.id = mt.listing_id
    ) x GROUP BY merchant_id
),
orders AS (
    SELECT merchant_id, min(CASE WHEN deposit_paid_at IS NOT NULL THEN deposit_paid_at
                                 WHEN status = 'completed' THEN completed_at END) AS first_dep,
           min(completed_at) FILTER (WHERE status = 'completed') AS first_deal FROM (
        SELECT buyer_id AS merchant_id, deposit_paid_at, completed_at, status FROM app.orders
        UNION ALL SELECT seller_id, deposit_paid_at, completed_at, status FROM app.orders) o
    GROUP BY merchant_id
),
base AS (
    SELECT m.id AS merchant_id, '' AS grp, m.registered_at AS t1, c.sub AS t2, c.cert AS t3,
           p.first_post AS t4, mt.first_match AS t5, o.first_dep AS t6, o.first_deal AS t7,
           m.registered_at AS e1
    FROM app.merchants m
    LEFT JOIN certs c ON c.merchant_id = m.id LEFT JOIN posts p ON p.merchant_id = m.id
    LEFT JOIN matches mt ON mt.merchant_id = m.id LEFT JOIN orders o ON o.merchant_id = m.id
    WHERE m.registered_at >= CAST(:start AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
      AND m.registered_at < (CAST(:end AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
)"""


# The funnel's definition step by step, per merchant, from its first times t1..t7 (the page
# reads the same moments kept on the mart's rows, migration 091; this side derives them).
_RAW_WINDOW = "make_interval(hours => 24 * CAST(:win AS integer))"


def _latest_of(k: int, alias: str = "b") -> str:
    """The latest of the first times t1..tk: the moment step k is reached, if it is."""
    if k == 1:
        return f"{alias}.t1"
    return "greatest(" + ", ".join(f"{alias}.t{i}" for i in range(1, k + 1)) + ")"


def _raw_steps_reached() -> str:
    """How many steps a merchant (a row s carrying t1..t7) reached in order: step k is reached
    when step k-1 was and t_k lies within the window after the moment of step k-1."""
    missed = [f"WHEN s.t{k} IS NULL OR s.t{k} > {_latest_of(k - 1, 's')} + {_RAW_WINDOW} "
              f"THEN {k - 1}" for k in range(2, len(growth.STEPS) + 1)]
    return f"CASE {' '.join(missed)} ELSE {len(growth.STEPS)} END"


def _raw_funnel_sql() -> str:
    n = len(growth.STEPS)
    moments = ", ".join(f"CASE WHEN b.reached >= {k} THEN {_latest_of(k)} END AS e{k}"
                        for k in range(2, n + 1))
    counts = ", ".join(f"count(e{k}) AS n{k}" for k in range(1, n + 1))
    times = ", ".join(f"percentile_cont(0.5) WITHIN GROUP "
                      f"(ORDER BY extract(epoch FROM e{k} - e{k - 1}) / 3600.0)"
                      for k in range(2, n + 1))
    return f"""{_RAW_FUNNEL_BASE},
        steps AS (SELECT s.*, {_raw_steps_reached()} AS reached FROM base s OFFSET 0),
        reached AS (SELECT b.*, {moments} FROM steps b)
        SELECT {counts}, {times} FROM reached"""


_RAW_KPIS_WEEK = """
WITH bounds AS (   -- whole weeks, the first from its Monday, as the page shows them
    SELECT date_trunc('week', CAST(:start AS date)::timestamp) AT TIME ZONE 'Asia/Shanghai' AS t0,
           (CAST(:end AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t1
),
wau AS (
    SELECT date_trunc('week', e.occurred_at AT TIME ZONE 'Asia/Shanghai') AS w,
           count(DISTINCT e.merchant_id) AS active
    FROM app.events e, bounds b WHERE e.occurred_at >= b.t0 AND e.occurred_at < b.t1 GROUP BY 1
),
regs AS (
    SELECT date_trunc('week', m.registered_at AT TIME ZONE 'Asia/Shanghai') AS w, count(*) AS n
    FROM app.merchants m, bounds b WHERE m.registered_at >= b.t0 AND m.registered_at < b.t1
    GROUP BY 1
),
deals AS (
    SELECT date_trunc('week', o.completed_at AT TIME ZONE 'Asia/Shanghai') AS w, count(*) AS n,
           sum(o.amount) AS gmv, sum(o.fee_amount) AS fees
    FROM app.orders o, bounds b
    WHERE o.status = 'completed' AND o.completed_at >= b.t0 AND o.completed_at < b.t1 GROUP BY 1
),
reqs AS (
    SELECT date_trunc('week', r.created_at AT TIME ZONE 'Asia/Shanghai') AS w, count(*) AS n,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM ops.matches mt WHERE mt.request_id = r.id)) AS matched
    FROM app.requests r, bounds b WHERE r.created_at >= b.t0 AND r.created_at < b.t1 GROUP BY 1
)
SELECT w, wau.active, regs.n AS registrations, deals.n AS deals, deals.gmv, deals.fees,
       reqs.n AS requests, reqs.matched
FROM wau FULL JOIN regs USING (w) FULL JOIN deals USING (w) FULL JOIN reqs USING (w)
ORDER BY w"""

_RAW_COHORTS = """
WITH members AS (   -- registration-month cohorts from the month of :start, as the page
    SELECT id AS merchant_id,
           date_trunc('month', registered_at AT TIME ZONE 'Asia/Shanghai')::date AS cohort_month
    FROM app.merchants
    WHERE registered_at >= date_trunc('month', CAST(:start AS date)::timestamp)
                           AT TIME ZONE 'Asia/Shanghai'
      AND registered_at < (CAST(:end AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
),
sizes AS (SELECT cohort_month, count(*) AS cohort_size FROM members GROUP BY 1),
active AS (
    SELECT DISTINCT merchant_id,
           date_trunc('month', occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS month
    FROM app.events   -- the merchant's own actions (issue 15: not a match or deposit received)
    WHERE event_type IN ('listing_created', 'request_created', 'deal_completed')
       OR (event_type = 'bid_placed' AND coalesce(props ->> 'role', '') <> 'buyer')
       OR (event_type = 'deposit_paid' AND coalesce(props ->> 'role', '') <> 'seller')
)
SELECT m.cohort_month,
       ((extract(year FROM a.month) - extract(year FROM m.cohort_month)) * 12
        + extract(month FROM a.month) - extract(month FROM m.cohort_month))::int AS months_since,
       min(z.cohort_size) AS cohort_size, count(*) AS active_merchants
FROM members m JOIN active a ON a.merchant_id = m.merchant_id AND a.month >= m.cohort_month
JOIN sizes z ON z.cohort_month = m.cohort_month
GROUP BY 1, 2"""

_RAW_SUPPLY_DEMAND = """
WITH supply AS (
    SELECT s.brand_id, count(*) AS listings, sum(l.quantity) AS units
    FROM """ + _LISTINGS + """ l JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series s ON s.id = t.series_id
    JOIN app.merchants m ON m.id = l.merchant_id   -- matchable (issue 15): active merchants
    WHERE l.status = 'live' AND m.status = 'active' GROUP BY 1
),
demand AS (
    SELECT s.brand_id, count(*) AS requests, sum(r.quantity) AS units
    FROM app.requests r JOIN app.series s ON s.id = r.series_id
    JOIN app.merchants m ON m.id = r.merchant_id   -- matchable: active, not past its date
    WHERE r.status = 'open' AND m.status = 'active'
      AND r.needed_by >= (now() AT TIME ZONE 'Asia/Shanghai')::date GROUP BY 1
)
SELECT b.id AS key, b.name, supply.listings, supply.units AS listing_units,
       demand.requests, demand.units AS request_units
FROM app.brands b LEFT JOIN supply ON supply.brand_id = b.id LEFT JOIN demand ON demand.brand_id = b.id
ORDER BY coalesce(supply.listings, 0) + coalesce(demand.requests, 0) DESC"""


def _raw_calls(f: GrowthFilters) -> dict[str, object]:
    p = {"start": f.start, "end": f.end}
    funnel_sql = _raw_funnel_sql()
    return {
        "funnel": lambda c: db.fetch_df(c, funnel_sql, win=growth.DEFAULT_WINDOW_DAYS, **p),
        "kpis_week": lambda c: db.fetch_df(c, _RAW_KPIS_WEEK, **p),
        "cohorts": lambda c: db.fetch_df(c, _RAW_COHORTS, **p),
        "supply_demand": lambda c: db.fetch_df(c, _RAW_SUPPLY_DEMAND),
    }


# ---------------------------------------------------------------- the answers, side by side
# Each pair: (the mart answer as a frame, the raw answer as a frame) with the same columns,
# keyed by the first column(s); counts must be equal, amounts and hours equal to 1e-6.
def _funnel_pair(mart, raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = mart[["step_no", "merchants", "median_hours"]]
    row = raw.iloc[0] if len(raw) else None
    r = pd.DataFrame({
        "step_no": range(1, len(growth.STEPS) + 1),
        "merchants": [row[f"n{k}"] if row is not None else 0
                      for k in range(1, len(growth.STEPS) + 1)],
        "median_hours": [None] + [raw.iloc[0, len(growth.STEPS) + k - 2] if row is not None
                                  else None for k in range(2, len(growth.STEPS) + 1)]})
    return m, r


_KPI_COLUMNS = {"new_registrations": "registrations", "active_merchants": "active",
                "deals_completed": "deals", "gmv": "gmv", "fee_amount": "fees",
                "requests_created": "requests", "requests_with_match": "matched"}


def _kpis_pair(mart, raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = mart.series[["period_start", *_KPI_COLUMNS]]
    r = raw.rename(columns={"w": "period_start", **{v: k for k, v in _KPI_COLUMNS.items()}})
    r = r.assign(period_start=pd.to_datetime(r["period_start"]).dt.date)
    # A week with no figure at all is a row of zeros on the page and no row in the raw query.
    return _with_figures(m), _with_figures(r[["period_start", *_KPI_COLUMNS]])


def _with_figures(frame: pd.DataFrame) -> pd.DataFrame:
    figures = frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").fillna(0)
    return frame[(figures != 0).any(axis=1)]


def _cohorts_pair(mart, raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = ["cohort_month", "months_since", "cohort_size", "active_merchants"]
    m = mart[mart["active_merchants"] > 0][cols]     # the page's grid also shows zero cells
    return m, raw[cols]


def _supply_pair(mart, raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = mart.rename(columns={"live_listings": "listings", "open_requests": "requests"})
    m = m[(m["listings"] > 0) | (m["requests"] > 0)]   # brands with only unmatchable posts
    cols = ["key", "listings", "listing_units", "requests", "request_units"]
    r = raw[(raw["listings"].fillna(0) > 0) | (raw["requests"].fillna(0) > 0)]
    return m[cols], r[cols]


PAIRS = {"funnel": _funnel_pair, "kpis_week": _kpis_pair, "cohorts": _cohorts_pair,
         "supply_demand": _supply_pair}


def _normal(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples, sorted, numbers as floats (NULL and 0 alike: a raw outer join leaves
    NULL where a mart keeps 0), dates as dates."""
    out = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = 0.0
            elif hasattr(v, "date") and not isinstance(v, date):
                v = v.date()
            elif not isinstance(v, (str, date)):
                v = float(v)
            cells.append(v)
        out.append(tuple(cells))
    return sorted(out)


def assert_same_answer(name: str, mart: pd.DataFrame, raw: pd.DataFrame) -> None:
    a, b = _normal(mart), _normal(raw)
    same = len(a) == len(b) and all(
        len(x) == len(y) and all(
            (math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-6) if isinstance(u, float)
             and isinstance(v, float) else u == v) for u, v in zip(x, y))
        for x, y in zip(a, b))
    if not same:
        diff = [(x, y) for x, y in zip(a, b) if x != y][:5]
        raise AssertionError(f"growth {name}: the marts and the raw tables answer differently "
                             f"({len(a)} vs {len(b)} rows; first differences mart/raw: {diff})")


def run(ctx) -> None:
    global ACTOR
    _ensure_data(ctx)
    caught_up = _catch_up(ctx)
    ACTOR = _actors.actor(ctx.engine, "manager")
    filters = _filters(ctx)
    chart_ms: dict[str, float] = {}
    charts = _chart_calls(filters)
    with ctx.engine.connect() as conn:
        for name, call in charts.items():
            chart_ms[name] = ctx.measure(f"growth_{name}_ms",
                                         lambda call=call: call(conn), repeat=9)
        ctx.measure("growth_drop_off_export_ms", lambda: growth.drop_off_export(
            conn=conn, actor=ACTOR, filters=filters, step="first_match"), repeat=5)
        raw_ms: dict[str, float] = {}
        conn.exec_driver_sql("SET statement_timeout = 0")   # raw figures may take long
        for name, call in _raw_calls(filters).items():
            mart, raw = PAIRS[name](charts[name](conn), call(conn))
            try:
                assert_same_answer(name, mart, raw)
            except AssertionError as differ:
                late = _changed_since(ctx, caught_up)
                if late:
                    raise AssertionError(f"{differ}; rows of {', '.join(late)} were written "
                                         "after the catch-up runs began (another writer on "
                                         "the bench database?)") from None
                raise
            raw_ms[name] = ctx.measure(f"growth_raw_{name}_ms",
                                       lambda call=call: call(conn), repeat=3, warmup=0)
        conn.rollback()
    slowest = max(chart_ms, key=chart_ms.get)
    ctx.report("kpi_chart_ms_max", chart_ms[slowest], "ms", note=f"slowest chart: {slowest}")
    ctx.report("kpi_raw_ms_max", max(raw_ms.values()), "ms")
    ratios = {name: raw_ms[name] / chart_ms[name] for name in raw_ms}
    least = min(ratios, key=ratios.get)
    ctx.report("growth_raw_over_mart", ratios[least], "x",
               note="same answers both ways; smallest raw/mart ratio: " + least + " ("
               + ", ".join(f"{n} {r:.0f}x" for n, r in ratios.items()) + ")")
