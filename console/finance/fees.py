"""The escrow service fee (定金担保服务费) and the check that VIP members got their discount
(issue 19).

The marketplace charges the fee when a buyer's deposit goes into escrow; the console never
charges it. What the console owns is the check: a member was sold ``deposit_fee_discount``
off the fee of every deposit it paid while its term ran (console/finance/vip_tiers.toml), and
``member_fee_check`` compares each such order's fee with the schedule (fees.toml), so that the
finance desk can refund a member who was charged more and BD can tell a member what its
membership saved it at renewal.

Which deposits count: orders whose deposit was paid on a Shanghai day inside one of the
buyer's terms (``starts_on`` to ``expires_on``, both included), before the term's
cancellation if it was cancelled. Terms of one merchant do not overlap (a renewal starts the
day after the old term; a second term in force is refused); should two ever cover one deposit,
the larger discount is the one the member was promised.

A cancelled order charges no fee and is left out. The fee an order carries (``fee_amount``)
is collected when the deal completes (a succeeded ``fee`` payment): an order carrying more than
the tier's fee whose fee was collected owes the member a refund of what was collected over it;
one not collected yet is to be corrected before it is.

A fee below the schedule's is not flagged: a promotion may lower a fee, never raise it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from console import db
from console.finance import vip
from console.roles import Actor, requires

SCHEDULE_PATH = Path(__file__).with_name("fees.toml")
SIZE_CLASSES = ("large", "small")      # app.merchants.size_class (migration 001's CHECK)


@dataclass(frozen=True)
class Schedule:
    rates: dict[str, Decimal]          # size class -> share of the order's value


def load_schedule(path: Path = SCHEDULE_PATH) -> Schedule:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))["rate_by_size_class"]
    rates = {k: Decimal(str(v)) for k, v in raw.items()}
    if set(rates) != set(SIZE_CLASSES) or not all(Decimal(0) <= r < 1 for r in rates.values()):
        raise ValueError(f"{path.name}: one rate in [0, 1) for each of {SIZE_CLASSES}")
    return Schedule(rates=rates)


@lru_cache(maxsize=1)
def schedule() -> Schedule:
    return load_schedule()


def _params() -> dict[str, Any]:
    tiers = vip.load_config().tiers
    rates = schedule().rates
    return {"classes": list(rates), "rates": [str(r) for r in rates.values()],
            "tiers": [t.code for t in tiers],
            "discounts": [str(Decimal(str(t.deposit_fee_discount))) for t in tiers]}


# One row per order a member paid a deposit on during a term, with its term: the fee charged,
# the fee at the list rate and the fee due after the tier's discount, each the order's value ×
# rate (× (1 − discount)) rounded to the cent half away from zero (round() of a numeric). The
# one statement of the rule: the check reads it, and so does the demo's marketplace
# (console/demo/vip.py), so both read "which deposits, which discount, which fee" one way.
MEMBER_DEPOSITS_SQL = """
WITH schedule AS (
    SELECT * FROM unnest(CAST(:classes AS text[]), CAST(:rates AS numeric[])) AS s(size_class, rate)
), discounts AS (
    SELECT * FROM unnest(CAST(:tiers AS text[]), CAST(:discounts AS numeric[])) AS d(tier, discount)
)
SELECT DISTINCT ON (o.id)
       o.id AS order_id, v.id AS membership_id, v.merchant_id, m.name AS merchant, v.tier,
       v.starts_on, v.expires_on, d.discount, o.amount, o.fee_amount, o.deposit_paid_at,
       round(o.amount * s.rate, 2) AS list_fee,
       round(o.amount * s.rate * (1 - d.discount), 2) AS due_fee,
       (SELECT coalesce(sum(p.amount), 0) FROM app.payments p
        WHERE p.order_id = o.id AND p.kind = 'fee' AND p.status = 'succeeded') AS fee_collected
