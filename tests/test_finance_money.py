"""Order-loan money, by hand (console/finance/money.py): interest per day rounded half-up to
the fen, a repayment to interest first then principal, DPD and buckets, the order's share."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from console.errors import Conflict, InvalidInput
from console.finance import money


def test_one_days_interest_is_rounded_half_up_to_the_fen():
    # 200,000.00 × 万五 = 100.00 exactly
    assert money.daily_interest(D("200000.00"), D("0.000500")) == D("100.00")
    # 10,010.00 × 0.0005 = 5.005: half a fen goes up (banker's rounding would give 5.00)
    assert money.daily_interest(D("10010.00"), D("0.000500")) == D("5.01")
    # 10,009.00 × 0.0005 = 5.0045: below half a fen goes down
    assert money.daily_interest(D("10009.00"), D("0.000500")) == D("5.00")
    # 123,456.78 × 万三 = 37.037034 -> 37.04
    assert money.daily_interest(D("123456.78"), D("0.000300")) == D("37.04")


def test_days_of_interest_round_each_day_not_the_total():
    # 10,010 × 0.0005 = 5.005 a day: 30 days are 30 × 5.01 = 150.30, not 30 × 5.005 = 150.15
    assert money.interest_for_days(D("10010.00"), D("0.000500"), 30) == D("150.30")
    assert money.interest_for_days(D("140000.00"), D("0.000400"), 60) == D("3360.00")
    assert money.interest_for_days(D("140000.00"), D("0.000400"), 0) == D("0.00")


def test_a_repayment_goes_to_interest_first_then_principal():
    split = money.allocate(D("500.00"), interest_due=D("120.50"), principal_due=D("10000.00"))
    assert (split.to_interest, split.to_principal) == (D("120.50"), D("379.50"))
    # less than the interest owed: all of it to interest
    split = money.allocate(D("100.00"), interest_due=D("120.50"), principal_due=D("10000.00"))
    assert (split.to_interest, split.to_principal) == (D("100.00"), D("0.00"))
    # exactly what is owed: everything paid
    split = money.allocate(D("10120.50"), interest_due=D("120.50"), principal_due=D("10000.00"))
    assert (split.to_interest, split.to_principal) == (D("120.50"), D("10000.00"))


def test_a_repayment_above_what_is_owed_is_refused_whole_with_what_is_owed():
    with pytest.raises(Conflict) as err:
        money.allocate(D("10120.51"), interest_due=D("120.50"), principal_due=D("10000.00"))
    assert err.value.key == "finance.loans.error.repayment_above_owed"
    assert err.value.params == {"owed": "¥10,120.50"}


@pytest.mark.parametrize("amount", [D("0"), D("-1.00")])
def test_nothing_or_less_is_no_repayment(amount):
    with pytest.raises(InvalidInput) as err:
        money.allocate(amount, interest_due=D("1.00"), principal_due=D("1.00"))
    assert err.value.key == "finance.error.amount_not_positive"


@pytest.mark.parametrize("value", [D("1.005"), 1.5, D("NaN"), D("Infinity"), "abc", True])
def test_a_fraction_of_a_fen_or_a_float_is_refused_not_rounded(value):
    with pytest.raises(InvalidInput) as err:
        money.yuan(value)
    assert err.value.key == "finance.loans.error.amount_format"


def test_yuan_keeps_two_decimals():
    assert str(money.yuan(D("12"))) == "12.00"
    assert str(money.yuan("12.5")) == "12.50"
    assert str(money.yuan(7)) == "7.00"


def test_the_orders_share_rounds_down_to_the_fen():
    assert money.max_principal(D("200000.00"), D("0.7")) == D("140000.00")
    # 123,456.79 × 0.7 = 86,419.753 -> 86,419.75 (never up)
    assert money.max_principal(D("123456.79"), D("0.7")) == D("86419.75")
    assert money.max_principal(D("0.03"), D("0.7")) == D("0.02")


def test_balance_is_principal_plus_interest_minus_what_was_paid():
    assert money.balance(principal=D("140000.00"), principal_paid=D("40000.00"),
                         interest_accrued=D("1680.00"), interest_paid=D("1200.00")) == D("100480.00")


def test_days_past_due_and_their_buckets():
    due = date(2026, 3, 31)
    assert money.days_past_due(date(2026, 3, 31), due, unpaid=True) == 0    # due today
    assert money.days_past_due(date(2026, 4, 1), due, unpaid=True) == 1
    assert money.days_past_due(date(2026, 6, 29), due, unpaid=True) == 90
    assert money.days_past_due(date(2026, 6, 30), due, unpaid=True) == 91
    assert money.days_past_due(date(2026, 6, 30), due, unpaid=False) == 0   # paid up
    assert money.days_past_due(date(2026, 6, 30), None, unpaid=True) == 0   # not disbursed
    assert [money.bucket(d) for d in (0, 1, 30, 31, 60, 61, 90, 91, 400)] == [
        "current", "dpd_1_30", "dpd_1_30", "dpd_31_60", "dpd_31_60", "dpd_61_90",
        "dpd_61_90", "dpd_90p", "dpd_90p"]


def test_a_default_is_more_than_the_threshold_days_past_due():
    assert not money.is_default(90, 90)
    assert money.is_default(91, 90)
    # due 2026-03-31: 90 days later is 2026-06-29; the first day in default is 2026-06-30
    assert money.default_day(date(2026, 3, 31), 90) == date(2026, 6, 30)
