"""The demo's loan queue holds an application above the four-eyes amount (issue 19's
leftovers): approved once and awaiting a second, different risk officer, on a buyer whose
approved manual line (written through the manual-line services, with their audit rows) allows
it, so the demo shows a second approver at work."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from console import db
from console.finance import lines, loans
from console.roles import Actor
from console.settings import get_settings


def q(engine, sql: str, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def test_the_demo_queue_has_a_case_awaiting_its_second_approver(demo_engine):
    threshold = Decimal(get_settings().loan_second_approval_yuan)
    large = q(demo_engine, """
        SELECT f.id, f.merchant_id, f.principal, f.needs_second, f.assignee_id,
               a.username, f.second_approved_by, f.order_amount, b.username,
               b.id = m.bd_owner_id OR m.bd_owner_id IS NULL
        FROM fin.loans f JOIN ops.staff a ON a.id = f.approved_by
        JOIN ops.staff b ON b.id = f.applied_by JOIN app.merchants m ON m.id = f.merchant_id
        WHERE f.status = 'applied' AND f.principal > :t""", t=threshold)
    assert len(large) == 1
    loan_id, buyer, principal, needs_second, assignee, first, second, amount, filer, owner = \
        large[0]
    assert (needs_second, assignee, first, second) == (True, None, "risk1", None)
    # filed by the buyer's BD (its owner), who follows it on the queue
    assert filer.startswith("bd") and owner
    filer_row = q(demo_engine, """SELECT id, username, display_name, roles FROM ops.staff
                                  WHERE username = :u""", u=filer)[0]
    bd = Actor(id=filer_row[0], username=filer_row[1], display_name=filer_row[2],
               roles=frozenset(filer_row[3]))
    with db.transaction() as conn:
        mine = loans.list_queue(conn=conn, actor=bd, view="filed")
    assert list(mine.rows["id"]) == [loan_id]
    # the order's share (70%) in whole thousands: above the threshold
    assert principal == (amount * Decimal("0.7") // 1000) * 1000 > threshold
    # the buyer's line in force is an approved manual line, four eyes, audited
    req = q(demo_engine, """
        SELECT r.id, r.line, r.status, p.username, a.username, c.manual_line, c.committed,
               r.reason_code
        FROM fin.line_requests r
        JOIN fin.credit_lines c ON c.manual_request_id = r.id
        JOIN ops.staff p ON p.id = r.proposed_by JOIN ops.staff a ON a.id = r.approved_by
        WHERE r.merchant_id = :m""", m=buyer)
    assert len(req) == 1
    request_id, line, status, proposer, approver, manual, committed, reason = req[0]
    assert (status, proposer, manual, reason) == ("approved", "risk1", line, "guarantee")
    assert approver != proposer and line % 10_000 == 0
    assert principal <= committed <= line < committed + 10_000   # rounded up to 万 over the draw
    with demo_engine.connect() as conn:
        now = lines.current(conn, merchant_id=buyer)
    assert (now.is_manual, now.line) == (True, line)
    audit = q(demo_engine, """SELECT action, actor_id IS NOT NULL FROM ops.audit_log
                              WHERE entity_type = 'line_request' AND entity_id = :r
                              ORDER BY id""", r=str(request_id))
    assert audit == [("finance.line.propose", True), ("finance.line.approve", True)]
    # a risk officer other than the first approver finds it in the queue's second view
    row = q(demo_engine, """SELECT id, username, display_name, roles FROM ops.staff
                            WHERE username = 'risk2'""")[0]
    risk2 = Actor(id=row[0], username=row[1], display_name=row[2], roles=frozenset(row[3]))
    with db.transaction() as conn:
        page = loans.list_queue(conn=conn, actor=risk2, view="second")
    assert loan_id in set(page.rows["id"])
    assert page.rows.set_index("id").loc[loan_id, "stage"] == "second_approval"
