"""The demo's VIP members (console/demo/vip.py) on the small demo: every status present in
the numbers the step writes, BD's follow-up list has work with each reason, and the same seed
writes the same memberships."""
from __future__ import annotations

import time

import sqlalchemy as sa

from console.demo import vip as demo_vip
from console.finance import vip
from tests.conftest import DEMO_SEED

_FINGERPRINT = """
    SELECT string_agg(concat_ws('|', merchant_id, tier, starts_on, expires_on, status,
                                renewed_from, list_fee, fee_paid, payment_ref, grade_at_enrol,
                                enrolled_by, enrolled_at, lapsed_at, cancelled_at), ','
                      ORDER BY id)
    FROM fin.vip_memberships"""


def _statuses(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM fin.vip_memberships GROUP BY status")).all())


def test_the_demo_has_members_of_every_status(demo_engine):
    assert _statuses(demo_engine) == {"active": 15, "renewed": 3, "lapsed": 2, "cancelled": 1}
    with demo_engine.connect() as conn:
        tiers = dict(conn.execute(sa.text("""SELECT tier, count(*) FROM fin.vip_memberships
                                             WHERE status = 'active' GROUP BY tier""")).all())
        renewals = conn.execute(sa.text("""
            SELECT count(*) FROM fin.vip_memberships n JOIN fin.vip_memberships o
              ON o.id = n.renewed_from
            WHERE o.status = 'renewed' AND n.status = 'active'
              AND n.starts_on = o.expires_on + 1""")).scalar()
    assert set(tiers) == {"silver", "gold", "diamond"} and min(tiers.values()) >= 3
    assert renewals == 3


def test_the_follow_up_list_has_work_with_each_reason(demo_engine, console_engine, make_actor):
    bd = make_actor("bd")
    with console_engine.connect() as conn:
        df = vip.follow_up(conn=conn, actor=bd)
    reasons = sorted(tuple(r) for r in df["reasons"])
    assert reasons == [("expiring",), ("expiring",), ("grade_below",), ("lapsed",), ("lapsed",)]
    below = df[df["reasons"].map(lambda r: r == ["grade_below"])].iloc[0]
    assert (below["tier"], below["grade"]) == ("gold", "A")
    assert vip.follow_up_reason(below, lang="zh") == "当前信用等级 A，低于金卡要求的 AA"


def test_the_same_seed_writes_the_same_memberships(demo_engine):
    with demo_engine.connect() as conn:
        first = conn.execute(sa.text(_FINGERPRINT)).scalar()
        conn.rollback()
        with conn.begin():
            conn.execute(sa.text("TRUNCATE fin.vip_memberships RESTART IDENTITY"))
            started = time.perf_counter()
            summary = demo_vip.write(conn, seed=DEMO_SEED)
            seconds = time.perf_counter() - started
            again = conn.execute(sa.text(_FINGERPRINT)).scalar()
            conn.execute(sa.text("TRUNCATE fin.vip_memberships RESTART IDENTITY"))
            demo_vip.write(conn, seed=DEMO_SEED + 1)
            other = conn.execute(sa.text(_FINGERPRINT)).scalar()
    assert again == first
    assert other != first
    # The member orders follow the terms, counted from today: how many varies by the day.
    assert (summary.active, summary.renewed, summary.lapsed, summary.cancelled,
            summary.missed) == (15, 3, 2, 1, 2)
    assert summary.discounted > 10
    print(f"demo VIP members written in {seconds:.2f} s: {summary}")
