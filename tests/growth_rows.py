"""A small hand-built mart dataset for the growth dashboard, inserted straight into the marts.

Every figure the tests assert is worked out by hand from these rows (see tests/test_growth.py).
Times are Shanghai time (+08).
"""
from __future__ import annotations

import sqlalchemy as sa

# merchant_id, registered_at, cohort_month, channel, type, tier, province,
# cert_submitted, certified, first_post, first_match, first_deposit, first_deal
FUNNEL = [
    # M1 goes all the way: 24h, 24h, 48h, 24h, 48h, 48h between steps.
    (1, "2026-03-01 10:00", "2026-03-01", "bd_visit", "4s", 1, "北京",
     "2026-03-02 10:00", "2026-03-03 10:00", "2026-03-05 10:00", "2026-03-06 10:00",
     "2026-03-08 10:00", "2026-03-10 10:00"),
    # M2 posts BEFORE it is certified (counts at the certification moment, 0h), then is
    # matched 16 days later: outside a 14-day window, inside "any time" (384h).
    (2, "2026-03-02 08:00", "2026-03-01", "organic", "secondary", 3, "江苏",
     "2026-03-02 20:00", "2026-03-04 08:00", "2026-03-03 08:00", "2026-03-20 08:00",
     None, None),
    # M3 submits 20 days after registering (480h): only "any time" counts it.
    (3, "2026-03-10 09:00", "2026-03-01", "bd_visit", "secondary", 3, "江苏",
     "2026-03-30 09:00", "2026-04-01 09:00", None, None, None, None),
    # M4 never submits.
    (4, "2026-03-15 12:00", "2026-03-01", "organic", "4s", 1, "北京",
     None, None, None, None, None, None),
    # M5 submits after 30h, never certified.
    (5, "2026-03-20 00:00", "2026-03-01", "ad", "resource", 5, "河南",
     "2026-03-21 06:00", None, None, None, None, None),
    # M6 registers one hour before the range (Shanghai time): outside.
    (6, "2026-02-28 23:00", "2026-02-01", "referral", "4s", 1, "北京",
     "2026-03-01 01:00", "2026-03-01 02:00", "2026-03-01 03:00", None, None, None),
    # M7 registers half an hour after the range ends: outside.
    (7, "2026-04-01 00:30", "2026-04-01", "bd_visit", "secondary", 3, "江苏",
     None, None, None, None, None, None),
    # M8 registers in the last half hour of the range: inside; never submits.
    (8, "2026-03-31 23:30", "2026-03-01", "partner", "parallel_import", 2, None,
     None, None, None, None, None, None),
]

# merchant_id -> name (what the drop-off list shows)
NAMES = {1: "京一汽车", 2: "苏二车行", 3: "苏三车行", 4: "京四汽车", 5: "豫五资源",
         6: "京六汽车", 7: "苏七车行", 8: "津八平行进口"}

# merchant_id -> months with a listing/request/deal event
ACTIVE_MONTHS = {1: ["2026-03", "2026-04"], 2: ["2026-03", "2026-05"], 3: ["2026-04"],
                 5: ["2026-03"], 6: ["2026-02", "2026-03", "2026-05"], 7: ["2026-04"]}

# cohort_activity as the ETL writes it: only cells with someone active.
COHORT_CELLS = [("2026-02-01", 0, 1, 1), ("2026-02-01", 1, 1, 1), ("2026-02-01", 3, 1, 1),
                ("2026-03-01", 0, 6, 3), ("2026-03-01", 1, 6, 2), ("2026-03-01", 2, 6, 1),
                ("2026-04-01", 0, 1, 1)]

