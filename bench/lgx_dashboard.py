"""The logistics dashboard (issue 20): its mart's rebuild and its page, on a desk's history.

- lgx_load_s: transport orders loaded for the bench when the database holds fewer requests
  than the scale's (large: 100k requests, 200 carriers), set-based SQL in one transaction
  (reported once, when it loads);
- logistics_mart_s: one rebuild of the logistics mart (console/logistics/mart.py), the jobs'
  step, the median of three;
- logistics_dashboard_ms: the dashboard page's data time on a first load through the
  navigation, as a manager (bench/pages.py's DataClock: every connection the run opens), the
  median of its runs; target <= 150 ms at the large scale.

The history: carriers 'BENCH承运商n' with lanes (their home province to and from six others,
both ways) and banded rates on large and small trucks (1.15–2.10 yuan per car-km, small ×
1.6); request g (1…N) between two of the tier 1–3 cities of app.cities, created on one of
the last 365 days (the newest ten days' requests still open, spread over the desk's states,
every 50th older one cancelled before ordering, the rest delivered, every 9th late), 1–4
cars, cost = cars × road km × 1.3 yuan and the merchant's price × 1.08; a settled damage claim
on every 31st delivery, ratings on four in five. No quotes, loads or timeline: the other
logistics areas add what they measure. BENCH_LGX_REQUESTS=n sets N.
"""
from __future__ import annotations

import os
import statistics
import time

from bench import _actors
from console import clock, db
from console.logistics import mart

REQUESTS = {"small": 2_000, "demo": 10_000, "large": 100_000}
CARRIERS = {"small": 20, "demo": 50, "large": 200}

_LOAD = """
INSERT INTO lgx.carriers (name, contact_name, contact_phone, truck_types, cover_per_car)
SELECT 'BENCH承运商' || g, '王师傅', '1380' || lpad(g::text, 7, '0'), ARRAY['large','small'],
       (ARRAY[300000, 500000, 800000, 1000000])[g % 4 + 1]
FROM generate_series(1, :carriers) g
ON CONFLICT (name) DO NOTHING;
CREATE TEMP TABLE bench_provinces ON COMMIT DROP AS
SELECT array_agg(DISTINCT province ORDER BY province) AS a FROM app.cities;
CREATE TEMP TABLE bench_carriers ON COMMIT DROP AS
SELECT id, row_number() OVER (ORDER BY id)::int AS g FROM lgx.carriers
WHERE name LIKE 'BENCH承运商%';
INSERT INTO lgx.carrier_lanes (carrier_id, from_province, to_province)
SELECT DISTINCT c.id, x.f, x.t
FROM bench_carriers c CROSS JOIN bench_provinces p CROSS JOIN generate_series(1, 6) k
CROSS JOIN LATERAL (VALUES
    (p.a[1 + c.g % cardinality(p.a)], p.a[1 + (c.g + k * 7) % cardinality(p.a)]),
    (p.a[1 + (c.g + k * 7) % cardinality(p.a)], p.a[1 + c.g % cardinality(p.a)])) x(f, t)
WHERE x.f <> x.t
ON CONFLICT DO NOTHING;
INSERT INTO lgx.carrier_rates (carrier_id, truck_type, band_from_km, band_to_km,
                               yuan_per_car_km, min_per_car)
SELECT c.id, t.truck, b.lo, b.hi, round(b.rate * t.mult * (0.9 + (c.g % 7) * 0.04), 3), t.low
FROM bench_carriers c
CROSS JOIN (VALUES ('large', 1.0, 500), ('small', 1.6, 800)) t(truck, mult, low)
CROSS JOIN (VALUES (0, 500, 2.10), (500, 1000, 1.65), (1000, 2000, 1.35),
                   (2000, NULL::integer, 1.15)) b(lo, hi, rate)
ON CONFLICT DO NOTHING;
CREATE TEMP TABLE bench_hubs ON COMMIT DROP AS
SELECT array_agg(id ORDER BY tier_level, id) AS a FROM app.cities WHERE tier_level <= 3;
CREATE TEMP TABLE bench_merchants ON COMMIT DROP AS
SELECT array_agg(id ORDER BY id) AS a FROM app.merchants WHERE status = 'active';
CREATE TEMP TABLE bench_requests ON COMMIT DROP AS
WITH g AS (
    SELECT g, :base + g AS n,
           (CAST(:today AS date) - (g * 37 % 365)) AS day,
           1 + g % 4 AS cars,
           (SELECT a FROM bench_hubs) AS hubs
    FROM generate_series(1, :n) g
), lanes AS (
    SELECT g.*, g.hubs[1 + (g.n * 7) % cardinality(g.hubs)] AS f,
           g.hubs[1 + (g.n * 13 + 5 + CASE WHEN (g.n * 7) % cardinality(g.hubs)
                                              = (g.n * 13 + 5) % cardinality(g.hubs)
                                         THEN 1 ELSE 0 END) % cardinality(g.hubs)] AS t
    FROM g
)
SELECT l.g, l.n, l.day, l.cars, l.f, l.t,
       greatest(1, round(CAST(ops.great_circle_km(cf.latitude, cf.longitude, ct.latitude,
                                                  ct.longitude) * 1.25 AS numeric)))::int AS km,
       CASE WHEN l.day > CAST(:today AS date) - 10
            THEN (ARRAY['awaiting_quote','quoted','ordered','picked_up','in_transit',
                        'arrived','exception'])[1 + l.n % 7]
            WHEN l.n % 50 = 0 THEN 'cancelled' ELSE 'delivered' END AS status,
       (SELECT a FROM bench_merchants) AS merchants
FROM lanes l JOIN app.cities cf ON cf.id = l.f JOIN app.cities ct ON ct.id = l.t;
INSERT INTO lgx.requests (merchant_id, source, from_city_id, to_city_id, ready_date, wanted_by,
    declared_value, cars, status, status_before_exception, exception_kind, carrier_id,
    truck_type, price_to_merchant, cost_from_carrier, created_at, ordered_at, picked_up_at,
    delivered_at)
SELECT r.merchants[1 + r.n % cardinality(r.merchants)], 'merchant', r.f, r.t, r.day + 2,
       r.day + 8, 200000 * r.cars, r.cars, r.status,
       CASE WHEN r.status = 'exception' THEN 'in_transit' END,
       CASE WHEN r.status = 'exception' THEN 'delay' END,
       c.id, c.truck, round(c.cost * 1.08, 2), c.cost,
       r.day + time '10:00', c.ordered, c.picked,
       CASE WHEN r.status = 'delivered'
            THEN (r.day + 7 + CASE WHEN r.n % 9 = 0 THEN 3 ELSE 0 END) + time '15:00' END
FROM bench_requests r
CROSS JOIN LATERAL (
    SELECT CASE WHEN carried THEN (SELECT id FROM bench_carriers
                                   WHERE g = 1 + r.n % :carriers) END AS id,
           CASE WHEN carried THEN CASE WHEN r.cars >= 3 THEN 'large' ELSE 'small' END END
               AS truck,
           CASE WHEN carried THEN round(r.cars * r.km * 1.3, 2) END AS cost,
           CASE WHEN carried THEN r.day + time '16:00' END AS ordered,
           CASE WHEN carried AND r.status NOT IN ('ordered') THEN r.day + 2 + time '09:00' END
               AS picked
    FROM (SELECT r.status NOT IN ('awaiting_quote','quoted','cancelled') AS carried) x
) c;
INSERT INTO lgx.request_cars (request_id, trim_id, quantity)
SELECT r.id, (SELECT min(id) FROM app.trims), r.cars FROM lgx.requests r
WHERE NOT EXISTS (SELECT 1 FROM lgx.request_cars rc WHERE rc.request_id = r.id);
INSERT INTO lgx.claims (request_id, carrier_id, kind, amount, cover, evidence_ref, description,
                        status, settled_amount, filed_by, filed_at, decided_by, decided_at)
SELECT r.id, r.carrier_id, 'damage', 3000, k.cover_per_car * r.cars, 'bench://claim',
       'bench', 'settled', 2500, :staff, r.delivered_at + interval '1 day', :staff,
       r.delivered_at + interval '5 days'
FROM lgx.requests r JOIN lgx.carriers k ON k.id = r.carrier_id
WHERE r.status = 'delivered' AND r.id % 31 = 0
  AND NOT EXISTS (SELECT 1 FROM lgx.claims c WHERE c.request_id = r.id);
INSERT INTO lgx.ratings (request_id, merchant_id, carrier_id, stars, complaint, rated_at)
SELECT r.id, r.merchant_id, r.carrier_id, 3 + r.id % 3, r.id % 17 = 0,
       r.delivered_at + interval '1 day'
FROM lgx.requests r
WHERE r.status = 'delivered' AND r.id % 5 <> 0
ON CONFLICT DO NOTHING;
ANALYZE lgx.requests;
ANALYZE lgx.claims;
ANALYZE lgx.ratings
"""


