"""Point-in-time development data: the card's features as of a past date, and the outcome
after it (sql/queries/credit_features_as_of.sql).

A development sample stacks the merchants graded on a few score dates; the out-of-time
sample is a later score date whose window the development windows do not reach. The label
of a merchant on a date D is a bad event from D's Shanghai midnight (the features' cut) to
window_days later; bad events before D are features, never labels.

Bad events: a deposit default, a dispute lost, and a loan default (etl.loan_defaults,
migration 102): an order loan of fin.loans 90+ days past due (issue 19), dated the start of
its default day fin.loans.default_at (the first day it was more than settings.loan_default_dpd
days past due), so a default on day D is D's label and an input from D + 1 on; or an older
record of app.loan_applications closed as defaulted (the marketplace's outcome-only loan
history, which the development windows before the finance desk rest on). A loan counts only
through its default, so a loan disbursed after D changes nothing in D's features.
``loan_bad`` marks the bad rows whose label includes an order loan reaching 90+ DPD.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Connection

from console import db

# The features the rebuilt rows carry, as the mart names them.
FEATURES = ("cert_level", "months_on_platform", "deals_12m", "gmv_12m", "deals_total",
            "deposit_defaults", "late_payments", "cancellations", "disputes_raised",
            "disputes_lost", "avg_stars", "review_count", "days_since_active")


def features_as_of(conn: Connection, *, as_of: date, window_days: int) -> pd.DataFrame:
    """One row per merchant registered before ``as_of``: features as of that date (Shanghai
    midnight), ``bad`` = a bad event in [as_of, as_of + window_days) and ``loan_bad`` = an
    order loan reaching 90+ days past due in that window (then ``bad`` too)."""
    frame = db.fetch_df(conn, db.named_query("credit_features_as_of"), as_of=as_of,
                        window_days=int(window_days))
    for column in ("gmv_12m", "purchases_12m", "avg_stars"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["loan_bad"] = frame["next_order_loan_default_at"].notna().astype(int)
    return frame


@dataclass(frozen=True)
class SamplePlan:
    """Score dates of the development sample and of the out-of-time sample."""
    development: tuple[date, ...]
    out_of_time: date
    window_days: int


# The development sample pools this many monthly snapshots (score dates 30 days apart): six
# months of a book, so each grade's calibrated PD rests on hundreds of merchant-windows and tens
# of bad ones, not on one quarter's few. A merchant appears once per snapshot it was graded on
# (its windows overlap; the rows are not independent, which the report's intervals, computed
# as if they were, understate a little on the development side only).
DEVELOPMENT_DATES = 6


def plan(*, data_end: date, window_days: int, development_dates: int = DEVELOPMENT_DATES,
         spacing_days: int = 30) -> SamplePlan:
    """The out-of-time date is one window before the data ends (its window closes at the
    end); the development dates lie one window and more before it, ``spacing_days`` apart,
    so no development window reaches into the out-of-time window."""
    oot = data_end - timedelta(days=window_days)
    last_dev = oot - timedelta(days=window_days)
    dev = tuple(last_dev - timedelta(days=spacing_days * k)
                for k in reversed(range(development_dates)))
    return SamplePlan(dev, oot, window_days)


def sample(conn: Connection, *, dates: tuple[date, ...] | list[date], window_days: int,
           graded_only: bool = True) -> pd.DataFrame:
    """Merchants as of each date, stacked (a merchant may appear once per date). Graded
    only: with a completed deal before the date (NEW merchants get no grade from the card)."""
    parts = []
    for day in dates:
        frame = features_as_of(conn, as_of=day, window_days=window_days)
        if graded_only:
            frame = frame[frame["deals_total"] >= 1]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
