"""The audit page's filter by action (console/services/audit_log.py) returns exactly the rows
of that action, page after page, and is served by migration 078's index on (action, id)."""
from __future__ import annotations

import sqlalchemy as sa

from console import db
from console.audit import write_audit
from console.services import audit_log
from console.services.audit_log import AuditFilters


def _log(engine, make_actor) -> dict:
    """130 rows by two admins: every 7th a disable, the rest sign-ins."""
    alice, bob = make_actor("admin", username="alice.a"), make_actor("admin", username="bob.b")
    disables = {alice.id: [], bob.id: []}
    with engine.begin() as conn:
        for i in range(130):
            who = alice if i % 2 else bob
            action = "staff.disable" if i % 7 == 0 else "staff.sign_in"
            row = write_audit(conn=conn, actor_id=who.id, action=action, entity_type="staff",
                              entity_id=who.id, after={"n": i})
            if action == "staff.disable":
                disables[who.id].append(row)
    return {"alice": alice, "bob": bob, "disables": disables}


def _all_pages(actor, filters: AuditFilters, size: int = 4) -> list[int]:
    ids, offset = [], 0
    with db.connection() as conn:
        while True:
            rows = audit_log.search_audit(conn=conn, actor=actor, filters=filters, offset=offset,
                                          limit=size, lang="zh")
            if rows.empty:
                return ids
            ids += [int(i) for i in rows["id"]]
            offset += size


def test_the_action_filter_returns_exactly_that_actions_rows_newest_first(engine, make_actor):
    log = _log(engine, make_actor)
    alice, bob = log["alice"], log["bob"]
    every = sorted(log["disables"][alice.id] + log["disables"][bob.id], reverse=True)
    assert len(every) == 19
    with db.connection() as conn:
        assert audit_log.count_audit(conn=conn, actor=alice,
                                     filters=AuditFilters(action="staff.disable")) == 19
        shown = audit_log.search_audit(conn=conn, actor=alice, limit=50, lang="zh",
                                       filters=AuditFilters(action="staff.disable"))
    assert set(shown["action"]) == {"停用账号"}
    assert _all_pages(alice, AuditFilters(action="staff.disable")) == every
    assert _all_pages(alice, AuditFilters(action="staff.disable", actor_id=bob.id)) == sorted(
        log["disables"][bob.id], reverse=True)
    assert _all_pages(alice, AuditFilters(action="staff.unlock")) == []


def test_the_action_filter_is_served_by_the_action_index(engine, make_actor):
    _log(engine, make_actor)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE ops.audit_log"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))   # a tiny table: ask for an index
        plans = [" ".join(conn.execute(sa.text("EXPLAIN " + sql),
                                       {"action": "staff.disable"}).scalars())
                 for sql in ("SELECT count(*) FROM ops.audit_log a WHERE a.action = :action",
                             "SELECT a.id FROM ops.audit_log a WHERE a.action = :action "
                             "ORDER BY a.id DESC OFFSET 8 LIMIT 4")]
    assert all("audit_log_action_idx" in plan for plan in plans), plans
