"""The growth page's figures computed independently, from the raw tables, as a person would
define them (issue 15): plain SQL over app.* and ops.*, written from the metric catalogue's
definitions (console/metrics/catalogue.toml), never from the ETL's SQL or its kept state.

Used on hand-built data (tests/test_growth_figures.py) and on the demo data
(tests/test_growth_demo_truth.py, also runnable as ``python -m tests.growth_truth``).
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

# Per Shanghai day: every figure of the KPI tab, from the raw tables.
DAILY_TRUTH = """
WITH days AS (
    SELECT g::date AS day,
           g::date::timestamp AT TIME ZONE 'Asia/Shanghai' AS t0,
           (g::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t1
    FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') g
),
first_approval AS (
    SELECT merchant_id, min(decided_at) AS at FROM app.certifications
    WHERE status = 'approved' GROUP BY merchant_id
),
request_outcomes AS (
    SELECT r.id, r.created_at,
           (SELECT min(mt.created_at) FROM ops.matches mt WHERE mt.request_id = r.id) AS first_match,
           EXISTS (SELECT 1 FROM app.orders o
                   WHERE o.request_id = r.id AND o.deposit_paid_at IS NOT NULL) AS deposited
    FROM app.requests r
)
SELECT d.day,
  (SELECT count(*) FROM app.merchants m
   WHERE m.registered_at >= d.t0 AND m.registered_at < d.t1) AS new_registrations,
  (SELECT count(*) FROM first_approval f WHERE f.at >= d.t0 AND f.at < d.t1) AS newly_certified,
  (SELECT count(DISTINCT e.merchant_id) FROM app.events e
   WHERE e.occurred_at >= d.t0 AND e.occurred_at < d.t1) AS active_merchants,
  -- live at the end of the day: published before midnight, and still live or gone off after it
  (SELECT count(*) FROM app.listings l
   WHERE l.published_at < d.t1 AND (l.status = 'live' OR l.updated_at >= d.t1)) AS live_listings,
  (SELECT count(*) FROM app.requests r
   WHERE r.created_at < d.t1 AND (r.status = 'open' OR r.updated_at >= d.t1)) AS open_requests,
  (SELECT count(*) FROM request_outcomes q
   WHERE q.created_at >= d.t0 AND q.created_at < d.t1) AS requests_created,
  (SELECT count(*) FROM request_outcomes q
   WHERE q.created_at >= d.t0 AND q.created_at < d.t1 AND q.first_match IS NOT NULL)
      AS requests_with_match,
  (SELECT count(*) FROM request_outcomes q
   WHERE q.created_at >= d.t0 AND q.created_at < d.t1 AND q.deposited) AS requests_with_deposit,
  (SELECT round(percentile_cont(0.5) WITHIN GROUP (
              ORDER BY extract(epoch FROM q.first_match - q.created_at) / 3600.0)::numeric, 2)
   FROM request_outcomes q
   WHERE q.created_at >= d.t0 AND q.created_at < d.t1 AND q.first_match IS NOT NULL)
      AS median_hours_to_match,
  (SELECT count(*) FROM app.orders o
   WHERE o.status = 'completed' AND o.completed_at >= d.t0 AND o.completed_at < d.t1)
      AS deals_completed,
  (SELECT coalesce(sum(o.amount), 0) FROM app.orders o
   WHERE o.status = 'completed' AND o.completed_at >= d.t0 AND o.completed_at < d.t1) AS gmv,
  (SELECT coalesce(sum(o.fee_amount), 0) FROM app.orders o
   WHERE o.status = 'completed' AND o.completed_at >= d.t0 AND o.completed_at < d.t1)
      AS fee_amount,
  (SELECT coalesce(sum(o.deposit_amount), 0) FROM app.orders o WHERE o.escrow_state = 'held'
   AND o.deposit_paid_at >= d.t0 AND o.deposit_paid_at < d.t1) AS deposit_held,
  (SELECT coalesce(sum(o.deposit_amount), 0) FROM app.orders o WHERE o.escrow_state = 'released'
   AND o.deposit_paid_at >= d.t0 AND o.deposit_paid_at < d.t1) AS deposit_released,
  (SELECT coalesce(sum(o.deposit_amount), 0) FROM app.orders o WHERE o.escrow_state = 'refunded'
   AND o.deposit_paid_at >= d.t0 AND o.deposit_paid_at < d.t1) AS deposit_refunded,
  (SELECT coalesce(sum(o.deposit_amount), 0) FROM app.orders o WHERE o.escrow_state = 'disputed'
   AND o.deposit_paid_at >= d.t0 AND o.deposit_paid_at < d.t1) AS deposit_disputed,
  (SELECT coalesce(sum(p.amount), 0) FROM app.payments p WHERE p.status = 'succeeded'
   AND p.kind IN ('deposit', 'balance') AND p.channel = 'wechat'
   AND p.paid_at >= d.t0 AND p.paid_at < d.t1) AS pay_wechat,
  (SELECT coalesce(sum(p.amount), 0) FROM app.payments p WHERE p.status = 'succeeded'
   AND p.kind IN ('deposit', 'balance') AND p.channel = 'alipay'
   AND p.paid_at >= d.t0 AND p.paid_at < d.t1) AS pay_alipay,
  (SELECT coalesce(sum(p.amount), 0) FROM app.payments p WHERE p.status = 'succeeded'
   AND p.kind IN ('deposit', 'balance') AND p.channel = 'bank'
   AND p.paid_at >= d.t0 AND p.paid_at < d.t1) AS pay_bank
FROM days d
ORDER BY d.day
"""

# Distinct active merchants of a week or a month (not a sum of days).
PERIOD_ACTIVE = """
SELECT count(DISTINCT e.merchant_id) FROM app.events e
WHERE e.occurred_at >= CAST(:p0 AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
  AND e.occurred_at < CAST(:p1 AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
"""
# Median hours to the first match of the requests created in a period.
PERIOD_MEDIAN = """
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY h)::numeric, 2) FROM (
    SELECT extract(epoch FROM (SELECT min(mt.created_at) FROM ops.matches mt
                               WHERE mt.request_id = r.id) - r.created_at) / 3600.0 AS h
    FROM app.requests r
    WHERE r.created_at >= CAST(:p0 AS date)::timestamp AT TIME ZONE 'Asia/Shanghai'
      AND r.created_at < CAST(:p1 AS date)::timestamp AT TIME ZONE 'Asia/Shanghai') x
WHERE h IS NOT NULL
"""

# Retention: a merchant is active in a month when it did something itself: published a
# listing or a request, placed a bid (as the bidder), paid a deposit (as the buyer), or
# completed a deal. A match opened on its post or a deposit it received is not its doing.
COHORT_TRUTH = """
WITH cohorts AS (
    SELECT id AS merchant_id,
           date_trunc('month', registered_at AT TIME ZONE 'Asia/Shanghai')::date AS cohort_month
    FROM app.merchants
),
own AS (
    SELECT DISTINCT e.merchant_id,
           date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS month
    FROM app.events e
    WHERE e.event_type IN ('listing_created', 'request_created', 'deal_completed')
       OR (e.event_type = 'bid_placed' AND coalesce(e.props ->> 'role', '') <> 'buyer')
       OR (e.event_type = 'deposit_paid' AND coalesce(e.props ->> 'role', '') <> 'seller')
)
SELECT c.cohort_month,
       ((extract(year FROM o.month) - extract(year FROM c.cohort_month)) * 12
        + extract(month FROM o.month) - extract(month FROM c.cohort_month))::int AS months_since,
       count(*) AS active
FROM own o JOIN cohorts c USING (merchant_id)
WHERE o.month >= c.cohort_month
GROUP BY 1, 2
"""
COHORT_SIZES = """
SELECT date_trunc('month', registered_at AT TIME ZONE 'Asia/Shanghai')::date AS cohort_month,
       count(*) AS size
FROM app.merchants GROUP BY 1
"""

# Matchable posts now (the milestone, supply and demand): live listings / open requests of
# active merchants; a request not past its needed-by date (Shanghai today).
MATCHABLE_TRUTH = """
SELECT
  (SELECT count(*) FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
   WHERE l.status = 'live' AND m.status = 'active') AS listings,
  (SELECT coalesce(sum(l.quantity), 0) FROM app.listings l
   JOIN app.merchants m ON m.id = l.merchant_id
   WHERE l.status = 'live' AND m.status = 'active') AS listing_units,
  (SELECT count(*) FROM app.requests r JOIN app.merchants m ON m.id = r.merchant_id
   WHERE r.status = 'open' AND m.status = 'active'
     AND r.needed_by >= (now() AT TIME ZONE 'Asia/Shanghai')::date) AS requests,
  (SELECT coalesce(sum(r.quantity), 0) FROM app.requests r
   JOIN app.merchants m ON m.id = r.merchant_id
   WHERE r.status = 'open' AND m.status = 'active'
     AND r.needed_by >= (now() AT TIME ZONE 'Asia/Shanghai')::date) AS request_units,
  (SELECT count(*) FROM app.listings WHERE status = 'live') AS all_listings,
  (SELECT count(*) FROM app.requests WHERE status = 'open') AS all_requests
"""

# New merchants of the last 7 × 24 hours (the home page).
NEW_MERCHANTS_7D = "SELECT count(*) FROM app.merchants WHERE registered_at >= now() - interval '7 days'"

ADDITIVE = ("new_registrations", "newly_certified", "requests_created", "requests_with_match",
            "requests_with_deposit", "deals_completed", "gmv", "fee_amount", "deposit_held",
            "deposit_released", "deposit_refunded", "deposit_disputed", "pay_wechat",
            "pay_alipay", "pay_bank")
SNAPSHOTS = ("live_listings", "open_requests")


def rows(conn, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def daily(conn, start: date, end: date) -> dict[date, dict[str, float | None]]:
    """Every KPI figure per day from the raw tables, with the derived rates."""
    out = {}
    for r in rows(conn, DAILY_TRUTH, start=start, end=end):
        day = r.pop("day")
        out[day] = _derive({k: _f(v) for k, v in r.items()})
    return out


def periods(conn, start: date, end: date, grain: str) -> dict[date, dict[str, float | None]]:
    """Every KPI figure per week (Monday) or month: sums of the days, snapshots of the last
    day, distinct merchants and medians over the whole period."""
    days = daily(conn, _period_start(start, grain), end)
    out: dict[date, dict[str, float | None]] = {}
    for day in sorted(days):
        p = _period_start(day, grain)
        figures = out.setdefault(p, {k: 0.0 for k in ADDITIVE})
        for k in ADDITIVE:
            figures[k] += days[day][k]
        for k in SNAPSHOTS:
            figures[k] = days[day][k]       # the last day of the period seen
    for p, figures in out.items():
        p1 = _next_period(p, grain)
        figures["active_merchants"] = _f(conn.execute(sa.text(PERIOD_ACTIVE), {"p0": p, "p1": p1}).scalar())
        figures["median_hours_to_match"] = _f(conn.execute(sa.text(PERIOD_MEDIAN),
                                                           {"p0": p, "p1": p1}).scalar())
        _derive(figures)
    return out


def cohorts(conn) -> dict[tuple[date, int], tuple[int, int]]:
    """(cohort month, months since) -> (size, merchants active by their own doing)."""
    sizes = {r["cohort_month"]: int(r["size"]) for r in rows(conn, COHORT_SIZES)}
    return {(r["cohort_month"], int(r["months_since"])): (sizes[r["cohort_month"]], int(r["active"]))
            for r in rows(conn, COHORT_TRUTH)}


def matchable(conn) -> dict[str, int]:
    return {k: int(v) for k, v in rows(conn, MATCHABLE_TRUTH)[0].items()}


def _derive(f: dict[str, float | None]) -> dict[str, float | None]:
    f["live_posts"] = f["live_listings"] + f["open_requests"]
    n = f["requests_created"]
    f["match_rate"] = f["requests_with_match"] / n if n else None
    f["deposit_rate"] = f["requests_with_deposit"] / n if n else None
    f["take_rate"] = f["fee_amount"] / f["gmv"] if f["gmv"] and f["fee_amount"] else None
    return f


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _period_start(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(start: date, grain: str) -> date:
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


FIGURES = ADDITIVE + SNAPSHOTS + ("active_merchants", "median_hours_to_match", "live_posts",
                                  "match_rate", "deposit_rate", "take_rate")


def same(a: float | None, b: float | None) -> bool:
    """Equal figures: both missing, or equal to a cent / a rounding of a rate."""
    a = None if a is None or (isinstance(a, float) and math.isnan(a)) else float(a)
    b = None if b is None or (isinstance(b, float) and math.isnan(b)) else float(b)
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)) + 0.005


def compare_series(series, truth: dict[date, dict[str, float | None]],
                   figures=FIGURES) -> list[tuple]:
    """(period, figure, service, truth) for every figure of the service's series that differs
    from the independent computation."""
    out = []
    for rec in series.to_dict("records"):
        want = truth.get(rec["period_start"])
        if want is None:
            out.append((rec["period_start"], "<period>", "present", "missing"))
            continue
        for figure in figures:
            if not same(rec[figure], want[figure]):
                out.append((rec["period_start"], figure, rec[figure], want[figure]))
    return out
