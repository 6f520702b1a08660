"""Order loans (订单贷): the application queue, decisions, disbursement, repayments, collection.

A buyer finances a platform order: at most ``settings.loan_order_share`` of the order's
amount, within its available credit line (console/finance/lines.py, reserved in the same
transaction as the application), for 30, 60 or 90 days, at the daily rate of its grade
(console/finance/terms.toml). The collateral is the car's certificate of conformity (合格证),
held by the platform from disbursement to full repayment. The money rules (interest, the
split of a repayment, DPD) are console/finance/money.py's; the nightly accrual is
console/finance/accrual.py.

Which orders qualify: status 'deposit_paid' with the deposit held in escrow (escrow_state
'held'). The buyer has committed (its deposit is in escrow) and the balance, which the loan
finances, is still to be paid to the seller. A 'created' order has no commitment behind it; a
'completed' one is paid already; a cancelled, disputed or refunded one has no car coming. The
order is checked again at disbursement: money is never sent for an order that fell through.

Life of a loan: applied (the queue: assigned, reviewed) → approved (one risk person; above
``settings.loan_second_approval_yuan`` a second, different one: the first approval puts the
case back in the queue for the second) → disbursed (the seller paid, the certificate held,
due date = disbursement's Shanghai day + term) → repaid (the certificate released). Before
disbursement it may be rejected (by its reviewer, with a reason) or cancelled; both give the
principal back to the line. Whoever entered an application for a merchant approves it neither
first nor second (the service refuses; migration 098's CHECK holds it too).

Every decision is taken on the loan row locked (FOR UPDATE) at the version the form was
loaded with, writes one audit row and one timeline event (fin.loan_events) in the caller's
transaction. Each refusal raises a ConsoleError before anything is written, or rolls back
with the caller's transaction, so a refused call changes nothing.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db, masking, sla
from console.audit import write_audit
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.finance import accrual, lines, money, payout
from console.roles import Actor, requires
from console.settings import get_settings

TERMS_FILE = Path(__file__).with_name("terms.toml")
CHANNELS = ("wechat", "alipay", "bank")
OPEN_STATUSES = ("applied", "approved")
LIVE_STATUSES = ("applied", "approved", "disbursed")
QUEUE_VIEWS = ("open", "mine", "unassigned", "second", "to_disburse", "filed")
READ_ROLES = ("risk", "manager")            # every application and loan
# BD files applications (``apply``) and follows them: the queue and the loan page show a BD
# person (without risk or manager) the applications they filed and nothing else. The scope
# is the service's, on the roles @requires re-read from the database, and it is a condition
# of the SQL itself (``_SCOPE``): no other row is read, so none can be shown by mistake.
FOLLOW_ROLES = ("bd",)
FILER_VIEWS = ("filed", "open")             # the views that mean something to a filer
# Advisory-lock namespace of one reviewer's load in the loan queue (51-54: leads,
# notifications, the certification and listing-flag queues).
LOCK_NAMESPACE = 55
ENTITY = "loan"


# ---------------------------------------------------------------- terms and settings
@lru_cache(maxsize=1)
def terms() -> dict[str, Any]:
    with TERMS_FILE.open("rb") as fh:
        raw = tomllib.load(fh)
    return {"terms_days": tuple(int(t) for t in raw["terms_days"]),
            "daily_rate": {g: Decimal(r) for g, r in raw["daily_rate"].items()}}


def daily_rate(grade: str | None) -> Decimal | None:
    """The daily rate of ``grade``; None when the grade gets no order loan."""
    return terms()["daily_rate"].get(grade) if grade else None


def order_share() -> Decimal:
    return Decimal(get_settings().loan_order_share)


def second_approval_yuan() -> Decimal:
    return Decimal(get_settings().loan_second_approval_yuan)


# ---------------------------------------------------------------- small helpers
def _event(conn: Connection, loan_id: int, kind: str, *, staff_id: int | None,
           amount: Decimal | None = None, promise_date: date | None = None,
           note: str | None = None, detail: dict | None = None) -> None:
    db.execute(conn, """
        INSERT INTO fin.loan_events (loan_id, kind, staff_id, amount, promise_date, note, detail)
        VALUES (:l, :k, :s, :a, :p, :n, CAST(:d AS jsonb))""",
               l=loan_id, k=kind, s=staff_id, a=amount, p=promise_date, n=note,
               d=json.dumps(detail or {}, ensure_ascii=False, default=str))


def _locked(conn: Connection, loan_id: int):
    row = db.fetch_one(conn, "SELECT * FROM fin.loans WHERE id = :id FOR UPDATE", id=loan_id)
    if row is None:
        raise NotFound("finance.loans.error.not_found")
    return row


def _check_version(row, version: int) -> None:
    if row["version"] != version:
        raise Conflict("error.stale")


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _fen(value: Decimal) -> Decimal:
    return money.yuan(value)


# ---------------------------------------------------------------- applying
@dataclass(frozen=True)
class Application:
    loan_id: int
    needs_second: bool
    daily_rate: Decimal
    checks: dict[str, Any]
    available_after: Decimal


_ORDER = """
    SELECT o.id, o.buyer_id, o.seller_id, o.amount, o.status, o.escrow_state, l.vin,
           se.brand_id
    FROM app.orders o
    JOIN app.listings l ON l.id = o.listing_id
    JOIN app.trims t ON t.id = l.trim_id
    JOIN app.series se ON se.id = t.series_id
    WHERE o.id = :id"""


def _order_qualifies(order) -> bool:
    return order["status"] == "deposit_paid" and order["escrow_state"] == "held"


def _parties_active(conn: Connection, *merchant_ids: int) -> None:
    """A suspended or closed merchant neither borrows nor is paid: checked at application,
    at each approval and at disbursement, since a suspension can land between them."""
    inactive = db.scalar(conn, """SELECT min(name) FROM app.merchants
                                  WHERE id = ANY(:ids) AND status <> 'active'""",
                         ids=list(merchant_ids))
    if inactive is not None:
        raise Conflict("finance.loans.error.merchant_not_active", merchant=inactive)


def _normalise_certificate(certificate_no: str) -> str:
    cert = (certificate_no or "").strip().upper()
    if not cert or len(cert) > 40 or not all(c.isalnum() or c == "-" for c in cert):
        raise InvalidInput("finance.loans.error.certificate_format")
    return cert


def _checks(conn: Connection, *, merchant_id: int, order, grade: str, rate: Decimal,
            principal: Decimal, line: lines.Line) -> dict[str, Any]:
    """The automatic checks as they were at application: each with pass/fail and figures."""
    settings = get_settings()
    history = db.fetch_one(conn, """
        SELECT count(*) FILTER (WHERE status = 'disbursed' AND dpd > 0) AS open_past_due,
               count(*) FILTER (WHERE default_at IS NOT NULL) AS defaulted
        FROM fin.loans WHERE merchant_id = :m""", m=merchant_id)
    seller = db.scalar(conn, """
        SELECT coalesce(sum(principal - principal_paid), 0) FROM fin.loans
        WHERE seller_id = :s AND status IN ('applied','approved','disbursed')""",
                       s=order["seller_id"])
    brand = db.scalar(conn, """
        SELECT coalesce(sum(f.principal - f.principal_paid), 0)
        FROM fin.loans f
        JOIN app.orders o ON o.id = f.order_id
        JOIN app.listings l ON l.id = o.listing_id
        JOIN app.trims t ON t.id = l.trim_id
        JOIN app.series se ON se.id = t.series_id
        WHERE se.brand_id = :b AND f.status IN ('applied','approved','disbursed')""",
                      b=order["brand_id"])
    seller_after, brand_after = seller + principal, brand + principal
    checks = {
        "grade": {"ok": True, "grade": grade, "daily_rate": rate},
        "line": {"ok": True, "line": line.line, "available": line.available,
                 "principal": principal},
        "overdue": {"ok": history["open_past_due"] == 0 and history["defaulted"] == 0,
                    "open_past_due": int(history["open_past_due"]),
                    "defaulted": int(history["defaulted"])},
        "seller_exposure": {"ok": seller_after <= settings.loan_seller_exposure_yuan,
                            "exposure": seller_after,
                            "limit": Decimal(settings.loan_seller_exposure_yuan)},
        "brand_exposure": {"ok": brand_after <= settings.loan_brand_exposure_yuan,
                           "exposure": brand_after,
                           "limit": Decimal(settings.loan_brand_exposure_yuan)},
        "escrow": {"ok": _order_qualifies(order), "status": order["status"],
                   "escrow_state": order["escrow_state"]},
    }
    checks["all_ok"] = all(c["ok"] for c in checks.values())
    return checks


def _apply(conn: Connection, *, staff_id: int | None, merchant_id: int, order_id: int,
           principal: Decimal, term_days: int, certificate_no: str) -> Application:
    principal = _fen(principal)
    if principal <= 0:
        raise InvalidInput("finance.error.amount_not_positive")
    if term_days not in terms()["terms_days"]:
        raise InvalidInput("finance.loans.error.term", terms="/".join(
            str(t) for t in terms()["terms_days"]))
    cert = _normalise_certificate(certificate_no)
    order = db.fetch_one(conn, _ORDER, id=order_id)
    if order is None:
        raise NotFound("finance.loans.error.order_not_found")
    if order["buyer_id"] != merchant_id:
        raise InvalidInput("finance.loans.error.not_buyers_order")
    if not _order_qualifies(order):
        raise Conflict("finance.loans.error.order_not_eligible")
    _parties_active(conn, merchant_id, order["seller_id"])
    cap = money.max_principal(order["amount"], order_share())
    if principal > cap:
        raise InvalidInput("finance.loans.error.above_order_share",
                           max=f"¥{cap:,.2f}", share=f"{order_share() * 100:.0f}%")
    grade = db.scalar(conn, """SELECT effective_grade FROM ops.merchant_credit
                               WHERE merchant_id = :m""", m=merchant_id)
    rate = daily_rate(grade)
    if rate is None:
        raise Conflict("finance.loans.error.grade_not_eligible", grade=grade or "—")
    if db.scalar(conn, """SELECT 1 FROM fin.loans WHERE certificate_no = :c
                          AND status IN ('applied','approved','disbursed')""", c=cert):
        raise Conflict("finance.loans.error.certificate_held", certificate=cert)
    if db.scalar(conn, """SELECT 1 FROM fin.loans WHERE order_id = :o
                          AND status IN ('applied','approved','disbursed')""", o=order_id):
        raise Conflict("finance.loans.error.order_has_loan")
    after = lines.reserve(conn, merchant_id=merchant_id, amount=principal)  # locks the line
    line_then = lines.Line(merchant_id=merchant_id, line=after.line,
                           committed=after.committed - principal, grade=after.grade,
                           is_manual=after.is_manual)
    checks = _checks(conn, merchant_id=merchant_id, order=order, grade=grade, rate=rate,
                     principal=principal, line=line_then)
    needs_second = principal > second_approval_yuan()
    try:
        with conn.begin_nested():
            loan_id = db.scalar(conn, """
                INSERT INTO fin.loans (merchant_id, order_id, seller_id, certificate_no, vin,
                                       order_amount, principal, term_days, daily_rate, grade,
                                       needs_second, applied_by)
                VALUES (:m, :o, :s, :c, :vin, :amt, :p, :t, :r, :g, :two, :by)
                RETURNING id""",
                                  m=merchant_id, o=order_id, s=order["seller_id"], c=cert,
                                  vin=order["vin"] if order["vin"] and len(order["vin"]) == 17
                                  else None,
                                  amt=order["amount"], p=principal, t=term_days, r=rate,
                                  g=grade, two=needs_second, by=staff_id)
    except sa.exc.IntegrityError as err:   # a concurrent application took it first
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        if constraint == "loans_one_per_certificate":
            raise Conflict("finance.loans.error.certificate_held", certificate=cert) from None
        if constraint == "loans_one_per_order":
            raise Conflict("finance.loans.error.order_has_loan") from None
        raise
    _event(conn, loan_id, "applied", staff_id=staff_id, amount=principal,
           detail={"order_id": order_id, "term_days": term_days, "certificate_no": cert})
    _event(conn, loan_id, "checks", staff_id=None, detail=checks)
    write_audit(conn=conn, actor_id=staff_id, action="loan.apply", entity_type=ENTITY,
                entity_id=loan_id,
                after={"merchant_id": merchant_id, "order_id": order_id, "principal": principal,
                       "term_days": term_days, "certificate_no": cert, "grade": grade,
                       "daily_rate": rate, "needs_second": needs_second})
    return Application(loan_id=loan_id, needs_second=needs_second, daily_rate=rate,
                       checks=checks, available_after=after.available)


def submit(*, conn: Connection, merchant_id: int, order_id: int, principal: Decimal,
           term_days: int, certificate_no: str) -> Application:
    """The marketplace's write (no staff actor): the buyer applies for its order."""
    return _apply(conn, staff_id=None, merchant_id=merchant_id, order_id=order_id,
                  principal=principal, term_days=term_days, certificate_no=certificate_no)


