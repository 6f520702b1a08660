"""Staff sign-in: hashes, lockout after five failures, disabled accounts, idle expiry, the
password policy, and open sessions ended by a lockout or a forced reset."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from console import clock
from console.auth import (authenticate, check_password_strength, common_passwords, hash_password,
                          session_expired, verify_password)
from console.errors import ConsoleError, InvalidInput, PermissionDenied
from console.services import deals, staff
from tests.apptest import app_as
from tests.conftest import TEST_PASSWORD

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_hash_verifies_only_the_right_password():
    h = hash_password("s3cret-password")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-password")
    assert not verify_password(h, "s3cret-passwore")
    assert not verify_password("not a hash", "s3cret-password")


def test_good_credentials_return_the_actor_with_roles(engine, make_actor):
    made = make_actor("ops", "risk", username="alice")
    actor = authenticate(engine=engine, username="Alice ", password=TEST_PASSWORD, now=NOW)
    assert (actor.id, actor.roles) == (made.id, frozenset({"ops", "risk"}))


def test_unknown_user_and_wrong_password_say_the_same(engine, make_actor):
    make_actor("bd", username="bob")
    with pytest.raises(InvalidInput) as wrong:
        authenticate(engine=engine, username="bob", password="nope", now=NOW)
    with pytest.raises(InvalidInput) as unknown:
        authenticate(engine=engine, username="nobody", password="nope", now=NOW)
    assert wrong.value.key == unknown.value.key == "auth.bad_credentials"


def test_five_failures_lock_for_fifteen_minutes(engine, make_actor):
    make_actor("bd", username="carol")
    for _ in range(4):
        with pytest.raises(InvalidInput):
            authenticate(engine=engine, username="carol", password="bad", now=NOW)
    with pytest.raises(PermissionDenied) as locked:
        authenticate(engine=engine, username="carol", password="bad", now=NOW)
    assert locked.value.key == "auth.locked"
    assert locked.value.params["until"] == NOW + timedelta(minutes=15)
    # Even the right password is refused while locked …
    with pytest.raises(PermissionDenied):
        authenticate(engine=engine, username="carol", password=TEST_PASSWORD,
                     now=NOW + timedelta(minutes=14, seconds=59))
    # … and accepted once the lock has run out.
    actor = authenticate(engine=engine, username="carol", password=TEST_PASSWORD,
                         now=NOW + timedelta(minutes=15, seconds=1))
    assert actor.username == "carol"


def test_success_resets_the_failure_count(engine, make_actor):
    make_actor("bd", username="dave")
    for _ in range(4):
        with pytest.raises(InvalidInput):
            authenticate(engine=engine, username="dave", password="bad", now=NOW)
    authenticate(engine=engine, username="dave", password=TEST_PASSWORD, now=NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT failed_attempts FROM ops.staff WHERE username='dave'")).scalar() == 0


def test_disabled_account_cannot_sign_in(engine, make_actor):
    make_actor("ops", username="erin")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops.staff SET is_active = false WHERE username = 'erin'"))
    with pytest.raises(PermissionDenied) as refused:
        authenticate(engine=engine, username="erin", password=TEST_PASSWORD, now=NOW)
    assert refused.value.key == "auth.disabled"


@pytest.mark.parametrize("idle_minutes, expired", [(29, False), (30, False), (31, True)])
def test_idle_sessions_expire_after_thirty_minutes(idle_minutes, expired):
    assert session_expired(last_seen=NOW - timedelta(minutes=idle_minutes), now=NOW) is expired


# ------------------------------------------------------------------ the password policy

@pytest.mark.parametrize("password, key", [
    ("short-pw", "error.password_too_short"),
    ("Tr0ub4dor&3" * 12, "error.password_too_long"),
    ("aaaaaaaaaa", "error.password_trivial"),
    ("1234567890", "error.password_trivial"),
    ("9876543210", "error.password_trivial"),
    ("abcdefghijk", "error.password_trivial"),
    ("ABABABABABAB", "error.password_trivial"),
    ("123123123123", "error.password_trivial"),
    ("password123", "error.password_common"),
    ("Password2024!", "error.password_common"),       # 'password' with a year and a mark
    ("woaini1314", "error.password_common"),
    ("1qaz2wsx3edc", "error.password_common"),
    ("a123456789", "error.password_common"),
    ("zhangwei1988", "error.password_common"),        # a common name and a birth year
    ("dealerhub2024", "error.password_common"),        # the console's own name
    ("my-alice.w-secret", "error.password_has_username"),
    ("ALICE.W-rocks-2024", "error.password_has_username"),
])
def test_weak_passwords_are_refused_with_the_reason(password, key):
    with pytest.raises(InvalidInput) as refused:
        check_password_strength(password, username="alice.w")
    assert refused.value.key == key


@pytest.mark.parametrize("password", [TEST_PASSWORD, "long-enough-pw", "上海车商-春天-2024",
                                      "Tr0ub4dor&3-horse"])
def test_reasonable_passwords_pass(password):
    check_password_strength(password, username="alice.w")


def test_the_shipped_list_holds_the_common_chinese_passwords():
    listed = common_passwords()
    assert len(listed) == 33_345
    assert {"woaini1314", "5201314", "qwertyuiop", "1qaz2wsx3edc", "a123456789", "qq123456",
            "password", "iloveyou"} <= listed
    assert all(p == p.lower() for p in listed)


# ------------------------------------------------------------------ open sessions

def test_a_session_open_before_a_lockout_is_refused_on_its_next_call(engine, console_engine,
                                                                     make_actor, monkeypatch):
    make_actor("admin", username="carol")
    engine = console_engine   # sign in as the console does: its own role, dh_console
    session = authenticate(engine=engine, username="carol", password=TEST_PASSWORD)
    with engine.connect() as conn:
        assert len(staff.list_staff(conn=conn, actor=session)) == 1
    for _ in range(5):    # someone guessing carol's password
        with pytest.raises(ConsoleError):
            authenticate(engine=engine, username="carol", password="guess-guess")
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        staff.list_staff(conn=conn, actor=session)
    assert refused.value.key == "auth.locked"
    # When the lock has run out the old session stays ended; a new sign-in works.
    later = clock.now() + timedelta(minutes=16)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        staff.list_staff(conn=conn, actor=session)
    assert refused.value.key == "error.session_ended"
    fresh = authenticate(engine=engine, username="carol", password=TEST_PASSWORD, now=later)
    assert fresh.session_epoch == session.session_epoch + 1
    with engine.connect() as conn:
        assert len(staff.list_staff(conn=conn, actor=fresh)) == 1


def test_the_page_signs_out_a_session_whose_account_was_locked(engine, make_actor):
    person = make_actor("ops", username="opsy")
    assert app_as(person).title[0].value == "OPSY，你好"
    with engine.begin() as conn:   # the lockout as authenticate writes it
        conn.execute(sa.text("""UPDATE ops.staff SET locked_until = now() + interval '15 minutes',
                                       session_epoch = session_epoch + 1 WHERE id = :id"""),
                     {"id": person.id})
    at = app_as(person)   # the same session's next run (AppTest reruns a page file directly)
    assert "staff_id" not in at.session_state
    assert [b.label for b in at.button] == ["登录"]
    assert len(at.warning) == 1 and at.warning[0].value.startswith("账号因多次登录失败已锁定")


def button(at, label):
    return next(b for b in at.button if b.label == label)


def sign_in_on_page(at, username, password):
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    return at


def test_a_forced_reset_asks_for_a_new_password_before_anything_else(engine, make_actor):
    admin = make_actor("admin")
    person = make_actor("bd", username="bob")
    assert app_as(person).title[0].value == "BOB，你好"
    with engine.begin() as conn:
        staff.force_password_reset(conn=conn, actor=admin, staff_id=person.id,
                                   reason="password seen on a screenshot")
    at = app_as(person)   # the open session ends at its next step, and says why
    assert [b.label for b in at.button] == ["登录"]
    assert [w.value for w in at.warning] == [
        "你的登录已失效（管理员结束了会话、重置了密码，或账号曾被锁定），请重新登录。"]
    sign_in_on_page(at, "bob", TEST_PASSWORD)
    assert [t.value for t in at.title][-1] == "设置新密码"
    assert [f.label for f in at.text_input] == ["新密码", "再次输入新密码"]
    with pytest.raises(PermissionDenied) as refused, engine.connect() as conn:
        deals.bd_staff(conn=conn, actor=replace(person, session_epoch=1))
    assert refused.value.key == "auth.password_change_required"
    at.text_input(key="new_password").input("bob-is-my-name")
    at.text_input(key="repeat_password").input("bob-is-my-name")
    button(at, "保存新密码").click().run()
    assert [e.value for e in at.error] == ["密码不能包含用户名。"]
    at.text_input(key="new_password").input("lantern-river-42")
    at.text_input(key="repeat_password").input("lantern-river-42")
    button(at, "保存新密码").click().run()
    assert not at.exception and not at.error
    assert at.title[0].value == "BOB，你好"
    assert at.session_state["session_epoch"] == 2
    with pytest.raises(InvalidInput):   # the old password is gone
        authenticate(engine=engine, username="bob", password=TEST_PASSWORD)
    assert authenticate(engine=engine, username="bob", password="lantern-river-42").session_epoch == 2
