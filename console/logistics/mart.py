"""The logistics dashboard's mart (issue 20): rebuilt whole from lgx.requests and lgx.claims.

Run by the system jobs' step ``logistics_mart`` (console/jobs.py, under its advisory lock, as
the jobs' role); ``python -m console.logistics.mart rebuild`` runs it alone (a stand-alone
command writing the same run log). The definitions (an order, its month and lane, road km,
on time, damaged, revenue, cost, margin) are written down in
sql/migrations/107_logistics_mart.sql.

Set-based SQL in one transaction: a rebuild replaces every row, so running it twice gives the
same mart (only the build log grows). Readers (console/logistics/dashboard.py) see the old
mart or the new one, never half of each.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.engine import Connection

from console import clock, db
from console.settings import get_settings

STEP = "logistics_mart"

_REBUILD = """
    INSERT INTO mart.lgx_lane_month (month, from_city_id, to_city_id, road_km, orders, cars,
        delivered, on_time, damaged, revenue, cost, car_km)
    WITH settled AS (
        SELECT request_id, carrier_id, bool_or(kind = 'damage') AS damage,
               bool_or(kind = 'delay') AS delay
        FROM lgx.claims WHERE status = 'settled'
        GROUP BY request_id, carrier_id
    ), o AS (
        SELECT r.id, r.from_city_id, r.to_city_id, r.cars, r.price_to_merchant,
               r.cost_from_carrier,
               date_trunc('month', mart.cn_date(r.ordered_at))::date AS month,
               r.status = 'delivered' AS delivered,
               r.status = 'delivered' AND mart.cn_date(r.delivered_at) <= r.wanted_by
                   AND NOT coalesce(s.delay, false) AS on_time,
               r.status = 'delivered' AND coalesce(s.damage, false) AS damaged
        FROM lgx.requests r
        LEFT JOIN settled s ON s.request_id = r.id AND s.carrier_id = r.carrier_id
        WHERE r.ordered_at IS NOT NULL AND r.status <> 'cancelled'
          AND mart.cn_date(r.ordered_at) <= :as_of
    ), lanes AS (
        SELECT DISTINCT o.from_city_id, o.to_city_id,
               greatest(1, round(CAST(ops.great_circle_km(f.latitude, f.longitude,
                                                          t.latitude, t.longitude)
                                      * :factor AS numeric)))::integer AS road_km
        FROM o
        JOIN app.cities f ON f.id = o.from_city_id
        JOIN app.cities t ON t.id = o.to_city_id
    )
    SELECT o.month, o.from_city_id, o.to_city_id, l.road_km, count(*), sum(o.cars),
           count(*) FILTER (WHERE o.delivered), count(*) FILTER (WHERE o.on_time),
           count(*) FILTER (WHERE o.damaged), sum(o.price_to_merchant),
           sum(o.cost_from_carrier), sum(o.cars)::bigint * l.road_km
    FROM o JOIN lanes l USING (from_city_id, to_city_id)
    GROUP BY o.month, o.from_city_id, o.to_city_id, l.road_km"""


@dataclass(frozen=True)
class BuildResult:
    as_of: date
    orders: int
    lane_rows: int
    seconds: float

    def __str__(self) -> str:
        return (f"logistics mart as of {self.as_of}: orders={self.orders}, "
                f"lane-month rows={self.lane_rows} ({self.seconds:.1f} s)")


def rebuild(conn: Connection, *, as_of: date | None = None) -> BuildResult:
    """Rebuild the logistics mart as of ``as_of`` (the Shanghai day today by default) in
    ``conn``'s transaction, and log the build."""
    started = time.perf_counter()
    as_of = as_of or clock.today()
    factor = get_settings().logistics_road_factor
    # One rebuild at a time, whoever calls it; EXCLUSIVE mode lets the dashboard's reads through.
    db.execute(conn, "LOCK TABLE mart.lgx_builds IN EXCLUSIVE MODE")
    started_at = db.scalar(conn, "SELECT clock_timestamp()")
    db.execute(conn, "DELETE FROM mart.lgx_lane_month")
    db.execute(conn, _REBUILD, as_of=as_of, factor=factor)
    row = db.fetch_one(conn, """SELECT count(*) AS rows, coalesce(sum(orders), 0) AS orders
                                FROM mart.lgx_lane_month""")
    db.execute(conn, """
        INSERT INTO mart.lgx_builds (as_of, road_factor, started_at, orders, lane_rows,
                                     newest_source)
        VALUES (:as_of, :factor, :started, :orders, :rows,
                (SELECT greatest((SELECT max(ordered_at) FROM lgx.requests
                                  WHERE ordered_at <= now()),
                                 (SELECT max(delivered_at) FROM lgx.requests
                                  WHERE delivered_at <= now()),
                                 (SELECT max(decided_at) FROM lgx.claims
                                  WHERE decided_at <= now()))))""",
               as_of=as_of, factor=Decimal(str(factor)), started=started_at,
               orders=row["orders"], rows=row["rows"])
    return BuildResult(as_of=as_of, orders=int(row["orders"]), lane_rows=int(row["rows"]),
                       seconds=time.perf_counter() - started)


def main(argv: list[str]) -> int:
    """``python -m console.logistics.mart rebuild``: the jobs' step ``logistics_mart`` alone,
    as dh_jobs under the step's advisory lock, writing the jobs' run log for health."""
    import sys
    if argv != ["rebuild"]:
        print("usage: python -m console.logistics.mart rebuild", file=sys.stderr)
        return 2
    from console import jobs
    ran, result = jobs.run_alone(STEP, rebuild)
    if not ran:
        print(f"{STEP}: skipped, another run holds its lock")
        return 0
    print(f"{STEP}: {result}")
    return 0


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))
