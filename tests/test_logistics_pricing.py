"""The logistics desk's arithmetic by hand (console/logistics/geo.py, pricing.py): road km from
the cities' coordinates in the database × the road factor, the band a distance falls in, a
carrier's price per car and total, transit days, a single-car truck against a large carrier,
the merchant's price and a load's saving per car.

Hand computations (haversine, R = 6371.0088 km):
  上海 (31.230372, 121.473662) → 成都 (30.572893, 104.066794): 1,660.70 km; × 1.25 = 2,075.88 → 2,076
  苏州 (31.2974, 120.585728)   → 成都:                          1,576.12 km; × 1.25 = 1,970.15 → 1,970
  上海 → 苏州: 84.72 km (nearby at 150 km); 上海 → 杭州 (30.24692, 120.209789): 162.94 km (not)
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from console.logistics import geo, pricing
from console.logistics.pricing import Rate
from tests import lgx_quote_rows


def _cities(engine, *names):
    ids = lgx_quote_rows.cities(engine, *names)
    with engine.connect() as conn:
        found = geo.cities(conn, ids.values())
    return {name: found[ids[name]] for name in names}


def test_road_km_between_cities_is_the_great_circle_times_the_road_factor(engine):
    c = _cities(engine, "上海", "成都", "苏州", "杭州")
    sh, cd, sz, hz = c["上海"], c["成都"], c["苏州"], c["杭州"]
    assert (sh.latitude, sh.longitude, sh.province) == (31.230372, 121.473662, "上海市")
    assert round(geo.great_circle_km(sh.latitude, sh.longitude, cd.latitude, cd.longitude), 2) == 1660.70
    assert geo.city_road_km(sh, cd, 1.25) == 2076
    assert geo.city_road_km(cd, sh, 1.25) == 2076          # the same both ways
    assert geo.city_road_km(sz, cd, 1.25) == 1970
    assert geo.city_road_km(sh, cd, 1.3) == 2159           # 1,660.70 × 1.3 = 2,158.91
    assert geo.is_nearby(sh, sz, 150) and geo.is_nearby(sh, sh, 0)
    assert not geo.is_nearby(sh, hz, 150)
    assert geo.is_nearby(sh, hz, 163)


def test_road_km_rounds_half_up_and_is_at_least_one():
    assert geo.road_km(100.4, 1.25) == 126     # 125.5 -> 126
    assert geo.road_km(100.3, 1.25) == 125     # 125.375 -> 125
    assert geo.road_km(0.0, 1.25) == 1


@pytest.mark.parametrize("km, band", [(0, (0, 500)), (499, (0, 500)), (500, (500, 1000)),
                                      (1999, (1000, 2000)), (2000, (2000, None)),
                                      (2076, (2000, None)), (9000, (2000, None))])
def test_a_distance_falls_in_one_standard_band(km, band):
    assert geo.band_of(km) == band


RATES = [
    Rate("large", 0, 500, D("2.000"), D("300.00")),
    Rate("large", 500, 2000, D("1.500"), D("0")),
    Rate("large", 2000, None, D("1.200"), D("0")),
    Rate("small", 2000, None, D("2.000"), D("0")),
    Rate("single", 0, 500, D("6.000"), D("1500.00")),
    Rate("single", 2000, None, D("4.000"), D("0")),
]


def test_price_per_car_is_the_bands_rate_times_km_or_its_minimum():
    # 上海 → 成都, 2,076 km: large 2,076 × 1.2 = 2,491.20; small × 2.0 = 4,152.00
    assert pricing.price_per_car(pricing.rate_for(RATES, "large", 2076), 2076) == D("2491.20")
    assert pricing.price_per_car(pricing.rate_for(RATES, "small", 2076), 2076) == D("4152.00")
    # 上海 → 苏州, 106 km: large 106 × 2.0 = 212 < the 300 minimum; single 636 < 1,500
    assert pricing.price_per_car(pricing.rate_for(RATES, "large", 106), 106) == D("300.00")
    assert pricing.price_per_car(pricing.rate_for(RATES, "single", 106), 106) == D("1500.00")
    # the band boundary belongs to the upper band: 2,000 km at 1.2, 1,999 km at 1.5
    assert pricing.price_per_car(pricing.rate_for(RATES, "large", 2000), 2000) == D("2400.00")
    assert pricing.price_per_car(pricing.rate_for(RATES, "large", 1999), 1999) == D("2998.50")
    # no small rate below 2,000 km, no single rate between 500 and 2,000
    assert pricing.rate_for(RATES, "small", 1970) is None
    assert pricing.estimate(RATES, truck_type="single", km=1000, cars=1) is None


def test_a_single_car_truck_costs_several_times_a_large_carriers_car():
    large = pricing.estimate(RATES, truck_type="large", km=2076, cars=1)
    single = pricing.estimate(RATES, truck_type="single", km=2076, cars=1)
    assert (large.price_per_car, large.total) == (D("2491.20"), D("2491.20"))
    assert (single.price_per_car, single.total) == (D("8304.00"), D("8304.00"))   # 2,076 × 4
    assert single.total / large.total == D("8304.00") / D("2491.20")             # 3.33 times


def test_an_estimate_totals_its_cars_and_counts_its_trucks(settings_env):
    est = pricing.estimate(RATES, truck_type="small", km=2076, cars=5)
    assert (est.price_per_car, est.total, est.transit_days, est.trucks) == (
        D("4152.00"), D("20760.00"), 6, 2)                 # 5 cars on 3-car trucks: 2 trucks
    est = pricing.estimate(RATES, truck_type="large", km=2076, cars=8)
    assert (est.total, est.trucks) == (D("19929.60"), 1)
    settings_env(CONSOLE_LOGISTICS_CAPACITY_LARGE=10)
    assert pricing.trucks_needed(11, "large") == 2 and pricing.trucks_needed(10, "large") == 1


@pytest.mark.parametrize("km, days", [(1, 3), (550, 3), (551, 4), (1100, 4), (2076, 6),
                                      (4000, 10), (100_000, 60)])
def test_transit_days_are_days_on_the_road_plus_loading_and_unloading(km, days):
    # ceil(km / 550) + 2: 2,076 / 550 = 3.77 -> 4 + 2 = 6; capped at 60
    assert pricing.transit_days(km) == days


def test_transit_days_follow_the_km_per_day_setting(settings_env):
    settings_env(CONSOLE_LOGISTICS_KM_PER_DAY=500)
    assert pricing.transit_days(2076) == 7                 # ceil(4.152) = 5, + 2


def test_sent_alone_a_few_cars_go_on_a_small_or_single_truck_more_fill_a_large_one():
    assert pricing.solo_types(1) == ("small", "single")
    assert pricing.solo_types(3) == ("small", "single")
    assert pricing.solo_types(4) == ("large",)


def test_the_merchant_pays_the_cost_plus_the_margin_share(settings_env):
    assert pricing.merchant_price(D("12456.00")) == D("13452.48")        # × 1.08
    assert pricing.merchant_price(D("2491.20")) == D("2690.50")          # 2,690.496 -> .50
    settings_env(CONSOLE_LOGISTICS_MARGIN_SHARE="0.1")
    assert pricing.merchant_price(D("2491.20")) == D("2740.32")


def test_saving_per_car_is_the_difference_over_the_cars():
    # three requests of 1, 2 and 1 cars sent alone for 4,152 each car (16,608.00);
    # together on a large truck at 2,491.20 a car (9,964.80): 6,643.20 / 4 = 1,660.80 a car
    assert pricing.saving_per_car(D("16608.00"), D("9964.80"), 4) == D("1660.80")
    assert pricing.saving_per_car(D("100.00"), D("100.00"), 3) == D("0.00")
    assert pricing.saving_per_car(D("10.00"), D("0.00"), 3) == D("3.33")
    assert pricing.saving_per_car(D("10.00"), D("0.00"), 0) == D("0.00")


@pytest.mark.parametrize("text, value", [
    ("2491.2", D("2491.20")), ("2,491.20", D("2491.20")), ("¥ 8304", D("8304.00")),
    ("NaN", None), ("nan", None), ("Infinity", None), ("-5", None), ("0", None), ("1.234", None),
    ("abc", None), ("", None), (None, None), ("9" * 100_000, None), ("1000000000000", None)])
def test_typed_amounts_are_yuan_to_the_fen_positive_and_finite(text, value):
    assert pricing.parse_yuan(text) == value


@pytest.mark.parametrize("text, value", [("1.2", D("1.200")), ("0.875", D("0.875")),
                                         ("0", None), ("-1", None), ("1.2345", None),
                                         ("NaN", None), ("x", None)])
def test_typed_rates_are_positive_with_at_most_three_decimals(text, value):
    assert pricing.parse_rate(text) == value
