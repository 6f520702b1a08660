"""The funnel over the moments kept on mart.funnel_facts (migration 091): steps reached in
order under a window, to the microsecond at its edge, a step first done before the one it
follows, in progress against dropped, the hours between moments, and a first time changed
by a later write (the columns are generated, so every writer keeps them).

Hand-built rows on fixed dates (the clock is not read: ``as_of`` is given); every expected
figure is worked out by hand in the comments. R = 2026-03-02 10:00 Shanghai.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from console.services import growth
from console.services.growth import GrowthFilters

RANGE = GrowthFilters(start=date(2026, 3, 1), end=date(2026, 4, 5))
AS_OF = datetime(2026, 4, 4, 16, 0, tzinfo=timezone.utc)   # 2026-04-05 00:00 Shanghai
approx = pytest.approx
US = 1 / 3600e6                                            # one microsecond in hours

# merchant, channel, registered, cert_submitted, certified, first_post, first_match,
# first_deposit, first_deal (Shanghai time)
ROWS = [
    # A: submits exactly 14 days after registering, certified a microsecond later, posts
    # exactly 14 days after that; no match.
    (1, "bd_visit", "2026-03-02 10:00", "2026-03-16 10:00", "2026-03-16 10:00:00.000001",
     "2026-03-30 10:00:00.000001", None, None, None),
    # B: submits 14 days and a microsecond after registering; certified (before submitting,
    # an hour after registering); never posts.
    (2, "bd_visit", "2026-03-02 10:00", "2026-03-16 10:00:00.000001", "2026-03-02 11:00",
     None, None, None, None),
    # C: certified an hour before submitting (counts at the submission's moment), posts and
    # is matched at the same instant, pays a deposit 17 days later, a deal the day after.
    (3, "organic", "2026-03-02 10:00", "2026-03-02 12:00", "2026-03-02 11:00",
     "2026-03-05 10:00", "2026-03-05 10:00", "2026-03-22 10:00", "2026-03-23 10:00"),
    # D: registered only.
    (4, "organic", "2026-03-02 10:00", None, None, None, None, None, None),
    # E: every step an hour after the one before.
    (5, "organic", "2026-03-02 10:00", "2026-03-02 11:00", "2026-03-02 12:00",
     "2026-03-02 13:00", "2026-03-02 14:00", "2026-03-02 15:00", "2026-03-02 16:00"),
    # F: registered three days before AS_OF, nothing since: its window is open.
    (6, "ad", "2026-04-02 00:00", None, None, None, None, None, None),
    # G: submitted 10 days after registering, ten days before AS_OF; not certified yet.
    (7, "ad", "2026-03-16 00:00", "2026-03-26 00:00", None, None, None, None, None),
    # H: never submitted, yet certified and posted: stops at registration.
    (8, "ad", "2026-03-02 10:00", None, "2026-03-03 10:00", "2026-03-04 10:00", None, None,
     None),
]
COLUMNS = ("cert_submitted_at", "certified_at", "first_post_at", "first_match_at",
           "first_deposit_at", "first_deal_at")


def _ts(value: str | None) -> str | None:
    return None if value is None else f"{value}+08"


@pytest.fixture
def manager(engine, make_actor):
    with engine.begin() as conn:
        for mid, channel, reg, *steps in ROWS:
            conn.execute(sa.text(f"""
                INSERT INTO mart.funnel_facts (merchant_id, registered_at, cohort_month, channel,
                    merchant_type, size_class, {", ".join(COLUMNS)})
                VALUES (:mid, :reg, date_trunc('month', CAST(:reg AS timestamptz)
                                               AT TIME ZONE 'Asia/Shanghai')::date,
                        :channel, '4s', 'small', {", ".join(":" + c for c in COLUMNS)})"""),
                {"mid": mid, "reg": _ts(reg), "channel": channel,
                 **{c: _ts(v) for c, v in zip(COLUMNS, steps)}})
    return make_actor("manager")


def _column(frame, name, group=""):
    rows = frame[frame["group"] == group].sort_values("step_no")
    return [None if v is None or v != v else v for v in rows[name].tolist()]


def test_steps_reached_under_14_days_to_the_microsecond(engine, manager):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=14, as_of=AS_OF)
    # Reached: A 4 (14 days exactly is inside), B 1 (a microsecond over), C 5 (the deposit
    # 17 days after the match), D 1, E 7, F 1, G 2, H 1 (no submission).
    assert _column(f, "merchants") == [8, 4, 3, 3, 2, 1, 1]
    # Open windows at AS_OF: F (registered 3 days before) at step 2, G (submitted 10 days
    # before) at step 3, A (posted 2026-03-30) at step 5; B, D, H, C closed long ago.
    assert _column(f, "in_progress") == [0, 1, 1, 0, 1, 0, 0]
    assert _column(f, "dropped") == [0, 3, 0, 0, 0, 1, 0]
    # Hours from the previous step's moment, over those who reached the step:
    # step 2: E 1, C 2, G 240, A 336; step 3: A one microsecond, C 0 (certified before
    # submitting: counted at the submission), E 1; step 4: E 1, C 70 (03-02 12:00 to 03-05
    # 10:00), A 336; step 5: C 0 (matched as it posted), E 1; steps 6 and 7: E 1.
    assert _column(f, "median_hours")[0] is None and _column(f, "p90_hours")[0] is None
    assert _column(f, "median_hours")[1:] == approx([121.0, US, 70.0, 0.5, 1.0, 1.0],
                                                    rel=1e-12, abs=1e-15)
    assert _column(f, "p90_hours")[1:] == approx([240 + 0.7 * 96, 0.8 + 0.2 * US,
                                                  70 + 0.8 * 266, 0.9, 1.0, 1.0],
                                                 rel=1e-12, abs=1e-15)


def test_a_day_longer_window_takes_the_microsecond_late_submission(engine, manager):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=15, as_of=AS_OF)
    # B reaches steps 2 and 3 (certified before submitting) and stops at the post.
    assert _column(f, "merchants") == [8, 5, 4, 3, 2, 1, 1]
    # B's window at step 4 closed on 2026-03-31 (submitted 03-16 plus 15 days).
    assert _column(f, "in_progress") == [0, 1, 1, 0, 1, 0, 0]


def test_any_time_counts_every_step_done_in_order(engine, manager):
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=None,
                          as_of=AS_OF)
        by_channel = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=None,
                                   breakdown="channel", as_of=AS_OF)
    # Reached: A 4, B 3, C 7, D 1, E 7, F 1, G 2, H 1; nobody's window closes.
    assert _column(f, "merchants") == [8, 5, 4, 3, 2, 2, 2]
    assert _column(f, "in_progress") == [0, 3, 1, 1, 1, 0, 0]
    assert _column(f, "dropped") == [0, 0, 0, 0, 0, 0, 0]
    # C's deposit counts now: 17 days after its match.
    assert _column(f, "median_hours")[5:] == approx([(1 + 17 * 24) / 2, 12.5])
    # ad: F 1, G 2, H 1; bd_visit: A 4, B 3; organic: C 7, D 1, E 7.
    assert by_channel["group"].drop_duplicates().tolist() == ["ad", "organic", "bd_visit"]
    assert _column(by_channel, "merchants", "ad") == [3, 1, 0, 0, 0, 0, 0]
    assert _column(by_channel, "merchants", "bd_visit") == [2, 2, 2, 1, 0, 0, 0]
    assert _column(by_channel, "merchants", "organic") == [3, 2, 2, 2, 2, 2, 2]


def test_the_drop_off_list_names_who_stopped_and_whose_window_is_open(engine, manager):
    with engine.connect() as conn:
        page = growth.drop_off_page(conn=conn, actor=manager, filters=RANGE,
                                    step="cert_submitted", window_days=14, as_of=AS_OF)
        match = growth.drop_offs(conn=conn, actor=manager, filters=RANGE,
                                 step="first_match", window_days=14, as_of=AS_OF)
    # Stopped at registration: F (latest, window open), then B, D, H (registered together).
    assert (page.total, page.in_progress) == (4, 1)
    assert page.rows["merchant_id"].tolist() == [6, 2, 4, 8]
    assert page.rows["window_open"].tolist() == [True, False, False, False]
    # Stopped at the post: A, since its post at 2026-03-30 10:00:00.000001.
    assert match["merchant_id"].tolist() == [1]
    assert match["reached_previous_at"].iloc[0] == datetime(2026, 3, 30, 2, 0, 0, 1,
                                                             tzinfo=timezone.utc)
    assert match["window_open"].tolist() == [True]


def test_a_later_write_of_a_first_time_moves_the_kept_moments(engine, manager):
    # A is matched 2026-04-01 10:00, two days (less a microsecond) after its post: it
    # reaches step 5, its window at step 6 open until 2026-04-15.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE mart.funnel_facts SET first_match_at = :t "
                             "WHERE merchant_id = 1"), {"t": "2026-04-01 10:00+08"})
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=14, as_of=AS_OF)
    assert _column(f, "merchants") == [8, 4, 3, 3, 3, 1, 1]
    assert _column(f, "in_progress") == [0, 1, 1, 0, 0, 1, 0]
    # step 5: C 0, E 1, A 48 hours less a microsecond.
    assert _column(f, "median_hours")[4] == approx(1.0)
    assert _column(f, "p90_hours")[4] == approx(1 + 0.8 * (48 - US - 1), rel=1e-12)
    # Its post rewritten to 2026-03-31 10:00: 15 days (less a microsecond) after its
    # certification, past the window: A stops at step 3 (dropped: that window closed
    # 2026-03-30), and its match no longer counts.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE mart.funnel_facts SET first_post_at = :t "
                             "WHERE merchant_id = 1"), {"t": "2026-03-31 10:00+08"})
    with engine.connect() as conn:
        f = growth.funnel(conn=conn, actor=manager, filters=RANGE, window_days=14, as_of=AS_OF)
    assert _column(f, "merchants") == [8, 4, 3, 2, 2, 1, 1]
    assert _column(f, "in_progress") == [0, 1, 1, 0, 0, 0, 0]
    assert _column(f, "dropped") == [0, 3, 0, 1, 0, 1, 0]
    # step 4: E 1, C 70; step 5: C 0, E 1.
    assert _column(f, "median_hours")[3:5] == approx([35.5, 0.5])
