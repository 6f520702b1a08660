"""Growth dashboard: funnel, KPIs, cohort retention, supply/demand balance, chart freshness.

Reads the ETL's marts (``mart.*``) and the run log behind ``mart.freshness`` only, never the
raw marketplace tables: over the marts a chart costs milliseconds, over app.events seconds.
(The drop-off list names each merchant's BD owner from ops.staff, a small staff directory.)

Definitions the numbers follow (the tests compute them by hand the same way):

- Funnel steps are ordered. A merchant reaches step k when it reached step k-1 and its
  first time at step k lies within the conversion window after the moment it reached step
  k-1 (the window is applied step to step; ``None`` = any time). A step whose first time
  came *before* the previous step (posted a listing before certification) counts as reached
  at the previous step's moment: the merchant did not drop off there.
- Time between steps is measured between those moments; median and p90 are PostgreSQL's
  ``percentile_cont`` (linear interpolation), in hours.
- KPI periods are calendar day / ISO week (Monday) / month in Shanghai time. Additive daily
  figures are summed; end-of-day snapshots (live listings, open requests) take the period's
  last day; distinct and median figures come from ``mart.kpi_periods`` at the same grain.
- KPIs follow the page filters through the ETL's segmented marts: with a tier or merchant
  type, ``mart.daily_kpis_segment`` (order figures count to the buyer's segment); with a
  brand, ``mart.daily_kpis_brand`` (posts, deals and GMV only; tier and type do not narrow
  it). Summed over every segment they equal the platform-wide ``mart.daily_kpis``. What a
  filtered mart cannot give (a week's distinct merchants, medians) is reported unavailable.
- Every figure is defined once in the metric catalogue (console/metrics/catalogue.toml): its
  name, definition, grain, side of the trade and maturity. A period younger than a figure's
  maturity (match rate: requests created in the last 14 days are still being matched) is
  immature: flagged per figure in the series (``<metric>_immature``) and never compared.
- A period with no active merchant reads 0 (``mart.kpi_periods`` has no row for a period
  without events); a rate over no requests has no figure.
- Supply and demand and the milestone count matchable posts (active merchant, live / open,
  a request not past its needed-by date); the totals of every live / open post come along.
- The funnel counts members still inside their window at a step apart (``in_progress``):
  they may convert, so ``dropped`` leaves them out.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db
from console import metrics as catalogue
from console.errors import InvalidInput
from console.exports import audited_csv
from console.freshness import job_of_mart, source_freshness
from console.i18n import translate
from console.roles import Actor, requires

READERS = ("manager", "bd")          # managers; BD leads read it to see where to push
MILESTONE_POSTS = 10_000              # live listings + open requests the business aims for
DEFAULT_WINDOW_DAYS = 14              # PostHog's default conversion window
MERCHANT_TYPES = ("4s", "secondary", "resource", "parallel_import")
TIERS = (1, 2, 3, 4, 5, 6)
GRAINS = ("day", "week", "month")

# Funnel steps in order, with the funnel_facts column holding the first time of each.
STEPS: tuple[tuple[str, str], ...] = (
    ("registered", "registered_at"),
    ("cert_submitted", "cert_submitted_at"),
    ("certified", "certified_at"),
    ("first_post", "first_post_at"),
    ("first_match", "first_match_at"),
    ("first_deposit", "first_deposit_at"),
    ("first_deal", "first_deal_at"),
)
STEP_NAMES = tuple(name for name, _ in STEPS)

# Breakdown name -> SQL expression over funnel_facts f (names from code, never from input).
BREAKDOWNS: dict[str, str] = {
    "channel": "f.channel",
    "merchant_type": "f.merchant_type",
    "tier": "f.tier_level::text",
    "province": "f.province",
    "cohort_month": "to_char(f.cohort_month, 'YYYY-MM')",
}

# Which marts feed which chart (what its freshness badge speaks for).
CHART_MARTS: dict[str, tuple[str, ...]] = {
    "funnel": ("funnel_facts",),
    "kpis": ("daily_kpis", "kpi_periods", "daily_kpis_segment", "daily_kpis_brand"),
    "cohorts": ("cohort_activity", "cohort_activity_segment", "merchant_active_months"),
    "supply_demand": ("supply_demand",),
}
# Marts carrying computed_at, for a freshness stamp even before a run is logged.
_STAMPED = {"funnel_facts", "daily_kpis", "kpi_periods", "cohort_activity", "supply_demand",
            "daily_kpis_segment", "daily_kpis_brand", "cohort_activity_segment"}


# ---------------------------------------------------------------- filters
@dataclass(frozen=True, kw_only=True)
class GrowthFilters:
    """The page-wide filters. Empty tuples mean "all"."""

    start: date
    end: date
    tiers: tuple[int, ...] = ()
    merchant_types: tuple[str, ...] = ()
    brands: tuple[int, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "tiers": list(self.tiers),
                "types": list(self.merchant_types), "brands": list(self.brands)}

    def describe(self, lang: str) -> list[tuple[str, str]]:
        """(label, value) pairs a reader of a funnel export needs to know what it shows
        (the brand filter does not apply to merchants, so it is not listed)."""
        def tr(key: str) -> str:
            return translate(key, lang)
        all_ = tr("growth.filter.all")
        return [
            (tr("growth.filter.date_range"), f"{self.start.isoformat()} ~ {self.end.isoformat()}"),
            (tr("growth.filter.tier"),
             "、".join(tr(f"enum.tier.{t}") for t in self.tiers) or all_),
            (tr("growth.filter.merchant_type"),
             "、".join(tr(f"enum.merchant_type.{m}") for m in self.merchant_types) or all_),
        ]


def check_filters(filters: GrowthFilters) -> GrowthFilters:
    """Refuse forged or impossible filter values before any query runs."""
    if not isinstance(filters, GrowthFilters):
        raise InvalidInput("growth.error.bad_filter")
    if filters.start > filters.end:
        raise InvalidInput("growth.error.date_order")
    if any(t not in TIERS for t in filters.tiers):
        raise InvalidInput("growth.error.bad_filter")
    if any(m not in MERCHANT_TYPES for m in filters.merchant_types):
        raise InvalidInput("growth.error.bad_filter")
    if any(not isinstance(b, int) or isinstance(b, bool) for b in filters.brands):
        raise InvalidInput("growth.error.bad_filter")
    return filters


def _check_window(window_days: int | None) -> int | None:
    if window_days is None:
        return None
    if isinstance(window_days, bool) or not isinstance(window_days, int) or not 1 <= window_days <= 365:
        raise InvalidInput("growth.error.bad_window")
    return window_days


# Filter predicates over funnel_facts f; empty arrays mean "no restriction".
_FUNNEL_FILTERS = """
    (cardinality(CAST(:tiers AS smallint[])) = 0 OR f.tier_level = ANY(CAST(:tiers AS smallint[])))
    AND (cardinality(CAST(:types AS text[])) = 0 OR f.merchant_type = ANY(CAST(:types AS text[])))
