"""CONSOLE_LOG_LEVEL (issue 18): a service call that only read is a debug line, a decision
(a call whose statements wrote) an info line, a refusal a warning; the setting chooses which
are written. On real PostgreSQL, the lines read from standard error."""
from __future__ import annotations

import json

import pytest

from console.errors import PermissionDenied
from console.services import staff


def _lines(err: str) -> list[tuple[str, str, str]]:
    """(level, what, status) of every service line, in order."""
    found = []
    for raw in err.splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line["what"].startswith("service."):
                found.append((line["level"], line["what"], line["status"]))
    return found


def _a_read_a_decision_and_a_refusal(console_engine, make_actor) -> None:
    admin, bd = make_actor("admin"), make_actor("bd")
    with console_engine.begin() as conn:
        staff.list_staff(conn=conn, actor=admin)                       # reads
        staff.set_active(conn=conn, actor=admin, staff_id=bd.id, active=False,
                         reason="left the company")                    # writes: a decision
        with pytest.raises(PermissionDenied):
            staff.list_staff(conn=conn, actor=bd)                      # refused


READ = ("debug", "service.staff.list_staff", "ok")
DECISION = ("info", "service.staff.set_active", "ok")
REFUSAL = ("warning", "service.staff.list_staff", "refused")


@pytest.mark.parametrize("level, written", [
    (None, [DECISION, REFUSAL]),                 # the default: info
    ("debug", [READ, DECISION, REFUSAL]),
    ("INFO", [DECISION, REFUSAL]),
    ("warning", [REFUSAL]),
    ("error", []),
    ("chatty", [DECISION, REFUSAL]),             # not a level: info
])
def test_the_log_level_chooses_the_lines(console_engine, make_actor, settings_env, capsys,
                                         level, written):
    if level is not None:
        settings_env(CONSOLE_LOG_LEVEL=level)
    _a_read_a_decision_and_a_refusal(console_engine, make_actor)
    assert _lines(capsys.readouterr().err) == written


def test_a_write_statement_makes_a_decision_and_a_refusal_wrote_nothing(console_engine, make_actor, capsys):
    """unlock of an account that was not locked still runs its UPDATE and writes an audit
    row: a decision. The refused one never reached its body."""
    admin, ops = make_actor("admin"), make_actor("ops")
    with console_engine.begin() as conn:
        staff.unlock(conn=conn, actor=admin, staff_id=ops.id)
        with pytest.raises(PermissionDenied):
            staff.unlock(conn=conn, actor=ops, staff_id=admin.id)
    assert _lines(capsys.readouterr().err) == [
        ("info", "service.staff.unlock", "ok"), ("warning", "service.staff.unlock", "refused")]


def test_a_failure_is_an_error_line_even_at_level_error(engine, console_engine, make_actor,
                                                        settings_env, capsys):
    """The account read waits for a table lock past its lock_timeout: a database failure,
    not a refusal, written at level error when nothing else is."""
    import sqlalchemy as sa
    settings_env(CONSOLE_LOG_LEVEL="error")
    admin = make_actor("admin")
    with engine.connect() as holder, console_engine.connect() as conn:
        holder.execute(sa.text("LOCK TABLE ops.staff IN ACCESS EXCLUSIVE MODE"))
        conn.execute(sa.text("SET lock_timeout = 200"))
        with pytest.raises(sa.exc.OperationalError):
            staff.list_staff(conn=conn, actor=admin)
        holder.rollback()
    assert _lines(capsys.readouterr().err) == [("error", "service.staff.list_staff", "failed")]
