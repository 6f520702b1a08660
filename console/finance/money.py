"""Order-loan money (订单贷), exactly: Decimal yuan, never floats. Pure functions.

The rules (the nightly accrual, console/finance/accrual.py, does the same in SQL):

* Amounts are yuan with two decimals (fen). An amount given with a fraction of a fen is
  refused, never rounded: money a person typed is taken as typed or not at all.
* Interest for one day = outstanding principal × the daily rate, rounded half-up to the fen
  (ROUND_HALF_UP: 5.005 → 5.01), each day on its own. Fractions of a fen are never carried
  to the next day. PostgreSQL's ``round(numeric, 2)`` rounds the same way for positive values.
* Days counted: the disbursement day bears interest, the day the money comes back does not
  (a loan disbursed on D and repaid in full on R bears R − D days). The nightly run accrues
  every day up to yesterday (Shanghai), so on any day all the interest owed is already on the
  loan; a repayment first brings its loan up to yesterday for the same reason.
* After the due date interest runs on at the same daily rate (no penalty rate).
* A repayment goes to accrued unpaid interest first, then to principal. A repayment above
  what is owed (accrued unpaid interest + outstanding principal) is refused, whole.
* The largest principal for an order is its amount × the share in settings, rounded down to
  the fen (a cap never rounds up).
* Days past due (DPD) = today − due date while anything is unpaid, else 0. Buckets: current
  (0), 1–30, 31–60, 61–90, 90+ (more than 90). A loan is a default when its DPD exceeds the
  threshold in settings (90: "more than 90 days past due", as Basel's definition); its
  default day is the first such day, due date + threshold + 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from console import fmt
from console.errors import Conflict, InvalidInput

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
BUCKETS = ("current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_90p")


def yuan(value: Decimal | int | str) -> Decimal:
    """``value`` as yuan with two decimals; InvalidInput for a fraction of a fen, a float,
    or something that is not a finite number."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput("finance.loans.error.amount_format")
    try:
        amount = Decimal(value)
    except (ArithmeticError, ValueError, TypeError):
        raise InvalidInput("finance.loans.error.amount_format") from None
    if not amount.is_finite() or amount != amount.quantize(FEN, rounding=ROUND_DOWN):
        raise InvalidInput("finance.loans.error.amount_format")
    return amount.quantize(FEN)


def daily_interest(outstanding: Decimal, daily_rate: Decimal) -> Decimal:
    """One day's interest on ``outstanding`` principal, rounded half-up to the fen."""
    return (outstanding * daily_rate).quantize(FEN, rounding=ROUND_HALF_UP)


def interest_for_days(outstanding: Decimal, daily_rate: Decimal, days: int) -> Decimal:
    """``days`` days of interest at a constant outstanding principal: each day rounded on
    its own, so days × one day's rounded interest (not the rounded product)."""
    if days <= 0:
        return ZERO
    return daily_interest(outstanding, daily_rate) * days


def max_principal(order_amount: Decimal, share: Decimal) -> Decimal:
    """The largest principal an order may carry: its amount × share, rounded down to the fen."""
    return (order_amount * share).quantize(FEN, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Allocation:
    to_interest: Decimal
    to_principal: Decimal

    @property
    def amount(self) -> Decimal:
        return self.to_interest + self.to_principal


def owed(interest_due: Decimal, principal_due: Decimal) -> Decimal:
    return interest_due + principal_due


def allocate(amount: Decimal, *, interest_due: Decimal, principal_due: Decimal) -> Allocation:
    """Split a repayment: accrued unpaid interest first, then principal. Refused (Conflict,
    with what is owed) above what is owed; InvalidInput for zero, a negative amount or a
    fraction of a fen."""
    amount = yuan(amount)
    if amount <= 0:
        raise InvalidInput("finance.error.amount_not_positive")
    total = owed(interest_due, principal_due)
    if amount > total:
        raise Conflict("finance.loans.error.repayment_above_owed", owed=fmt.yuan(total, digits=2))
    to_interest = min(amount, interest_due)
    return Allocation(to_interest=to_interest, to_principal=amount - to_interest)


def balance(*, principal: Decimal, principal_paid: Decimal, interest_accrued: Decimal,
            interest_paid: Decimal) -> Decimal:
    """What the borrower owes: principal + interest accrued − what has been paid."""
    return principal + interest_accrued - principal_paid - interest_paid


def days_past_due(today: date, due_date: date | None, *, unpaid: bool) -> int:
    if due_date is None or not unpaid or today <= due_date:
        return 0
    return (today - due_date).days


def bucket(dpd: int) -> str:
    if dpd <= 0:
        return "current"
    if dpd <= 30:
        return "dpd_1_30"
    if dpd <= 60:
        return "dpd_31_60"
    if dpd <= 90:
        return "dpd_61_90"
    return "dpd_90p"


def is_default(dpd: int, threshold: int) -> bool:
    return dpd > threshold


def default_day(due_date: date, threshold: int) -> date:
    """The first day a loan unpaid since ``due_date`` is a default."""
    return due_date + timedelta(days=threshold + 1)