"""
_ENTRY_RANGE = """
    f.registered_at >= (CAST(:start AS date)::timestamp AT TIME ZONE 'Asia/Shanghai')
    AND f.registered_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
"""


@requires(*READERS, replica=True)
def filter_options(*, conn: Connection, actor: Actor) -> dict[str, Any]:
    """What the filter widgets offer: brands present in the supply/demand mart and the
    span of days the marts cover (for a sensible default range)."""
    brands = db.fetch_df(conn, """SELECT DISTINCT brand_id, brand_name FROM mart.supply_demand
                                  ORDER BY brand_name""")
    # min / max of the column itself: an index probe each (the converted value scanned all
    # 50,000 rows on the large bench, 26 ms of the page's first load)
    span = db.fetch_one(conn, """
        SELECT least(((SELECT min(registered_at) FROM mart.funnel_facts)
                      AT TIME ZONE 'Asia/Shanghai')::date,
                     (SELECT min(day) FROM mart.daily_kpis)) AS first_day,
               greatest(((SELECT max(registered_at) FROM mart.funnel_facts)
                         AT TIME ZONE 'Asia/Shanghai')::date,
                        (SELECT max(day) FROM mart.daily_kpis)) AS last_day""")
    return {"brands": {int(b): str(n) for b, n in zip(brands["brand_id"], brands["brand_name"])},
            "first_day": span["first_day"] if span else None,
            "last_day": span["last_day"] if span else None}


# ---------------------------------------------------------------- funnel
# The conversion window as a fixed span. Adding whole *days* to a timestamptz converts it to
# the session's local time and back on every row (most of the funnel's cost); the console's
# sessions run in Asia/Shanghai, which has no daylight saving, so N days are exactly 24*N hours.
_WINDOW = "make_interval(hours => 24 * CAST(:win AS integer))"


def _reached(k: int, window: bool) -> str:
    """Whether a merchant (a row f of mart.funnel_facts) reached step k in order.

    Step k is reached when step k-1 was and its first time lies within the window after the
    moment step k-1 was reached (the latest of the first times before it: a step first done
    before the previous one counts at the previous one's moment). The row keeps, per step,
    the shortest window under which it is reached (``window_needed_k``, migration 091: the
    longest of those waits over steps 2..k, NULL when one of them never happened), so the
    test is one comparison, exact to the microsecond as ``t_k <= moment + window`` is. With
    no window a step is reached when every step up to it happened."""
    if k == 1:
        return "true"
    return (f"f.window_needed_{k} <= {_WINDOW}" if window
            else f"f.window_needed_{k} IS NOT NULL")


def _moment(k: int) -> str:
    """The moment step k is reached, when it is (the latest of the first times up to it)."""
    return "f.registered_at" if k == 1 else f"f.reached_{k}_at"


@requires(*READERS, replica=True)
def funnel(*, conn: Connection, actor: Actor, filters: GrowthFilters,
           window_days: int | None = DEFAULT_WINDOW_DAYS,
           breakdown: str | None = None, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per (group, step): merchants, conversion vs previous and vs first step,
    median and p90 hours from the previous step, and of those at the previous step who did
    not reach this one, how many are still inside their window at ``as_of`` (default now:
    ``in_progress``) and how many are not (``dropped``). Without a breakdown the group is ''.
    With no window nobody's window closes: everyone not yet converted is in progress."""
    check_filters(filters)
    window_days = _check_window(window_days)
    if breakdown is not None and breakdown not in BREAKDOWNS:
        raise InvalidInput("growth.error.bad_breakdown")
    group_expr = BREAKDOWNS[breakdown] if breakdown else "''"
    wide = db.fetch_df(conn, _funnel_sql(group_expr, window_days is not None),
                       win=window_days, as_of=as_of or _data_now(conn), **filters.params())
    return _funnel_long(wide)


def _funnel_sql(group_expr: str, window: bool) -> str:
    """One pass over funnel_facts in the page's range and filters: per group the counts of
    each step reached, of those stopped at the step before it whose window is still open,
    and one percentile sort per step giving median and p90 of the hours from the previous
    step. The moments, the hours between them and the window each step needs are kept on the
    mart's rows (migration 091): the query compares and counts, it computes no time.

    Per merchant, first how many steps it reached (a CASE stopping at the first step missed)
    and whether its window at the step after is still open, in a narrow row (the group, that
    count, the flag and the six hours): a breakdown sorts those by group, not every column
    the tests read (the wide rows spilled the sort to disk on the large bench)."""
    n = len(STEPS)
    missed = " ".join(
        f"WHEN f.window_needed_{k} IS NULL"
        + (f" OR f.window_needed_{k} > {_WINDOW}" if window else "") + f" THEN {k - 1}"
        for k in range(2, n + 1))
    # In progress at step k: stopped at step k-1 with the window after its moment still open.
    if window:
        moments = ", " + ", ".join(f"{_moment(k)} AS m{k}" for k in range(1, n))
        moment = " ".join(f"WHEN {k} THEN m.m{k}" for k in range(1, n))
        still_open = (f"coalesce(CAST(:as_of AS timestamptz), now()) "
                      f"< (CASE m.reached {moment} END) + {_WINDOW}")
    else:
        moments, still_open = "", "true"
    hours = ", ".join(f"f.hours_{k} AS h{k}" for k in range(2, n + 1))
    counts = ", ".join(["count(*) AS n1"] + [
        f"count(*) FILTER (WHERE reached >= {k}) AS n{k}" for k in range(2, n + 1)])
    counts += ", " + ", ".join(f"count(*) FILTER (WHERE reached = {k - 1} AND still_open) AS ip{k}"
                               for k in range(2, n + 1))
    # percentile_cont over the merchants who reached the step: the hours between their
    # moments (kept on every row, read where the step was reached), the same values as before.
    quantiles = ", ".join(
        f"percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY h{k}) "
        f"FILTER (WHERE reached >= {k}) AS q{k}" for k in range(2, n + 1))
    times = ", ".join(f"q{k}[1] AS med{k}, q{k}[2] AS p90_{k}" for k in range(2, n + 1))
    ns = ", ".join([f"n{k}" for k in range(1, n + 1)] + [f"ip{k}" for k in range(2, n + 1)])
    # One group needs no GROUP BY (and so no sort of every merchant by a constant); HAVING
    # keeps "no merchants" an empty result, as grouping would.
    grouped = group_expr != "''"
    grp, grouping = ("grp", "GROUP BY grp") if grouped else ("''::text AS grp", "HAVING count(*) > 0")
    hs = ", ".join(f"m.h{k}" for k in range(2, n + 1))
    return f"""
        WITH per_group AS (
            SELECT {grp}, count(*) AS merchants, {counts}, {quantiles}
            FROM (
                SELECT m.grp, m.reached, {still_open} AS still_open, {hs}
                FROM (
                    SELECT {group_expr} AS grp, CASE {missed} ELSE {n} END AS reached,
                           {hours}{moments}
                    FROM mart.funnel_facts f
                    WHERE {_ENTRY_RANGE} AND {_FUNNEL_FILTERS}
                    OFFSET 0   -- the steps reached once per merchant, not once per use
                ) m
            ) x
            {grouping}
        )
        SELECT coalesce(grp, '') AS grp, {ns}, {times}
        FROM per_group ORDER BY merchants DESC, grp"""


def _funnel_long(wide: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rec in wide.to_dict("records"):
        first = int(rec["n1"])
        for k, step in enumerate(STEP_NAMES, start=1):
            n = int(rec[f"n{k}"])
            prev = int(rec[f"n{k - 1}"]) if k > 1 else n
            waiting = int(rec[f"ip{k}"]) if k > 1 else 0
            rows.append({
                "group": rec["grp"], "step_no": k, "step": step, "merchants": n,
                "in_progress": waiting, "dropped": prev - n - waiting,
                "conv_prev": (n / prev) if prev else None,
                "conv_first": (n / first) if first else None,
                "median_hours": _num(rec.get(f"med{k}")),
                "p90_hours": _num(rec.get(f"p90_{k}")),
            })
    return pd.DataFrame(rows, columns=["group", "step_no", "step", "merchants", "in_progress",
                                       "dropped", "conv_prev", "conv_first", "median_hours",
                                       "p90_hours"])


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _data_now(conn: Connection) -> datetime:
    """The moment the funnel's sources reach: now, or the newest source event when the
    sources stopped before it (console/freshness.py). A window that is still open at that
    moment may yet convert in data that has not arrived: in progress, not dropped."""
    now = clock.now()
    newest = source_freshness(conn, ["funnel_facts"], now=now)["funnel_facts"].newest_event
    return min(now, newest) if newest is not None else now


def _check_step(step: str) -> int:
    """The 1-based index of the step merchants failed to reach (2..7)."""
    if step not in STEP_NAMES[1:]:
        raise InvalidInput("growth.error.bad_step")
    return STEP_NAMES.index(step) + 1


DROP_OFF_PAGE = 200                   # rows the page shows at a time; the export has them all


@dataclass(frozen=True)
class DropOffPage:
    total: int                        # every merchant who stopped before the step
    rows: pd.DataFrame                # one page of them, latest first
    in_progress: int = 0              # of the total, those whose window is still open


@requires(*READERS, replica=True)
def drop_offs(*, conn: Connection, actor: Actor, filters: GrowthFilters, step: str,
              window_days: int | None = DEFAULT_WINDOW_DAYS, as_of: datetime | None = None,
              limit: int | None = 500, offset: int = 0) -> pd.DataFrame:
    """Merchants who reached the step before ``step`` but not ``step`` itself, latest first.

    ``window_open`` marks those whose window has not yet run out at ``as_of`` (default: now,
    or the newest source event when the sources stopped before it): they may still convert.
    """
    sql, params = _drop_off_query(filters, step, window_days, as_of or _data_now(conn), limit,
                                  offset, total=False)
    return _fetch_rows_df(conn, sql, **params)


@requires(*READERS, replica=True)
def drop_off_page(*, conn: Connection, actor: Actor, filters: GrowthFilters, step: str,
                  window_days: int | None = DEFAULT_WINDOW_DAYS, as_of: datetime | None = None,
                  limit: int = DROP_OFF_PAGE, offset: int = 0) -> DropOffPage:
    """One page of ``drop_offs`` and how many there are in all, in one query: the page never
    fetches the whole list (thousands of rows at scale) to show two hundred."""
    as_of = as_of or _data_now(conn)
    sql, params = _drop_off_query(filters, step, window_days, as_of, limit, offset, total=True)
    rows = _fetch_rows_df(conn, sql, **params)
    if rows.empty and offset > 0:      # the list shrank under a later page: count it alone
        count_sql, count_params = _drop_off_query(filters, step, window_days, as_of, 1, 0,
                                                  total=True)
        first = _fetch_rows_df(conn, count_sql, **count_params)
        total = int(first["total_rows"].iloc[0]) if len(first) else 0
        waiting = int(first["open_rows"].iloc[0]) if len(first) else 0
    else:
        total = int(rows["total_rows"].iloc[0]) if len(rows) else 0
        waiting = int(rows["open_rows"].iloc[0]) if len(rows) else 0
    return DropOffPage(total=total, rows=rows.drop(columns=["total_rows", "open_rows"]),
                       in_progress=waiting)


def _drop_off_query(filters: GrowthFilters, step: str, window_days: int | None,
                    as_of: datetime | None, limit: int | None, offset: int,
                    *, total: bool) -> tuple[str, dict[str, Any]]:
    check_filters(filters)
    window_days = _check_window(window_days)
    k = _check_step(step)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInput("growth.error.bad_filter")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput("growth.error.bad_filter")
    window_open = ("coalesce(CAST(:as_of AS timestamptz), now()) "
                   "< r.reached_previous_at + make_interval(days => CAST(:win AS integer))"
                   if window_days is not None else "true")
    window = window_days is not None
    window_open = ("coalesce(CAST(:as_of AS timestamptz), now()) "
                   f"< {_moment(k - 1)} + make_interval(days => CAST(:win AS integer))"
                   if window else "true")
    # Reached step k-1 and stopped there.
    sql = f"""
        SELECT f.merchant_id, f.merchant_name, f.channel, f.merchant_type, f.province,
               f.tier_level, to_char(f.cohort_month, 'YYYY-MM') AS cohort_month,
               f.registered_at, {_moment(k - 1)} AS reached_previous_at,
               ({window_open}) AS window_open,
               st.display_name AS bd_owner{_TOTALS.format(open=window_open) if total else ""}
        FROM mart.funnel_facts f
        LEFT JOIN ops.staff st ON st.id = f.bd_owner_id
        WHERE {_ENTRY_RANGE} AND {_FUNNEL_FILTERS}
          AND {_reached(k - 1, window)} AND NOT coalesce({_reached(k, window)}, false)
        ORDER BY reached_previous_at DESC, f.merchant_id
        LIMIT CAST(:lim AS integer) OFFSET CAST(:off AS integer)"""
    params = dict(win=window_days, as_of=as_of, lim=limit, off=offset, **filters.params())
    return sql, params


_TOTALS = (", count(*) OVER () AS total_rows,"
           " count(*) FILTER (WHERE {open}) OVER () AS open_rows")


def _fetch_rows_df(conn: Connection, sql: str, /, **params: Any) -> pd.DataFrame:
    """db.fetch_df for long results: the frame is built from plain tuples, because pandas
    reads SQLAlchemy Row objects item by item (4x slower over thousands of drop-offs)."""
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()))


