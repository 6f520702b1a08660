"""The stock desk's reads (ops and managers): the stock list with its filters, the ageing
summary by age band, the markdown list with each car's suggested markdown, and one car's page
with its price history.

Days in stock, the holding cost and the margins follow console/inventory/holding.py; the SQL
here computes the same numbers (``_CARS``: Shanghai days, the daily cost rounded half-up to
the fen by ``round(numeric, 2)`` as holding.daily_cost, times the days) so the list filters
and pages in the database, and a sold car shows what was frozen on it at its sale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pandas as pd
from sqlalchemy.engine import Connection

from console import clock, db
from console.errors import InvalidInput, NotFound
from console.inventory import holding
from console.roles import Actor, requires
from console.settings import get_settings

READ_ROLES = ("ops", "manager")
STATUSES = ("in_stock", "reserved", "sold")
MARKDOWN_LIMIT = 200

# A car's days in stock as of :today (a sold car: to the Shanghai day of its sale), its
# holding cost (a sold car: as frozen) and its age band, on inv.stock_cars s.
_DAYS = """
    CROSS JOIN LATERAL (
        SELECT greatest(0, CASE WHEN s.status = 'sold'
                                THEN (s.sold_at AT TIME ZONE CAST(:tz AS text))::date
                                ELSE CAST(:today AS date) END - s.purchase_date) AS days) d"""
_FIGURES = """
           d.days,
           CASE WHEN s.status = 'sold' THEN s.holding_cost
                ELSE (round(s.purchase_cost * CAST(:rate AS numeric), 2)
                      + CAST(:fee AS numeric)) * d.days END AS holding,
           CASE WHEN d.days <= 30 THEN '0_30' WHEN d.days <= 60 THEN '31_60'
                WHEN d.days <= 90 THEN '61_90' ELSE '90p' END AS band"""
# The words of a car s: its warehouse, brand, series and trim, its buyer's name.
_NAMES = """
           s.reserved_for, rm.name AS reserved_for_name, s.reserved_at,
           s.sold_to, sm.name AS sold_to_name, s.sold_at, s.sold_price, s.realised_margin,
           s.warehouse_id, w.name AS warehouse, ci.short_name AS warehouse_city,
           b.id AS brand_id, b.name AS brand, se.id AS series_id, se.name AS series,
           t.name AS trim_name, t.guide_price"""
_NAME_JOINS = """
    JOIN inv.warehouses w ON w.id = s.warehouse_id
    JOIN app.cities ci ON ci.id = w.city_id
    JOIN app.trims t ON t.id = s.trim_id
    JOIN app.series se ON se.id = t.series_id
    JOIN app.brands b ON b.id = se.brand_id
    LEFT JOIN app.merchants rm ON rm.id = s.reserved_for
    LEFT JOIN app.merchants sm ON sm.id = s.sold_to"""
_COLUMNS = """s.id, s.listing_id, s.vin, s.exterior_color, s.status, s.version,
           s.purchase_cost, s.purchase_date, s.asking_price, s.floor_price,"""
# Every car with its figures and words.
_CARS = f"""
    SELECT {_COLUMNS}{_NAMES},{_FIGURES}
    FROM inv.stock_cars s{_NAME_JOINS}{_DAYS}"""


def _params(t: holding.Terms, today: date) -> dict:
    return {"rate": t.daily_rate, "fee": t.fee_per_day, "today": today,
            "tz": get_settings().timezone}


def _with_margins(df: pd.DataFrame) -> pd.DataFrame:
    """margin_left: asking − cost − holding to date; a sold car's realised margin instead."""
    if df.empty:
        return df.assign(margin_left=pd.Series(dtype=object))
    left = [r if s == "sold" else holding.margin(a, c, h)
            for s, a, c, h, r in zip(df["status"], df["asking_price"], df["purchase_cost"],
                                     df["holding"], df["realised_margin"])]
    return df.assign(margin_left=left)


# ---------------------------------------------------------------- the stock list
@dataclass(frozen=True)
class StockFilters:
    warehouse_id: int | None = None
    statuses: tuple[str, ...] = ()
    band: str | None = None
    brand_id: int | None = None
    series_id: int | None = None


@dataclass(frozen=True)
class StockPage:
    rows: pd.DataFrame
    total: int


