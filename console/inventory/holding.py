"""What a self-operated car costs to keep, and what is left of its margin. Pure functions.

The rules (README "Self-operated stock"; the numbers are settings, console/settings.py):

* Days in stock (库龄) = the Shanghai day it is counted on − the purchase date: a car bought
  today has 0 days, as a loan's disbursement day is its first day of interest. A sold car's
  days stop at the Shanghai day of its sale.
* Holding cost a day = purchase cost × the capital's daily rate, rounded half-up to the fen,
  + the warehouse fee per car-day; the holding cost to date = that × the days in stock (each
  day the same, never a fraction of a fen carried over).
* Margin at purchase = the asking price the car was first priced at − its purchase cost;
  margin left = the asking price now − cost − holding to date; realised margin of a sale =
  sold price − cost − the holding cost of its days in stock.
* Age bands: 0–30, 31–60, 61–90, 90+ days.
* The markdown list: cars in stock (not reserved) whose holding cost has eaten at least the
  set share of their margin at purchase (a car priced at or below its cost is on it at once).
* The suggested markdown: the asking price of the car's age band, i.e. the asking price at
  purchase less the band's points (settings: 0, 1, 2, 3 points), rounded down to ¥100, never
  below the floor price: where the band's price is under the floor the suggestion is the
  floor and says so (only a manager may lower a floor). No cut is suggested when the car's
  asking price is already at or under that.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from console.settings import get_settings

FEN = Decimal("0.01")
HUNDRED = Decimal("100")
# (code, first day, last day); the last band is open.
BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0_30", 0, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("90p", 91, None))
BAND_CODES = tuple(b[0] for b in BANDS)


@dataclass(frozen=True)
class Terms:
    """The settings the numbers rest on, read once per call."""
    daily_rate: Decimal
    fee_per_day: Decimal
    markdown_share: Decimal
    band_points: tuple[Decimal, ...]


def terms() -> Terms:
    s = get_settings()
    points = tuple(Decimal(p.strip()) for p in s.stock_markdown_points.split(","))
    if len(points) != len(BANDS):
        raise ValueError("CONSOLE_STOCK_MARKDOWN_POINTS needs one number per age band (4)")
    return Terms(daily_rate=Decimal(s.stock_capital_daily_rate),
                 fee_per_day=Decimal(s.stock_warehouse_yuan_per_day),
                 markdown_share=Decimal(s.stock_markdown_share), band_points=points)


def fen(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def days_in_stock(purchase_date: date, on: date) -> int:
    return max(0, (on - purchase_date).days)


def band_of(days: int) -> str:
    for code, first, last in BANDS:
        if days >= first and (last is None or days <= last):
            return code
    return BANDS[0][0]


def daily_cost(purchase_cost: Decimal, t: Terms) -> Decimal:
    return fen(Decimal(purchase_cost) * t.daily_rate) + t.fee_per_day


def holding_cost(purchase_cost: Decimal, days: int, t: Terms) -> Decimal:
    return fen(daily_cost(purchase_cost, t) * max(0, days))


def margin(price: Decimal, purchase_cost: Decimal, holding: Decimal = Decimal(0)) -> Decimal:
    """price − cost − holding: the margin left at an asking price, or realised at a sale."""
    return fen(Decimal(price) - Decimal(purchase_cost) - Decimal(holding))


def eaten_share(holding: Decimal, margin_at_purchase: Decimal) -> Decimal | None:
    """The share of the margin at purchase the holding cost has eaten; None when there was no
    margin to eat (priced at or below cost)."""
    if margin_at_purchase <= 0:
        return None
    return Decimal(holding) / Decimal(margin_at_purchase)


def on_markdown_list(holding: Decimal, margin_at_purchase: Decimal, t: Terms) -> bool:
    share = eaten_share(holding, margin_at_purchase)
    return share is None or share >= t.markdown_share


@dataclass(frozen=True)
class Suggestion:
    band_price: Decimal          # the asking price of the car's age band
    price: Decimal | None        # the asking price suggested; None: no cut to suggest
    at_floor: bool               # the band's price is under the floor: the floor is suggested


def suggested_markdown(*, first_asking: Decimal, asking: Decimal, floor: Decimal, days: int,
                       t: Terms) -> Suggestion:
    points = t.band_points[BAND_CODES.index(band_of(days))]
    band_price = Decimal(first_asking).quantize(FEN)
    if points > 0:   # a cut is quoted in round hundreds, as dealers quote prices
        band_price = ((band_price * (1 - points / HUNDRED) / HUNDRED).quantize(
            Decimal(1), rounding=ROUND_DOWN) * HUNDRED).quantize(FEN)
    at_floor = band_price < floor
    target = max(band_price, Decimal(floor).quantize(FEN))
    return Suggestion(band_price=band_price, price=target if target < asking else None,
                      at_floor=at_floor)
