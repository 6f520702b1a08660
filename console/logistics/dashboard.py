"""The logistics dashboard (issue 20), for managers and the desk: orders, cars moved, on-time
and damage rates, cost per car-km and margin, in total, by month and by lane; read from the
logistics mart (console/logistics/mart.py rebuilds it; the definitions are in
sql/migrations/107_logistics_mart.sql), never from the requests themselves, so every service
here is read-only and reads the replica when one is configured.

A window of ``months`` is the current Shanghai month and the ``months − 1`` before it (0: all
months). Ratios over the window are ratios of its sums, not means of monthly ratios:
on-time rate = on time / delivered, damage rate = damaged / delivered, cost per car-km =
cost / car-km, margin = revenue − cost, margin per order = margin / orders. The busiest lanes
are those that moved the most cars (then orders, then the lane's ids).
"""
from __future__ import annotations

from datetime import date
from typing import Annotated

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db
from console.boundary import Number
from console.freshness import BuildFreshness, build_freshness
from console.logistics.mart import STEP
from console.roles import Actor, requires

READERS = ("manager", "ops")
STALE_HOURS = 36
Months = Annotated[int, Number(min=0, max=120, key="input.months")]
Top = Annotated[int, Number(min=1, max=500)]


Freshness = BuildFreshness      # the badge (console/freshness.py)


@requires(*READERS, replica=True)
def freshness(*, conn: Connection, actor: Actor) -> Freshness:
    return build_freshness(conn, builds_table="mart.lgx_builds", step=STEP,
                           stale_hours=STALE_HOURS)


def window_start(months: int) -> date | None:
    """The first month of a window of ``months`` ending with the current one (None: all)."""
    if months <= 0:
        return None
    today = clock.today()
    index = today.year * 12 + today.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


_WINDOW = "(CAST(:start AS date) IS NULL OR m.month >= CAST(:start AS date))"
_FIGURES = """
    sum(m.orders)::bigint AS orders, sum(m.cars)::bigint AS cars,
    sum(m.delivered)::bigint AS delivered, sum(m.on_time)::bigint AS on_time,
    sum(m.damaged)::bigint AS damaged, sum(m.revenue) AS revenue, sum(m.cost) AS cost,
    sum(m.revenue) - sum(m.cost) AS margin, sum(m.car_km)::bigint AS car_km"""


def _ratios(df: pd.DataFrame) -> pd.DataFrame:
    """The window's ratios of sums (NaN where the denominator is 0: shown as a dash)."""
    def div(a, b):
        a = pd.to_numeric(df[a], errors="coerce").astype(float)
        b = pd.to_numeric(df[b], errors="coerce").astype(float)
        return (a / b.where(b != 0)).astype(float)
    for col in ("revenue", "cost", "margin"):
        df[col] = pd.to_numeric(df[col]).astype(float)
    df["on_time_rate"] = div("on_time", "delivered")
    df["damage_rate"] = div("damaged", "delivered")
    df["cost_per_car_km"] = div("cost", "car_km")
    df["margin_per_order"] = div("margin", "orders")
    df["margin_share"] = div("margin", "revenue")
    return df


@requires(*READERS, replica=True)
def totals(*, conn: Connection, actor: Actor, months: Months = 6) -> dict:
    """The window's figures in one row (zeros and dashes on an empty mart)."""
    df = db.fetch_df(conn, f"""
        SELECT coalesce(sum(m.orders), 0)::bigint AS orders,
               coalesce(sum(m.cars), 0)::bigint AS cars,
               coalesce(sum(m.delivered), 0)::bigint AS delivered,
               coalesce(sum(m.on_time), 0)::bigint AS on_time,
               coalesce(sum(m.damaged), 0)::bigint AS damaged,
               coalesce(sum(m.revenue), 0) AS revenue, coalesce(sum(m.cost), 0) AS cost,
               coalesce(sum(m.revenue) - sum(m.cost), 0) AS margin,
               coalesce(sum(m.car_km), 0)::bigint AS car_km,
               count(DISTINCT (m.from_city_id, m.to_city_id)) AS lanes
        FROM mart.lgx_lane_month m WHERE {_WINDOW}""", start=window_start(months))
    return {k: (None if pd.isna(v) else v) for k, v in _ratios(df).iloc[0].to_dict().items()}


@requires(*READERS, replica=True)
def by_month(*, conn: Connection, actor: Actor, months: Months = 6) -> pd.DataFrame:
    """One row per month of the window that had orders, oldest first."""
    df = db.fetch_df(conn, f"""
        SELECT m.month, {_FIGURES}
        FROM mart.lgx_lane_month m WHERE {_WINDOW}
        GROUP BY m.month ORDER BY m.month""", start=window_start(months))
    return _ratios(df)


@requires(*READERS, replica=True)
def by_lane(*, conn: Connection, actor: Actor, months: Months = 6, top: Top = 50
            ) -> pd.DataFrame:
    """The window's busiest lanes (most cars moved first), with their cities' names,
    provinces and coordinates for the lane map."""
    df = db.fetch_df(conn, f"""
        WITH l AS (
            SELECT m.from_city_id, m.to_city_id, max(m.road_km) AS road_km, {_FIGURES}
            FROM mart.lgx_lane_month m WHERE {_WINDOW}
            GROUP BY m.from_city_id, m.to_city_id
            ORDER BY sum(m.cars) DESC, sum(m.orders) DESC, m.from_city_id, m.to_city_id
            LIMIT :top
        )
        SELECT l.*, f.short_name AS from_city, t.short_name AS to_city,
               f.province AS from_province, t.province AS to_province,
               f.longitude AS from_lon, f.latitude AS from_lat,
               t.longitude AS to_lon, t.latitude AS to_lat
        FROM l JOIN app.cities f ON f.id = l.from_city_id JOIN app.cities t ON t.id = l.to_city_id
        ORDER BY l.cars DESC, l.orders DESC, l.from_city_id, l.to_city_id""",
                     start=window_start(months), top=top)
    return _ratios(df)
