"""The VIP tiers' deposit fee discount (issue 19): the escrow service fee schedule, the check
/vip shows (member deposits charged more than the tier's fee), and the demo's marketplace
charging members the discounted fee. Figures worked out by hand in the comments."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from console.errors import PermissionDenied
from console.finance import fees
from tests import finance_rows as fr
from tests.test_credit_support import one, rows

SHANGHAI = timezone(timedelta(hours=8))


# ---------------------------------------------------------------- the schedule
def test_a_schedule_without_a_rate_for_every_size_class_is_refused(tmp_path: Path):
    path = tmp_path / "fees.toml"
    path.write_text("[rate_by_size_class]\nlarge = 0.003\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one rate"):
        fees.load_schedule(path)
    path.write_text("[rate_by_size_class]\nlarge = 0.003\nsmall = 1.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one rate"):
        fees.load_schedule(path)


# ---------------------------------------------------------------- the check
def at(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)


def membership(engine, staff_id: int, merchant_id: int, tier: str, start: str, end: str,
               *, cancelled_at: datetime | None = None) -> int:
    return one(engine, """
        INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, status,
                                         list_fee, fee_paid, payment_ref, enrolled_by,
                                         cancelled_by, cancelled_at, cancel_reason_code,
                                         cancel_reason)
        VALUES (:m, :tier, :start, :end, CASE WHEN :c IS NULL THEN 'active' ELSE 'cancelled' END,
                19800, 19800, :ref, :staff, CASE WHEN :c IS NOT NULL THEN :staff END, :c,
                CASE WHEN :c IS NOT NULL THEN 'merchant_request' END,
                CASE WHEN :c IS NOT NULL THEN '商户申请退出' END)
        RETURNING id""", m=merchant_id, tier=tier, start=start, end=end, c=cancelled_at,
        ref=f"PAY-{merchant_id}-{start}", staff=staff_id)


def deposit(engine, w: dict, buyer: int, amount: int, paid: datetime, fee: str, *,
            status: str = "completed") -> int:
    """An order of ``buyer`` whose deposit was paid at ``paid``, carrying ``fee``: completed
    (its fee collected: a succeeded fee payment), in progress (deposit_paid: not collected
    yet) or cancelled (no fee)."""
    escrow = {"completed": "released", "deposit_paid": "held", "cancelled": "refunded"}[status]
    order = fr.order(engine, buyer=buyer, seller=w["seller"], trim_id=w["trim"],
                     city_id=w["city"], amount=amount, status=status, escrow=escrow)
    one(engine, """UPDATE app.orders SET deposit_paid_at = :p, created_at = :c, fee_amount = :f
                   WHERE id = :o RETURNING id""",
        p=paid, c=paid - timedelta(hours=3), f=D(fee), o=order)
    if status == "completed":
        one(engine, """INSERT INTO app.payments (order_id, kind, channel, amount, status, paid_at,
                                                 created_at)
                       VALUES (:o, 'fee', 'bank', :f, 'succeeded', :at, :at) RETURNING id""",
            o=order, f=D(fee), at=paid + timedelta(days=3))
    return order


def test_the_fee_is_the_buyers_rate_less_the_tiers_discount_to_the_cent(engine, make_actor):
    """The rule as the check computes it (fees.MEMBER_DEPOSITS_SQL): list_fee = value × the
    buyer's rate, due_fee = that × (1 − the tier's discount), each to the cent, half up."""
    staff = make_actor("bd").id
    w = fr.world(engine)
    small, large = w["buyer"], fr.world(engine)["buyer"]
    one(engine, "UPDATE app.merchants SET size_class = 'small' WHERE id = :m RETURNING id", m=small)
    one(engine, "UPDATE app.merchants SET size_class = 'large' WHERE id = :m RETURNING id", m=large)
    membership(engine, staff, small, "gold", "2026-01-01", "2026-12-31")       # 20% off
    membership(engine, staff, large, "diamond", "2026-01-01", "2026-12-31")    # 30% off
    paid = at("2026-03-02", "10:00")
    o = {"small": deposit(engine, w, small, D("123456.78"), paid, "0",
                              status="deposit_paid"),
         "large": deposit(engine, w, large, D("123456.78"), paid, "0",
                              status="deposit_paid"),
         "half": deposit(engine, w, small, D("1001"), paid, "0",
                              status="deposit_paid"),
         "diamond": deposit(engine, w, large, D("300000"), paid, "0",
                              status="deposit_paid")}
    with engine.connect() as conn:
        got = {r.order_id: (r.list_fee, r.due_fee) for r in fees.member_deposits(conn).itertuples()}
    assert {k: got[v] for k, v in o.items()} == {
        "small": (D("617.28"), D("493.83")),     # × 0.005 = 617.284; × 0.8 = 493.827
        "large": (D("370.37"), D("259.26")),     # × 0.003 = 370.370; × 0.7 = 259.259
        "half": (D("5.01"), D("4.00")),          # 5.005: half up, not to even; × 0.8 = 4.004
        "diamond": (D("900.00"), D("630.00")),   # diamond: 900 less 30%
    }


@pytest.fixture
def members(engine, make_actor):
    """金牌 (gold, 20% off, a large buyer: 0.3%) with a 2026 term, and 银牌 (silver, 10% off, a
    small buyer: 0.5%) whose term was cancelled on 2026-06-01 at noon."""
    w = fr.world(engine)
    gold = w["buyer"]
    silver = fr.world(engine)["buyer"]
    one(engine, "UPDATE app.merchants SET size_class = 'large', name = '金牌车商' WHERE id = :m RETURNING id",
        m=gold)
    one(engine, "UPDATE app.merchants SET size_class = 'small', name = '银牌车商' WHERE id = :m RETURNING id",
        m=silver)
    staff = make_actor("bd").id
    ids = {"gold": membership(engine, staff, gold, "gold", "2026-01-01", "2026-12-31"),
           "silver": membership(engine, staff, silver, "silver", "2026-03-01", "2027-02-28",
                                cancelled_at=at("2026-06-01", "12:00"))}
    o = {
        # gold: 200,000 × 0.003 = 600.00 list, 480.00 due
        "g_ok": deposit(engine, w, gold, 200_000, at("2026-02-10", "10:00"), "480.00"),
        # charged the list fee: 120.00 over
        "g_full": deposit(engine, w, gold, 200_000, at("2026-05-10", "10:00"), "600.00"),
        # 150,000: 450.00 list, 360.00 due; charged a promotion's 300.00: not flagged, saved 150
        "g_promo": deposit(engine, w, gold, 150_000, at("2026-07-01", "09:00"), "300.00"),
        # the term's last Shanghai day, 23:30 (15:30 UTC): inside, carrying 600.00 (120.00
        # over), the deal not done: nothing collected, nothing to refund, to correct
        "g_last": deposit(engine, w, gold, 200_000, at("2026-12-31", "23:30"), "600.00",
                          status="deposit_paid"),
        # cancelled: no fee, left out, whatever it carries
        "g_cancelled": deposit(engine, w, gold, 200_000, at("2026-08-01", "10:00"), "600.00",
                               status="cancelled"),
        # the next day 00:30 Shanghai (still 2026-12-31 in UTC): outside the term
        "g_after": deposit(engine, w, gold, 200_000, at("2027-01-01", "00:30"), "600.00"),
        # the day before the term: outside
        "g_before": deposit(engine, w, gold, 200_000, at("2025-12-31", "23:59"), "600.00"),
        # silver: 100,000 × 0.005 = 500.00 list, 450.00 due, charged 500.00: 50.00 over
        "s_full": deposit(engine, w, silver, 100_000, at("2026-05-31", "18:00"), "500.00"),
        # after the cancellation (same day, 13:00): no longer a member's deposit
        "s_after_cancel": deposit(engine, w, silver, 100_000, at("2026-06-01", "13:00"), "500.00"),
    }
    return {"gold": gold, "silver": silver, "terms": ids, "orders": o}


def check(console_engine, actor, **kw):
    with console_engine.begin() as conn:
        return fees.member_fee_check(conn=conn, actor=actor, **kw)


def test_the_check_lists_the_member_deposits_charged_more_than_the_tiers_fee(
        members, console_engine, make_actor):
    got = check(console_engine, make_actor("risk"))
    o = members["orders"]
    assert [(r.order_id, r.merchant, r.tier, str(r.paid_on), r.amount, r.fee_amount, r.due_fee,
             r.over, r.fee_collected, r.refund) for r in got.overcharged.itertuples()] == [
        (o["g_full"], "金牌车商", "gold", "2026-05-10", D("200000.00"), D("600.00"), D("480.00"),
         D("120.00"), D("600.00"), D("120.00")),
        (o["g_last"], "金牌车商", "gold", "2026-12-31", D("200000.00"), D("600.00"), D("480.00"),
         D("120.00"), D("0"), D("0.00")),
        (o["s_full"], "银牌车商", "silver", "2026-05-31", D("100000.00"), D("500.00"), D("450.00"),
         D("50.00"), D("500.00"), D("50.00")),
    ]
    terms = {r.merchant: r for r in got.terms.itertuples()}
    gold = terms["金牌车商"]
    # four deposits (the cancelled order left out): 750,000; list 600 + 600 + 450 + 600 =
    # 2,250; carrying 480 + 600 + 300 + 600 = 1,980; 120 collected over (g_full)
    assert (gold.deposits, gold.gmv, gold.list_fees, gold.fees_charged, gold.saved,
            gold.overcharged_orders, gold.overcharged, gold.refund) == (
        4, D("750000.00"), D("2250.00"), D("1980.00"), D("270.00"), 2, D("240.00"), D("120.00"))
    silver = terms["银牌车商"]
    assert (silver.deposits, silver.fees_charged, silver.saved, silver.overcharged,
            silver.refund) == (1, D("500.00"), D("0.00"), D("50.00"), D("50.00"))
    assert list(got.terms["merchant"]) == ["金牌车商", "银牌车商"]   # most over first
    assert (got.saved, got.refund, got.to_correct) == (D("270.00"), D("170.00"), 1)


def test_the_check_from_a_day_reads_the_deposits_paid_since(members, console_engine, make_actor):
    got = check(console_engine, make_actor("manager"), since=datetime(2026, 6, 1).date())
    assert list(got.overcharged["order_id"]) == [members["orders"]["g_last"]]
    assert list(got.terms["deposits"]) == [2]          # g_promo and g_last


def test_no_member_deposits_is_an_empty_check(engine, console_engine, make_actor):
    got = check(console_engine, make_actor("bd"))
    assert got.terms.empty and got.overcharged.empty
    assert (got.saved, got.refund, got.to_correct) == (0, 0, 0)


def test_ops_may_not_read_the_fee_check(members, console_engine, make_actor):
    with pytest.raises(PermissionDenied):
        check(console_engine, make_actor("ops"))


# ---------------------------------------------------------------- the demo's marketplace
def test_the_demo_charges_members_the_tiers_fee_but_for_the_two_it_missed(demo_engine,
                                                                          make_actor):
    # Independent of fees.py: the tiers' discounts and the rates written out here.
    member_orders = rows(demo_engine, """
        SELECT o.id, o.fee_amount,
               round(o.amount * CASE m.size_class WHEN 'large' THEN 0.003 ELSE 0.005 END
                     * (1 - CASE v.tier WHEN 'silver' THEN 0.10 WHEN 'gold' THEN 0.20
                                        ELSE 0.30 END), 2) AS due,
               round(o.amount * CASE m.size_class WHEN 'large' THEN 0.003 ELSE 0.005 END, 2) AS list,
               (SELECT p.amount FROM app.payments p WHERE p.order_id = o.id AND p.kind = 'fee') AS paid
        FROM app.orders o
        JOIN app.merchants m ON m.id = o.buyer_id
        JOIN fin.vip_memberships v ON v.merchant_id = o.buyer_id AND o.status <> 'cancelled'
         AND (o.deposit_paid_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN v.starts_on AND v.expires_on
         AND (v.cancelled_at IS NULL OR o.deposit_paid_at < v.cancelled_at)
        ORDER BY o.id""")
    # Enough for the check to mean something (22 on 2026-12-05; the terms follow today).
    assert len(member_orders) > 10
    missed = [r["id"] for r in member_orders if r["fee_amount"] != r["due"]]
    assert len(missed) == 2
    assert all(r["fee_amount"] == r["list"] for r in member_orders if r["id"] in missed)
    assert all(r["paid"] in (None, r["fee_amount"]) for r in member_orders)
    with demo_engine.begin() as conn:
        got = fees.member_fee_check(conn=conn, actor=make_actor("risk"))
    assert sorted(got.overcharged["order_id"]) == missed
    assert got.saved == sum(r["list"] - r["fee_amount"] for r in member_orders)
