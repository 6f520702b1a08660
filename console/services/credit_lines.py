"""Credit lines (授信额度) for staff: a merchant's line, what is used and what is available, and
manual lines (人工授信) under four eyes, as credit overrides are.

A merchant's grade line follows its current grade (migration 099 re-evaluates it after every
scoring run and every override change); console.finance.lines says which line is in force and
holds it for loans. Here: risk officers propose a manual line until a day, a second risk
officer approves or rejects it (above the override senior limit only one who is also a
manager), and BD, risk and managers read the figures on the merchant profile and rating card.
The gated calls live here, with the other services (role matrix, argument boundary); the
parsing of typed amounts and the expiry sweep are console.finance.line_requests.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console import clock, db
from console.audit import write_audit
from console.boundary import Text
from console.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from console.finance import lines
from console.finance.line_requests import MAX_LINE_DAYS, parse_line_amount
from console.roles import Actor, requires
from console.services.credit import ON_HOLD, OVERRIDE_REASONS, READERS, expiry_instant
from console.settings import get_settings

DECIDERS = ("risk",)
REASONS = OVERRIDE_REASONS          # the same reason codes (and words) as grade overrides
# What a person typed into the amount field: parsed by the service, never trusted.
TypedAmount = Annotated[str, Text(max=40, key="finance.lines.error.bad_amount")]
ZERO = Decimal("0.00")


# ---------------------------------------------------------------- reading a line
@dataclass(frozen=True)
class LineView:
    """What the profile and the rating card show of a merchant's line. ``on_hold``
    ('suspended' / 'closed'): the line and what is available do not hold (as the grade does
    not, console.services.credit.shown_terms); what is used is still owed and still shown."""
    merchant_id: int
    on_hold: str | None
    has_line: bool               # False: never rated, no manual line (all figures 0)
    grade: str | None            # the grade the grade line rests on
    grade_line: Decimal
    line: Decimal                # in force: the manual line while it holds, else the grade line
    committed: Decimal           # 已用: applications in flight and unrepaid principal
    available: Decimal           # 可用: line - committed, never below 0
    is_manual: bool
    manual_until: datetime | None
    evaluated_at: datetime | None
    pending_line: Decimal | None = None      # an open request's amount, awaiting a second person

    @property
    def above_line(self) -> bool:
        """More is drawn than the line now allows (a downgrade): nothing new may be drawn."""
        return self.committed > self.line


@requires(*READERS)
def line_summary(*, conn: Connection, actor: Actor, merchant_id: int) -> LineView:
    """One merchant's line, used and available (console.finance.lines.current), for the
    merchant profile and the rating card."""
    status = db.scalar(conn, "SELECT status FROM app.merchants WHERE id = :m", m=merchant_id)
    if status is None:
        raise NotFound("error.not_found")
    line = lines.current(conn, merchant_id=merchant_id)
    pending = db.scalar(conn, """SELECT line FROM fin.line_requests
                                 WHERE merchant_id = :m AND status = 'proposed'
                                   AND expires_at > now()""", m=merchant_id)
    on_hold = status if status in ON_HOLD else None
    if line is None:
        return LineView(merchant_id, on_hold, False, None, ZERO, ZERO, ZERO, ZERO, False, None,
                        None, pending)
    row = db.fetch_one(conn, """SELECT grade_line, manual_until, evaluated_at
                                FROM fin.credit_lines WHERE merchant_id = :m""", m=merchant_id)
    return LineView(merchant_id, on_hold, True, line.grade, row["grade_line"], line.line,
                    line.committed, line.available, line.is_manual,
                    row["manual_until"] if line.is_manual else None, row["evaluated_at"],
                    pending)


# ---------------------------------------------------------------- manual lines (four eyes)
@requires(*DECIDERS)
def propose_line(*, conn: Connection, actor: Actor, merchant_id: int, line: TypedAmount = "",
                 reason_code: str, reason: str, expires_on: date,
                 expected_line: Decimal | None = None) -> int:
    """A risk officer proposes a manual line (yuan as typed: '500000', '50万', '１２万') until a
    day; another risk officer must decide. ``expected_line`` is the line in force the form
    showed: when it has moved since (a scoring run, another approval), the form is stale."""
    amount = parse_line_amount(line)
    if reason_code not in REASONS:
        raise InvalidInput("credit.error.bad_reason_code")
    if not (reason or "").strip():
        raise InvalidInput("error.reason_required")
    if not (clock.today() <= expires_on <= clock.today() + timedelta(days=MAX_LINE_DAYS)):
        raise InvalidInput("finance.lines.error.bad_expiry", days=MAX_LINE_DAYS)
    status = db.scalar(conn, "SELECT status FROM app.merchants WHERE id = :m", m=merchant_id)
    if status is None:
        raise NotFound("error.not_found")
    if status in ON_HOLD:
        raise Conflict("finance.lines.error.on_hold")
    now_line = lines.current(conn, merchant_id=merchant_id)
    from_line = now_line.line if now_line is not None else ZERO
    if expected_line is not None and expected_line != from_line:
        raise Conflict("error.stale")
    if amount == from_line:
        raise InvalidInput("finance.lines.error.same_line")
    try:
        with conn.begin_nested():
            request_id = db.scalar(conn, """
                INSERT INTO fin.line_requests (merchant_id, line, from_line, reason_code, reason,
                                               expires_at, proposed_by)
                VALUES (:m, :line, :from_line, :code, :reason, :exp, :by)
                RETURNING id""", m=merchant_id, line=amount, from_line=from_line,
                code=reason_code, reason=reason.strip(), exp=expiry_instant(expires_on),
                by=actor.id)
    except sa.exc.IntegrityError as err:
        if getattr(err.orig, "pgcode", None) != "23505":   # only the one-open-request index
            raise
        raise Conflict("finance.lines.error.open_request_exists") from err
    write_audit(conn=conn, actor_id=actor.id, action="finance.line.propose",
                entity_type="line_request", entity_id=request_id,
                before={"limit": from_line},
                after={"status": "proposed", "merchant_id": merchant_id, "limit": amount,
                       "reason_code": reason_code, "expires_on": expires_on},
                reason=reason.strip())
    return int(request_id)


def _lock_request(conn: Connection, *, request_id: int, actor: Actor,
                  expected_version: int | None) -> dict[str, Any]:
    row = db.fetch_one(conn, "SELECT * FROM fin.line_requests WHERE id = :id FOR UPDATE",
                       id=request_id)
    if row is None:
        raise NotFound("error.not_found")
    if row["proposed_by"] == actor.id:
        raise PermissionDenied("finance.lines.error.own_request")
    if row["status"] != "proposed":
        raise Conflict("finance.lines.error.already_decided")
    if expected_version is not None and row["version"] != expected_version:
        raise Conflict("error.stale")
    if row["expires_at"] <= db.scalar(conn, "SELECT now()"):
        raise Conflict("finance.lines.error.request_expired")
    return dict(row)


@requires(*DECIDERS)
def approve_line(*, conn: Connection, actor: Actor, request_id: int, note: str = "",
                 expected_version: int | None = None) -> None:
    """A second risk officer approves: the manual line is in force until its end, replacing
    the grade line and any earlier manual line (superseded). Above the override senior limit
    the approver must also be a manager (a head of risk), as for overrides."""
    row = _lock_request(conn, request_id=request_id, actor=actor,
                        expected_version=expected_version)
    status = db.scalar(conn, "SELECT status FROM app.merchants WHERE id = :m",
                       m=row["merchant_id"])
    if status in ON_HOLD:
        raise Conflict("finance.lines.error.on_hold")
    senior = Decimal(get_settings().credit_override_senior_limit_yuan)
    if row["line"] > senior and not actor.has("manager"):
        raise PermissionDenied("finance.lines.error.senior_approval",
                               line=f"{row['line']:,.2f}", senior=f"{senior:,.0f}")
    # Requests, then the line row, then the audit row: the order the expiry sweep takes them
    # in (an approval superseding a line the sweep is expiring must not wait on it crosswise),
    # and reserve/release and the scoring run's re-evaluation take only the line row before
    # their audit rows (migration 099).
    superseded = [r["id"] for r in db.fetch_all(conn, """
        UPDATE fin.line_requests SET status = 'superseded', version = version + 1
        WHERE merchant_id = :m AND status = 'approved' AND id <> :id
        RETURNING id""", m=row["merchant_id"], id=row["id"])]
    before = lines.current(conn, merchant_id=row["merchant_id"], lock=True)
    db.execute(conn, """
        UPDATE fin.line_requests
        SET status = 'approved', approved_by = :by, decided_at = now(), decision_note = :note,
            version = version + 1
        WHERE id = :id AND status = 'proposed'""",
        by=actor.id, note=(note or "").strip() or None, id=row["id"])
    db.execute(conn, """
        INSERT INTO fin.credit_lines AS l (merchant_id, manual_line, manual_request_id,
                                           manual_until)
        VALUES (:m, :line, :id, :until)
        ON CONFLICT (merchant_id) DO UPDATE
           SET manual_line = EXCLUDED.manual_line, manual_request_id = EXCLUDED.manual_request_id,
               manual_until = EXCLUDED.manual_until, version = l.version + 1""",
        m=row["merchant_id"], line=row["line"], id=row["id"], until=row["expires_at"])
    write_audit(conn=conn, actor_id=actor.id, action="finance.line.approve",
                entity_type="line_request", entity_id=row["id"],
                before={"status": "proposed", "limit": before.line if before else ZERO},
                after={"status": "approved", "merchant_id": row["merchant_id"],
                       "limit": row["line"], "expires_at": row["expires_at"],
                       "superseded": superseded},
                reason=(note or "").strip() or None)


@requires(*DECIDERS)
def reject_line(*, conn: Connection, actor: Actor, request_id: int, note: str,
                expected_version: int | None = None) -> None:
    """A second risk officer rejects, saying why; the line stays as it is."""
    if not (note or "").strip():
        raise InvalidInput("error.reason_required")
    row = _lock_request(conn, request_id=request_id, actor=actor,
                        expected_version=expected_version)
    db.execute(conn, """
        UPDATE fin.line_requests
        SET status = 'rejected', rejected_by = :by, decided_at = now(), decision_note = :note,
            version = version + 1
        WHERE id = :id AND status = 'proposed'""", by=actor.id, note=note.strip(), id=row["id"])
    write_audit(conn=conn, actor_id=actor.id, action="finance.line.reject",
                entity_type="line_request", entity_id=row["id"],
                before={"status": "proposed"},
                after={"status": "rejected", "merchant_id": row["merchant_id"],
                       "limit": row["line"]},
                reason=note.strip())


# ---------------------------------------------------------------- the risk page's lists
@requires(*DECIDERS)
def line_inbox(*, conn: Connection, actor: Actor) -> pd.DataFrame:
    """Open requests, oldest first, with the merchant's line now; mine = proposed by me (I
    cannot decide those)."""
    return db.fetch_df(conn, """
        SELECT r.id, r.version, r.merchant_id, m.name AS merchant, l.grade,
               coalesce(l.grade_line, 0) AS grade_line,
               CASE WHEN l.manual_until > now() THEN l.manual_line
                    ELSE coalesce(l.grade_line, 0) END AS line_now,
               coalesce(l.committed, 0) AS committed, r.from_line, r.line, r.reason_code,
               r.reason, r.expires_at, p.display_name AS proposed_by, r.proposed_at,
               (r.proposed_by = :me) AS mine
        FROM fin.line_requests r
        JOIN app.merchants m ON m.id = r.merchant_id
        JOIN ops.staff p ON p.id = r.proposed_by
        LEFT JOIN fin.credit_lines l ON l.merchant_id = r.merchant_id
        WHERE r.status = 'proposed' AND r.expires_at > now()
        ORDER BY r.proposed_at, r.id""", me=actor.id)


@requires(*DECIDERS)
def line_history(*, conn: Connection, actor: Actor, merchant_id: int | None = None,
                 limit: int = 50) -> pd.DataFrame:
    """Decided requests (approved, rejected, superseded, expired), newest decision first; of
    one merchant when given."""
    return db.fetch_df(conn, """
        SELECT r.id, r.merchant_id, m.name AS merchant, r.status, r.from_line, r.line,
               r.reason_code, r.expires_at, p.display_name AS proposed_by,
               coalesce(a.display_name, j.display_name) AS decided_by, r.decided_at,
               r.decision_note
        FROM fin.line_requests r
        JOIN app.merchants m ON m.id = r.merchant_id
        JOIN ops.staff p ON p.id = r.proposed_by
        LEFT JOIN ops.staff a ON a.id = r.approved_by
        LEFT JOIN ops.staff j ON j.id = r.rejected_by
        WHERE r.status <> 'proposed'
          AND (CAST(:m AS bigint) IS NULL OR r.merchant_id = :m)
        ORDER BY coalesce(r.decided_at, r.proposed_at) DESC, r.id DESC
        LIMIT :n""", m=merchant_id, n=limit)
