"""The one formatting module: what staff read for every number, amount, share and time."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pandas as pd
import pytest

from console import fmt


@pytest.mark.parametrize("value,zh,en", [
    (85494300, "8,549.43 万元", "8,549.43 × 10k CNY"),
    (Decimal("84200.00"), "8.42 万元", "8.42 × 10k CNY"),
    (0, "0.00 万元", "0.00 × 10k CNY"),
    (None, "—", "—"),
    (float("nan"), "—", "—"),
])
def test_money_in_wan_has_separators_and_its_unit(value, zh, en):
    assert fmt.wan(value, lang="zh") == zh
    assert fmt.wan(value, lang="en") == en


def test_table_cells_carry_the_bare_number_and_the_header_the_unit():
    assert fmt.wan_number(85494300) == "8,549.43"
    assert fmt.wan_unit("zh") == "万元"
    assert fmt.wan_unit("en") == "10k CNY"


def test_single_car_prices_in_yuan_without_cents():
    assert fmt.yuan(Decimal("84200.00")) == "¥84,200"
    assert fmt.yuan(5_000_000) == "¥5,000,000"
    assert fmt.yuan(-1500) == "−¥1,500"
    assert fmt.yuan(pd.NA) == "—"


def test_a_measured_value_reads_as_a_count_or_a_short_decimal():
    assert fmt.measure(Decimal("12000")) == "12,000"
    assert fmt.measure(Decimal("0.500")) == "0.5"
    assert fmt.measure(0.12345) == "0.123"
    assert fmt.measure(-2.5) == "−2.5"
    assert fmt.measure(-0.0001) == "0"
    assert fmt.measure(None) == "—"
    assert fmt.measure(float("nan")) == "—"


def test_percentages_have_one_decimal_and_changes_a_sign():
    assert fmt.percent(0.7783) == "77.8%"
    assert fmt.percent(0.165) == "16.5%"
    assert fmt.percent(0.5) == "50.0%"
    assert fmt.change(0.123) == "+12.3%"
    assert fmt.change(-0.04) == "−4.0%"
    assert fmt.change(0) == "0.0%"
    # Rounding to zero does not leave a lone minus sign.
    assert fmt.change(-0.00001) == "0.0%"


def test_discount_points_read_as_the_trade_says_them():
    assert fmt.points(13.6, lang="zh") == "下13.6点"
    assert fmt.points(13.6, lang="en") == "13.6 pts below guide"
    assert fmt.points(-2, lang="zh") == "加2.0点"


def test_times_are_shanghai_wall_clock_without_offset():
    utc = datetime(2026, 12, 4, 11, 3, 27, tzinfo=timezone.utc)
    assert fmt.when(utc) == "2026-12-04 19:03"
    assert fmt.day(datetime(2026, 12, 4, 17, 0, tzinfo=timezone.utc)) == "2026-12-05"
    assert fmt.when(pd.Timestamp(utc)) == "2026-12-04 19:03"
    assert fmt.when(pd.NaT) == "—"
    assert fmt.day(date(2026, 2, 28)) == "2026-02-28"


def test_an_expiry_reads_as_the_day_chosen():
    # Chosen "until 2027-02-28", stored as the exclusive end 2027-03-01 00:00 Shanghai.
    stored = datetime(2027, 2, 28, 16, 0, tzinfo=timezone.utc)
    assert fmt.when(stored) == "2027-03-01 00:00"
    assert fmt.expiry_day(stored) == "2027-02-28"
    # An expiry in the middle of a day is that day.
    assert fmt.expiry_day(datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc)) == "2027-03-01"


def test_a_frame_is_written_column_by_column():
    rows = pd.DataFrame({"gmv": [85494300, None], "rate": [0.5, 0.125], "n": [1200, 3]})
    out = fmt.frame(rows, {"gmv": "wan", "rate": "percent", "n": "number"}, lang="en")
    assert out.to_dict("list") == {"gmv": ["8,549.43", "—"], "rate": ["50.0%", "12.5%"],
                                   "n": ["1,200", "3"]}
    assert rows["gmv"].iloc[0] == 85494300   # the input is left alone
    with pytest.raises(ValueError):
        fmt.frame(rows, {"gmv": "money"}, lang="zh")
