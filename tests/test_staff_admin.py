"""Admin account management: every change audited; the audit log is append-only; forced
password resets and ended sessions; a disabled admin can do nothing."""
import pytest
import sqlalchemy as sa

from console.auth import authenticate, change_own_password
from console.errors import Conflict, InvalidInput, PermissionDenied
from console.services import staff
from tests.apptest import app_as
from tests.conftest import TEST_PASSWORD


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


# ------------------------------------------------------------------ passwords and sessions

def staff_row(engine, staff_id):
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            """SELECT is_active, session_epoch, must_change_password, password_hash
               FROM ops.staff WHERE id = :id"""), {"id": staff_id}).one()._mapping)


def counts(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT (SELECT count(*) FROM ops.staff), "
                                    "(SELECT count(*) FROM ops.audit_log)")).one()


@pytest.mark.parametrize("password, key", [
    ("aaaaaaaaaa", "error.password_trivial"),
    ("password123", "error.password_common"),
    ("new.user-2024", "error.password_has_username"),
])
def test_a_weak_password_is_refused_for_a_new_admin(engine, make_actor, password, key):
    admin = make_actor("admin")
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        staff.create_staff(conn=conn, actor=admin, username="new.user", display_name="N",
                           password=password, roles=["admin"])
    assert err.value.key == key
    assert tuple(counts(engine)) == (1, 0)


def test_a_new_account_can_be_made_to_change_its_password_at_first_sign_in(engine, make_actor):
    admin = make_actor("admin")
    with engine.begin() as conn:
        new_id = staff.create_staff(conn=conn, actor=admin, username="first.timer",
                                    display_name="F", password="long-enough-pw", roles=["ops"],
                                    must_change_password=True)
    assert audit_rows(engine, "staff.create")[0]["after"]["must_change_password"] is True
    assert authenticate(engine=engine, username="first.timer",
                        password="long-enough-pw").must_change_password is True
    assert staff_row(engine, new_id)["must_change_password"] is True


def test_forced_reset_ends_open_sessions_and_demands_a_new_password(engine, make_actor):
    admin = make_actor("admin")
    make_actor("admin", username="dora")
    session = authenticate(engine=engine, username="dora", password=TEST_PASSWORD)
    with engine.begin() as conn:
        staff.force_password_reset(conn=conn, actor=admin, staff_id=session.id,
                                   reason="laptop stolen")
    assert audit_rows(engine, "staff.force_password_reset") == [{
        "actor_id": admin.id, "entity_id": str(session.id), "before": {"session_epoch": 0},
        "after": {"must_change_password": True, "session_epoch": 1,
                  "temporary_password_set": False},
        "reason": "laptop stolen"}]
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        staff.list_staff(conn=conn, actor=session)
    assert refused.value.key == "error.session_ended"
    # Signing in again works, but nothing does until the password is new.
    pending = authenticate(engine=engine, username="dora", password=TEST_PASSWORD)
    assert (pending.session_epoch, pending.must_change_password) == (1, True)
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        staff.list_staff(conn=conn, actor=pending)
    assert refused.value.key == "auth.password_change_required"
    for new, repeated, key in [("qwertyuiop", "qwertyuiop", "error.password_trivial"),
                               ("sunflower-lake-7", "sunflower-lake-8", "auth.password_mismatch"),
                               (TEST_PASSWORD, TEST_PASSWORD, "auth.password_reused")]:
        with pytest.raises(InvalidInput) as err:
            change_own_password(engine=engine, actor=pending, new_password=new, repeated=repeated)
        assert err.value.key == key
    changed = change_own_password(engine=engine, actor=pending, new_password="sunflower-lake-7",
                                  repeated="sunflower-lake-7")
    assert (changed.session_epoch, changed.must_change_password) == (2, False)
    with engine.connect() as conn:
        assert len(staff.list_staff(conn=conn, actor=changed)) == 2
    assert audit_rows(engine, "staff.password_change") == [{
        "actor_id": session.id, "entity_id": str(session.id),
        "before": {"must_change_password": True}, "after": {"must_change_password": False},
        "reason": None}]
    with pytest.raises(InvalidInput):
        authenticate(engine=engine, username="dora", password=TEST_PASSWORD)