# cohort_activity_segment, worked out from FUNNEL and ACTIVE_MONTHS: (cohort, months since,
# tier, type, size, active). The ETL writes every cell up to the current month; these carry
# every cell someone was active in, and one zero cell for M8's segment (its size).
COHORT_SEGMENT_CELLS = [
    ("2026-02-01", 0, 1, "4s", 1, 1), ("2026-02-01", 1, 1, "4s", 1, 1),   # M6
    ("2026-02-01", 3, 1, "4s", 1, 1),
    ("2026-03-01", 0, 1, "4s", 2, 1), ("2026-03-01", 1, 1, "4s", 2, 1),   # M1 (M4 never)
    ("2026-03-01", 0, 3, "secondary", 2, 1), ("2026-03-01", 1, 3, "secondary", 2, 1),
    ("2026-03-01", 2, 3, "secondary", 2, 1),                               # M2, M3
    ("2026-03-01", 0, 5, "resource", 1, 1),                                # M5
    ("2026-03-01", 0, 2, "parallel_import", 1, 0),                         # M8
    ("2026-04-01", 0, 3, "secondary", 1, 1),                               # M7
]

_KPI_COLS = ("day", "new_registrations", "newly_certified", "live_listings", "open_requests",
             "requests_created", "requests_with_match", "requests_with_deposit",
             "deals_completed", "gmv", "fee_amount", "deposit_held", "deposit_released",
             "deposit_refunded", "deposit_disputed", "pay_wechat", "pay_alipay", "pay_bank",
             "active_merchants")
