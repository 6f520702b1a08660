"""What BD see of a buyer's finance where they broker (issue 19): the VIP tier in force and
the order-loan credit available, on the deal board's cards and dialog, the lead pages and the
match suggestions.

The figures are the merchant profile's own (console.finance.lines: the line in force and
what is committed; console.finance.vip: the term in force), read for every buyer on a page
in one statement built from those modules' set-based reads, so a board of 200 cards costs
one query, not 200. The buyer is the party who would draw an order loan.

Masking as on the profile and the directory: a suspended or closed merchant's line and tier
do not hold (console.services.credit.shown_terms), so only its status is given. Who may read:
the credit readers (BD, risk, managers); ops see neither grades nor lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.engine import Connection

from console import db
from console.finance import lines, vip
from console.roles import Actor, requires
from console.services.credit import ON_HOLD, READERS

ZERO = Decimal("0.00")
MAX_MERCHANTS = 1_000          # the argument boundary's list limit; callers ask in chunks

# The line and the term in force come from their modules' own SQL (one rule each).
_BUYERS_SQL = f"""
WITH ln AS ({lines.LINES_OF_MANY}), v AS ({vip.ACTIVE_OF_MANY})
SELECT m.id AS buyer_id, m.status, ln.merchant_id, ln.line, ln.committed, ln.grade,
       ln.is_manual, v.tier
FROM app.merchants m
LEFT JOIN ln ON ln.merchant_id = m.id
LEFT JOIN v ON v.merchant_id = m.id
WHERE m.id = ANY(CAST(:ms AS bigint[]))"""


@dataclass(frozen=True)
class BuyerCredit:
    merchant_id: int
    on_hold: str | None          # 'suspended' / 'closed': nothing below holds; say the status
    has_line: bool               # False: no line at all, or a line of 0
    available: Decimal           # 可用: the line in force less what is committed, never < 0
    tier: str | None             # the VIP tier in force (silver, gold, diamond)


@requires(*READERS)
def buyer_credit(*, conn: Connection, actor: Actor,
                 merchant_ids: tuple[int, ...]) -> dict[int, BuyerCredit]:
    """Each known merchant's tier and available credit, by id, in one query (an unknown id is
    left out)."""
    ids = sorted({int(m) for m in merchant_ids})
    if not ids:
        return {}
    out: dict[int, BuyerCredit] = {}
    for row in db.fetch_all(conn, _BUYERS_SQL, ms=ids):
        held = row["status"] if row["status"] in ON_HOLD else None
        line = lines.line_of(row) if row["merchant_id"] is not None else None
        out[row["buyer_id"]] = BuyerCredit(
            merchant_id=row["buyer_id"], on_hold=held,
            has_line=line is not None and line.line > 0 and held is None,
            available=line.available if line is not None and held is None else ZERO,
            tier=row["tier"] if held is None else None)
    return out