@requires("bd", "risk")
def apply(*, conn: Connection, actor: Actor, merchant_id: int, order_id: int,
          principal: Decimal, term_days: int, certificate_no: str) -> Application:
    """Staff enter an application for a merchant (the buyer of ``order_id``). Refused: an
    order that is not this merchant's, not in escrow with the deposit paid, a principal above
    the order's share or the available line, a term not offered, a grade without a rate, a
    certificate already held or promised to an application in flight."""
    return _apply(conn, staff_id=actor.id, merchant_id=merchant_id, order_id=order_id,
                  principal=principal, term_days=term_days, certificate_no=certificate_no)


# ---------------------------------------------------------------- the queue
@dataclass(frozen=True)
class QueuePage:
    rows: pd.DataFrame
    total: int


def sla_level(age_hours: float) -> str:
    """console/sla.py's rule at settings.loan_sla_hours."""
    return sla.sla_level(age_hours, sla_hours=get_settings().loan_sla_hours)


_VIEW_WHERE = {
    "open": "f.status IN ('applied','approved')",
    "mine": "f.status = 'applied' AND f.assignee_id = :me",
    "unassigned": "f.status = 'applied' AND f.assignee_id IS NULL",
    "second": "f.status = 'applied' AND f.approved_by IS NOT NULL",
    "to_disburse": "f.status = 'approved'",
    "filed": "f.applied_by = :me",
}
# Every application for risk and managers; only the ones they filed for anyone else (BD).
_SCOPE = "(CAST(:every AS boolean) OR f.applied_by = :me)"


