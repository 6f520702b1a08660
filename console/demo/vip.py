"""The demo's VIP members (会员体系, issue 19): a few terms per tier, so /vip, its follow-up list
and the merchant profile's membership line have something to show.

What is written, among the merchants whose grade admits a tier now (active, rated with enough
history, the scorecard band's ``vip`` flag: console/finance/vip.py ``standing``), each given
the best tier its grade admits unless stated:
- ``FRESH`` per tier: a term in force, started 1 to 10 months ago;
- ``RENEWED`` members: a first term renewed early (status ``renewed``) and the term that took
  over the day after it ended (``active``, ``renewed_from`` the first);
- ``LAPSED`` members: a term that ended 2 to 8 weeks ago without renewal (``lapsed``, stamped
  the night after its end as the jobs' sweep would): on BD's follow-up list;
- ``EXPIRING`` members: a term in force ending within 5 to 25 days: on the list too;
- ``BELOW`` members: a merchant graded A now holding a gold term bought when it was graded AA
  (``grade_at_enrol`` AA): its grade has since fallen below the tier, on the list;
- ``CANCELLED``: a term a risk officer cancelled at the merchant's request.
Fees are the tier's list fee, some with a promotion's 10% off; payment references are unique.
Last, the marketplace's side of the tiers' fee discount: every order a member paid a deposit on
during a term is charged the discounted escrow service fee (console/finance/fees.py), but for
``MISSED`` of them charged the list fee, which /vip's fee check lists. This is the one place
the demo's orders depend on the clock's today (the terms do); the same seed on the same day
still gives the same rows.

Why SQL rather than the services, and the backdating. ``vip.enrol`` starts a term today and
``renew`` refuses more than 60 days before the end; terms begun months ago cannot be made
through them today. So each row is the service's own INSERT (the same columns: list fee, fee
paid, payment reference, grade at enrolment, the enrolling BD) with the start day, the
enrolment time and the lapse / cancellation time of the day it would have happened. The days
are counted from the clock's today (not the demo's anchor) so that "ending within 30 days" and
"ended 2 to 8 weeks ago" hold on the day the demo is seeded. No audit rows are written: the
audit log stamps its own time and is hash-chained, so a row for an enrolment months ago would
carry today's time (as for the demo's loans, console/demo/loans.py).

Deterministic by seed (its own random stream, np.random.default_rng([seed, STREAM])) for a
given today: the same seed on the same day gives the same memberships.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np

from console import clock, db
from console.finance import fees, vip
from console.grades import GRADES

STREAM = 97                  # migration 097's number: nothing else's random stream moves
FRESH = 3                    # terms in force per tier
RENEWED, LAPSED, EXPIRING, BELOW, CANCELLED = 3, 2, 2, 1, 1
MISSED = 2                   # member orders the marketplace charged without the discount
PROMO = Decimal("0.90")      # a promotion's fee: 10% off the list fee
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Summary:
    active: int = 0
    renewed: int = 0
    lapsed: int = 0
    cancelled: int = 0
    discounted: int = 0      # member orders charged the tier's discounted fee
    missed: int = 0          # member orders left at the list fee


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def _eligible(conn) -> list[dict]:
    """Merchants whose grade admits a tier now, by id: id, grade, best tier, BD owner."""
    rows = db.fetch_all(conn, """
        SELECT m.id, g.effective_grade AS grade, m.bd_owner_id
        FROM app.merchants m JOIN ops.merchant_credit g ON g.merchant_id = m.id
        WHERE m.status = 'active' AND g.vip_eligible
          AND NOT (g.insufficient_history AND NOT g.is_override)
        ORDER BY m.id""")
    out = []
    for r in rows:
        tiers = [t for t in vip.load_config().tiers
                 if GRADES.index(r["grade"]) + 1 <= t.min_rank]
        if tiers:
            out.append({"id": r["id"], "grade": r["grade"], "tier": tiers[-1].code,
                        "bd": r["bd_owner_id"]})
    return out


def write(conn, *, seed: int) -> Summary:
    """The demo's memberships, in the seed's transaction after the scoring runs (the grades
    they follow). Nothing when memberships exist already or no merchant is eligible."""
    summary = Summary()
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM fin.vip_memberships)"):
        return summary
    bds = [r["id"] for r in db.fetch_all(conn, """
        SELECT id FROM ops.staff WHERE 'bd' = ANY(roles) AND is_active ORDER BY id""")]
    risk = db.scalar(conn, """SELECT id FROM ops.staff WHERE 'risk' = ANY(roles) AND is_active
                              ORDER BY id LIMIT 1""")
    pool = _eligible(conn)
    if not bds or risk is None or not pool:
        return summary
    rng = np.random.default_rng([seed, STREAM])
    pool = [pool[i] for i in rng.permutation(len(pool))]
    cfg = vip.load_config()
    today = clock.today()
    n_ref = 0

    def take(pred) -> dict | None:
        for i, m in enumerate(pool):
            if pred(m):
                return pool.pop(i)
        return None

    def insert(m: dict, tier: str, start: date, *, grade: str, renewed_from: int | None = None,
               status: str = "active", lapsed_at: datetime | None = None,
               enrolled_at: datetime | None = None) -> int:
        nonlocal n_ref
        n_ref += 1
        t = cfg.tier(tier)
        fee = (t.annual_fee_yuan * PROMO).quantize(vip.CENT) if rng.random() < 0.25 \
            else t.annual_fee_yuan
        enrolled_by = m["bd"] if m["bd"] in bds else bds[m["id"] % len(bds)]
        return db.scalar(conn, """
            INSERT INTO fin.vip_memberships (merchant_id, tier, starts_on, expires_on, status,
                                             renewed_from, list_fee, fee_paid, payment_ref,
                                             grade_at_enrol, enrolled_by, enrolled_at, lapsed_at)
            VALUES (:m, :tier, :start, :end, :status, :from_id, :list_fee, :fee, :ref, :grade,
                    :by, :at, :lapsed_at)
            RETURNING id""",
            m=m["id"], tier=tier, start=start, end=vip.term_end(start), status=status,
            from_id=renewed_from, list_fee=t.annual_fee_yuan, fee=fee,
            ref=f"DEMO-VIP-{start:%Y%m%d}-{n_ref:03d}", grade=grade, by=enrolled_by,
            at=enrolled_at or _at(start, 10), lapsed_at=lapsed_at)

    def year_ago(days_left: int) -> date:
        """The start of a term whose last day is ``days_left`` days from today."""
        end = today + timedelta(days=days_left)
        return vip.add_months(end + timedelta(days=1), -cfg.term_months)

    for tier in cfg.tiers:                                   # terms in force
        for _ in range(FRESH):
            m = take(lambda x, c=tier.code: x["tier"] == c) or take(
                lambda x, c=tier.code: GRADES.index(x["grade"]) + 1 <= cfg.tier(c).min_rank)
            if m is None:
                break
            insert(m, tier.code, today - timedelta(days=int(rng.integers(30, 300))),
                   grade=m["grade"])
            summary.active += 1
    for _ in range(RENEWED):                                 # renewed early, then in force
        if (m := take(lambda x: True)) is None:
            break
        first_end = today - timedelta(days=int(rng.integers(5, 56)))
        first_start = vip.add_months(first_end + timedelta(days=1), -cfg.term_months)
        first = insert(m, m["tier"], first_start, grade=m["grade"], status="renewed")
        renewed_on = first_end - timedelta(days=int(rng.integers(1, 30)))
        insert(m, m["tier"], first_end + timedelta(days=1), grade=m["grade"],
               renewed_from=first, enrolled_at=_at(renewed_on, 15))
        summary.renewed += 1
        summary.active += 1
    for _ in range(LAPSED):                                  # ended, not renewed: follow up
        if (m := take(lambda x: True)) is None:
            break
        end = today - timedelta(days=int(rng.integers(14, 57)))
        insert(m, m["tier"], vip.add_months(end + timedelta(days=1), -cfg.term_months),
               grade=m["grade"], status="lapsed",
               lapsed_at=_at(end + timedelta(days=1), 0, 10))    # the nightly sweep's time
        summary.lapsed += 1
    for _ in range(EXPIRING):                                # ending within the window
        if (m := take(lambda x: True)) is None:
            break
        insert(m, m["tier"], year_ago(int(rng.integers(5, 26))), grade=m["grade"])
        summary.active += 1
    for _ in range(BELOW):                                   # gold bought at AA, graded A now
        if (m := take(lambda x: x["grade"] == "A")) is None:
            break
        insert(m, "gold", today - timedelta(days=int(rng.integers(60, 200))), grade="AA")
        summary.active += 1
    for _ in range(CANCELLED):                               # cancelled at the merchant's request
        if (m := take(lambda x: True)) is None:
            break
        start = today - timedelta(days=int(rng.integers(60, 200)))
        ref = insert(m, m["tier"], start, grade=m["grade"])
        db.execute(conn, """
            UPDATE fin.vip_memberships
            SET status = 'cancelled', cancelled_by = :risk, cancelled_at = :at,
                cancel_reason_code = 'merchant_request',
                cancel_reason = '商户申请退出会员，会费已按剩余期限退还', version = version + 1
            WHERE id = :id""", risk=risk, at=_at(start + timedelta(days=30), 11), id=ref)
        summary.cancelled += 1
    summary.discounted, summary.missed = _charge_member_fees(conn, rng)
    return summary


def _charge_member_fees(conn, rng: np.random.Generator) -> tuple[int, int]:
    """The marketplace's side of the fee discount: the orders members paid deposits on during
    their terms carry the tier's discounted fee (and so do their fee payments), except
    ``MISSED`` of them, charged the list fee as a marketplace that forgot would, so /vip's fee
    check has something to find. Returns (discounted, missed)."""
    rows = fees.member_deposits(conn)
    if rows.empty:
        return 0, 0
    missed = set(rng.choice(rows["order_id"].to_numpy(), size=min(MISSED, len(rows)),
                            replace=False).tolist())
    charged = [(int(o), d if o not in missed else f) for o, d, f in
               zip(rows["order_id"], rows["due_fee"], rows["list_fee"])]
    db.execute(conn, """
        UPDATE app.orders o SET fee_amount = c.fee
        FROM unnest(CAST(:ids AS bigint[]), CAST(:fees AS numeric[])) AS c(id, fee)
        WHERE o.id = c.id""", ids=[c[0] for c in charged], fees=[str(c[1]) for c in charged])
    db.execute(conn, """
        UPDATE app.payments p SET amount = o.fee_amount
        FROM app.orders o
        WHERE p.order_id = o.id AND p.kind = 'fee' AND o.id = ANY(CAST(:ids AS bigint[]))""",
        ids=[c[0] for c in charged])
    return len(charged) - len(missed), len(missed)