FROM fin.vip_memberships v
JOIN discounts d ON d.tier = v.tier
JOIN app.orders o ON o.buyer_id = v.merchant_id
 AND o.deposit_paid_at IS NOT NULL AND o.status <> 'cancelled'
 AND (o.deposit_paid_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN v.starts_on AND v.expires_on
 AND (v.cancelled_at IS NULL OR o.deposit_paid_at < v.cancelled_at)
JOIN app.merchants m ON m.id = o.buyer_id
JOIN schedule s ON s.size_class = m.size_class
ORDER BY o.id, d.discount DESC
"""


def member_deposits(conn: Connection, *, since: date | None = None) -> pd.DataFrame:
    """The member deposits (``MEMBER_DEPOSITS_SQL``), those paid on or after ``since`` only
    when given. No role check: callers are the check below and the demo seed."""
    if since is None:
        return db.fetch_df(conn, MEMBER_DEPOSITS_SQL, **_params())
    return db.fetch_df(conn, f"""SELECT * FROM ({MEMBER_DEPOSITS_SQL}) x
        WHERE (x.deposit_paid_at AT TIME ZONE 'Asia/Shanghai')::date >= CAST(:since AS date)""",
        since=since, **_params())


@dataclass(frozen=True)
class FeeCheck:
    terms: pd.DataFrame         # one row per term with deposits: what it saved, what was over
    overcharged: pd.DataFrame   # one row per order carrying more than the tier's fee

    def _sum(self, frame: pd.DataFrame, column: str) -> Decimal:
        return Decimal(frame[column].sum()) if not frame.empty else Decimal("0.00")

    @property
    def saved(self) -> Decimal:
        return self._sum(self.terms, "saved")

    @property
    def refund(self) -> Decimal:
        """Collected over the tier's fee: owed back to the members."""
        return self._sum(self.overcharged, "refund")

    @property
    def to_correct(self) -> int:
        """Orders carrying too high a fee not collected yet: to correct before it is."""
        return int((self.overcharged["fee_collected"] == 0).sum()) if not self.overcharged.empty else 0


_TERM_COLUMNS = ["membership_id", "merchant_id", "merchant", "tier", "starts_on", "expires_on",
                 "deposits", "gmv", "list_fees", "fees_charged", "saved", "overcharged_orders",
                 "overcharged", "refund"]
_ORDER_COLUMNS = ["order_id", "membership_id", "merchant_id", "merchant", "tier", "paid_on",
                  "amount", "fee_amount", "due_fee", "over", "fee_collected", "refund"]


@requires(*vip.READERS)
def member_fee_check(*, conn: Connection, actor: Actor, since: date | None = None) -> FeeCheck:
    """Per member term: its deposits, their value, the fees at the list rate and as charged,
    what the discount saved, and the orders carrying more than the tier's fee (the marketplace
    forgot the discount or took the wrong tier) with what was collected over it, most over
    first."""
    rows = member_deposits(conn, since=since)
    if rows.empty:
        return FeeCheck(terms=pd.DataFrame(columns=_TERM_COLUMNS),
                        overcharged=pd.DataFrame(columns=_ORDER_COLUMNS))
    for column in ("amount", "fee_amount", "list_fee", "due_fee", "fee_collected"):
        rows[column] = rows[column].map(Decimal)
    zero = Decimal("0.00")
    rows["over"] = [max(f - d, zero) for f, d in zip(rows["fee_amount"], rows["due_fee"])]
    rows["refund"] = [max(c - d, zero) if o > 0 else zero
                      for c, d, o in zip(rows["fee_collected"], rows["due_fee"], rows["over"])]
    terms = rows.groupby("membership_id").agg(
        merchant_id=("merchant_id", "first"), merchant=("merchant", "first"),
        tier=("tier", "first"), starts_on=("starts_on", "first"),
        expires_on=("expires_on", "first"), deposits=("order_id", "size"), gmv=("amount", "sum"),
        list_fees=("list_fee", "sum"), fees_charged=("fee_amount", "sum"), overcharged=("over", "sum"),
        refund=("refund", "sum"),
        overcharged_orders=("over", lambda s: int((s > 0).sum()))).reset_index()
    terms["saved"] = terms["list_fees"] - terms["fees_charged"]
    terms = terms.sort_values(["overcharged", "saved"], ascending=False, kind="stable")[_TERM_COLUMNS]
    over = rows[rows["over"] > 0].assign(
        paid_on=lambda f: f["deposit_paid_at"].dt.tz_convert("Asia/Shanghai").dt.date)
    over = over.sort_values(["over", "order_id"], ascending=[False, True])[_ORDER_COLUMNS]
    return FeeCheck(terms=terms.reset_index(drop=True), overcharged=over.reset_index(drop=True))