def sees_every_loan(actor: Actor) -> bool:
    """Risk and managers read every application; a BD person only those they filed."""
    return actor.has(*READ_ROLES)


def views_for(actor: Actor) -> tuple[str, ...]:
    """The queue's views for this person: a filer's two; every view for risk; every view but
    'filed' for a manager, who files none."""
    if not sees_every_loan(actor):
        return FILER_VIEWS
    return QUEUE_VIEWS if actor.has("risk", "bd") else tuple(v for v in QUEUE_VIEWS
                                                             if v != "filed")


@requires(*READ_ROLES, *FOLLOW_ROLES)
def list_queue(*, conn: Connection, actor: Actor, view: str = "open", limit: int = 50,
               offset: int = 0) -> QueuePage:
    """One page of applications with their stage and SLA level: oldest first, or, in the
    view ``filed`` (what I filed, decided ones too), newest first. A BD person sees only the
    applications they filed, whichever view they ask for."""
    if view not in QUEUE_VIEWS:
        raise InvalidInput("finance.loans.error.bad_form_value")
    where = f"{_VIEW_WHERE[view]} AND {_SCOPE}"
    order = "f.applied_at DESC, f.id DESC" if view == "filed" else "f.applied_at, f.id"
    scope = {"me": actor.id, "every": sees_every_loan(actor)}
    total = int(db.scalar(conn, f"SELECT count(*) FROM fin.loans f WHERE {where}", **scope))
    rows = db.fetch_df(conn, f"""
        SELECT f.id, f.status, f.merchant_id, m.name AS merchant_name, f.seller_id,
               sm.name AS seller_name, f.order_id, f.principal, f.term_days, f.grade,
               f.daily_rate, f.needs_second, f.approved_by, f.assignee_id,
               a.display_name AS assignee, f.applied_at, f.version,
               CASE WHEN f.status = 'approved' THEN 'disbursement'
                    WHEN f.status <> 'applied' THEN 'closed'
                    WHEN f.approved_by IS NOT NULL THEN 'second_approval'
                    ELSE 'first_approval' END AS stage,
               extract(epoch FROM now() - f.applied_at) / 3600 AS age_hours
        FROM fin.loans f
        JOIN app.merchants m ON m.id = f.merchant_id
        JOIN app.merchants sm ON sm.id = f.seller_id
        LEFT JOIN ops.staff a ON a.id = f.assignee_id
        WHERE {where}
        ORDER BY {order}
        LIMIT :limit OFFSET :offset""", **scope, limit=limit, offset=offset)
    if rows.empty:
        rows["sla"] = pd.Series(dtype=object)
    else:
        rows["age_hours"] = rows["age_hours"].astype(float).round(1)
        # The SLA runs while a case waits for a decision; a decided one has none (None).
        rows["sla"] = pd.Series([sla_level(h) if s in OPEN_STATUSES else None
                                 for h, s in zip(rows["age_hours"], rows["status"])],
                                index=rows.index, dtype=object)
    return QueuePage(rows=rows, total=total)


