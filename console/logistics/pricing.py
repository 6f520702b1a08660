"""The desk's price arithmetic: a carrier's estimate, transit days, the merchant's price, a
load's saving. Pure functions on Decimal yuan (fen, half up), no database, no streamlit.

Rules (each number a setting, console/settings.py ``logistics_*``; README states them):

- **Price per car** of a carrier's truck type for a car going ``km`` road km: the rate of the
  band ``km`` falls in (lgx.carrier_rates: lower bound inclusive, upper exclusive),
  ``max(min_per_car, km × yuan_per_car_km)``, to the fen. The total of a request is the price
  per car × its cars.
- **Transit days** = ceil(road km / km per day) + 2: one day to load and one to unload,
  whatever the truck (``logistics_km_per_day``, 550: a car-carrier covers 500–600 km a day).
  At most 60 days (lgx.quotes holds 1–60).
- **Capacity** of a truck: large car-carrier (大板) ``logistics_capacity_large`` (8), small
  (小板) ``logistics_capacity_small`` (3), single-car truck 1; trucks needed = ceil(cars /
  capacity).
- **Sending a request on its own** (the baseline of a load's saving): a large carrier's per-car
  price is the price of a car on a full truck, which a few cars do not fill; a request of at
  most a small truck's capacity goes alone on a small or single-car truck, a bigger one fills
  a large truck itself. ``solo_types`` names them.
- **Price to the merchant** = the carrier's cost × (1 + ``logistics_margin_share``), to the
  fen; the platform's margin is the difference.
- **Saving per car** of a load = (what its requests cost sent on their own − what they cost
  together) / its cars, to the fen.

Example (hand-computed in tests/test_logistics_pricing.py): 上海 → 成都 is 2,076 road km; a
large-truck rate of 1.20 yuan per car-km in the 2,000+ band gives ¥2,491.20 a car; a
single-car truck at 4.00 gives ¥8,304.00 (3.3 times); transit ceil(2076 / 550) + 2 = 6 days.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from console.settings import get_settings

TRUCK_TYPES = ("large", "small", "single")
FEN = Decimal("0.01")
MAX_YUAN = Decimal("1000000000000")   # numeric(14,2)
MAX_TRANSIT_DAYS = 60
LOAD_AND_UNLOAD_DAYS = 2


@dataclass(frozen=True)
class Rate:
    truck_type: str
    band_from_km: int
    band_to_km: int | None
    yuan_per_car_km: Decimal
    min_per_car: Decimal

    def covers(self, km: int) -> bool:
        return self.band_from_km <= km and (self.band_to_km is None or km < self.band_to_km)


@dataclass(frozen=True)
class Estimate:
    truck_type: str
    distance_km: int
    price_per_car: Decimal
    total: Decimal
    transit_days: int
    trucks: int


def fen(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def capacity(truck_type: str) -> int:
    settings = get_settings()
    return {"large": settings.logistics_capacity_large,
            "small": settings.logistics_capacity_small, "single": 1}[truck_type]


def trucks_needed(cars: int, truck_type: str) -> int:
    return math.ceil(cars / capacity(truck_type))


def transit_days(km: int, km_per_day: int | None = None) -> int:
    per_day = km_per_day or get_settings().logistics_km_per_day
    return min(MAX_TRANSIT_DAYS, math.ceil(km / per_day) + LOAD_AND_UNLOAD_DAYS)


def rate_for(rates: Iterable[Rate], truck_type: str, km: int) -> Rate | None:
    """The rate of ``truck_type`` whose band holds ``km`` (the lowest band first if two
    overlap), or None: the carrier does not price that distance on that truck."""
    fitting = [r for r in rates if r.truck_type == truck_type and r.covers(km)]
    return min(fitting, key=lambda r: r.band_from_km) if fitting else None


def price_per_car(rate: Rate, km: int) -> Decimal:
    return fen(max(Decimal(rate.min_per_car), Decimal(km) * Decimal(rate.yuan_per_car_km)))


def estimate(rates: Iterable[Rate], *, truck_type: str, km: int, cars: int,
             km_per_day: int | None = None) -> Estimate | None:
    """A carrier's estimate for ``cars`` cars over ``km`` road km on ``truck_type``."""
    rate = rate_for(rates, truck_type, km)
    if rate is None:
        return None
    per_car = price_per_car(rate, km)
    return Estimate(truck_type=truck_type, distance_km=km, price_per_car=per_car,
                    total=fen(per_car * cars), transit_days=transit_days(km, km_per_day),
                    trucks=trucks_needed(cars, truck_type))


def solo_types(cars: int) -> tuple[str, ...]:
    """The truck types a request travels on when sent on its own (module doc)."""
    return ("small", "single") if cars <= capacity("small") else ("large",)


def margin_share() -> Decimal:
    return Decimal(get_settings().logistics_margin_share)


def merchant_price(cost: Decimal, share: Decimal | None = None) -> Decimal:
    """What the merchant pays for a carrier's ``cost``: cost × (1 + margin share)."""
    return fen(Decimal(cost) * (1 + (margin_share() if share is None else share)))


def saving_per_car(separate_total: Decimal, together_total: Decimal, cars: int) -> Decimal:
    """(separately − together) / cars, to the fen; 0 for no cars."""
    if cars <= 0:
        return Decimal("0.00")
    return fen((Decimal(separate_total) - Decimal(together_total)) / cars)


def parse_yuan(text: str | None, *, allow_zero: bool = False) -> Decimal | None:
    """A typed amount of yuan ("2,491.2", "¥ 8304") as Decimal to the fen; None when it is
    not a finite number with at most two decimals, is negative, or is zero (unless allowed)."""
    cleaned = (text or "").strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not cleaned or len(cleaned) > 20:
        return None
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        return None
    if not value.is_finite() or value != value.quantize(FEN):
        return None
    if value < 0 or (value == 0 and not allow_zero) or value >= MAX_YUAN:
        return None
    return value.quantize(FEN)


def parse_rate(text: str | None) -> Decimal | None:
    """A typed yuan per car-km (numeric(8,3)): positive, at most three decimals, below 100,000."""
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned or len(cleaned) > 12:
        return None
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        return None
    if not value.is_finite() or value <= 0 or value >= 100_000:
        return None
    if value != value.quantize(Decimal("0.001")):
        return None
    return value.quantize(Decimal("0.001"))
