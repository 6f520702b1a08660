"""Car-source search (车源寻找): filters, sorting and server-side paging over live listings.

The WHERE clause is assembled from fixed SQL fragments, one per filter the user set; every
value is a bound parameter. Distance is great-circle from the chosen city, in SQL, once per
city. Speed at the large scale with a month of history (bench/matching.py, every filter alone
and combined): a search finds its matches first and sorts them when there are at most
COUNT_CAP, and walks the sort order otherwise (search_listings).
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
from console.grades import GRADES
from console.imports import prices as import_prices
from console.imports.details import AVAILABILITIES, MARKET_VERSIONS, PORTS
from console.imports.status import docs_missing_sql
from console.roles import Actor, requires
from console.services.matching import GRADE_EXPR, GRADE_RELATION, grades_available

# Counting every match of a broad search costs more than it tells: beyond this we say "10,000+".
COUNT_CAP = 10_000
# A search without any filter (every live listing of an active seller) is broad on any
# database this size: when the planner estimates at least this many such listings, the sort
# order is walked at once and the total said as "10,000+", without first finding 10,001
# matches to learn that (100-170 ms of the car search's first view at the large scale). The
# estimate only decides that; below it, or with any filter set, the search counts as before.
BROAD_ESTIMATE = 10 * COUNT_CAP

# The discount in points (下X点) as staff see it, rounded to 0.1 point: the filter, the sort and
# the column shown use this one expression, which migration 067 indexes (with its statistics)
# for live listings.
DISCOUNT = "round((l.guide_price - l.price) / l.guide_price * 100, 1)"

# The rows come in yuan; the search filters ask in 万元, so the page shows these columns in
# 万元 too (one unit per context, issue 14), with the rest of SHOWN_FORMATS (console/fmt.py).
PRICE_COLUMNS = ("guide_price", "price")
SHOWN_FORMATS = {"guide_price": "wan", "price": "wan", "discount_points": "decimal",
                 "published_at": "when", "available_from": "day", "km": "number",
                 "import_reference": "wan", "import_reference_count": "number"}
# A parallel import's columns (issue 21): NULL on a domestic listing.
IMPORT_COLUMNS = ("market_version", "port", "availability", "expected_arrival", "docs_missing",
                  "import_reference", "import_reference_count")

# Sort orders over the columns every hit carries: (column, descending).
SORTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "price": (("price", False), ("id", False)),
    "price_desc": (("price", True), ("id", False)),
    "discount": (("discount", True), ("id", False)),
    "freshness": (("published_at", True), ("id", False)),
    "distance": (("km", False), ("price", False), ("id", False)),
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
    # Parallel imports (app.listing_imports): any of these market versions and ports, in
    # stock ('in_stock') or a future arrival ('future'); any of them set finds imports only.
    market_versions: Sequence[str] = field(default_factory=tuple)
    ports: Sequence[str] = field(default_factory=tuple)
    availability: str | None = None
    sort: str = "freshness"


# (filter attribute, SQL fragment over the listing l, its seller m and its place d); a
# fragment is used only when its value is set. Vehicle and place filters are resolved first
# (_vehicle_trims, _PLACES).
_CLAUSES: tuple[tuple[str, str], ...] = (
    ("guide_min", "l.guide_price >= :guide_min"),
    ("guide_max", "l.guide_price <= :guide_max"),
    ("price_min", "l.price >= :price_min"),
    ("price_max", "l.price <= :price_max"),
    ("points_min", f"{DISCOUNT} >= :points_min"),
    ("points_max", f"{DISCOUNT} <= :points_max"),
    ("colors", "l.exterior_color = ANY(:colors)"),
    ("parallel_import", "l.is_parallel_import = :parallel_import"),
    ("self_operated", "l.is_self_operated = :self_operated"),
    ("fresh_days", "l.published_at >= now() - make_interval(days => :fresh_days)"),
    ("merchant_types", "m.merchant_type = ANY(:merchant_types)"),
)

# The cities a place filter allows, each with its distance from the chosen city (rounded to
# the km shown and sorted on): 337 great-circle distances instead of one per listing.
_PLACES = """SELECT c.id AS city_id, c.province, c.tier_level,
                    round(CAST(ops.great_circle_km(fc.latitude, fc.longitude,
                                                   c.latitude, c.longitude) AS numeric), 0) AS km
             FROM app.cities c LEFT JOIN app.cities fc ON fc.id = :from_city_id
             WHERE (CAST(:city_id AS integer) IS NULL OR c.id = :city_id)
               AND (CAST(:province AS text) IS NULL OR c.province = :province)
               AND (CAST(:tier AS integer) IS NULL OR c.tier_level = :tier)"""


def _vehicle_trims(conn: Connection, filters: SearchFilters) -> list[int] | None:
    """The trims a brand / series / trim filter allows, or None without one. Passed to the
    search as constants, so the planner estimates the listings they hold from the statistics
    of listings.trim_id (a join through series to the brand hides that from it)."""
    if filters.brand_id is None and filters.series_id is None and filters.trim_id is None:
        return None
    return [int(r["id"]) for r in db.fetch_all(conn, """
        SELECT t.id FROM app.trims t JOIN app.series se ON se.id = t.series_id
        WHERE (CAST(:brand AS integer) IS NULL OR se.brand_id = :brand)
          AND (CAST(:series AS integer) IS NULL OR t.series_id = :series)
          AND (CAST(:trim AS integer) IS NULL OR t.id = :trim)""",
        brand=filters.brand_id, series=filters.series_id, trim=filters.trim_id)]


def _import_clause(filters: SearchFilters) -> tuple[str | None, dict[str, Any]]:
    """One condition for the import filters (None without any): the listing is a parallel
    import (its partial index, migration 067) whose details match each filter set."""
    wanted = {"market_version": (filters.market_versions, MARKET_VERSIONS),
              "port": (filters.ports, PORTS)}
    parts, params = [], {}
    for column, (chosen, allowed) in wanted.items():
        if chosen:
            if any(v not in allowed for v in chosen):
                raise InvalidInput("imports.search.error.unknown_choice")
            parts.append(f"fi.{column} = ANY(:import_{column})")
            params[f"import_{column}"] = list(chosen)
    if filters.availability is not None:
        if filters.availability not in AVAILABILITIES:
            raise InvalidInput("imports.search.error.unknown_choice")
        parts.append("fi.availability = :import_availability")
        params["import_availability"] = filters.availability
    if not parts:
        return None, {}
    return (f"""l.is_parallel_import AND l.id IN (
                 SELECT fi.listing_id FROM app.listing_imports fi WHERE {" AND ".join(parts)})""",
            params)


def _where(filters: SearchFilters, with_grades: bool,
           trims: list[int] | None) -> tuple[list[str], dict[str, Any]]:
    clauses = ["l.status = 'live'", "m.status = 'active'"]
    params: dict[str, Any] = {"from_city_id": filters.from_city_id, "city_id": filters.city_id,
                              "province": filters.province, "tier": filters.tier}
    if trims is not None:
        clauses.append("l.trim_id = ANY(CAST(:trims AS integer[]))")
        params["trims"] = trims
    for name, fragment in _CLAUSES:
        value = getattr(filters, name)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        clauses.append(fragment)
        params[name] = list(value) if isinstance(value, (list, tuple)) else value
    imports, import_params = _import_clause(filters)
    if imports is not None:
        clauses.append(imports)
        params.update(import_params)
    if filters.grades and with_grades:
        unknown = set(filters.grades) - set(GRADES)
        if unknown:
            raise InvalidInput("matching.error.unknown_grade")
        clauses.append(f"""l.merchant_id IN (SELECT g.merchant_id FROM {GRADE_RELATION} g
                                            WHERE ({GRADE_EXPR}) = ANY(:grades))""")
        params["grades"] = list(filters.grades)
    return clauses, params


def _order(sort: str, alias: str = "", names: dict[str, str] | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{(names or {}).get(col, col)}{' DESC' if desc else ''}"
                     for col, desc in SORTS[sort])


# What a hit carries: the listing's id and every sort key (km is NULL without a chosen city).
_HIT = f"l.id, l.price, l.published_at, {DISCOUNT} AS discount, d.km"
_HITS_FROM = """FROM app.listings l
        JOIN app.merchants m ON m.id = l.merchant_id
        JOIN places d ON d.city_id = l.city_id"""

# The page's rows, shown: the vehicle, the place, the seller and its grade, for the page only.
_SHOWN = """
        SELECT l.id AS listing_id, b.name AS brand, se.name AS series, t.name AS trim_name,
               l.guide_price, l.price, p.discount AS discount_points,
               l.exterior_color, l.interior_color, l.quantity, lc.name AS city, lc.province,
               lc.tier_level AS tier, l.is_parallel_import, l.is_self_operated,
               l.available_from, l.published_at, m.name AS seller, m.merchant_type,
               {grade} AS grade, p.km,
               li.market_version, li.port, li.availability, li.expected_arrival,
               CASE WHEN l.is_parallel_import THEN """ + docs_missing_sql("l") + """ END
                   AS docs_missing, l.trim_id AS import_trim_id
        FROM page p
        JOIN app.listings l ON l.id = p.id
        JOIN app.trims t ON t.id = l.trim_id
        JOIN app.series se ON se.id = t.series_id
        JOIN app.brands b ON b.id = se.brand_id
        JOIN app.cities lc ON lc.id = l.city_id
        JOIN app.merchants m ON m.id = l.merchant_id
        LEFT JOIN app.listing_imports li ON li.listing_id = l.id AND l.is_parallel_import
        {grade_join}"""
_SHOWN_NAMES = {"id": "listing_id", "discount": "discount_points"}   # hit column -> shown


def _narrow_sql(where: str, sort: str, shown: str) -> str:
    """Every match (up to COUNT_CAP + 1) found first, however the filters are best served,
    then sorted: at most ten thousand rows, whatever the planner thinks of the filters. The
    total comes with the page (one row with a NULL listing when the page is empty)."""
    return f"""
        WITH places AS ({_PLACES}),
        hits AS MATERIALIZED (
            SELECT {_HIT} {_HITS_FROM}
            WHERE {where}
            LIMIT {COUNT_CAP + 1}
        ),
        page AS (SELECT * FROM hits ORDER BY {_order(sort)} LIMIT :limit OFFSET :offset),
        shown AS ({shown})
        SELECT s.*, n.total
        FROM (SELECT count(*) AS total FROM hits) n
        LEFT JOIN shown s ON true
        ORDER BY {_order(sort, 's', _SHOWN_NAMES)}"""


def _broad_sql(where: str, sort: str, shown: str) -> str:
    """More than COUNT_CAP matches: walk the sort order and check the filters on the way
    (the sort's index for price, freshness and discount). For distance, city by city from
    the nearest, each city's cheapest first (its index on city and price), at most one page
    from each: the page is among those."""
    if sort == "distance":
        page = f"""
            SELECT x.* FROM places d
            CROSS JOIN LATERAL (
                SELECT {_HIT} FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
                WHERE l.city_id = d.city_id AND {where}
                ORDER BY l.price, l.id LIMIT :limit + :offset) x
            ORDER BY {_order(sort, 'x')} LIMIT :limit OFFSET :offset"""
    else:
        page = f"""SELECT {_HIT} {_HITS_FROM} WHERE {where}
                   ORDER BY {_order(sort)} LIMIT :limit OFFSET :offset"""
    return f"""
        WITH places AS ({_PLACES}),
        page AS MATERIALIZED ({page})
        {shown}
        ORDER BY {_order(sort, 'p')}"""


def _surely_broad(conn: Connection, clauses: list[str], filters: SearchFilters) -> bool:
    """No filter beyond live listings of active sellers, and the planner's estimate of those
    (from the table statistics) at least BROAD_ESTIMATE: see BROAD_ESTIMATE."""
    if len(clauses) != 2 or any(v is not None for v in (filters.city_id, filters.province,
                                                        filters.tier)):
        return False
    plan = db.scalar(conn, """EXPLAIN (FORMAT JSON)
        SELECT 1 FROM app.listings l JOIN app.merchants m ON m.id = l.merchant_id
        WHERE l.status = 'live' AND m.status = 'active'""")
    return float(plan[0]["Plan"]["Plan Rows"]) >= BROAD_ESTIMATE


@dataclass(frozen=True)
class SearchPage:
    rows: pd.DataFrame
    total: int
    total_capped: bool          # the true total is above COUNT_CAP
    grades_available: bool


@requires("bd", "manager", replica=True)
def search_listings(*, conn: Connection, actor: Actor, filters: SearchFilters, offset: int = 0,
                    limit: int = 50) -> SearchPage:
    """One page of live listings matching ``filters``, sorted as asked, with the total.

    Two plans, chosen by how many listings match (issue 13: a planner that misjudged the
    filters and walked the sort order over a quarter million rows, or sorted them all): up to
    COUNT_CAP matches are found first and sorted; above it, the sort order is walked. The
    first statement finds the matches and returns the total with them, so a narrow search is
    one statement and a broad one two.
    """
    if filters.sort not in SORTS:
        raise InvalidInput("matching.error.unknown_sort")
    if filters.sort == "distance" and filters.from_city_id is None:
        raise InvalidInput("matching.error.distance_needs_city")
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("matching.error.bad_page")
    with_grades = grades_available(conn)
    clauses, params = _where(filters, with_grades, _vehicle_trims(conn, filters))
    where = " AND ".join(clauses)
    grade = GRADE_EXPR if with_grades else "CAST(NULL AS text)"
    grade_join = (f"LEFT JOIN {GRADE_RELATION} g ON g.merchant_id = l.merchant_id"
                  if with_grades else "")
    shown = _SHOWN.format(grade=grade, grade_join=grade_join)
    params.update(limit=limit, offset=offset)
    if _surely_broad(conn, clauses, filters):
        rows = db.fetch_df(conn, _broad_sql(where, filters.sort, shown), **params)
        return SearchPage(_with_references(conn, rows.reset_index(drop=True)), COUNT_CAP, True,
                          with_grades)
    rows = db.fetch_df(conn, _narrow_sql(where, filters.sort, shown), **params)
    total = int(rows["total"].iloc[0])
    rows = rows[rows["listing_id"].notna()].drop(columns="total")
    if total > COUNT_CAP:
        rows = db.fetch_df(conn, _broad_sql(where, filters.sort, shown), **params)
    return SearchPage(_with_references(conn, rows.reset_index(drop=True)), min(total, COUNT_CAP),
                      total > COUNT_CAP, with_grades)


def _with_references(conn: Connection, rows: pd.DataFrame) -> pd.DataFrame:
    """The page's imports with their price reference and the count it rests on (None and
    the count when too few; None and 0 on a domestic row), read for the page at once."""
    imports = rows[rows["is_parallel_import"].astype(bool)] if not rows.empty else rows
    refs = import_prices.references_of(conn, listings=[
        (int(i), int(t), m if isinstance(m, str) else None)
        for i, t, m in zip(imports.get("listing_id", []), imports.get("import_trim_id", []),
                           imports.get("market_version", []))])
    ids = rows["listing_id"] if "listing_id" in rows else pd.Series(dtype=int)
    return rows.drop(columns="import_trim_id", errors="ignore").assign(
        import_reference=[refs[int(i)].median if int(i) in refs else None for i in ids],
        import_reference_count=[refs[int(i)].count if int(i) in refs else 0 for i in ids])


@requires("bd", "manager", replica=True)
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
               r.max_price, r.needed_by, c.name AS city, m.name AS buyer, m.id AS buyer_id,
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