def _lock_reviewer(conn: Connection, staff_id: int) -> None:
    """One reviewer's load changes one transaction at a time (see trust_queue)."""
    db.execute(conn, "SELECT pg_advisory_xact_lock(:ns, CAST(:s AS integer))",
               ns=LOCK_NAMESPACE, s=staff_id)


def _load(conn: Connection, staff_id: int) -> int:
    return int(db.scalar(conn, """SELECT count(*) FROM fin.loans
                                  WHERE assignee_id = :s AND status = 'applied'""", s=staff_id))


def _check_cap(conn: Connection, staff_id: int) -> None:
    cap = get_settings().review_cap_per_person
    _lock_reviewer(conn, staff_id)
    held = _load(conn, staff_id)
    if held >= cap:
        raise Conflict("finance.loans.error.cap_reached", held=held, cap=cap)


@requires("risk")
def next_case(*, conn: Connection, actor: Actor) -> int | None:
    """Take the oldest unassigned application this person may decide (not one they entered,
    nor one awaiting the second approval of a case they approved first); None when none.
    Refused at the per-person cap of open cases (settings.review_cap_per_person), which
    holds under concurrency: the reviewer's load is counted under their advisory lock."""
    _check_cap(conn, actor.id)
    loan_id = db.scalar(conn, """
        UPDATE fin.loans t
        SET assignee_id = :me, assigned_at = now(), version = version + 1
        WHERE t.id = (SELECT f.id FROM fin.loans f
                      WHERE f.status = 'applied' AND f.assignee_id IS NULL
                        AND f.applied_by IS DISTINCT FROM :me
                        AND f.approved_by IS DISTINCT FROM :me
                      ORDER BY f.applied_at, f.id LIMIT 1
                      FOR UPDATE SKIP LOCKED)
          AND t.status = 'applied' AND t.assignee_id IS NULL
        RETURNING t.id""", me=actor.id)
    if loan_id is not None:
        _event(conn, loan_id, "assigned", staff_id=actor.id, detail={"assignee_id": actor.id})
        write_audit(conn=conn, actor_id=actor.id, action="loan.take_next", entity_type=ENTITY,
                    entity_id=loan_id, before={"assignee_id": None},
                    after={"assignee_id": actor.id})
    return loan_id


