"""Point-in-time development data: features as of a date equal what the features mart says
on that date, and the label is a bad event strictly after the date within the window."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest

from console import demo
from console.credit import pit
from etl import jobs as etl_jobs
from etl import runner as etl_runner
from tests import trust_rows
from tests.test_credit_support import city, one

SHANGHAI = timezone(timedelta(hours=8))


def test_features_as_of_today_equal_the_features_mart(engine):
    demo.seed(engine=engine, scale="small", seed=7)
    result = etl_runner.run_job(etl_jobs.JOBS["merchant_features"], engine=engine, full=True)
    assert result.status == "succeeded", result.error
    with engine.connect() as conn:
        as_of = conn.exec_driver_sql("SELECT max(as_of_date) FROM mart.merchant_features").scalar()
        mart = pd.read_sql_query("SELECT * FROM mart.merchant_features ORDER BY merchant_id", conn)
        rebuilt = pit.features_as_of(conn, as_of=as_of, window_days=60)
    columns = [c for c in pit.FEATURES]
    mart = mart.set_index("merchant_id")[columns]
    rebuilt = rebuilt.set_index("merchant_id")[columns]
    # the demo's 300 dealers and the platform's own merchant, which lists its stock (平台自营)
    assert len(mart) == 301 and sorted(rebuilt.index) == sorted(mart.index)
    for column in ("gmv_12m", "avg_stars"):
        mart[column] = pd.to_numeric(mart[column]).astype(float)
    for column in columns:
        left, right = mart[column], rebuilt.loc[mart.index, column]
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), (column, pd.concat([left[~same], right[~same]], axis=1).head())
    # the demo has traders and bad events, or this comparison would prove little
    assert (mart["deals_total"] > 0).sum() > 50 and (mart["deposit_defaults"] > 0).sum() > 0


@pytest.fixture
def hand_history(engine):
    """One buyer, one seller; the buyer defaults on deposits and loses disputes at set days."""
    c = city(engine)
    buyer = trust_rows.merchant(engine, city_id=c)
    seller = trust_rows.merchant(engine, city_id=c)
    one(engine, "UPDATE app.merchants SET registered_at = '2025-01-01' WHERE id IN (:a, :b)",
        a=buyer, b=seller)
    listing = trust_rows.listing(engine, merchant_id=seller, trim_id=trust_rows.trim(engine),
                                 city_id=c)

    def at(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)

    def order(status: str, day: date, **extra) -> int:
        return one(engine, """
            INSERT INTO app.orders (listing_id, buyer_id, seller_id, quantity, unit_price, amount,
                                    deposit_amount, status, escrow_state, cancelled_by,
                                    created_at, deposit_paid_at, completed_at, cancelled_at)
            VALUES (:l, :b, :s, 1, 200000, 200000, 5000, :st, 'released', :by,
                    :at - interval '3 days', :at - interval '2 days', :done, :cancel)
            RETURNING id""", l=listing, b=buyer, s=seller, st=status, at=at(day),
            by=extra.get("by"), done=at(day) if status == "completed" else None,
            cancel=at(day) if status == "cancelled" else None)

    def lost_dispute(order_id: int, day: date) -> None:
        one(engine, """INSERT INTO app.disputes (order_id, raised_by, against_id, reason, status,
                                                 outcome, created_at, resolved_at)
                       VALUES (:o, :s, :b, 'not_delivered', 'resolved', 'raiser_won',
                               :at - interval '5 days', :at)""",
            o=order_id, s=seller, b=buyer, at=at(day))

    return buyer, order, lost_dispute


def test_bad_events_before_the_date_are_inputs_and_after_it_the_label(engine, hand_history):
    buyer, order, lost_dispute = hand_history
    order("completed", date(2026, 1, 10))
    order("cancelled", date(2026, 2, 1), by="buyer")            # deposit default before
    lost_dispute(order("completed", date(2026, 2, 20)), date(2026, 3, 10))   # lost after 3-01
    order("cancelled", date(2026, 5, 15), by="buyer")           # after 60 days of 3-01

    with engine.connect() as conn:
        def row(day: date, window: int = 60) -> dict:
            frame = pit.features_as_of(conn, as_of=day, window_days=window)
            return frame.set_index("merchant_id").loc[buyer].to_dict()

        march = row(date(2026, 3, 1))
        assert (march["deals_total"], march["deposit_defaults"], march["disputes_lost"],
                march["bad"]) == (2, 1, 0, 1)                   # the dispute lost on 3-10
        assert march["next_dispute_lost_at"].date() == date(2026, 3, 10)
        assert pd.isna(march["next_deposit_default_at"])        # 5-15 is past the window
        # The day of the event itself: scored at midnight, the event comes after: a label.
        assert row(date(2026, 3, 10))["bad"] == 1
        # The next day it is an input and no longer the label.
        after = row(date(2026, 3, 11))
        assert (after["disputes_lost"], after["bad"]) == (1, 0)
        # A longer window reaches the second deposit default.
        assert row(date(2026, 3, 11), window=70)["bad"] == 1
        # Before any deal: not graded; the sample of graded merchants leaves it out.
        assert buyer not in set(pit.sample(conn, dates=[date(2026, 1, 5)], window_days=60)["merchant_id"])
        assert buyer in set(pit.sample(conn, dates=[date(2026, 3, 1)], window_days=60)["merchant_id"])


def test_plan_keeps_development_windows_before_the_out_of_time_window():
    p = pit.plan(data_end=date(2026, 11, 20), window_days=60, development_dates=4)
    assert p.out_of_time == date(2026, 9, 21)
    assert p.development == (date(2026, 4, 24), date(2026, 5, 24), date(2026, 6, 23),
                             date(2026, 7, 23))
    assert max(p.development) + timedelta(days=60) <= p.out_of_time