def _where(filters: StockFilters) -> tuple[str, dict]:
    if any(s not in STATUSES for s in filters.statuses):
        raise InvalidInput("inventory.error.bad_filter")
    if filters.band is not None and filters.band not in holding.BAND_CODES:
        raise InvalidInput("inventory.error.bad_filter")
    clauses, params = [], {}
    if filters.warehouse_id is not None:
        clauses.append("warehouse_id = :w")
        params["w"] = filters.warehouse_id
    if filters.statuses:
        clauses.append("status = ANY(CAST(:st AS text[]))")
        params["st"] = list(filters.statuses)
    if filters.band is not None:
        clauses.append("band = :band")
        params["band"] = filters.band
    if filters.brand_id is not None:
        clauses.append("brand_id = :b")
        params["b"] = filters.brand_id
    if filters.series_id is not None:
        clauses.append("series_id = :s")
        params["s"] = filters.series_id
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@requires(*READ_ROLES)
def stock_list(*, conn: Connection, actor: Actor, filters: StockFilters, limit: int = 50,
               offset: int = 0) -> StockPage:
    """The stock, oldest first, filtered; each car's days, band, holding cost to date and the
    margin left at its asking price (a sold car: its realised margin)."""
    where, params = _where(filters)
    base = {**_params(holding.terms(), clock.today()), **params}
    # The total in the same pass as the page (one read of the stock, not two).
    rows = db.fetch_df(conn, f"""SELECT *, count(*) OVER () AS total FROM ({_CARS}) c{where}
                                 ORDER BY days DESC, id LIMIT :lim OFFSET :off""",
                       **base, lim=limit, off=offset)
    if rows.empty:   # past the last page, or nothing: the total alone
        total = db.scalar(conn, f"SELECT count(*) FROM ({_CARS}) c{where}", **base) if offset else 0
    else:
        total = rows["total"].iloc[0]
    return StockPage(rows=_with_margins(rows), total=int(total))


@dataclass(frozen=True)
class FilterOptions:
    warehouses: pd.DataFrame
    series: pd.DataFrame       # brand_id, brand, series_id, series of the cars in stock


@requires(*READ_ROLES)
def filter_options(*, conn: Connection, actor: Actor) -> FilterOptions:
    warehouses = db.fetch_df(conn, """
        SELECT w.id, w.name, c.short_name AS city, w.status FROM inv.warehouses w
        JOIN app.cities c ON c.id = w.city_id ORDER BY w.id""")
    series = db.fetch_df(conn, """
        SELECT DISTINCT b.id AS brand_id, b.name AS brand, se.id AS series_id, se.name AS series
        FROM inv.stock_cars s JOIN app.trims t ON t.id = s.trim_id
        JOIN app.series se ON se.id = t.series_id JOIN app.brands b ON b.id = se.brand_id
        ORDER BY b.name, se.name""")
    return FilterOptions(warehouses=warehouses, series=series)


# ---------------------------------------------------------------- the ageing summary
@requires(*READ_ROLES)
def ageing_summary(*, conn: Connection, actor: Actor,
                   warehouse_id: int | None = None) -> pd.DataFrame:
    """Cars not sold by age band (every band, in order, zeros included): cars, capital
    (purchase cost) and holding cost to date."""
    where = " AND warehouse_id = :w" if warehouse_id is not None else ""
    found = db.fetch_df(conn, f"""
        SELECT band, count(*) AS cars, sum(purchase_cost) AS capital, sum(holding) AS holding
        FROM ({_CARS}) c WHERE status <> 'sold'{where} GROUP BY band""",
                        **_params(holding.terms(), clock.today()),
                        **({"w": warehouse_id} if where else {}))
    by_band = {r.band: r for r in found.itertuples()}
    zero = Decimal("0.00")
    return pd.DataFrame([
        {"band": code, "cars": int(by_band[code].cars) if code in by_band else 0,
         "capital": Decimal(by_band[code].capital) if code in by_band else zero,
         "holding": Decimal(by_band[code].holding) if code in by_band else zero}
        for code in holding.BAND_CODES])


# ---------------------------------------------------------------- the markdown list
# Each car's first asking price and last change, one pass over the price changes (a lateral
# look-up per car read them once per car, twice: 3,000 cars took 134 ms).
_FIRST_PRICES = """
    SELECT stock_car_id, (array_agg(asking_before ORDER BY changed_at, id))[1] AS first_asking,
           max(changed_at) AS last_change_at
    FROM inv.price_changes GROUP BY stock_car_id"""


@dataclass(frozen=True)
class MarkdownList:
    rows: pd.DataFrame
    total: int
    share: Decimal = field(default=Decimal("0.5"))