@requires("risk")
def assign_case(*, conn: Connection, actor: Actor, loan_id: int, version: int,
                assignee_id: int) -> int:
    """Give an application (unassigned, or mine) to a risk colleague or myself, within their
    cap; not to the person who entered it nor, for the second approval, to the first
    approver. Returns the new version."""
    row = _locked(conn, loan_id)
    _check_version(row, version)
    if row["status"] != "applied":
        raise Conflict("finance.loans.error.already_decided")
    if row["assignee_id"] not in (None, actor.id):
        raise Conflict("finance.loans.error.held_by_other")
    if not db.scalar(conn, """SELECT 1 FROM ops.staff WHERE id = :id AND is_active
                              AND 'risk' = ANY (roles)""", id=assignee_id):
        raise InvalidInput("finance.loans.error.bad_assignee")
    if assignee_id in (row["applied_by"], row["approved_by"]):
        raise InvalidInput("finance.loans.error.bad_assignee")
    _check_cap(conn, assignee_id)
    new_version = db.scalar(conn, """
        UPDATE fin.loans SET assignee_id = :to, assigned_at = now(), version = version + 1
        WHERE id = :id RETURNING version""", to=assignee_id, id=loan_id)
    _event(conn, loan_id, "assigned", staff_id=actor.id, detail={"assignee_id": assignee_id})
    write_audit(conn=conn, actor_id=actor.id, action="loan.assign", entity_type=ENTITY,
                entity_id=loan_id, before={"assignee_id": row["assignee_id"]},
                after={"assignee_id": assignee_id})
    return new_version


# ---------------------------------------------------------------- decisions
@dataclass(frozen=True)
class Decision:
    loan_id: int
    status: str
    version: int
    awaiting_second: bool = False


def _stored_checks_ok(conn: Connection, loan_id: int) -> bool:
    detail = db.scalar(conn, """SELECT detail FROM fin.loan_events
                                WHERE loan_id = :l AND kind = 'checks'
                                ORDER BY id DESC LIMIT 1""", l=loan_id)
    return bool(detail and detail.get("all_ok"))


@requires("risk")
def approve(*, conn: Connection, actor: Actor, loan_id: int, version: int,
            note: str | None = None) -> Decision:
    """Approve the application I hold. Above the threshold the first approval sends it back
    to the queue for a second, different risk person. Refused: a stale form, a case decided
    or not mine, my own application, approving twice; a note is required when an automatic
    check failed."""
    note = _text(note)
    row = _locked(conn, loan_id)
    _check_version(row, version)
    if row["status"] != "applied":
        raise Conflict("finance.loans.error.already_decided")
    if row["assignee_id"] != actor.id:
        raise PermissionDenied("finance.loans.error.not_yours")
    if row["applied_by"] == actor.id:
        raise PermissionDenied("finance.loans.error.own_application")
    if row["approved_by"] == actor.id:
        raise PermissionDenied("finance.loans.error.second_must_differ")
    if note is None and not _stored_checks_ok(conn, loan_id):
        raise InvalidInput("finance.loans.error.note_required_failed_checks")
    _parties_active(conn, row["merchant_id"], row["seller_id"])
    first = row["approved_by"] is None
    if first and row["needs_second"]:
        new = db.fetch_one(conn, """
            UPDATE fin.loans SET approved_by = :me, approved_at = now(), decision_note = :n,
                   assignee_id = NULL, assigned_at = NULL, version = version + 1
            WHERE id = :id RETURNING status, version""", me=actor.id, n=note, id=loan_id)
        kind, action = "approved", "loan.approve"
    elif first:
        new = db.fetch_one(conn, """
            UPDATE fin.loans SET status = 'approved', approved_by = :me, approved_at = now(),
                   decided_at = now(), decision_note = :n, version = version + 1
            WHERE id = :id RETURNING status, version""", me=actor.id, n=note, id=loan_id)
        kind, action = "approved", "loan.approve"
    else:
        new = db.fetch_one(conn, """
            UPDATE fin.loans SET status = 'approved', second_approved_by = :me,
                   second_approved_at = now(), decided_at = now(),
                   decision_note = coalesce(:n, decision_note), version = version + 1
            WHERE id = :id RETURNING status, version""", me=actor.id, n=note, id=loan_id)
        kind, action = "second_approved", "loan.second_approve"
    _event(conn, loan_id, kind, staff_id=actor.id, note=note,
           detail={"awaiting_second": new["status"] == "applied"})
    write_audit(conn=conn, actor_id=actor.id, action=action, entity_type=ENTITY,
                entity_id=loan_id, before={"status": "applied"},
                after={"status": new["status"], "principal": row["principal"]}, reason=note)
    return Decision(loan_id=loan_id, status=new["status"], version=new["version"],
                    awaiting_second=new["status"] == "applied")


@requires("risk")
def reject(*, conn: Connection, actor: Actor, loan_id: int, version: int,
           reason: str) -> Decision:
    """Reject the application I hold, with a reason; its principal goes back to the line."""
    reason = _text(reason)
    if reason is None:
        raise InvalidInput("finance.loans.error.reason_required")
    row = _locked(conn, loan_id)
    _check_version(row, version)
    if row["status"] != "applied":
        raise Conflict("finance.loans.error.already_decided")
    if row["assignee_id"] != actor.id:
        raise PermissionDenied("finance.loans.error.not_yours")
    new_version = db.scalar(conn, """
        UPDATE fin.loans SET status = 'rejected', rejected_by = :me, decided_at = now(),
               decision_note = :n, assignee_id = NULL, version = version + 1
        WHERE id = :id RETURNING version""", me=actor.id, n=reason, id=loan_id)
    lines.release(conn, merchant_id=row["merchant_id"], amount=row["principal"])
    _event(conn, loan_id, "rejected", staff_id=actor.id, note=reason)
    write_audit(conn=conn, actor_id=actor.id, action="loan.reject", entity_type=ENTITY,
                entity_id=loan_id, before={"status": row["status"]},
                after={"status": "rejected"}, reason=reason)
    return Decision(loan_id=loan_id, status="rejected", version=new_version)