def _target(ctx) -> int:
    return int(os.environ.get("BENCH_LGX_REQUESTS") or REQUESTS[ctx.scale])


def ensure_requests(ctx) -> None:
    """Load the bench's transport requests unless the database holds 90% of the target."""
    target = _target(ctx)
    with ctx.engine.connect() as conn:
        have = db.scalar(conn, "SELECT count(*) FROM lgx.requests")
    if have >= target * 0.9:
        return
    staff = _actors.actor(ctx.engine, "ops").id
    started = time.perf_counter()
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        values = {"n": target - have, "today": clock.today(), "staff": staff, "base": have,
                  "carriers": CARRIERS[ctx.scale]}
        for statement in (s for s in _LOAD.split(";") if s.strip()):
            params = {k: v for k, v in values.items() if f":{k}" in statement}
            db.execute(conn, statement, **params)
        requests = db.scalar(conn, "SELECT count(*) FROM lgx.requests")
        carriers = db.scalar(conn, "SELECT count(*) FROM lgx.carriers")
    ctx.report("lgx_load_s", time.perf_counter() - started, "s",
               note=f"one run: {requests:,} requests, {carriers:,} carriers in the database")


def run(ctx) -> None:
    ensure_requests(ctx)

    def build() -> None:
        with ctx.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            mart.rebuild(conn)

    runs = ctx.samples(build, repeat=3, warmup=0, scale=1.0)
    with ctx.engine.connect() as conn:
        rows = db.scalar(conn, "SELECT count(*) FROM mart.lgx_lane_month")
        orders = db.scalar(conn, "SELECT coalesce(sum(orders), 0) FROM mart.lgx_lane_month")
    ctx.report("logistics_mart_s", statistics.median(runs), "s", runs=runs,
               note=f"{orders:,} orders in {rows:,} lane-month rows")

    import logging

    from bench import pages
    from console.ui import nav
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    spec = next(p for p in nav.PAGES if p.path == "pages/mgr_logistics.py")
    actor = _actors.actor(ctx.engine, "manager")
    with pages.DataClock().installed() as data_clock:
        runs, calls = pages.measure_page(data_clock, actor, spec)
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:3]
    ctx.report("logistics_dashboard_ms", statistics.median(runs), "ms", runs=runs,
               note="as manager; slowest calls: "
                    + ", ".join(f"{c} {ms:.0f} ms" for c, ms in top))
