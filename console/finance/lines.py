"""Credit lines (授信额度): how much of a merchant's line is free, and holding it for a loan.

A line is the merchant's grade line (the scorecard's loan_limit for its current grade, written
by the re-evaluation after each scoring run) or, while one is in force, an approved manual
line. ``committed`` is the principal held by applications in flight and loans not yet repaid.
A downgrade never cuts what is committed: the line may fall below it, and then nothing is
available until repayments bring committed back under the line.

``reserve`` and ``release`` are the only writers of ``committed``. Both lock the merchant's
line row, so applications drawing the same line at once are served one after the other and
never exceed it together.

Who else writes a line row (migration 099, console/services/credit_lines.py): the grade line
follows the current grade by triggers on ops.merchant_grade_current (every scoring run, every
override approved, superseded or expired; in that writer's transaction, committed untouched);
a manual line is set by a second risk officer's approval and cleared by the jobs' expiry
sweep (console.finance.line_requests.expire_due). Lock order: a writer takes the line row
before it writes its audit row (the audit chain's head is held to commit), as reserve's and
release's callers and the scoring run do.

An approved override's end is a moment: ops.merchant_credit stops counting it at once, and
so does the line in force here (read live from it), while the stored grade line follows when
the credit job's sweep marks the override expired (within its 15-minute cycle). A suspended or
closed merchant keeps its line here; order loans refuse such a merchant (console/finance/
loans.py) and the pages show the line as withheld.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console.errors import Conflict, InvalidInput

# The grade line in force is the lower of the stored grade_line and the current grade's limit
# read live (ops.merchant_credit compares an override's end with now()): an approved upgrade
# that has just ended stops counting at once, not when the credit job next sweeps it (the
# stored line follows then); never more than either says (least() skips a merchant with no
# current grade: the stored line). The line row is the one locked: it holds what is committed.
_LINE_SELECT = """
    SELECT l.merchant_id,
           CASE WHEN l.manual_until > now() THEN l.manual_line
                ELSE least(l.grade_line, c.loan_limit) END AS line,
           l.committed, coalesce(c.effective_grade, l.grade) AS grade,
           coalesce(l.manual_until > now(), false) AS is_manual
    FROM fin.credit_lines l
    LEFT JOIN ops.merchant_credit c ON c.merchant_id = l.merchant_id"""
_LINE = sa.text(_LINE_SELECT + " WHERE l.merchant_id = :m")
# The same lines for many merchants in one statement (a board of 200 cards: one query). The
# list also bounds the grades' side of the join (it extends _LINE_SELECT's ON clause, so it
# changes no answer): the planner cannot carry an ANY list across the join by itself, and
# without it read every current grade to hash them for 200 lines.
LINES_OF_MANY = (_LINE_SELECT + " AND c.merchant_id = ANY(CAST(:ms AS bigint[]))"
                 " WHERE l.merchant_id = ANY(CAST(:ms AS bigint[]))")


@dataclass(frozen=True)
class Line:
    merchant_id: int
    line: Decimal          # the line in force (manual while approved and unexpired, else grade)
    committed: Decimal     # held by applications in flight and unrepaid principal
    grade: str | None
    is_manual: bool

    @property
    def available(self) -> Decimal:
        return max(self.line - self.committed, Decimal("0.00"))


def current(conn: Connection, *, merchant_id: int, lock: bool = False) -> Line | None:
    """The merchant's line, or None when it has none. ``lock`` holds the row to the end of the
    transaction (FOR UPDATE): the caller is about to change what is committed."""
    row = conn.execute(sa.text(_LINE.text + (" FOR UPDATE OF l" if lock else "")),
                       {"m": merchant_id}).one_or_none()
    if row is None:
        return None
    return line_of(row._mapping)


def line_of(row: Mapping[str, Any]) -> Line:
    """A Line from a row of the line query's columns (current, current_many, or a caller's
    statement built on LINES_OF_MANY)."""
    return Line(merchant_id=row["merchant_id"], line=row["line"], committed=row["committed"],
                grade=row["grade"], is_manual=bool(row["is_manual"]))


def current_many(conn: Connection, *, merchant_ids: list[int]) -> dict[int, Line]:
    """Each merchant's line by id, read in one query; a merchant with none is left out (as
    ``current`` returns None for it). Never locks: for pages, not for drawing a line."""
    ids = sorted({int(m) for m in merchant_ids})
    if not ids:
        return {}
    return {row.merchant_id: line_of(row._mapping)
            for row in conn.execute(sa.text(LINES_OF_MANY), {"ms": ids})}


def reserve(conn: Connection, *, merchant_id: int, amount: Decimal) -> Line:
    """Hold ``amount`` of the merchant's line, in the caller's transaction; the line after.
    Refused (and nothing held) above what is available."""
    if amount <= 0:
        raise InvalidInput("finance.error.amount_not_positive")
    line = current(conn, merchant_id=merchant_id, lock=True)
    if line is None or amount > line.available:
        raise Conflict("finance.error.above_available_line",
                       available=line.available if line else Decimal("0.00"))
    conn.execute(sa.text("""UPDATE fin.credit_lines SET committed = committed + :a,
                            version = version + 1 WHERE merchant_id = :m"""),
                 {"a": amount, "m": merchant_id})
    return Line(merchant_id=merchant_id, line=line.line, committed=line.committed + amount,
                grade=line.grade, is_manual=line.is_manual)


def release(conn: Connection, *, merchant_id: int, amount: Decimal) -> None:
    """Give ``amount`` back to the line (a rejected or cancelled application, principal
    repaid), in the caller's transaction. The database refuses a release below zero."""
    if amount <= 0:
        return
    conn.execute(sa.text("""UPDATE fin.credit_lines SET committed = committed - :a,
                            version = version + 1 WHERE merchant_id = :m"""),
                 {"a": amount, "m": merchant_id})
