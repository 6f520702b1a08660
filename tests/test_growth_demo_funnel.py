"""Done-when of issue 15, the funnel: on the demo data, every figure of the growth page's
funnel (merchants per step, in progress, dropped, conversion, median and p90 hours) equals
a computation in plain Python over the raw tables, written from the step definitions in
console/metrics/catalogue.toml rather than from the mart's SQL."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa

from console import clock
from console.freshness import source_freshness
from console.services import growth
from console.services.growth import GrowthFilters
from tests.test_growth_demo_truth import demo  # noqa: F401 - the demo after the real ETL

STEPS = ("registered", "cert_submitted", "certified", "first_post", "first_match",
         "first_deposit", "first_deal")


def _first(times: dict[int, datetime], merchant: int, moment: datetime | None) -> None:
    if moment is not None and (merchant not in times or moment < times[merchant]):
        times[merchant] = moment


def _step_times(conn) -> dict[int, list[datetime | None]]:
    """Per merchant, the first time of each step, from the raw tables."""
    rows = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
    firsts = {s: {} for s in STEPS}
    for mid, at in rows("SELECT id, registered_at FROM app.merchants"):
        firsts["registered"][mid] = at
    for mid, submitted, decided, status in rows(
            "SELECT merchant_id, submitted_at, decided_at, status FROM app.certifications"):
        _first(firsts["cert_submitted"], mid, submitted)
        if status == "approved":
            _first(firsts["certified"], mid, decided)
    for mid, at in rows("SELECT merchant_id, published_at FROM app.listings"):
        _first(firsts["first_post"], mid, at)
    for mid, at in rows("SELECT merchant_id, created_at FROM app.requests"):
        _first(firsts["first_post"], mid, at)
    # A match counts for both sides: the requester and the listing's seller.
    for buyer, seller, at in rows("""
            SELECT r.merchant_id, l.merchant_id, m.created_at FROM ops.matches m
            JOIN app.requests r ON r.id = m.request_id JOIN app.listings l ON l.id = m.listing_id"""):
        _first(firsts["first_match"], buyer, at)
        _first(firsts["first_match"], seller, at)
    for buyer, seller, paid, completed, status in rows(
            "SELECT buyer_id, seller_id, deposit_paid_at, completed_at, status FROM app.orders"):
        for side in (buyer, seller):
            # a deal paid in full without escrow (the stock desk) is its own payment step
            _first(firsts["first_deposit"], side,
                   paid if paid is not None or status != "completed" else completed)
            if status == "completed":
                _first(firsts["first_deal"], side, completed)
    return {m: [firsts[s].get(m) for s in STEPS] for m in firsts["registered"]}


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (what percentile_cont does)."""
    if not values:
        return None
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def expected_funnel(merchants: list[list[datetime | None]], window: timedelta,
                    as_of: datetime) -> list[dict]:
    """Steps in order: step k is reached when step k-1 was and its first time lies within
    the window after the moment step k-1 was reached (the later of the two moments)."""
    reached = [0] * len(STEPS)
    waiting = [0] * len(STEPS)
    hours: list[list[float]] = [[] for _ in STEPS]
    for times in merchants:
        moment = times[0]
        reached[0] += 1
        for k in range(1, len(STEPS)):
            t = times[k]
            if t is None or t > moment + window:
                if moment + window > as_of:
                    waiting[k] += 1
                break
            new = max(moment, t)
            hours[k].append((new - moment).total_seconds() / 3600)
            moment = new
            reached[k] += 1
    out = []
    for k, step in enumerate(STEPS):
        prev = reached[k - 1] if k else reached[0]
        out.append({"step": step, "merchants": reached[k], "in_progress": waiting[k],
                    "dropped": prev - reached[k] - waiting[k],
                    "conv_prev": reached[k] / prev if prev else None,
                    "conv_first": reached[k] / reached[0] if reached[0] else None,
                    "median_hours": _percentile(hours[k], 0.5) if k else None,
                    "p90_hours": _percentile(hours[k], 0.9) if k else None})
    return out


def _close(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)


def test_the_funnel_equals_the_raw_tables_on_the_demo_data(demo):
    engine, actor = demo
    end = clock.today()
    start = end - timedelta(days=179)          # the page's default range
    tz = clock.business_tz()
    lo = datetime(start.year, start.month, start.day, tzinfo=tz)
    hi = datetime(end.year, end.month, end.day, tzinfo=tz) + timedelta(days=1)
    with engine.connect() as conn:
        quarantined = conn.execute(sa.text(
            "SELECT count(*) FROM etl.excluded_rows WHERE job = 'funnel_facts'")).scalar()
        assert quarantined == 0          # else the raw tables and the clean ones differ
        everyone = _step_times(conn)
        cohort = [times for times in everyone.values() if lo <= times[0] < hi]
        newest = source_freshness(conn, ["funnel_facts"])["funnel_facts"].newest_event
        as_of = min(clock.now(), newest)
        for window in (growth.DEFAULT_WINDOW_DAYS, 60):
            table = growth.funnel(conn=conn, actor=actor,
                                  filters=GrowthFilters(start=start, end=end), window_days=window)
            want = expected_funnel(cohort, timedelta(days=window), as_of)
            got = table.to_dict("records")
            assert [r["step"] for r in got] == list(STEPS)
            assert want[0]["merchants"] == len(cohort) > 100
            assert want[-1]["merchants"] > 0       # the demo closes deals inside a window
            diffs = [(w["step"], key, g[key], w[key]) for g, w in zip(got, want)
                     for key in ("merchants", "in_progress", "dropped", "conv_prev",
                                 "conv_first", "median_hours", "p90_hours")
                     if not _close(g[key], w[key])]
            assert diffs == [], (window, diffs)
