"""The demo's order-loan book (订单贷, issue 19): a year of loans on the demo's orders, with
repayments, late payers and defaults that follow the borrowers' grades, and today's queue.

What is written. For completed purchases whose deposit was paid in the year before the anchor,
a share of buyers financed the order (the buyer borrows, the seller is paid): at most the
order's share in settings (CONSOLE_LOAN_ORDER_SHARE), within the buyer's credit line in force
(fin.credit_lines, written by the lines' re-evaluation after the seed's scoring runs: a buyer
without a line or without a rate gets no loan), for 30, 60 or 90 days at its grade's daily
rate (console/finance/terms.toml). Approved by one risk officer (two, above
CONSOLE_LOAN_SECOND_APPROVAL_YUAN, never the same), disbursed to the seller with the
certificate of conformity held, repaid in one or two payments (interest first, then
principal), some late, some not at all: collection notes and promises to pay on the overdue
ones, a default when more than 90 days past due. A buyer with a loan past due or in default
is not lent to again (the queue's overdue check would fail). Today's queue is applied for
and decided through the services themselves (console/finance/loans.py), at the seed's moment.

Default rates, per loan and grade, over the loans whose default day (due + 91) fell before
the anchor (the "year's default rate" of a grade). Their basis is the scorecards' calibrated
PDs (console/credit/scorecard_{c1,v2}.toml ``[calibration] pd``: c1, the demo's active card,
has AAA/AA/A pooled at 2.6%, BBB 4.8%, BB 9.3%, B 9.5%, C 32%; v2 has AAA-BBB pooled at 4.3%,
BB 7.6%, B 31.8%). The pooling (PAVA over thin top grades) says only that the top three are
at most ~2.6%, so they are spread below it, A at the pool's value; BBB and BB are c1's PDs; B
sits between the two cards' estimates; C gets no loan (no rate in terms.toml):

    AAA 1.0%   AA 1.8%   A 2.6%   BBB 4.8%   BB 9.3%   B 15.0%

They are in the range Chinese dealer inventory finance reports for its better and weaker
borrowers. Which loans default is systematic sampling per grade (DefaultSampler), so a grade's
count is its matured loans × its rate rounded, never a lucky draw: lower grades default more
wherever a grade has enough loans to show a rate. The small scale's book is too thin for that
(a few dozen loans: a default needs 1 / (2 × rate) matured loans of a grade, 50 for AAA, 11
for BBB); the demo scale's is not (README).
Late but cured payers are three times a grade's default rate (capped at 40%).

Why the history is written with SQL rather than through the services. The services stamp
now() on every decision, disbursement and repayment, accrue interest to the clock's yesterday,
and refuse a promise to pay in the past; a year of loans run through them today would all be
disbursed today. So each historical row is the services' own row (the same columns, the same
timeline events and details, the payout gateway's reference, the repayment split) with the
day's time in place of now(); the money is computed with console/finance/money.py's rules
(interest per day on the outstanding principal rounded half-up to the fen, the disbursement
day bearing interest and the repayment day not, repayments to interest first), and the
balance invariant and committed = live principal hold by construction (tests check both). No
audit rows are written for the history: the audit log stamps its own time and is
hash-chained, so a row for a decision taken a year ago would carry today's time; the loans'
timeline (fin.loan_events) carries their history. The book is brought from the anchor to the
clock's today by the nightly run itself (console/finance/accrual.py), as the jobs would.

Deterministic by seed: its own random stream (np.random.default_rng([seed, STREAM])), loan ids
given in order of application, so the same seed gives the same loans.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import numpy as np

from console import db
from console.demo import model as M
from console.finance import accrual, money

STREAM = 19                  # np.random.default_rng([seed, 19]): nothing else moves
HISTORY_DAYS = 365           # a year of loans before the anchor
DEFAULT_RATE = {"AAA": 0.010, "AA": 0.018, "A": 0.026, "BBB": 0.048, "BB": 0.093, "B": 0.150}
LATE_FACTOR, LATE_CAP = 3.0, 0.40      # late but cured payers: 3 × the default rate
FINANCED_SHARE = 0.6         # completed purchases in the year financed with an order loan
TERMS = (30, 60, 90)
TERM_SHARE = (0.30, 0.45, 0.25)
MIN_PRINCIPAL = Decimal("10000")       # smaller loans are not worth the paperwork
STEP = Decimal("1000")                 # principals in whole thousands of yuan
PARTIAL_SHARE = 0.3          # repaid in two payments: a part before the due date, the rest
EARLY_SHARE = 0.15           # a loan not yet due already repaid in full before the anchor
OFFICERS = ("risk1", "risk2", "lead1")
QUEUE = 6                    # applications in today's queue (as many as eligible orders allow)
CHANNELS = ("bank", "wechat", "alipay")
CHANNEL_SHARE = (0.6, 0.25, 0.15)
SHANGHAI = M.SHANGHAI
# A person's words (data, in the demo's language), not console text.
COLLECTION_NOTES = (
    "电话联系实际控制人，称下游客户回款延迟，本周内还款。",
    "短信及电话提醒到期未还，对方未接听，已发催收函。",
    "BD 上门拜访，车辆仍在库，商户称正在筹措资金。",
    "对方确认欠款金额，申请分期归还，已告知须先结清利息。",
    "多次联系未果，合格证仍由平台保管，转入法务评估。",
)
PROMISE_NOTES = ("商户承诺售车回款后还款。", "实际控制人口头承诺，已录音。", None)


@dataclass
class Summary:
    loans: int = 0
    repayments: int = 0
    events: int = 0
    defaults: dict[str, int] = field(default_factory=dict)
    matured: dict[str, int] = field(default_factory=dict)
    queue: int = 0


def _at(day: date, hour: float) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI) + timedelta(hours=float(hour))


def _day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def _bucket_moves(due: date, until: date) -> list[tuple[date, str, str, int]]:
    """The nightly run's bucket moves of a loan unpaid from its due date: (day, from, to,
    dpd) for each boundary crossed on a day before ``until`` (exclusive)."""
    moves, old = [], "current"
    for dpd in (1, 31, 61, 91):
        day = due + timedelta(days=dpd)
        if day >= until:
            break
        new = money.bucket(dpd)
        moves.append((day, old, new, dpd))
        old = new
    return moves


class DefaultSampler:
    """Which matured loans default: systematic sampling per grade. Each matured loan adds its
    grade's rate to the grade's sum, which starts at one half; the loan defaults when the sum
    passes a whole number. So n matured loans of a grade hold round(n × rate) defaults (half
    up), spread evenly over the year; which loans they are follows the book, which the seed
    draws."""

    ONE = 10_000                       # sums in hundredths of a per cent: exact arithmetic

    def __init__(self, rates: dict[str, float] | None = None) -> None:
        self.rates = {g: round(r * self.ONE) for g, r in (rates or DEFAULT_RATE).items()}
        self.sums = dict.fromkeys(self.rates, self.ONE // 2)

    def defaults(self, grade: str) -> bool:
        self.sums[grade] += self.rates[grade]
        if self.sums[grade] >= self.ONE:
            self.sums[grade] -= self.ONE
            return True
        return False


class _Loan:
    """One loan's life, computed with money.py's rules."""

    def __init__(self, *, principal: Decimal, rate: Decimal, disbursed: date) -> None:
        self.principal, self.rate = principal, rate
        self.through = disbursed - timedelta(days=1)   # disbursement: accrued through yesterday
        self.accrued = self.paid_i = self.paid_p = money.ZERO

    def accrue_to(self, day: date) -> None:
        """Interest for every day before ``day`` not yet accrued (the nightly run's rule)."""
        days = (day - timedelta(days=1) - self.through).days
        if days > 0:
            self.accrued += money.interest_for_days(self.principal - self.paid_p, self.rate, days)
            self.through = day - timedelta(days=1)

    def pay(self, day: date, amount: Decimal | None) -> money.Allocation:
        """A repayment received on ``day``: ``amount`` (None: everything owed)."""
        self.accrue_to(day)
        interest_due, principal_due = self.accrued - self.paid_i, self.principal - self.paid_p
        split = money.allocate(amount if amount is not None else interest_due + principal_due,
                               interest_due=interest_due, principal_due=principal_due)
        self.paid_i += split.to_interest
        self.paid_p += split.to_principal
        return split

    @property
    def owed(self) -> Decimal:
        return self.principal - self.paid_p + self.accrued - self.paid_i


def _officers(conn) -> dict[str, Any]:
    from console.roles import Actor, require_role
    rows = db.fetch_all(conn, """SELECT id, username, display_name, roles, session_epoch
                                 FROM ops.staff WHERE username = ANY (:u) AND is_active""",
                        u=list(OFFICERS))
    return {r["username"]: require_role(Actor(
        id=int(r["id"]), username=r["username"], display_name=r["display_name"],
        roles=frozenset(r["roles"]), session_epoch=int(r["session_epoch"])), "risk")
        for r in rows}


_CANDIDATES = """
    SELECT o.id AS order_id, o.buyer_id, o.seller_id, o.amount, o.deposit_paid_at, l.vin,
           se.brand_id, c.grade, CASE WHEN c.manual_until > now() THEN c.manual_line ELSE c.grade_line END
               AS line
    FROM app.orders o
    JOIN app.listings l ON l.id = o.listing_id
    JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series se ON se.id = t.series_id
    JOIN fin.credit_lines c ON c.merchant_id = o.buyer_id
    WHERE o.status = :status AND o.deposit_paid_at >= :since AND o.deposit_paid_at < :until
      AND o.amount > 0
    ORDER BY o.deposit_paid_at, o.id"""


def write(conn, *, seed: int, anchor: int) -> Summary:
    """The year of loans before ``anchor`` (epoch seconds) and today's queue, in the seed's
    transaction, after the scoring runs wrote the lines. Nothing when loans exist already."""
    from console.finance import loans as service
    from console.settings import get_settings
    summary = Summary()
    if db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM fin.loans)"):
        return summary
    officers = _officers(conn)
    if len(officers) < 2:
        return summary
    settings = get_settings()
    share = Decimal(settings.loan_order_share)
    second_above = Decimal(settings.loan_second_approval_yuan)
    threshold = settings.loan_default_dpd
    rng = np.random.default_rng([seed, STREAM])
    anchor_at = M.to_datetime(anchor).astimezone(SHANGHAI)
    today = anchor_at.date()
    sampler = DefaultSampler()
    names = list(officers)

    loans: list[dict] = []
    repayments: list[dict] = []
    events: list[dict] = []
    used: dict[int, list[dict]] = {}      # borrower -> its loans so far
    book: list[dict] = []                 # every loan so far: the exposure checks

    def exposure(key: str, value: int, day: date) -> Decimal:
        """Principal outstanding on ``day`` of the live loans to a seller or of a brand."""
        return sum((x["principal"] - (x["part"] if x["part_day"] and x["part_day"] < day
                                      else money.ZERO)
                    for x in book if x[key] == value and (x["end"] is None or x["end"] > day)),
                   money.ZERO)

    def event(loan_id: int, kind: str, at: datetime, *, staff: int | None = None,
              amount: Decimal | None = None, promise: date | None = None,
              note: str | None = None, detail: dict | None = None) -> None:
        events.append({"l": loan_id, "k": kind, "at": at, "s": staff, "a": amount, "p": promise,
                       "n": note, "d": json.dumps(detail or {}, ensure_ascii=False, default=str)})

    rows = db.fetch_all(conn, _CANDIDATES, status="completed",
                        since=anchor_at - timedelta(days=HISTORY_DAYS),
                        until=anchor_at - timedelta(days=2))
    for order in rows:
        rate = service.daily_rate(order["grade"])
        draws = rng.random(8)
        if rate is None or draws[0] >= FINANCED_SHARE:
            continue
        applied_at = order["deposit_paid_at"].astimezone(SHANGHAI) + timedelta(
            hours=1 + 19 * float(draws[1]))
        day = _day(applied_at)
        mine = used.setdefault(int(order["buyer_id"]), [])
        # The overdue check: a borrower with a loan past due (or in default) that day waits.
        if any(x["defaulted"] or (x["due"] < day and (x["end"] is None or x["end"] > day))
               for x in mine):
            continue
        committed = sum((x["principal"] for x in mine if x["end"] is None or x["end"] > day),
                        money.ZERO)
        available = order["line"] - committed
        cap = money.max_principal(order["amount"], share)
        principal = (min(cap * Decimal(str(round(0.5 + 0.5 * float(draws[2]), 3))), available)
                     / STEP).to_integral_value(rounding=ROUND_DOWN) * STEP
        if principal < MIN_PRINCIPAL or principal > cap:
            continue
        seller_after = exposure("seller", int(order["seller_id"]), day) + principal
        brand_after = exposure("brand", int(order["brand_id"]), day) + principal
        if (seller_after > settings.loan_seller_exposure_yuan
                or brand_after > settings.loan_brand_exposure_yuan):
            continue
        term = int(TERMS[int(np.searchsorted(np.cumsum(TERM_SHARE), draws[3], side="right"))])
        needs_second = principal > second_above
        first = names[int(draws[4] * len(names))]
        second = names[(names.index(first) + 1) % len(names)]
        assigned_at = applied_at + timedelta(minutes=20 + 100 * float(draws[5]))
        approved_at = assigned_at + timedelta(minutes=30 + 150 * float(draws[6]))
        second_at = approved_at + timedelta(hours=2) if needs_second else None
        disbursed_at = (second_at or approved_at) + timedelta(hours=1 + 5 * float(draws[7]))
        disbursed = _day(disbursed_at)
        due = disbursed + timedelta(days=term)
        loan_id = len(loans) + 1
        grade = order["grade"]
        calc = _Loan(principal=principal, rate=rate, disbursed=disbursed)

        # -------- the outcome
        matured = due + timedelta(days=threshold + 1) < today
        defaults = False
        if matured:
            summary.matured[grade] = summary.matured.get(grade, 0) + 1
            defaults = sampler.defaults(grade)
        late_p = min(LATE_FACTOR * DEFAULT_RATE[grade], LATE_CAP)
        pays: list[tuple[date, Decimal | None]] = []    # (day, amount; None = in full)
        partial = rng.random() < PARTIAL_SHARE
        if partial:   # part of the principal and the interest so far, before the due date
            p_day = disbursed + timedelta(days=int(rng.integers(max(term // 3, 1), term)))
            if p_day < today:
                pays.append((p_day, Decimal("-1")))
        if defaults:
            end = None
        elif due < today and rng.random() < late_p:    # late: cured after days past due
            cure = due + timedelta(days=int(rng.integers(3, 75)))
            end = cure if cure < today else None       # not cured yet: still overdue
        elif due < today:
            end = due - timedelta(days=int(rng.integers(0, min(10, term // 3) + 1)))
        elif rng.random() < EARLY_SHARE:
            early = disbursed + timedelta(days=int(rng.integers(term // 3, term)))
            end = early if early < today else None
        else:
            end = None
        if end is not None:
            pays = [p for p in pays if p[0] < end]
            pays.append((end, None))

        # -------- the rows, as the services write them
        cert = _certificate(order["order_id"], rng)
        event(loan_id, "applied", applied_at, amount=principal,
              detail={"order_id": int(order["order_id"]), "term_days": term,
                      "certificate_no": cert})
        event(loan_id, "checks", applied_at, detail={
            "grade": {"ok": True, "grade": grade, "daily_rate": rate},
            "line": {"ok": True, "line": order["line"], "available": available,
                     "principal": principal},
            "overdue": {"ok": True, "open_past_due": 0, "defaulted": 0},
            "seller_exposure": {"ok": True, "exposure": seller_after,
                                "limit": Decimal(settings.loan_seller_exposure_yuan)},
            "brand_exposure": {"ok": True, "exposure": brand_after,
                               "limit": Decimal(settings.loan_brand_exposure_yuan)},
            "escrow": {"ok": True, "status": "deposit_paid", "escrow_state": "held"},
            "all_ok": True})
        event(loan_id, "assigned", assigned_at, staff=officers[first].id,
              detail={"assignee_id": officers[first].id})
        event(loan_id, "approved", approved_at, staff=officers[first].id,
              detail={"awaiting_second": needs_second})
        if needs_second:
            event(loan_id, "assigned", second_at - timedelta(minutes=30),
                  staff=officers[second].id, detail={"assignee_id": officers[second].id})
            event(loan_id, "second_approved", second_at, staff=officers[second].id,
                  detail={"awaiting_second": False})
        reference = f"BT-loan-{loan_id}-disbursement"      # payout.BankTransferInstruction
        disburser = officers[second if needs_second else first].id
        event(loan_id, "disbursed", disbursed_at, staff=disburser, amount=principal,
              detail={"payee_seller_id": int(order["seller_id"]), "payout_reference": reference,
                      "due_date": due})
        event(loan_id, "certificate_held", disbursed_at, staff=disburser,
              detail={"certificate_no": cert})

        # Unpaid from the due date to the day it was repaid (or the anchor): the nightly
        # run's bucket moves (02:00, before that day's payments) and the default day.
        stop = end or today
        moves = _bucket_moves(due, stop + timedelta(days=1))
        default_day = due + timedelta(days=threshold + 1)
        default_at = default_day if default_day <= stop else None
        for m_day, old, new, dpd in moves:
            event(loan_id, "bucket", _at(m_day, 2), detail={"from": old, "to": new, "dpd": dpd})
        if default_at is not None:
            event(loan_id, "defaulted", _at(default_at, 2),
                  detail={"default_at": default_at, "dpd": threshold + 1})
        _collection(event, rng, loan_id, due=due, stop=stop, officers=officers, calc=calc)

        last_bucket = moves[-1][2] if moves else "current"
        for k, (p_day, amount) in enumerate(pays):
            received = _at(p_day, 9 + 9 * float(rng.random()))
            if amount is not None:   # a part: the interest owed and 20-50% of the principal
                calc.accrue_to(p_day)
                part = (calc.principal * Decimal(str(round(0.2 + 0.3 * float(rng.random()), 2)))
                        / STEP).to_integral_value(rounding=ROUND_DOWN) * STEP
                amount = calc.accrued - calc.paid_i + part
            split = calc.pay(p_day, amount)
            channel = CHANNELS[int(np.searchsorted(np.cumsum(CHANNEL_SHARE), rng.random(),
                                                   side="right"))]
            ref = f"{channel.upper()}-{loan_id:06d}-{k + 1}"
            staff = officers[first].id if channel == "bank" else None  # bank: entered by risk
            repayments.append({"l": loan_id, "a": split.amount, "i": split.to_interest,
                               "p": split.to_principal, "c": channel, "r": ref, "at": received,
                               "by": staff, "rec": received + timedelta(minutes=5)})
            event(loan_id, "repayment", received, staff=staff, amount=split.amount,
                  detail={"to_interest": split.to_interest, "to_principal": split.to_principal,
                          "channel": channel, "reference": ref, "balance_after": calc.owed})
        if end is not None:
            done = _at(end, 18)
            if last_bucket != "current":
                event(loan_id, "bucket", done, detail={"from": last_bucket, "to": "current",
                                                       "dpd": 0, "repaid": True})
            event(loan_id, "certificate_released", done, detail={"certificate_no": cert})
            event(loan_id, "repaid", done)
        else:
            calc.accrue_to(today)
        dpd = 0 if end is not None else money.days_past_due(today, due, unpaid=True)
        loans.append({
            "id": loan_id, "merchant_id": int(order["buyer_id"]),
            "order_id": int(order["order_id"]), "seller_id": int(order["seller_id"]),
            "certificate_no": cert,
            "vin": order["vin"] if order["vin"] and len(order["vin"]) == 17 else None,
            "order_amount": order["amount"], "principal": principal, "term_days": term,
            "daily_rate": rate, "grade": grade, "needs_second": needs_second,
            "status": "repaid" if end is not None else "disbursed",
            "assigned_at": assigned_at, "applied_at": applied_at,
            "approved_by": officers[first].id, "approved_at": approved_at,
            "second_approved_by": officers[second].id if needs_second else None,
            "second_approved_at": second_at, "decided_at": second_at or approved_at,
            "disbursed_by": disburser, "disbursed_at": disbursed_at, "due_date": due,
            "principal_paid": calc.paid_p, "interest_accrued": calc.accrued,
            "interest_paid": calc.paid_i, "accrued_through": calc.through, "dpd": dpd,
            "bucket": money.bucket(dpd), "default_at": default_at,
            "repaid_at": _at(end, 18) if end is not None else None,
            "certificate_state": "released" if end is not None else "held",
            "payout_reference": reference, "version": 5 + len(pays) + int(needs_second)})
        if default_at is not None and default_at < today:
            summary.defaults[grade] = summary.defaults.get(grade, 0) + 1
        mine.append({"principal": principal, "due": due, "end": end,
                     "defaulted": default_at is not None})
        # a part paid before the end: the first of the loan's repayments, when it was one
        part = repayments[len(repayments) - len(pays)] if pays and pays[0][1] is not None \
            else None
        book.append({"seller": int(order["seller_id"]), "brand": int(order["brand_id"]),
                     "principal": principal, "end": end,
                     "part_day": _day(part["at"]) if part else None,
                     "part": part["p"] if part else money.ZERO})
    _insert(conn, loans, repayments, events)
    summary.loans, summary.repayments, summary.events = len(loans), len(repayments), len(events)
    # The lines hold what the book holds: the principal not yet repaid of every live loan.
    db.execute(conn, """
        UPDATE fin.credit_lines c SET committed = s.outstanding, version = c.version + 1
        FROM (SELECT merchant_id, sum(principal - principal_paid) AS outstanding
              FROM fin.loans WHERE status = 'disbursed' GROUP BY merchant_id) s
        WHERE s.merchant_id = c.merchant_id""")
    accrual.run(conn)                  # from the anchor to the clock's today, as the jobs would
    summary.queue = _queue_today(conn, rng, officers=officers, share=share,
                                 second_above=second_above)
    return summary


def _certificate(order_id: int, rng: np.random.Generator) -> str:
    """A certificate of conformity's number (合格证编号): a maker's prefix and 14 digits."""
    prefix = ("WAC", "WDK", "WBJ", "WFA", "WSH")[int(rng.integers(5))]
    return f"{prefix}{int(order_id):06d}{int(rng.integers(10**7, 10**8))}"


def _collection(event, rng, loan_id: int, *, due: date, stop: date, officers, calc) -> None:
    """Collection notes and promises to pay while a loan is past due (before ``stop``)."""
    names = list(officers)
    for dpd in (3, 12, 35, 70):
        day = due + timedelta(days=dpd)
        if day >= stop:
            return
        who = officers[names[int(rng.integers(len(names)))]].id
        at = _at(day, 10 + 7 * float(rng.random()))
        event(loan_id, "collection_note", at, staff=who,
              note=COLLECTION_NOTES[int(rng.integers(len(COLLECTION_NOTES)))])
        if dpd in (3, 35) and rng.random() < 0.6:
            promise = day + timedelta(days=int(rng.integers(3, 15)))
            amount = (calc.principal * Decimal("0.3")).quantize(money.FEN)
            event(loan_id, "promise_to_pay", at + timedelta(minutes=5), staff=who,
                  amount=amount, promise=promise,
                  note=PROMISE_NOTES[int(rng.integers(len(PROMISE_NOTES)))])


_LOAN_COLUMNS = ("id", "merchant_id", "order_id", "seller_id", "certificate_no", "vin",
                 "order_amount", "principal", "term_days", "daily_rate", "grade", "needs_second",
                 "status", "assigned_at", "applied_at", "approved_by", "approved_at",
                 "second_approved_by", "second_approved_at", "decided_at", "disbursed_by",
                 "disbursed_at", "due_date", "principal_paid", "interest_accrued",
                 "interest_paid", "accrued_through", "dpd", "bucket", "default_at",
                 "repaid_at", "certificate_state", "payout_reference", "version")


def _insert(conn, loans: list[dict], repayments: list[dict], events: list[dict]) -> None:
    import sqlalchemy as sa
    if not loans:
        return
    cols = ", ".join(_LOAN_COLUMNS)
    conn.execute(sa.text(f"INSERT INTO fin.loans ({cols}) VALUES "
                         f"({', '.join(':' + c for c in _LOAN_COLUMNS)})"), loans)
    db.execute(conn, """SELECT setval(pg_get_serial_sequence('fin.loans', 'id'),
                                      (SELECT max(id) FROM fin.loans))""")
    if repayments:
        conn.execute(sa.text("""
            INSERT INTO fin.loan_repayments (loan_id, amount, to_interest, to_principal, channel,
                                             reference, received_at, recorded_by, recorded_at)
            VALUES (:l, :a, :i, :p, :c, :r, :at, :by, :rec)"""),
                     sorted(repayments, key=lambda r: (r["at"], r["l"])))
    conn.execute(sa.text("""
        INSERT INTO fin.loan_events (loan_id, kind, at, staff_id, amount, promise_date, note,
                                     detail)
        VALUES (:l, :k, :at, :s, :a, :p, :n, CAST(:d AS jsonb))"""),
                 sorted(events, key=lambda e: (e["at"], e["l"])))


def _queue_today(conn, rng: np.random.Generator, *, officers: dict[str, Any], share: Decimal,
                 second_above: Decimal) -> int:
    """Today's applications, through the services at the seed's moment: buyers of orders in
    escrow apply (the marketplace's submit; both parties active, as the service requires); one is taken by a risk officer, one approved and
    awaiting disbursement, one above the second-approval amount approved once (awaiting the
    second person): when no line allows one that large, the buyer of an order large enough
    gets an approved manual line for it first (``_manual_line_for_large``); that one is filed by the
    buyer's BD, who follows it on the queue. The seed's staff rows are not committed
    yet and a gated service re-reads its actor through the console's engine, so the services
    run undecorated (``inspect.unwrap``) in the seed's transaction, as the override history's
    queue does."""
    from console.finance import lines
    from console.finance import loans as service
    rows = db.fetch_all(conn, """
        SELECT o.id AS order_id, o.buyer_id, o.amount
        FROM app.orders o
        JOIN ops.merchant_credit c ON c.merchant_id = o.buyer_id
        JOIN app.merchants b ON b.id = o.buyer_id AND b.status = 'active'
        JOIN app.merchants s ON s.id = o.seller_id AND s.status = 'active'
        WHERE o.status = 'deposit_paid' AND o.escrow_state = 'held'
          AND NOT EXISTS (SELECT 1 FROM fin.loans f WHERE f.merchant_id = o.buyer_id
                          AND (f.dpd > 0 OR f.default_at IS NOT NULL))
        ORDER BY o.deposit_paid_at, o.id""")
    eligible: list[tuple[dict, Decimal]] = []
    for order in rows:
        if service.daily_rate(_grade(conn, order["buyer_id"])) is None:
            continue
        line = lines.current(conn, merchant_id=int(order["buyer_id"]))
        if line is None:
            continue
        cap = money.max_principal(order["amount"], share)
        principal = (min(cap, line.available) / STEP).to_integral_value(rounding=ROUND_DOWN) * STEP
        if principal >= MIN_PRINCIPAL:
            eligible.append((order, principal))
    # No line allows one above the second-approval amount (the grades' lines stop below it
    # on the small and demo scales): an order in escrow large enough gets a manual line for
    # it, so today's queue shows a case awaiting its second approver.
    if not any(p > second_above for _, p in eligible):
        made = _manual_line_for_large(conn, rows, officers=officers, share=share,
                                      second_above=second_above)
        if made is not None:
            eligible = [made] + [e for e in eligible if e[0]["order_id"] != made[0]["order_id"]]
    # The largest above the second-approval amount first (where a line allows one), then the
    # oldest orders; one application per buyer (each draws on its own line).
    large = sorted((e for e in eligible if e[1] > second_above), key=lambda e: -e[1])[:1]
    chosen, buyers = [], set()
    for order, principal in large + [e for e in eligible if e not in large]:
        if len(chosen) < QUEUE and order["buyer_id"] not in buyers:
            chosen.append((order, principal))
            buyers.add(order["buyer_id"])
    applied: list[service.Application] = []
    for order, principal in chosen:
        # The large one was brokered by the buyer's BD, who files it and follows it on the
        # loan queue (BD sees what they filed); the others come from the marketplace.
        filer = _buyer_bd(conn, order["buyer_id"]) if principal > second_above else None
        args = dict(conn=conn, merchant_id=int(order["buyer_id"]), order_id=int(order["order_id"]),
                    principal=principal, term_days=int(TERMS[len(applied) % len(TERMS)]),
                    certificate_no=_certificate(order["order_id"], rng))
        applied.append(inspect.unwrap(service.apply)(actor=filer, **args) if filer is not None
                       else service.submit(**args))
    approve = inspect.unwrap(service.approve)
    assign = inspect.unwrap(service.assign_case)
    # The oldest large one approved once, awaiting the second person.
    large = [a for a in applied if a.needs_second]
    if large:
        loan = db.fetch_one(conn, "SELECT version FROM fin.loans WHERE id = :id",
                            id=large[0].loan_id)
        version = assign(conn=conn, actor=officers["risk1"], loan_id=large[0].loan_id,
                         version=loan["version"], assignee_id=officers["risk1"].id)
        approve(conn=conn, actor=officers["risk1"], loan_id=large[0].loan_id, version=version,
                note=None)
    small = [a for a in applied if not a.needs_second]
    for k, app in enumerate(small[:2]):   # one approved awaiting disbursement, one taken
        who = officers["risk2"]
        loan = db.fetch_one(conn, "SELECT version FROM fin.loans WHERE id = :id", id=app.loan_id)
        version = assign(conn=conn, actor=who, loan_id=app.loan_id, version=loan["version"],
                         assignee_id=who.id)
        if k == 0:
            approve(conn=conn, actor=who, loan_id=app.loan_id, version=version,
                    note=None if app.checks.get("all_ok") else "人工复核通过。")
    return len(applied)


MANUAL_LINE_DAYS = 90       # the demo's manual line: a quarter, as for a seasonal purchase
MANUAL_LINE_STEP = Decimal("10000")    # manual lines in whole 万
MANUAL_LINE_REASON = "实际控制人提供连带责任保证，临时提高授信以支持本次批量采购。"


def _manual_line_for_large(conn, rows, *, officers: dict[str, Any], share: Decimal,
                           second_above: Decimal) -> tuple[dict, Decimal] | None:
    """(order, principal) of an application above ``second_above`` made possible by an
    approved manual line, or None when no order in escrow is that large. The most modest
    such order (the smallest share above the amount, of a buyer with a rate; the oldest of
    equals: a line raised as little as the case needs) gets a manual line of
    what its buyer has committed plus that share, rounded up to 万, through the manual-line
    services with their audit rows, as risk staff would: risk1 proposes (reason: a
    guarantee), a second officer approves, one who is also a manager when the line is above
    the override senior limit (CONSOLE_CREDIT_OVERRIDE_SENIOR_LIMIT_YUAN)."""
    from console import clock
    from console.finance import lines
    from console.finance import loans as service
    from console.services import credit_lines
    from console.settings import get_settings
    sized = []
    for order in rows:
        cap = money.max_principal(order["amount"], share)
        principal = (cap / STEP).to_integral_value(rounding=ROUND_DOWN) * STEP
        if principal > second_above and service.daily_rate(_grade(conn, order["buyer_id"])):
            sized.append((order, principal))
    if not sized or "risk1" not in officers:
        return None
    order, principal = min(sized, key=lambda e: (e[1], int(e[0]["order_id"])))
    buyer = int(order["buyer_id"])
    before = lines.current(conn, merchant_id=buyer)
    committed = before.committed if before is not None else money.ZERO
    amount = ((committed + principal) / MANUAL_LINE_STEP).to_integral_value(
        rounding=ROUND_UP) * MANUAL_LINE_STEP
    senior = amount > Decimal(get_settings().credit_override_senior_limit_yuan)
    approver = next((a for name, a in officers.items() if name != "risk1"
                     and (not senior or a.has("manager"))), None)
    if approver is None:
        return None
    request_id = inspect.unwrap(credit_lines.propose_line)(
        conn=conn, actor=officers["risk1"], merchant_id=buyer, line=amount,
        reason_code="guarantee", reason=MANUAL_LINE_REASON,
        expires_on=clock.today() + timedelta(days=MANUAL_LINE_DAYS))
    inspect.unwrap(credit_lines.approve_line)(conn=conn, actor=approver, request_id=request_id,
                                              note="担保材料已核实。")
    return order, principal


def _buyer_bd(conn, merchant_id: int):
    """The buyer's BD owner as an Actor (or the first BD account when it has none); None
    when the demo has no BD staff."""
    from console.roles import Actor
    row = db.fetch_one(conn, """
        SELECT s.id, s.username, s.display_name, s.roles, s.session_epoch
        FROM ops.staff s
        WHERE s.is_active AND 'bd' = ANY (s.roles)
        ORDER BY s.id = (SELECT bd_owner_id FROM app.merchants WHERE id = :m) DESC, s.username
        LIMIT 1""", m=int(merchant_id))
    if row is None:
        return None
    return Actor(id=int(row["id"]), username=row["username"], display_name=row["display_name"],
                 roles=frozenset(row["roles"]), session_epoch=int(row["session_epoch"]))


def _grade(conn, merchant_id: int) -> str | None:
    return db.scalar(conn, "SELECT effective_grade FROM ops.merchant_credit WHERE merchant_id = :m",
                     m=int(merchant_id))
