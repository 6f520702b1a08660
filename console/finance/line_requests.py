"""Manual credit lines (人工授信): what a typed amount means, and the expiry sweep.

A risk officer proposes a manual line for a merchant until a day; a second risk officer
approves or rejects it (console/services/credit_lines.py, the staff's calls). While an approved
request holds, its line replaces the grade line (console.finance.lines.current); a newer
approval supersedes it; at its end the jobs' sweep here marks it expired and clears it from
the line row. The database keeps the rules a service could forget (migrations 096, 099): no one
approves their own request, one open and one approved request per merchant, and a line row's
manual line is always an approved request of that merchant.

Amounts are typed by people and are hostile until parsed: ``parse_line_amount`` reads what
staff type (yuan, with separators, or 万) into exact Decimal yuan, or refuses with a catalogue
message; never a float on the way.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from console.audit import write_audit
from console.errors import InvalidInput

CENT = Decimal("0.01")
WAN = Decimal("10000")
# The largest manual line a person may type: 1亿元. Above any grade's cap by far; a line past
# it is a typo (an extra zero) or an attack, not a credit decision.
MAX_LINE_YUAN = Decimal("100000000.00")
MAX_LINE_DAYS = 366          # a manual line is reviewed at least once a year, as overrides are

# A number in ASCII digits after NFKC (full-width digits, commas and the yen sign become ASCII):
# whole part with or without thousands commas, an optional fraction, an optional 万 (or 'w',
# as staff write it in chats: 50w = 50万) and 元.
_AMOUNT = re.compile(r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?P<wan>[万wW])?元?", re.ASCII)


def parse_line_amount(text: Any) -> Decimal:
    """An amount in yuan as staff type it, exactly, or InvalidInput
    ('finance.lines.error.bad_amount' / 'finance.lines.error.too_large').

    Accepted: '500000', '500,000.50', '¥500,000', '50万', '50万元', '12.5万', '50w', full-width
    '５０００００' or '１２万' (NFKC). The result has at most two decimals (fen): '1.234567万'
    is 12345.67, '1.2345678万' is refused, never rounded. Refused: empty, a sign (no negative
    line; '+' is not a number staff type), NaN, infinity, exponents ('1e30'), Chinese numerals
    ('十二万'), other scripts' digits, misplaced separators ('1,00'), a float (inexact), and
    anything above MAX_LINE_YUAN.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, Decimal)):
        raise InvalidInput("finance.lines.error.bad_amount")
    if isinstance(text, int):
        amount = Decimal(text)
    elif isinstance(text, Decimal):
        amount = text
    else:
        cleaned = unicodedata.normalize("NFKC", text).strip().removeprefix("¥")
        match = _AMOUNT.fullmatch(cleaned)
        if match is None:
            raise InvalidInput("finance.lines.error.bad_amount")
        try:
            amount = Decimal(match["num"].replace(",", ""))
        except InvalidOperation:      # pragma: no cover - the pattern admits only digits
            raise InvalidInput("finance.lines.error.bad_amount") from None
        if match["wan"]:
            amount *= WAN
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("finance.lines.error.bad_amount")
    if amount > MAX_LINE_YUAN:        # before quantize: 1e30 has more digits than its context
        raise InvalidInput("finance.lines.error.too_large", max=f"{MAX_LINE_YUAN / WAN:,.0f}")
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):     # fen and no finer
        raise InvalidInput("finance.lines.error.bad_amount")
    return amount.quantize(CENT)


# ---------------------------------------------------------------- the expiry sweep (jobs)
def expire_due(conn: Connection) -> int:
    """Requests past their end, approved or still proposed, marked 'expired' and their manual
    lines cleared from the line rows, in the caller's transaction; audited as the system. The
    line in force already ignores a manual line from its end (lines.current compares
    manual_until with now()); this keeps the rows and the history truthful. How many expired.

    Line rows are changed before the audit rows are written (the audit chain's head is held
    until commit; every writer takes a line before it)."""
    expired = conn.execute(sa.text("""
        UPDATE fin.line_requests
        SET status = 'expired', version = version + 1
        WHERE status IN ('proposed', 'approved') AND expires_at <= now()
        RETURNING id, merchant_id, line, expires_at""")).mappings().all()
    if not expired:
        return 0
    conn.execute(sa.text("""
        UPDATE fin.credit_lines
        SET manual_line = NULL, manual_request_id = NULL, manual_until = NULL,
            version = version + 1
        WHERE manual_request_id = ANY(:ids)"""), {"ids": [r["id"] for r in expired]})
    for row in expired:
        _audit_expired(conn, row)
    return len(expired)


def _audit_expired(conn: Connection, row: Mapping[str, Any]) -> None:
    write_audit(conn=conn, actor_id=None, action="finance.line.expire",
                entity_type="line_request", entity_id=row["id"],
                after={"status": "expired", "merchant_id": row["merchant_id"],
                       "limit": row["line"], "expires_at": row["expires_at"]})