@requires("bd", "risk")
def cancel(*, conn: Connection, actor: Actor, loan_id: int, version: int,
           reason: str) -> Decision:
    """Cancel an application before disbursement (the buyer withdrew, the order changed),
    with a reason; its principal goes back to the line. A BD person cancels only an
    application they filed."""
    reason = _text(reason)
    if reason is None:
        raise InvalidInput("finance.loans.error.reason_required")
    row = _locked(conn, loan_id)
    if not actor.has("risk") and row["applied_by"] != actor.id:
        # BD withdraws what they filed; another's application is not theirs to see (get_loan)
        raise NotFound("finance.loans.error.not_found")
    _check_version(row, version)
    if row["status"] not in OPEN_STATUSES:
        raise Conflict("finance.loans.error.already_decided")
    new_version = db.scalar(conn, """
        UPDATE fin.loans SET status = 'cancelled', decided_at = now(), decision_note = :n,
               assignee_id = NULL, version = version + 1
        WHERE id = :id RETURNING version""", n=reason, id=loan_id)
    lines.release(conn, merchant_id=row["merchant_id"], amount=row["principal"])
    _event(conn, loan_id, "cancelled", staff_id=actor.id, note=reason)
    write_audit(conn=conn, actor_id=actor.id, action="loan.cancel", entity_type=ENTITY,
                entity_id=loan_id, before={"status": row["status"]},
                after={"status": "cancelled"}, reason=reason)
    return Decision(loan_id=loan_id, status="cancelled", version=new_version)


# ---------------------------------------------------------------- disbursement
@dataclass(frozen=True)
class Disbursement:
    loan_id: int
    payout_reference: str
    due_date: date
    version: int


@requires("risk")
def disburse(*, conn: Connection, actor: Actor, loan_id: int, version: int) -> Disbursement:
    """Pay the seller the principal of an approved loan (console/finance/payout.py, keyed by
    the loan so a retry pays once), hold the certificate, and set the due date: the
    disbursement's Shanghai day + the term. Refused: a loan not approved (or approved only
    once above the threshold), a stale form, an order no longer in escrow, a payout the
    channel refused."""
    row = _locked(conn, loan_id)
    _check_version(row, version)
    if row["status"] != "approved":
        raise Conflict("finance.loans.error.not_approved")
    order = db.fetch_one(conn, _ORDER, id=row["order_id"])
    if not _order_qualifies(order):
        raise Conflict("finance.loans.error.order_not_eligible")
    _parties_active(conn, row["merchant_id"], row["seller_id"])
    try:
        reference = payout.gateway().pay_seller(
            seller_id=row["seller_id"], amount=row["principal"],
            idempotency_key=f"loan-{loan_id}-disbursement")
    except payout.PayoutFailed:
        raise Conflict("finance.loans.error.payout_failed") from None
    reference = str(reference)[:64]
    today = clock.today()
    due = today + timedelta(days=int(row["term_days"]))
    new_version = db.scalar(conn, """
        UPDATE fin.loans
        SET status = 'disbursed', disbursed_by = :me, disbursed_at = :at, due_date = :due,
            accrued_through = :through, certificate_state = 'held', payout_reference = :ref,
            assignee_id = NULL, version = version + 1
        WHERE id = :id RETURNING version""", me=actor.id, at=clock.now(), due=due,
                              through=today - timedelta(days=1), ref=reference, id=loan_id)
    _event(conn, loan_id, "disbursed", staff_id=actor.id, amount=row["principal"],
           detail={"payee_seller_id": row["seller_id"], "payout_reference": reference,
                   "due_date": due})
    _event(conn, loan_id, "certificate_held", staff_id=actor.id,
           detail={"certificate_no": row["certificate_no"]})
    write_audit(conn=conn, actor_id=actor.id, action="loan.disburse", entity_type=ENTITY,
                entity_id=loan_id, before={"status": "approved"},
                after={"status": "disbursed", "principal": row["principal"],
                       "seller_id": row["seller_id"], "payout_reference": reference,
                       "due_date": due, "certificate_state": "held"})
    return Disbursement(loan_id=loan_id, payout_reference=reference, due_date=due,
                        version=new_version)


# ---------------------------------------------------------------- repayments
@dataclass(frozen=True)
class Repayment:
    repayment_id: int
    to_interest: Decimal
    to_principal: Decimal
    balance_after: Decimal
    repaid: bool
    replayed: bool = False     # the same reference again: the repayment recorded before


