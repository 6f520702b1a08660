"""Car-source search (车源寻找): filters, sorting and server-side paging over live listings.

The WHERE clause is assembled from fixed SQL fragments, one per filter the user set; every
value is a bound parameter. Distance is great-circle from the chosen city, in SQL.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.boundary import Number
from console.errors import InvalidInput
from console.roles import Actor, requires
from console.services.matching import GRADE_EXPR, GRADE_RELATION, GRADES, grades_available

# Counting every match of a broad search costs more than it tells: beyond this we say "10,000+".
COUNT_CAP = 10_000

SORTS = {
    "price": "l.price ASC, l.id",
    "price_desc": "l.price DESC, l.id",
    "discount": "discount_points DESC, l.id",
    "freshness": "l.published_at DESC, l.id",
    "distance": "km ASC, l.price ASC, l.id",
}


# The boundary (console/boundary.py) holds the numeric filters to these ranges: yuan within
# numeric(14,2), discount points at most 100 (a price of 0) and not absurdly negative.
Yuan = Annotated[float, Number(min=0, max=1e12, key="input.price")]
Points = Annotated[float, Number(min=-1_000, max=100, key="input.points")]


@dataclass(frozen=True, kw_only=True)
class SearchFilters:
    brand_id: int | None = None
    series_id: int | None = None
    trim_id: int | None = None
    guide_min: Yuan | None = None
    guide_max: Yuan | None = None
    price_min: Yuan | None = None
    price_max: Yuan | None = None
    points_min: Points | None = None     # 下X点: (guide - price) / guide * 100
    points_max: Points | None = None
    province: str | None = None
    city_id: int | None = None
    tier: int | None = None
    colors: Sequence[str] = field(default_factory=tuple)
    parallel_import: bool | None = None
    self_operated: bool | None = None
    fresh_days: int | None = None       # published within the last N days
    merchant_types: Sequence[str] = field(default_factory=tuple)
    grades: Sequence[str] = field(default_factory=tuple)   # ignored until ratings exist
    from_city_id: int | None = None     # distance is measured from here
    sort: str = "freshness"


# (filter attribute, SQL fragment); a fragment is used only when its value is set.
_CLAUSES: tuple[tuple[str, str], ...] = (
    ("brand_id", "se.brand_id = :brand_id"),
    ("series_id", "t.series_id = :series_id"),
    ("trim_id", "l.trim_id = :trim_id"),
    ("guide_min", "l.guide_price >= :guide_min"),
    ("guide_max", "l.guide_price <= :guide_max"),
    ("price_min", "l.price >= :price_min"),
    ("price_max", "l.price <= :price_max"),
    ("points_min", "(l.guide_price - l.price) / l.guide_price * 100 >= :points_min"),
    ("points_max", "(l.guide_price - l.price) / l.guide_price * 100 <= :points_max"),
    ("province", "lc.province = :province"),
    ("city_id", "l.city_id = :city_id"),
    ("tier", "lc.tier_level = :tier"),
    ("colors", "l.exterior_color = ANY(:colors)"),
    ("parallel_import", "l.is_parallel_import = :parallel_import"),
    ("self_operated", "l.is_self_operated = :self_operated"),
    ("fresh_days", "l.published_at >= now() - make_interval(days => :fresh_days)"),
    ("merchant_types", "m.merchant_type = ANY(:merchant_types)"),
)


def _where(filters: SearchFilters, with_grades: bool) -> tuple[list[str], dict[str, Any]]:
    clauses = ["l.status = 'live'", "m.status = 'active'"]
    params: dict[str, Any] = {}
    for name, fragment in _CLAUSES:
        value = getattr(filters, name)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        clauses.append(fragment)
        params[name] = list(value) if isinstance(value, (list, tuple)) else value
    if filters.grades and with_grades:
        unknown = set(filters.grades) - set(GRADES)
        if unknown:
            raise InvalidInput("matching.error.unknown_grade")
        clauses.append(f"({GRADE_EXPR}) = ANY(:grades)")
        params["grades"] = list(filters.grades)
    return clauses, params


def _from(with_grades: bool, distance: bool) -> str:
    grade_join = f"LEFT JOIN {GRADE_RELATION} g ON g.merchant_id = l.merchant_id" if with_grades else ""
    from_city = "LEFT JOIN app.cities fc ON fc.id = :from_city_id" if distance else ""
    return f"""FROM app.listings l
        JOIN app.trims t ON t.id = l.trim_id
        JOIN app.series se ON se.id = t.series_id
        JOIN app.brands b ON b.id = se.brand_id
        JOIN app.cities lc ON lc.id = l.city_id
        JOIN app.merchants m ON m.id = l.merchant_id
        {grade_join} {from_city}"""


@dataclass(frozen=True)
class SearchPage:
    rows: pd.DataFrame
    total: int
    total_capped: bool          # the true total is above COUNT_CAP
    grades_available: bool


@requires("bd", "manager")
def search_listings(*, conn: Connection, actor: Actor, filters: SearchFilters, offset: int = 0,
                    limit: int = 50) -> SearchPage:
    """One page of live listings matching ``filters``, sorted as asked, with the total."""
    if filters.sort not in SORTS:
        raise InvalidInput("matching.error.unknown_sort")
    if filters.sort == "distance" and filters.from_city_id is None:
        raise InvalidInput("matching.error.distance_needs_city")
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("matching.error.bad_page")
    with_grades = grades_available(conn)
    distance = filters.from_city_id is not None
    clauses, params = _where(filters, with_grades)
    where = " AND ".join(clauses)
    source = _from(with_grades, distance)
    if distance:
        params["from_city_id"] = filters.from_city_id
    km = ("ops.great_circle_km(fc.latitude, fc.longitude, lc.latitude, lc.longitude)"
          if distance else "CAST(NULL AS double precision)")
    grade = GRADE_EXPR if with_grades else "CAST(NULL AS text)"
    rows = db.fetch_df(conn, f"""
        SELECT l.id AS listing_id, b.name AS brand, se.name AS series, t.name AS trim_name,
               l.guide_price, l.price,
               round((l.guide_price - l.price) / l.guide_price * 100, 1) AS discount_points,
               l.exterior_color, l.interior_color, l.quantity, lc.name AS city, lc.province,
               lc.tier_level AS tier, l.is_parallel_import, l.is_self_operated,
               l.available_from, l.published_at, m.name AS seller, m.merchant_type,
               {grade} AS grade, round(CAST({km} AS numeric), 0) AS km
        {source}
        WHERE {where}
        ORDER BY {SORTS[filters.sort]}
        LIMIT :limit OFFSET :offset""", **params, limit=limit, offset=offset)
    total = int(db.scalar(conn, f"""SELECT count(*) FROM (SELECT 1 {source} WHERE {where}
                                    LIMIT {COUNT_CAP + 1}) x""", **params))
    return SearchPage(rows, min(total, COUNT_CAP), total > COUNT_CAP, with_grades)


@requires("bd", "manager")
def search_options(*, conn: Connection, actor: Actor) -> dict[str, pd.DataFrame]:
    """Choices for the filter widgets: the vehicle library, places, colours."""
    return {
        "brands": db.fetch_df(conn, "SELECT id, name FROM app.brands ORDER BY name"),
        "series": db.fetch_df(conn, "SELECT id, brand_id, name FROM app.series ORDER BY name"),
        "trims": db.fetch_df(conn, "SELECT id, series_id, name, guide_price FROM app.trims "
                                   "WHERE is_active ORDER BY name"),
        "cities": db.fetch_df(conn, "SELECT id, name, province, tier_level FROM app.cities "
                                    "ORDER BY tier_level, province, name"),
        "colors": db.fetch_df(conn, """SELECT exterior_color AS color FROM (
                                           SELECT exterior_color FROM app.listings
                                           WHERE status = 'live' LIMIT 20000) s
                                       GROUP BY 1 ORDER BY count(*) DESC LIMIT 30"""),
    }


@requires("bd", "manager")
def open_requests_for_listing(*, conn: Connection, actor: Actor, listing_id: int,
                              limit: int = 50) -> pd.DataFrame:
    """Open requests a BD may pair this listing with by hand: same series first, newest first."""
    return db.fetch_df(conn, """
        SELECT r.id AS request_id, r.mode, se.name AS series, t.name AS trim_name, r.quantity,
               r.max_price, r.needed_by, c.name AS city, m.name AS buyer,
               (r.series_id = lt.series_id) AS same_series,
               (SELECT st.display_name FROM ops.lead_claims cl JOIN ops.staff st ON st.id = cl.owner_id
                WHERE cl.request_id = r.id) AS owner
        FROM app.listings l
        JOIN app.trims lt ON lt.id = l.trim_id
        JOIN app.requests r ON r.status = 'open' AND r.series_id = lt.series_id
                            AND r.merchant_id <> l.merchant_id
        JOIN app.series se ON se.id = r.series_id
        LEFT JOIN app.trims t ON t.id = r.trim_id
        JOIN app.cities c ON c.id = r.city_id
        JOIN app.merchants m ON m.id = r.merchant_id
        WHERE l.id = :lid
        ORDER BY (r.trim_id IS NULL OR r.trim_id = l.trim_id) DESC, r.created_at DESC
        LIMIT :limit""", lid=listing_id, limit=limit)