@requires(*READ_ROLES)
def markdown_list(*, conn: Connection, actor: Actor,
                  warehouse_id: int | None = None) -> MarkdownList:
    """Cars in stock whose holding cost has eaten at least the set share of their margin at
    purchase (first asking price − cost), most eaten first (no margin at all first), each with
    its band's price and the suggested asking price (holding.suggested_markdown)."""
    t = holding.terms()
    where = " AND s.warehouse_id = :w" if warehouse_id is not None else ""
    params = {**_params(t, clock.today()), "share": t.markdown_share,
              **({"w": warehouse_id} if where else {})}
    # The candidates are found and ranked on the stock table alone; only the page of them
    # shown is joined to its words.
    rows = db.fetch_df(conn, f"""
        WITH firsts AS ({_FIRST_PRICES}),
        picked AS (
            SELECT s.*,{_FIGURES},
                   coalesce(f.first_asking, s.asking_price) AS first_asking, f.last_change_at,
                   coalesce(f.first_asking, s.asking_price) - s.purchase_cost AS margin_at_purchase
            FROM inv.stock_cars s LEFT JOIN firsts f ON f.stock_car_id = s.id{_DAYS}
            WHERE s.status = 'in_stock'{where}),
        listed AS (
            SELECT p.*, count(*) OVER () AS total,
                   row_number() OVER (ORDER BY CASE WHEN margin_at_purchase <= 0 THEN 0 ELSE 1 END,
                                               holding / nullif(margin_at_purchase, 0) DESC,
                                               days DESC, id) AS rank
            FROM picked p
            WHERE margin_at_purchase <= 0
               OR holding >= CAST(:share AS numeric) * margin_at_purchase)
        SELECT {_COLUMNS}{_NAMES}, s.days, s.holding, s.band, s.first_asking, s.last_change_at,
               s.margin_at_purchase, s.total
        FROM listed s{_NAME_JOINS}
        WHERE s.rank <= :lim ORDER BY s.rank""", **params, lim=MARKDOWN_LIMIT)
    rows = _with_margins(rows)
    if rows.empty:
        return MarkdownList(rows=rows, total=0, share=t.markdown_share)
    total = int(rows["total"].iloc[0])
    shares, prices, band_prices, at_floor = [], [], [], []
    for r in rows.itertuples():
        shares.append(holding.eaten_share(r.holding, r.margin_at_purchase))
        s = holding.suggested_markdown(first_asking=r.first_asking, asking=r.asking_price,
                                       floor=r.floor_price, days=int(r.days), t=t)
        prices.append(s.price)
        band_prices.append(s.band_price)
        at_floor.append(s.at_floor)
    rows = rows.assign(eaten_share=shares, suggested_price=prices, band_price=band_prices,
                       at_floor=at_floor)
    return MarkdownList(rows=rows, total=total, share=t.markdown_share)


# ---------------------------------------------------------------- one car
@dataclass(frozen=True)
class CarPage:
    car: dict
    prices: pd.DataFrame
    suggestion: holding.Suggestion | None
    daily_cost: Decimal


@requires(*READ_ROLES)
def car_page(*, conn: Connection, actor: Actor, stock_car_id: int) -> CarPage:
    """One car: what it cost, where it stands, its days, holding cost and margins, its price
    history (newest first) and, in stock, the suggested markdown of its band."""
    t = holding.terms()
    row = db.fetch_one(conn, f"""
        SELECT m.*, m.first_asking - m.purchase_cost AS margin_at_purchase FROM (
            SELECT c.*, coalesce(first.asking_before, c.asking_price) AS first_asking
            FROM ({_CARS}) c
            LEFT JOIN LATERAL (SELECT p.asking_before FROM inv.price_changes p
                               WHERE p.stock_car_id = c.id ORDER BY p.changed_at, p.id
                               LIMIT 1) first ON true
            WHERE c.id = :id) m""", **_params(t, clock.today()), id=stock_car_id)
    if row is None:
        raise NotFound("inventory.error.not_found")
    car = dict(row)
    car["margin_left"] = (car["realised_margin"] if car["status"] == "sold"
                          else holding.margin(car["asking_price"], car["purchase_cost"],
                                              car["holding"]))
    car["eaten_share"] = holding.eaten_share(car["holding"], car["margin_at_purchase"])
    history = db.fetch_df(conn, """
        SELECT p.changed_at, p.asking_before, p.asking_after, p.floor_before, p.floor_after,
               p.reason, s.display_name AS changed_by
        FROM inv.price_changes p JOIN ops.staff s ON s.id = p.changed_by
        WHERE p.stock_car_id = :id ORDER BY p.changed_at DESC, p.id DESC""", id=stock_car_id)
    suggestion = None
    if car["status"] == "in_stock":
        suggestion = holding.suggested_markdown(
            first_asking=car["first_asking"], asking=car["asking_price"],
            floor=car["floor_price"], days=int(car["days"]), t=t)
    return CarPage(car=car, prices=history, suggestion=suggestion,
                   daily_cost=holding.daily_cost(car["purchase_cost"], t))