def _record_repayment(conn: Connection, *, staff_id: int | None, loan_id: int,
                      amount: Decimal, channel: str, reference: str,
                      received_at: datetime | None) -> Repayment:
    amount = _fen(amount)
    if amount <= 0:
        raise InvalidInput("finance.error.amount_not_positive")
    if channel not in CHANNELS:
        raise InvalidInput("finance.loans.error.bad_form_value")
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise InvalidInput("finance.loans.error.reference_required")
    _locked(conn, loan_id)   # repayments of one loan, one at a time
    earlier = db.fetch_one(conn, """SELECT * FROM fin.loan_repayments
                                    WHERE reference = :r""", r=reference)
    if earlier is not None:
        return _replay(conn, earlier, loan_id=loan_id, amount=amount)
    row = db.fetch_one(conn, "SELECT status FROM fin.loans WHERE id = :id", id=loan_id)
    if row["status"] != "disbursed":
        raise Conflict("finance.loans.error.not_outstanding")
    accrual.run(conn, loan_id=loan_id)       # the interest owed up to yesterday is on it
    loan = db.fetch_one(conn, "SELECT * FROM fin.loans WHERE id = :id", id=loan_id)
    interest_due = loan["interest_accrued"] - loan["interest_paid"]
    principal_due = loan["principal"] - loan["principal_paid"]
    split = money.allocate(amount, interest_due=interest_due, principal_due=principal_due)
    repayment_id = db.scalar(conn, """
        INSERT INTO fin.loan_repayments (loan_id, amount, to_interest, to_principal, channel,
                                         reference, received_at, recorded_by)
        VALUES (:l, :a, :i, :p, :c, :r, coalesce(:at, now()), :by)
        ON CONFLICT (reference) DO NOTHING RETURNING id""",
                             l=loan_id, a=amount, i=split.to_interest, p=split.to_principal,
                             c=channel, r=reference, at=received_at, by=staff_id)
    if repayment_id is None:   # the same reference, committed meanwhile for another loan
        raise Conflict("finance.loans.error.reference_used")
    repaid = split.amount == interest_due + principal_due
    db.execute(conn, """
        UPDATE fin.loans
        SET interest_paid = interest_paid + :i, principal_paid = principal_paid + :p,
            status = CASE WHEN :done THEN 'repaid' ELSE status END,
            repaid_at = CASE WHEN :done THEN now() ELSE repaid_at END,
            certificate_state = CASE WHEN :done THEN 'released' ELSE certificate_state END,
            dpd = CASE WHEN :done THEN 0 ELSE dpd END,
            bucket = CASE WHEN :done THEN 'current' ELSE bucket END,
            version = version + 1
        WHERE id = :id""", i=split.to_interest, p=split.to_principal, done=repaid, id=loan_id)
    lines.release(conn, merchant_id=loan["merchant_id"], amount=split.to_principal)
    balance_after = interest_due + principal_due - split.amount
    _event(conn, loan_id, "repayment", staff_id=staff_id, amount=amount,
           detail={"to_interest": split.to_interest, "to_principal": split.to_principal,
                   "channel": channel, "reference": reference, "balance_after": balance_after})
    if repaid:
        if loan["bucket"] != "current":
            _event(conn, loan_id, "bucket", staff_id=None,
                   detail={"from": loan["bucket"], "to": "current", "dpd": 0, "repaid": True})
        _event(conn, loan_id, "certificate_released", staff_id=staff_id,
               detail={"certificate_no": loan["certificate_no"]})
        _event(conn, loan_id, "repaid", staff_id=staff_id)
    write_audit(conn=conn, actor_id=staff_id, action="loan.repayment", entity_type=ENTITY,
                entity_id=loan_id,
                after={"amount": amount, "to_interest": split.to_interest,
                       "to_principal": split.to_principal, "reference": reference,
                       "channel": channel, "balance": balance_after,
                       "status": "repaid" if repaid else "disbursed"})
    return Repayment(repayment_id=repayment_id, to_interest=split.to_interest,
                     to_principal=split.to_principal, balance_after=balance_after,
                     repaid=repaid)


def _replay(conn: Connection, earlier, *, loan_id: int, amount: Decimal) -> Repayment:
    """The same payment recorded again: the repayment of before, if it is the same one."""
    if earlier["loan_id"] != loan_id or earlier["amount"] != amount:
        raise Conflict("finance.loans.error.reference_used")
    loan = db.fetch_one(conn, "SELECT * FROM fin.loans WHERE id = :id", id=loan_id)
    return Repayment(repayment_id=earlier["id"], to_interest=earlier["to_interest"],
                     to_principal=earlier["to_principal"],
                     balance_after=money.balance(
                         principal=loan["principal"], principal_paid=loan["principal_paid"],
                         interest_accrued=loan["interest_accrued"],
                         interest_paid=loan["interest_paid"]),
                     repaid=loan["status"] == "repaid", replayed=True)


def receive_repayment(*, conn: Connection, loan_id: int, amount: Decimal, channel: str,
                      reference: str, received_at: datetime | None = None) -> Repayment:
    """The payment channel's callback (no staff actor): idempotent by its reference."""
    return _record_repayment(conn, staff_id=None, loan_id=loan_id, amount=amount,
                             channel=channel, reference=reference, received_at=received_at)