DAILY_KPIS = [
    ("2026-03-05", 1, 0, 90, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("2026-03-10", 3, 1, 100, 50, 10, 6, 2, 1, 200000, 2000, 10000, 0, 0, 0, 5000, 3000, 2000, 0),
    ("2026-03-12", 2, 2, 120, 60, 10, 4, 1, 2, 300000, 3000, 5000, 10000, 0, 0, 0, 0, 5000, 0),
    ("2026-03-16", 4, 0, 130, 70, 5, 4, 2, 1, 100000, 0, 0, 0, 1000, 500, 1000, 1000, 0, 12),
    ("2026-03-17", 6, 3, 140, 80, 5, 3, 1, 1, 150000, 0, 2000, 3000, 0, 0, 2000, 0, 0, 9),
]
# The same days split over two segments, (tier 1, 4S) and (tier 3, secondary), in the
# columns above after the segment: each column of a day adds up to DAILY_KPIS.
DAILY_KPIS_SEGMENT = [
    ("2026-03-05", 1, "4s", 1, 0, 60, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("2026-03-05", 3, "secondary", 0, 0, 30, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("2026-03-10", 1, "4s", 2, 1, 70, 30, 6, 4, 1, 1, 200000, 2000, 10000, 0, 0, 0, 5000, 0, 2000, 0),
    ("2026-03-10", 3, "secondary", 1, 0, 30, 20, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3000, 0, 0),
    ("2026-03-12", 1, "4s", 1, 1, 80, 35, 4, 1, 0, 1, 100000, 1000, 0, 10000, 0, 0, 0, 0, 5000, 0),
    ("2026-03-12", 3, "secondary", 1, 1, 40, 25, 6, 3, 1, 1, 200000, 2000, 5000, 0, 0, 0, 0, 0, 0, 0),
    ("2026-03-16", 1, "4s", 3, 0, 85, 40, 2, 2, 1, 0, 0, 0, 0, 0, 1000, 0, 1000, 0, 0, 7),
    ("2026-03-16", 3, "secondary", 1, 0, 45, 30, 3, 2, 1, 1, 100000, 0, 0, 0, 0, 500, 0, 1000, 0, 5),
    ("2026-03-17", 1, "4s", 2, 2, 90, 45, 1, 1, 0, 1, 150000, 0, 2000, 3000, 0, 0, 2000, 0, 0, 4),
    ("2026-03-17", 3, "secondary", 4, 1, 50, 35, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5),
]
# day, brand_id, live_listings, open_requests, requests_created, deals_completed, gmv
# (奥迪 1, 比亚迪 2; the snapshots, requests, deals and GMV add up to DAILY_KPIS)
_BRAND_COLS = ("day", "brand_id", "live_listings", "open_requests", "requests_created",
               "deals_completed", "gmv")
DAILY_KPIS_BRAND = [
    ("2026-03-05", 1, 50, 20, 0, 0, 0), ("2026-03-05", 2, 40, 20, 0, 0, 0),
    ("2026-03-10", 1, 60, 30, 3, 1, 200000), ("2026-03-10", 2, 40, 20, 7, 0, 0),
    ("2026-03-12", 1, 70, 35, 2, 1, 100000), ("2026-03-12", 2, 50, 25, 8, 1, 200000),
    ("2026-03-16", 1, 75, 40, 1, 0, 0), ("2026-03-16", 2, 55, 30, 4, 1, 100000),
    ("2026-03-17", 1, 80, 45, 2, 1, 150000), ("2026-03-17", 2, 60, 35, 3, 0, 0),
]
# grain, period_start, active_merchants, median_hours_to_match
KPI_PERIODS = [("week", "2026-03-09", 40, 12.5), ("week", "2026-03-16", 50, 10.0),
               ("month", "2026-03-01", 70, 11.0), ("day", "2026-03-17", 9, 8.0),
               ("day", "2026-03-16", 12, None)]

# brand_id, tier, type, brand_name, tier_name, live_listings, listing_units, open_requests, request_units
SUPPLY_DEMAND = [(1, 1, "4s", "奥迪", "一线", 10, 20, 5, 8),
                 (1, 3, "secondary", "奥迪", "二线", 4, 4, 6, 12),
                 (2, 3, "4s", "比亚迪", "二线", 3, 3, 9, 20),
                 (2, 5, "resource", "比亚迪", "四线", 1, 2, 0, 0)]


def _ts(value: str | None) -> str | None:
    return None if value is None else f"{value}:00+08"


def insert_funnel(conn, bd_owner_id: int | None = None) -> None:
    for row in FUNNEL:
        (mid, reg, cohort, channel, mtype, tier, province, sub, cert, post, match, dep, deal) = row
        conn.execute(sa.text("""
            INSERT INTO mart.funnel_facts (merchant_id, merchant_name, registered_at, cohort_month, channel,
                merchant_type, size_class, province, tier_level, tier_name, bd_owner_id,
                cert_submitted_at, certified_at, first_post_at, first_match_at,
                first_deposit_at, first_deal_at, computed_at)
            VALUES (:mid, :name, :reg, :cohort, :channel, :mtype, 'small', :province, :tier, 'x', :bd,
                    :sub, :cert, :post, :match, :dep, :deal, '2026-04-06 09:00+08')"""),
            {"mid": mid, "name": NAMES[mid], "reg": _ts(reg), "cohort": cohort, "channel": channel, "mtype": mtype,
             "province": province, "tier": tier, "bd": bd_owner_id if mid == 2 else None,
             "sub": _ts(sub), "cert": _ts(cert), "post": _ts(post), "match": _ts(match),
             "dep": _ts(dep), "deal": _ts(deal)})


def insert_cohorts(conn) -> None:
    for mid, months in ACTIVE_MONTHS.items():
        for month in months:
            conn.execute(sa.text("INSERT INTO mart.merchant_active_months VALUES (:m, :month)"),
                         {"m": mid, "month": f"{month}-01"})
    for cohort, since, size, active in COHORT_CELLS:
        conn.execute(sa.text("""
            INSERT INTO mart.cohort_activity (cohort_month, months_since, cohort_size,
                active_merchants, retention, computed_at)
            VALUES (:c, :s, :n, :a, CAST(:a AS numeric) / :n, '2026-04-06 08:00+08')"""),
            {"c": cohort, "s": since, "n": size, "a": active})
    for cohort, since, tier, mtype, size, active in COHORT_SEGMENT_CELLS:
        conn.execute(sa.text("""
            INSERT INTO mart.cohort_activity_segment (cohort_month, months_since, tier_level,
                merchant_type, cohort_size, active_merchants, computed_at)
            VALUES (:c, :s, :t, :m, :n, :a, '2026-04-06 08:00+08')"""),
            {"c": cohort, "s": since, "t": tier, "m": mtype, "n": size, "a": active})


def insert_kpis(conn) -> None:
    cols = ", ".join(_KPI_COLS)
    marks = ", ".join(f":{c}" for c in _KPI_COLS)
    for row in DAILY_KPIS:
        conn.execute(sa.text(f"INSERT INTO mart.daily_kpis ({cols}) VALUES ({marks})"),
                     dict(zip(_KPI_COLS, row)))
    seg_cols = ("day", "tier_level", "merchant_type", *_KPI_COLS[1:])
    for row in DAILY_KPIS_SEGMENT:
        conn.execute(sa.text(f"""INSERT INTO mart.daily_kpis_segment ({", ".join(seg_cols)})
                                 VALUES ({", ".join(f":{c}" for c in seg_cols)})"""),
                     dict(zip(seg_cols, row)))
    for row in DAILY_KPIS_BRAND:
        conn.execute(sa.text(f"""INSERT INTO mart.daily_kpis_brand ({", ".join(_BRAND_COLS)})
                                 VALUES ({", ".join(f":{c}" for c in _BRAND_COLS)})"""),
                     dict(zip(_BRAND_COLS, row)))
    for grain, start, active, median in KPI_PERIODS:
        conn.execute(sa.text("""
            INSERT INTO mart.kpi_periods (grain, period_start, active_merchants,
                                          median_hours_to_match)
            VALUES (:g, :p, :a, :m)"""), {"g": grain, "p": start, "a": active, "m": median})


# Posts that are live / open but not matchable (suspended merchant, request past its date),
# per (brand, tier, type): listings, listing units, requests, request units on top of the
# matchable ones above.
NOT_MATCHABLE = {(1, 1, "4s"): (2, 3, 1, 2)}


def insert_supply_demand(conn) -> None:
    for row in SUPPLY_DEMAND:
        extra = NOT_MATCHABLE.get(row[:3], (0, 0, 0, 0))
        conn.execute(sa.text("""
            INSERT INTO mart.supply_demand (brand_id, tier_level, merchant_type, brand_name,
                tier_name, matchable_listings, matchable_listing_units, matchable_requests,
                matchable_request_units, live_listings, listing_units, open_requests,
                request_units, computed_at)
            VALUES (:b, :t, :m, :bn, :tn, :ll, :lu, :orq, :ru, :ll + :xl, :lu + :xlu,
                    :orq + :xr, :ru + :xru, '2026-04-06 07:00+08')"""),
            dict(zip(("b", "t", "m", "bn", "tn", "ll", "lu", "orq", "ru"), row),
                 xl=extra[0], xlu=extra[1], xr=extra[2], xru=extra[3]))


def insert_all(engine, bd_owner_id: int | None = None) -> None:
    with engine.begin() as conn:
        insert_funnel(conn, bd_owner_id)
        insert_cohorts(conn)
        insert_kpis(conn)
        insert_supply_demand(conn)


def log_run(conn, *, job: str, marts: list[str], status: str, finished: str,
            checks: list[bool] = ()) -> int:
    """One etl.runs row (and its validation results) as the ETL would write it."""
    run_id = conn.execute(sa.text("""
        INSERT INTO etl.runs (job, started_at, finished_at, status, marts)
        VALUES (:job, CAST(:fin AS timestamptz) - interval '5 minutes', :fin, :status, :marts)
        RETURNING id"""), {"job": job, "fin": f"{finished}:00+08", "status": status,
                           "marts": marts}).scalar_one()
    for i, ok in enumerate(checks):
        conn.execute(sa.text("""
            INSERT INTO etl.validation_results (run_id, job, suite, expectation,
                expectation_type, source_table, severity, success)
            VALUES (:r, :job, :job, :e, 'expect_x', 'app.x', 'warn', :ok)"""),
            {"r": run_id, "job": job, "e": f"check_{i}", "ok": ok})
    return run_id
