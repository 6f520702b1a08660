"""Admin account management: every change audited; the audit log is append-only."""
import pytest
import sqlalchemy as sa

from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import staff


def audit_rows(engine, action):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT actor_id, entity_id, before, after, reason FROM ops.audit_log "
            "WHERE action = :a ORDER BY id"), {"a": action})]


def test_admin_creates_an_account_and_the_audit_row_says_so(engine, make_actor):
    admin = make_actor("admin")
    with engine.begin() as conn:
        new_id = staff.create_staff(conn=conn, actor=admin, username="New.User",
                                    display_name="新同事", password="long-enough-pw", roles=["bd", "ops"])
    assert audit_rows(engine, "staff.create") == [{
        "actor_id": admin.id, "entity_id": str(new_id), "before": None,
        "after": {"username": "new.user", "display_name": "新同事", "roles": ["bd", "ops"]},
        "reason": None}]


@pytest.mark.parametrize("kwargs, key", [
    ({"password": "short"}, "error.password_too_short"),
    ({"roles": []}, "error.role_missing"),
    ({"roles": ["ceo"]}, "error.unknown_role"),
    ({"username": "  "}, "error.required_fields"),
])
def test_bad_account_input_is_refused_and_writes_nothing(engine, make_actor, kwargs, key):
    admin = make_actor("admin")
    args = {"username": "x.y", "display_name": "X", "password": "long-enough-pw", "roles": ["bd"]}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        staff.create_staff(conn=conn, actor=admin, **args)
    assert err.value.key == key
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops.staff")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM ops.audit_log")).scalar() == 0


def test_duplicate_username_is_a_conflict(engine, make_actor):
    admin = make_actor("admin")
    make_actor("bd", username="taken")
    with pytest.raises(Conflict), engine.begin() as conn:
        staff.create_staff(conn=conn, actor=admin, username="taken", display_name="T",
                           password="long-enough-pw", roles=["bd"])


def test_role_change_and_disable_are_audited_with_before_and_after(engine, make_actor):
    admin = make_actor("admin")
    target = make_actor("bd")
    with engine.begin() as conn:
        staff.set_roles(conn=conn, actor=admin, staff_id=target.id, roles=["bd", "manager"],
                        reason="promoted to team lead")
        staff.set_active(conn=conn, actor=admin, staff_id=target.id, active=False, reason="left")
    assert audit_rows(engine, "staff.set_roles") == [{
        "actor_id": admin.id, "entity_id": str(target.id), "before": {"roles": ["bd"]},
        "after": {"roles": ["bd", "manager"]}, "reason": "promoted to team lead"}]
    assert audit_rows(engine, "staff.disable")[0]["after"] == {"is_active": False}


def test_role_change_without_reason_is_refused(engine, make_actor):
    admin = make_actor("admin")
    target = make_actor("bd")
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        staff.set_roles(conn=conn, actor=admin, staff_id=target.id, roles=["ops"], reason=" ")
    assert err.value.key == "error.reason_required"


def test_admin_cannot_lock_themselves_out(engine, make_actor):
    admin = make_actor("admin")
    with pytest.raises(InvalidInput), engine.begin() as conn:
        staff.set_active(conn=conn, actor=admin, staff_id=admin.id, active=False, reason="oops")
    with pytest.raises(InvalidInput), engine.begin() as conn:
        staff.set_roles(conn=conn, actor=admin, staff_id=admin.id, roles=["bd"], reason="oops")


def test_non_admin_is_refused(engine, make_actor):
    manager = make_actor("manager")
    with pytest.raises(PermissionDenied), engine.begin() as conn:
        staff.create_staff(conn=conn, actor=manager, username="x.y", display_name="X",
                           password="long-enough-pw", roles=["bd"])


@pytest.mark.parametrize("statement", [
    "UPDATE ops.audit_log SET reason = 'rewritten'",
    "DELETE FROM ops.audit_log",
    "TRUNCATE ops.audit_log",
])
def test_database_refuses_to_change_the_audit_log(engine, make_actor, statement):
    admin = make_actor("admin")
    with engine.begin() as conn:
        staff.unlock(conn=conn, actor=admin, staff_id=admin.id)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert len(audit_rows(engine, "staff.unlock")) == 1