@requires("risk")
def record_repayment(*, conn: Connection, actor: Actor, loan_id: int, amount: Decimal,
                     channel: str, reference: str,
                     received_at: datetime | None = None) -> Repayment:
    """Record a repayment received (partial or full): interest first, then principal; the
    principal repaid goes back to the line; a full repayment closes the loan and releases the
    certificate. The same reference again is the same repayment (nothing more is recorded);
    refused above what is owed, on a loan not disbursed, or with a reference another payment
    has."""
    return _record_repayment(conn, staff_id=actor.id, loan_id=loan_id, amount=amount,
                             channel=channel, reference=reference, received_at=received_at)


# ---------------------------------------------------------------- collection
def _outstanding(conn: Connection, loan_id: int):
    row = _locked(conn, loan_id)
    if row["status"] != "disbursed":
        raise Conflict("finance.loans.error.not_outstanding")
    return row


@requires("risk")
def add_collection_note(*, conn: Connection, actor: Actor, loan_id: int, note: str) -> None:
    """A collection note (催收记录) on a loan not yet repaid."""
    note = _text(note)
    if note is None:
        raise InvalidInput("finance.loans.error.note_required")
    _outstanding(conn, loan_id)
    _event(conn, loan_id, "collection_note", staff_id=actor.id, note=note)
    write_audit(conn=conn, actor_id=actor.id, action="loan.collection_note",
                entity_type=ENTITY, entity_id=loan_id, after={"note": note})


@requires("risk")
def add_promise_to_pay(*, conn: Connection, actor: Actor, loan_id: int, promise_date: date,
                       amount: Decimal, note: str | None = None) -> None:
    """The borrower's promise to pay (承诺还款) an amount by a day (today or later)."""
    amount = _fen(amount)
    if amount <= 0:
        raise InvalidInput("finance.error.amount_not_positive")
    if promise_date < clock.today():
        raise InvalidInput("finance.loans.error.promise_in_past")
    _outstanding(conn, loan_id)
    note = _text(note)
    _event(conn, loan_id, "promise_to_pay", staff_id=actor.id, amount=amount,
           promise_date=promise_date, note=note)
    write_audit(conn=conn, actor_id=actor.id, action="loan.promise_to_pay",
                entity_type=ENTITY, entity_id=loan_id,
                after={"promise_date": promise_date, "amount": amount, "note": note})


# ---------------------------------------------------------------- reading a loan
@dataclass
class LoanView:
    loan: dict[str, Any]
    timeline: pd.DataFrame
    repayments: pd.DataFrame
    checks: dict[str, Any] = field(default_factory=dict)


@requires(*READ_ROLES, *FOLLOW_ROLES)
def get_loan(*, conn: Connection, actor: Actor, loan_id: int) -> LoanView:
    """A loan, its balance, the checks as they were, its repayments and timeline, and the
    borrower's contact: its contact person, phone and (a personal certification's) ID number,
    masked per console/masking.py for this person's roles. A BD person reads only a loan they
    filed; any other is not found for them (the same answer as a loan that does not exist)."""
    row = db.fetch_one(conn, f"""
        SELECT f.*, m.name AS merchant_name, sm.name AS seller_name,
               a.display_name AS assignee,
               f.principal + f.interest_accrued - f.principal_paid - f.interest_paid AS balance,
               m.contact_name AS borrower_contact, m.phone AS borrower_phone,
               (SELECT x.id_number FROM app.certifications x
                WHERE x.merchant_id = f.merchant_id AND x.kind = 'personal'
                  AND x.status = 'approved'
                ORDER BY x.decided_at DESC NULLS LAST, x.id DESC LIMIT 1) AS borrower_id_number
        FROM fin.loans f
        JOIN app.merchants m ON m.id = f.merchant_id
        JOIN app.merchants sm ON sm.id = f.seller_id
        LEFT JOIN ops.staff a ON a.id = f.assignee_id
        WHERE f.id = :id AND {_SCOPE}""", id=loan_id, me=actor.id,
                       every=sees_every_loan(actor))
    if row is None:
        raise NotFound("finance.loans.error.not_found")
    loan = dict(row)
    loan["borrower_phone"] = masking.phone_for(actor, loan["borrower_phone"])
    loan["borrower_id_number"] = masking.id_number_for(actor, loan["borrower_id_number"])
    checks = db.scalar(conn, """SELECT detail FROM fin.loan_events WHERE loan_id = :l
                                AND kind = 'checks' ORDER BY id DESC LIMIT 1""", l=loan_id)
    return LoanView(
        loan=loan, checks=checks or {},
        timeline=db.fetch_df(conn, """
            SELECT e.at, e.kind, s.display_name AS who, e.amount, e.promise_date, e.note,
                   e.detail
            FROM fin.loan_events e LEFT JOIN ops.staff s ON s.id = e.staff_id
            WHERE e.loan_id = :l ORDER BY e.at, e.id""", l=loan_id),
        repayments=db.fetch_df(conn, """
            SELECT r.id, r.received_at, r.amount, r.to_interest, r.to_principal, r.channel,
                   r.reference, s.display_name AS recorded_by
            FROM fin.loan_repayments r LEFT JOIN ops.staff s ON s.id = r.recorded_by
            WHERE r.loan_id = :l ORDER BY r.received_at, r.id""", l=loan_id))