@requires(*READERS)
def drop_off_export(*, conn: Connection, actor: Actor, filters: GrowthFilters, step: str,
                    window_days: int | None = DEFAULT_WINDOW_DAYS, lang: str = "zh",
                    as_of: datetime | None = None) -> bytes:
    """The whole drop-off list as CSV (UTF-8 with BOM, so Excel reads the Chinese), headed
    by the filters that produced it, each on a ``# label: value`` line. The export is
    audited (console.exports), so the caller's transaction must commit."""
    rows = drop_offs(conn=conn, actor=actor, filters=filters, step=step,
                     window_days=window_days, as_of=as_of, limit=None)
    tr = lambda key: translate(key, lang)  # noqa: E731
    header = [
        (tr("growth.export.step"), tr(f"growth.step.{step}")),
        (tr("growth.export.window"),
         tr("growth.window.any") if window_days is None
         else translate("growth.window.days", lang, days=window_days)),
        *filters.describe(lang),
        (tr("growth.export.rows"), str(len(rows))),
    ]
    table = rows.assign(
        channel=rows["channel"].map(lambda v: tr(f"enum.channel.{v}")),
        merchant_type=rows["merchant_type"].map(lambda v: tr(f"enum.merchant_type.{v}")),
        tier_level=rows["tier_level"].map(
            lambda v: tr(f"enum.tier.{int(v)}") if pd.notna(v) else ""),
        registered_at=rows["registered_at"].map(_iso),
        reached_previous_at=rows["reached_previous_at"].map(_iso),
        window_open=rows["window_open"].map(
            lambda v: tr("growth.dropoff.state.in_progress" if v else "growth.dropoff.state.dropped")),
    )
    table.columns = [tr(f"growth.dropoff.{c}") for c in table.columns]
    applied = {"start": filters.start, "end": filters.end, "tiers": list(filters.tiers),
               "merchant_types": list(filters.merchant_types), "step": step,
               "window_days": window_days}
    return audited_csv(conn=conn, actor=actor, export="growth_drop_offs", filters=applied,
                       frame=table, preamble=[[f"# {label}: {value}"] for label, value in header],
                       entity_type="growth")