def test_forced_reset_with_a_temporary_password_for_someone_who_forgot(engine, make_actor):
    admin = make_actor("admin")
    person = make_actor("ops", username="forgetful")
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        staff.force_password_reset(conn=conn, actor=admin, staff_id=person.id, reason="forgot",
                                   temporary_password="1234567890")
    assert err.value.key == "error.password_trivial"
    assert audit_rows(engine, "staff.force_password_reset") == []
    with engine.begin() as conn:
        staff.force_password_reset(conn=conn, actor=admin, staff_id=person.id, reason="forgot",
                                   temporary_password="temporary-otter-91")
    assert audit_rows(engine, "staff.force_password_reset")[0]["after"][
        "temporary_password_set"] is True
    with pytest.raises(InvalidInput):
        authenticate(engine=engine, username="forgetful", password=TEST_PASSWORD)
    signed_in = authenticate(engine=engine, username="forgetful", password="temporary-otter-91")
    assert signed_in.must_change_password is True
    # The hash never reaches the audit row.
    assert "argon2" not in str(audit_rows(engine, "staff.force_password_reset"))


def test_ending_sessions_signs_the_person_out_everywhere(engine, make_actor):
    admin = make_actor("admin")
    make_actor("manager", username="erik")
    desk = authenticate(engine=engine, username="erik", password=TEST_PASSWORD)
    phone = authenticate(engine=engine, username="erik", password=TEST_PASSWORD)
    with pytest.raises(InvalidInput) as err, engine.begin() as conn:
        staff.end_sessions(conn=conn, actor=admin, staff_id=desk.id, reason="  ")
    assert err.value.key == "error.reason_required"
    assert staff_row(engine, desk.id)["session_epoch"] == 0
    with engine.begin() as conn:
        staff.end_sessions(conn=conn, actor=admin, staff_id=desk.id, reason="left the team")
    assert audit_rows(engine, "staff.end_sessions") == [{
        "actor_id": admin.id, "entity_id": str(desk.id), "before": {"session_epoch": 0},
        "after": {"session_epoch": 1}, "reason": "left the team"}]
    for session in (desk, phone):
        with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
            staff.audit_trail(conn=conn, actor=session)
        assert refused.value.key == "error.session_ended"
    again = authenticate(engine=engine, username="erik", password=TEST_PASSWORD)
    with engine.connect() as conn:
        assert len(staff.audit_trail(conn=conn, actor=again)) == 1


def test_a_disabled_admin_can_neither_create_accounts_nor_re_enable_itself(engine, make_actor):
    boss = make_actor("admin")
    rogue = make_actor("admin")
    with engine.begin() as conn:
        staff.set_active(conn=conn, actor=boss, staff_id=rogue.id, active=False, reason="left")
    before = tuple(counts(engine))
    attempts = [
        lambda conn: staff.create_staff(conn=conn, actor=rogue, username="backdoor",
                                        display_name="B", password="long-enough-pw",
                                        roles=["admin"]),
        lambda conn: staff.set_active(conn=conn, actor=rogue, staff_id=rogue.id, active=True,
                                      reason="back"),
        lambda conn: staff.list_staff(conn=conn, actor=rogue),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as refused, engine.begin() as conn:
            attempt(conn)
        assert refused.value.key == "auth.disabled"
    assert tuple(counts(engine)) == before == (2, 1)
    assert staff_row(engine, rogue.id)["is_active"] is False
    # Re-enabled by another admin, the old session stays ended: the disable moved the epoch.
    with engine.begin() as conn:
        staff.set_active(conn=conn, actor=boss, staff_id=rogue.id, active=True, reason="back")
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        staff.list_staff(conn=conn, actor=rogue)
    assert refused.value.key == "error.session_ended"


def test_the_admin_page_forces_a_reset_and_ends_sessions(engine, make_actor):
    admin = make_actor("admin")
    person = make_actor("bd", username="pat")
    at = app_as(admin, page="pages/admin_staff.py")
    at.selectbox[0].set_value(person.id)
    reason = next(t for t in at.text_input if t.label == "原因")
    reason.input("phone lost")
    next(b for b in at.button if b.label == "结束全部会话").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["pat 已打开的会话均已结束。"]
    next(t for t in at.text_input if t.label == "原因").input("phone lost")
    next(b for b in at.button if b.label == "强制重置密码").click().run()
    assert [s.value for s in at.success] == ["pat 下次登录时须设置新密码，其已打开的会话均已结束。"]
    assert [r["reason"] for r in audit_rows(engine, "staff.end_sessions")] == ["phone lost"]
    assert [r["reason"] for r in audit_rows(engine, "staff.force_password_reset")] == ["phone lost"]
    assert staff_row(engine, person.id)["session_epoch"] == 2
