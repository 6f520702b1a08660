"""The logistics desk's quotes and loads (issue 20), on the desk's history of bench/lgx_dashboard.py
(large: 100k requests, 200 carriers with lanes and banded rates).

- logistics_quotes_ms: the quotes of one request waiting for a quote, as the request page's
  panel reads them (console/logistics/quotes.py request_quotes, through its role gate: the
  lane's active carriers and rates, every estimate, the carriers' scores, the lane's 90-day
  median per car-km, the quotes recorded), the median of five runs; target <= 150 ms.
- logistics_load_proposals_s: the load proposals for one day with 2,000 open requests that
  can leave on it (console/logistics/loads.py proposals: candidates, cities, carriers of their
  lanes, the grouping and the savings), the median of three runs; target <= 5 s.

What it adds to the history (once; kept by --reuse): a booked quote for every carried request
that has none (its cost per car at its road km, recorded when it was ordered: the lane medians
read them), and 2,000 requests waiting for a quote between the tier 1–3 cities of app.cities,
ready the day before the measured day (30 days ahead, clear of the history's windows) and
wanted five days after it, 1–4 cars.
"""
from __future__ import annotations

import statistics
from datetime import timedelta

from bench import _actors, lgx_dashboard
from console import clock, db
from console.logistics import loads, quotes

OPEN_REQUESTS = 2_000
AHEAD_DAYS = 30

_QUOTES = """
INSERT INTO lgx.quotes (request_id, carrier_id, truck_type, kind, distance_km, price_per_car,
                        total, transit_days, recorded_at)
SELECT r.id, r.carrier_id, r.truck_type, 'estimate', x.km,
       round(r.cost_from_carrier / r.cars, 2), r.cost_from_carrier,
       least(60, ceil(x.km / 550.0)::int + 2), r.ordered_at
FROM lgx.requests r
JOIN app.cities cf ON cf.id = r.from_city_id
JOIN app.cities ct ON ct.id = r.to_city_id
CROSS JOIN LATERAL (SELECT greatest(1, round(CAST(ops.great_circle_km(
        cf.latitude, cf.longitude, ct.latitude, ct.longitude) * 1.25 AS numeric)))::int AS km) x
WHERE r.carrier_id IS NOT NULL AND r.cost_from_carrier > 0
  AND NOT EXISTS (SELECT 1 FROM lgx.quotes q WHERE q.request_id = r.id);
ANALYZE lgx.quotes
"""

_OPEN = """
WITH hubs AS (SELECT array_agg(id ORDER BY tier_level, id) AS a FROM app.cities
              WHERE tier_level <= 3),
     m AS (SELECT array_agg(id ORDER BY id) AS a FROM app.merchants WHERE status = 'active'),
     g AS (SELECT g, h.a AS hubs, m.a AS merchants FROM generate_series(1, :n) g, hubs h, m)
INSERT INTO lgx.requests (merchant_id, source, from_city_id, to_city_id, ready_date, wanted_by,
                          declared_value, cars)
SELECT merchants[1 + g % cardinality(merchants)], 'merchant', f, t, :ready, :wanted,
       200000 * (1 + g % 4), 1 + g % 4
FROM (SELECT g.*, hubs[1 + (g * 7) % cardinality(hubs)] AS f,
             hubs[1 + (g * 13 + 5 + CASE WHEN (g * 7) % cardinality(hubs)
                                             = (g * 13 + 5) % cardinality(hubs)
                                        THEN 1 ELSE 0 END) % cardinality(hubs)] AS t
      FROM g) x;
INSERT INTO lgx.request_cars (request_id, trim_id, quantity)
SELECT r.id, (SELECT min(id) FROM app.trims), r.cars FROM lgx.requests r
WHERE NOT EXISTS (SELECT 1 FROM lgx.request_cars rc WHERE rc.request_id = r.id);
ANALYZE lgx.requests
"""

_CANDIDATES = """
SELECT count(*) FROM lgx.requests
WHERE status IN ('awaiting_quote', 'quoted', 'ordered') AND load_id IS NULL
  AND ready_date <= :day AND wanted_by >= :day"""


def _run_sql(ctx, sql: str, **values) -> None:
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        for statement in (s for s in sql.split(";") if s.strip()):
            db.execute(conn, statement, **{k: v for k, v in values.items() if f":{k}" in statement})


def run(ctx) -> None:
    lgx_dashboard.ensure_requests(ctx)
    _run_sql(ctx, _QUOTES)
    day = clock.today() + timedelta(days=AHEAD_DAYS)
    with ctx.engine.connect() as conn:
        have = db.scalar(conn, _CANDIDATES, day=day)
    if have < OPEN_REQUESTS:
        _run_sql(ctx, _OPEN, n=OPEN_REQUESTS - have, ready=day - timedelta(days=1),
                 wanted=day + timedelta(days=5))
    ops = _actors.actor(ctx.engine, "ops")

    with ctx.engine.connect() as conn:
        # the open request whose lane the most active carriers serve: the panel's worst case
        request_id = db.scalar(conn, """
            SELECT r.id FROM lgx.requests r
            JOIN app.cities fc ON fc.id = r.from_city_id
            JOIN app.cities tc ON tc.id = r.to_city_id
            JOIN lgx.carrier_lanes l ON l.from_province = fc.province
                                    AND l.to_province = tc.province AND l.active
            JOIN lgx.carriers c ON c.id = l.carrier_id AND c.status = 'active'
            WHERE r.status = 'awaiting_quote' AND r.ready_date < :day
            GROUP BY r.id ORDER BY count(*) DESC, r.id LIMIT 1""", day=day)
        candidates = db.scalar(conn, _CANDIDATES, day=day)

    shown = {}

    def quotes_of_one() -> None:
        with ctx.engine.connect() as conn:
            view = quotes.request_quotes(conn=conn, actor=ops, request_id=request_id)
        shown["estimates"] = len(view.estimates)

    runs = ctx.samples(quotes_of_one, repeat=5)
    ctx.report("logistics_quotes_ms", statistics.median(runs), "ms", runs=runs,
               note=f"request #{request_id}: {shown['estimates']} estimates")

    def proposals_of_the_day() -> None:
        with ctx.engine.connect() as conn:
            shown["proposals"] = loads.proposals(conn=conn, actor=ops, day=day)

    runs = ctx.samples(proposals_of_the_day, repeat=3, warmup=0, scale=1.0)
    found = shown["proposals"]
    ctx.report("logistics_load_proposals_s", statistics.median(runs), "s", runs=runs,
               note=f"{candidates:,} requests can leave on the day; {len(found):,} proposals "
                    f"of {sum(len(p.members) for p in found):,} requests")