def _iso(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return pd.Timestamp(value).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- KPIs
# (metric, how it changes against the previous period: relative 'pct' or rate points 'pp')
KPI_METRICS: tuple[tuple[str, str], ...] = (
    ("new_registrations", "pct"), ("newly_certified", "pct"), ("active_merchants", "pct"),
    ("live_listings", "pct"), ("open_requests", "pct"), ("live_posts", "pct"),
    ("match_rate", "pp"), ("deposit_rate", "pp"), ("median_hours_to_match", "pct"),
    ("deals_completed", "pct"), ("gmv", "pct"),
    ("gmv_self_operated", "pct"), ("gmv_marketplace", "pct"),
    ("deposit_held", "pct"), ("deposit_released", "pct"), ("deposit_refunded", "pct"),
    ("deposit_disputed", "pct"),
    ("pay_wechat", "pct"), ("pay_alipay", "pct"), ("pay_bank", "pct"), ("take_rate", "pp"),
)

# The daily figures each KPI source holds (names from code, never from input). The segment
# mart splits every additive figure of mart.daily_kpis by the merchant's tier and type
# (order figures by the buyer's); the brand mart only posts, deals and GMV.
_SEGMENT_FIGURES = (
    "new_registrations", "newly_certified", "active_merchants", "live_listings",
    "open_requests", "requests_created", "requests_with_match", "requests_with_deposit",
    "deals_completed", "gmv", "fee_amount", "deposit_held", "deposit_released",
    "deposit_refunded", "deposit_disputed", "pay_wechat", "pay_alipay", "pay_bank",
    "gmv_self_operated", "gmv_marketplace")
_BRAND_FIGURES = ("live_listings", "open_requests", "requests_created", "deals_completed", "gmv",
                  "gmv_self_operated", "gmv_marketplace")
# What a filtered source cannot give: distinct merchants over a week or month and medians
# do not add up across segments; the brand mart has no merchant or money-flow figures.
SEGMENT_UNAVAILABLE = ("median_hours_to_match",)
BRAND_UNAVAILABLE = tuple(f for f in _SEGMENT_FIGURES if f not in _BRAND_FIGURES) + (
    "median_hours_to_match", "match_rate", "deposit_rate", "take_rate")

_KPI_RANGE = """{alias}.day >= (date_trunc(:grain, CAST(:start AS date)::timestamp)
                    - CAST('1 ' || :grain AS interval))::date
      AND {alias}.day <= CAST(:end AS date)"""
_SEGMENT_FILTER = """
    (cardinality(CAST(:tiers AS smallint[])) = 0 OR s.tier_level = ANY(CAST(:tiers AS smallint[])))
    AND (cardinality(CAST(:types AS text[])) = 0 OR s.merchant_type = ANY(CAST(:types AS text[])))"""
_BRAND_FILTER = "s.brand_id = ANY(CAST(:brands AS integer[]))"


def _kpi_days_sql(basis: str) -> str:
    """One row per day of mart.daily_kpis in range (its calendar: a day whose filtered
    figures are all zero has no segment/brand row but still ends a period), with the
    figures of the basis: the platform's, or the sums of the segments / brands kept."""
    period = "date_trunc(:grain, d.day::timestamp)::date AS period_start"
    if basis == "platform":
        return f"SELECT d.*, {period} FROM mart.daily_kpis d WHERE {_KPI_RANGE.format(alias='d')}"
    mart, figures, where = (
        ("mart.daily_kpis_segment", _SEGMENT_FIGURES, _SEGMENT_FILTER) if basis == "segment"
        else ("mart.daily_kpis_brand", _BRAND_FIGURES, _BRAND_FILTER))
    sums = ", ".join(f"sum(s.{f}) AS {f}" for f in figures)
    cols = ", ".join(f"coalesce(s.{f}, 0) AS {f}" if f in figures else f"NULL::numeric AS {f}"
                     for f in _SEGMENT_FIGURES)
    return f"""
        SELECT d.day, {period}, {cols}
        FROM mart.daily_kpis d
        LEFT JOIN (SELECT s.day, {sums} FROM {mart} s
                   WHERE {_KPI_RANGE.format(alias='s')} AND {where}
                   GROUP BY s.day) s ON s.day = d.day
        WHERE {_KPI_RANGE.format(alias='d')}"""


def _kpi_sql(basis: str) -> str:
    # Platform: distinct active merchants and medians per period from mart.kpi_periods.
    # Segments: a merchant is in one segment, so daily active merchants add up (DAU), but a
    # week's or month's distinct merchants do not; no median. Brand: neither.
    if basis == "platform":
        # No row in kpi_periods: no event in the period, so nobody was active (0, not "—").
        tail = """coalesce(kp.active_merchants, 0) AS active_merchants, kp.median_hours_to_match
            FROM periods p
            LEFT JOIN mart.kpi_periods kp ON kp.grain = :grain AND kp.period_start = p.period_start"""
    elif basis == "segment":
        tail = """CASE WHEN :grain = 'day' THEN p.day_active END AS active_merchants,
                  NULL::numeric AS median_hours_to_match
            FROM periods p"""
    else:
        tail = "NULL::integer AS active_merchants, NULL::numeric AS median_hours_to_match FROM periods p"
    return f"""
WITH days AS ({_kpi_days_sql(basis)}),
periods AS (
    SELECT period_start,
           max(day) AS last_day, count(*) AS days_covered,
           sum(new_registrations) AS new_registrations,
           sum(newly_certified) AS newly_certified,
           sum(active_merchants) AS day_active,
           (array_agg(live_listings ORDER BY day DESC))[1] AS live_listings,
           (array_agg(open_requests ORDER BY day DESC))[1] AS open_requests,
           sum(requests_created) AS requests_created,
           sum(requests_with_match) AS requests_with_match,
           sum(requests_with_deposit) AS requests_with_deposit,
           sum(deals_completed) AS deals_completed,
           sum(gmv) AS gmv, sum(fee_amount) AS fee_amount,
           sum(gmv_self_operated) AS gmv_self_operated, sum(gmv_marketplace) AS gmv_marketplace,
           sum(deposit_held) AS deposit_held, sum(deposit_released) AS deposit_released,
           sum(deposit_refunded) AS deposit_refunded, sum(deposit_disputed) AS deposit_disputed,
           sum(pay_wechat) AS pay_wechat, sum(pay_alipay) AS pay_alipay, sum(pay_bank) AS pay_bank
    FROM days GROUP BY period_start
)
SELECT p.*, {tail}
ORDER BY p.period_start
"""


def kpi_basis(filters: GrowthFilters) -> str:
    """Which mart the KPIs come from: 'brand' when a brand is picked (the brand mart is not
    split by segment, so tier and type do not narrow it), 'segment' with a tier or merchant
    type, else 'platform'."""
    if filters.brands:
        return "brand"
    if filters.tiers or filters.merchant_types:
        return "segment"
    return "platform"


@dataclass(frozen=True)
class KpiReport:
    grain: str
    series: pd.DataFrame          # one row per period inside the range, oldest first
    comparison: pd.DataFrame      # metric, current, previous, change, change_kind
    current_period: date | None
    previous_period: date | None
    current_partial: bool = False  # the compared period runs past the range (in progress)
    # The newest source event, when the sources went stale before the compared period ended
    # (its figures are missing data: not compared); None otherwise.
    sources_stopped: datetime | None = None
    milestone: int = MILESTONE_POSTS
    payment_mix: pd.DataFrame = field(default_factory=pd.DataFrame)  # channel, amount, share
    # GMV over the periods shown, split self-operated / marketplace (issue 21): part, amount,
    # share; the parts add up to the GMV of the same periods (the marts' contract).
    gmv_split: pd.DataFrame = field(default_factory=pd.DataFrame)
    basis: str = "platform"        # platform | segment | brand: see kpi_basis
    unavailable: tuple[str, ...] = ()  # metrics the basis cannot give (None in the report)
    # The milestone now: matchable posts (active merchant, live / open, a request not past its
    # needed-by date) and every live listing + open request, platform-wide (mart.supply_demand).
    milestone_posts: int = 0
    milestone_all_posts: int = 0
    # Metrics whose compared period is younger than their maturity: not compared.
    immature: tuple[str, ...] = ()


@requires(*READERS, replica=True)
def kpis(*, conn: Connection, actor: Actor, filters: GrowthFilters, grain: str = "week") -> KpiReport:
    """KPIs per period at ``grain`` over the date range (whole periods: the first one starts
    at its calendar start). The latest period that ends inside the range is compared with
    the calendar period before it (which may lie just before the range)."""
    check_filters(filters)
    if grain not in GRAINS:
        raise InvalidInput("growth.error.bad_grain")
    basis = kpi_basis(filters)
    raw = db.fetch_df(conn, _kpi_sql(basis), grain=grain, **filters.params())
    frame = _derive_kpis(raw)
    range_start = pd.Timestamp(filters.start).to_period(
        {"day": "D", "week": "W-SUN", "month": "M"}[grain]).start_time.date()
    series = frame[frame["period_start"] >= range_start].reset_index(drop=True)
    current = _compared_period(series, grain, filters.end)
    previous = None
    if current is not None:
        # The calendar period before, not merely the previous row: a day without a row
        # has no figures to compare with.
        before = _previous_period_start(current["period_start"], grain)
        match = frame[frame["period_start"] == before]
        previous = match.iloc[0] if not match.empty else None
    partial = bool(current is not None and _is_partial(current["period_start"], grain, filters.end))
    # Sources gone quiet (stale) before the period ended: its zeros are missing data, not
    # a collapse, so it is not compared either.
    sources = source_freshness(conn, ["daily_kpis"])["daily_kpis"]
    data_day = (sources.newest_event.astimezone(clock.business_tz()).date()
                if sources.newest_event is not None else None)
    uncovered = bool(current is not None and not partial and sources.stale and (
        sources.newest_event is None
        or _next_period_start(current["period_start"], grain)
        > sources.newest_event.astimezone(clock.business_tz()).date() + timedelta(days=1)))
    if not series.empty:
        # One pass per distinct maturity (a few), not per metric (19), and the columns joined
        # in one concat: the same frame, where assigning 20 columns took 7-9 ms of the call
        # on the large bench (pandas re-checks the whole frame per column).
        periods = series["period_start"].tolist()
        maturity = {m: metric_maturity(m) for m, _ in KPI_METRICS}
        flags = {days: [_is_immature(p, grain, filters.end, days, data_day) for p in periods]
                 for days in set(maturity.values())}
        added = pd.DataFrame({"partial": [_is_partial(p, grain, filters.end) for p in periods],
                              **{f"{m}_immature": flags[maturity[m]] for m, _ in KPI_METRICS}},
                             index=series.index)
        series = pd.concat([series, added], axis=1)
    if sources.stale and data_day is not None and not series.empty:
        # Periods that start after the newest source event hold no data, not zeros: a
        # weekly-active line falling to 0 there reads as a collapse. The chart ends at the
        # data; the comparison above still says the sources stopped.
        series = series[series["period_start"] <= data_day].reset_index(drop=True)
    immature = tuple(m for m, _ in KPI_METRICS if current is not None and _is_immature(
        current["period_start"], grain, filters.end, metric_maturity(m), data_day))
    posts = db.fetch_one(conn, """
        SELECT coalesce(sum(matchable_listings + matchable_requests), 0) AS matchable,
               coalesce(sum(live_listings + open_requests), 0) AS every
        FROM mart.supply_demand""")
    return KpiReport(
        grain=grain, series=series,
        comparison=_compare(current, previous,
                            partial="in_progress" if partial else "stale" if uncovered else None,
                            immature=immature),
        current_period=current["period_start"] if current is not None else None,
        previous_period=previous["period_start"] if previous is not None else None,
        current_partial=partial,
        sources_stopped=sources.newest_event if uncovered else None,
        payment_mix=_payment_mix(series),
        gmv_split=gmv_split(series),
        basis=basis,
        unavailable=_unavailable(basis, grain),
        milestone_posts=int(posts["matchable"]) if posts else 0,
        milestone_all_posts=int(posts["every"]) if posts else 0,
        immature=immature,
    )


def _unavailable(basis: str, grain: str) -> tuple[str, ...]:
    if basis == "platform":
        return ()
    if basis == "segment":
        return SEGMENT_UNAVAILABLE + (("active_merchants",) if grain != "day" else ())
    return BRAND_UNAVAILABLE


def _compared_period(series: pd.DataFrame, grain: str, end: date) -> pd.Series | None:
    """The latest period that ends inside the range: a week in progress against a whole
    week would read as a collapse. Falls back to the partial one when none is complete."""
    if series.empty:
        return None
    complete = series[[not _is_partial(p, grain, end) for p in series["period_start"]]]
    return (complete if not complete.empty else series).iloc[-1]


def _is_partial(start: date, grain: str, end: date) -> bool:
    """Whether the period from ``start`` is not complete: it runs past the range's end or
    past today (business time), so its figures are still growing."""
    return _is_immature(start, grain, end, 0)


def _is_immature(start: date, grain: str, end: date, maturity_days: int,
                 data_day: date | None = None) -> bool:
    """Whether the period from ``start`` is partial (``maturity_days`` 0, above) or younger
    than a figure's maturity: its figure still changes for ``maturity_days`` after the period
    ends (a request created on a day is matched in the days after it), so it is not final.
    Maturity is counted up to ``data_day``, the day of the newest source event when that is
    before today (console/freshness.py): outcomes the sources have not delivered yet are
    missing, however long ago the period was."""
    today = clock.today()
    last_day = min(end, today)
    if _next_period_start(start, grain) > last_day + timedelta(days=1):
        return True
    reached = min(today, data_day) if data_day is not None else today
    return (maturity_days > 0 and _next_period_start(start, grain)
            + timedelta(days=maturity_days) > reached + timedelta(days=1))


def metric_maturity(metric: str) -> int:
    """Days after a period ends until the KPI ``metric`` stops changing (the catalogue's)."""
    return catalogue.maturity_days(f"kpi.{metric}")


def _next_period_start(start: date, grain: str) -> date:
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_period_start(start: date, grain: str) -> date:
    if grain == "day":
        return start - timedelta(days=1)
    if grain == "week":
        return start - timedelta(days=7)
    return (start.replace(day=1) - timedelta(days=1)).replace(day=1)


def _derive_kpis(raw: pd.DataFrame) -> pd.DataFrame:
    """Rates and sums per period, vectorised; a rate over nothing is NaN ("no figure")."""
    if raw.empty:
        return raw.assign(**{m: [] for m, _ in KPI_METRICS})
    numeric = ["gmv", "gmv_self_operated", "gmv_marketplace", "fee_amount", "deposit_held",
               "deposit_released", "deposit_refunded", "deposit_disputed", "pay_wechat",
               "pay_alipay", "pay_bank", "median_hours_to_match", "requests_created",
               "requests_with_match", "requests_with_deposit"]
    frame = raw.copy()
    frame[numeric] = frame[numeric].astype(float)          # Decimal / None -> float / NaN
    frame["live_posts"] = frame["live_listings"] + frame["open_requests"]
    frame["match_rate"] = _share(frame["requests_with_match"], frame["requests_created"])
    frame["deposit_rate"] = _share(frame["requests_with_deposit"], frame["requests_created"])
    # Take rate only where the data has fees: no fee rows means "unknown", not 0%.
    frame["take_rate"] = _share(frame["fee_amount"], frame["gmv"]).where(frame["fee_amount"] > 0)
    return frame


def _share(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den > 0)


def _compare(current: pd.Series | None, previous: pd.Series | None, *,
             partial: str | None = None, immature: Sequence[str] = ()) -> pd.DataFrame:
    """Each metric now and before, and the change. A period still in progress
    (``partial='in_progress'``: two days of a week against a whole week would read as a
    collapse) or one the sources stopped feeding (``'stale'``) is never compared: its
    change is None and ``partial`` says why; nor is a metric whose period is younger than its
    maturity (``'immature'``: its recent requests are still being matched)."""
    rows = []
    for metric, kind in KPI_METRICS:
        cur = _num(current[metric]) if current is not None else None
        prev = _num(previous[metric]) if previous is not None else None
        why = partial or ("immature" if metric in immature else None)
        if cur is None or prev is None or why:
            change = None
        elif kind == "pp":
            change = cur - prev
        else:
            change = (cur - prev) / prev if prev else None
        rows.append({"metric": metric, "current": cur, "previous": prev,
                     "change": change, "change_kind": kind, "partial": why or False})
    # object dtype keeps None as None ("no figure"), not NaN
    return pd.DataFrame(rows, columns=["metric", "current", "previous", "change", "change_kind",
                                       "partial"], dtype=object)


def _payment_mix(series: pd.DataFrame) -> pd.DataFrame:
    channels = ("wechat", "alipay", "bank")
    amounts = [float(series[f"pay_{c}"].sum()) if not series.empty else 0.0 for c in channels]
    total = sum(amounts)
    return pd.DataFrame({"channel": channels, "amount": amounts,
                         "share": [a / total if total else None for a in amounts]})


GMV_PARTS = ("self_operated", "marketplace")


def gmv_split(series: pd.DataFrame) -> pd.DataFrame:
    """GMV of the periods in ``series`` by part: a deal on one of the platform's own cars (the
    listing's is_self_operated) is self-operated, every other deal marketplace. Amounts are
    summed as Decimal from the marts' numeric(16,2) (exact to the fen; shares are floats)."""
    amounts = [_money_sum(series, f"gmv_{part}") for part in GMV_PARTS]
    total = _money_sum(series, "gmv")
    return pd.DataFrame({"part": [*GMV_PARTS, "total"], "amount": [*amounts, total],
                         "share": [float(a / total) if total else None
                                   for a in (*amounts, total)]})


def _money_sum(series: pd.DataFrame, column: str) -> Decimal:
    """Yuan of a column over the periods, to the fen (the frame holds floats by then)."""
    if series.empty or column not in series:
        return Decimal("0.00")
    return sum((Decimal(repr(float(v))).quantize(Decimal("0.01"))
                for v in series[column].fillna(0)), Decimal("0.00"))


# ---------------------------------------------------------------- cohorts
_COHORT_FROM_MART = """
SELECT cohort_month, months_since, cohort_size, active_merchants
FROM mart.cohort_activity
WHERE cohort_month >= date_trunc('month', CAST(:start AS date)::timestamp)::date
  AND cohort_month <= CAST(:end AS date)
"""
# With a tier or merchant-type filter: the same cells summed over the segments the filter keeps
# (mart.cohort_activity_segment: a merchant is in one segment, so the sums are exact).
_COHORT_FILTERED = """
SELECT cohort_month, months_since, sum(cohort_size) AS cohort_size,
       sum(active_merchants) AS active_merchants
FROM mart.cohort_activity_segment f
WHERE cohort_month >= date_trunc('month', CAST(:start AS date)::timestamp)::date
  AND cohort_month <= CAST(:end AS date) AND """ + _FUNNEL_FILTERS + """
GROUP BY 1, 2
"""


@requires(*READERS, replica=True)
def cohorts(*, conn: Connection, actor: Actor, filters: GrowthFilters) -> pd.DataFrame:
    """Retention cells: cohort_month, months_since, cohort_size, active_merchants, retention,
    immature. Active means the merchant's own action in the month (catalogue:
    cohort.active_merchants). A cell of the month in progress is immature: its figure grows
    until the month ends.

    Every cell up to the latest month the data reaches is present (0 when nobody was
    active), so an empty cell in the heatmap means "not yet", never "nobody".
    """
    check_filters(filters)
    filtered = bool(filters.tiers or filters.merchant_types)
    cells = db.fetch_df(conn, _COHORT_FILTERED if filtered else _COHORT_FROM_MART,
                        **filters.params())
    latest = db.scalar(conn, """SELECT greatest(
        (SELECT max(month) FROM mart.merchant_active_months),
        (SELECT max((cohort_month + make_interval(months => months_since))::date)
         FROM mart.cohort_activity))""")
    return _complete_cohorts(cells, latest)


def _add_months(month: date, n: int) -> date:
    total = month.year * 12 + month.month - 1 + n
    return date(total // 12, total % 12 + 1, 1)


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _complete_cohorts(cells: pd.DataFrame, latest: date | None) -> pd.DataFrame:
    columns = ["cohort_month", "months_since", "cohort_size", "active_merchants", "retention",
               "immature"]
    this_month = clock.today().replace(day=1)
    size_of: dict[date, int] = {}
    if not cells.empty:
        for month, size in zip(cells["cohort_month"], cells["cohort_size"].astype(int)):
            size_of.setdefault(month, size)
    if not size_of:
        return pd.DataFrame(columns=columns)
    active = {(m, int(s)): int(a) for m, s, a in
              zip(cells["cohort_month"], cells["months_since"], cells["active_merchants"])} \
        if not cells.empty else {}
    horizon_end = latest or max(size_of)
    rows = []
    for month in sorted(size_of):
        size = size_of[month]
        for since in range(0, max(_months_between(month, horizon_end), 0) + 1):
            n = active.get((month, since), 0)
            cell_month = _add_months(month, since)
            rows.append({"cohort_month": month, "months_since": since, "cohort_size": size,
                         "active_merchants": n, "retention": n / size if size else None,
                         "immature": cell_month >= this_month})
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- supply / demand
_SD_GROUPS = {"brand": ("brand_id", "brand_name"), "tier": ("tier_level", "tier_name")}


@requires(*READERS, replica=True)
def supply_demand(*, conn: Connection, actor: Actor, filters: GrowthFilters,
                  by: str = "brand") -> pd.DataFrame:
    """Matchable supply against matchable demand by brand or city tier (a current snapshot:
    the date range does not apply): live listings / open requests of active merchants, a
    request not past its needed-by date (catalogue sd.*); ``all_*`` count every live / open
    post. ``gap`` = demand units − supply units: positive means buyers wait for cars (BD
    should find supply), negative means cars wait for buyers."""
    check_filters(filters)
    if by not in _SD_GROUPS:
        raise InvalidInput("growth.error.bad_breakdown")
    key, name = _SD_GROUPS[by]
    frame = db.fetch_df(conn, f"""
        SELECT s.{key} AS key, s.{name} AS name,
               sum(s.matchable_listings)::int AS live_listings,
               sum(s.matchable_listing_units)::int AS listing_units,
               sum(s.matchable_requests)::int AS open_requests,
               sum(s.matchable_request_units)::int AS request_units,
               sum(s.live_listings)::int AS all_live_listings,
               sum(s.listing_units)::int AS all_listing_units,
               sum(s.open_requests)::int AS all_open_requests,
               sum(s.request_units)::int AS all_request_units
        FROM mart.supply_demand s
        WHERE (cardinality(CAST(:tiers AS smallint[])) = 0 OR s.tier_level = ANY(CAST(:tiers AS smallint[])))
          AND (cardinality(CAST(:types AS text[])) = 0 OR s.merchant_type = ANY(CAST(:types AS text[])))
          AND (cardinality(CAST(:brands AS integer[])) = 0 OR s.brand_id = ANY(CAST(:brands AS integer[])))
        GROUP BY s.{key}, s.{name}
        ORDER BY sum(s.matchable_listings) + sum(s.matchable_requests) DESC, s.{key}""",
                        **filters.params())
    frame["gap"] = frame["request_units"] - frame["listing_units"]
    frame["demand_per_supply"] = [
        (r / s) if s else None for r, s in zip(frame["request_units"], frame["listing_units"])]
    return frame


# ---------------------------------------------------------------- freshness
@dataclass(frozen=True)
class ChartFreshness:
    chart: str
    computed_at: datetime | None     # the stalest of the chart's marts
    last_run_at: datetime | None
    last_run_status: str | None      # succeeded | failed | running | None (never run)
    validation_passed: bool | None   # None: no run logged
    failed_expectations: int
    # Marts whose latest contract validation failed (etl/contracts.py), and how many checks.
    broken_marts: tuple[str, ...] = ()
    failed_contracts: int = 0
    # The newest source event behind the chart's marts (console/freshness.py), its age at
    # the business clock, and the threshold of the chart's strictest job.
    newest_event: datetime | None = None
    event_age_hours: float | None = None
    threshold_hours: int | None = None

    @property
    def stale(self) -> bool:
        """The sources went quiet: no event at all, or the newest older than the threshold."""
        return self.threshold_hours is not None and (
            self.event_age_hours is None or self.event_age_hours > self.threshold_hours)

    @property
    def state(self) -> str:
        """'broken' (a mart's contract failed: the figures cannot be trusted), 'stale' (the
        newest source event is older than the threshold: a passed validation of old data),
        'warning' (last run failed or its validation did not pass), 'ok' or 'unknown'."""
        if self.broken_marts:
            return "broken"
        if self.stale:
            return "stale"
        if self.last_run_status is None:
            return "unknown"
        if self.last_run_status == "failed" or self.validation_passed is False:
            return "warning"
        return "ok"


@requires(*READERS, replica=True)
def freshness(*, conn: Connection, actor: Actor) -> dict[str, ChartFreshness]:
    """Per chart: when its data was computed, the last ETL run, and whether that run's
    validation passed. Cheap (a view over the run log): never cached by the page."""
    names = sorted({m for marts in CHART_MARTS.values() for m in marts})
    logged = db.fetch_df(conn, """
        SELECT regexp_replace(mart, '^mart\\.', '') AS mart, computed_at, last_run_status,
               last_run_at, validation_passed, failed_expectations, contract_passed,
               failed_contracts
        FROM mart.freshness
        WHERE regexp_replace(mart, '^mart\\.', '') = ANY(CAST(:names AS text[]))""", names=names)
    by_mart = {r["mart"]: r for r in logged.to_dict("records")}
    # A mart's own max(computed_at) only where the run log has no stamp for it: a scan of
    # the mart (tens of thousands of rows at scale) for a figure the log already holds.
    stamps = {m: db.scalar(conn, f"SELECT max(computed_at) FROM mart.{m}")
              for m in sorted(_STAMPED)
              if m not in by_mart or by_mart[m]["computed_at"] is None
              or pd.isna(by_mart[m]["computed_at"])}
    jobs = {chart: sorted({j for j in map(job_of_mart, marts) if j}) for chart, marts in CHART_MARTS.items()}
    sources = source_freshness(conn, sorted({j for js in jobs.values() for j in js}))
    out = {}
    for chart, marts in CHART_MARTS.items():
        chart_fresh = _chart_freshness(chart, marts, by_mart, stamps)
        held = [sources[j] for j in jobs[chart]]
        if held:
            # The stalest source against the strictest threshold of the chart's jobs.
            ages = [s.age_hours for s in held]
            newest = [s.newest_event for s in held if s.newest_event is not None]
            chart_fresh = replace(
                chart_fresh, newest_event=min(newest) if newest else None,
                event_age_hours=None if None in ages else max(ages),
                threshold_hours=min(s.threshold_hours for s in held))
        out[chart] = chart_fresh
    return out


def _chart_freshness(chart: str, marts: Sequence[str], by_mart: dict[str, dict],
                     stamps: dict[str, Any]) -> ChartFreshness:
    runs = [by_mart[m] for m in marts if m in by_mart]
    computed = [_ts(by_mart[m]["computed_at"]) if m in by_mart and by_mart[m]["computed_at"]
                is not None else stamps.get(m) for m in marts if m in _STAMPED or m in by_mart]
    computed = [c for c in computed if c is not None]
    if not runs:
        return ChartFreshness(chart, min(computed) if computed else None, None, None, None, 0)
    failed = [r for r in runs if r["last_run_status"] == "failed"]
    latest = max(runs, key=lambda r: (r["last_run_at"] is not None, _ts(r["last_run_at"])
                                      or datetime.fromtimestamp(0).astimezone()))
    broken = [m for m in marts if m in by_mart and _is_false(by_mart[m].get("contract_passed"))]
    return ChartFreshness(
        chart=chart,
        computed_at=min(computed) if computed else None,
        last_run_at=_ts(latest["last_run_at"]),
        last_run_status="failed" if failed else latest["last_run_status"],
        validation_passed=all(bool(r["validation_passed"]) for r in runs),
        # Marts of one chart usually share a run: the largest count, not the sum.
        failed_expectations=max(int(r["failed_expectations"]) for r in runs),
        broken_marts=tuple(broken),
        failed_contracts=sum(int(by_mart[m].get("failed_contracts") or 0) for m in broken),
    )


def _is_false(value: Any) -> bool:
    """A verdict read through pandas: False (numpy or not), never None or NaN."""
    return value is not None and not pd.isna(value) and not bool(value)


def _ts(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()
